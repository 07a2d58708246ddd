"""The inbound engine on plain data: a real SQLite store on disk, the real SellApp client
against FakeSellApp on loopback, and an in-memory Discord of threads (tests/inbound/fakes.py).
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.errors import ChannelUnusable, GuildNotHeld
from bot.inbound.engine import QUIET_CAP_INTERVALS, CycleReport, InboundSync, next_check
from bot.inbound.problems import RETRY_CAP_SECONDS, Seen, retry_after, settle
from bot.inbound.render import EMPTY_MESSAGE, Marker, escape_markdown, split_text
from bot.sellapp.client import RetryPolicy, SellAppClient, make_http_client
from tests.fakes.sellapp import FakeSellApp
from tests.inbound.fakes import Clock, Crash, CrashingStore, FakeThreads, Injector, When
from tests.markdown import unescape_markdown

KEY = "sk_test_sync"
STORE = "shop"
GUILD = 1
CHANNEL = 10
INTERVAL = 60.0
FAST = RetryPolicy(attempts=1, base_delay=0.0, max_delay=0.0, rate_limit_retries=0)
LIST = r"^/api/v1/tickets$"
MESSAGES = r"^/api/v1/tickets/\d+/messages$"


class World:
    """One guild's bridge: SellApp, the store file, Discord, a clock; restartable."""

    def __init__(self, fake: FakeSellApp, http: httpx.AsyncClient, path: Path) -> None:
        self.fake = fake
        self.path = path
        self.injector = Injector()
        self.threads = FakeThreads(self.injector)
        self.clock = Clock()
        self.client = SellAppClient(
            http, base_url=fake.url, api_key=SecretStr(KEY), store=STORE, retry=FAST
        )
        self.store: CrashingStore
        self.engine: InboundSync

    async def start(self) -> None:
        self.store = await CrashingStore.open_with(self.path, self.injector)
        self.engine = InboundSync(self.store, self.threads, clock=self.clock)

    async def restart(self) -> None:
        """The process died: a fresh engine on the same file; Discord and SellApp live on."""
        await self.store.close()
        await self.start()

    async def cycle(self) -> CycleReport:
        return await self.engine.run_cycle(GUILD, CHANNEL, self.client, interval=INTERVAL)

    async def settle(self, cycles: int = 3) -> None:
        """Run cycles far enough apart that every open ticket is due."""
        for _ in range(cycles):
            self.clock.advance(INTERVAL * QUIET_CAP_INTERVALS + 1)
            await self.cycle()

    def requests(self, path: str) -> int:
        return len(self.fake.requests_to("GET", path))

    def reset_requests(self) -> None:
        self.fake.requests.clear()

    def ticket(self, **kwargs: Any) -> int:
        return int(self.fake.add_ticket(STORE, **kwargs)["id"])

    def say(self, ticket_id: int, content: str = "another question") -> int:
        return int(self.fake.add_customer_message(STORE, ticket_id, content)["id"])

    def expected(self, ticket_id: int, *, skip: frozenset[int] = frozenset()) -> list[Marker]:
        """Every SellApp message of the ticket, one marker per part, ascending id."""
        out: list[Marker] = []
        for m in sorted(self.fake.messages(STORE, ticket_id), key=lambda m: m["id"]):
            if m["id"] in skip:
                continue
            # Whitespace-only content shows as one "(empty message)" post.
            content = m["content"]
            parts = len(split_text(escape_markdown(content))) if content.strip() else 1
            out.extend(Marker(m["id"], i, parts) for i in range(1, parts + 1))
        return out


@pytest.fixture
async def fake() -> AsyncIterator[FakeSellApp]:
    async with FakeSellApp() as server:
        server.add_account(KEY, [STORE])
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with make_http_client(timeout=5.0) as client:
        yield client


@pytest.fixture
async def world(fake: FakeSellApp, http: httpx.AsyncClient, tmp_path: Path) -> AsyncIterator[World]:
    w = World(fake, http, tmp_path / "bridge.sqlite3")
    await w.start()
    yield w
    await w.store.close()


def texts(world: World, ticket_id: int) -> list[str]:
    """What a reader sees in the thread: each post's embed description, unescaped."""
    thread = world.threads.thread_of(ticket_id)
    return [unescape_markdown(p.embeds[0]["description"]) for _, p in thread.posts]


