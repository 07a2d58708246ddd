"""The bridge's SQLite store: the only module with SQL.

One aiosqlite connection per :class:`Store`, shared by every guild in the process.
Every operation takes the store's :class:`asyncio.Lock`: writes so that one
``BEGIN IMMEDIATE ... COMMIT`` never interleaves with another on the shared
connection, reads so that they never see another coroutine's uncommitted half.
Other processes on the same file are kept apart by SQLite's own locking
(``BEGIN IMMEDIATE`` + ``busy_timeout``).

Connection settings:

- ``journal_mode=WAL``: readers never block the writer, and a crash mid-write leaves
  the database at the last commit.
- ``synchronous=FULL`` (not ``NORMAL``): with WAL, ``NORMAL`` survives a crash of the
  *process* but may lose the last commits on power loss or an OS crash. Those commits
  are exactly the intents that guard side effects (``mark_sending`` before a POST to
  SellApp, ``record_post_intent`` before a Discord post); losing one after the side
  effect happened would resend a reply. The bridge writes a few rows a second at
  most, so the extra fsync per commit costs nothing noticeable.
- ``foreign_keys=ON``, ``busy_timeout=5000`` ms.

Migrations are ``bot/store/migrations/NNNN_name.sql``, applied in order at :meth:`Store.open`,
each in its own transaction together with ``PRAGMA user_version = NNNN``. The version
is re-read inside that transaction, so two processes opening a fresh file at once
apply each migration exactly once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import aiosqlite

from bot.errors import ConfigError
from bot.store.records import (
    OUTBOX_STATES,
    GuildLink,
    MessageRecord,
    OutboxEntry,
    OutboxState,
    PollState,
    PushChannel,
    Ticket,
    TicketCounts,
)

__all__ = ["MEMORY", "UNSET", "Migration", "Store", "load_migrations"]

log = logging.getLogger(__name__)

MEMORY: Final = ":memory:"
BUSY_TIMEOUT_MS: Final = 5000
_MIGRATION_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")
_Params = Sequence[Any] | Mapping[str, Any]


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET
"""Default of :meth:`Store.upsert_link`'s fields: leave this column as it is."""


# --- migrations -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The packaged migrations, in order. Numbers must run 1, 2, 3... without gaps."""
    found = [
        Migration(int(match[1]), entry.name, entry.read_text(encoding="utf-8"))
        for entry in resources.files("bot.store.migrations").iterdir()
        if (match := _MIGRATION_NAME.fullmatch(entry.name))
    ]
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration numbers must be 1..N: {[m.name for m in found]}")
    return found


def _statements(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit our transaction)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    rest = [ln for ln in buffer.splitlines() if ln.strip() and not ln.strip().startswith("--")]
    if rest:
        raise RuntimeError(f"unterminated SQL statement in a migration: {rest[0]!r}")
    return statements


# --- rows -> records --------------------------------------------------------------------


def _ids(text: str) -> tuple[int, ...]:
    return tuple(int(i) for i in json.loads(text))


