"""The ``ticket_problems`` table: what keeps going wrong with one ticket of a guild.

Kept so each problem is logged once (across restarts too), shown in ``/sellapp status``,
counted by a metric, and a failing step backs off (see :mod:`bot.inbound.problems`).
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.store._db import Database, Row
from bot.store.records import TicketProblem


def _problem(row: Row) -> TicketProblem:
    return TicketProblem(**{name: row[name] for name in TicketProblem.__dataclass_fields__})


class ProblemTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self, guild_id: int) -> list[TicketProblem]:
        """The guild's recorded per-ticket problems, oldest first."""
        rows = await self._db.read_all(
            "SELECT * FROM ticket_problems WHERE guild_id = ? "
            "ORDER BY first_seen_at, ticket_id, kind",
            (guild_id,),
        )
        return [_problem(r) for r in rows]

    async def save(
        self,
        guild_id: int,
        *,
        upsert: Iterable[TicketProblem] = (),
        clear: Iterable[TicketProblem] = (),
    ) -> None:
        """Record problems seen (new or again) and drop cleared ones, in one commit."""
        async with self._db.transaction() as db:
            for p in upsert:
                await db.execute(
                    "INSERT INTO ticket_problems (guild_id, ticket_id, kind, detail,"
                    " first_seen_at, last_seen_at, repeats, retry_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (guild_id, ticket_id, kind) DO UPDATE SET"
                    " detail = excluded.detail, last_seen_at = excluded.last_seen_at,"
                    " repeats = excluded.repeats, retry_at = excluded.retry_at",
                    (
                        guild_id,
                        p.ticket_id,
                        p.kind,
                        p.detail,
                        p.first_seen_at,
                        p.last_seen_at,
                        p.repeats,
                        p.retry_at,
                    ),
                )
            for p in clear:
                await db.execute(
                    "DELETE FROM ticket_problems WHERE guild_id = ? AND ticket_id = ? AND kind = ?",
                    (guild_id, p.ticket_id, p.kind),
                )

    async def counts(self, guild_id: int) -> dict[str, int]:
        """kind -> how many of the guild's tickets have that problem now."""
        rows = await self._db.read_all(
            "SELECT kind, count(*) AS n FROM ticket_problems WHERE guild_id = ? GROUP BY kind",
            (guild_id,),
        )
        return {r["kind"]: r["n"] for r in rows}
