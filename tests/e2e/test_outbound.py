"""Outbound, through the real process: what staff type reaches the customer exactly once."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import StartBot
from tests.e2e.harness import (
    DISCORD_TOKEN,
    SELLAPP_KEY,
    STORE,
    BotProcess,
    World,
    assert_no_secrets,
    posted_ids,
    ticket_thread,
)
from tests.fakes.discord import Channel, Message

REPLY_PATH = r"/api/v1/tickets/\d+/messages$"


async def open_ticket(
    world: World, start_bot: StartBot, **env: str
) -> tuple[dict[str, Any], Channel, BotProcess]:
    ticket = world.sellapp.add_ticket(STORE, messages=["Where is my order?"])
    bot = await start_bot(**env)
    thread = await world.discord.wait_for(
        lambda: ticket_thread(world, world.forum_channel, ticket["id"]), timeout=20
    )
    await world.discord.wait_for(lambda: posted_ids(world, thread) or None, timeout=20)
    return ticket, thread, bot


def store_replies(world: World, ticket: dict[str, Any]) -> list[str]:
    return [
        m["content"] for m in world.sellapp.messages(STORE, ticket["id"]) if m["author"] == "STORE"
    ]


async def wait_reaction(world: World, message: Message, emoji: str) -> None:
    await world.discord.wait_for(lambda: emoji in message.reactions or None, timeout=20)


async def test_staff_reply_reaches_the_customer_once_and_is_not_echoed(
    world: World, start_bot: StartBot
) -> None:
    ticket, thread, bot = await open_ticket(world, start_bot)
    said = world.discord.member_says(thread.id, world.staff, "It ships today, sorry for the wait!")
    await wait_reaction(world, said, "✅")
    assert store_replies(world, ticket) == ["It ships today, sorry for the wait!"]
    assert len(world.sellapp.requests_to("POST", REPLY_PATH)) == 1
    # Two more polls: the reply never comes back into the thread as a "store reply".
    polls = len([line for line in bot.lines if "poll done" in line])
    await bot.wait_for_lines(r"poll done", polls + 2)
    bot_posts = [
        m for m in world.discord.messages_in(thread.id) if m.author.id == world.discord.bot.id
    ]
    assert not any("sorry for the wait" in str(m.embeds) for m in bot_posts)
    await bot.terminate()
    assert_no_secrets(bot.output, DISCORD_TOKEN, SELLAPP_KEY, "sorry for the wait")


async def test_non_staff_and_notes_are_not_sent(world: World, start_bot: StartBot) -> None:
    ticket, thread, _ = await open_ticket(world, start_bot)
    outsider = world.discord.member_says(thread.id, world.customer_like, "I'm not staff")
    note = world.discord.member_says(thread.id, world.staff, "// check the payment first")
    marker = world.discord.member_says(thread.id, world.staff, "Checked, all good.")
    await wait_reaction(world, marker, "✅")
    await wait_reaction(world, note, "📝")
    assert store_replies(world, ticket) == ["Checked, all good."]
    assert outsider.reactions == []


async def test_sellapp_down_shows_waiting_then_delivers_once(
    world: World, start_bot: StartBot
) -> None:
    ticket, thread, _ = await open_ticket(world, start_bot)
    world.sellapp.fail(path=REPLY_PATH, method="POST", status=503, times=2)
    said = world.discord.member_says(thread.id, world.staff, "Refund issued.")
    await wait_reaction(world, said, "⏳")
    assert store_replies(world, ticket) == []
    await world.discord.wait_for(lambda: "✅" in said.reactions or None, timeout=60)
    assert store_replies(world, ticket) == ["Refund issued."]
    assert "⏳" not in said.reactions


def reaction_requests(world: World, method: str, message: Message) -> int:
    path = rf"/channels/\d+/messages/{message.id}/reactions/.+/@me"
    return len(world.discord.requests_to(method, path))


async def test_every_reply_waiting_behind_another_shows_hourglass_and_none_is_wasted(
    world: World, start_bot: StartBot
) -> None:
    """Issue 12, items 4 and 6: only the first waiting reply of a ticket got ⏳ (the ones
    behind it showed nothing), and every reply cost a request to remove a ⏳ that was
    never added."""
    ticket, thread, _ = await open_ticket(world, start_bot)
    world.sellapp.fail(path=REPLY_PATH, method="POST", status=503, times=1)
    texts = ["First, sorry.", "Second, refund issued.", "Third, anything else?"]
    said = [world.discord.member_says(thread.id, world.staff, text) for text in texts]
    await world.discord.wait_for(lambda: all("✅" in m.reactions for m in said) or None, timeout=60)
    assert store_replies(world, ticket) == texts
    for message in said:
        assert reaction_requests(world, "PUT", message) == 2  # ⏳ once, then ✅
        assert reaction_requests(world, "DELETE", message) == 1  # the ⏳, once
        assert message.reactions == ["✅"]
    # A reply that goes straight through: ✅ only, no request to remove anything.
    straight = world.discord.member_says(thread.id, world.staff, "All done.")
    await wait_reaction(world, straight, "✅")
    assert reaction_requests(world, "PUT", straight) == 1
    assert reaction_requests(world, "DELETE", straight) == 0


async def test_refused_reply_gets_a_cross_and_a_reason(world: World, start_bot: StartBot) -> None:
    ticket, thread, _ = await open_ticket(world, start_bot)
    world.sellapp.set_ticket_status(STORE, ticket["id"], "CLOSED")
    # Answer before the poller notices the close (the thread is still writable).
    said = world.discord.member_says(thread.id, world.staff, "One more thing...")
    await wait_reaction(world, said, "❌")
    reason = await world.discord.wait_for(
        lambda: next(
            (
                m
                for m in world.discord.messages_in(thread.id)
                if m.author.id == world.discord.bot.id and "closed" in m.content.lower()
            ),
            None,
        ),
        timeout=20,
    )
    assert "SellApp" in reason.content
    assert store_replies(world, ticket) == []


async def test_kill_9_after_the_post_reached_sellapp_delivers_once(
    world: World, start_bot: StartBot
) -> None:
    ticket, thread, bot = await open_ticket(world, start_bot)
    world.sellapp.hang_after(3, path=REPLY_PATH, method="POST")
    said = world.discord.member_says(thread.id, world.staff, "Your key: check your inbox.")
    # SellApp has stored the reply, the bot is still waiting for the answer: kill it.
    await world.discord.wait_for(lambda: world.sellapp.hanging >= 1 or None, timeout=20)
    await bot.kill()
    assert store_replies(world, ticket) == ["Your key: check your inbox."]
    await start_bot()
    await wait_reaction(world, said, "✅")
    assert store_replies(world, ticket) == ["Your key: check your inbox."]


async def test_reply_typed_while_the_bot_was_stopped_is_delivered(
    world: World, start_bot: StartBot
) -> None:
    ticket, thread, bot = await open_ticket(world, start_bot)
    assert await bot.terminate() == 0
    said = world.discord.member_says(thread.id, world.staff, "Typed during the outage")
    await start_bot()
    await wait_reaction(world, said, "✅")
    assert store_replies(world, ticket) == ["Typed during the outage"]


async def test_five_quick_replies_arrive_in_order(world: World, start_bot: StartBot) -> None:
    ticket, thread, _ = await open_ticket(world, start_bot)
    said = [world.discord.member_says(thread.id, world.staff, f"part {i}") for i in range(5)]
    for message in said:
        await wait_reaction(world, message, "✅")
    assert store_replies(world, ticket) == [f"part {i}" for i in range(5)]


async def test_editing_a_sent_reply_warns_once(world: World, start_bot: StartBot) -> None:
    ticket, thread, _ = await open_ticket(world, start_bot)
    said = world.discord.member_says(thread.id, world.staff, "Price is 10 USD")
    await wait_reaction(world, said, "✅")
    world.discord.member_edits(said, "Price is 12 USD")
    world.discord.member_edits(said, "Price is 15 USD")
    await wait_reaction(world, said, "⚠️")
    warnings = await world.discord.wait_for(
        lambda: (
            [
                m
                for m in world.discord.messages_in(thread.id)
                if m.author.id == world.discord.bot.id
                and "does not change what they receive" in m.content
            ]
            or None
        ),
        timeout=20,
    )
    assert len(warnings) == 1
    assert store_replies(world, ticket) == ["Price is 10 USD"]
