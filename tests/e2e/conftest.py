"""Fixtures for the end-to-end tests: both fakes, a world in them, and the bot process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.e2e.harness import DISCORD_TOKEN, BotProcess, World, build_world
from tests.fakes.discord import FakeDiscord
from tests.fakes.sellapp import FakeSellApp


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with (
        FakeDiscord(bot_token=DISCORD_TOKEN, heartbeat_interval_ms=500) as discord,
        FakeSellApp() as sellapp,
    ):
        yield build_world(discord, sellapp, tmp_path)
        assert discord.errors == [], "the fake Discord crashed while serving the bot"


StartBot = Callable[..., Awaitable[BotProcess]]


@pytest.fixture
async def start_bot(world: World) -> AsyncIterator[StartBot]:
    """Start the real bot; ``ready=True`` waits for it to log in. All are killed at the end.

    It is forked from an interpreter that has imported it already (tests/e2e/prestart.py);
    ``fresh=True`` starts a new ``python -m bot`` instead."""
    started: list[BotProcess] = []

    async def start(*, ready: bool = True, fresh: bool = False, **env: str) -> BotProcess:
        proc = BotProcess(env=world.env(**env), cwd=world.tmp / "cwd", prestarted=not fresh)
        started.append(proc)
        await proc.start()
        if ready:
            await proc.wait_ready()
        return proc

    yield start
    for index, proc in enumerate(started):
        await proc.close()
        # Shown by pytest only when the test failed.
        print(f"--- bot process {index} output ---\n{proc.output}")