def _link(row: sqlite3.Row) -> GuildLink:
    return GuildLink(
        guild_id=row["guild_id"],
        store_slug=row["store_slug"],
        api_key_sealed=row["api_key_sealed"],
        channel_id=row["channel_id"],
        staff_role_ids=_ids(row["staff_role_ids"]),
        poll_interval=row["poll_interval"],
        paused=bool(row["paused"]),
        note_prefix=row["note_prefix"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _ticket(row: sqlite3.Row) -> Ticket:
    return Ticket(**{name: row[name] for name in Ticket.__dataclass_fields__})


def _message(row: sqlite3.Row) -> MessageRecord:
    fields = {name: row[name] for name in MessageRecord.__dataclass_fields__}
    fields["discord_message_ids"] = _ids(row["discord_message_ids"])
    return MessageRecord(**fields)


def _outbox(row: sqlite3.Row) -> OutboxEntry:
    return OutboxEntry(**{name: row[name] for name in OutboxEntry.__dataclass_fields__})


def _push_channel(row: sqlite3.Row) -> PushChannel:
    return PushChannel(**{name: row[name] for name in PushChannel.__dataclass_fields__})


def _poll_state(row: sqlite3.Row) -> PollState:
    return PollState(**{name: row[name] for name in PollState.__dataclass_fields__})


async def _one(db: aiosqlite.Connection, sql: str, params: _Params = ()) -> sqlite3.Row | None:
    async with db.execute(sql, params) as cursor:
        return await cursor.fetchone()


async def _all(db: aiosqlite.Connection, sql: str, params: _Params = ()) -> list[sqlite3.Row]:
    async with db.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


async def _changed(db: aiosqlite.Connection, sql: str, params: _Params = ()) -> int:
    async with db.execute(sql, params) as cursor:
        return cursor.rowcount


async def _enable_wal(db: aiosqlite.Connection) -> None:
    """Switch to WAL. SQLite doesn't call the busy handler for this switch, so retry here:
    another process may be switching the same fresh file at this very moment."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            await db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode in {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
            if not busy or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.01)
        else:
            return


def _require(row: sqlite3.Row | None, what: str) -> sqlite3.Row:
    if row is None:
        raise LookupError(f"no such {what}")
    return row


# --- the store --------------------------------------------------------------------------


async def _forget_tickets(db: aiosqlite.Connection, guild_id: int) -> None:
    await db.execute(
        "DELETE FROM thread_progress WHERE thread_id IN "
        "(SELECT thread_id FROM tickets WHERE guild_id = ?)",
        (guild_id,),
    )
    for table in ("outbox", "messages", "tickets"):
        await db.execute(f"DELETE FROM {table} WHERE guild_id = ?", (guild_id,))  # noqa: S608
    await db.execute("DELETE FROM meta WHERE key = ?", (_first_link_key(guild_id),))


def _first_link_key(guild_id: int) -> str:
    return f"inbound.first_link.{guild_id}"


async def _mark_seen(db: aiosqlite.Connection, thread_id: int, message_id: int) -> int:
    row = await _one(
        db,
        "INSERT INTO thread_progress (thread_id, last_message_id) VALUES (?, ?)"
        " ON CONFLICT (thread_id) DO UPDATE SET"
        " last_message_id = max(last_message_id, excluded.last_message_id)"
        " RETURNING last_message_id",
        (thread_id, message_id),
    )
    return int(_require(row, "thread progress")[0])


class Store:
    """Durable state of the bridge. Open with ``await Store.open(path)``."""

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self._db = db
        self._path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> Store:
        """Open (creating folder and file if needed) and bring the schema up to date."""
        target = str(path)
        if target != MEMORY:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(target, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            db.row_factory = sqlite3.Row
            await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
            await _enable_wal(db)
            await db.execute("PRAGMA synchronous = FULL")
            await db.execute("PRAGMA foreign_keys = ON")
            store = cls(db, target)
            await store._migrate()
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        async with self._lock:
            await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def path(self) -> str:
        return self._path

    # --- plumbing ---

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction: commit on success, roll back on any exception.

        Cancellation-safe: aiosqlite runs queued statements on its own thread in order,
        even for a task that was cancelled while waiting. So BEGIN sits inside the
        ``try``, and on any exception (cancellation included) a ROLLBACK is always
        queued behind it; "no transaction is active" (the BEGIN failed, or a cancelled
        COMMIT went through) is expected and ignored. Without this, a poll loop cancelled
        during BEGIN left the shared connection inside a transaction and every later
        write failed."""
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                await self._db.execute("COMMIT")
            except BaseException:
                try:
                    await self._db.execute("ROLLBACK")
                except sqlite3.OperationalError as exc:
                    if "no transaction is active" not in str(exc):
                        log.exception("rollback failed")
                raise

    async def _read_one(self, sql: str, params: _Params = ()) -> sqlite3.Row | None:
        async with self._lock:
            return await _one(self._db, sql, params)

    async def _read_all(self, sql: str, params: _Params = ()) -> list[sqlite3.Row]:
        async with self._lock:
            return await _all(self._db, sql, params)

    async def schema_version(self) -> int:
        row = await self._read_one("PRAGMA user_version")
        return int(_require(row, "user_version")[0])

    async def _migrate(self) -> None:
        migrations = load_migrations()
        if await self.schema_version() > len(migrations):
            raise ConfigError(
                "The database was written by a newer version of the bridge; "
                "upgrade the bridge or point DATABASE_PATH at another file."
            )
        for migration in migrations:
            async with self._transaction() as db:
                # Re-read under the write lock: another process may have just applied it.
                current = int(_require(await _one(db, "PRAGMA user_version"), "user_version")[0])
                if current >= migration.version:
                    continue
                for statement in _statements(migration.sql):
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version = {migration.version:d}")
            log.info("applied database migration %s", migration.name)

    # --- guild links ---

    async def get_link(self, guild_id: int) -> GuildLink | None:
        row = await self._read_one("SELECT * FROM guild_links WHERE guild_id = ?", (guild_id,))
        return _link(row) if row else None

    async def list_links(self) -> list[GuildLink]:
        return [_link(r) for r in await self._read_all("SELECT * FROM guild_links ORDER BY 1")]

    async def upsert_link(
        self,
        guild_id: int,
        *,
        now: float,
        store_slug: str | _Unset | None = UNSET,
        api_key_sealed: str | _Unset | None = UNSET,
        channel_id: int | _Unset | None = UNSET,
        staff_role_ids: Iterable[int] | _Unset = UNSET,
        poll_interval: float | _Unset | None = UNSET,
        paused: bool | _Unset = UNSET,
        note_prefix: str | _Unset | None = UNSET,
    ) -> GuildLink:
        """Create the link or change only the fields given; returns the link as stored."""
        given: dict[str, object] = {}
        if not isinstance(store_slug, _Unset):
            given["store_slug"] = store_slug
        if not isinstance(api_key_sealed, _Unset):
            given["api_key_sealed"] = api_key_sealed
        if not isinstance(channel_id, _Unset):
            given["channel_id"] = channel_id
        if not isinstance(staff_role_ids, _Unset):
            given["staff_role_ids"] = json.dumps([int(r) for r in staff_role_ids])
        if not isinstance(poll_interval, _Unset):
            given["poll_interval"] = poll_interval
        if not isinstance(paused, _Unset):
            given["paused"] = int(paused)
        if not isinstance(note_prefix, _Unset):
            given["note_prefix"] = note_prefix
        # Column names come from the fixed list above, never from callers.
        columns = ["guild_id", "created_at", "updated_at", *given]
        updates = [f"{c} = excluded.{c}" for c in [*given, "updated_at"]]
        sql = (
            f"INSERT INTO guild_links ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({', '.join('?' for _ in columns)}) "
            f"ON CONFLICT (guild_id) DO UPDATE SET {', '.join(updates)} RETURNING *"
        )
        async with self._transaction() as db:
            row = await _one(db, sql, (guild_id, now, now, *given.values()))
        return _link(_require(row, "guild link"))

    async def delete_link(self, guild_id: int, *, forget_tickets: bool) -> bool:
        """Unlink a guild; with ``forget_tickets`` also drop its tickets, messages and outbox."""
        async with self._transaction() as db:
            existed = await _changed(db, "DELETE FROM guild_links WHERE guild_id = ?", (guild_id,))
            await db.execute("DELETE FROM poll_state WHERE guild_id = ?", (guild_id,))
            if forget_tickets:
                await _forget_tickets(db, guild_id)
        return existed > 0

    async def forget_tickets(self, guild_id: int) -> None:
        """Drop a guild's tickets, their messages and outbox, but keep its link."""
        async with self._transaction() as db:
            await _forget_tickets(db, guild_id)

    # --- tickets ---

    async def get_ticket(self, guild_id: int, ticket_id: int) -> Ticket | None:
        row = await self._read_one(
            "SELECT * FROM tickets WHERE guild_id = ? AND ticket_id = ?", (guild_id, ticket_id)
        )
        return _ticket(row) if row else None

    async def get_ticket_by_thread(self, thread_id: int) -> Ticket | None:
        row = await self._read_one("SELECT * FROM tickets WHERE thread_id = ?", (thread_id,))
        return _ticket(row) if row else None

    async def list_tickets(self, guild_id: int) -> list[Ticket]:
        rows = await self._read_all(
            "SELECT * FROM tickets WHERE guild_id = ? ORDER BY ticket_id", (guild_id,)
        )
        return [_ticket(r) for r in rows]

    async def tickets_due(self, guild_id: int, *, now: float) -> list[Ticket]:
        """Tickets whose ``next_check_at`` has come, the most overdue first."""
        rows = await self._read_all(
            "SELECT * FROM tickets WHERE guild_id = ? AND next_check_at <= ? "
            "ORDER BY next_check_at, ticket_id",
            (guild_id, now),
        )
        return [_ticket(r) for r in rows]

    async def count_tickets(self, guild_id: int) -> TicketCounts:
        """``(tracked, open)``; open means any status other than CLOSED."""
        row = await self._read_one(
            "SELECT count(*), coalesce(sum(upper(status) <> 'CLOSED'), 0) "
            "FROM tickets WHERE guild_id = ?",
            (guild_id,),
        )
        tracked, open_ = _require(row, "count")
        return TicketCounts(tracked=int(tracked), open=int(open_))

    async def record_ticket(
        self,
        guild_id: int,
        ticket_id: int,
        *,
        status: str,
        title: str,
        sellapp_updated_at: str | None,
        now: float,
        next_check_at: float | None = None,
    ) -> Ticket:
        """Insert a ticket or update its listing fields; sync progress is kept.

        A new ticket is due at ``next_check_at`` (default ``now``); an existing one keeps
        its schedule unless ``next_check_at`` is given.
        """
        async with self._transaction() as db:
            row = await _one(
                db,
                "INSERT INTO tickets (guild_id, ticket_id, status, title, sellapp_updated_at,"
                " next_check_at, created_at, updated_at)"
                " VALUES (:guild, :ticket, :status, :title, :updated, coalesce(:next, :now),"
                " :now, :now)"
                " ON CONFLICT (guild_id, ticket_id) DO UPDATE SET status = excluded.status,"
                " title = excluded.title, sellapp_updated_at = excluded.sellapp_updated_at,"
                " next_check_at = coalesce(:next, tickets.next_check_at),"
                " updated_at = excluded.updated_at RETURNING *",
                {
                    "guild": guild_id,
                    "ticket": ticket_id,
                    "status": status,
                    "title": title,
                    "updated": sellapp_updated_at,
                    "next": next_check_at,
                    "now": now,
                },
            )
        return _ticket(_require(row, "ticket"))

    async def _update_ticket(self, guild_id: int, ticket_id: int, sets: str, *values: Any) -> None:
        async with self._transaction() as db:
            changed = await _changed(
                db,
                f"UPDATE tickets SET {sets} WHERE guild_id = ? AND ticket_id = ?",  # noqa: S608
                (*values, guild_id, ticket_id),
            )
        if not changed:
            raise LookupError(f"no such ticket: {guild_id}/{ticket_id}")

    async def set_thread(
        self, guild_id: int, ticket_id: int, thread_id: int, *, now: float
    ) -> None:
        """Give the ticket its thread, replacing any previous one (e.g. one that was deleted)."""
        await self._update_ticket(
            guild_id, ticket_id, "thread_id = ?, updated_at = ?", thread_id, now
        )

    async def clear_thread(self, guild_id: int, ticket_id: int, *, now: float) -> None:
        await self._update_ticket(guild_id, ticket_id, "thread_id = NULL, updated_at = ?", now)

    async def reset_ticket_thread(self, guild_id: int, ticket_id: int, *, now: float) -> None:
        """The ticket's thread is gone: start over so a new thread gets the whole history.

        In one transaction: no thread, progress back to the start, due now, and the
        ticket's *inbound* message rows forgotten so they are posted again. Outbound rows
        (our own replies) stay, so they are never taken for new store messages; they turn
        ``pending`` so the new thread shows them too (as replies sent from Discord).
        """
        async with self._transaction() as db:
            changed = await _changed(
                db,
                "UPDATE tickets SET thread_id = NULL, last_message_id = 0, messages_page = 1,"
                " quiet_checks = 0, next_check_at = ?, updated_at = ?"
                " WHERE guild_id = ? AND ticket_id = ?",
                (now, now, guild_id, ticket_id),
            )
            if not changed:
                raise LookupError(f"no such ticket: {guild_id}/{ticket_id}")
            await db.execute(
                "DELETE FROM messages WHERE guild_id = ? AND ticket_id = ?"
                " AND direction = 'inbound'",
                (guild_id, ticket_id),
            )
            await db.execute(
                "UPDATE messages SET state = 'pending' WHERE guild_id = ? AND ticket_id = ?",
                (guild_id, ticket_id),
            )

    async def set_status(self, guild_id: int, ticket_id: int, status: str, *, now: float) -> None:
        await self._update_ticket(guild_id, ticket_id, "status = ?, updated_at = ?", status, now)

    async def update_sync_progress(
        self,
        guild_id: int,
        ticket_id: int,
        *,
        last_message_id: int,
        messages_page: int,
        next_check_at: float,
        quiet_checks: int,
    ) -> None:
        """Record how far a ticket's messages were read. ``last_message_id`` never goes back."""
        await self._update_ticket(
            guild_id,
            ticket_id,
            "last_message_id = max(last_message_id, ?), messages_page = ?,"
            " next_check_at = ?, quiet_checks = ?",
            last_message_id,
            messages_page,
            next_check_at,
            quiet_checks,
        )

    async def record_check(
        self,
        guild_id: int,
        ticket_id: int,
        *,
        next_check_at: float,
        quiet_checks: int,
        now: float,
        listing: tuple[str, str, str | None] | None = None,
    ) -> None:
        """After a ticket was looked at: when to look again and, unless None, its listing
        as now seen (status, title, SellApp's ``updated_at``). One write, one commit."""
        if listing is None:
            await self._update_ticket(
                guild_id,
                ticket_id,
                "next_check_at = ?, quiet_checks = ?, updated_at = ?",
                next_check_at,
                quiet_checks,
                now,
            )
            return
        status, title, sellapp_updated_at = listing
        await self._update_ticket(
            guild_id,
            ticket_id,
            "next_check_at = ?, quiet_checks = ?, updated_at = ?,"
            " status = ?, title = ?, sellapp_updated_at = ?",
            next_check_at,
            quiet_checks,
            now,
            status,
            title,
            sellapp_updated_at,
        )

    # --- messages ---

    async def record_post_intent(
        self, guild_id: int, ticket_id: int, sellapp_message_id: int, *, now: float
    ) -> bool:
        """Record that we are about to post a SellApp message. False if it is already known."""
        async with self._transaction() as db:
            inserted = await _changed(
                db,
                "INSERT INTO messages (guild_id, sellapp_message_id, ticket_id, direction, state,"
                " created_at) VALUES (?, ?, ?, 'inbound', 'pending', ?)"
                " ON CONFLICT DO NOTHING",
                (guild_id, sellapp_message_id, ticket_id, now),
            )
        return inserted > 0

    async def record_posted(
        self,
        guild_id: int,
        sellapp_message_id: int,
        discord_message_ids: Sequence[int],
        *,
        now: float,
        messages_page: int | None = None,
    ) -> MessageRecord:
        """Mark a message posted and advance its ticket's progress, in one transaction."""
        async with self._transaction() as db:
            row = _require(
                await _one(
                    db,
                    "UPDATE messages SET state = 'posted', discord_message_ids = ?, posted_at = ?"
                    " WHERE guild_id = ? AND sellapp_message_id = ?"
                    " RETURNING *",
                    (json.dumps(list(discord_message_ids)), now, guild_id, sellapp_message_id),
                ),
                "recorded message",
            )
            await db.execute(
                "UPDATE tickets SET last_message_id = max(last_message_id, ?),"
                " messages_page = coalesce(?, messages_page), updated_at = ?"
                " WHERE guild_id = ? AND ticket_id = ?",
                (sellapp_message_id, messages_page, now, guild_id, row["ticket_id"]),
            )
        return _message(row)

    async def get_message(self, guild_id: int, sellapp_message_id: int) -> MessageRecord | None:
        row = await self._read_one(
            "SELECT * FROM messages WHERE guild_id = ? AND sellapp_message_id = ?",
            (guild_id, sellapp_message_id),
        )
        return _message(row) if row else None

    async def pending_posts(self, guild_id: int) -> list[MessageRecord]:
        """Intents not confirmed posted (a crash came between), oldest first per ticket."""
        rows = await self._read_all(
            "SELECT * FROM messages WHERE guild_id = ? AND state = 'pending'"
            " ORDER BY ticket_id, sellapp_message_id",
            (guild_id,),
        )
        return [_message(r) for r in rows]

    async def is_known_message(self, guild_id: int, sellapp_message_id: int) -> bool:
        row = await self._read_one(
            "SELECT 1 FROM messages WHERE guild_id = ? AND sellapp_message_id = ?",
            (guild_id, sellapp_message_id),
        )
        return row is not None

    async def known_message_ids(self, guild_id: int, ticket_id: int) -> set[int]:
        rows = await self._read_all(
            "SELECT sellapp_message_id FROM messages WHERE guild_id = ? AND ticket_id = ?",
            (guild_id, ticket_id),
        )
        return {int(r[0]) for r in rows}

    async def record_outbound_message(
        self,
        guild_id: int,
        ticket_id: int,
        sellapp_message_id: int,
        *,
        now: float,
        discord_message_ids: Sequence[int] = (),
    ) -> bool:
        """Remember a SellApp message that is our own reply, so it is never echoed back."""
        async with self._transaction() as db:
            return await _insert_outbound(
                db,
                guild_id=guild_id,
                ticket_id=ticket_id,
                sellapp_message_id=sellapp_message_id,
                discord_message_ids=discord_message_ids,
                now=now,
            )

    # --- outbox ---

    async def enqueue_reply(
        self,
        guild_id: int,
        ticket_id: int,
        *,
        channel_id: int,
        discord_message_id: int,
        author_id: int,
        content: str,
        now: float,
    ) -> OutboxEntry | None:
        """Queue a staff reply; None if this Discord message was already queued. Also moves
        the thread's mark (see :meth:`set_last_seen_discord_message`) in the same commit:
        one write on the path from a staff message to SellApp, not two."""
        async with self._transaction() as db:
            row = await _one(
                db,
                "INSERT INTO outbox (guild_id, ticket_id, channel_id, discord_message_id,"
                " author_id, content, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (discord_message_id) DO NOTHING RETURNING *",
                (guild_id, ticket_id, channel_id, discord_message_id, author_id, content, now, now),
            )
            await _mark_seen(db, channel_id, discord_message_id)
        return _outbox(row) if row else None

    async def next_deliverable(
        self, guild_id: int | None = None, *, now: float
    ) -> list[OutboxEntry]:
        """Per ticket, the oldest undelivered entry, if its time has come.

        An entry is never deliverable while an older one of the same ticket is queued,
        waiting or sending; refused and delivered entries no longer hold the line.
        """
        rows = await self._read_all(
            "SELECT * FROM outbox AS o WHERE o.state IN ('queued', 'waiting')"
            " AND o.next_attempt_at <= :now AND (:guild IS NULL OR o.guild_id = :guild)"
            " AND NOT EXISTS (SELECT 1 FROM outbox AS p WHERE p.guild_id = o.guild_id"
            "  AND p.ticket_id = o.ticket_id AND p.id < o.id"
            "  AND p.state IN ('queued', 'waiting', 'sending'))"
            " ORDER BY o.id",
            {"now": now, "guild": guild_id},
        )
        return [_outbox(r) for r in rows]

    async def get_outbox_entry(self, entry_id: int) -> OutboxEntry | None:
        row = await self._read_one("SELECT * FROM outbox WHERE id = ?", (entry_id,))
        return _outbox(row) if row else None

    async def get_outbox_by_discord_message(self, discord_message_id: int) -> OutboxEntry | None:
        row = await self._read_one(
            "SELECT * FROM outbox WHERE discord_message_id = ?", (discord_message_id,)
        )
        return _outbox(row) if row else None

    async def entries_in_state(
        self, state: OutboxState, guild_id: int | None = None
    ) -> list[OutboxEntry]:
        rows = await self._read_all(
            "SELECT * FROM outbox WHERE state = ? AND (? IS NULL OR guild_id = ?) ORDER BY id",
            (state, guild_id, guild_id),
        )
        return [_outbox(r) for r in rows]

    async def outbox_counts(self, guild_id: int) -> dict[OutboxState, int]:
        rows = await self._read_all(
            "SELECT state, count(*) FROM outbox WHERE guild_id = ? GROUP BY state", (guild_id,)
        )
        counts: dict[OutboxState, int] = dict.fromkeys(OUTBOX_STATES, 0)
        for state, count in rows:
            counts[state] = int(count)
        return counts

    async def mark_sending(self, entry_id: int, *, now: float) -> bool:
        """Claim a queued/waiting entry: from here its POST may reach SellApp.

        Commit this before sending; an entry found ``sending`` at start must be reconciled
        with SellApp, never resent blindly. False if the entry was not queued or waiting.
        """
        async with self._transaction() as db:
            changed = await _changed(
                db,
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1, sent_at = ?"
                " WHERE id = ? AND state IN ('queued', 'waiting')",
                (now, entry_id),
            )
        return changed > 0

    async def mark_delivered(self, entry_id: int, sellapp_message_id: int, *, now: float) -> bool:
        """Mark a sending entry delivered and record its SellApp message as our own, at once."""
        async with self._transaction() as db:
            row = await _one(
                db,
                "UPDATE outbox SET state = 'delivered', sellapp_message_id = ?, delivered_at = ?,"
                " last_error = NULL WHERE id = ? AND state = 'sending' RETURNING *",
                (sellapp_message_id, now, entry_id),
            )
            if row is None:
                return False
            await _insert_outbound(
                db,
                guild_id=row["guild_id"],
                ticket_id=row["ticket_id"],
                sellapp_message_id=sellapp_message_id,
                discord_message_ids=(row["discord_message_id"],),
                now=now,
            )
        return True

    async def mark_waiting(self, entry_id: int, error: str, *, next_attempt_at: float) -> bool:
        """A retryable failure: try again at ``next_attempt_at``. ``error`` is shown to staff."""
        async with self._transaction() as db:
            changed = await _changed(
                db,
                "UPDATE outbox SET state = 'waiting', last_error = ?, next_attempt_at = ?"
                " WHERE id = ? AND state IN ('queued', 'sending', 'waiting')",
                (error, next_attempt_at, entry_id),
            )
        return changed > 0

    async def withdraw_reply(self, entry_id: int, reason: str) -> bool:
        """Take back a reply no attempt has been made to send (queued, or waiting without
        an attempt). False if it may already be on its way: then it can't be withdrawn."""
        async with self._transaction() as db:
            changed = await _changed(
                db,
                "UPDATE outbox SET state = 'refused', last_error = ?"
                " WHERE id = ? AND attempts = 0 AND state IN ('queued', 'waiting')",
                (reason, entry_id),
            )
        return changed > 0

    async def mark_refused(self, entry_id: int, error: str) -> bool:
        """SellApp refused the reply for good (e.g. 422); it is never sent again."""
        async with self._transaction() as db:
            changed = await _changed(
                db,
                "UPDATE outbox SET state = 'refused', last_error = ?"
                " WHERE id = ? AND state IN ('queued', 'sending', 'waiting')",
                (error, entry_id),
            )
        return changed > 0

    # --- poll state ---

    async def record_poll_success(
        self, guild_id: int, *, now: float, response_ms: float | None
    ) -> PollState:
        return await self._upsert_poll_state(
            "INSERT INTO poll_state (guild_id, last_poll_at, last_success_at,"
            " consecutive_failures, last_response_ms) VALUES (?, ?, ?, 0, ?)"
            " ON CONFLICT (guild_id) DO UPDATE SET last_poll_at = excluded.last_poll_at,"
            " last_success_at = excluded.last_success_at, last_error = NULL,"
            " consecutive_failures = 0, last_response_ms = excluded.last_response_ms"
            " RETURNING *",
            (guild_id, now, now, response_ms),
        )

    async def record_poll_failure(self, guild_id: int, *, now: float, error: str) -> PollState:
        """``error`` in plain words, safe to show staff (no key, no customer text)."""
        return await self._upsert_poll_state(
            "INSERT INTO poll_state (guild_id, last_poll_at, last_error, consecutive_failures)"
            " VALUES (?, ?, ?, 1) ON CONFLICT (guild_id) DO UPDATE SET"
            " last_poll_at = excluded.last_poll_at, last_error = excluded.last_error,"
            " consecutive_failures = poll_state.consecutive_failures + 1 RETURNING *",
            (guild_id, now, error),
        )

    async def _upsert_poll_state(self, sql: str, params: _Params) -> PollState:
        async with self._transaction() as db:
            row = await _one(db, sql, params)
        return _poll_state(_require(row, "poll state"))

    async def get_poll_state(self, guild_id: int) -> PollState | None:
        row = await self._read_one("SELECT * FROM poll_state WHERE guild_id = ?", (guild_id,))
        return _poll_state(row) if row else None

    # --- push (SellApp webhook channels) ---

    async def get_push_channel(self, guild_id: int) -> PushChannel | None:
        row = await self._read_one("SELECT * FROM push_channels WHERE guild_id = ?", (guild_id,))
        return _push_channel(row) if row else None

    async def list_push_channels(self) -> list[PushChannel]:
        rows = await self._read_all("SELECT * FROM push_channels ORDER BY guild_id")
        return [_push_channel(r) for r in rows]

    async def ensure_push_token(self, guild_id: int, token: str, *, now: float) -> PushChannel:
        """The guild's push row; ``token`` is stored only if the guild has none yet."""
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO push_channels (guild_id, token, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (guild_id) DO NOTHING",
                (guild_id, token, now),
            )
            row = await _one(db, "SELECT * FROM push_channels WHERE guild_id = ?", (guild_id,))
        return _push_channel(_require(row, "push channel"))

    async def record_push_registered(
        self, guild_id: int, *, url: str, channel_id: str, now: float
    ) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE push_channels SET url = ?, channel_id = ?, last_error = NULL,"
                " updated_at = ? WHERE guild_id = ?",
                (url, channel_id, now, guild_id),
            )

    async def record_push_failure(self, guild_id: int, *, error: str, now: float) -> None:
        """``error`` in plain words, safe to show staff."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE push_channels SET channel_id = NULL, last_error = ?, updated_at = ?"
                " WHERE guild_id = ?",
                (error, now, guild_id),
            )

    async def set_push_secret(
        self, guild_id: int, secret_sealed: str | None, *, now: float
    ) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE push_channels SET secret_sealed = ?, updated_at = ? WHERE guild_id = ?",
                (secret_sealed, now, guild_id),
            )

    async def make_ticket_due(self, guild_id: int, ticket_id: int) -> None:
        """A hint came for this ticket: the next poll reads it, even after a crash."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE tickets SET next_check_at = 0 WHERE guild_id = ? AND ticket_id = ?",
                (guild_id, ticket_id),
            )

    async def delete_push_channel(self, guild_id: int) -> bool:
        async with self._transaction() as db:
            return (
                await _changed(db, "DELETE FROM push_channels WHERE guild_id = ?", (guild_id,))
            ) > 0

    # --- thread progress ---

    async def get_last_seen_discord_message(self, thread_id: int) -> int | None:
        row = await self._read_one(
            "SELECT last_message_id FROM thread_progress WHERE thread_id = ?", (thread_id,)
        )
        return int(row[0]) if row else None

    async def set_last_seen_discord_message(self, thread_id: int, message_id: int) -> int:
        """Move the thread's mark forward (never back); returns the mark as stored."""
        async with self._transaction() as db:
            return await _mark_seen(db, thread_id, message_id)

    # --- meta and health ---

    async def get_meta(self, key: str) -> str | None:
        row = await self._read_one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    async def first_link_done(self, guild_id: int) -> bool:
        """Whether a whole inbound cycle has finished since the guild's tickets were
        (first, or last) forgotten: until then closed tickets are only recorded."""
        return await self.get_meta(_first_link_key(guild_id)) == "done"

    async def mark_first_link_done(self, guild_id: int) -> None:
        await self.set_meta(_first_link_key(guild_id), "done")

    async def writable_check(self, *, now: float | None = None) -> bool:
        """For the health check: commit a heartbeat row. False if the database can't be written."""
        try:
            await self.set_meta("heartbeat", repr(time.time() if now is None else now))
        except sqlite3.Error as exc:
            log.warning("database is not writable: %s", exc)
            return False
        return True


async def _insert_outbound(
    db: aiosqlite.Connection,
    *,
    guild_id: int,
    ticket_id: int,
    sellapp_message_id: int,
    discord_message_ids: Sequence[int],
    now: float,
) -> bool:
    inserted = await _changed(
        db,
        "INSERT INTO messages (guild_id, sellapp_message_id, ticket_id, direction, state,"
        " discord_message_ids, created_at, posted_at)"
        " VALUES (?, ?, ?, 'outbound', 'posted', ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (guild_id, sellapp_message_id, ticket_id, json.dumps(list(discord_message_ids)), now, now),
    )
    return inserted > 0
