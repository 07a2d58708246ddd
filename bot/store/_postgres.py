"""The PostgreSQL kind of :class:`bot.store._db.Database` (``DATABASE_URL``).

A small asyncpg pool per process. Transactions keep SQLite's rule that writes never
interleave, now across every process on the database: each write transaction first takes
one transaction-level advisory lock (:data:`WRITE_LOCK`), so a table that reads and
then writes inside its transaction sees exactly what SQLite's ``BEGIN IMMEDIATE`` gives
it, and migrations (one transaction each, version re-read under that lock) run once even
when several processes start at the same moment. The bridge writes a few rows a second
per thousand guilds: one writer at a time costs nothing noticeable. Reads take no lock
and see the last commit (READ COMMITTED), as WAL readers do on SQLite.

A process that goes silent while it holds the write lock (a frozen host, a cut network)
must not stop every other process's writes: the pool's sessions ask the server to end a
session idle inside a transaction after :data:`IDLE_IN_TRANSACTION_S` seconds (the
bridge's transactions take milliseconds) and a connection whose peer stopped answering
after about 11 s (TCP keepalives, ``tcp_user_timeout``); ending the session releases the
lock. Meanwhile a writer waits at most :data:`WRITE_LOCK_WAIT_S` for the lock and then
fails its step with :class:`~bot.errors.DatabaseBusy`, which the loops log and try again.

Statements are translated from the tables' SQLite dialect by :mod:`bot.store._dialect`.
The schema version is kept in a ``schema_version`` table (SQLite: ``PRAGMA user_version``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bot.errors import DatabaseBusy, DatabaseUnusable
from bot.store._db import Connection, Database, Params, Row, masked_url, url_secret_values
from bot.store._dialect import translate

log = logging.getLogger(__name__)

POOL_SIZE: Final = 4
CONNECT_TIMEOUT_S: Final = 10.0
STATEMENT_TIMEOUT_S: Final = 60.0
"""No statement waits longer: a hung server fails the step, which the loops log and try
again, instead of blocking it for ever."""
WRITE_LOCK_WAIT_S: Final = 5.0
"""How long a write waits for the write lock (``lock_timeout``) before it fails its step
with :class:`DatabaseBusy`; a migration waits up to :data:`SCHEMA_LOCK_WAIT_S`."""
SCHEMA_LOCK_WAIT_S: Final = 50.0
"""A migration may wait behind another process's migration (shorter than a statement)."""
IDLE_IN_TRANSACTION_S: Final = 10.0
"""The server ends a session idle inside a transaction this long (its locks with it)."""
COPY_IDLE_IN_TRANSACTION_S: Final = 600.0
"""The same for the long transactions of ``backup`` and ``migrate-to``, which read or
write an SQLite file between statements."""
SESSION_SETTINGS: Final = {
    "idle_in_transaction_session_timeout": f"{IDLE_IN_TRANSACTION_S * 1000:.0f}",
    "lock_timeout": f"{WRITE_LOCK_WAIT_S * 1000:.0f}",
    # A silent peer is dropped after 5 + 3 * 2 = 11 s, or 10 s of unacknowledged data.
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "10000",
    "application_name": "sellapp-bridge",
}
"""The pool's sessions (milliseconds where the server takes ms)."""
LOCK_NAMESPACE: Final = 0x5E11  # the first key of the bridge's two-key advisory locks
WRITE_LOCK: Final = 1  # the second key: one write transaction at a time
ERRORS: Final = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
"""What asyncpg raises when the database can't be used (OSError covers TimeoutError)."""
_SCHEMA_CHANGED: Final = (asyncpg.InvalidCachedStatementError, asyncpg.OutdatedSchemaCacheError)


