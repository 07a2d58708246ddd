"""Migrations: ``bot/store/migrations/NNNN_name.sql``, applied in order at ``Store.open``.

The same numbered migrations on both backends, so a schema version means the same
schema on each. PostgreSQL runs each file with its column types translated
(:func:`bot.store._dialect.ddl_to_postgres`), except where a number has its own file in
``migrations/postgres/`` (what can't be translated: triggers, SQLite's JSON functions).

Each migration runs in its own write transaction together with its version (SQLite:
``PRAGMA user_version``; PostgreSQL: the ``schema_version`` table). The version is
re-read inside that transaction, under the database's write lock, so several processes
opening a fresh database at once apply each migration exactly once.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from bot.errors import ConfigError
from bot.store._db import Backend, Database
from bot.store._dialect import ddl_to_postgres

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")
POSTGRES_FOLDER = "postgres"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def _found(folder: Traversable) -> dict[int, Migration]:
    return {
        int(match[1]): Migration(int(match[1]), entry.name, entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if (match := _MIGRATION_NAME.fullmatch(entry.name))
    }


def load_migrations(backend: Backend = "sqlite") -> list[Migration]:
    """The packaged migrations for ``backend``, in order. Numbers must run 1, 2, 3...
    without gaps, and a PostgreSQL file must replace a migration of the same number."""
    folder = resources.files("bot.store.migrations")
    by_version = _found(folder)
    found = sorted(by_version.values(), key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration numbers must be 1..N: {[m.name for m in found]}")
    if backend == "sqlite":
        return found
    own = _found(folder / POSTGRES_FOLDER)
    stray = sorted(set(own) - set(by_version))
    if stray:
        raise RuntimeError(f"PostgreSQL migrations without a common one: {stray}")
    return [
        own.get(m.version) or Migration(m.version, m.name, ddl_to_postgres(m.sql)) for m in found
    ]


def statements(script: str) -> list[str]:
    """Split an SQLite migration into statements (``executescript`` would commit our
    transaction)."""
    found: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            found.append(buffer.strip())
            buffer = ""
    rest = [ln for ln in buffer.splitlines() if ln.strip() and not ln.strip().startswith("--")]
    if rest:
        raise RuntimeError(f"unterminated SQL statement in a migration: {rest[0]!r}")
    return found


async def schema_version(db: Database) -> int:
    return await db.schema_version()


async def migrate(db: Database) -> None:
    migrations = load_migrations(db.backend)
    if await db.schema_version() > len(migrations):
        setting = "DATABASE_PATH" if db.backend == "sqlite" else "DATABASE_URL"
        raise ConfigError(
            f"The database {db.path} was written by a newer version of the bridge; "
            f"upgrade the bridge or point {setting} at another database."
        )
    for migration in migrations:
        async with db.schema_transaction() as connection:
            # Re-read under the write lock: another process may have just applied it.
            if await db.schema_version(connection) >= migration.version:
                continue
            await connection.run_script(migration.sql)
            await db.set_schema_version(connection, migration.version)
        log.info("applied database migration %s", migration.name)
