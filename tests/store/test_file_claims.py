"""Guild claims on SQLite: a byte-range lock per guild on ``<DATABASE_PATH>.claims``.

Locks are per process, so the other holder here is a real OS process (a small Python
child holding claims until it is told to stop, or killed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store import Store
from bot.store.claims import FileClaims, LocalClaims, claims_path

GUILD = 81384788765712384
OTHER = GUILD + (1 << 22)

_HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from bot.store.claims import FileClaims

    async def main() -> None:
        claims = FileClaims(Path(sys.argv[1]))
        got = [await claims.try_claim(int(g)) for g in sys.argv[2:]]
        print(" ".join("held" if g else "refused" for g in got), flush=True)
        line = await asyncio.to_thread(sys.stdin.readline)
        if line.startswith("release"):
            for g in sys.argv[2:]:
                await claims.release(int(g))
            print("released", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
        await claims.close()

    asyncio.run(main())
    """
)


class Holder:
    def __init__(self, path: Path, *guilds: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(path), *map(str, guilds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert self.process.stdout is not None
        self.answer = self.process.stdout.readline().split()

    def say(self, line: str) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def kill9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=10)  # waits, and closes the pipes


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for holder in started:
        holder.stop()


async def test_only_one_process_claims_a_guild_and_kill_9_frees_it(
    tmp_path: Path, holders: list[Holder]
) -> None:
    path = claims_path(tmp_path / "bridge.sqlite3")
    holder = Holder(path, GUILD)
    holders.append(holder)
    assert holder.answer == ["held"]

    here = FileClaims(path)
    try:
        assert not await here.try_claim(GUILD)  # the other process holds it
        assert await here.try_claim(OTHER)  # a different guild is a different byte
        assert here.held() == {OTHER}

        second = Holder(path, OTHER, GUILD)
        holders.append(second)
        assert second.answer == ["refused", "refused"]  # one held here, one by the first

        holder.kill9()
        assert await here.try_claim(GUILD)  # the kernel dropped the dead holder's lock
        assert here.held() == {GUILD, OTHER}
    finally:
        await here.close()


async def test_a_released_claim_can_be_taken_by_another_process(
    tmp_path: Path, holders: list[Holder]
) -> None:
    path = tmp_path / "x.claims"
    holder = Holder(path, GUILD)
    holders.append(holder)
    here = FileClaims(path)
    try:
        assert not await here.try_claim(GUILD)
        assert holder.say("release") == "released"
        assert await here.try_claim(GUILD)
        again = Holder(path, GUILD)
        holders.append(again)
        assert again.answer == ["refused"]
        await here.release(GUILD)
        assert here.held() == frozenset()
        third = Holder(path, GUILD)
        holders.append(third)
        assert third.answer == ["held"]
    finally:
        await here.close()


async def test_closing_gives_every_claim_up(tmp_path: Path, holders: list[Holder]) -> None:
    path = tmp_path / "x.claims"
    here = FileClaims(path)
    assert await here.try_claim(GUILD) and await here.try_claim(GUILD)  # holding counts
    await here.close()
    assert here.held() == frozenset()
    holder = Holder(path, GUILD)
    holders.append(holder)
    assert holder.answer == ["held"]


async def test_the_store_claims_beside_its_file_or_in_the_process_for_memory(
    tmp_path: Path, holders: list[Holder]
) -> None:
    database = tmp_path / "bridge.sqlite3"
    async with await Store.open(database) as store:
        assert isinstance(store.claims, FileClaims)
        assert store.claims.path == tmp_path / "bridge.sqlite3.claims"
        assert await store.claims.try_claim(GUILD)
        holder = Holder(store.claims.path, GUILD)
        holders.append(holder)
        assert holder.answer == ["refused"]
    after = Holder(tmp_path / "bridge.sqlite3.claims", GUILD)  # closing the store let go
    holders.append(after)
    assert after.answer == ["held"]
    async with await Store.open(":memory:") as memory:
        assert isinstance(memory.claims, LocalClaims)
        assert await memory.claims.try_claim(GUILD)
        assert memory.claims.held() == {GUILD}