def authors(world: World, ticket_id: int) -> list[str]:
    thread = world.threads.thread_of(ticket_id)
    return [p.embeds[0].get("author", {}).get("name", "") for _, p in thread.posts]


# --- new tickets, messages, rendering ------------------------------------------------------


async def test_new_ticket_gets_a_thread_whose_starter_shows_the_ticket(world: World) -> None:
    tid = world.ticket(
        title="Where is my key?", email="ann@example.com", reference=42, messages=["hello"]
    )
    report = await world.cycle()

    assert report.threads_created == 1
    thread = world.threads.thread_of(tid)
    assert thread.channel_id == CHANNEL
    assert thread.name == f"#{tid} · Where is my key?"
    embed = thread.starter.embeds[0]
    assert embed["title"] == f"Ticket #{tid}"
    assert unescape_markdown(embed["description"]) == "Where is my key?"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Status"] == "Open"
    assert unescape_markdown(fields["Customer"]) == "ann@example.com"
    assert fields["Order"] == "order 42"
    assert fields["Opened"].startswith("<t:")
    assert texts(world, tid) == ["hello"]
    assert (await world.store.tickets.get(GUILD, tid)).thread_id == thread.id  # type: ignore[union-attr]


async def test_messages_are_posted_in_ascending_id_even_from_a_newest_first_list(
    world: World,
) -> None:
    world.fake.newest_first = True
    tid = world.ticket(messages=[f"m{i}" for i in range(130)])  # two pages
    await world.cycle()
    for i in range(3):
        world.say(tid, f"late {i}")
    world.clock.advance(INTERVAL)
    await world.cycle()

    thread = world.threads.thread_of(tid)
    assert thread.markers() == world.expected(tid)
    assert texts(world, tid) == [f"m{i}" for i in range(130)] + ["late 0", "late 1", "late 2"]


async def test_customer_and_dashboard_messages_are_shown_apart(world: World) -> None:
    tid = world.ticket(email="ann@example.com", messages=["my order is late"])
    world.fake.add_store_message(STORE, tid, "typed in the SellApp dashboard")
    await world.cycle()

    customer, dashboard = authors(world, tid)
    assert "ann@example.com" in customer
    assert dashboard == "🏪 Store reply (from SellApp, not this thread)"
    posts = world.threads.thread_of(tid).posts
    assert posts[0][1].embeds[0]["color"] != posts[1][1].embeds[0]["color"]


async def test_long_message_is_split_without_losing_a_character_and_cannot_ping(
    world: World,
) -> None:
    long = "".join(f"line {i} @everyone <@123> **bold** _x_\n" for i in range(400))
    assert len(long) > 12_000
    tid = world.ticket(messages=[long, ""])
    await world.cycle()

    thread = world.threads.thread_of(tid)
    *parts, empty = thread.posts
    assert len(parts) >= 4
    assert "".join(texts(world, tid)[:-1]) == long
    assert all(post.content == "" for _, post in thread.posts)  # embeds only: nothing pings
    assert "\\@" not in long and all("<@123>" not in p.embeds[0]["description"] for _, p in parts)
    assert empty[1].embeds[0]["description"] == EMPTY_MESSAGE


# --- our own replies ----------------------------------------------------------------------


async def reply_from_discord(world: World, tid: int, content: str, *, deliver: bool) -> int:
    """A staff reply typed in the thread, relayed to SellApp (as bot.outbound.engine would)."""
    entry = await world.store.outbox.enqueue(
        GUILD,
        tid,
        channel_id=world.threads.thread_of(tid).id,
        discord_message_id=900_000 + len(world.fake.requests),
        author_id=7,
        content=content,
        now=world.clock(),
    )
    assert entry is not None
    assert await world.store.outbox.mark_sending(entry.id, now=world.clock())
    message_id = int(world.fake.add_store_message(STORE, tid, content)["id"])
    if deliver:
        assert await world.store.outbox.mark_delivered(entry.id, message_id, now=world.clock())
    return message_id


async def test_our_own_replies_are_never_echoed(world: World) -> None:
    tid = world.ticket(messages=["question"])
    await world.cycle()
    ours = await reply_from_discord(world, tid, "answer from Discord", deliver=True)
    world.say(tid, "thanks")
    world.clock.advance(INTERVAL)
    await world.settle()

    assert texts(world, tid) == ["question", "thanks"]
    assert world.threads.thread_of(tid).markers() == world.expected(tid, skip=frozenset({ours}))


