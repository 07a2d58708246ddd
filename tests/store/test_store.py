"""The store on both backends (a real SQLite file, a real PostgreSQL database): migrations,
transactions, concurrency, the outbox. A test that reads or writes the SQLite file raw
(its pragmas, a trigger planted with the stdlib driver) runs on SQLite only."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot.errors import ConfigError
from bot.store import Store, load_migrations
from bot.store.records import TicketProblem
from tests.pg import query

GUILD = 111
OTHER_GUILD = 222
NOW = 1_700_000_000.0
REPO_ROOT = Path(__file__).resolve().parents[2]
INTEGRITY_ERRORS = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)
TABLES = {"guild_links", "tickets", "messages", "outbox", "poll_state", "thread_progress", "meta"}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bridge.sqlite3"


@pytest.fixture
async def store(store_target: Path | str) -> AsyncIterator[Store]:
    async with await Store.open(store_target) as opened:
        yield opened


@pytest.fixture
async def sqlite_store(db_path: Path) -> AsyncIterator[Store]:
    """For the tests that read the SQLite file itself."""
    async with await Store.open(db_path) as opened:
        yield opened


def raw(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Read the file with the stdlib driver, outside the store."""
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


async def add_ticket(store: Store, ticket_id: int, guild_id: int = GUILD, **kw: object) -> None:
    await store.tickets.record(
        guild_id,
        ticket_id,
        status=str(kw.get("status", "OPEN")),
        title=f"ticket {ticket_id}",
        sellapp_updated_at="2024-01-01T00:00:00.000000Z",
        now=NOW,
    )


async def deliver_reply(store: Store, ticket_id: int, *, sellapp_message_id: int) -> None:
    """A staff reply queued, sent and delivered: SellApp's message is recorded as ours."""
    entry = await store.outbox.enqueue(
        GUILD,
        ticket_id,
        channel_id=GUILD * 10,
        discord_message_id=sellapp_message_id * 1000,
        author_id=1,
        content="reply",
        now=NOW,
    )
    assert entry is not None
    assert await store.outbox.mark_sending(entry.id, now=NOW)
    assert await store.outbox.mark_delivered(entry.id, sellapp_message_id, now=NOW)


# --- migrations -------------------------------------------------------------------------


