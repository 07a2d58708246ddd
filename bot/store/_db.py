"""The database every table shares, whatever the backend: its transactions and reads.

Two kinds behind one interface, picked at open by :func:`open_database`:

- :mod:`bot.store._sqlite`: one SQLite file (``DATABASE_PATH``, the default);
- :mod:`bot.store._postgres`: a PostgreSQL database (``DATABASE_URL``), shared by
  every process of a sharded bridge.

Tables write SQLite-dialect SQL with ``?`` or ``:name`` parameters, portable where it
can be written portably (``CAST(:x AS BIGINT)`` rather than an untyped parameter); the
PostgreSQL kind translates the rest (:mod:`bot.store._dialect`). Inside a transaction a
table calls :func:`one`, :func:`every`, :func:`changed` or ``connection.execute`` on the
:class:`Connection` the transaction yields.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Final, Literal, Protocol
from urllib.parse import unquote, unquote_plus, urlsplit, urlunsplit

MEMORY: Final = ":memory:"
Params = Sequence[Any] | Mapping[str, Any]
Backend = Literal["sqlite", "postgres"]
_POSTGRES_URL: Final = re.compile(r"postgres(ql)?://", re.IGNORECASE)


class Row(Protocol):
    """A result row: ``sqlite3.Row`` or ``asyncpg.Record``, by column name or position."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class Connection(ABC):
    """The connection a transaction yields: statements run inside that transaction."""

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> None: ...

    @abstractmethod
    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None: ...

    @abstractmethod
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...

    @abstractmethod
    async def changed(self, sql: str, params: Params = ()) -> int:
        """Run a write; the number of rows it touched."""

    @abstractmethod
    async def run_script(self, script: str) -> None:
        """Run a migration file's statements, inside the transaction."""


class Database(ABC):
    """The shared database. Tables read and write only through it."""

    backend: Backend
    path: str
    """Where it is, safe to show: the file path, or the URL with its password masked."""
    errors: tuple[type[BaseException], ...]
    """What the driver raises when the database can't be read or written."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """One write transaction: commit on success, roll back on any exception
        (cancellation included). Write transactions never interleave: one at a time
        per database, across processes too."""

    def schema_transaction(self) -> AbstractAsyncContextManager[Connection]:
        """The write transaction of one migration: as :meth:`transaction`, but it may wait
        longer for the write lock (another process may be migrating)."""
        return self.transaction()

    @abstractmethod
    async def read_one(self, sql: str, params: Params = ()) -> Row | None: ...

    @abstractmethod
    async def read_all(self, sql: str, params: Params = ()) -> list[Row]: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def schema_version(self, connection: Connection | None = None) -> int:
        """The number of the last migration applied (0: none); read on ``connection``
        (inside a transaction) when given."""

    @abstractmethod
    async def set_schema_version(self, connection: Connection, version: int) -> None: ...


def is_postgres_url(target: str | Path) -> bool:
    return isinstance(target, str) and bool(_POSTGRES_URL.match(target))


SECRET_PARAMETERS: Final = frozenset({"password", "sslpassword"})
"""Query parameters of a PostgreSQL URL that carry a secret (libpq's and asyncpg's
``?password=`` and ``?sslpassword=``, the client key's passphrase)."""
MASK: Final = "***"


def masked_url(url: str) -> str:
    """``url`` with its password shown as ``***``, in ``user:password@`` and in the query
    (``?password=``, ``?sslpassword=``): safe for logs and errors."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            host = parts.hostname or ""
            if ":" in host:
                host = f"[{host}]"
            port = f":{parts.port}" if parts.port is not None else ""
            netloc = f"{parts.username or ''}:{MASK}@{host}{port}"
        return urlunsplit(parts._replace(netloc=netloc, query=_masked_query(parts.query)))
    except ValueError:
        return "the PostgreSQL URL (unreadable, not shown)"


def _masked_query(query: str) -> str:
    """The query as written, each secret parameter's value shown as ``***``."""
    fields = []
    for field in query.split("&") if query else []:
        name, equals, _ = field.partition("=")
        secret = equals and unquote_plus(name).strip().lower() in SECRET_PARAMETERS
        fields.append(f"{name}={MASK}" if secret else field)
    return "&".join(fields)


def url_secret_values(url: str) -> list[str]:
    """Every secret written in ``url`` (its password, ``?password=``, ``?sslpassword=``),
    as written and decoded the ways a driver may decode it."""
    try:
        parts = urlsplit(url)
        written = [parts.password] if parts.password else []
    except ValueError:
        return []
    for field in parts.query.split("&") if parts.query else []:
        name, _, value = field.partition("=")
        if value and unquote_plus(name).strip().lower() in SECRET_PARAMETERS:
            written.append(value)
    found: list[str] = []
    for value in written:
        for form in (value, unquote(value), unquote_plus(value)):
            if form and form not in found:
                found.append(form)
    return found


def url_secrets(url: str) -> list[str]:
    """What of ``url`` must never be shown: the URL itself and every secret in it (see
    :func:`url_secret_values`)."""
    return [url, *url_secret_values(url)]


async def open_database(target: Path | str) -> Database:
    """A PostgreSQL URL opens PostgreSQL; anything else is an SQLite path."""
    if is_postgres_url(target):
        from bot.store._postgres import PostgresDatabase  # noqa: PLC0415 (asyncpg: only if used)

        return await PostgresDatabase.connect(str(target))
    from bot.store._sqlite import SqliteDatabase  # noqa: PLC0415

    return await SqliteDatabase.connect(target)


async def one(db: Connection, sql: str, params: Params = ()) -> Row | None:
    return await db.fetch_one(sql, params)


async def every(db: Connection, sql: str, params: Params = ()) -> list[Row]:
    return await db.fetch_all(sql, params)


async def changed(db: Connection, sql: str, params: Params = ()) -> int:
    return await db.changed(sql, params)


def require(row: Row | None, what: str) -> Row:
    if row is None:
        raise LookupError(f"no such {what}")
    return row


def ids(text: str) -> tuple[int, ...]:
    """A JSON list of ids, as stored in a text column."""
    return tuple(int(i) for i in json.loads(text))


__all__ = [
    "MEMORY",
    "Backend",
    "Connection",
    "Database",
    "Params",
    "Row",
    "changed",
    "every",
    "ids",
    "is_postgres_url",
    "masked_url",
    "one",
    "open_database",
    "require",
    "url_secret_values",
    "url_secrets",
]
