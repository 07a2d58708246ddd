"""Migrations: ``bot/store/migrations/NNNN_name.sql``, applied in order at ``Store.open``.

Each runs in its own transaction together with ``PRAGMA user_version = NNNN``. The
version is re-read inside that transaction, so two processes opening a fresh file at once
apply each migration exactly once.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from importlib import resources

from bot.errors import ConfigError
from bot.store._db import Database, one, require

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The packaged migrations, in order. Numbers must run 1, 2, 3... without gaps."""
    found = [
        Migration(int(match[1]), entry.name, entry.read_text(encoding="utf-8"))
        for entry in resources.files("bot.store.migrations").iterdir()
        if (match := _MIGRATION_NAME.fullmatch(entry.name))
    ]
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration numbers must be 1..N: {[m.name for m in found]}")
    return found


def statements(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit our transaction)."""
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
    return int(require(await db.read_one("PRAGMA user_version"), "user_version")[0])


async def migrate(db: Database) -> None:
    migrations = load_migrations()
    if await schema_version(db) > len(migrations):
        raise ConfigError(
            f"The database {db.path} was written by a newer version of the bridge; "
            "upgrade the bridge or point DATABASE_PATH at another file."
        )
    for migration in migrations:
        async with db.transaction() as connection:
            # Re-read under the write lock: another process may have just applied it.
            row = await one(connection, "PRAGMA user_version")
            if int(require(row, "user_version")[0]) >= migration.version:
                continue
            for statement in statements(migration.sql):
                await connection.execute(statement)
            await connection.execute(f"PRAGMA user_version = {migration.version:d}")
        log.info("applied database migration %s", migration.name)
