"""bot/runner.py: the process's life, against the protocol fake of Discord on loopback.

``run_bot`` is what ``python -m bot`` runs: it owns the event loop and the signal
handlers, so these tests call it from a plain (sync) test on the main thread, with the
fake Discord serving from a thread of its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import discord
import pytest

from bot import runner
from bot.app import BridgeBot
from bot.config import Settings, load_settings
from bot.store import Store
from tests.fakes.discord import FakeDiscord

TOKEN = "runner.test.token-0123456789abcdef"
SELLAPP_KEY = "sk_live_runner_test_key_0123456789"
SECRET_KEY = "runner-test-secret-key-0123456789abcdef"


@contextmanager
def fake_discord_in_a_thread() -> Iterator[FakeDiscord]:
    loop = asyncio.new_event_loop()
    fake = FakeDiscord(bot_token=TOKEN, heartbeat_interval_ms=1000)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(fake.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="fake-discord", daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def restore_process_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """run_bot sets up the root logger and points discord.py elsewhere: undo both."""
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket,
        "DEFAULT_GATEWAY",
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
    )
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def settings_for(fake: FakeDiscord, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "discord_token": TOKEN,
        "discord_api_base_url": fake.api_base,
        "discord_gateway_url": fake.gateway_url,
        "sellapp_api_key": SELLAPP_KEY,
        "secret_key": SECRET_KEY,
        "database_path": tmp_path / "data" / "bridge.sqlite3",
        "log_level": "DEBUG",
    }
    values.update(overrides)
    return load_settings(None, **values)


def when(condition: Callable[[], bool], then: Callable[[], None]) -> threading.Thread:
    """Run ``then`` from another thread once ``condition`` holds (within 15 s)."""

    def watch() -> None:
        for _ in range(1500):
            if condition():
                then()
                return
            threading.Event().wait(0.01)

    thread = threading.Thread(target=watch, name="watch", daemon=True)
    thread.start()
    return thread


def assert_no_secret(text: str) -> None:
    for secret in (TOKEN, SELLAPP_KEY, SECRET_KEY):
        assert secret not in text


def test_sigterm_closes_the_bot_then_the_store_and_exits_0_without_logging_a_secret(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_process_state: None,
) -> None:
    order: list[str] = []
    store_close, bot_close = Store.close, BridgeBot.close

    async def closing_store(self: Store) -> None:
        order.append("store")
        await store_close(self)

    async def closing_bot(self: BridgeBot) -> None:
        order.append("bot")
        await bot_close(self)

    monkeypatch.setattr(Store, "close", closing_store)
    monkeypatch.setattr(BridgeBot, "close", closing_bot)
    with fake_discord_in_a_thread() as fake:
        # Commands synced: setup_hook is done and the cogs' loops are running.
        watcher = when(
            lambda: fake.connected and bool(fake.commands),
            lambda: os.kill(os.getpid(), signal.SIGTERM),
        )
        code = runner.run_bot(settings_for(fake, tmp_path))
        watcher.join(1)
        still_connected = fake.connected

    assert code == runner.EXIT_OK
    assert order == ["bot", "store"]
    assert not still_connected
    err = capsys.readouterr().err
    assert "signal received: shutting down" in err
    # The bot's last word (aiosqlite's worker thread may still log a DEBUG line after).
    ours = [line for line in err.splitlines() if " bot." in line]
    assert ours[-1].endswith("bot.runner: stopped")
    assert_no_secret(err)


def test_a_token_discord_refuses_is_one_plain_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_process_state: None
) -> None:
    with fake_discord_in_a_thread() as fake:
        code = runner.run_bot(
            # INFO, the default: at DEBUG aiosqlite's worker thread may log its last
            # "operation completed" after this line.
            settings_for(
                fake, tmp_path, discord_token="wrong.token-0123456789abcdef", log_level="INFO"
            )
        )

    assert code == runner.EXIT_FAILED
    err = capsys.readouterr().err
    assert err.rstrip().splitlines()[-1] == (
        "sellapp-bridge: Discord refused the token in DISCORD_TOKEN. Copy it again from the "
        "developer portal (Bot -> Reset Token)."
    )
    assert "wrong.token-0123456789abcdef" not in err
    assert_no_secret(err)
    assert "Traceback" not in err


QUERY_PASSWORD = "runner-SECRET-query-password"


def test_the_database_line_masks_a_password_given_in_the_url_query(
    tmp_path: Path,
    postgres_url: str,
    capsys: pytest.CaptureFixture[str],
    restore_process_state: None,
) -> None:
    url = f"{postgres_url}?password={QUERY_PASSWORD}"  # libpq's other way to give it
    with fake_discord_in_a_thread() as fake:
        code = runner.run_bot(
            settings_for(
                fake,
                tmp_path,
                database_url=url,
                discord_token="wrong.token-0123456789abcdef",  # stops once the store is open
                log_level="INFO",
            )
        )

    assert code == runner.EXIT_FAILED
    err = capsys.readouterr().err
    assert f"database: PostgreSQL {postgres_url}?password=***" in err
    assert QUERY_PASSWORD not in err


def test_an_unreachable_database_is_one_line_without_the_password_in_its_query(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_process_state: None
) -> None:
    url = f"postgresql://bridge@127.0.0.1:1/bridge?sslmode=disable&password={QUERY_PASSWORD}"
    with fake_discord_in_a_thread() as fake:
        code = runner.run_bot(settings_for(fake, tmp_path, database_url=url, log_level="INFO"))

    assert code == runner.EXIT_CONFIG
    err = capsys.readouterr().err
    assert (
        err.rstrip()
        .splitlines()[-1]
        .startswith(
            "sellapp-bridge: cannot open the database"
            " postgresql://bridge@127.0.0.1:1/bridge?sslmode=disable&password=***: "
        )
    )
    assert QUERY_PASSWORD not in err
    assert "Traceback" not in err