async def test_open_creates_folder_and_schema(sqlite_store: Store, db_path: Path) -> None:
    assert db_path.parent.is_dir()
    assert await sqlite_store.schema_version() == len(load_migrations())
    tables = {r[0] for r in raw(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables >= TABLES
    assert raw(db_path, "PRAGMA journal_mode") == [("wal",)]


async def test_reopening_keeps_data_and_version(db_target: Path | str) -> None:
    async with await Store.open(db_target) as first:
        await first.links.upsert(GUILD, now=NOW, store_slug="shop")
    async with await Store.open(db_target) as second:
        assert await second.schema_version() == len(load_migrations())
        link = await second.links.get(GUILD)
        assert link is not None
        assert link.store_slug == "shop"
    version_sql = (
        "PRAGMA user_version"
        if isinstance(db_target, Path)
        else "SELECT max(version) FROM schema_version"
    )
    assert await query(db_target, version_sql) == [(len(load_migrations()),)]


async def test_two_stores_opening_a_fresh_file_at_once(db_target: Path | str) -> None:
    stores = await asyncio.gather(*(Store.open(db_target) for _ in range(4)))
    try:
        for opened in stores:
            assert await opened.schema_version() == len(load_migrations())
    finally:
        for opened in stores:
            await opened.close()
    if isinstance(db_target, str):  # each migration applied once, in order
        versions = await query(db_target, "SELECT version FROM schema_version ORDER BY version")
        assert versions == [(m.version,) for m in load_migrations()]


async def test_memory_database_works() -> None:
    async with await Store.open(":memory:") as mem:
        await add_ticket(mem, 1)
        assert await mem.tickets.count(GUILD) == (1, 1)


async def test_database_from_a_newer_version_is_refused_on_postgres(postgres_url: str) -> None:
    async with await Store.open(postgres_url):
        pass
    connection = await asyncpg.connect(postgres_url)
    try:
        await connection.execute("INSERT INTO schema_version (version) VALUES (999)")
    finally:
        await connection.close()
    with pytest.raises(ConfigError, match=r"newer version.*DATABASE_URL"):
        await Store.open(postgres_url)


async def test_database_from_a_newer_version_is_refused(db_path: Path) -> None:
    async with await Store.open(db_path):
        pass
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA user_version = 999")
    with pytest.raises(ConfigError, match="newer version"):
        await Store.open(db_path)


# --- guild links ------------------------------------------------------------------------


async def test_upsert_link_changes_only_named_fields(store: Store) -> None:
    created = await store.links.upsert(
        GUILD, now=NOW, store_slug="shop", channel_id=5, staff_role_ids=[7, 8]
    )
    assert created.paused is False
    assert created.staff_role_ids == (7, 8)
    assert created.poll_interval is None

    paused = await store.links.upsert(GUILD, now=NOW + 10, paused=True, poll_interval=12.5)
    assert paused.store_slug == "shop"
    assert paused.channel_id == 5
    assert paused.staff_role_ids == (7, 8)
    assert paused.paused is True
    assert paused.poll_interval == 12.5
    assert (paused.created_at, paused.updated_at) == (NOW, NOW + 10)

    cleared = await store.links.upsert(GUILD, now=NOW + 20, channel_id=None, note_prefix="!!")
    assert cleared.channel_id is None
    assert cleared.note_prefix == "!!"
    assert cleared.paused is True
    assert await store.links.get(GUILD) == cleared
    assert await store.links.get(OTHER_GUILD) is None

    await store.links.upsert(OTHER_GUILD, now=NOW)
    assert [link.guild_id for link in await store.links.all()] == [GUILD, OTHER_GUILD]


async def test_delete_link_keeps_or_forgets_tickets(store: Store) -> None:
    for guild in (GUILD, OTHER_GUILD):
        await store.links.upsert(guild, now=NOW, store_slug="shop")
        await add_ticket(store, 1, guild)
        await store.tickets.set_thread(guild, 1, guild * 10, now=NOW)
        await store.messages.record_post_intent(guild, 1, 100, now=NOW)
        await store.outbox.enqueue(
            guild,
            1,
            channel_id=guild * 10,
            discord_message_id=guild,
            author_id=9,
            content="hi",
            now=NOW,
        )
        await store.state.set_last_seen_discord_message(guild * 10, 50)
        await store.state.record_poll_success(guild, now=NOW, response_ms=10)

    assert await store.links.delete(GUILD, forget_tickets=False) is True
    assert await store.links.get(GUILD) is None
    assert await store.state.get_poll_state(GUILD) is None
    assert await store.tickets.count(GUILD) == (1, 1)

    assert await store.links.delete(GUILD, forget_tickets=True) is False
    assert await store.tickets.all(GUILD) == []
    assert await store.messages.get(GUILD, 100) is None
    assert await store.outbox.by_discord_message(GUILD) is None
    assert await store.state.get_last_seen_discord_message(GUILD * 10) is None
    # The other guild is untouched.
    assert await store.tickets.count(OTHER_GUILD) == (1, 1)
    assert await store.messages.get(OTHER_GUILD, 100) is not None
    # Queueing its reply (Discord message 222) moved that thread's mark past 50.
    assert await store.state.get_last_seen_discord_message(OTHER_GUILD * 10) == OTHER_GUILD


# --- tickets ----------------------------------------------------------------------------


async def test_tickets_threads_progress_and_counts(store: Store) -> None:
    await add_ticket(store, 1)
    await add_ticket(store, 2, status="CLOSED")
    await add_ticket(store, 3, status="open")
    await add_ticket(store, 4, OTHER_GUILD)
    assert await store.tickets.count(GUILD) == (3, 2)
    assert await store.tickets.count(999) == (0, 0)

    ticket = await store.tickets.get(GUILD, 2)
    assert ticket is not None
    assert ticket.thread_id is None  # closed on first sight: recorded without a thread
    assert not ticket.is_open

    await store.tickets.set_thread(GUILD, 1, 500, now=NOW)
    await store.tickets.set_thread(GUILD, 1, 501, now=NOW)  # the old thread was deleted
    assert await store.tickets.by_thread(500) is None
    found = await store.tickets.by_thread(501)
    assert found is not None
    assert found.ticket_id == 1
    with pytest.raises(INTEGRITY_ERRORS):
        await store.tickets.set_thread(GUILD, 3, 501, now=NOW)  # one thread, one ticket
    with pytest.raises(LookupError):
        await store.tickets.set_thread(GUILD, 404, 1, now=NOW)

    await store.messages.record_post_intent(GUILD, 1, 40, now=NOW)
    await store.messages.record_posted(GUILD, 40, [940], now=NOW, messages_page=3)
    await store.messages.record_post_intent(GUILD, 1, 30, now=NOW)
    await store.messages.record_posted(GUILD, 30, [930], now=NOW)  # never moves back
    await store.tickets.record_check(
        GUILD, 1, next_check_at=NOW + 90, quiet_checks=3, now=NOW, listing=("CLOSED", "t", None)
    )
    closed = await store.tickets.get(GUILD, 1)
    assert closed is not None
    assert closed.status == "CLOSED"
    # A new listing updates the listing fields and keeps the progress.
    relisted = await store.tickets.record(
        GUILD, 1, status="OPEN", title="renamed", sellapp_updated_at="later", now=NOW + 5
    )
    assert relisted.title == "renamed"
    assert relisted.status == "OPEN"
    assert (relisted.last_message_id, relisted.messages_page) == (40, 3)
    assert (relisted.next_check_at, relisted.quiet_checks) == (NOW + 90, 3)
    assert relisted.created_at == NOW

    assert [t.ticket_id for t in await store.tickets.all(GUILD)] == [1, 2, 3]


# --- messages ---------------------------------------------------------------------------


async def test_post_intent_then_posted_advances_ticket(store: Store) -> None:
    await add_ticket(store, 1)
    assert await store.messages.record_post_intent(GUILD, 1, 10, now=NOW) is True
    assert await store.messages.record_post_intent(GUILD, 1, 10, now=NOW) is False
    assert await store.messages.record_post_intent(GUILD, 1, 11, now=NOW) is True
    assert [m.sellapp_message_id for m in await store.messages.pending_posts(GUILD)] == [10, 11]

    posted = await store.messages.record_posted(GUILD, 10, [900, 901], now=NOW + 1, messages_page=2)
    assert posted.state == "posted"
    assert posted.discord_message_ids == (900, 901)
    ticket = await store.tickets.get(GUILD, 1)
    assert ticket is not None
    assert (ticket.last_message_id, ticket.messages_page) == (10, 2)
    assert [m.sellapp_message_id for m in await store.messages.pending_posts(GUILD)] == [11]

    await deliver_reply(store, 1, sellapp_message_id=12)
    assert await store.messages.known_ids(GUILD, 1) == {10, 11, 12}
    assert await store.messages.get(GUILD, 12) is not None
    assert await store.messages.get(OTHER_GUILD, 12) is None
    with pytest.raises(LookupError):
        await store.messages.record_posted(GUILD, 404, [1], now=NOW)  # never recorded
    with pytest.raises(INTEGRITY_ERRORS):  # foreign keys are on
        await store.messages.record_post_intent(GUILD, 404, 1, now=NOW)


async def test_failed_second_step_of_record_posted_leaves_nothing(
    sqlite_store: Store, db_path: Path
) -> None:
    # SQLite only: the failure is a trigger planted in the file with the stdlib driver
    # (the rollback itself is the database's, the same on PostgreSQL).
    store = sqlite_store
    await add_ticket(store, 1)
    await store.messages.record_post_intent(GUILD, 1, 10, now=NOW)
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "CREATE TRIGGER fail_progress BEFORE UPDATE OF last_message_id ON tickets"
            " BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
        )
    with pytest.raises(sqlite3.IntegrityError, match="disk on fire"):
        await store.messages.record_posted(GUILD, 10, [900], now=NOW)

    message = await store.messages.get(GUILD, 10)
    assert message is not None
    assert (message.state, message.discord_message_ids) == ("pending", ())
    ticket = await store.tickets.get(GUILD, 1)
    assert ticket is not None
    assert ticket.last_message_id == 0

    with sqlite3.connect(db_path) as conn:
        conn.execute("DROP TRIGGER fail_progress")
    await store.messages.record_posted(GUILD, 10, [900], now=NOW)  # the store is still usable
    ticket = await store.tickets.get(GUILD, 1)
    assert ticket is not None
    assert ticket.last_message_id == 10


KILLED_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from bot.store import Store

    async def main():
        store = await Store.open(sys.argv[1])
        async with store._db.transaction() as db:
            await db.execute(
                "UPDATE messages SET state = 'posted', discord_message_ids = '[900]'"
                " WHERE sellapp_message_id = 10")
            await db.execute("UPDATE tickets SET last_message_id = 10")
            print("mid-transaction", flush=True)
            await asyncio.sleep(60)

    asyncio.run(main())
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
async def test_process_killed_mid_transaction_leaves_nothing(store_target: Path | str) -> None:
    async with await Store.open(store_target) as setup:
        await add_ticket(setup, 1)
        await setup.messages.record_post_intent(GUILD, 1, 10, now=NOW)

    proc = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-c", KILLED_WRITER, str(store_target)],
        stdout=subprocess.PIPE,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.to_thread(proc.stdout.readline)
        assert line.strip() == b"mid-transaction"
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait, 10)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()

    async with await Store.open(store_target) as after:
        message = await after.messages.get(GUILD, 10)
        assert message is not None
        assert message.state == "pending"
        ticket = await after.tickets.get(GUILD, 1)
        assert ticket is not None
        assert ticket.last_message_id == 0


