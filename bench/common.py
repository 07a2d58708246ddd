"""What the benchmarks share: results, statistics, scratch folders and the timed bot process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.inbound.render import read_marker
from tests.e2e.harness import DISCORD_TOKEN, BotProcess, World, build_world
from tests.fakes.discord import Channel, FakeDiscord, Message, User
from tests.fakes.sellapp import FakeSellApp

POLL_DONE = re.compile(r"guild (\d+): poll done in (\d+) ms")


@dataclass
class Target:
    """One target of the issue and whether this run met it (None: nothing to judge)."""

    text: str
    met: bool | None
    note: str = ""


@dataclass
class Section:
    """One benchmark's figures: a table, its targets, and notes in words."""

    title: str
    setup: str
    headers: list[str]
    rows: list[list[str]]
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def markdown(self) -> str:
        lines = [f"## {self.title}", "", self.setup, ""]
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append("|" + "|".join("---:" if i else "---" for i in range(len(self.headers))) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.targets:
            lines += ["", "| target | result | why |", "|---|---|---|"]
            for t in self.targets:
                verdict = {True: "**met**", False: "**missed**", None: "n/a"}[t.met]
                lines.append(f"| {t.text} | {verdict} | {t.note} |")
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        lines += ["", f"_Took {self.seconds:.0f} s._", ""]
        return "\n".join(lines)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 100 values is the 99th smallest)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def scratch_folder() -> str | None:
    """A RAM-backed parent for temp folders that only hold seeded state (not for figures
    where the bot's own fsyncs are part of what is measured)."""
    shm = Path("/dev/shm")  # noqa: S108 - only a parent for a private TemporaryDirectory
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


@dataclass
class TimedBot(BotProcess):
    """The real bot process; every output line is also kept with its arrival time
    (``time.monotonic()`` in this process, the clock the fakes stamp requests with)."""

    stamped: list[tuple[float, str]] = field(default_factory=list)

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                break
            line = raw.decode(errors="replace").rstrip("\n")
            self.stamped.append((time.monotonic(), line))
            self.lines.append(line)
            self._changed.set()
        self._changed.set()

    def polls(self, since: float = 0.0) -> dict[int, list[tuple[float, float]]]:
        """Per guild: (arrival time, poll duration in s) of each ``poll done`` line."""
        found: dict[int, list[tuple[float, float]]] = {}
        for when, line in self.stamped:
            match = POLL_DONE.search(line)
            if match and when >= since:
                found.setdefault(int(match[1]), []).append((when, int(match[2]) / 1000))
        return found

    def vm_hwm_kib(self) -> int:
        """Peak resident set size so far (``VmHWM`` of /proc/<pid>/status), in KiB."""
        assert self.proc is not None
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        assert match is not None
        return int(match[1])


async def wait_until(check: object, limit: float, what: str, step: float = 0.02) -> None:
    """Poll ``check()`` until it is truthy."""
    assert callable(check)
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {limit:.0f} s waiting for {what}")
        await asyncio.sleep(step)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "missed"


class StampedDiscord(FakeDiscord):
    """The fake Discord, noting when (``time.monotonic()``) each bot post and thread landed."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.post_times: list[float] = []
        self.thread_times: list[float] = []
        self.marker_times: dict[int, float] = {}
        """SellApp message id -> when its first part was posted."""
        self.content_times: dict[str, float] = {}

    def post(self, channel: Channel, author: User, **kwargs: Any) -> Message:
        message = super().post(channel, author, **kwargs)
        if author.id == self.bot.id:
            now = time.monotonic()
            self.post_times.append(now)
            marker = read_marker(message.embeds)
            if marker is not None:
                self.marker_times.setdefault(marker.message_id, now)
        return message

    def new_thread(self, parent: Channel, name: str, **kwargs: Any) -> Channel:
        thread = super().new_thread(parent, name, **kwargs)
        if kwargs.get("owner_id") == self.bot.id:
            self.thread_times.append(time.monotonic())
        return thread


@contextlib.asynccontextmanager
async def fakes(folder: Path) -> AsyncIterator[tuple[World, StampedDiscord, FakeSellApp]]:
    """Both fakes on loopback and the e2e world (one guild, a forum, staff) in them."""
    async with (
        StampedDiscord(bot_token=DISCORD_TOKEN) as discord,
        FakeSellApp() as sellapp,
    ):
        world = build_world(discord, sellapp, folder)
        world.fast_timers = False  # figures with the production waits
        yield world, discord, sellapp
        if discord.errors:
            raise RuntimeError(f"the fake Discord crashed: {discord.errors[0]!r}")


@contextlib.asynccontextmanager
async def bot_process(world: World, **env: str) -> AsyncIterator[TimedBot]:
    """The real ``python -m bot`` against the world, ready; killed on the way out."""
    bot = TimedBot(env=world.env(**env), cwd=world.tmp / "cwd")
    await bot.start()
    try:
        await bot.wait_ready(timeout=60)
        yield bot
    except BaseException:
        print("\n".join(bot.lines[-30:]), file=sys.stderr)
        raise
    finally:
        await bot.close()
