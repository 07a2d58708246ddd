"""Moving a store between the backends: ``sellapp-bridge migrate-to`` (SQLite ->
PostgreSQL) and the PostgreSQL backup (PostgreSQL -> an SQLite file).

Both copy every table of the schema, in the order the migrations created them (a table
comes after the tables it refers to), column by column by name. The SQLite file's tables
are the list: both backends have the same tables from the same numbered migrations.

Rows the triggers write (``ticket_events``, migration 0009) are copied as they are: on
PostgreSQL the copied tickets' trigger rows are dropped before the events are copied; on
SQLite the triggers are dropped for the copy and created again after it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import MoveFailed
from bot.store._postgres import PostgresDatabase
from bot.store._schema import load_migrations, migrate

TRIGGER_FED = frozenset({"ticket_events"})
"""Tables the triggers write into when tickets are inserted."""


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[str, ...]

    @property
    def column_list(self) -> str:
        return ", ".join(f'"{c}"' for c in self.columns)


@dataclass(frozen=True, slots=True)
class MoveSummary:
    source: str
    target: str
    schema_version: int
    rows: Mapping[str, int]


def sqlite_tables(db: sqlite3.Connection) -> list[Table]:
    """The bridge's tables in ``db``, in the order they were created."""
    names = [
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid"
        )
    ]
    return [
        Table(name, tuple(row[1] for row in db.execute(f'PRAGMA table_info("{name}")')))
        for name in names
    ]


async def copy_sqlite_to_postgres(source: Path, db: PostgresDatabase) -> MoveSummary:
    """Copy the SQLite store at ``source`` into the empty PostgreSQL store ``db`` in one
    transaction: migrations first, then every table, identities moved past the copied
    ids, and each table's row count checked. Raises :class:`MoveFailed` (nothing
    copied) when the target already holds bridge data or a count differs."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        version = int(src.execute("PRAGMA user_version").fetchone()[0])
        tables = sqlite_tables(src)
        await migrate(db)
        async with db.driver_transaction() as connection:
            for table in tables:
                sql = f'SELECT EXISTS (SELECT 1 FROM "{table.name}")'  # noqa: S608
                if await connection.fetchval(sql):
                    raise MoveFailed(
                        f"{db.path} already holds bridge data (table {table.name} has rows):"
                        " point migrate-to at an empty database (and stop any bridge using it)"
                    )
            rows: dict[str, int] = {}
            for table in sorted(tables, key=lambda t: t.name in TRIGGER_FED):
                if table.name in TRIGGER_FED:
                    await connection.execute(f'DELETE FROM "{table.name}"')  # noqa: S608
                records = src.execute(f'SELECT {table.column_list} FROM "{table.name}"')  # noqa: S608
                values = [tuple(r) for r in records]
                await connection.copy_records_to_table(
                    table.name, records=values, columns=list(table.columns)
                )
                rows[table.name] = len(values)
            await _move_identities_past_copied_ids(connection)
            for table in tables:
                found = await connection.fetchval(f'SELECT count(*) FROM "{table.name}"')  # noqa: S608
                if found != rows[table.name]:
                    raise MoveFailed(
                        f"table {table.name}: {rows[table.name]} rows copied but {found} found;"
                        " nothing was kept"
                    )
    finally:
        src.close()
    return MoveSummary(str(source), db.path, version, {t.name: rows[t.name] for t in tables})


async def _move_identities_past_copied_ids(connection: Any) -> None:
    identities = await connection.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    )
    for table, column in identities:
        await connection.execute(
            f"SELECT setval(pg_get_serial_sequence($1, $2),"  # noqa: S608
            f' coalesce((SELECT max("{column}") FROM "{table}"), 0) + 1, false)',
            f'"{table}"',
            column,
        )


async def snapshot_postgres_to_sqlite(db: PostgresDatabase, target: Path) -> int:
    """Write the PostgreSQL store ``db`` as it is at one moment (one REPEATABLE READ,
    read-only transaction) into the new SQLite file ``target``, with the SQLite schema of
    the same version. Returns that version."""
    dst = sqlite3.connect(target)
    try:
        async with db.snapshot() as connection:
            version = await _postgres_version(connection)
            for migration in load_migrations()[:version]:
                dst.executescript(migration.sql)
            dst.execute(f"PRAGMA user_version = {version:d}")
            triggers = dst.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
            ).fetchall()
            for name, _ in triggers:
                dst.execute(f'DROP TRIGGER "{name}"')
            for table in sqlite_tables(dst):
                records = await connection.fetch(
                    f'SELECT {table.column_list} FROM "{table.name}"'  # noqa: S608
                )
                marks = ", ".join("?" for _ in table.columns)
                dst.executemany(
                    f'INSERT INTO "{table.name}" ({table.column_list}) VALUES ({marks})',  # noqa: S608
                    [tuple(r) for r in records],
                )
            for _, sql in triggers:
                dst.execute(sql)
        dst.commit()
    finally:
        dst.close()
    return version


async def _postgres_version(connection: Any) -> int:
    exists = await connection.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    return int(await connection.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))


async def move_to_postgres(source: Path, url: str) -> MoveSummary:
    """``sellapp-bridge migrate-to``: the SQLite store at ``source`` (brought up to date
    first, as the bridge would at start) copied into the empty PostgreSQL database at
    ``url``."""
    from bot.store import Store  # noqa: PLC0415 (bot.store imports this package's modules)

    if not source.is_file():  # noqa: ASYNC240 (a one-shot command: blocking is fine)
        raise MoveFailed(f"no database at {source}")
    await (await Store.open(source)).close()
    db = await PostgresDatabase.connect(url)
    try:
        return await copy_sqlite_to_postgres(source, db)
    finally:
        await db.close()
