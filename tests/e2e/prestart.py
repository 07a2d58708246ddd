"""Start the bot from an interpreter that has already imported it (a fork server).

A ``python -m bot`` spends about a second of CPU importing discord.py, aiohttp, pydantic
and the bridge before it does anything; the end-to-end tests start it a hundred times
and more on two shared cores. The server (``python -m tests.e2e.prestart SOCKET``)
imports every module of ``bot`` and ``cogs`` once, then forks for each start; the fork
runs ``bot`` as ``__main__`` exactly as ``-m`` does (``runpy``), in the test's
environment, working directory and stdout, and ends through the interpreter's normal
exit (atexit, threads, tracebacks, the exit status). A supervisor fork waits for it and
reports its exit status, so a test still sees SIGTERM, SIGINT and kill -9 as from its own
child. Nothing is imported with the test's settings in the environment: the server
starts without them.

``E2E_PRESTART=0`` starts every bot as a fresh ``python -m bot``; tests about the
interpreter itself (tests/e2e/test_process.py, tests/test_main.py) always do.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import importlib
import json
import os
import pkgutil
import random
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENABLED = os.environ.get("E2E_PRESTART", "1") != "0"
_HEADER = struct.Struct("!I")


# -- the server -----------------------------------------------------------------------------


_IMPORTED_AT_RUN_TIME = ("anyio", "anyio._backends._asyncio", "certifi", "h11", "httpcore")


def _import_everything() -> None:
    for package_name in ("bot", "cogs"):
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            if info.name.endswith(".__main__"):
                continue
            # A module that needs what is not installed (an optional driver) fails in the
            # fork only if the bot imports it, as it would in a fresh interpreter.
            with contextlib.suppress(ImportError):
                importlib.import_module(info.name)
    # bot/__main__.py itself is left for runpy to run as __main__ (imported as a module
    # first, runpy would warn that it may behave unpredictably): its imports are done.
    importlib.import_module("bot.config")
    # What httpx imports only when the first client is made (a tenth of a second).
    for name in _IMPORTED_AT_RUN_TIME:
        importlib.import_module(name)


def _read_request(conn: socket.socket) -> tuple[dict[str, object], int]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 1)
    while len(data) < _HEADER.size or len(data) < _HEADER.size + _HEADER.unpack_from(data)[0]:
        more = conn.recv(1 << 16)
        if not more:
            raise ConnectionError("the request was cut short")
        data += more
    (size,) = _HEADER.unpack_from(data)
    return json.loads(data[_HEADER.size : _HEADER.size + size]), fds[0]


def _reap_supervisors() -> None:
    """Reaped here (not ignored) so that their CPU time, and their bots', adds up in the
    server's, and so in the test process's once it has waited for the server."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] != 0:
            pass


def _serve(listener: socket.socket) -> tuple[dict[str, object], int] | None:
    """Accept starts until stdin closes (the test process went away). Returns, in the bot's
    fork only, what it must run."""
    while True:
        ready, _, _ = select.select([listener, sys.stdin], [], [], 1.0)
        _reap_supervisors()
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 1024):
            return None
        if listener not in ready:
            continue
        conn, _ = listener.accept()
        if os.fork() != 0:
            conn.close()
            continue
        listener.close()
        return _supervise(conn)


def _supervise(conn: socket.socket) -> tuple[dict[str, object], int]:
    """The supervisor: fork the bot, say its pid, wait, say how it ended. Returns only in
    the bot's fork."""
    try:
        request, out = _read_request(conn)
        pid = os.fork()
        if pid == 0:
            conn.close()
            return request, out
        os.close(out)
        conn.sendall(f"{pid}\n".encode())
        _, status, usage = os.wait4(pid, 0)
        cpu = usage.ru_utime + usage.ru_stime
        conn.sendall(f"{os.waitstatus_to_exitcode(status)} {cpu:.3f}\n".encode())
    except OSError:
        pass  # the test went away first: nobody to tell
    os._exit(0)