def _rows_touched(status: str) -> int:
    """``UPDATE 3`` / ``DELETE 0`` / ``INSERT 0 1`` -> 3 / 0 / 1."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresConnection(Connection):
    def __init__(self, connection: PoolConnectionProxy[Any]) -> None:
        self._connection = connection

    async def execute(self, sql: str, params: Params = ()) -> None:
        text, args = translate(sql, params)
        await self._connection.execute(text, *args)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        text, args = translate(sql, params)
        row: Row | None = await self._connection.fetchrow(text, *args)
        return row

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        text, args = translate(sql, params)
        return list(await self._connection.fetch(text, *args))

    async def changed(self, sql: str, params: Params = ()) -> int:
        text, args = translate(sql, params)
        return _rows_touched(await self._connection.execute(text, *args))

    async def run_script(self, script: str) -> None:
        await self._connection.execute(script)  # no arguments: several statements at once


class PostgresDatabase(Database):
    backend = "postgres"

    def __init__(self, pool: asyncpg.Pool[Any], url: str) -> None:
        self._pool = pool
        self.url = url
        self.path = masked_url(url)
        self.errors = (*ERRORS, DatabaseBusy)

    @classmethod
    async def connect(cls, url: str) -> PostgresDatabase:
        """Open a pool on ``url``. A server that can't be reached or refuses raises
        :class:`DatabaseUnusable`, one line naming the URL (password masked)."""
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=POOL_SIZE,
                timeout=CONNECT_TIMEOUT_S,
                command_timeout=STATEMENT_TIMEOUT_S,
                server_settings=dict(SESSION_SETTINGS),
            )
        except (*ERRORS, TimeoutError, ValueError) as exc:
            raise DatabaseUnusable(
                f"cannot open the database {masked_url(url)}: {_words(exc, url)}"
            ) from None
        return cls(pool, url)

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._write_locked() as connection:
            yield PostgresConnection(connection)

    @asynccontextmanager
    async def schema_transaction(self) -> AsyncIterator[Connection]:
        async with self._write_locked(lock_wait_s=SCHEMA_LOCK_WAIT_S) as connection:
            yield PostgresConnection(connection)

    @asynccontextmanager
    async def driver_transaction(self) -> AsyncIterator[PoolConnectionProxy[Any]]:
        """A write transaction on the driver's own connection (bulk copies in
        :mod:`bot.store.moving`), under the same write lock."""
        async with self._write_locked(idle_s=COPY_IDLE_IN_TRANSACTION_S) as connection:
            yield connection

    @asynccontextmanager
    async def _write_locked(
        self, *, lock_wait_s: float | None = None, idle_s: float | None = None
    ) -> AsyncIterator[PoolConnectionProxy[Any]]:
        """A transaction holding the write lock; :class:`DatabaseBusy` if another process
        held it longer than the wait (:data:`WRITE_LOCK_WAIT_S` unless given)."""
        async with self._pool.acquire() as connection, connection.transaction():
            if lock_wait_s is not None:
                await connection.execute(f"SET LOCAL lock_timeout = {lock_wait_s * 1000:.0f}")
            if idle_s is not None:
                await connection.execute(
                    f"SET LOCAL idle_in_transaction_session_timeout = {idle_s * 1000:.0f}"
                )
            try:
                await connection.execute(
                    "SELECT pg_advisory_xact_lock($1, $2)", LOCK_NAMESPACE, WRITE_LOCK
                )
            except asyncpg.LockNotAvailableError:
                waited = WRITE_LOCK_WAIT_S if lock_wait_s is None else lock_wait_s
                raise DatabaseBusy(
                    f"the database {self.path} is busy: another process has held its write"
                    f" lock for more than {waited:g} s (trying again)"
                ) from None
            try:
                yield connection
            except _SCHEMA_CHANGED:
                # asyncpg re-prepares a statement whose cached plan went stale (another
                # process migrated) only outside a transaction; it has dropped its caches,
                # so the next try works. One step fails, in words.
                raise DatabaseBusy(
                    f"the schema of the database {self.path} changed under this process"
                    " (another process upgraded it); trying again"
                ) from None

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[PoolConnectionProxy[Any]]:
        """A read-only transaction that sees one moment of the database (backups)."""
        async with (
            self._pool.acquire() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            await connection.execute(
                "SET LOCAL idle_in_transaction_session_timeout ="
                f" {COPY_IDLE_IN_TRANSACTION_S * 1000:.0f}"
            )
            yield connection

    async def read_one(self, sql: str, params: Params = ()) -> Row | None:
        async with self._pool.acquire() as connection:
            return await PostgresConnection(connection).fetch_one(sql, params)

    async def read_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._pool.acquire() as connection:
            return await PostgresConnection(connection).fetch_all(sql, params)

    async def schema_version(self, connection: Connection | None = None) -> int:
        if connection is None:  # a plain read: no lock, no table made
            row = await self.read_one("SELECT to_regclass('schema_version') IS NOT NULL")
            if row is None or not row[0]:
                return 0
            row = await self.read_one("SELECT coalesce(max(version), 0) FROM schema_version")
            return int(row[0]) if row is not None else 0
        # Inside a migration's transaction, under the write lock: made once, race-free.
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_version"
            " (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        row = await connection.fetch_one("SELECT coalesce(max(version), 0) FROM schema_version")
        return int(row[0]) if row is not None else 0

    async def set_schema_version(self, connection: Connection, version: int) -> None:
        await connection.execute(
            "INSERT INTO schema_version (version) VALUES (CAST(? AS INTEGER))", (version,)
        )


def _words(exc: BaseException, url: str) -> str:
    words = str(exc) or type(exc).__name__
    for secret in sorted(url_secret_values(url), key=len, reverse=True):
        words = words.replace(secret, "***")
    return words