# --- concurrency ------------------------------------------------------------------------


async def test_concurrent_writers_on_one_file_record_each_id_once(store_target: Path | str) -> None:
    async with await Store.open(store_target) as a, await Store.open(store_target) as b:
        await add_ticket(a, 1)

        intents = await asyncio.gather(
            *(
                s.messages.record_post_intent(GUILD, 1, 10, now=NOW)
                for _ in range(50)
                for s in (a, b)
            )
        )
        assert intents.count(True) == 1

        replies = await asyncio.gather(
            *(
                s.outbox.enqueue(
                    GUILD,
                    1,
                    channel_id=5,
                    discord_message_id=777,
                    author_id=9,
                    content="hello",
                    now=NOW,
                )
                for _ in range(50)
                for s in (a, b)
            )
        )
        assert sum(r is not None for r in replies) == 1

        distinct = await asyncio.gather(
            *(
                s.messages.record_post_intent(GUILD, 1, i, now=NOW)
                for i in range(100, 150)
                for s in (a, b)
            )
        )
        assert distinct.count(True) == 50

    count = "SELECT count(*) FROM messages WHERE sellapp_message_id = 10"
    assert await query(store_target, count) == [(1,)]
    assert await query(store_target, "SELECT count(*) FROM outbox") == [(1,)]
    assert await query(store_target, "SELECT count(*) FROM messages") == [(51,)]


