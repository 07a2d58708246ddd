"""Generated bad input (hypothesis): titles and emails of any unicode and length render
within Discord's limits; any interleaving of SellApp messages, polls and crashes posts each
message exactly once; any staff text reaches SellApp exactly as typed, once, in order,
and a note never leaves and shows 📝.

Example counts are kept small: each inbound or outbound example runs a real SQLite file
and the fake SellApp over loopback.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.inbound.render import (
    ELLIPSIS,
    EMBED_FIELD_LIMIT,
    THREAD_NAME_LIMIT,
    thread_name,
    ticket_embed,
    utf16_len,
)
from bot.outbound.rules import Ignore, Note, Relay, StaffMessage, message_text
from bot.sellapp.client import make_http_client
from bot.store import Store
from tests.fakes.sellapp import MAX_CONTENT, FakeSellApp
from tests.inbound.fakes import Crash
from tests.inbound.test_engine import KEY as SYNC_KEY
from tests.inbound.test_engine import STORE as SYNC_STORE
from tests.inbound.test_engine import World as SyncWorld
from tests.inbound.test_render import embed_size, make_ticket
from tests.markdown import unescape_markdown
from tests.outbound.test_engine import KEY as RELAY_KEY
from tests.outbound.test_engine import STORE as RELAY_STORE
from tests.outbound.test_engine import Clock as RelayClock
from tests.outbound.test_engine import Feedback, link, says
from tests.outbound.test_engine import World as RelayWorld

TRICKY = st.sampled_from(
    ["\u200b", "\u200d", "\ufeff", "\u202e", "\u202d", "\u2066", "\u200f", "@everyone",
     "<@&1>", "<#1>", "**", "\\", "`", "\n", "🙂", "👩‍👩‍👧", "ｘ", "\x00"]
)  # fmt: skip
ANY_TEXT = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=300),
    st.lists(st.one_of(st.text(max_size=20), TRICKY), max_size=40).map("".join),
)


@st.composite
def long_text(draw: st.DrawFn, max_len: int = 100_000) -> str:
    """Text from 0 to ``max_len`` characters built from a few drawn pieces."""
    piece = draw(st.lists(st.one_of(TRICKY, st.text(min_size=1, max_size=5)), min_size=1))
    unit = "".join(piece)
    length = draw(st.integers(0, max_len))
    return (unit * (length // len(unit) + 1))[:length]


# --- rendering: titles and emails -------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.one_of(ANY_TEXT, long_text()), st.one_of(st.none(), ANY_TEXT, long_text()))
def test_any_title_and_email_render_within_discord_limits(title: str, email: str | None) -> None:
    ticket = make_ticket(title, email=email, id=4242)
    name = thread_name(ticket)
    assert name.startswith("#4242 · ")  # a title can't make it another ticket's thread
    assert 1 <= utf16_len(name) <= THREAD_NAME_LIMIT
    assert "\n" not in name and "\r" not in name
    embed = ticket_embed(ticket)
    assert embed_size(embed) <= 6000
    assert embed["footer"]["text"] == "SellApp ticket 4242"
    customer = {f["name"]: f["value"] for f in embed["fields"]}["Customer"]
    assert utf16_len(customer) <= EMBED_FIELD_LIMIT
    if email and not customer.endswith(ELLIPSIS):
        assert unescape_markdown(customer) == email  # every character kept when it fits
    elif email:
        assert email.startswith(unescape_markdown(customer.removesuffix(ELLIPSIS)))


# --- inbound: any interleaving of messages, polls and crashes ---------------------------

INBOUND_STEP = st.one_of(
    st.tuples(st.just("say"), st.integers(0, 2), st.sampled_from([1, 1, 1, 4_500, 9_000])),
    st.tuples(st.just("dashboard"), st.integers(0, 2), st.just(1)),
    st.tuples(st.just("order"), st.booleans(), st.just(0)),
    st.tuples(st.just("poll"), st.integers(0, 14), st.sampled_from(["before", "after"])),
)


async def _inbound(steps: list[tuple[Any, Any, Any]], text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        async with FakeSellApp() as fake, make_http_client(timeout=5.0) as http:
            fake.add_account(SYNC_KEY, [SYNC_STORE])
            world = SyncWorld(fake, http, Path(folder) / "bridge.sqlite3")
            await world.start()
            try:
                tickets = [world.ticket(messages=[text]) for _ in range(3)]
                for kind, a, b in steps:
                    if kind == "say":
                        world.say(tickets[a], (text or "x") * b)
                    elif kind == "dashboard":
                        fake.add_store_message(SYNC_STORE, tickets[a], text)
                    elif kind == "order":
                        fake.newest_first = a
                    else:
                        if a:  # crash at the a-th side effect of this poll
                            world.injector.crash_at(a, b)
                        world.clock.advance(3600)
                        try:
                            await world.cycle()
                        except Crash:
                            await world.restart()
                        world.injector.crash_at(10**9)
                await world.settle()
                for ticket_id in tickets:
                    assert world.threads.thread_of(ticket_id).markers() == world.expected(ticket_id)
                assert await world.store.messages.pending_posts(1) == []
            finally:
                await world.store.close()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(INBOUND_STEP, max_size=14), ANY_TEXT)
def test_any_interleaving_of_polls_and_crashes_posts_each_message_once(
    steps: list[tuple[Any, Any, Any]], text: str
) -> None:
    asyncio.run(_inbound(steps, text))


# --- outbound: any staff text, faults and crashes ---------------------------------------

NOTE_TEXT = st.tuples(st.sampled_from(["", " ", "\n\t "]), ANY_TEXT).map(
    lambda p: f"{p[0]}//{p[1]}"
)
"""An internal note: the prefix, maybe after blanks, then anything."""
OUTBOUND_STEP = st.tuples(
    st.one_of(ANY_TEXT, NOTE_TEXT, long_text(MAX_CONTENT + 10)),
    st.sampled_from(["ok", "ok", "503", "cut", "stored, answer lost", "crash"]),
)


async def due_now(world: RelayWorld) -> None:
    """Make waiting replies due without moving the clock (adopting a reply compares our
    clock with SellApp's timestamps, so the clock must stay true)."""
    for entry in await world.store.outbox.in_state("waiting"):
        await world.store.outbox.mark_waiting(
            entry.id, entry.last_error or "waiting", next_attempt_at=world.clock()
        )


async def _outbound(steps: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bridge.sqlite3"
        async with FakeSellApp() as fake, make_http_client(timeout=1.0) as http:
            fake.add_account(RELAY_KEY, [RELAY_STORE])
            world = RelayWorld(fake, http, path, await Store.open(path), Feedback(), RelayClock())
            try:
                engine = world.engine()
                ticket = await world.ticket(thread=1)
                expected: list[str] = []
                refused = 0
                notes: list[StaffMessage] = []
                for content, fault in steps:
                    message = says(content, thread=1)
                    verdict = await engine.accept(message, ticket, link())
                    text = message_text(message)
                    if content.lstrip().startswith("//"):
                        # A note: never queued, and staff see 📝 on it (nothing else).
                        assert verdict == Note()
                        await engine.flush_feedback()
                        assert world.feedback.on(message) == {"📝"}
                        notes.append(message)
                        continue
                    if not text:
                        assert verdict == Ignore("empty")
                        continue
                    assert verdict == Relay(text)
                    if len(text) > MAX_CONTENT:
                        refused += 1
                    else:
                        expected.append(text)
                    if fault == "503":
                        fake.fail(path=r"/messages$", method="POST", status=503)
                    elif fault == "cut":
                        fake.cut_connection(path=r"/messages$", method="POST")
                    elif fault == "stored, answer lost":
                        fake.wrong_shape(path=r"/messages$", method="POST", shape="data_string")
                    elif fault == "crash":
                        original = world.store.outbox.mark_delivered

                        async def crash(*args: Any, **kwargs: Any) -> Any:
                            raise Crash("after the POST")

                        world.store.outbox.mark_delivered = crash  # type: ignore[method-assign]
                    try:
                        await engine.deliver_due()
                    except Crash:
                        world.store.outbox.mark_delivered = original  # type: ignore[method-assign]
                        engine = await world.restart()
                    await due_now(world)
                for _ in range(3):
                    await engine.deliver_due()
                    await due_now(world)
                await engine.flush_feedback()
                assert world.store_replies(ticket) == expected
                assert sum("❌" in r for r in world.feedback.reactions.values()) == refused
                for note in notes:  # still only 📝, and never in the outbox
                    assert world.feedback.on(note) == {"📝"}
                    assert await world.store.outbox.by_discord_message(note.message_id) is None
            finally:
                await world.store.close()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OUTBOUND_STEP, max_size=6))
def test_any_staff_text_reaches_sellapp_as_typed_once_and_in_order(
    steps: list[tuple[str, str]],
) -> None:
    asyncio.run(_outbound(steps))