async def test_a_ticket_whose_newest_message_is_our_reply_still_backs_off(world: World) -> None:
    """Regression: our own reply sat past the cursor and counted as "new" on every read,
    so the ticket never backed off (and a closed one was unarchived and re-archived)."""
    tid = world.ticket(messages=["question"])
    await world.cycle()
    await reply_from_discord(world, tid, "answer", deliver=True)
    reads = []
    for _ in range(7):
        world.clock.advance(INTERVAL)
        world.reset_requests()
        await world.cycle()
        reads.append(world.requests(MESSAGES))
    # checked twice, then waits 2 intervals, then 4: the same as a ticket with no reply
    assert reads == [1, 1, 0, 1, 0, 0, 0]


async def test_store_messages_are_held_while_a_reply_is_being_sent(world: World) -> None:
    tid = world.ticket(messages=["question"])
    await world.cycle()
    ours = await reply_from_discord(world, tid, "answer in flight", deliver=False)
    world.say(tid, "after the reply")
    world.clock.advance(INTERVAL)
    await world.cycle()
    assert texts(world, tid) == ["question"]  # may be our reply: wait for the relay

    entry = (await world.store.outbox.in_state("sending", GUILD))[0]
    assert await world.store.outbox.mark_delivered(entry.id, ours, now=world.clock())
    world.clock.advance(INTERVAL)
    await world.cycle()
    assert texts(world, tid) == ["question", "after the reply"]


# --- status ------------------------------------------------------------------------------


async def test_closing_archives_and_locks_and_reopening_undoes_it(world: World) -> None:
    tid = world.ticket(messages=["hi"])
    await world.cycle()
    thread = world.threads.thread_of(tid)

    world.fake.set_ticket_status(STORE, tid, "CLOSED")
    report = await world.cycle()
    assert report.status_changes == 1
    assert world.threads.set_closed_calls == [(thread.id, True)]
    assert thread.archived and thread.locked

    world.fake.set_ticket_status(STORE, tid, "OPEN")
    report = await world.cycle()
    assert report.status_changes == 1
    assert world.threads.set_closed_calls == [(thread.id, True), (thread.id, False)]
    assert not thread.archived and not thread.locked

    await world.settle()
    assert len(world.threads.set_closed_calls) == 2
    assert world.threads.posts_into_locked == 0


async def test_a_thread_archived_for_inactivity_comes_back_with_a_new_message(
    world: World,
) -> None:
    tid = world.ticket(messages=["hi"])
    await world.cycle()
    thread = world.threads.thread_of(tid)
    world.threads.archive_for_inactivity(thread.id)
    world.say(tid, "anyone there?")
    await world.settle(1)

    assert texts(world, tid) == ["hi", "anyone there?"]
    assert not thread.archived and not thread.locked
    assert world.threads.set_closed_calls == []  # not closed: only Discord's timer archived it


# --- first link ----------------------------------------------------------------------------


async def test_first_link_records_closed_tickets_and_threads_open_ones_oldest_first(
    world: World,
) -> None:
    world.fake.newest_first = True
    ids = [world.ticket(title=f"t{i}", messages=[f"from {i}"]) for i in range(6)]
    for tid in ids[::2]:
        world.fake.set_ticket_status(STORE, tid, "CLOSED")
    report = await world.cycle()

    assert report.new_tickets == 6 and report.threads_created == 3
    opened = [world.threads.thread_of(tid) for tid in ids[1::2]]
    assert [t.id for t in opened] == sorted(t.id for t in opened)  # oldest ticket first
    assert not any(world.threads.has_thread(tid) for tid in ids[::2])
    recorded = {t.ticket_id: t for t in await world.store.tickets.all(GUILD)}
    assert set(recorded) == set(ids)
    assert all(recorded[tid].thread_id is None for tid in ids[::2])

    world.reset_requests()
    await world.settle()
    assert not any(world.threads.has_thread(tid) for tid in ids[::2])


async def test_closed_at_first_link_gets_a_thread_with_history_when_reopened(
    world: World,
) -> None:
    tid = world.ticket(messages=["old 1", "old 2"])
    world.fake.set_ticket_status(STORE, tid, "CLOSED")
    await world.cycle()
    assert not world.threads.has_thread(tid)

    world.fake.set_ticket_status(STORE, tid, "OPEN")
    await world.cycle()
    thread = world.threads.thread_of(tid)
    assert texts(world, tid) == ["old 1", "old 2"]
    assert not thread.locked