# --- outbox -----------------------------------------------------------------------------


async def enqueue(store: Store, ticket_id: int, discord_id: int, guild_id: int = GUILD) -> int:
    entry = await store.outbox.enqueue(
        guild_id,
        ticket_id,
        channel_id=ticket_id * 10,
        discord_message_id=discord_id,
        author_id=9,
        content=f"reply {discord_id}",
        now=NOW,
    )
    assert entry is not None
    assert entry.state == "queued"
    return entry.id


async def deliverable(store: Store, now: float = NOW, guild: int | None = GUILD) -> list[int]:
    return [e.discord_message_id for e in await store.outbox.next_deliverable(guild, now=now)]


async def test_waiting_shown_is_marked_once_and_only_on_entries_not_yet_sent(
    store_target: Path | str, store: Store
) -> None:
    """⏳ is recorded before it is added, once per entry, never on one being sent or done;
    the mark survives reopening the file (issue 12: remove only what was added)."""
    await add_ticket(store, 1)
    head = await enqueue(store, 1, 1001)
    behind = await enqueue(store, 1, 1002)
    sending = await enqueue(store, 1, 1003)
    assert await store.outbox.mark_sending(sending, now=NOW)  # (out of order on purpose)
    marked = await store.outbox.mark_waiting_shown([behind, sending, head])
    assert [e.id for e in marked] == [head, behind]  # oldest first, not the sending one
    assert all(e.waiting_shown for e in marked)
    assert await store.outbox.mark_waiting_shown([head, behind]) == []  # once each
    assert await store.outbox.mark_waiting_shown([]) == []
    assert [e.id for e in await store.outbox.open_entries(GUILD, 1)] == [head, behind, sending]
    async with await Store.open(store_target) as reopened:  # another connection
        again = await reopened.outbox.get(head)
        assert again is not None and again.waiting_shown
        fresh = await reopened.outbox.get(sending)
        assert fresh is not None and not fresh.waiting_shown


