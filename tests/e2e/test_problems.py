"""Issue 12 against the real process: odd tickets and failures that repeat are shown,
logged once, and don't stop the store."""

from __future__ import annotations

from tests.e2e.conftest import StartBot
from tests.e2e.harness import STORE, World, answer, sub, ticket_thread


async def status_fields(world: World) -> dict[str, str]:
    interaction = world.discord.run_command(
        world.guild, world.text_channel.id, world.admin, "sellapp", sub("status")
    )
    return (await answer(world, interaction)).fields


async def test_a_refused_archive_and_an_unknown_status_show_in_status_and_log_once(
    world: World, start_bot: StartBot
) -> None:
    """A host that asks Manage Channels to archive: the retry ran every poll, unseen."""
    world.discord.closing_needs_manage_channels = True
    odd = world.sellapp.add_ticket(STORE, title="Odd", status="PENDING", messages=["hello"])
    closing = world.sellapp.add_ticket(STORE, title="Closing", messages=["bye"])
    bot = await start_bot()
    thread = await world.discord.wait_for(
        lambda: ticket_thread(world, world.forum_channel, closing["id"]), timeout=20
    )
    await world.discord.wait_for(
        lambda: ticket_thread(world, world.forum_channel, odd["id"]), timeout=20
    )
    before = await bot.wait_for_lines(r"poll done", 1)
    world.sellapp.set_ticket_status(STORE, closing["id"], "CLOSED")
    await bot.wait_for_line(r"refused to archive")
    polls = await bot.wait_for_lines(r"poll done", before + 8) - before

    fields = await status_fields(world)
    assert "problems in 2 ticket(s)" in fields["State"]
    problems = fields["Problems"]
    assert (
        f"ticket {closing['id']}: Discord refused to archive its thread: Missing Permissions"
        in problems
    )
    assert f"ticket {odd['id']}: SellApp sent a status the bridge doesn't know: PENDING" in problems
    assert len([line for line in bot.lines if "refused to archive" in line]) == 1
    edits = [
        r
        for r in world.discord.requests
        if r.method == "PATCH" and r.path.endswith(f"/channels/{thread.id}")
    ]
    assert 1 <= len(edits) <= polls // 2  # backed off (1, 2, 4... s), not once a poll
    assert not thread.archived


async def test_a_store_that_keeps_failing_is_logged_once_not_every_poll(
    world: World, start_bot: StartBot
) -> None:
    world.sellapp.fail(path=r"/api/v1/tickets$", status=503, times=None)
    bot = await start_bot()
    await bot.wait_for_line(r"poll failed")
    await world.discord.wait_for(
        lambda: len(world.sellapp.requests_to("GET", r"/v1/tickets$")) >= 9 or None, timeout=30
    )  # three whole polls (each tries three times)
    world.sellapp.clear_faults()
    await bot.wait_for_line(r"polling works again after \d+ failed poll")
    assert len([line for line in bot.lines if "poll failed" in line]) == 1


async def test_a_forum_whose_tags_the_bot_may_not_create_is_warned_about_once(
    world: World, start_bot: StartBot
) -> None:
    """Creating tags needs Manage Channels: it was asked, refused and logged per thread."""
    bare = world.discord.add_forum_channel(world.guild, "bare-forum", tags=[])
    tickets = [world.sellapp.add_ticket(STORE, messages=[f"q{n}"]) for n in range(3)]
    bot = await start_bot(TICKETS_CHANNEL_ID=str(bare.id))
    for ticket in tickets:
        await world.discord.wait_for(lambda t=ticket: ticket_thread(world, bare, t["id"]), 20)
    world.sellapp.set_ticket_status(STORE, tickets[0]["id"], "CLOSED")
    thread = ticket_thread(world, bare, tickets[0]["id"])
    assert thread is not None
    await world.discord.wait_for(lambda: thread.archived or None, 20)
    assert len([line for line in bot.lines if "may not create them" in line]) == 1
    asked = [
        r for r in world.discord.requests if r.method == "PATCH" and r.path.endswith(f"/{bare.id}")
    ]
    assert len(asked) == 1