async def test_closed_at_first_link_gets_a_thread_when_a_message_arrives(world: World) -> None:
    tid = world.ticket(messages=["old"])
    world.fake.set_ticket_status(STORE, tid, "CLOSED")
    await world.cycle()
    world.say(tid, "it broke again")
    world.fake.set_ticket_status(STORE, tid, "CLOSED")  # the listing's updated_at moves
    await world.cycle()

    assert texts(world, tid) == ["old", "it broke again"]
    assert world.threads.thread_of(tid).locked  # still closed at SellApp


async def test_a_crash_during_the_first_link_keeps_it_a_first_link(world: World) -> None:
    """Regression: after a crash mid first link the store was no longer empty, so the next
    cycle gave every remaining CLOSED ticket a thread."""
    ids = [world.ticket(messages=["x"]) for _ in range(4)]
    world.fake.set_ticket_status(STORE, ids[2], "CLOSED")
    world.fake.set_ticket_status(STORE, ids[3], "CLOSED")
    world.injector.crash_at(2, method="discord.create_thread")
    with pytest.raises(Crash):
        await world.cycle()
    await world.restart()
    await world.settle()

    assert world.threads.has_thread(ids[0]) and world.threads.has_thread(ids[1])
    assert not world.threads.has_thread(ids[2]) and not world.threads.has_thread(ids[3])


# --- Discord failures ---------------------------------------------------------------------


async def test_a_deleted_thread_is_recreated_with_the_whole_history(world: World) -> None:
    tid = world.ticket(messages=["first", "second"])
    await world.cycle()
    await reply_from_discord(world, tid, "staff answer", deliver=True)
    old = world.threads.thread_of(tid)
    world.threads.delete_thread(old.id)
    world.say(tid, "third")
    world.clock.advance(INTERVAL)
    await world.cycle()

    new = world.threads.thread_of(tid)
    assert new.id != old.id
    assert (await world.store.tickets.get(GUILD, tid)).thread_id == new.id  # type: ignore[union-attr]
    assert texts(world, tid) == ["first", "second", "staff answer", "third"]
    assert authors(world, tid)[2] == "🧑‍💼 Staff reply (sent from Discord)"
    assert new.markers() == world.expected(tid)
    await world.settle()
    assert new.markers() == world.expected(tid)


async def test_an_unusable_channel_fails_the_cycle_and_nothing_is_lost(world: World) -> None:
    tid = world.ticket(messages=["one"])
    await world.cycle()
    world.say(tid, "two")
    other = world.ticket(messages=["new ticket"])
    world.threads.make_unusable(CHANNEL)
    world.clock.advance(INTERVAL)
    with pytest.raises(ChannelUnusable):
        await world.cycle()

    world.threads.unusable.clear()
    await world.settle()
    assert world.threads.thread_of(tid).markers() == world.expected(tid)
    assert world.threads.thread_of(other).markers() == world.expected(other)


# --- exactly once across crashes --------------------------------------------------------------

# Everything the first cycle of the crash scenario does, in order. A crash is injected
# before and after each of these in turn.
SCENARIO_CALLS = [
    "store.tickets.record",
    "discord.find_thread",
    "discord.create_thread",
    "store.tickets.set_thread",
    "store.messages.record_post_intent",
    "discord.post",
    "store.messages.record_posted",
    "store.messages.record_post_intent",
    "discord.post",
    "discord.post",
    "discord.post",
    "store.messages.record_posted",
    "store.messages.record_post_intent",
    "discord.post",
    "store.messages.record_posted",
    "store.tickets.record_check",
    "store.state.set_meta",
]
CRASH_POINTS = [
    (n, when) for n in range(1, len(SCENARIO_CALLS) + 1) for when in ("before", "after")
]


def crash_scenario(world: World) -> int:
    tid = world.ticket(messages=["short", "x" * 9_000])  # the second takes three posts
    world.fake.add_store_message(STORE, tid, "from the dashboard")
    return tid


async def test_the_crash_scenario_makes_the_calls_we_crash_at(world: World) -> None:
    crash_scenario(world)
    await world.cycle()
    assert world.injector.calls == SCENARIO_CALLS


