"""The throwaway PostgreSQL server the tests use (tests/pg.py) starts, serves and stops
without leaving a process behind."""

from __future__ import annotations

import shutil
import time

import asyncpg

from tests.pg import ThrowawayPostgres, make_root, postgres_binaries


def test_the_binaries_are_found() -> None:
    folder = postgres_binaries()
    assert folder is not None
    assert (folder / "initdb").is_file()
    assert (folder / "pg_ctl").is_file()


async def test_each_test_database_is_fresh_and_reachable(postgres_url: str) -> None:
    connection = await asyncpg.connect(postgres_url)
    try:
        tables = await connection.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await connection.close()
    assert tables == 0


def test_a_server_stops_and_leaves_no_process() -> None:
    root = make_root()
    try:
        started = time.monotonic()
        server = ThrowawayPostgres.start(root)
        startup = time.monotonic() - started
        assert server.running()
        url = server.new_database("stopping")
        assert url.endswith("/stopping")
        server.stop()
        assert not server.running(), f"the postmaster {server.pid} is still running"
        assert not (root / "data" / "postmaster.pid").exists()
        assert startup < 20
    finally:
        shutil.rmtree(root, ignore_errors=True)