async def test_outbox_delivers_in_order_per_ticket(store: Store) -> None:
    await add_ticket(store, 1)
    await add_ticket(store, 2)
    await add_ticket(store, 3, OTHER_GUILD)
    a1 = await enqueue(store, 1, 1001)
    a2 = await enqueue(store, 1, 1002)
    b1 = await enqueue(store, 2, 2001)
    await enqueue(store, 3, 3001, OTHER_GUILD)
    assert (
        await store.outbox.enqueue(
            GUILD, 1, channel_id=10, discord_message_id=1001, author_id=9, content="x", now=NOW
        )
        is None
    )

    assert await deliverable(store) == [1001, 2001]
    assert await deliverable(store, guild=None) == [1001, 2001, 3001]
    assert await deliverable(store, now=NOW - 1) == []

    assert await store.outbox.mark_sending(a1, now=NOW) is True
    assert await store.outbox.mark_sending(a1, now=NOW) is False  # already claimed
    assert await deliverable(store) == [2001]  # a2 waits behind the sending a1
    assert [e.id for e in await store.outbox.in_state("sending")] == [a1]

    assert await store.outbox.mark_waiting(a1, "SellApp is down", next_attempt_at=NOW + 30) is True
    assert await deliverable(store) == [2001]  # a1 not due yet, a2 still behind it
    assert await deliverable(store, now=NOW + 30) == [1001, 2001]

    assert await store.outbox.mark_sending(a1, now=NOW + 30) is True
    assert await store.outbox.mark_delivered(a1, 5555, now=NOW + 31) is True
    assert await store.outbox.mark_delivered(a1, 5555, now=NOW + 31) is False
    delivered = await store.outbox.get(a1)
    assert delivered is not None
    assert (delivered.state, delivered.attempts, delivered.sellapp_message_id) == (
        "delivered",
        2,
        5555,
    )
    assert delivered.last_error is None
    assert delivered.delivered_at == NOW + 31
    own = await store.messages.get(GUILD, 5555)  # so the poller never echoes it
    assert own is not None
    assert (own.direction, own.discord_message_ids) == ("outbound", (1001,))

    assert await deliverable(store, now=NOW + 31) == [1002, 2001]
    assert await store.outbox.mark_refused(a2, "The content field is required.") is True
    assert await store.outbox.mark_sending(a2, now=NOW) is False
    assert await store.outbox.mark_delivered(a2, 1, now=NOW) is False
    assert await deliverable(store, now=NOW + 31) == [2001]

    assert await store.outbox.mark_sending(b1, now=NOW) is True
    assert await store.outbox.counts(GUILD) == {
        "queued": 0,
        "sending": 1,
        "waiting": 0,
        "delivered": 1,
        "refused": 1,
    }
    found = await store.outbox.by_discord_message(1002)
    assert found is not None
    assert (found.state, found.last_error) == ("refused", "The content field is required.")
    assert await store.outbox.by_discord_message(42) is None


# --- poll state, thread progress, health --------------------------------------------------


async def test_poll_state(store: Store) -> None:
    assert await store.state.get_poll_state(GUILD) is None
    await store.state.record_poll_failure(GUILD, now=NOW, error="SellApp did not answer")
    failed = await store.state.record_poll_failure(GUILD, now=NOW + 1, error="still down")
    assert (failed.consecutive_failures, failed.last_error) == (2, "still down")
    assert failed.last_success_at is None
    ok = await store.state.record_poll_success(GUILD, now=NOW + 2, response_ms=120.5)
    assert (ok.consecutive_failures, ok.last_error, ok.last_response_ms) == (0, None, 120.5)
    assert (ok.last_poll_at, ok.last_success_at) == (NOW + 2, NOW + 2)
    assert await store.state.get_poll_state(GUILD) == ok


async def test_last_seen_discord_message_only_moves_forward(store: Store) -> None:
    assert await store.state.get_last_seen_discord_message(5) is None
    assert await store.state.set_last_seen_discord_message(5, 100) == 100
    assert await store.state.set_last_seen_discord_message(5, 90) == 100
    assert await store.state.set_last_seen_discord_message(5, 120) == 120
    assert await store.state.get_last_seen_discord_message(5) == 120
    assert await store.state.get_last_seen_discord_message(6) is None