@pytest.mark.parametrize(("n", "when"), CRASH_POINTS, ids=str)
async def test_a_crash_at_any_step_posts_every_message_exactly_once(
    world: World, n: int, when: When
) -> None:
    tid = crash_scenario(world)
    world.injector.crash_at(n, when)
    with pytest.raises(Crash):
        await world.cycle()
    await world.restart()
    world.say(tid, "after the restart")
    await world.settle()

    thread = world.threads.thread_of(tid)  # exactly one thread
    assert thread.markers() == world.expected(tid)
    assert (await world.store.tickets.get(GUILD, tid)).thread_id == thread.id  # type: ignore[union-attr]
    assert await world.store.messages.pending_posts(GUILD) == []


async def test_a_crash_right_after_creating_the_thread_does_not_create_another(
    world: World,
) -> None:
    tid = world.ticket(messages=["hi"])
    world.injector.crash_at(1, "after", method="discord.create_thread")
    with pytest.raises(Crash):
        await world.cycle()
    await world.restart()
    report = await world.cycle()

    assert report.threads_created == 0
    assert len(world.threads.live()) == 1
    assert world.threads.thread_of(tid).markers() == world.expected(tid)


async def test_random_messages_and_crashes_end_exactly_once_and_in_order(world: World) -> None:
    rng = random.Random(20240611)
    ids = [world.ticket(messages=["opening"]) for _ in range(3)]
    for _ in range(30):
        for _ in range(rng.randrange(3)):
            size = rng.choice([10, 10, 5_000])
            world.say(rng.choice(ids), "y" * size)
        if rng.random() < 0.5:
            world.injector.crash_at(rng.randrange(1, 12), rng.choice(["before", "after"]))
        world.clock.advance(INTERVAL * rng.choice([1, 4, 20]))
        try:
            await world.cycle()
        except Crash:
            await world.restart()
        world.injector.crash_at(10**9)  # disarm a crash the cycle did not reach
    await world.settle()

    for tid in ids:
        assert world.threads.thread_of(tid).markers() == world.expected(tid)


# --- cost -------------------------------------------------------------------------------------


async def test_an_idle_cycle_costs_the_list_pages_plus_the_due_open_tickets(world: World) -> None:
    n = 400
    for i in range(n):
        world.ticket(messages=["a", "b"], status="OPEN" if i % 100 == 0 else "CLOSED")
    await world.cycle()
    open_ids = [t.ticket_id for t in await world.store.tickets.all(GUILD) if t.is_open]
    assert len(open_ids) == 4

    reads = []
    for _ in range(8):
        world.clock.advance(INTERVAL)
        world.reset_requests()
        report = await world.cycle()
        assert report.messages_posted == 0
        assert world.requests(LIST) == math.ceil(n / 100)
        read = {int(r.path.split("/")[-2]) for r in world.fake.requests_to("GET", MESSAGES)}
        assert read <= set(open_ids)  # closed, unchanged tickets cost nothing
        reads.append(world.requests(MESSAGES))
    # Due right after the link and after the first quiet check; then each quiet check
    # doubles the wait: 2, then 4 intervals.
    assert reads == [4, 4, 0, 4, 0, 0, 0, 4]


async def test_reading_starts_at_the_page_that_holds_the_newest_message(world: World) -> None:
    tid = world.ticket(messages=[f"m{i}" for i in range(250)])
    await world.cycle()
    assert len(world.threads.thread_of(tid).posts) == 250

    world.say(tid, "new")
    world.clock.advance(INTERVAL)
    world.reset_requests()
    await world.cycle()
    pages = [r.query["page"] for r in world.fake.requests_to("GET", MESSAGES)]
    assert pages == ["3"]
    assert texts(world, tid)[-1] == "new"
    assert world.threads.thread_of(tid).markers() == world.expected(tid)


async def test_a_new_message_resets_the_backoff(world: World) -> None:
    tid = world.ticket(messages=["hi"])
    await world.cycle()
    for _ in range(5):  # quiet checks push the next one far out
        world.clock.advance(INTERVAL * QUIET_CAP_INTERVALS)
        await world.cycle()
    assert (await world.store.tickets.get(GUILD, tid)).quiet_checks == 5  # type: ignore[union-attr]

    world.clock.advance(INTERVAL * QUIET_CAP_INTERVALS)
    world.say(tid, "hello?")
    await world.cycle()
    record = await world.store.tickets.get(GUILD, tid)
    assert record is not None
    assert record.quiet_checks == 0
    assert record.next_check_at == world.clock() + INTERVAL / 2  # due in the next cycle
    world.clock.advance(INTERVAL)
    world.reset_requests()
    await world.cycle()
    assert world.requests(MESSAGES) == 1


