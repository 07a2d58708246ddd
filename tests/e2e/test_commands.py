"""Slash commands through the fake Discord's interactions, against the real process."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e.conftest import StartBot
from tests.e2e.harness import (
    DISCORD_TOKEN,
    SELLAPP_KEY,
    STORE,
    Answer,
    BotProcess,
    World,
    answer,
    assert_no_secrets,
    channel,
    group_sub,
    role,
    sub,
    ticket_thread,
)
from tests.fakes.discord import Overwrite, Perm

UNLINKED = {"DISCORD_GUILD_ID": "", "SELLAPP_API_KEY": "", "TICKETS_CHANNEL_ID": ""}
NEW_KEY = "sk_live_connected_by_command_0123456789SECRET"


def files_contain(folder: Path, needle: str) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and needle.encode() in path.read_bytes():
            found.append(path.name)
    return found


async def run(world: World, user: object, name: str, options: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    interaction = world.discord.run_command(
        world.guild,
        world.text_channel.id,
        user,
        name,
        options,  # type: ignore[arg-type]
    )
    return await answer(world, interaction)


async def connect(world: World, bot: BotProcess, key: str, store: str) -> Answer:
    """Run /sellapp connect and fill in the form, as an admin would."""
    shown = len([line for line in bot.lines if "connect form shown" in line])
    modal = await run(world, world.admin, "sellapp", sub("connect"))
    assert modal.modal is not None
    form_id = str(modal.modal["custom_id"])
    # The form is on screen once the bot has registered it (a person takes longer).
    await bot.wait_for_lines(r"connect form shown", shown + 1)
    submitted = world.discord.submit_modal(
        world.guild,
        world.text_channel.id,
        world.admin,
        form_id,
        {"api_key": key, "store": store},
    )
    return await answer(world, submitted)


async def test_connect_with_a_good_key_stores_it_sealed(world: World, start_bot: StartBot) -> None:
    world.sellapp.add_account(NEW_KEY, ["new-store"])
    world.sellapp.add_ticket("new-store", messages=["a"])
    world.sellapp.add_ticket("new-store", status="CLOSED")
    bot = await start_bot(**UNLINKED)
    reply = await connect(world, bot, NEW_KEY, "new-store")
    assert reply.ephemeral
    assert "new-store" in reply.text
    assert "2 ticket(s), 1 open" in reply.text
    assert "/sellapp channel" in reply.text
    # The raw key is in no file of the data folder.
    assert files_contain(world.tmp / "data", NEW_KEY) == []
    # The check used the new key on the new store.
    checks = world.sellapp.requests_to("GET", r"/api/v1/tickets$")
    assert checks[0].bearer == NEW_KEY
    assert checks[0].headers.get("x-store") == "new-store"
    await bot.terminate()
    assert_no_secrets(bot.output, NEW_KEY, DISCORD_TOKEN)


async def test_connect_with_a_bad_key_saves_nothing(world: World, start_bot: StartBot) -> None:
    bot = await start_bot(**UNLINKED)
    reply = await connect(world, bot, "sk_wrong_key_0123456789", STORE)
    assert "SellApp refused the API key" in reply.text
    assert "sk_wrong_key" not in reply.text
    status = await run(world, world.admin, "sellapp", sub("status"))
    assert "isn't linked" in status.text


async def test_channel_names_each_missing_permission(world: World, start_bot: StartBot) -> None:
    bot_role = world.guild.bot_role_id
    locked = world.discord.add_text_channel(
        world.guild,
        "no-reactions",
        [Overwrite(bot_role, 0, deny=Perm.ADD_REACTIONS | Perm.MANAGE_THREADS)],
    )
    await start_bot()
    reply = await run(world, world.admin, "sellapp", sub("channel", channel=channel(locked.id)))
    assert "Add Reactions" in reply.text
    assert "Manage Threads" in reply.text
    assert "nothing was changed" in reply.text
    # A good channel is taken, with a warning that everyone can see it.
    good = await run(
        world, world.admin, "sellapp", sub("channel", channel=channel(world.text_channel.id))
    )
    assert "Tickets will get threads" in good.text
    assert "Everyone in this server can see" in good.text


async def test_non_admin_cannot_use_sellapp(world: World, start_bot: StartBot) -> None:
    await start_bot()
    for options in (sub("status"), sub("pause"), group_sub("staff", "add", role=role(1))):
        reply = await run(world, world.customer_like, "sellapp", options)
        assert reply.ephemeral
        assert "Only members with Manage Server" in reply.text
    # Nothing changed: still running.
    status = await run(world, world.admin, "sellapp", sub("status"))
    assert "running" in status.fields["State"]


async def test_pause_stops_polling_and_resume_restarts_it(
    world: World, start_bot: StartBot
) -> None:
    bot = await start_bot()
    await bot.wait_for_lines(r"poll done", 1)
    reply = await run(world, world.admin, "sellapp", sub("pause"))
    assert "Paused" in reply.text
    await bot.wait_for_line(r"polling stopped")
    lists_at_pause = len(world.sellapp.requests_to("GET", r"/api/v1/tickets$"))
    ticket = world.sellapp.add_ticket(STORE, messages=["while paused"])
    # Three poll intervals (1 s each) pass without a single list request. (Proving an
    # absence takes waiting; the length is the claim being tested, not a guess.)
    await asyncio.sleep(3)
    assert len(world.sellapp.requests_to("GET", r"/api/v1/tickets$")) == lists_at_pause
    assert ticket_thread(world, world.forum_channel, ticket["id"]) is None
    status = await run(world, world.admin, "sellapp", sub("status"))
    assert "paused" in status.fields["State"]

    await run(world, world.admin, "sellapp", sub("resume"))
    await world.discord.wait_for(
        lambda: ticket_thread(world, world.forum_channel, ticket["id"]), timeout=20
    )


async def test_status_shows_a_sellapp_outage_in_plain_words(
    world: World, start_bot: StartBot
) -> None:
    world.sellapp.fail(path=r"/api/v1/tickets$", status=503, times=None)
    bot = await start_bot()
    await bot.wait_for_line(r"poll failed")
    status = await run(world, world.admin, "sellapp", sub("status"))
    assert "failing" in status.fields["State"]
    assert "SellApp can't be reached right now" in status.fields["Last error"]
    assert_no_secrets(str(status), SELLAPP_KEY)
    world.sellapp.clear_faults()


async def test_ticket_close_closes_at_sellapp_and_locks_the_thread(
    world: World, start_bot: StartBot
) -> None:
    ticket = world.sellapp.add_ticket(STORE, messages=["please close"])
    await start_bot()
    thread = await world.discord.wait_for(
        lambda: ticket_thread(world, world.forum_channel, ticket["id"]), timeout=20
    )
    interaction = world.discord.run_command(
        world.guild, thread.id, world.staff, "ticket", sub("close")
    )
    reply = await answer(world, interaction)
    assert f"Ticket #{ticket['id']} is closed" in reply.text
    patches = world.sellapp.requests_to("PATCH", rf"/api/v2/tickets/{ticket['id']}$")
    assert patches and patches[0].json == {"status": "CLOSED"}
    assert world.sellapp.tickets(STORE)[0]["status"] == "CLOSED"
    await world.discord.wait_for(lambda: (thread.archived and thread.locked) or None, timeout=20)


async def test_ticket_commands_refuse_non_staff_and_non_ticket_channels(
    world: World, start_bot: StartBot
) -> None:
    ticket = world.sellapp.add_ticket(STORE, messages=["hi"])
    await start_bot()
    thread = await world.discord.wait_for(
        lambda: ticket_thread(world, world.forum_channel, ticket["id"]), timeout=20
    )
    outsider = world.discord.run_command(
        world.guild, thread.id, world.customer_like, "ticket", sub("close")
    )
    assert "Only staff" in (await answer(world, outsider)).text
    elsewhere = await run(world, world.staff, "ticket", sub("info"))
    assert "isn't a ticket thread" in elsewhere.text
    assert world.sellapp.requests_to("PATCH", r".*") == []
    opened = await run(world, world.staff, "ticket", sub("open", ticket_id=ticket["id"]))
    assert f"<#{thread.id}>" in opened.text


async def test_an_open_connect_form_cannot_be_submitted_by_someone_else(
    world: World, start_bot: StartBot
) -> None:
    """Found in review: discord.py finds an open form by its id alone, and the form's id
    was fixed, so a member without Manage Server could submit an admin's open form."""
    world.sellapp.add_account(NEW_KEY, ["attacker-store"])
    bot = await start_bot(**UNLINKED)
    shown = await run(world, world.admin, "sellapp", sub("connect"))
    assert shown.modal is not None
    await bot.wait_for_lines(r"connect form shown", 1)
    hijack = world.discord.submit_modal(
        world.guild,
        world.text_channel.id,
        world.customer_like,
        str(shown.modal["custom_id"]),
        {"api_key": NEW_KEY, "store": "attacker-store"},
    )
    refused = await answer(world, hijack)
    assert "belongs to someone else" in refused.text
    status = await run(world, world.admin, "sellapp", sub("status"))
    assert "isn't linked" in status.text
    assert not any(r.bearer == NEW_KEY for r in world.sellapp.requests)