async def test_threads_never_read_are_the_open_ones_without_a_position(store: Store) -> None:
    for ticket_id, status in ((1, "OPEN"), (2, "CLOSED"), (3, "open"), (4, "OPEN")):
        await add_ticket(store, ticket_id, status=status)
        await store.tickets.set_thread(GUILD, ticket_id, 600 + ticket_id, now=NOW)
    await add_ticket(store, 5)  # no thread at all
    await store.state.set_last_seen_discord_message(604, 700)
    unread = await store.tickets.threads_without_position()
    assert [(t.ticket_id, t.thread_id) for t in unread] == [(1, 601), (3, 603)]


async def test_unfinished_replies_are_looked_for_after_a_restart(store: Store) -> None:
    """A backup taken while a reply was queued may be older than SellApp."""
    await add_ticket(store, 1)
    common = {"channel_id": 9, "author_id": 2, "content": "hi", "now": NOW}
    queued = await store.outbox.enqueue(GUILD, 1, discord_message_id=1, **common)
    done = await store.outbox.record_settled_reply(
        GUILD, 1, discord_message_id=2, state="delivered", note=None, **common
    )
    assert queued is not None and not queued.look_first
    assert done is not None and done.state == "delivered" and done.sellapp_message_id is None
    assert (
        await store.outbox.record_settled_reply(
            GUILD, 1, discord_message_id=1, state="refused", note="x", **common
        )
        is None
    )  # known already: left as it was
    assert await store.outbox.look_first_for_unfinished() == 1
    found = await store.outbox.get(queued.id)
    assert found is not None and found.look_first and found.state == "queued"
    assert await store.state.get_last_seen_discord_message(9) == 2


async def test_writable_check_and_meta(store: Store) -> None:
    assert await store.writable_check(now=NOW) is True
    assert await store.state.get_meta("heartbeat") == repr(NOW)
    await store.state.set_meta("k", "v1")
    await store.state.set_meta("k", "v2")
    assert await store.state.get_meta("k") == "v2"
    assert await store.state.get_meta("missing") is None


async def test_reset_ticket_thread_starts_over_but_keeps_own_replies(store: Store) -> None:
    await add_ticket(store, 1)
    await store.tickets.set_thread(GUILD, 1, 500, now=NOW)
    await store.messages.record_post_intent(GUILD, 1, 10, now=NOW)
    await store.messages.record_posted(GUILD, 10, [900], now=NOW, messages_page=2)
    await deliver_reply(store, 1, sellapp_message_id=11)

    await store.tickets.reset_thread(GUILD, 1, now=NOW + 5)
    ticket = await store.tickets.get(GUILD, 1)
    assert ticket is not None
    assert (ticket.thread_id, ticket.last_message_id, ticket.messages_page) == (None, 0, 1)
    assert ticket.next_check_at == NOW + 5
    assert await store.messages.known_ids(GUILD, 1) == {11}
    # Our own reply stays ours, and is due to be shown again in the new thread.
    (reply,) = await store.messages.pending_posts(GUILD)
    assert (reply.sellapp_message_id, reply.direction) == (11, "outbound")
    reposted = await store.messages.record_posted(GUILD, 11, [901], now=NOW + 6)
    assert (reposted.direction, reposted.discord_message_ids) == ("outbound", (901,))
    with pytest.raises(LookupError):
        await store.tickets.reset_thread(GUILD, 404, now=NOW)


@pytest.mark.parametrize("ticks", range(8))
async def test_a_cancelled_write_does_not_wedge_the_store(store: Store, ticks: int) -> None:
    """A poll loop cancelled mid-write (pause, disconnect, shutdown) must leave the shared
    connection usable: every later write used to fail with 'cannot start a transaction
    within a transaction'."""
    await add_ticket(store, 1)
    task = asyncio.create_task(store.tickets.set_thread(GUILD, 1, 500, now=NOW))
    for _ in range(ticks):
        await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    # Whatever the cancelled write did, the store takes new writes and keeps them.
    await add_ticket(store, 2)
    await store.tickets.set_thread(GUILD, 2, 600, now=NOW)
    ticket = await store.tickets.get(GUILD, 2)
    assert ticket is not None and ticket.thread_id == 600
    assert await store.writable_check()


# --- connecting a store and closing a ticket ---------------------------------------------