async def test_a_ticket_whose_listing_changed_is_read_even_if_not_due(world: World) -> None:
    tid = world.ticket(messages=["hi"])
    await world.cycle()
    world.reset_requests()
    await world.cycle()  # same moment: not due
    assert world.requests(MESSAGES) == 0

    world.say(tid, "renamed and asked")
    world.fake._store(STORE).tickets[tid]["title"] = "A new title"
    await world.cycle()
    assert world.requests(MESSAGES) == 1
    assert texts(world, tid)[-1] == "renamed and asked"


def test_quiet_checks_wait_twice_as_long_each_time_up_to_a_cap() -> None:
    # Half an interval early: due within the cycle that starts 1, 1, 2, 4, ... intervals on.
    waits = [next_check(now=0.0, interval=30.0, quiet_checks=q) + 15.0 for q in range(9)]
    assert waits[:6] == [30.0, 30.0, 60.0, 120.0, 240.0, 480.0]
    assert waits[6:] == [30.0 * QUIET_CAP_INTERVALS] * 3


# --- found in review -------------------------------------------------------------------


async def test_a_message_held_for_a_reply_in_flight_is_posted_even_if_the_ticket_closes(
    world: World,
) -> None:
    tid = world.ticket(messages=["question"])
    await world.cycle()
    ours = await reply_from_discord(world, tid, "answer in flight", deliver=False)
    world.fake.add_store_message(STORE, tid, "typed in the dashboard")
    world.fake.set_ticket_status(STORE, tid, "CLOSED")
    world.clock.advance(INTERVAL)
    await world.cycle()  # held: the dashboard message may be our reply
    assert texts(world, tid) == ["question"]

    entry = (await world.store.outbox.in_state("sending", GUILD))[0]
    assert await world.store.outbox.mark_delivered(entry.id, ours, now=world.clock())
    await world.settle()
    # It used to stay unposted forever: the closed ticket was never read again.
    assert texts(world, tid) == ["question", "typed in the dashboard"]
    thread = world.threads.thread_of(tid)
    assert thread.archived and thread.locked


async def test_relinking_after_forgetting_does_not_post_the_history_again(world: World) -> None:
    tid = world.ticket(messages=["one", "two"])
    await world.cycle()
    await world.store.links.delete(GUILD, forget_tickets=True)  # /sellapp disconnect forget_tickets
    world.say(tid, "three")
    await world.cycle()
    assert texts(world, tid) == ["one", "two", "three"]  # used to be one, two, one, two, three


async def test_a_ticket_synced_before_the_first_poll_keeps_it_a_first_link(world: World) -> None:
    opened = world.ticket(messages=["open one"])
    closed = [world.ticket(messages=["old"], status="CLOSED") for _ in range(3)]
    ticket = await world.client.get_ticket(opened)
    await world.engine.sync_ticket(GUILD, CHANNEL, world.client, ticket, interval=INTERVAL)
    await world.cycle()
    # Closed tickets are only recorded on a first link, /ticket open or not.
    assert not any(world.threads.has_thread(t) for t in closed)
    assert world.threads.has_thread(opened)


async def test_a_thread_the_bot_may_not_write_in_does_not_stop_other_tickets(
    world: World,
) -> None:
    first = world.ticket(messages=["a"])
    second = world.ticket(messages=["b"])
    await world.cycle()
    world.threads.refuse_thread(world.threads.thread_of(first).id)
    world.say(first, "stuck")
    world.say(second, "still flows")
    world.clock.advance(INTERVAL)
    report = await world.cycle()
    assert texts(world, second) == ["b", "still flows"]
    assert any("may not write" in e for e in report.errors)
    world.threads.refused.clear()
    await world.settle()
    assert texts(world, first) == ["a", "stuck"]


# --- one odd ticket, and failures that repeat (issue 12) -----------------------------------


def problem_lines(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if words in r.getMessage()]


