"""The bot process: logs in through the gateway, syncs its commands, stays connected,
and shuts down cleanly; a wrong token is one clear line."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from tests.e2e.conftest import StartBot
from tests.e2e.harness import DISCORD_TOKEN, SELLAPP_KEY, World, assert_no_secrets


async def test_logs_in_syncs_commands_and_exits_0_on_sigterm(
    world: World, start_bot: StartBot
) -> None:
    bot = await start_bot(fresh=True)
    fake = world.discord
    assert fake.identify_count == 1
    assert fake.connected
    # Slash commands were synced (globally: any server that adds the bot gets them).
    synced = await fake.wait_for(lambda: [c.payload["name"] for c in fake.commands] or None)
    assert "sellapp" in synced
    login = [r.path for r in fake.requests if r.method == "GET"]
    assert "/users/@me" in login
    # It stays connected: heartbeats keep coming (the fake asks for one every 0.5 s).
    beats = fake.heartbeat_count
    await fake.wait_for(lambda: fake.heartbeat_count >= beats + 2 or None, timeout=10)
    assert await bot.terminate() == 0
    assert not fake.connected
    assert "Traceback" not in bot.output
    assert_no_secrets(bot.output, DISCORD_TOKEN, SELLAPP_KEY)


async def test_sigint_also_stops_cleanly(world: World, start_bot: StartBot) -> None:
    bot = await start_bot(fresh=True)
    assert bot.proc is not None
    bot.proc.send_signal(2)
    assert await bot.wait_exit() == 0
    assert "Traceback" not in bot.output


async def test_wrong_token_is_one_line_and_exit_1(world: World, start_bot: StartBot) -> None:
    bot = await start_bot(
        ready=False, fresh=True, DISCORD_TOKEN="MTE2.wrong-token.0123456789abcdef"
    )
    code = await bot.wait_exit()
    assert code == 1
    assert "Traceback" not in bot.output
    last = bot.lines[-1]
    assert last.startswith("sellapp-bridge: Discord refused the token")
    assert "wrong-token" not in bot.output


async def test_survives_a_gateway_drop_and_resumes(world: World, start_bot: StartBot) -> None:
    bot = await start_bot(fresh=True)
    fake = world.discord
    await fake.drop_gateway()
    await fake.wait_for(lambda: fake.resume_count >= 1 or None, timeout=20)
    await asyncio.wait_for(fake.wait_connected(), timeout=20)
    assert await bot.terminate() == 0


async def test_a_bot_from_the_fork_server_starts_and_stops_like_a_fresh_one(
    world: World, start_bot: StartBot
) -> None:
    """The other end-to-end tests fork the bot from tests/e2e/prestart.py: it must say the
    same things as a new ``python -m bot`` (no warning of its own) and exit the same way."""

    def said(lines: list[str], database: Path) -> list[str]:
        # Timestamps, ids, session ids, ports, durations and each run's own database file
        # differ from run to run; the rest may not.
        words = (
            re.sub(r"\b[0-9a-f]{16,}\b", "H", line.split(" ", 2)[-1].replace(str(database), "DB"))
            for line in lines
        )
        return [re.sub(r"\d+", "N", line) for line in words]

    seen = []
    for fresh in (True, False):
        database = world.tmp / f"fresh-{fresh}.sqlite3"
        bot = await start_bot(fresh=fresh, DATABASE_PATH=str(database))
        await bot.wait_for_lines(r"poll done", 1)
        assert await bot.terminate() == 0
        seen.append(sorted(set(said(bot.lines, database))))
    assert seen[1] == seen[0]