def _become_the_bot(request: dict[str, object], out: int) -> None:
    """In the fork: the process state ``python -m bot`` would start with, then run it."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(devnull)
    os.close(out)
    cwd = str(request["cwd"])
    os.chdir(cwd)
    env = request["env"]
    assert isinstance(env, dict)
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in env.items()})
    argv = request["argv"]
    assert isinstance(argv, list)
    sys.argv = ["-m", *map(str, argv)]  # runpy puts the module's path in argv[0]
    sys.path[0] = cwd  # what -m puts first
    random.seed()  # every fork would otherwise share the server's random sequence
    import runpy

    runpy._run_module_as_main("bot", alter_argv=True)  # type: ignore[attr-defined]


def main() -> None:
    _import_everything()
    # What the imports made lives as long as any fork: keep it out of the forks' garbage
    # collections (which would touch, and so copy, every page of it). See gc.freeze.
    gc.freeze()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(sys.argv[1])
        listener.listen(64)
        print("ready", flush=True)
        todo = _serve(listener)
    if todo is not None:
        _become_the_bot(*todo)  # returns as the interpreter ends: sys.exit, tracebacks


# -- the client -----------------------------------------------------------------------------


class _Server:
    """One fork server per test process, started at its first use, gone with the process."""

    _lock = threading.Lock()
    _instance: _Server | None = None

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="bot-prestart-")
        atexit.register(shutil.rmtree, self.dir, ignore_errors=True)
        self.path = os.path.join(self.dir, "socket")
        from bot.config import Settings

        env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
        env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.prestart", self.path],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line != b"ready\n":
            raise RuntimeError(f"the bot fork server did not start: {line!r}")
        atexit.register(self.stop)

    def stop(self) -> None:
        """Close its stdin (it exits) and wait for it."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.stdout.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    @classmethod
    def get(cls) -> _Server:
        with cls._lock:
            if cls._instance is None or cls._instance.proc.poll() is not None:
                cls._instance = cls()
            return cls._instance


class PrestartedProcess:
    """What :class:`asyncio.subprocess.Process` offers the harness, for a forked bot."""

    def __init__(
        self,
        pid: int,
        status: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        stdout: asyncio.StreamReader,
        pipe: asyncio.ReadTransport,
    ) -> None:
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None
        self.cpu_seconds: float | None = None
        """The CPU time the bot used, once it ended (for measuring)."""
        self._pipe = pipe
        self._ended = asyncio.create_task(self._wait_status(*status))

    async def _wait_status(self, status: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        try:
            line = await status.readline()
        finally:
            writer.close()
        # No line: the supervisor itself was killed; the bot went with it or soon will.
        code, cpu = line.split() if line else (-signal.SIGKILL, 0)
        self.cpu_seconds = float(cpu)
        self.returncode = int(code)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        return await asyncio.shield(self._ended)

    def close_pipes(self) -> None:
        """Teardown: let go of the output pipe even if its end was never read."""
        self._pipe.close()


async def spawn(argv: list[str], *, env: dict[str, str], cwd: Path) -> PrestartedProcess:
    """Start ``python -m bot ARGV`` from the fork server; stdout and stderr go to one pipe."""
    server = _Server.get()
    loop = asyncio.get_running_loop()
    read_end, write_end = os.pipe()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(server.path)
        body = json.dumps({"argv": argv, "env": env, "cwd": str(cwd)}).encode()
        socket.send_fds(sock, [_HEADER.pack(len(body)) + body], [write_end])
    except BaseException:
        sock.close()
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    sock.setblocking(False)
    status, writer = await asyncio.open_unix_connection(sock=sock)
    pid = int(await status.readline())
    stdout = asyncio.StreamReader()  # asyncio's default limit, as for a subprocess
    pipe, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(stdout), os.fdopen(read_end, "rb", buffering=0)
    )
    return PrestartedProcess(pid, (status, writer), stdout, pipe)


if __name__ == "__main__":
    main()