async def test_connect_store_saves_the_key_and_forgets_tickets_only_when_asked(
    store: Store,
) -> None:
    await store.links.upsert(GUILD, now=NOW, channel_id=5, note_prefix="!!")
    await add_ticket(store, 1)
    kept = await store.links.connect(
        GUILD, now=NOW + 1, store_slug="a", api_key_sealed="sealed-a", forget_tickets=False
    )
    assert (kept.store_slug, kept.api_key_sealed) == ("a", "sealed-a")
    assert (kept.channel_id, kept.note_prefix, kept.created_at) == (5, "!!", NOW)
    assert await store.tickets.count(GUILD) == (1, 1)

    moved = await store.links.connect(
        GUILD, now=NOW + 2, store_slug="b", api_key_sealed="sealed-b", forget_tickets=True
    )
    assert (moved.store_slug, moved.api_key_sealed, moved.channel_id) == ("b", "sealed-b", 5)
    assert await store.tickets.count(GUILD) == (0, 0)
    assert not await store.state.first_link_done(GUILD)  # the new store starts as a first link

    fresh = await store.links.connect(
        OTHER_GUILD, now=NOW, store_slug=None, api_key_sealed="sealed", forget_tickets=True
    )
    assert (fresh.store_slug, fresh.channel_id) == (None, None)


async def test_reply_on_its_way_until_delivered_or_refused(store: Store) -> None:
    await add_ticket(store, 1)
    await add_ticket(store, 2)
    assert not await store.outbox.has_reply_on_its_way(GUILD, 1)
    entry = await store.outbox.enqueue(
        GUILD, 1, channel_id=50, discord_message_id=900, author_id=1, content="hi", now=NOW
    )
    assert entry is not None
    assert await store.outbox.has_reply_on_its_way(GUILD, 1)
    assert not await store.outbox.has_reply_on_its_way(GUILD, 2)
    assert not await store.outbox.has_reply_on_its_way(OTHER_GUILD, 1)
    assert await store.outbox.mark_sending(entry.id, now=NOW)
    assert await store.outbox.has_reply_on_its_way(GUILD, 1)
    assert await store.outbox.mark_waiting(entry.id, "later", next_attempt_at=NOW + 5)
    assert await store.outbox.has_reply_on_its_way(GUILD, 1)
    assert await store.outbox.mark_refused(entry.id, "no")
    assert not await store.outbox.has_reply_on_its_way(GUILD, 1)


# --- the relay's feedback state (migration 0004) ------------------------------------------


