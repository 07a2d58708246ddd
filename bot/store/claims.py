"""Guild claims: at most one process works on a guild at a time.

A process polls a guild's store, relays its replies, runs its order actions and answers
its commands only while it holds the guild's claim. A claim is held until it is released
or the process ends (killed included): the operating system or the database server drops
it then, so a dead process never keeps a guild from the process that runs its shard next.

Each backend has its own kind (the store picks it at open):

- SQLite: a byte-range lock per guild on a file beside the database (``fcntl``), so
  several processes on one machine sharing one SQLite file are kept apart too;
- PostgreSQL: a session advisory lock per guild, held on one connection of its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.store._db import Database


class GuildClaims(ABC):
    """The guilds this process may work on now."""

    @abstractmethod
    async def try_claim(self, guild_id: int) -> bool:
        """Claim ``guild_id`` if no other process holds it. True if this process holds it
        now (already holding it counts); False if another process does."""

    @abstractmethod
    async def release(self, guild_id: int) -> None:
        """Give the guild up (nothing happens if it was not held)."""

    @abstractmethod
    def held(self) -> frozenset[int]:
        """The guilds held now. Empty once the claims may have been lost (for example the
        database session that held them ended): work on them must stop at once."""

    @abstractmethod
    async def close(self) -> None:
        """Release every claim (at shutdown)."""


def make_claims(db: Database) -> GuildClaims:
    """The claims kind for ``db``'s backend (PostgreSQL: :class:`bot.store.pgclaims.PgClaims`
    on a connection of its own)."""
    if db.backend == "postgres":
        from bot.store._postgres import PostgresDatabase  # noqa: PLC0415 (asyncpg: only if used)
        from bot.store.pgclaims import PgClaims  # noqa: PLC0415

        assert isinstance(db, PostgresDatabase)
        return PgClaims(db.url)
    raise NotImplementedError("guild claims on SQLite: FileClaims (branch shards)")
