"""Triage tables (issue 16): ``triage_settings``, ``ticket_triage``, ``triage_pings``.

Claims are decided here, in one transaction: a claim takes a ticket only while it has no
owner (``UPDATE ... WHERE owner_id IS NULL``), so of two staff clicking at once exactly
one becomes the owner and the other is told who. Every ping is a ``triage_pings`` row
committed *before* the post (:meth:`TriageTable.begin_ping` answers whether this caller
may send it) and marked sent after: a ping is sent at most once, across restarts.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from typing import Literal

from bot.store._db import Database, Row, changed, one
from bot.triage.hours import SupportHours, days_words, parse_clock, parse_days
from bot.triage.waiting import Waiting, WaitingFor

PingKind = Literal["alert", "owner", "reminder", "digest"]


@dataclass(frozen=True, slots=True)
class TriageSettings:
    guild_id: int
    notify_role_id: int | None = None
    hours: SupportHours | None = None
    sla_minutes: int | None = None
    digest_channel_id: int | None = None
    digest_hour: int | None = None

    @property
    def timezone(self) -> str:
        return self.hours.timezone if self.hours is not None else "UTC"


@dataclass(frozen=True, slots=True)
class TicketTriage:
    guild_id: int
    ticket_id: int
    owner_id: int | None
    claimed_at: float | None
    waiting: Waiting | None
    shown: str | None = None
    """What the thread shows of the owner and waiting state (see :attr:`showing`)."""

    @property
    def showing(self) -> str:
        """What the thread should show: changes whenever the owner or waiting state does."""
        waiting = self.waiting.waiting_for.value if self.waiting is not None else ""
        return f"{self.owner_id or ''}|{waiting}"


@dataclass(frozen=True, slots=True)
class Ping:
    """A ping as recorded before it is posted: where, what, and whom it may ping."""

    channel_id: int
    content: str
    user_id: int | None = None
    role_id: int | None = None


@dataclass(frozen=True, slots=True)
class PendingPing:
    kind: PingKind
    subject: str
    ping: Ping


@dataclass(frozen=True, slots=True)
class ClaimResult:
    owner_id: int
    """Who owns the ticket now."""
    taken: bool
    """Whether this claim made them the owner (False: someone else already was)."""


def _settings(guild_id: int, row: Row | None) -> TriageSettings:
    if row is None:
        return TriageSettings(guild_id)
    hours = None
    if row["hours_days"] is not None:
        hours = SupportHours(
            parse_days(row["hours_days"]),
            parse_clock(row["hours_start"], "start"),
            parse_clock(row["hours_end"], "end"),
            row["timezone"],
        )
    return TriageSettings(
        guild_id,
        notify_role_id=row["notify_role_id"],
        hours=hours,
        sla_minutes=row["sla_minutes"],
        digest_channel_id=row["digest_channel_id"],
        digest_hour=row["digest_hour"],
    )


def _triage(row: Row) -> TicketTriage:
    waiting = None
    if row["waiting_for"] is not None and row["waiting_since"] is not None:
        waiting = Waiting(WaitingFor(row["waiting_for"]), float(row["waiting_since"]))
    return TicketTriage(
        row["guild_id"], row["ticket_id"], row["owner_id"], row["claimed_at"], waiting, row["shown"]
    )


_SETTING_COLUMNS = frozenset(
    {
        "notify_role_id",
        "hours_days",
        "hours_start",
        "hours_end",
        "timezone",
        "sla_minutes",
        "digest_channel_id",
        "digest_hour",
    }
)


class TriageTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- settings ----------------------------------------------------------------------

    async def settings(self, guild_id: int) -> TriageSettings:
        row = await self._db.read_one(
            "SELECT * FROM triage_settings WHERE guild_id = ?", (guild_id,)
        )
        return _settings(guild_id, row)

    async def all_settings(self) -> list[TriageSettings]:
        rows = await self._db.read_all("SELECT * FROM triage_settings ORDER BY guild_id")
        return [_settings(r["guild_id"], r) for r in rows]

    async def _set(self, guild_id: int, now: float | None, **values: object) -> None:
        assert set(values) <= _SETTING_COLUMNS
        names = list(values)
        sets = ", ".join(f"{n} = excluded.{n}" for n in names)
        async with self._db.transaction() as db:
            await db.execute(
                f"INSERT INTO triage_settings (guild_id, {', '.join(names)}, updated_at)"  # noqa: S608
                f" VALUES (?, {', '.join('?' for _ in names)}, ?)"
                f" ON CONFLICT (guild_id) DO UPDATE SET {sets}, updated_at = excluded.updated_at",
                (guild_id, *values.values(), _time.time() if now is None else now),
            )

    async def set_notify_role(self, guild_id: int, role_id: int | None) -> None:
        await self._set(guild_id, None, notify_role_id=role_id)

    async def set_hours(self, guild_id: int, hours: SupportHours | None) -> None:
        if hours is None:
            await self._set(
                guild_id, None, hours_days=None, hours_start=None, hours_end=None, timezone=None
            )
            return
        await self._set(
            guild_id,
            None,
            hours_days=days_words(hours.days),
            hours_start=f"{hours.start:%H:%M}",
            hours_end=f"{hours.end:%H:%M}",
            timezone=hours.timezone,
        )

    async def set_sla(self, guild_id: int, minutes: int | None) -> None:
        await self._set(guild_id, None, sla_minutes=minutes)

    async def set_digest(self, guild_id: int, channel_id: int | None, hour: int | None) -> None:
        await self._set(guild_id, None, digest_channel_id=channel_id, digest_hour=hour)

    # --- per ticket --------------------------------------------------------------------

    async def get(self, guild_id: int, ticket_id: int) -> TicketTriage | None:
        row = await self._db.read_one(
            "SELECT * FROM ticket_triage WHERE guild_id = ? AND ticket_id = ?",
            (guild_id, ticket_id),
        )
        return _triage(row) if row else None

    async def all(self, guild_id: int) -> list[TicketTriage]:
        rows = await self._db.read_all(
            "SELECT * FROM ticket_triage WHERE guild_id = ? ORDER BY ticket_id", (guild_id,)
        )
        return [_triage(r) for r in rows]

    async def claim(
        self, guild_id: int, ticket_id: int, member_id: int, *, now: float
    ) -> ClaimResult:
        """Make ``member_id`` the owner if the ticket has none; either way, who owns it."""
        async with self._db.transaction() as db:
            await db.execute(
                "INSERT INTO ticket_triage (guild_id, ticket_id) VALUES (?, ?)"
                " ON CONFLICT DO NOTHING",
                (guild_id, ticket_id),
            )
            taken = await changed(
                db,
                "UPDATE ticket_triage SET owner_id = ?, claimed_at = ?"
                " WHERE guild_id = ? AND ticket_id = ? AND owner_id IS NULL",
                (member_id, now, guild_id, ticket_id),
            )
            row = await one(
                db,
                "SELECT owner_id FROM ticket_triage WHERE guild_id = ? AND ticket_id = ?",
                (guild_id, ticket_id),
            )
        assert row is not None
        return ClaimResult(owner_id=int(row["owner_id"]), taken=taken > 0)

    async def set_owner(
        self, guild_id: int, ticket_id: int, member_id: int | None, *, now: float
    ) -> int | None:
        """Unclaim (``None``) or transfer; returns the previous owner."""
        async with self._db.transaction() as db:
            await db.execute(
                "INSERT INTO ticket_triage (guild_id, ticket_id) VALUES (?, ?)"
                " ON CONFLICT DO NOTHING",
                (guild_id, ticket_id),
            )
            row = await one(
                db,
                "SELECT owner_id FROM ticket_triage WHERE guild_id = ? AND ticket_id = ?",
                (guild_id, ticket_id),
            )
            await db.execute(
                "UPDATE ticket_triage SET owner_id = ?, claimed_at = ?"
                " WHERE guild_id = ? AND ticket_id = ?",
                (member_id, None if member_id is None else now, guild_id, ticket_id),
            )
        return None if row is None else row["owner_id"]

    async def set_waiting(self, guild_id: int, ticket_id: int, waiting: Waiting | None) -> None:
        async with self._db.transaction() as db:
            await db.execute(
                "INSERT INTO ticket_triage (guild_id, ticket_id, waiting_for, waiting_since)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, ticket_id) DO UPDATE SET"
                " waiting_for = excluded.waiting_for, waiting_since = excluded.waiting_since",
                (
                    guild_id,
                    ticket_id,
                    None if waiting is None else waiting.waiting_for.value,
                    None if waiting is None else waiting.since,
                ),
            )

    async def ensure_rows(self, guild_id: int) -> None:
        """A triage row (unclaimed, no waiting state yet) for each ticket with a thread."""
        async with self._db.transaction() as db:
            await db.execute(
                "INSERT INTO ticket_triage (guild_id, ticket_id) SELECT guild_id, ticket_id"
                " FROM tickets WHERE guild_id = ? AND thread_id IS NOT NULL"
                " ON CONFLICT DO NOTHING",
                (guild_id,),
            )

    async def unshown(self, guild_id: int) -> list[TicketTriage]:
        """Tickets whose thread does not yet show their owner and waiting state."""
        return [t for t in await self.all(guild_id) if t.shown != t.showing]

    async def mark_shown(self, guild_id: int, ticket_id: int, shown: str) -> None:
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE ticket_triage SET shown = ? WHERE guild_id = ? AND ticket_id = ?",
                (shown, guild_id, ticket_id),
            )

    # --- pings -------------------------------------------------------------------------

    async def begin_ping(
        self, guild_id: int, kind: PingKind, subject: str, ping: Ping, *, now: float
    ) -> bool:
        """Record the intent to send this ping; False if it was recorded before (then this
        caller must not send it: it was sent, or a crash left it for :meth:`pending`)."""
        async with self._db.transaction() as db:
            count = await changed(
                db,
                "INSERT INTO triage_pings (guild_id, kind, subject, state, channel_id, content,"
                " ping_user, ping_role, created_at) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (
                    guild_id,
                    kind,
                    subject,
                    ping.channel_id,
                    ping.content,
                    ping.user_id,
                    ping.role_id,
                    now,
                ),
            )
        return count > 0

    async def pending(self, guild_id: int, *, before: float) -> list[PendingPing]:
        """Pings recorded before ``before`` whose post was never confirmed (a crash)."""
        rows = await self._db.read_all(
            "SELECT * FROM triage_pings WHERE guild_id = ? AND state = 'pending'"
            " AND created_at < ? ORDER BY created_at",
            (guild_id, before),
        )
        return [
            PendingPing(
                r["kind"],
                r["subject"],
                Ping(r["channel_id"], r["content"], r["ping_user"], r["ping_role"]),
            )
            for r in rows
        ]

    async def ping_sent(
        self, guild_id: int, kind: PingKind, subject: str, message_id: int, *, now: float
    ) -> None:
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE triage_pings SET state = 'sent', discord_message_id = ?, sent_at = ?"
                " WHERE guild_id = ? AND kind = ? AND subject = ?",
                (message_id, now, guild_id, kind, subject),
            )

    async def ping_known(self, guild_id: int, kind: PingKind, subject: str) -> bool:
        row = await self._db.read_one(
            "SELECT 1 FROM triage_pings WHERE guild_id = ? AND kind = ? AND subject = ?",
            (guild_id, kind, subject),
        )
        return row is not None

    async def pings_between(self, guild_id: int, kind: PingKind, start: float, end: float) -> int:
        """How many pings of ``kind`` were sent in ``[start, end)``."""
        row = await self._db.read_one(
            "SELECT count(*) FROM triage_pings WHERE guild_id = ? AND kind = ?"
            " AND state = 'sent' AND sent_at >= ? AND sent_at < ?",
            (guild_id, kind, start, end),
        )
        return 0 if row is None else int(row[0])

    async def reminders_sent(self, guild_id: int, ticket_id: int, since: float) -> frozenset[int]:
        """Levels of the reminders recorded for this ticket's waiting period."""
        prefix = f"{ticket_id}:{since!r}:"
        rows = await self._db.read_all(
            "SELECT subject FROM triage_pings WHERE guild_id = ? AND kind = 'reminder'"
            " AND subject LIKE ? || '%'",
            (guild_id, prefix),
        )
        return frozenset(int(r["subject"][len(prefix) :]) for r in rows)


def reminder_subject(ticket_id: int, since: float, level: int) -> str:
    return f"{ticket_id}:{since!r}:{level}"