async def test_a_ticket_whose_archive_is_refused_backs_off_and_is_logged_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12.5: a refused archive was retried every poll, forever, and never logged."""
    caplog.set_level("INFO", logger="bot.inbound.engine")
    tid = world.ticket(messages=["hi"])
    other = world.ticket(messages=["fine"])
    await world.cycle()
    thread = world.threads.thread_of(tid)
    world.threads.refuse_closing(thread.id)
    world.fake.set_ticket_status(STORE, tid, "CLOSED")

    tries: list[int] = []
    for cycle in range(12):
        before = len(world.threads.set_closed_calls)
        await world.cycle()
        if len(world.threads.set_closed_calls) > before:
            tries.append(cycle)
        world.clock.advance(INTERVAL)
    # Tried at once, then after 1, 2, 4... intervals: not on every one of 12 polls.
    assert tries == [0, 1, 3, 7]
    assert not thread.archived
    assert problem_lines(caplog, "refused to archive") == [
        f"guild {GUILD}: ticket {tid}: Discord refused to archive its thread: Missing Permissions"
    ]
    [problem] = await world.store.problems.all(GUILD)
    assert (problem.ticket_id, problem.kind, problem.repeats) == (tid, "discord_refused", 3)
    assert await world.store.problems.counts(GUILD) == {"discord_refused": 1}

    # Another ticket still flows meanwhile.
    world.say(other, "still here")
    await world.settle(1)
    assert texts(world, other) == ["fine", "still here"]

    world.threads.refused_closing.clear()
    await world.settle(2)
    assert thread.archived and thread.locked
    assert await world.store.problems.all(GUILD) == []
    assert len(problem_lines(caplog, "resolved")) == 1


async def test_push_hints_wait_out_a_backed_off_ticket_and_record_its_problem(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Review: a hinted read ignored the backoff (every customer message hit Discord's
    refusal again) and never recorded or logged what failed."""
    caplog.set_level("INFO", logger="bot.inbound.engine")
    tid = world.ticket(messages=["hi"])
    await world.cycle()
    thread = world.threads.thread_of(tid)
    world.threads.refuse_closing(thread.id)
    world.fake.set_ticket_status(STORE, tid, "CLOSED")
    ticket = await world.client.get_ticket(tid)

    for _ in range(5):
        await world.engine.sync_hinted(GUILD, CHANNEL, world.client, ticket, interval=INTERVAL)
    assert len(world.threads.set_closed_calls) == 1  # tried once, then backing off
    [problem] = await world.store.problems.all(GUILD)
    assert (problem.ticket_id, problem.kind) == (tid, "discord_refused")
    assert len(problem_lines(caplog, "refused to archive")) == 1

    world.threads.refused_closing.clear()
    world.clock.advance(problem.retry_at - world.clock())
    await world.engine.sync_hinted(GUILD, CHANNEL, world.client, ticket, interval=INTERVAL)
    assert thread.archived
    assert await world.store.problems.all(GUILD) == []


async def test_a_resync_by_hand_retries_a_backed_off_ticket_at_once(world: World) -> None:
    tid = world.ticket(messages=["hi"])
    await world.cycle()
    thread = world.threads.thread_of(tid)
    world.threads.refuse_closing(thread.id)
    world.fake.set_ticket_status(STORE, tid, "CLOSED")
    await world.cycle()
    await world.cycle()  # not due yet
    assert len(world.threads.set_closed_calls) == 1
    world.threads.refused_closing.clear()
    ticket = await world.client.get_ticket(tid)
    await world.engine.sync_ticket(GUILD, CHANNEL, world.client, ticket, interval=INTERVAL)
    assert thread.archived
    assert await world.store.problems.all(GUILD) == []


