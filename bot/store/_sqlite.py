"""The SQLite kind of :class:`bot.store._db.Database` (the default): one file.

One aiosqlite connection per :class:`SqliteDatabase`, shared by every guild in the process.
Every operation takes the database's :class:`asyncio.Lock`: writes so that one
``BEGIN IMMEDIATE ... COMMIT`` never interleaves with another on the shared
connection, reads so that they never see another coroutine's uncommitted half.
Other processes on the same file are kept apart by SQLite's own locking
(``BEGIN IMMEDIATE`` + ``busy_timeout``).

Connection settings:

- ``journal_mode=WAL``: readers never block the writer, and a crash mid-write leaves
  the database at the last commit.
- ``synchronous=FULL`` (not ``NORMAL``): with WAL, ``NORMAL`` survives a crash of the
  *process* but may lose the last commits on power loss or an OS crash. Those commits
  are exactly the intents that guard side effects (``outbox.mark_sending`` before a POST
  to SellApp, ``messages.record_post_intent`` before a Discord post); losing one after
  the side effect happened would resend a reply. The bridge writes a few rows a second
  at most, so the extra fsync per commit costs nothing noticeable.
- ``foreign_keys=ON``, ``busy_timeout=5000`` ms.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import aiosqlite

from bot.errors import DatabaseBusy, DatabaseUnusable
from bot.store._db import MEMORY, Connection, Database, Params, Row
from bot.store._schema import statements

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS: Final = 5000


class SqliteConnection(Connection):
    """The shared aiosqlite connection, inside a transaction."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    async def execute(self, sql: str, params: Params = ()) -> None:
        await self._connection.execute(sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        async with self._connection.execute(sql, params) as cursor:
            row: sqlite3.Row | None = await cursor.fetchone()
            return row

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._connection.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def changed(self, sql: str, params: Params = ()) -> int:
        async with self._connection.execute(sql, params) as cursor:
            return cursor.rowcount

    async def run_script(self, script: str) -> None:
        # One statement at a time: ``executescript`` would commit our transaction.
        for statement in statements(script):
            await self._connection.execute(statement)


class SqliteDatabase(Database):
    """The shared connection to one SQLite file."""

    backend = "sqlite"
    errors = (sqlite3.Error,)

    def __init__(self, connection: aiosqlite.Connection, path: str) -> None:
        self._connection = connection
        self._inside = SqliteConnection(connection)
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, path: Path | str) -> SqliteDatabase:
        """Open (creating the folder and file if needed) with the settings above.

        A path that can't be used raises :class:`DatabaseUnusable`, one line naming the
        path and what is wrong (not a raw ``OSError`` / ``sqlite3`` traceback)."""
        target = str(path)
        if target != MEMORY:
            _prepare_folder(target)
        try:
            return await cls._connect(target)
        except (sqlite3.Error, OSError) as exc:
            if isinstance(exc, sqlite3.Error) and _busy(exc):  # not a setting to fix
                raise DatabaseBusy(f"the database {target} is busy: {exc}") from None
            raise DatabaseUnusable(
                f"cannot open the database {target}: {_sqlite_words(exc, target)}"
            ) from None

    @classmethod
    async def _connect(cls, target: str) -> SqliteDatabase:
        connection = await aiosqlite.connect(
            target, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
        )
        try:
            connection.row_factory = sqlite3.Row
            await connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
            await _enable_wal(connection)
            await connection.execute("PRAGMA synchronous = FULL")
            await connection.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            await connection.close()
            raise
        return cls(connection, target)

    async def close(self) -> None:
        async with self._lock:
            await self._connection.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
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
                await self._connection.execute("BEGIN IMMEDIATE")
                yield self._inside
                await self._connection.execute("COMMIT")
            except BaseException:
                try:
                    await self._connection.execute("ROLLBACK")
                except sqlite3.OperationalError as exc:
                    if "no transaction is active" not in str(exc):
                        log.exception("rollback failed")
                raise

    async def read_one(self, sql: str, params: Params = ()) -> Row | None:
        async with self._lock:
            return await self._inside.fetch_one(sql, params)

    async def read_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._lock:
            return await self._inside.fetch_all(sql, params)

    async def schema_version(self, connection: Connection | None = None) -> int:
        reader = connection or self._inside
        if connection is None:
            async with self._lock:
                row = await reader.fetch_one("PRAGMA user_version")
        else:
            row = await reader.fetch_one("PRAGMA user_version")
        return int(row[0]) if row is not None else 0

    async def set_schema_version(self, connection: Connection, version: int) -> None:
        await connection.execute(f"PRAGMA user_version = {version:d}")


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


def _prepare_folder(target: str) -> None:
    """Create the database's folder if needed (once, at open: blocking is fine)."""
    folder = Path(target).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseUnusable(
            f"cannot create the database folder {folder}: {_os_words(exc)}"
        ) from None
    if Path(target).is_dir():
        raise DatabaseUnusable(f"cannot open the database {target}: it is a folder")


def _busy(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


def _os_words(exc: OSError) -> str:
    """``Read-only file system`` -> ``read-only file system``: the cause, in a sentence."""
    words = exc.strerror or type(exc).__name__
    return words[:1].lower() + words[1:]


def _sqlite_words(exc: sqlite3.Error | OSError, target: str) -> str:
    """Why SQLite could not open or write ``target``, in plain words."""
    if isinstance(exc, OSError):
        return _os_words(exc)
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_NOTADB:
        return "the file is not an SQLite database"
    if code == sqlite3.SQLITE_READONLY:
        return "it is read-only"
    folder = Path(target).parent
    if code == sqlite3.SQLITE_CANTOPEN and not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} can't be written"
    return str(exc) or type(exc).__name__
