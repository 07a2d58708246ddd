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

import pytest

from tests.pg import ThrowawayPostgres, make_root, postgres_binaries

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
