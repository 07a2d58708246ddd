"""The ``push_channels`` table: each guild's webhook channel at SellApp, and its token.

The token is the unguessable part of the guild's webhook URL: never log it.
"""

from __future__ import annotations

from bot.store._db import Database, Row, changed, one, require
from bot.store.records import PushChannel


def _push_channel(row: Row) -> PushChannel:
    return PushChannel(**{name: row[name] for name in PushChannel.__dataclass_fields__})


class PushTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, guild_id: int) -> PushChannel | None:
        row = await self._db.read_one("SELECT * FROM push_channels WHERE guild_id = ?", (guild_id,))
        return _push_channel(row) if row else None

    async def all(self) -> list[PushChannel]:
        rows = await self._db.read_all("SELECT * FROM push_channels ORDER BY guild_id")
        return [_push_channel(r) for r in rows]

    async def ensure_token(self, guild_id: int, token: str, *, now: float) -> PushChannel:
        """The guild's push row; ``token`` is stored only if the guild has none yet."""
        async with self._db.transaction() as db:
            await db.execute(
                "INSERT INTO push_channels (guild_id, token, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (guild_id) DO NOTHING",
                (guild_id, token, now),
            )
            row = await one(db, "SELECT * FROM push_channels WHERE guild_id = ?", (guild_id,))
        return _push_channel(require(row, "push channel"))

    async def record_registered(
        self, guild_id: int, *, url: str, channel_id: str, now: float
    ) -> None:
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE push_channels SET url = ?, channel_id = ?, last_error = NULL,"
                " updated_at = ? WHERE guild_id = ?",
                (url, channel_id, now, guild_id),
            )

    async def record_failure(self, guild_id: int, *, error: str, now: float) -> None:
        """``error`` in plain words, safe to show staff."""
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE push_channels SET channel_id = NULL, last_error = ?, updated_at = ?"
                " WHERE guild_id = ?",
                (error, now, guild_id),
            )

    async def set_secret(self, guild_id: int, secret_sealed: str | None, *, now: float) -> None:
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE push_channels SET secret_sealed = ?, updated_at = ? WHERE guild_id = ?",
                (secret_sealed, now, guild_id),
            )

    async def delete(self, guild_id: int) -> bool:
        async with self._db.transaction() as db:
            return (
                await changed(db, "DELETE FROM push_channels WHERE guild_id = ?", (guild_id,))
            ) > 0
