"""Run the real bot process (``python -m bot``, or its fork from an interpreter that has
imported it already: :mod:`tests.e2e.prestart`) against the fakes on loopback.

The fakes live in the test's event loop; the bot is a subprocess with its own
environment, database and working directory, so nothing of the developer's ``.env``
leaks in. Every line it logs is kept (``BotProcess.lines``) so tests can wait on a log
line and scan the output for secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bot.config import Settings
from bot.store import Store
from tests.e2e import prestart
from tests.e2e.prestart import PrestartedProcess
from tests.fakes.discord import Channel, FakeDiscord, Guild, Member, Perm, Role
from tests.fakes.sellapp import FakeSellApp

ROOT = Path(__file__).resolve().parents[2]
FAST_TIMERS = {
    # Replies that failed retry after 0.5 s doubling (5 s in production), so the fault
    # tests don't wait out real backoffs; SellApp's Retry-After still wins.
    "RELAY_RETRY_SECONDS": "0.5",
    # The fake sends every GUILD_CREATE at once: no need to wait discord.py's 2 s.
    "DISCORD_GUILD_READY_SECONDS": "0.3",
    # An order card SellApp could not read tries again after 1 s (30 s in production).
    "ORDER_CARD_RETRY_SECONDS": "1",
    # Threads found again on an empty or restored database are read within 1 s (10 s).
    "UNREAD_THREAD_CHECK_SECONDS": "1",
}
"""Shorter waits for the tests; benchmarks keep the production defaults."""
T = TypeVar("T")

SELLAPP_KEY = "sk_live_e2e_0123456789abcdefSECRET"
DISCORD_TOKEN = "MTE2.e2e-discord-token.SECRET-0123456789"
STORE = "e2e-store"


@dataclass
class World:
    """One Discord server with a tickets channel, staff, and a linked SellApp store."""

    discord: FakeDiscord
    sellapp: FakeSellApp
    guild: Guild
    staff_role: Role
    staff: Member
    customer_like: Member  # a member without the staff role
    text_channel: Channel
    forum_channel: Channel
    tmp: Path
    fast_timers: bool = True
    """Start the bot with :data:`FAST_TIMERS` (False: production waits, for benchmarks)."""

    @property
    def admin(self) -> Member:
        """The server's owner: has Manage Server."""
        return self.guild.members[self.guild.owner_id]

    def env(self, *, channel: Channel | None = None, **extra: str) -> dict[str, str]:
        """The bot's environment: only what we set, plus what Python needs to run."""
        keep = {
            k: v
            for k, v in os.environ.items()
            if k.lower() not in Settings.model_fields and not k.startswith("PYTEST")
        }
        env = {
            **keep,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "DISCORD_TOKEN": self.discord.bot_token,
            "DISCORD_API_BASE_URL": self.discord.api_base,
            "DISCORD_GATEWAY_URL": self.discord.gateway_url,
            "SELLAPP_API_URL": self.sellapp.url,
            "SELLAPP_API_KEY": SELLAPP_KEY,
            "SELLAPP_STORE": STORE,
            "DISCORD_GUILD_ID": str(self.guild.id),
            "TICKETS_CHANNEL_ID": str((channel or self.forum_channel).id),
            "STAFF_ROLE_IDS": str(self.staff_role.id),
            "DATABASE_PATH": str(self.tmp / "data" / "bridge.sqlite3"),
            "POLL_INTERVAL_SECONDS": "1",
            **(FAST_TIMERS if self.fast_timers else {}),
            "SECRET_KEY": SECRET_KEY,
            "LOG_LEVEL": "INFO",
        }
        env.update(extra)
        return env


SECRET_KEY = "e2e-secret-key-that-is-long-enough-0123456789"


