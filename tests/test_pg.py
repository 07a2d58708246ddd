"""The throwaway PostgreSQL server the tests use (tests/pg.py) starts, serves and stops
without leaving a process behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import asyncpg

from tests.pg import ThrowawayPostgres, make_root, postgres_binaries, process_alive

ROOT = Path(__file__).resolve().parents[1]


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


INNER_TEST = """
import json, os

def test_uses_postgres(postgres_server, postgres_url):
    with open(os.environ["PG_REPORT"], "w") as report:
        json.dump({"pid": postgres_server.pid, "root": str(postgres_server.root)}, report)
"""


def test_the_session_fixture_stops_its_server_and_removes_its_folder(tmp_path: Path) -> None:
    """A pytest run that used PostgreSQL leaves no server process and no folder behind."""
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    (tmp_path / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n")
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
         str(tmp_path / "test_inner.py"), "--rootdir", str(tmp_path)],
        check=False,
        cwd=ROOT,
        env={**os.environ, "PG_REPORT": str(report), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads(report.read_text())
    assert not process_alive(seen["pid"])
    assert not Path(seen["root"]).exists()