def write_schema_up_to(path: Path, version: int) -> None:
    """A database as an older bridge left it: the migrations up to ``version`` only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        for migration in load_migrations()[:version]:
            conn.executescript(migration.sql)
        conn.execute(f"PRAGMA user_version = {version:d}")


async def test_edit_warnings_and_owed_feedback_move_off_meta(db_path: Path) -> None:
    """The relay kept `relay.edit_warned.<id>` rows in meta forever, and owed feedback as
    one JSON list; 0004 carries both onto the outbox rows and drops the meta rows.
    SQLite only: such rows predate PostgreSQL support (its 0004 has no data step)."""
    write_schema_up_to(db_path, 3)
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "INSERT INTO tickets (guild_id, ticket_id, status, created_at, updated_at)"
            " VALUES (1, 1, 'OPEN', 0, 0)"
        )
        for entry_id, message_id in ((1, 901), (2, 902), (3, 903)):
            conn.execute(
                "INSERT INTO outbox (id, guild_id, ticket_id, channel_id, discord_message_id,"
                " author_id, content, created_at) VALUES (?, 1, 1, 5, ?, 1, 'x', 0)",
                (entry_id, message_id),
            )
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [
                ("relay.edit_warned.902", "1"),
                ("relay.edit_warned.777", "1"),  # its entry is long gone
                ("relay.feedback_owed", "[3, 1, 404]"),
                ("inbound.first_link.1", "done"),
            ],
        )
    async with await Store.open(db_path) as store:
        assert [await store.outbox.edit_warned(m) for m in (901, 902, 903, 777)] == [
            False,
            True,
            False,
            False,
        ]
        assert await store.outbox.owed_feedback() == [1, 3]
        assert await store.state.first_link_done(1)  # other meta rows stay
    keys = {k for (k,) in raw(db_path, "SELECT key FROM meta")}
    assert not any(k.startswith("relay.") for k in keys)


async def test_feedback_state_lives_and_dies_with_its_outbox_entry(
    store: Store, store_target: Path | str
) -> None:
    await add_ticket(store, 1)
    entry = await store.outbox.enqueue(
        GUILD, 1, channel_id=50, discord_message_id=900, author_id=1, content="hi", now=NOW
    )
    assert entry is not None
    assert not await store.outbox.edit_warned(900)
    await store.outbox.record_edit_warned(900, now=NOW)
    await store.outbox.record_edit_warned(900, now=NOW + 9)  # the first time is kept
    assert await store.outbox.edit_warned(900)
    await store.outbox.owe_feedback(entry.id)
    assert await store.outbox.owed_feedback() == [entry.id]
    await store.outbox.settle_feedback(entry.id)
    assert await store.outbox.owed_feedback() == []
    await store.outbox.owe_feedback(entry.id)

    await store.links.delete(GUILD, forget_tickets=True)
    assert not await store.outbox.edit_warned(900)
    assert await store.outbox.owed_feedback() == []
    assert await query(store_target, "SELECT count(*) FROM meta WHERE key LIKE 'relay.%'") == [(0,)]


async def test_ticket_problems_survive_a_restart_and_go_with_forgotten_tickets(
    store_target: Path | str,
) -> None:
    refused = TicketProblem(GUILD, 7, "discord_refused", "Discord refused…", 1.0, 1.0, 0, 31.0)
    odd = TicketProblem(GUILD, 8, "unknown_status", "SellApp sent…: PENDING", 1.0, 1.0, 0, 0.0)
    async with await Store.open(store_target) as store:
        await store.problems.save(GUILD, upsert=[refused, odd])
        again = TicketProblem(GUILD, 7, "discord_refused", "Discord refused…", 1.0, 9.0, 1, 99.0)
        await store.problems.save(GUILD, upsert=[again])
    async with await Store.open(store_target) as store:  # "logged once" holds across restarts
        assert await store.problems.all(GUILD) == [again, odd]
        assert await store.problems.counts(GUILD) == {
            "discord_refused": 1,
            "unknown_status": 1,
        }
        await store.problems.save(GUILD, clear=[odd])
        assert await store.problems.all(GUILD) == [again]
        await store.links.delete(GUILD, forget_tickets=True)  # /sellapp disconnect
        assert await store.problems.all(GUILD) == []


async def test_a_reply_to_look_for_first_cannot_be_withdrawn(store: Store) -> None:
    """Review: after a restore a reply read back from history may be at SellApp already;
    deleting it in Discord must not report it as 'not sent to the customer'."""
    await add_ticket(store, 1)
    entry = await store.outbox.enqueue(
        GUILD,
        1,
        channel_id=5,
        discord_message_id=901,
        author_id=1,
        content="x",
        now=NOW,
        look_first=True,
    )
    assert entry is not None
    assert not await store.outbox.withdraw_reply(entry.id, "deleted")
    plain = await store.outbox.enqueue(
        GUILD, 1, channel_id=5, discord_message_id=902, author_id=1, content="y", now=NOW
    )
    assert plain is not None
    assert await store.outbox.withdraw_reply(plain.id, "deleted")


async def test_forgetting_tickets_forgets_their_order_cards(store: Store) -> None:
    """Review: a forgotten ticket's card row stayed, so the next store's ticket with the
    same number never got its own card and showed the old order."""
    await add_ticket(store, 1)
    await store.orders.record_card(
        GUILD, 1, order_id="9001", thread_id=5, message_id=77, status="PAID", now=NOW
    )
    assert await store.orders.card(GUILD, 1) is not None
    await store.links.delete(GUILD, forget_tickets=True)
    assert await store.orders.card(GUILD, 1) is None


OPENER = textwrap.dedent(
    """
    import asyncio, sys
    from bot.store import Store

    async def main():
        await (await Store.open(sys.argv[1])).close()
        print("open", flush=True)

    asyncio.run(main())
    """
)


async def test_processes_opening_a_fresh_postgres_database_at_once_migrate_it_once(
    postgres_url: str,
) -> None:
    """Several bridge processes started together on one new PostgreSQL database: each
    migration is applied exactly once, and every process opens without an error."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            OPENER,
            postgres_url,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    stores = await asyncio.gather(*(Store.open(postgres_url) for _ in range(2)))
    for opened in stores:
        await opened.close()
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert (proc.returncode, out.strip()) == (0, b"open"), err.decode()
    versions = await query(postgres_url, "SELECT version FROM schema_version ORDER BY version")
    assert versions == [(m.version,) for m in load_migrations()]
