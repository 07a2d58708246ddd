"""A throwaway PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` into a temp folder.

Tuned to start fast and lose everything (``fsync=off``, tiny buffers): a test server,
never a place for data. It listens on a free port on 127.0.0.1 and on a unix socket
inside its own folder; authentication is ``trust`` (loopback only), so any password in
a URL is accepted, which lets tests check that passwords never show.

PostgreSQL refuses to run as root: when the tests run as root the server runs as the
``postgres`` user, in a folder that user owns.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

SERVER_USER = "postgres"
START_TIMEOUT_S = 30
FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "16MB",
    "max_connections": "200",
    "listen_addresses": "127.0.0.1",
}


def postgres_binaries() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl``: PATH first, then Debian's layout."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    for folder in sorted(glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "initdb").is_file() and Path(folder, "pg_ctl").is_file():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run_as_server_user() -> list[str]:
    """The prefix that runs a command as a user PostgreSQL accepts (not root)."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", SERVER_USER, "--"]


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to the end on its own loop in a thread: callable from sync code and
    from inside a running event loop (a fixture of an async test) alike."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


@dataclass
class ThrowawayPostgres:
    root: Path
    port: int
    bin_dir: Path
    pid: int

    @property
    def url(self) -> str:
        """The URL of the server's default database (``postgres``)."""
        return self.url_of("postgres")

    def url_of(self, database: str) -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @classmethod
    def start(cls, root: Path) -> ThrowawayPostgres:
        """``initdb`` + ``pg_ctl start`` into ``root`` (created; when running as root it is
        given to the ``postgres`` user, so its parent folders must let that user through)."""
        bin_dir = postgres_binaries()
        if bin_dir is None:
            raise RuntimeError(
                "PostgreSQL is not installed (no initdb/pg_ctl on PATH or in "
                "/usr/lib/postgresql/*/bin): run `make postgres` (apt-get install postgresql)"
            )
        root.mkdir(parents=True, exist_ok=True)
        (root / "sock").mkdir(exist_ok=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVER_USER)
            for path in (root, root / "sock"):
                os.chown(path, user.pw_uid, user.pw_gid)
        prefix = _run_as_server_user()
        subprocess.run(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "--pgdata",
                str(root / "data"),
                "--username",
                SERVER_USER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        port = _free_port()
        options = " ".join(f"-c {key}={value}" for key, value in FAST_SETTINGS.items())
        options += f" -c port={port} -c unix_socket_directories={root / 'sock'}"
        subprocess.run(
            [
                *prefix,
                str(bin_dir / "pg_ctl"),
                "start",
                "--pgdata",
                str(root / "data"),
                "--wait",
                "--timeout",
                str(START_TIMEOUT_S),
                "--log",
                str(root / "server.log"),
                "--options",
                options,
            ],
            check=True,
            capture_output=True,
        )
        pid = int((root / "data" / "postmaster.pid").read_text().split()[0])
        return cls(root=root, port=port, bin_dir=bin_dir, pid=pid)

    def new_database(self, name: str, *, template: str = "template0") -> str:
        """``CREATE DATABASE name`` (from ``template``); returns its URL."""
        run_sync(self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        return self.url_of(name)

    def drop_database(self, name: str) -> None:
        run_sync(self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    async def _execute(self, sql: str) -> None:
        import asyncpg

        connection = await asyncpg.connect(self.url)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    def running(self) -> bool:
        return process_alive(self.pid)

    def stop(self) -> None:
        """Stop the server (immediate: nothing in it is worth a clean shutdown) and wait
        until it is gone."""
        subprocess.run(
            [
                *_run_as_server_user(),
                str(self.bin_dir / "pg_ctl"),
                "stop",
                "--pgdata",
                str(self.data_dir),
                "--mode",
                "immediate",
                "--wait",
            ],
            check=False,
            capture_output=True,
        )
        # pg_ctl returns once the pid file is gone; the postmaster exits a moment later.
        deadline = time.monotonic() + START_TIMEOUT_S
        while process_alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.01)


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped by its parent, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def make_root() -> Path:
    """A fresh folder for a server under the system temp folder (which every user can
    pass through, unlike pytest's per-user temp folder)."""
    return Path(tempfile.mkdtemp(prefix="bridge-pg-"))


async def query(target: Path | str, sql: str) -> list[tuple[object, ...]]:
    """Read a store's database directly (outside the store), on either backend."""
    if isinstance(target, Path):
        with sqlite3.connect(target) as conn:
            return conn.execute(sql).fetchall()
    import asyncpg

    connection = await asyncpg.connect(target)
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()