async def test_ticket_close_waits_for_a_reply_still_being_sent(
    world: World, start_bot: StartBot
) -> None:
    """Found in review: /ticket close could overtake a queued reply, which then arrived
    after the close (and was refused)."""
    ticket = world.sellapp.add_ticket(STORE, messages=["hello?"])
    await start_bot()
    thread = await world.discord.wait_for(
        lambda: ticket_thread(world, world.forum_channel, ticket["id"]), timeout=20
    )
    world.sellapp.fail(path=r"/api/v1/tickets/\d+/messages$", method="POST", times=None)
    said = world.discord.member_says(thread.id, world.staff, "Here is your key")
    await world.discord.wait_for(lambda: "⏳" in said.reactions or None, timeout=20)
    closing = world.discord.run_command(world.guild, thread.id, world.staff, "ticket", sub("close"))
    reply = await answer(world, closing)
    assert "still being sent" in reply.text
    assert world.sellapp.tickets(STORE)[0]["status"] == "OPEN"
    assert world.sellapp.requests_to("PATCH", r".*") == []
    world.sellapp.clear_faults()
    await world.discord.wait_for(lambda: "✅" in said.reactions or None, timeout=60)
    closing = world.discord.run_command(world.guild, thread.id, world.staff, "ticket", sub("close"))
    assert "is closed" in (await answer(world, closing)).text
