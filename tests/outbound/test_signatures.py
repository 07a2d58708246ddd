"""Signatures and snippet replies through the outbox: the real engine on a real SQLite
file, the real SellApp client and FakeSellApp on loopback (fixtures of test_engine)."""

from __future__ import annotations

from dataclasses import replace

from bot.outbound.engine import OutboundRelay
from bot.outbound.rules import Ignore, Relay, StaffMessage, signature_note
from bot.replies.posts import post_text, read_post
from bot.replies.signature import signature_facts
from bot.replies.template import fill
from bot.store.records import Ticket
from tests.outbound.test_engine import (
    GUILD,
    LATER,
    REPLY_PATH,
    STAFF_ID,
    World,
    _until,
    deliver,
    history,
    link,
    mapped_again,
    restore,
    says,
    world,
)

__all__ = ["world"]  # the fixture, used by name

TEMPLATE = "— {staff.name}, {store} support"
SIGNATURE = "— Alex, main-store support"


async def sign(message: StaffMessage, ticket: Ticket) -> str | None:
    facts = signature_facts(
        staff_name="Alex", store="main-store", ticket_id=ticket.ticket_id, ticket_title=""
    )
    return fill(TEMPLATE, facts).text


def signing(world: World) -> OutboundRelay:
    return OutboundRelay(world.store, world.feedback, world.client, clock=world.clock, signer=sign)


def posted_bodies(world: World) -> list[str]:
    return [r.json["content"] for r in world.fake.requests_to("POST", REPLY_PATH)]


async def test_signature_is_appended_once_and_not_again_on_a_retry(world: World) -> None:
    world.fake.fail(path=REPLY_PATH, method="POST", status=503)
    engine = signing(world)
    ticket = await world.ticket(thread=1)
    message = says("Your refund is on its way.", thread=1)
    assert await engine.accept(message, ticket, link()) == Relay("Your refund is on its way.")

    await deliver(engine)  # 503: waits
    world.clock.advance(LATER)
    await deliver(engine)  # looks first (not there), sends again

    signed = f"Your refund is on its way.\n\n{SIGNATURE}"
    assert posted_bodies(world) == [signed, signed]
    assert world.store_replies(ticket) == [signed]
    assert world.feedback.on(message) == {"✅"}


async def test_signed_reply_shows_the_signature_in_the_thread(world: World) -> None:
    engine = signing(world)
    ticket = await world.ticket(thread=1)
    message = says("Shipped today.", thread=1)
    await engine.accept(message, ticket, link())
    await deliver(engine)

    assert world.feedback.said == [(1, signature_note(SIGNATURE), message.message_id)]
    assert "Alex" in signature_note(SIGNATURE)


async def test_signed_reply_adopted_after_a_timeout_is_not_sent_twice(world: World) -> None:
    world.fake.latency(1.5, path=REPLY_PATH, method="POST")  # stored after our timeout
    engine = signing(world)
    ticket = await world.ticket(thread=1)
    await engine.accept(says("Done.", thread=1), ticket, link())
    await deliver(engine)
    await _until(lambda: world.store_replies(ticket) != [])
    world.clock.advance(LATER)
    await deliver(engine)

    assert world.store_replies(ticket) == [f"Done.\n\n{SIGNATURE}"]
    assert world.posts() == 1


async def test_editing_a_signed_reply_without_changing_its_text_does_not_warn(
    world: World,
) -> None:
    engine = signing(world)
    ticket = await world.ticket(thread=1)
    message = says("See https://example.com", thread=1)
    await engine.accept(message, ticket, link())
    await deliver(engine)

    assert not await engine.changed(1, message.message_id, message)  # a link preview
    assert await engine.changed(1, message.message_id, replace(message, content="other"))


async def test_unsigned_guild_sends_the_text_as_typed(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    await engine.accept(says("Plain.", thread=1), ticket, link())
    await deliver(engine)
    assert world.store_replies(ticket) == ["Plain."]
    assert world.feedback.said == []


# --- snippet replies posted by the bot --------------------------------------------------


def snippet_post(text: str, thread: int, *reactions: str) -> StaffMessage:
    """The bot's post of a snippet reply as the catch-up reads it (cogs.outbound)."""
    shown = says(post_text(STAFF_ID, "refund", text), thread=thread)
    post = read_post(shown.content)
    assert post is not None and post.text == text and post.staff_id == STAFF_ID
    return replace(
        shown,
        content=post.text,
        is_bot=True,
        author_role_ids=frozenset(),
        posted_for=True,
        our_reactions=frozenset(reactions),
    )


async def test_snippet_post_is_relayed_as_the_staff_members_reply(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    post = snippet_post("// not a note: a snippet *as written*", thread=1)
    assert await engine.accept(post, ticket, link()) == Relay(post.content)
    await deliver(engine)
    entry = await world.store.outbox.by_discord_message(post.message_id)
    assert entry is not None and entry.author_id == STAFF_ID and entry.state == "delivered"
    assert world.store_replies(ticket) == ["// not a note: a snippet *as written*"]


async def test_snippet_post_delivered_before_a_restore_is_not_sent_again(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    post = snippet_post("Refund sent.", thread=1)
    await engine.accept(post, ticket, link())
    await deliver(engine)
    assert world.posts() == 1

    engine = await restore(world, None)
    ticket = await mapped_again(world, ticket)
    read_back = history(post, *world.feedback.on(post))
    assert await engine.accept(read_back, ticket, link(), from_history=True) == Ignore(
        "delivered before"
    )
    await deliver(engine)
    assert world.posts() == 1


async def test_snippet_post_whose_queueing_was_lost_is_sent_once_from_history(
    world: World,
) -> None:
    """Send posted the snippet and the process died before it was queued (or the database
    was restored to before it): the catch-up finds the post, looks at SellApp, sends it."""
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    post = snippet_post("Refund sent.", thread=1)  # no outbox row, no reaction
    assert await engine.accept(post, ticket, link(), from_history=True) == Relay("Refund sent.")
    await deliver(engine)
    again = await engine.accept(history(post, "✅"), ticket, link(), from_history=True)
    assert again == Ignore("already queued")
    await deliver(engine)
    assert world.store_replies(ticket) == ["Refund sent."]
    assert world.posts() == 1
    assert world.feedback.on(post) == {"✅"}
    assert ticket.guild_id == GUILD