@dataclass(frozen=True)
class SharedDatabase:
    """The one database several bot processes of a test share: ``env`` is what each
    process is started with (``DATABASE_PATH`` for an SQLite file, ``DATABASE_URL`` for
    PostgreSQL), :meth:`open` the test's own view of it."""

    env: dict[str, str]
    target: Path | str

    @classmethod
    def sqlite(cls, tmp: Path) -> SharedDatabase:
        path = tmp / "data" / "bridge.sqlite3"
        return cls({"DATABASE_PATH": str(path)}, path)

    @classmethod
    def postgres(cls, url: str) -> SharedDatabase:
        return cls({"DATABASE_URL": url}, url)

    async def open(self) -> Store:
        return await Store.open(self.target)


def build_world(discord: FakeDiscord, sellapp: FakeSellApp, tmp: Path) -> World:
    guild = discord.add_guild("Support")
    staff_role = discord.add_role(guild, "Staff")
    staff = discord.add_member(guild, "alice", roles=[staff_role])
    other = discord.add_member(guild, "mallory")
    text = discord.add_text_channel(guild, "tickets")
    forum = discord.add_forum_channel(guild, "ticket-forum", tags=["Open", "Closed"])
    sellapp.add_account(SELLAPP_KEY, [STORE])
    return World(discord, sellapp, guild, staff_role, staff, other, text, forum, tmp)