async def test_one_ticket_with_an_unknown_status_flows_as_open_and_is_noted_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12.1: a PENDING ticket made the whole listing unreadable."""
    caplog.set_level("INFO", logger="bot.inbound.engine")
    pending = world.ticket(messages=["where is my order?"])
    world.fake.set_ticket_status(STORE, pending, "PENDING")
    plain = world.ticket(messages=["hello"])
    await world.cycle()
    await world.settle(2)
    assert texts(world, pending) == ["where is my order?"]
    assert texts(world, plain) == ["hello"]
    assert not world.threads.thread_of(pending).archived
    [problem] = await world.store.problems.all(GUILD)
    assert (problem.ticket_id, problem.kind) == (pending, "unknown_status")
    assert "doesn't know: PENDING" in problem.detail
    assert len(problem_lines(caplog, "doesn't know: PENDING")) == 1

    world.fake.set_ticket_status(STORE, pending, "CLOSED")
    await world.settle(1)
    assert world.threads.thread_of(pending).archived
    assert await world.store.problems.all(GUILD) == []


async def test_one_malformed_ticket_is_skipped_and_the_rest_of_the_store_flows(
    world: World,
) -> None:
    broken = world.ticket(messages=["unreadable"])
    world.fake.serve_ticket_as(STORE, broken, drop=["created_at"])
    fine = world.ticket(messages=["readable"])
    report = await world.cycle()
    assert report.tickets_listed == 1
    assert texts(world, fine) == ["readable"]
    assert not world.threads.has_thread(broken)
    [problem] = await world.store.problems.all(GUILD)
    assert (problem.ticket_id, problem.kind) == (broken, "unreadable_ticket")
    assert "created_at" in problem.detail and "skipped" in problem.detail

    world.fake.serve_ticket_as(STORE, broken)  # SellApp fixed the row
    await world.settle(1)
    assert texts(world, broken) == ["unreadable"]
    assert await world.store.problems.all(GUILD) == []


async def test_one_unreadable_message_is_skipped_without_reading_every_page_each_cycle(
    world: World,
) -> None:
    tid = world.ticket(messages=[f"m{n}" for n in range(120)])
    ids = [m["id"] for m in world.fake.messages(STORE, tid)]
    world.fake.serve_message_as(STORE, tid, ids[110], author="ROBOT")  # on page 2
    await world.cycle()
    assert texts(world, tid) == [f"m{n}" for n in range(120) if n != 110]
    [problem] = await world.store.problems.all(GUILD)
    assert (problem.ticket_id, problem.kind) == (tid, "unreadable_message")
    assert f"message {ids[110]}" in problem.detail
    world.reset_requests()
    world.say(tid, "new")
    world.clock.advance(INTERVAL)
    await world.cycle()
    assert texts(world, tid)[-1] == "new"
    assert world.requests(MESSAGES) == 1  # page 2 only: the skipped one counts as seen
    assert len(await world.store.problems.all(GUILD)) == 1

    # SellApp fixes it: it is posted after all (late, but nothing is lost), and it clears.
    world.fake.serve_message_as(STORE, tid, ids[110], author="CUSTOMER")
    world.clock.advance(INTERVAL)
    await world.cycle()
    assert texts(world, tid)[-2:] == ["new", "m110"]
    assert await world.store.problems.all(GUILD) == []


def test_settling_problems_tells_new_from_repeated_and_cleared() -> None:
    seen = Seen(7, "discord_refused", "Discord refused to archive its thread: x")
    plan = settle(GUILD, [], [seen], examined=lambda *_: True, now=1000.0, interval=60.0)
    [new] = plan.new
    assert (plan.repeated, plan.cleared, new.repeats) == ((), (), 0)
    assert new.retry_at == 1000.0 + 60 - 30
    again = settle(GUILD, [new], [seen], examined=lambda *_: True, now=1060.0, interval=60.0)
    assert (again.new, again.repeated[0].repeats) == ((), 1)
    assert again.repeated[0].retry_at == 1060.0 + 120 - 30
    assert again.repeated[0].first_seen_at == 1000.0
    unseen = settle(GUILD, [new], [], examined=lambda *_: False, now=1060.0, interval=60.0)
    assert unseen.empty  # not looked at: not cleared
    gone = settle(GUILD, [new], [], examined=lambda *_: True, now=1060.0, interval=60.0)
    assert gone.cleared == (new,)


def test_retries_of_a_failing_step_double_up_to_a_cap() -> None:
    waits = [retry_after(now=0.0, interval=60.0, repeats=n) + 30 for n in range(10)]
    assert waits[:4] == [60.0, 120.0, 240.0, 480.0]
    assert max(waits) == RETRY_CAP_SECONDS


async def test_a_cycle_posts_nothing_more_once_the_guild_is_lost(world: World) -> None:
    """The claim went while the cycle ran (another process may hold the guild now): no
    thread is made and nothing is posted from here; the next holder posts each message
    once."""
    tid = world.ticket(title="Key?", messages=["hello", "are you there?"])
    held = [False]
    world.engine = InboundSync(
        world.store, world.threads, clock=world.clock, works_on=lambda g: held[0]
    )
    with pytest.raises(GuildNotHeld):
        await world.cycle()
    assert world.threads.threads == {}

    held[0] = True
    await world.cycle()
    assert texts(world, tid) == ["hello", "are you there?"]
