"""Reads for ``/sellapp stats``: a guild's tickets, their closes and reopens, its replies."""

from __future__ import annotations

from bot.store._db import Database
from bot.store.records import ReplyTimes, StatsHistory, TicketEvent, TicketTimes


class StatsTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def history(self, guild_id: int) -> StatsHistory:
        tickets = await self._db.read_all(
            "SELECT ticket_id, opened_at, created_at FROM tickets WHERE guild_id = ?"
            " ORDER BY ticket_id",
            (guild_id,),
        )
        events = await self._db.read_all(
            "SELECT ticket_id, kind, at FROM ticket_events WHERE guild_id = ? ORDER BY at",
            (guild_id,),
        )
        replies = await self._db.read_all(
            "SELECT ticket_id, author_id, coalesce(typed_at, created_at) AS at, state"
            " FROM outbox WHERE guild_id = ? ORDER BY at",
            (guild_id,),
        )
        starts = [float(r["created_at"]) for r in tickets] + [float(r["at"]) for r in replies]
        return StatsHistory(
            records_start=min(starts) if starts else None,
            tickets=tuple(TicketTimes(r[0], r[1], float(r[2])) for r in tickets),
            events=tuple(TicketEvent(r[0], r[1], float(r[2])) for r in events),
            replies=tuple(ReplyTimes(r[0], r[1], float(r[2]), r[3]) for r in replies),
        )