@dataclass
class BotProcess:
    """The bot as a subprocess; its stderr and stdout lines are collected as they come."""

    env: dict[str, str]
    cwd: Path
    prestarted: bool = False
    """Fork it from the server in :mod:`tests.e2e.prestart` (imports already done) rather
    than start a fresh ``python -m bot``; ``E2E_PRESTART=0`` turns that off everywhere."""
    lines: list[str] = field(default_factory=list)
    proc: asyncio.subprocess.Process | PrestartedProcess | None = None
    _reader: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> BotProcess:
        self.cwd.mkdir(parents=True, exist_ok=True)
        args = ["--env-file", str(self.cwd / "no-such.env")]
        if self.prestarted and prestart.ENABLED:
            self.proc = await prestart.spawn(args, env=self.env, cwd=self.cwd)
            self._reader = asyncio.create_task(self._read())
            return self
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            env=self.env,
            cwd=self.cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                break
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))
            self._changed.set()
        self._changed.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    async def wait_for_line(self, pattern: str, timeout: float = 20.0) -> str:
        regex = re.compile(pattern)

        def found() -> str | None:
            return next((line for line in self.lines if regex.search(line)), None)

        return await self._wait(found, timeout, f"a log line matching {pattern!r}")

    async def _wait(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        async def loop() -> T:
            while True:
                result = check()
                if result is not None:
                    return result
                if self.proc is not None and self.proc.returncode is not None:
                    raise AssertionError(f"the bot exited ({self.proc.returncode}) before {what}")
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=0.5)

        try:
            return await asyncio.wait_for(loop(), timeout=timeout)
        except TimeoutError:
            tail = "\n".join(self.lines[-30:])
            raise AssertionError(f"timed out waiting for {what}; last output:\n{tail}") from None

    async def wait_for_lines(self, pattern: str, count: int, timeout: float = 20.0) -> int:
        """Wait until ``count`` lines match ``pattern``."""
        regex = re.compile(pattern)

        def enough() -> int | None:
            seen = sum(1 for line in self.lines if regex.search(line))
            return seen if seen >= count else None

        return await self._wait(enough, timeout, f"{count} log lines matching {pattern!r}")

    async def wait_ready(self, timeout: float = 30.0) -> None:
        await self.wait_for_line(r"ready: logged in as", timeout)

    async def wait_exit(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout=timeout)
        except TimeoutError:
            tail = "\n".join(self.lines[-30:])
            raise AssertionError(f"the bot did not exit in {timeout} s:\n{tail}") from None
        if self._reader is not None:
            await self._reader
        return code

    async def terminate(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await self.wait_exit(timeout)

    async def kill(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.kill()
        return await self.wait_exit()

    async def close(self) -> None:
        """Teardown: make sure nothing is left running."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if isinstance(self.proc, PrestartedProcess):
            self.proc.close_pipes()


def assert_no_secrets(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, "a secret reached the output"


__all__ = [
    "DISCORD_TOKEN",
    "SECRET_KEY",
    "SELLAPP_KEY",
    "STORE",
    "BotProcess",
    "Perm",
    "SharedDatabase",
    "World",
    "assert_no_secrets",
    "build_world",
    "posted_ids",
    "shown_text",
    "ticket_thread",
]


# -- reading what the bot did in Discord ---------------------------------------------------


def ticket_thread(world: World, channel: Channel, ticket_id: int) -> Channel | None:
    """The live thread the bot made for a ticket in ``channel``, if any."""
    prefix = f"#{ticket_id} · "
    for thread in world.discord.threads_in(channel.id):
        if thread.name.startswith(prefix) and not thread.deleted:
            return thread
    return None


def posted_ids(world: World, thread: Channel) -> list[int]:
    """SellApp message ids shown in a thread, one per Discord message, in thread order."""
    from bot.inbound.render import read_marker

    ids = []
    for message in world.discord.messages_in(thread.id):
        if message.author.id != world.discord.bot.id:
            continue
        marker = read_marker(message.embeds)
        if marker is not None:
            ids.append(marker.message_id)
    return ids


def shown_text(world: World, thread: Channel, sellapp_id: int) -> str:
    """What staff read for one SellApp message (all its parts, unescaped)."""
    from bot.inbound.render import read_marker
    from tests.markdown import unescape_markdown

    parts = []
    for message in world.discord.messages_in(thread.id):
        marker = read_marker(message.embeds)
        if marker is not None and marker.message_id == sellapp_id:
            parts.append(message.embeds[0]["description"])
    return unescape_markdown("".join(parts))


# -- slash commands, as a member runs them -------------------------------------------------


@dataclass
class Answer:
    """What the member saw in reply to a command: text and embeds, and whether only they did."""

    text: str
    embeds: list[dict[str, object]]
    ephemeral: bool
    modal: dict[str, object] | None = None

    @property
    def fields(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for embed in self.embeds:
            for field_ in embed.get("fields", []) or []:  # type: ignore[union-attr]
                found[str(field_["name"])] = str(field_["value"])  # type: ignore[index]
        return found


async def answer(world: World, interaction: object, timeout: float = 20.0) -> Answer:
    """Wait for the bot's final reply to an interaction (a deferred one: its followup)."""
    from tests.fakes.discord import Interaction

    assert isinstance(interaction, Interaction)

    def final() -> Answer | None:
        if not interaction.responses:
            return None
        first = interaction.responses[0]
        if first.type == 9:  # a modal
            return Answer("", [], True, modal=first.data)
        if first.type == 4:
            return Answer(first.content or "", list(first.embeds), first.ephemeral)
        if interaction.followups:
            msg = interaction.followups[0]
            return Answer(msg.content, list(msg.embeds), bool(msg.flags & 64))
        if interaction.original is not None and (
            interaction.original.content or interaction.original.embeds
        ):
            msg = interaction.original
            return Answer(msg.content, list(msg.embeds), first.ephemeral)
        return None

    return await world.discord.wait_for(final, timeout=timeout)


def sub(name: str, **options: object) -> list[dict[str, object]]:
    """Options for ``/group name key:value ...`` (a subcommand, type 1).

    A value is a plain bool/int/float/str, or ``channel(id)`` / ``role(id)``."""
    kinds = {bool: 5, int: 4, float: 10, str: 3}
    opts = []
    for key, value in options.items():
        if isinstance(value, tuple):
            kind, raw = value
            opts.append({"name": key, "type": kind, "value": str(raw)})
        else:
            opts.append({"name": key, "type": kinds.get(type(value), 3), "value": value})
    return [{"type": 1, "name": name, "options": opts}]


def channel(channel_id: int) -> tuple[int, int]:
    return (7, channel_id)


def role(role_id: int) -> tuple[int, int]:
    return (8, role_id)


def group_sub(group: str, name: str, **options: object) -> list[dict[str, object]]:
    """Options for ``/command group name ...`` (a subcommand group, type 2)."""
    return [{"type": 2, "name": group, "options": sub(name, **options)}]
