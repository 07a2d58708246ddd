"""The bot process: logs in through the gateway, syncs its commands, stays connected,
and shuts down cleanly; a wrong token is one clear line."""

from __future__ import annotations

import asyncio

from tests.e2e.conftest import StartBot
from tests.e2e.harness import DISCORD_TOKEN, SELLAPP_KEY, World, assert_no_secrets


async def test_logs_in_syncs_commands_and_exits_0_on_sigterm(
    world: World, start_bot: StartBot
) -> None:
    bot = await start_bot()
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
    bot = await start_bot()
    assert bot.proc is not None
    bot.proc.send_signal(2)
    assert await bot.wait_exit() == 0
    assert "Traceback" not in bot.output


async def test_wrong_token_is_one_line_and_exit_1(world: World, start_bot: StartBot) -> None:
    bot = await start_bot(ready=False, DISCORD_TOKEN="MTE2.wrong-token.0123456789abcdef")
    code = await bot.wait_exit()
    assert code == 1
    assert "Traceback" not in bot.output
    last = bot.lines[-1]
    assert last.startswith("sellapp-bridge: Discord refused the token")
    assert "wrong-token" not in bot.output


async def test_survives_a_gateway_drop_and_resumes(world: World, start_bot: StartBot) -> None:
    bot = await start_bot()
    fake = world.discord
    await fake.drop_gateway()
    await fake.wait_for(lambda: fake.resume_count >= 1 or None, timeout=20)
    await asyncio.wait_for(fake.wait_connected(), timeout=20)
    assert await bot.terminate() == 0
