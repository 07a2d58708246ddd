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

import errno
import fcntl
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Final

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


class LocalClaims(GuildClaims):
    """Claims within this process only: for a ``:memory:`` store, which no other process
    can open anyway."""

    def __init__(self) -> None:
        self._held: frozenset[int] = frozenset()

    async def try_claim(self, guild_id: int) -> bool:
        self._held |= {guild_id}
        return True

    async def release(self, guild_id: int) -> None:
        self._held -= {guild_id}

    def held(self) -> frozenset[int]:
        return self._held

    async def close(self) -> None:
        self._held = frozenset()


_OFFSET_MASK: Final = (1 << 63) - 1
"""Byte offsets are signed 64-bit: a guild id (a snowflake, today well under 2**63) is
its own offset, so no two guilds ever share a byte."""


def claim_offset(guild_id: int) -> int:
    """The byte of the claims file that stands for ``guild_id``."""
    return guild_id & _OFFSET_MASK


class FileClaims(GuildClaims):
    """A POSIX byte-range lock per guild on one file beside the SQLite database.

    ``fcntl.lockf(fd, LOCK_EX | LOCK_NB, 1, offset)`` locks one byte (the guild's, see
    :func:`claim_offset`; a lock past the end of the file is allowed and the file stays
    empty). The kernel drops every lock of a process when it ends, however it ends
    (``kill -9`` included), so a dead process never keeps a guild.

    The file descriptor stays open for the life of the process, on purpose: POSIX
    drops *all* of a process's locks on a file when *any* descriptor of that file is
    closed by that process. So nothing else in this process may open and close the
    claims file (one :class:`FileClaims` per file per process), and :meth:`close` is the
    only place it is closed. Locks are per process, not per descriptor: a second
    :class:`FileClaims` on the same file in the *same* process would not be kept out.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._held: frozenset[int] = frozenset()
        """Replaced (never changed in place) on each claim or release: held() is asked
        on every step of work, so it hands this out as it is."""

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    async def try_claim(self, guild_id: int) -> bool:
        if guild_id in self._held:
            return True
        try:
            fcntl.lockf(
                self._descriptor(), fcntl.LOCK_EX | fcntl.LOCK_NB, 1, claim_offset(guild_id)
            )
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):  # another process holds it
                return False
            raise
        self._held |= {guild_id}
        return True

    async def release(self, guild_id: int) -> None:
        if guild_id not in self._held or self._fd is None:
            return
        fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, claim_offset(guild_id))
        self._held -= {guild_id}

    def held(self) -> frozenset[int]:
        return self._held

    async def close(self) -> None:
        self._held = frozenset()
        if self._fd is not None:
            os.close(self._fd)  # drops every lock this process holds on the file
            self._fd = None


def claims_path(database_path: str | Path) -> Path:
    """The claims file of an SQLite database: ``<DATABASE_PATH>.claims``."""
    return Path(f"{database_path}.claims")


def make_claims(db: Database) -> GuildClaims:
    """The claims kind for ``db``'s backend: PostgreSQL's advisory locks
    (:class:`bot.store.pgclaims.PgClaims`, on a connection of its own), a
    :class:`FileClaims` beside an SQLite file, :class:`LocalClaims` for ``:memory:``."""
    if db.backend == "postgres":
        from bot.store._postgres import PostgresDatabase  # noqa: PLC0415 (asyncpg: only if used)
        from bot.store.pgclaims import PgClaims  # noqa: PLC0415

        assert isinstance(db, PostgresDatabase)
        return PgClaims(db.url)
    if db.path == ":memory:":
        return LocalClaims()
    return FileClaims(claims_path(db.path))
