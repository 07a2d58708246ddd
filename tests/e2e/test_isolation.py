"""Two servers, two stores, one process: nothing crosses over."""

from __future__ import annotations

from tests.e2e.conftest import StartBot
from tests.e2e.harness import (
    SELLAPP_KEY,
    STORE,
    World,
    answer,
    assert_no_secrets,
    channel,
    group_sub,
    role,
    sub,
    ticket_thread,
)
from tests.e2e.test_commands import connect

OTHER_KEY = "sk_live_other_store_key_9876543210SECRET"


async def test_two_guilds_two_stores_no_leak(world: World, start_bot: StartBot) -> None:
    fake = world.discord
    # Guild A is linked by the settings; guild B links itself with commands.
    b = fake.add_guild("Other shop")
    b_staff_role = fake.add_role(b, "B staff")
    b_staff = fake.add_member(b, "bob", roles=[b_staff_role])
    b_channel = fake.add_text_channel(b, "b-tickets")
    b_admin = b.members[b.owner_id]
    world.sellapp.add_account(OTHER_KEY, ["other-store"])
    a_ticket = world.sellapp.add_ticket(STORE, title="A's secret order", messages=["A only"])
    b_ticket = world.sellapp.add_ticket("other-store", title="B's order", messages=["B only"])

    bot = await start_bot()
    # Connect B (as B's admin, in B).
    world_b = World(
        fake,
        world.sellapp,
        b,
        b_staff_role,
        b_staff,
        b_staff,
        b_channel,
        world.forum_channel,
        world.tmp,
    )
    world_b.guild.members[b_admin.id] = b_admin
    reply = await connect(world_b, bot, OTHER_KEY, "other-store")
    assert "other-store" in reply.text
    for options in (
        sub("channel", channel=channel(b_channel.id)),
        group_sub("staff", "add", role=role(b_staff_role.id)),
    ):
        done = await answer(world, fake.run_command(b, b_channel.id, b_admin, "sellapp", options))
        assert "missing" not in done.text

    a_thread = await fake.wait_for(
        lambda: ticket_thread(world, world.forum_channel, a_ticket["id"]), 20
    )
    b_thread = await fake.wait_for(lambda: ticket_thread(world, b_channel, b_ticket["id"]), 20)
    # Each store's tickets only in its own guild's channel.
    assert ticket_thread(world, b_channel, a_ticket["id"]) is None
    assert ticket_thread(world, world.forum_channel, b_ticket["id"]) is None
    a_texts = " ".join(str(m.embeds) for m in fake.messages_in(a_thread.id))
    b_texts = " ".join(str(m.embeds) for m in fake.messages_in(b_thread.id))
    assert "B only" not in a_texts and "A only" not in b_texts

    # B's status names B's store only.
    status = await answer(
        world, fake.run_command(b, b_channel.id, b_admin, "sellapp", sub("status"))
    )
    assert status.fields["Store"] == "other-store"
    assert STORE not in str(status)

    # A's staff role counts for nothing in B, and B can't reach A's ticket by id.
    a_staff_in_b = fake.add_member(b, "alice-in-b", roles=[])
    refused = await answer(
        world, fake.run_command(b, b_thread.id, a_staff_in_b, "ticket", sub("close"))
    )
    assert "Only staff" in refused.text
    reached = await answer(
        world,
        fake.run_command(b, b_channel.id, b_staff, "ticket", sub("open", ticket_id=a_ticket["id"])),
    )
    assert "doesn't know that ticket" in reached.text
    # /ticket in A's thread run from B's guild context is "not a ticket thread".
    crossed = await answer(world, fake.run_command(b, a_thread.id, b_staff, "ticket", sub("info")))
    assert "isn't a ticket thread" in crossed.text
    # Every request B caused went out with B's key and store; A's with A's.
    for request in world.sellapp.requests:
        if request.bearer == OTHER_KEY:
            assert request.headers.get("x-store") == "other-store"
        elif request.bearer == SELLAPP_KEY:
            assert request.headers.get("x-store") == STORE
            assert f"/{b_ticket['id']}" not in request.path
    assert world.sellapp.tickets(STORE)[0]["status"] == "OPEN"
    await bot.terminate()
    assert_no_secrets(bot.output, OTHER_KEY, SELLAPP_KEY)
