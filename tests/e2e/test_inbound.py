"""Inbound, through the real process: SellApp tickets become threads, messages posted once."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import StartBot
from tests.e2e.harness import (
    DISCORD_TOKEN,
    SELLAPP_KEY,
    STORE,
    World,
    assert_no_secrets,
    posted_ids,
    shown_text,
    ticket_thread,
)
from tests.fakes.discord import Channel


def tag_names(world: World, thread: Channel) -> set[str]:
    forum = world.discord.channel(thread.parent_id or 0)
    names = {int(t["id"]): t["name"] for t in forum.available_tags}
    return {names[int(t)] for t in thread.applied_tags if int(t) in names}


async def wait_thread(world: World, channel: Channel, ticket_id: int) -> Channel:
    return await world.discord.wait_for(
        lambda: ticket_thread(world, channel, ticket_id), timeout=20
    )


async def wait_posted(world: World, thread: Channel, count: int) -> list[int]:
    return await world.discord.wait_for(
        lambda: ids if len(ids := posted_ids(world, thread)) >= count else None, timeout=20
    )


def customer_ids(world: World, ticket: dict[str, Any]) -> list[int]:
    return [m["id"] for m in world.sellapp.messages(STORE, ticket["id"])]


async def test_ticket_becomes_forum_post_with_its_messages_in_order(
    world: World, start_bot: StartBot
) -> None:
    ticket = world.sellapp.add_ticket(
        STORE,
        title="Where is my key?",
        email="buyer@example.com",
        reference=777,
        messages=["Hello", "I paid an hour ago", "Order 777"],
    )
    bot = await start_bot()
    thread = await wait_thread(world, world.forum_channel, ticket["id"])
    assert thread.name == f"#{ticket['id']} · Where is my key?"
    assert tag_names(world, thread) == {"Open"}
    starter = world.discord.messages_in(thread.id)[0]
    fields = {f["name"]: f["value"] for f in starter.embeds[0]["fields"]}
    assert starter.embeds[0]["title"] == f"Ticket #{ticket['id']}"
    assert fields["Status"] == "Open"
    assert fields["Customer"].replace("\\", "") == "buyer@example.com"
    assert fields["Order"] == "order 777"
    assert await wait_posted(world, thread, 3) == customer_ids(world, ticket)
    assert shown_text(world, thread, customer_ids(world, ticket)[1]) == "I paid an hour ago"

    # A new customer message arrives in the same thread, after the others.
    new = world.sellapp.add_customer_message(STORE, ticket["id"], "Any news?")
    assert (await wait_posted(world, thread, 4))[-1] == new["id"]
    assert await bot.terminate() == 0
    assert_no_secrets(bot.output, DISCORD_TOKEN, SELLAPP_KEY, "I paid an hour ago")


async def test_text_channel_gets_a_public_thread(world: World, start_bot: StartBot) -> None:
    ticket = world.sellapp.add_ticket(STORE, title="Refund", messages=["Please refund"])
    await start_bot(TICKETS_CHANNEL_ID=str(world.text_channel.id))
    thread = await wait_thread(world, world.text_channel, ticket["id"])
    assert thread.type == 11  # public thread
    assert await wait_posted(world, thread, 1) == customer_ids(world, ticket)
    starter = world.discord.messages_in(thread.id)[0]
    assert starter.embeds[0]["title"] == f"Ticket #{ticket['id']}"


async def test_long_message_arrives_whole_and_nothing_pings(
    world: World, start_bot: StartBot
) -> None:
    long_text = "".join(f"line {i:04d} of a long story\n" for i in range(200))  # ~5,000 chars
    assert len(long_text) >= 5000
    pings = "@everyone @here <@&123> <@456> look at this"
    ticket = world.sellapp.add_ticket(STORE, messages=[long_text, pings, ""])
    await start_bot()
    thread = await wait_thread(world, world.forum_channel, ticket["id"])
    long_id, ping_id, empty_id = customer_ids(world, ticket)
    await wait_posted(world, thread, 4)  # the long one takes two messages
    assert shown_text(world, thread, long_id) == long_text
    assert shown_text(world, thread, ping_id) == pings
    assert shown_text(world, thread, empty_id) == "*(empty message)*"
    sends = [
        r
        for r in world.discord.requests
        if r.method == "POST" and r.path.startswith("/channels/") and r.json is not None
    ]
    assert sends
    for request in sends:
        body = request.json.get("message", request.json)
        assert body.get("allowed_mentions") == {"parse": []}, body
        assert "@everyone" not in (body.get("content") or "")


async def test_close_and_reopen_follow_sellapp(world: World, start_bot: StartBot) -> None:
    ticket = world.sellapp.add_ticket(STORE, messages=["hi"])
    await start_bot()
    thread = await wait_thread(world, world.forum_channel, ticket["id"])
    await wait_posted(world, thread, 1)

    world.sellapp.set_ticket_status(STORE, ticket["id"], "CLOSED")
    await world.discord.wait_for(lambda: (thread.archived and thread.locked) or None, timeout=20)
    assert tag_names(world, thread) == {"Closed"}

    world.sellapp.set_ticket_status(STORE, ticket["id"], "OPEN")
    await world.discord.wait_for(
        lambda: (not thread.archived and not thread.locked) or None, timeout=20
    )
    assert tag_names(world, thread) == {"Open"}
    # And it still carries new messages.
    new = world.sellapp.add_customer_message(STORE, ticket["id"], "thanks for reopening")
    assert (await wait_posted(world, thread, 2))[-1] == new["id"]


async def test_thread_archived_by_inactivity_comes_back_with_a_new_message(
    world: World, start_bot: StartBot
) -> None:
    ticket = world.sellapp.add_ticket(STORE, messages=["first"])
    await start_bot()
    thread = await wait_thread(world, world.forum_channel, ticket["id"])
    await wait_posted(world, thread, 1)
    world.discord.archive_thread(thread.id)
    world.sellapp.add_customer_message(STORE, ticket["id"], "hello again")
    await wait_posted(world, thread, 2)
    assert not thread.archived


async def test_deleted_thread_is_recreated_with_the_whole_history(
    world: World, start_bot: StartBot
) -> None:
    ticket = world.sellapp.add_ticket(STORE, messages=["one", "two"])
    await start_bot()
    old = await wait_thread(world, world.forum_channel, ticket["id"])
    await wait_posted(world, old, 2)
    world.discord.delete_channel(old.id)
    world.sellapp.add_customer_message(STORE, ticket["id"], "three")
    new = await wait_thread(world, world.forum_channel, ticket["id"])
    assert new.id != old.id
    assert await wait_posted(world, new, 3) == customer_ids(world, ticket)


async def test_restart_reposts_nothing(world: World, start_bot: StartBot) -> None:
    tickets = [world.sellapp.add_ticket(STORE, messages=[f"t{i}a", f"t{i}b"]) for i in range(3)]
    bot = await start_bot()
    threads = [await wait_thread(world, world.forum_channel, t["id"]) for t in tickets]
    for thread in threads:
        await wait_posted(world, thread, 2)
    assert await bot.terminate() == 0
    sends_before = len(world.discord.requests)

    bot = await start_bot()
    # Let it poll twice (so any re-post would have happened), then check.
    await bot.wait_for_lines(r"poll done", 2)
    for ticket, thread in zip(tickets, threads, strict=True):
        assert posted_ids(world, thread) == customer_ids(world, ticket)
    assert len(world.discord.threads_in(world.forum_channel.id)) == 3
    new_posts = [
        r
        for r in world.discord.requests[sends_before:]
        if r.method == "POST" and r.path.startswith("/channels/")
    ]
    assert new_posts == []
    assert await bot.terminate() == 0


async def test_kill_9_mid_burst_leaves_each_message_once(world: World, start_bot: StartBot) -> None:
    ticket = world.sellapp.add_ticket(STORE, messages=[f"burst {i}" for i in range(30)])
    bot = await start_bot()
    thread = await wait_thread(world, world.forum_channel, ticket["id"])
    await wait_posted(world, thread, 5)  # mid-burst
    await bot.kill()
    bot = await start_bot()
    ids = await wait_posted(world, thread, 30)
    assert ids == customer_ids(world, ticket)
    assert len(world.discord.threads_in(world.forum_channel.id)) == 1
    assert await bot.terminate() == 0
