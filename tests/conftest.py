"""Fixtures for every test folder: the throwaway PostgreSQL server (tests/pg.py).

One server per pytest process (per xdist worker), started the first time a test asks for
PostgreSQL and stopped at the end of the session; each test gets a database of its own.
When PostgreSQL is not installed the tests that need it FAIL (not skip): `make test`
installs it (`make postgres`).
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.pg import ThrowawayPostgres, make_root, postgres_binaries, run_sync

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    if postgres_binaries() is None:
        pytest.fail(
            "PostgreSQL is not installed (no initdb/pg_ctl): run `make postgres` "
            "(apt-get install postgresql) before the tests",
            pytrace=False,
        )
    root = make_root()
    server = ThrowawayPostgres.start(root)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: ThrowawayPostgres) -> str:
    """The URL of a fresh, empty database for this test only."""
    name = f"t{os.getpid()}_{next(_numbers)}"
    return postgres_server.new_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a test's store lives, once on each backend: an SQLite file (its folder not
    created yet) or the URL of a fresh PostgreSQL database."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return tmp_path / "data" / "bridge.sqlite3"


@pytest.fixture(scope="session")
def postgres_store_database(postgres_server: ThrowawayPostgres) -> tuple[str, str]:
    """One migrated database per pytest process for the store tests, and the SQL that
    empties it again (deleting a few rows is ~30 ms; a new database + migrations ~300 ms)."""
    url = postgres_server.new_database(f"stores_{os.getpid()}")
    return url, run_sync(_migrate_and_plan_reset(url))


async def _migrate_and_plan_reset(url: str) -> str:
    from bot.store import Store

    await (await Store.open(url)).close()
    connection = await asyncpg.connect(url)
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'schema_version' ORDER BY tablename"
        )
        identities = await connection.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND is_identity = 'YES'"
        )
    finally:
        await connection.close()
    steps = [f'DELETE FROM "{row[0]}"' for row in tables]
    steps += [f'ALTER TABLE "{row[0]}" ALTER COLUMN "{row[1]}" RESTART' for row in identities]
    return "; ".join(steps)


async def _reset(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Like ``db_target`` but, on PostgreSQL, an already migrated database emptied for this
    test: for the tests of what the store keeps (not of opening a fresh database)."""
    if request.param == "postgres":
        url, reset = request.getfixturevalue("postgres_store_database")
        run_sync(_reset(url, reset))
        return url
    return tmp_path / "data" / "bridge.sqlite3"
