"""The ``guild_links`` table: which guild is linked to which store, with what settings."""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import Enum
from typing import Final

from bot.store._db import Database, Row, changed, ids, one, require
from bot.store.records import GuildLink
from bot.store.tickets import forget_guild_tickets


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET
"""Default of :meth:`LinkTable.upsert`'s fields: leave this column as it is."""


def _link(row: Row) -> GuildLink:
    return GuildLink(
        guild_id=row["guild_id"],
        store_slug=row["store_slug"],
        api_key_sealed=row["api_key_sealed"],
        channel_id=row["channel_id"],
        staff_role_ids=ids(row["staff_role_ids"]),
        poll_interval=row["poll_interval"],
        paused=bool(row["paused"]),
        note_prefix=row["note_prefix"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class LinkTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, guild_id: int) -> GuildLink | None:
        row = await self._db.read_one("SELECT * FROM guild_links WHERE guild_id = ?", (guild_id,))
        return _link(row) if row else None

    async def all(self) -> list[GuildLink]:
        return [_link(r) for r in await self._db.read_all("SELECT * FROM guild_links ORDER BY 1")]

    async def upsert(
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
        async with self._db.transaction() as db:
            row = await one(db, sql, (guild_id, now, now, *given.values()))
        return _link(require(row, "guild link"))

    async def connect(
        self,
        guild_id: int,
        *,
        now: float,
        store_slug: str | None,
        api_key_sealed: str,
        forget_tickets: bool,
    ) -> GuildLink:
        """Save a guild's store and sealed key; with ``forget_tickets`` first drop what it
        knew of its previous store's tickets. One transaction: both happen, or neither."""
        async with self._db.transaction() as db:
            if forget_tickets:
                await forget_guild_tickets(db, guild_id)
            row = await one(
                db,
                "INSERT INTO guild_links (guild_id, store_slug, api_key_sealed, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET"
                " store_slug = excluded.store_slug, api_key_sealed = excluded.api_key_sealed,"
                " updated_at = excluded.updated_at RETURNING *",
                (guild_id, store_slug, api_key_sealed, now, now),
            )
        return _link(require(row, "guild link"))

    async def delete(self, guild_id: int, *, forget_tickets: bool) -> bool:
        """Unlink a guild; with ``forget_tickets`` also drop its tickets, messages and outbox,
        in the same transaction."""
        async with self._db.transaction() as db:
            existed = await changed(db, "DELETE FROM guild_links WHERE guild_id = ?", (guild_id,))
            await db.execute("DELETE FROM poll_state WHERE guild_id = ?", (guild_id,))
            await db.execute("DELETE FROM ticket_problems WHERE guild_id = ?", (guild_id,))
            if forget_tickets:
                await forget_guild_tickets(db, guild_id)
        return existed > 0
