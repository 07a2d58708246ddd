"""The ``tickets`` table: each SellApp ticket, its thread and how far it was read."""

from __future__ import annotations

from typing import Any

from bot.store._db import Connection, Database, Row, changed, one, require
from bot.store.records import Ticket, TicketCounts
from bot.store.state import first_link_key


def _ticket(row: Row) -> Ticket:
    return Ticket(**{name: row[name] for name in Ticket.__dataclass_fields__})


async def forget_guild_tickets(db: Connection, guild_id: int) -> None:
    """Inside a transaction: drop a guild's tickets and everything hanging off them."""
    await db.execute(
        "DELETE FROM thread_progress WHERE thread_id IN "
        "(SELECT thread_id FROM tickets WHERE guild_id = ?)",
        (guild_id,),
    )
    # Order cards too: the next store's ticket numbers mean other tickets. Order actions
    # stay: one may still be in flight at SellApp, and its row is what finishes it once.
    tables = ("outbox", "messages", "order_cards", "tickets", "ticket_problems", "triage_pings")
    for table in tables:
        await db.execute(f"DELETE FROM {table} WHERE guild_id = ?", (guild_id,))  # noqa: S608
    await db.execute("DELETE FROM meta WHERE key = ?", (first_link_key(guild_id),))


class TicketTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, guild_id: int, ticket_id: int) -> Ticket | None:
        row = await self._db.read_one(
            "SELECT * FROM tickets WHERE guild_id = ? AND ticket_id = ?", (guild_id, ticket_id)
        )
        return _ticket(row) if row else None

    async def by_thread(self, thread_id: int) -> Ticket | None:
        row = await self._db.read_one("SELECT * FROM tickets WHERE thread_id = ?", (thread_id,))
        return _ticket(row) if row else None

    async def all(self, guild_id: int) -> list[Ticket]:
        rows = await self._db.read_all(
            "SELECT * FROM tickets WHERE guild_id = ? ORDER BY ticket_id", (guild_id,)
        )
        return [_ticket(r) for r in rows]

    async def count(self, guild_id: int) -> TicketCounts:
        """``(tracked, open)``; open means any status other than CLOSED."""
        row = await self._db.read_one(
            "SELECT count(*), count(*) FILTER (WHERE upper(status) <> 'CLOSED') "
            "FROM tickets WHERE guild_id = ?",
            (guild_id,),
        )
        tracked, open_ = require(row, "count")
        return TicketCounts(tracked=int(tracked), open=int(open_))

    async def make_due(self, guild_id: int, ticket_id: int) -> None:
        """A hint came for this ticket: the next poll reads it, even after a crash."""
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE tickets SET next_check_at = 0 WHERE guild_id = ? AND ticket_id = ?",
                (guild_id, ticket_id),
            )

    async def threads_without_position(self) -> list[Ticket]:
        """Open tickets whose thread has no last handled message yet: mapped since the
        last catch-up (e.g. found again by the poller on an empty or restored database)."""
        rows = await self._db.read_all(
            "SELECT * FROM tickets AS t WHERE t.thread_id IS NOT NULL"
            " AND upper(t.status) != 'CLOSED' AND NOT EXISTS"
            " (SELECT 1 FROM thread_progress AS p WHERE p.thread_id = t.thread_id)"
            " ORDER BY t.guild_id, t.ticket_id"
        )
        return [_ticket(r) for r in rows]

    async def record(
        self,
        guild_id: int,
        ticket_id: int,
        *,
        status: str,
        title: str,
        sellapp_updated_at: str | None,
        now: float,
        next_check_at: float | None = None,
        opened_at: float | None = None,
    ) -> Ticket:
        """Insert a ticket or update its listing fields; sync progress is kept.

        A new ticket is due at ``next_check_at`` (default ``now``); an existing one keeps
        its schedule unless ``next_check_at`` is given. ``opened_at``: SellApp's created_at
        (for stats), kept once known. Closes and reopens are recorded by triggers
        (migration 0008) in ``ticket_events``.
        """
        async with self._db.transaction() as db:
            row = await one(
                db,
                "INSERT INTO tickets (guild_id, ticket_id, status, title, sellapp_updated_at,"
                " next_check_at, created_at, updated_at, opened_at)"
                " VALUES (:guild, :ticket, :status, :title, :updated,"
                " coalesce(CAST(:next AS DOUBLE PRECISION), :now),"
                " :now, :now, :opened)"
                " ON CONFLICT (guild_id, ticket_id) DO UPDATE SET status = excluded.status,"
                " title = excluded.title, sellapp_updated_at = excluded.sellapp_updated_at,"
                " next_check_at = coalesce(CAST(:next AS DOUBLE PRECISION), tickets.next_check_at),"
                " opened_at = coalesce(tickets.opened_at, :opened),"
                " updated_at = excluded.updated_at RETURNING *",
                {
                    "guild": guild_id,
                    "ticket": ticket_id,
                    "status": status,
                    "title": title,
                    "updated": sellapp_updated_at,
                    "next": next_check_at,
                    "now": now,
                    "opened": opened_at,
                },
            )
        return _ticket(require(row, "ticket"))

    async def _update(self, guild_id: int, ticket_id: int, sets: str, *values: Any) -> None:
        async with self._db.transaction() as db:
            count = await changed(
                db,
                f"UPDATE tickets SET {sets} WHERE guild_id = ? AND ticket_id = ?",  # noqa: S608
                (*values, guild_id, ticket_id),
            )
        if not count:
            raise LookupError(f"no such ticket: {guild_id}/{ticket_id}")

    async def set_thread(
        self, guild_id: int, ticket_id: int, thread_id: int, *, now: float
    ) -> None:
        """Give the ticket its thread, replacing any previous one (e.g. one that was deleted)."""
        await self._update(guild_id, ticket_id, "thread_id = ?, updated_at = ?", thread_id, now)

    async def reset_thread(self, guild_id: int, ticket_id: int, *, now: float) -> None:
        """The ticket's thread is gone: start over so a new thread gets the whole history.

        In one transaction: no thread, progress back to the start, due now, and the
        ticket's *inbound* message rows forgotten so they are posted again. Outbound rows
        (our own replies) stay, so they are never taken for new store messages; they turn
        ``pending`` so the new thread shows them too (as replies sent from Discord).
        """
        async with self._db.transaction() as db:
            count = await changed(
                db,
                "UPDATE tickets SET thread_id = NULL, last_message_id = 0, messages_page = 1,"
                " quiet_checks = 0, next_check_at = ?, updated_at = ?"
                " WHERE guild_id = ? AND ticket_id = ?",
                (now, now, guild_id, ticket_id),
            )
            if not count:
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
        sets = "next_check_at = ?, quiet_checks = ?, updated_at = ?"
        values: tuple[Any, ...] = (next_check_at, quiet_checks, now)
        if listing is not None:
            sets += ", status = ?, title = ?, sellapp_updated_at = ?"
            values += listing
        await self._update(guild_id, ticket_id, sets, *values)
