"""The outbound relay: classify on plain data; the engine on a real SQLite file, the real
SellApp client and FakeSellApp over loopback, and a hand-written feedback port."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.links import LinkConfig
from bot.outbound.engine import OutboundRelay, ReplyTarget
from bot.outbound.rules import (
    ATTACHMENTS_LINE,
    DELETE_WARNING,
    EDIT_WARNING,
    STICKER_ONLY,
    STUCK_SENDING,
    WITHDRAWN_NOTICE,
    Attachment,
    Ignore,
    Note,
    Refuse,
    Relay,
    StaffMessage,
    backoff,
    classify,
    shown_outcome,
)
from bot.sellapp.client import RetryPolicy, SellAppClient, make_http_client
from bot.shards.guard import GuildGuard
from bot.shards.plan import ShardPlan
from bot.store import Store
from bot.store.backup import backup_database
from bot.store.records import Ticket
from tests.fakes.sellapp import FakeSellApp
from tests.shards.test_guard import Board, SharedClaims

KEY = "sk_TEST-relay-never-show-4d3c2b1a"
STORE = "main-store"
GUILD = 1001
STAFF_ROLE = 77
OTHER_ROLE = 88
STAFF_ID = 555
FAST = RetryPolicy(attempts=1, base_delay=0.001, max_delay=0.002, rate_limit_retries=0)
LATER = 700.0  # past the longest backoff
REPLY_PATH = r"/tickets/\d+/messages$"


def link(**changes: Any) -> LinkConfig:
    base = LinkConfig(
        guild_id=GUILD,
        store_slug=STORE,
        api_key=SecretStr(KEY),
        channel_id=9000,
        staff_role_ids=frozenset({STAFF_ROLE}),
        poll_interval=30.0,
        paused=False,
        note_prefix="//",
    )
    return replace(base, **changes)


_ids = iter(range(10_000, 1_000_000))


def says(content: str, thread: int = 0, **changes: Any) -> StaffMessage:
    """A staff member (by role) typing ``content`` in ``thread``; ids ascend like snowflakes."""
    message = StaffMessage(
        guild_id=GUILD,
        channel_id=thread,
        message_id=next(_ids),
        author_id=STAFF_ID,
        content=content,
        author_role_ids=frozenset({STAFF_ROLE}),
    )
    return replace(message, **changes)


# --- classify ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"is_bot": True}, "bot"),
        ({"is_webhook": True}, "webhook"),
        ({"is_system": True}, "system message"),
        ({"author_role_ids": frozenset({OTHER_ROLE})}, "not staff"),
        ({"author_role_ids": frozenset()}, "not staff"),
        ({"content": ""}, "empty"),
        ({"content": "  \n\t "}, "empty"),
    ],
)
def test_classify_ignores(changes: dict[str, Any], reason: str) -> None:
    assert classify(replace(says("hello"), **changes), link()) == Ignore(reason)


def test_classify_relays_staff_by_role_and_by_manage_server() -> None:
    assert classify(says("  Your order shipped.  "), link()) == Relay("Your order shipped.")
    manager = says("On it", author_role_ids=frozenset(), author_manages_guild=True)
    assert classify(manager, link()) == Relay("On it")


def test_classify_notes_by_prefix_default_and_custom() -> None:
    assert classify(says("// customer seems upset"), link()) == Note()
    assert classify(says("  //indented note"), link()) == Note()
    assert classify(says("!! internal", thread=1), link(note_prefix="!!")) == Note()
    # With a custom prefix, the default one is ordinary text.
    assert classify(says("// sent"), link(note_prefix="!!")) == Relay("// sent")


def test_classify_refuses_sticker_or_embed_alone() -> None:
    for changes in ({"has_stickers": True}, {"has_embeds": True}):
        verdict = classify(says("", **changes), link())
        assert verdict == Refuse(STICKER_ONLY)
        assert "text only" in verdict.reason
    # With text, the text is sent.
    assert classify(says("see above", has_stickers=True), link()) == Relay("see above")


def test_classify_appends_attachments_as_links_with_a_line_saying_so() -> None:
    files = (
        Attachment("https://cdn.discordapp.com/a/1/invoice.pdf", "invoice.pdf"),
        Attachment("https://cdn.discordapp.com/a/2/shot.png", "shot.png"),
    )
    verdict = classify(says("Here you go", attachments=files), link())
    assert verdict == Relay(
        "Here you go\n\n"
        f"{ATTACHMENTS_LINE}\n"
        "invoice.pdf: https://cdn.discordapp.com/a/1/invoice.pdf\n"
        "shot.png: https://cdn.discordapp.com/a/2/shot.png"
    )
    assert "stop working" in ATTACHMENTS_LINE
    only = classify(says("", attachments=files[:1]), link())
    assert isinstance(only, Relay) and only.text.startswith(ATTACHMENTS_LINE)


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    first = {backoff(1) for _ in range(50)}
    assert all(5.0 <= w <= 7.5 for w in first) and len(first) > 1
    assert all(40.0 <= backoff(4) <= 60.0 for _ in range(20))
    assert {backoff(n) for n in (8, 9, 50)} == {600.0}
    assert backoff(1, retry_after=42.0) == 42.0
    assert backoff(1, retry_after=9999.0) == 600.0


def test_backoff_starts_from_the_configured_first_wait() -> None:
    assert all(0.5 <= backoff(1, first=0.5) <= 0.75 for _ in range(20))
    assert all(2.0 <= backoff(3, first=0.5) <= 3.0 for _ in range(20))
    assert backoff(30, first=0.5) == 600.0
    assert backoff(1, first=0.5, retry_after=1.0) == 1.0  # Retry-After still wins


# --- the engine: fixtures ---------------------------------------------------------------


class Crash(BaseException):
    """Stands in for the process dying at a given step."""


class Clock:
    """Wall-clock time (SellApp's timestamps are wall-clock) that tests can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Feedback:
    """What staff see in Discord: the bot's reactions per message and what it said."""

    reactions: dict[int, set[str]] = field(default_factory=dict)
    said: list[tuple[int, str, int | None]] = field(default_factory=list)
    reacts: list[tuple[int, str]] = field(default_factory=list)
    unreacts: list[tuple[int, str]] = field(default_factory=list)
    never_added: list[tuple[int, str]] = field(default_factory=list)
    """Removals of a reaction the bot had not added: a Discord request for nothing."""
    broken: bool = False

    async def react(self, channel_id: int, message_id: int, emoji: str) -> None:
        if self.broken:
            raise RuntimeError("Discord is down")
        self.reacts.append((message_id, emoji))
        self.reactions.setdefault(message_id, set()).add(emoji)

    async def unreact(self, channel_id: int, message_id: int, emoji: str) -> None:
        if self.broken:
            raise RuntimeError("Discord is down")
        self.unreacts.append((message_id, emoji))
        if emoji not in self.reactions.get(message_id, set()):
            self.never_added.append((message_id, emoji))
        self.reactions.get(message_id, set()).discard(emoji)

    async def say(self, channel_id: int, text: str, reply_to: int | None) -> None:
        if self.broken:
            raise RuntimeError("Discord is down")
        self.said.append((channel_id, text, reply_to))

    def on(self, message: StaffMessage) -> set[str]:
        return self.reactions.get(message.message_id, set())

    def added(self, emoji: str) -> list[int]:
        """The messages that got ``emoji``, in the order it was added (repeats kept)."""
        return [message_id for message_id, e in self.reacts if e == emoji]


@dataclass
class World:
    fake: FakeSellApp
    http: httpx.AsyncClient
    path: Path
    store: Store
    feedback: Feedback
    clock: Clock
    held: set[int] = field(default_factory=set)

    async def client(self, guild_id: int) -> ReplyTarget | None:
        if guild_id in self.held:
            return None
        return SellAppClient(
            self.http, base_url=self.fake.url, api_key=SecretStr(KEY), store=STORE, retry=FAST
        )

    def engine(self) -> OutboundRelay:
        return OutboundRelay(self.store, self.feedback, self.client, clock=self.clock)

    async def restart(self) -> OutboundRelay:
        """The process died: a new store connection and engine on the same file."""
        await self.store.close()
        self.store = await Store.open(self.path)
        engine = self.engine()
        await engine.reconcile_at_start()
        return engine

    async def ticket(self, thread: int) -> Ticket:
        made = self.fake.add_ticket(STORE, messages=["Where is my order?"])
        await self.store.tickets.record(
            GUILD, made["id"], status="OPEN", title="t", sellapp_updated_at=None, now=0.0
        )
        await self.store.tickets.set_thread(GUILD, made["id"], thread, now=0.0)
        found = await self.store.tickets.get(GUILD, made["id"])
        assert found is not None
        return found

    def store_replies(self, ticket: Ticket) -> list[str]:
        """What the customer can read from the store, in order."""
        messages = self.fake.messages(STORE, ticket.ticket_id)
        return [m["content"] for m in messages if m["author"] == "STORE"]

    def posts(self) -> int:
        return len(self.fake.requests_to("POST", REPLY_PATH))


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    path = tmp_path / "bridge.sqlite3"
    async with FakeSellApp() as fake, make_http_client(timeout=1.0) as http:
        fake.add_account(KEY, [STORE])
        w = World(fake, http, path, await Store.open(path), Feedback(), Clock())
        try:
            yield w
            # Every test: the relay never removes a reaction it did not add.
            assert w.feedback.never_added == []
        finally:
            await w.store.close()


async def deliver(engine: OutboundRelay) -> float | None:
    """One delivery pass, and the feedback it started shown."""
    wait = await engine.deliver_due()
    await engine.flush_feedback()
    return wait


async def relay(world: World, engine: OutboundRelay, ticket: Ticket, text: str) -> StaffMessage:
    message = says(text, thread=ticket.thread_id or 0)
    verdict = await engine.accept(message, ticket, link())
    assert verdict == Relay(text)
    return message


# --- the engine: delivery ---------------------------------------------------------------


async def test_delivered_once_shows_check_and_is_recorded_as_our_own(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    message = await relay(world, engine, ticket, "It shipped today.")
    entry = await world.store.outbox.by_discord_message(message.message_id)
    assert entry is not None and entry.state == "queued"  # written before any send
    assert world.posts() == 0

    assert await deliver(engine) is None
    assert world.posts() == 1
    assert world.store_replies(ticket) == ["It shipped today."]
    assert world.feedback.on(message) == {"✅"}
    entry = await world.store.outbox.by_discord_message(message.message_id)
    assert entry is not None and entry.state == "delivered" and entry.sellapp_message_id
    assert await world.store.messages.get(GUILD, entry.sellapp_message_id) is not None
    assert world.feedback.said == []


@pytest.mark.parametrize("status", [503, 429])
async def test_unreachable_waits_then_delivers_exactly_once(world: World, status: int) -> None:
    world.fake.fail(path=REPLY_PATH, method="POST", status=status, retry_after=1)
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    message = await relay(world, engine, ticket, "Refund is on its way.")

    wait = await deliver(engine)
    assert wait is not None and 4.0 <= wait <= 7.5
    entry = await world.store.outbox.by_discord_message(message.message_id)
    assert entry is not None and entry.state == "waiting"
    assert world.feedback.on(message) == {"⏳"}
    assert world.store_replies(ticket) == []

    assert await deliver(engine) == pytest.approx(wait, abs=1.0)  # not due yet
    assert world.posts() == 1

    world.clock.advance(LATER)
    assert await deliver(engine) is None
    assert world.store_replies(ticket) == ["Refund is on its way."]
    assert world.feedback.on(message) == {"✅"}


async def test_relay_retry_setting_sets_the_first_wait_of_a_failed_reply(world: World) -> None:
    world.fake.fail(path=REPLY_PATH, method="POST", status=503)
    engine = OutboundRelay(
        world.store, world.feedback, world.client, clock=world.clock, retry_first=0.5
    )
    ticket = await world.ticket(thread=1)
    message = await relay(world, engine, ticket, "Soon, then.")
    wait = await deliver(engine)
    assert wait is not None and wait <= 0.75  # not the default 5 s
    assert world.feedback.on(message) == {"⏳"}
    assert world.posts() == 1


async def test_timeout_after_sellapp_stored_it_is_adopted_not_resent(world: World) -> None:
    # SellApp takes the reply but answers after our timeout (1 s): outcome unknown.
    world.fake.latency(1.5, path=REPLY_PATH, method="POST")
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    message = await relay(world, engine, ticket, "Sent once, please.")

    await deliver(engine)
    assert world.feedback.on(message) == {"⏳"}
    await _until(lambda: world.store_replies(ticket) != [])  # the slow POST lands

    world.clock.advance(LATER)
    await deliver(engine)
    assert world.posts() == 1
    assert world.store_replies(ticket) == ["Sent once, please."]
    assert world.feedback.on(message) == {"✅"}


async def test_an_unreadable_message_is_never_taken_for_a_reply_that_did_not_arrive(
    world: World,
) -> None:
    """Issue 12.1's item-by-item reading must not let the relay resend blindly: our reply
    may be the one message SellApp sent in a shape the bridge can't read."""
    world.fake.latency(1.5, path=REPLY_PATH, method="POST")
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    message = await relay(world, engine, ticket, "Sent once, please.")
    await deliver(engine)
    await _until(lambda: world.store_replies(ticket) != [])  # the slow POST lands
    [landed] = [m for m in world.fake.messages(STORE, ticket.ticket_id) if m["author"] == "STORE"]
    world.fake.serve_message_as(STORE, ticket.ticket_id, landed["id"], author="SYSTEM")

    world.clock.advance(LATER)
    await deliver(engine)
    assert world.posts() == 1  # not sent again
    assert world.feedback.on(message) == {"⏳"}

    world.fake.serve_message_as(STORE, ticket.ticket_id, landed["id"], author="STORE")
    world.clock.advance(LATER)
    await deliver(engine)
    assert world.posts() == 1
    assert world.feedback.on(message) == {"✅"}


async def test_422_refused_with_sellapps_words(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    message = await relay(world, engine, ticket, "x" * 10_001)
    await deliver(engine)
    assert world.feedback.on(message) == {"❌"}
    [(thread, text, reply_to)] = world.feedback.said
    assert thread == 1 and reply_to == message.message_id
    assert "must not be greater than 10000 characters" in text
    entry = await world.store.outbox.by_discord_message(message.message_id)
    assert entry is not None and entry.state == "refused"
    world.clock.advance(LATER)
    await deliver(engine)
    assert world.posts() == 1  # never sent again


async def test_closed_ticket_refused(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    world.fake.set_ticket_status(STORE, ticket.ticket_id, "CLOSED")
    message = await relay(world, engine, ticket, "Anything else?")
    await deliver(engine)
    assert world.feedback.on(message) == {"❌"}
    assert "closed" in world.feedback.said[0][1]
    assert world.store_replies(ticket) == []


async def test_revoked_key_refused_in_plain_words_without_the_key(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    world.fake.revoke_key(KEY)
    message = await relay(world, engine, ticket, "Hello")
    await deliver(engine)
    assert world.feedback.on(message) == {"❌"}
    [(_, text, _)] = world.feedback.said
    assert "API key" in text and "reconnect" in text
    assert all(KEY not in said for _, said, _ in world.feedback.said)
    entry = await world.store.outbox.by_discord_message(message.message_id)
    assert entry is not None and entry.last_error and KEY not in entry.last_error


async def test_five_quick_replies_arrive_in_order(world: World) -> None:
    world.fake.latency(0.05, path=REPLY_PATH, method="POST", times=2)
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    texts = [f"part {i}" for i in range(5)]
    for text in texts:
        await relay(world, engine, ticket, text)
    await deliver(engine)
    assert world.store_replies(ticket) == texts


async def test_waiting_entry_holds_its_ticket_but_not_others(world: World) -> None:
    engine = world.engine()
    first = await world.ticket(thread=1)
    other = await world.ticket(thread=2)
    world.fake.fail(path=rf"/tickets/{first.ticket_id}/messages$", method="POST")
    a1 = await relay(world, engine, first, "a1")
    await relay(world, engine, first, "a2")
    await relay(world, engine, other, "b1")

    await deliver(engine)
    assert world.store_replies(first) == []
    assert world.store_replies(other) == ["b1"]
    assert world.feedback.on(a1) == {"⏳"}

    world.clock.advance(LATER)
    await deliver(engine)
    assert world.store_replies(first) == ["a1", "a2"]


async def test_same_discord_message_twice_is_sent_once(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    message = await relay(world, engine, ticket, "Once only")  # live event
    assert isinstance(await engine.accept(message, ticket, link()), Ignore)  # catch-up
    # Even with the thread's mark lost, the store refuses a second entry.
    fresh = OutboundRelay(world.store, world.feedback, world.client, clock=world.clock)
    other_thread = replace(message, channel_id=99)
    assert await fresh.accept(other_thread, ticket, link()) == Ignore("already queued")
    await deliver(engine)
    assert world.posts() == 1


async def test_note_and_sticker_are_never_sent(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    note = says("// refund approved by Sam", thread=1)
    sticker = says("", thread=1, has_stickers=True)
    assert await engine.accept(note, ticket, link()) == Note()
    assert await engine.accept(sticker, ticket, link()) == Refuse(STICKER_ONLY)
    await deliver(engine)
    assert world.posts() == 0
    assert world.feedback.on(note) == {"📝"}
    assert world.feedback.on(sticker) == {"❌"}
    assert world.feedback.said == [(1, STICKER_ONLY, sticker.message_id)]


async def test_paused_guild_holds_replies_until_resumed(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    world.held.add(GUILD)
    message = says("Held for now", thread=1)
    assert await engine.accept(message, ticket, link(paused=True)) == Relay("Held for now")
    await engine.flush_feedback()
    assert world.feedback.on(message) == {"⏳"}
    assert await deliver(engine) == 30.0
    assert world.posts() == 0
    world.held.clear()
    await deliver(engine)
    assert world.store_replies(ticket) == ["Held for now"]
    assert world.feedback.on(message) == {"✅"}


async def test_feedback_failing_never_loses_or_resends(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    world.feedback.broken = True
    message = await relay(world, engine, ticket, "Discord is flaky")
    await deliver(engine)
    await deliver(engine)
    assert world.posts() == 1
    entry = await world.store.outbox.by_discord_message(message.message_id)
    assert entry is not None and entry.state == "delivered"


# --- crash at each step of delivery -----------------------------------------------------


def crash_before(obj: object, name: str) -> None:
    async def crashing(*args: Any, **kwargs: Any) -> Any:
        raise Crash(name)

    setattr(obj, name, crashing)


def crash_after(obj: object, name: str) -> None:
    original: Callable[..., Awaitable[Any]] = getattr(obj, name)

    async def crashing(*args: Any, **kwargs: Any) -> Any:
        await original(*args, **kwargs)
        raise Crash(name)

    setattr(obj, name, crashing)


@pytest.mark.parametrize(
    ("step", "posts_before_restart"),
    [
        ("before mark_sending", 0),
        ("after mark_sending, before the POST", 0),
        ("after the POST reached SellApp, before mark_delivered", 1),
        ("after mark_delivered, before the reaction", 1),
    ],
)
async def test_crash_at_each_step_delivers_exactly_once(
    world: World, step: str, posts_before_restart: int
) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    message = await relay(world, engine, ticket, "Your key is ABC-123.")
    if step == "before mark_sending":
        crash_before(world.store.outbox, "mark_sending")
    elif step == "after mark_sending, before the POST":
        crash_after(world.store.outbox, "mark_sending")
    elif step == "after the POST reached SellApp, before mark_delivered":
        crash_before(world.store.outbox, "mark_delivered")
    else:
        crash_after(world.store.outbox, "mark_delivered")
    with pytest.raises(Crash):
        await deliver(engine)
    assert world.posts() == posts_before_restart
    assert "✅" not in world.feedback.on(message)

    engine = await world.restart()
    await deliver(engine)

    assert world.store_replies(ticket) == ["Your key is ABC-123."]
    assert world.posts() == 1
    assert world.feedback.on(message) == {"✅"}
    entry = await world.store.outbox.by_discord_message(message.message_id)
    assert entry is not None and entry.state == "delivered"
    assert entry.sellapp_message_id is not None
    assert await world.store.messages.get(GUILD, entry.sellapp_message_id) is not None


async def test_crash_before_refusal_reaction_still_shows_it(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    world.fake.set_ticket_status(STORE, ticket.ticket_id, "CLOSED")
    message = await relay(world, engine, ticket, "Too late")
    crash_after(world.store.outbox, "mark_refused")
    with pytest.raises(Crash):
        await deliver(engine)
    engine = await world.restart()
    await deliver(engine)
    assert world.feedback.on(message) == {"❌"}
    assert len(world.feedback.said) == 1 and "closed" in world.feedback.said[0][1]
    assert world.posts() == 1


async def test_identical_earlier_reply_of_ours_is_not_adopted(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    await relay(world, engine, ticket, "ok")
    await deliver(engine)
    second = await relay(world, engine, ticket, "ok")
    crash_after(world.store.outbox, "mark_sending")
    with pytest.raises(Crash):
        await deliver(engine)
    engine = await world.restart()
    await deliver(engine)
    assert world.store_replies(ticket) == ["ok", "ok"]
    assert world.feedback.on(second) == {"✅"}


# --- edits and deletes ------------------------------------------------------------------


async def test_edit_warns_once_even_after_several_edits(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    message = await relay(world, engine, ticket, "Price is $10")
    await deliver(engine)

    # Discord adding a link preview is an edit event with the same text: not a change.
    assert not await engine.changed(1, message.message_id, replace(message, has_embeds=True))
    assert await engine.changed(1, message.message_id, replace(message, content="Price is $12"))
    assert not await engine.changed(1, message.message_id, replace(message, content="$13"))
    assert not await engine.changed(1, message.message_id, None)  # then deleted
    assert world.feedback.on(message) == {"✅", "⚠️"}
    assert world.feedback.said == [(1, EDIT_WARNING, message.message_id)]
    assert world.store_replies(ticket) == ["Price is $10"]


async def test_deleting_a_reply_before_it_is_sent_withdraws_it(world: World) -> None:
    """Found in review: a reply deleted while still queued (SellApp down, guild paused)
    was sent anyway, and the notice said deleting 'does not take it back'."""
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    message = await relay(world, engine, ticket, "Wrong price, ignore")
    assert await engine.changed(1, message.message_id, None)
    assert not await engine.changed(1, message.message_id, None)
    await deliver(engine)
    assert world.posts() == 0
    assert world.store_replies(ticket) == []
    assert world.feedback.said == [(1, WITHDRAWN_NOTICE, None)]
    # Not relayed at all: no warning.
    note = says("// note", thread=1)
    await engine.accept(note, ticket, link())
    assert not await engine.changed(1, note.message_id, replace(note, content="// edited"))
    assert len(world.feedback.said) == 1


async def test_deleting_a_reply_already_sent_warns_once(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    message = await relay(world, engine, ticket, "Sent already")
    await deliver(engine)
    assert await engine.changed(1, message.message_id, None)
    assert not await engine.changed(1, message.message_id, None)
    assert world.feedback.said == [(1, DELETE_WARNING, None)]
    assert world.store_replies(ticket) == ["Sent already"]


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_reply_whose_outcome_could_not_be_recorded_does_not_block_its_ticket(
    world: World,
) -> None:
    """Found in review: an error while recording a reply's outcome left its entry
    'sending' until restart, holding back the ticket's later replies."""
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    first = await relay(world, engine, ticket, "First answer.")
    real = world.store.outbox.mark_delivered
    failures = iter([sqlite3.OperationalError("disk I/O error")])

    async def flaky(*args: Any, **kwargs: Any) -> bool:
        error = next(failures, None)
        if error is not None:
            raise error
        return await real(*args, **kwargs)

    world.store.outbox.mark_delivered = flaky  # type: ignore[method-assign]
    await deliver(engine)  # the POST reached SellApp; recording it failed
    second = await relay(world, engine, ticket, "Second answer.")
    await deliver(engine)
    assert world.store_replies(ticket) == ["First answer."]  # the second waits its turn

    world.clock.advance(STUCK_SENDING + 1)
    await deliver(engine)
    await deliver(engine)
    assert world.store_replies(ticket) == ["First answer.", "Second answer."]
    assert world.posts() == 2
    assert world.feedback.on(first) == {"✅"}
    assert world.feedback.on(second) == {"✅"}


async def test_a_reply_skipped_by_an_earlier_pass_is_still_sent_once(world: World) -> None:
    """Found in review: a reply whose event failed (or raced a reconnect's catch-up) was
    skipped for good once a later message in the thread moved the 'last handled' mark."""
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    missed = says("Typed during the reconnect", thread=1)
    later = says("Typed after it", thread=1)
    await engine.accept(later, ticket, link())  # the mark moves past `missed`
    verdict = await engine.accept(missed, ticket, link())  # the re-read brings it back
    assert verdict == Relay("Typed during the reconnect")
    assert await engine.accept(missed, ticket, link()) == Ignore("already queued")
    sticker = says("", thread=1, has_stickers=True)
    await engine.accept(sticker, ticket, link())
    await engine.flush_feedback()
    said = len(world.feedback.said)
    assert said == 1
    await engine.accept(sticker, ticket, link())  # refusals are not repeated
    await engine.flush_feedback()
    assert len(world.feedback.said) == said
    await deliver(engine)
    assert sorted(world.store_replies(ticket)) == sorted(
        ["Typed during the reconnect", "Typed after it"]
    )
    assert world.posts() == 2


# --- ⏳ on every waiting reply, removed only where it was added (issue 12) -----------------


async def test_replies_queued_behind_a_waiting_reply_show_hourglass_too(world: World) -> None:
    """Issue 12, item 4: while SellApp was down only the first waiting reply of a ticket
    got ⏳; the ones queued behind it showed nothing until they were sent."""
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    other = await world.ticket(thread=2)
    world.fake.fail(path=rf"/tickets/{ticket.ticket_id}/messages$", method="POST", times=None)
    first = [await relay(world, engine, ticket, f"part {i}") for i in range(3)]
    await deliver(engine)
    assert [world.feedback.on(m) for m in first] == [{"⏳"}] * 3
    assert world.feedback.added("⏳") == [m.message_id for m in first]  # in order

    # A reply typed while the ticket waits gets ⏳ at once; another ticket's doesn't.
    late = await relay(world, engine, ticket, "part 3")
    elsewhere = await relay(world, engine, other, "unrelated")
    await engine.flush_feedback()
    assert world.feedback.on(late) == {"⏳"}
    await deliver(engine)
    assert world.feedback.on(elsewhere) == {"✅"}

    world.clock.advance(LATER)
    await deliver(engine)  # still down: retried, but no ⏳ added twice
    replies = [*first, late]
    assert world.feedback.added("⏳") == [m.message_id for m in replies]

    world.fake.clear_faults()
    world.clock.advance(LATER)
    await deliver(engine)
    assert world.store_replies(ticket) == ["part 0", "part 1", "part 2", "part 3"]
    assert [world.feedback.on(m) for m in replies] == [{"✅"}] * 4
    assert world.feedback.unreacts == [(m.message_id, "⏳") for m in replies]


async def test_a_reply_sent_at_once_gets_no_request_to_remove_hourglass(world: World) -> None:
    """Issue 12, item 6: after every delivery or refusal the relay removed ⏳ it had never
    added: one wasted Discord request per reply (and a misleading 404 in the log)."""
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    sent = await relay(world, engine, ticket, "Straight through")
    refused = await relay(world, engine, ticket, "x" * 10_001)
    await deliver(engine)
    assert world.feedback.on(sent) == {"✅"}
    assert world.feedback.on(refused) == {"❌"}
    assert world.feedback.unreacts == []


async def test_hourglass_added_before_a_restart_is_removed_after_it(world: World) -> None:
    world.fake.fail(path=REPLY_PATH, method="POST", times=None)
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    head = await relay(world, engine, ticket, "first")
    behind = await relay(world, engine, ticket, "second")
    await deliver(engine)
    assert world.feedback.on(head) == world.feedback.on(behind) == {"⏳"}

    engine = await world.restart()  # the knowledge "⏳ is on it" is in the outbox row
    world.fake.clear_faults()
    world.clock.advance(LATER)
    await deliver(engine)
    assert world.store_replies(ticket) == ["first", "second"]
    assert world.feedback.on(head) == world.feedback.on(behind) == {"✅"}
    assert world.feedback.added("⏳") == [head.message_id, behind.message_id]  # not re-added


async def test_replies_queued_before_a_pause_show_hourglass_while_held(world: World) -> None:
    """Same class as item 4: replies queued before the guild was paused (or lost its key)
    were held back without any reaction."""
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    replies = [await relay(world, engine, ticket, f"held {i}") for i in range(2)]
    world.held.add(GUILD)
    assert await deliver(engine) == 30.0
    await deliver(engine)
    assert world.feedback.added("⏳") == [m.message_id for m in replies]  # once each
    world.held.clear()
    await deliver(engine)
    assert world.store_replies(ticket) == ["held 0", "held 1"]
    assert [world.feedback.on(m) for m in replies] == [{"✅"}] * 2


# --- a database older than Discord (restored from a backup, or lost) ------------------


def history(message: StaffMessage, *reactions: str) -> StaffMessage:
    """``message`` as the catch-up reads it back from the thread: with our reactions."""
    return replace(message, our_reactions=frozenset(reactions))


async def typed(world: World, engine: OutboundRelay, ticket: Ticket, text: str) -> StaffMessage:
    """A reply typed and delivered live, as it shows in Discord afterwards (our ✅)."""
    message = replace(says(text, thread=ticket.thread_id or 0), typed_at=world.clock())
    assert await engine.accept(message, ticket, link()) == Relay(text)
    await deliver(engine)
    return history(message, *world.feedback.on(message))


async def restore(world: World, backup: Path | None) -> OutboundRelay:
    """Stop, put ``backup`` in place of the database (None: delete it), start."""
    await world.store.close()
    _put_in_place(world.path, backup)
    return await world.restart()


def _put_in_place(path: Path, backup: Path | None) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    if backup is not None:
        shutil.copyfile(backup, path)


async def mapped_again(world: World, ticket: Ticket) -> Ticket:
    """What the poller does on an empty database: finds the thread by name, maps it."""
    await world.store.tickets.record(
        GUILD, ticket.ticket_id, status="OPEN", title="t", sellapp_updated_at=None, now=0.0
    )
    await world.store.tickets.set_thread(GUILD, ticket.ticket_id, ticket.thread_id or 0, now=0.0)
    found = await world.store.tickets.get(GUILD, ticket.ticket_id)
    assert found is not None
    return found


def test_our_reactions_say_what_was_done_whatever_the_database_lost() -> None:
    assert shown_outcome(frozenset({"✅"})) == "delivered"
    assert shown_outcome(frozenset({"✅", "⚠️"})) == "delivered"
    assert shown_outcome(frozenset({"❌"})) == "refused"
    assert shown_outcome(frozenset({"📝"})) == "note"
    for unsure in (frozenset(), frozenset({"⏳"}), frozenset({"⚠️"})):
        assert shown_outcome(unsure) is None


async def test_restored_backup_does_not_resend_replies_delivered_after_it(
    world: World, tmp_path: Path
) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    first = await typed(world, engine, ticket, "First answer.")
    backup = tmp_path / "backup.sqlite3"
    backup_database(world.path, backup)
    second = await typed(world, engine, ticket, "Second answer.")  # ✅ in Discord
    world.feedback.broken = True  # delivered, but its ✅ never showed
    third = history(await typed(world, engine, ticket, "Third answer."))
    world.feedback.broken = False
    assert world.posts() == 3

    engine = await restore(world, backup)
    down = replace(says("Typed while down.", thread=1), typed_at=world.clock())
    for message in (first, second, third, down):  # the catch-up reads the thread
        await engine.accept(message, ticket, link(), from_history=True)
    await deliver(engine)

    assert world.store_replies(ticket) == [
        "First answer.",
        "Second answer.",
        "Third answer.",
        "Typed while down.",
    ]
    assert world.posts() == 4  # only the reply typed while down was sent
    assert world.feedback.on(third) == {"✅"}  # found at SellApp: adopted
    assert world.feedback.on(down) == {"✅"}
    for message in (second, third):
        entry = await world.store.outbox.by_discord_message(message.message_id)
        assert entry is not None and entry.state == "delivered"


async def test_empty_database_reads_the_whole_thread_without_resending(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    said = [await typed(world, engine, ticket, f"answer {i}") for i in range(3)]
    world.feedback.broken = True
    said.append(history(await typed(world, engine, ticket, "answer 3")))
    world.feedback.broken = False

    engine = await restore(world, None)
    ticket = await mapped_again(world, ticket)
    assert await world.store.state.get_last_seen_discord_message(1) is None  # no position at all
    down = replace(says("Typed while down.", thread=1), typed_at=world.clock())
    for message in [*said, down]:
        await engine.accept(message, ticket, link(), from_history=True)
    await deliver(engine)

    assert world.store_replies(ticket) == [*(f"answer {i}" for i in range(4)), "Typed while down."]
    assert world.posts() == 5


async def test_a_reply_answered_409_is_refused_not_retried_forever(world: World) -> None:
    """Review: once order actions mapped every 409 to "in progress, retry", a reply POST
    answered 409 was looked for and retried for good instead of refused with ❌."""
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    world.fake.fail(path=REPLY_PATH, method="POST", status=409, times=None)
    message = await relay(world, engine, ticket, "Conflicted")
    await deliver(engine)
    assert world.feedback.on(message) == {"❌"}
    world.clock.advance(LATER)
    await deliver(engine)
    assert world.store_replies(ticket) == []
    assert len(world.fake.requests_to("POST", REPLY_PATH)) == 1


async def test_hourglass_shown_before_the_database_was_lost_is_taken_off(world: World) -> None:
    """Review: a reply read back from history with our ⏳ was queued as if no ⏳ was on
    it, so after delivery it showed ⏳ and ✅ together for good."""
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    world.fake.fail(path=REPLY_PATH, method="POST", times=None)
    message = await relay(world, engine, ticket, "Sent while SellApp was down.")
    await deliver(engine)
    assert world.feedback.on(message) == {"⏳"}

    engine = await restore(world, None)
    world.fake.clear_faults()
    ticket = await mapped_again(world, ticket)
    await engine.accept(
        history(message, *world.feedback.on(message)), ticket, link(), from_history=True
    )
    await deliver(engine)
    assert world.store_replies(ticket) == ["Sent while SellApp was down."]
    assert world.feedback.on(message) == {"✅"}


async def test_reply_refused_before_a_restore_is_not_sent_after_it(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    world.fake.set_ticket_status(STORE, ticket.ticket_id, "CLOSED")
    refused = await typed(world, engine, ticket, "Too late")
    assert refused.our_reactions == {"❌"}
    world.fake.set_ticket_status(STORE, ticket.ticket_id, "OPEN")  # reopened meanwhile
    said = len(world.feedback.said)

    engine = await restore(world, None)
    ticket = await mapped_again(world, ticket)
    assert await engine.accept(refused, ticket, link(), from_history=True) == Ignore(
        "refused before"
    )
    await deliver(engine)
    assert world.store_replies(ticket) == []
    assert len(world.feedback.said) == said  # the reason is not repeated either
    entry = await world.store.outbox.by_discord_message(refused.message_id)
    assert entry is not None and entry.state == "refused"


async def test_backup_taken_while_a_reply_was_queued_does_not_send_it_again(
    world: World, tmp_path: Path
) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    message = await relay(world, engine, ticket, "Queued at backup time.")
    backup = tmp_path / "backup.sqlite3"
    backup_database(world.path, backup)  # the entry is 'queued' in the copy
    await deliver(engine)
    assert world.posts() == 1

    engine = await restore(world, backup)
    await deliver(engine)
    assert world.posts() == 1
    assert world.store_replies(ticket) == ["Queued at backup time."]
    entry = await world.store.outbox.by_discord_message(message.message_id)
    assert entry is not None and entry.state == "delivered" and entry.sellapp_message_id


async def test_same_words_typed_again_while_down_are_still_sent(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    earlier = await typed(world, engine, ticket, "Thanks!")
    world.clock.advance(LATER)  # well past the clock-skew window

    engine = await restore(world, None)
    ticket = await mapped_again(world, ticket)
    again = replace(says("Thanks!", thread=1), typed_at=world.clock())
    for message in (earlier, again):
        await engine.accept(message, ticket, link(), from_history=True)
    await deliver(engine)
    assert world.store_replies(ticket) == ["Thanks!", "Thanks!"]
    assert world.feedback.on(again) == {"✅"}


async def test_reply_read_from_history_waits_while_sellapp_cannot_be_read(world: World) -> None:
    """Unchecked is unsent: while SellApp's messages can't be listed, nothing goes out."""
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    world.feedback.broken = True  # delivered, but its ✅ never showed
    done = await typed(world, engine, ticket, "Delivered before the loss.")
    world.feedback.broken = False

    engine = await restore(world, None)
    ticket = await mapped_again(world, ticket)
    world.fake.fail(path=REPLY_PATH, method="GET", status=503, times=1)
    await engine.accept(done, ticket, link(), from_history=True)
    await deliver(engine)
    assert world.posts() == 1
    assert world.feedback.on(done) == {"⏳"}

    world.clock.advance(LATER)
    await deliver(engine)
    assert world.posts() == 1
    assert world.feedback.on(done) == {"✅"}


# --- the engine: only the guilds this process works on (shards, claims) ------------------

OTHER_GUILD = 2002


async def test_entries_of_a_guild_another_process_holds_are_never_touched(world: World) -> None:
    """Process A works on GUILD only: it never sends, settles, unsticks or marks an entry
    of OTHER_GUILD (in flight in process B), and B, taking OTHER_GUILD over, finishes it."""
    ours = await world.ticket(thread=1)
    made = world.fake.add_ticket(STORE, messages=["Other shop's question"])
    await world.store.tickets.record(
        OTHER_GUILD, made["id"], status="OPEN", title="t", sellapp_updated_at=None, now=0.0
    )
    await world.store.tickets.set_thread(OTHER_GUILD, made["id"], 2, now=0.0)
    theirs = await world.store.tickets.get(OTHER_GUILD, made["id"])
    assert theirs is not None
    engine_b = OutboundRelay(
        world.store, world.feedback, world.client, clock=world.clock, works_on=lambda g: False
    )
    in_flight = says("B is sending this", thread=2, guild_id=OTHER_GUILD)
    assert await engine_b.accept(in_flight, theirs, link(guild_id=OTHER_GUILD)) == Relay(
        "B is sending this"
    )
    queued = says("B queued this", thread=2, guild_id=OTHER_GUILD)
    await engine_b.accept(queued, theirs, link(guild_id=OTHER_GUILD))
    entry = await world.store.outbox.by_discord_message(in_flight.message_id)
    assert entry is not None and await world.store.outbox.mark_sending(entry.id, now=world.clock())

    engine_a = OutboundRelay(
        world.store, world.feedback, world.client, clock=world.clock, works_on={GUILD}.__contains__
    )
    mine = await relay(world, engine_a, ours, "A's own reply")
    await engine_a.reconcile_at_start(GUILD)  # A took GUILD's claim
    world.clock.advance(STUCK_SENDING + 1)  # B's send looks stuck, from A's side
    assert await deliver(engine_a) is None  # nothing more of A's to wait for
    assert world.store_replies(ours) == ["A's own reply"]
    assert world.feedback.on(mine) == {"✅"}
    assert world.store_replies(theirs) == []
    still = await world.store.outbox.by_discord_message(in_flight.message_id)
    assert still is not None and still.state == "sending"  # A left B's send alone
    behind = await world.store.outbox.by_discord_message(queued.message_id)
    assert behind is not None and behind.state == "queued" and not behind.look_first

    # B was killed; the process that takes OTHER_GUILD now settles and finishes its replies.
    engine_next = OutboundRelay(
        world.store,
        world.feedback,
        world.client,
        clock=world.clock,
        works_on={GUILD, OTHER_GUILD}.__contains__,
    )
    await engine_next.reconcile_at_start(OTHER_GUILD)
    await deliver(engine_next)
    await deliver(engine_next)
    assert world.store_replies(theirs) == ["B is sending this", "B queued this"]
    assert world.store_replies(ours) == ["A's own reply"]  # nothing doubled


@dataclass
class Posting:
    """A SellApp client that says when a reply's POST starts."""

    real: ReplyTarget
    started: asyncio.Event

    async def reply(self, ticket_id: int, content: str) -> Any:
        self.started.set()
        return await self.real.reply(ticket_id, content)

    async def list_all_messages(self, ticket_id: int, limit: int = 100) -> Any:
        return await self.real.list_all_messages(ticket_id, limit)


async def test_a_claims_blip_while_a_reply_is_posted_never_sends_it_twice(world: World) -> None:
    """The review's finding: a claims blip (a heartbeat timeout on a busy host) while this
    process's POST is in flight. The next guard pass must not run the guild's recovery
    (it would find the reply ``sending``, not see it at SellApp yet, and make it due)
    before the POST has returned: exactly one POST, one reply for the customer."""
    board = Board()
    claims = SharedClaims(board)
    guard = GuildGuard(claims, plan=ShardPlan.of(1))
    posting = asyncio.Event()

    async def client(guild_id: int) -> ReplyTarget | None:
        real = await world.client(guild_id)
        assert real is not None
        return Posting(real, posting)

    engine = OutboundRelay(
        world.store,
        world.feedback,
        client,
        clock=world.clock,
        works_on=guard.works_on,
        working=guard.working,
    )
    guard.add_recovery(engine.reconcile_at_start)
    assert (await guard.refresh([GUILD])).acquired == {GUILD}
    ticket = await world.ticket(thread=1)
    message = await relay(world, engine, ticket, "Your key is on its way.")
    world.fake.latency(0.5, path=REPLY_PATH, method="POST")  # not stored at SellApp yet
    sending = asyncio.create_task(deliver(engine))
    await posting.wait()

    claims.die()  # the claims session blips
    blip = await guard.refresh([GUILD])  # the next pass, 2 s later: the POST is in flight
    assert blip.lost == {GUILD}
    await deliver(engine)  # a delivery pass meanwhile sends nothing
    await sending
    await guard.refresh([GUILD])  # taken back now, its recovery after the POST returned
    assert guard.works_on(GUILD)
    world.clock.advance(LATER)
    await deliver(engine)

    assert world.posts() == 1
    assert world.store_replies(ticket) == ["Your key is on its way."]
    assert world.feedback.on(message) == {"✅"}


async def test_a_reply_whose_guild_was_lost_before_its_post_is_left_for_the_next_holder(
    world: World,
) -> None:
    """Delivery passed its first look (works_on) and then waited for a slot; the claim went
    meanwhile: nothing is sent from here, and the next holder sends it once."""
    held = [True]
    engine = OutboundRelay(
        world.store,
        world.feedback,
        world.client,
        clock=world.clock,
        works_on=lambda guild_id: held[0],
    )
    ticket = await world.ticket(thread=1)
    message = await relay(world, engine, ticket, "Checked your order.")
    entry = await world.store.outbox.by_discord_message(message.message_id)
    assert entry is not None
    client = await world.client(GUILD)
    assert client is not None
    held[0] = False  # lost while it waited for the parallel slot
    await engine._deliver(entry, client)
    assert world.posts() == 0
    after = await world.store.outbox.get(entry.id)
    assert after is not None and after.state == "queued"  # untouched: not even marked sending

    held[0] = True  # taken again (here, or by the next holder): recovery, then delivery
    await engine.reconcile_at_start(GUILD)
    world.clock.advance(LATER)
    await deliver(engine)
    assert world.posts() == 1
    assert world.store_replies(ticket) == ["Checked your order."]


async def test_a_reply_post_that_outlives_the_step_deadline_is_looked_for_not_resent(
    world: World,
) -> None:
    """The POST may take no longer than the guard's step bound (a lost claim must not be
    outlived by it): past it the outcome is unknown, and the reply is looked for before
    any second POST."""
    engine = OutboundRelay(world.store, world.feedback, world.client, step_seconds=0.2)
    ticket = await world.ticket(thread=1)
    message = await relay(world, engine, ticket, "On its way.")
    world.fake.hang_after(0.6, path=REPLY_PATH, method="POST")  # stored, answered late
    await deliver(engine)
    entry = await world.store.outbox.by_discord_message(message.message_id)
    assert entry is not None and entry.state == "delivered"  # adopted: found at SellApp
    assert world.posts() == 1
    assert world.store_replies(ticket) == ["On its way."]
