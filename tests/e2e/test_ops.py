"""Operations, through the real process: /healthz and /metrics on HEALTH_PORT, JSON logs,
SIGTERM mid-work, ``backup`` while the bot writes, and ``check`` against the fakes."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.store import load_migrations
from tests.e2e.conftest import StartBot
from tests.e2e.harness import (
    DISCORD_TOKEN,
    SELLAPP_KEY,
    STORE,
    World,
    assert_no_secrets,
    build_world,
    posted_ids,
    ticket_thread,
)
from tests.fakes.discord import FakeDiscord
from tests.fakes.sellapp import FakeSellApp
from tests.ops.test_commands import MESSAGE_CONTENT_LIMITED, with_app_flags

SECRET_WORDS = "my card number is 4111 1111 1111 1111"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Health:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    async def get(self, path: str) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.base + path, timeout=aiohttp.ClientTimeout(total=5)) as response,
        ):
            return response.status, await response.text()

    async def healthz(self) -> tuple[int, dict[str, Any]]:
        status, text = await self.get("/healthz")
        return status, json.loads(text)

    async def wait_healthz(self, status: int, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                got, body = await self.healthz()
            except aiohttp.ClientError as exc:
                last = exc
            else:
                if got == status:
                    return body
                last = (got, body)
            await asyncio.sleep(0.2)
        raise AssertionError(f"/healthz never answered {status}; last: {last}")

    async def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, text = await self.get("/metrics")
        assert status == 200
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples


async def start_with_health(start_bot: StartBot, **env: str) -> tuple[Any, Health]:
    port = free_port()
    bot = await start_bot(HEALTH_PORT=str(port), **env)
    return bot, Health(port)


async def test_healthz_is_503_while_the_gateway_is_down(world: World, start_bot: StartBot) -> None:
    bot, health = await start_with_health(start_bot)
    await bot.wait_for_line(r"poll done")  # the process holds the guild and works on it
    body = await health.wait_healthz(200)
    assert body == {
        "ok": True,
        "checks": {"gateway": True, "database": True, "polls": True},
        "reasons": [],
        "shards": {"count": 1, "ids": [0], "connected": {"0": True}, "guilds_held": 1},
    }
    gateway = world.discord.gateway
    original = gateway._on_frame

    async def refuse_sessions(conn: Any, payload: dict[str, Any]) -> None:
        if payload.get("op") not in (2, 6):  # IDENTIFY and RESUME go unanswered
            await original(conn, payload)

    gateway._on_frame = refuse_sessions  # type: ignore[method-assign]
    await world.discord.drop_gateway()
    body = await health.wait_healthz(503)
    assert body["ok"] is False
    assert body["checks"] == {"gateway": False, "database": True, "polls": True}
    assert body["reasons"][0].startswith("gateway: not connected to Discord")

    del gateway._on_frame  # back to the class's handler
    await gateway.close_all()  # the bot reconnects and resumes
    await health.wait_healthz(200)
    assert await bot.terminate() == 0


async def test_healthz_is_503_when_polls_stall(world: World, start_bot: StartBot) -> None:
    bot, health = await start_with_health(start_bot)
    await health.wait_healthz(200)
    await bot.wait_for_line(r"poll done")  # polled once: the next polls hang
    world.sellapp.latency(6, path=r"/tickets$", times=None)  # each poll hangs 6 s (limit 3 s)
    body = await health.wait_healthz(503, timeout=15)
    assert body["checks"] == {"gateway": True, "database": True, "polls": False}
    (reason,) = body["reasons"]
    assert reason.startswith(f"polls: guild {world.guild.id} last polled ")
    assert "limit 3 s" in reason
    # SIGTERM with a poll in flight: the poller stops at once, the process exits 0.
    started = time.monotonic()
    assert await bot.terminate() == 0
    assert time.monotonic() - started < 5


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, f"{name}{labels} not in /metrics"
    return samples[key]


async def test_metrics_show_polls_requests_and_stored_state(
    world: World, start_bot: StartBot
) -> None:
    ticket = world.sellapp.add_ticket(STORE, title="Broken key", messages=["Hi", "Still broken"])
    bot, health = await start_with_health(start_bot)
    thread = await world.discord.wait_for(
        lambda: ticket_thread(world, world.forum_channel, ticket["id"]), timeout=20
    )
    await world.discord.wait_for(lambda: len(posted_ids(world, thread)) >= 2 or None, timeout=20)
    said = world.discord.member_says(thread.id, world.staff, "A new key is on its way.")
    await world.discord.wait_for(lambda: "✅" in said.reactions or None, timeout=20)
    await bot.wait_for_lines(r"poll done", 2)
    lists_before = len(world.sellapp.requests_to("GET", r"/v1/tickets$"))
    samples = await health.metrics()
    lists_after = len(world.sellapp.requests_to("GET", r"/v1/tickets$"))

    assert value(samples, "sellapp_bridge_polls_total", outcome="ok") >= 2
    assert value(samples, "sellapp_bridge_poll_duration_seconds_count") >= 2
    assert value(samples, "sellapp_bridge_poll_duration_seconds_sum") > 0
    listed = value(
        samples, "sellapp_bridge_sellapp_requests_total", endpoint="GET /v1/tickets", status="200"
    )
    # Every list SellApp answered (all 200 so far) is counted; a poll may run meanwhile.
    assert 2 <= lists_before <= listed <= lists_after
    assert (
        value(
            samples,
            "sellapp_bridge_sellapp_request_duration_seconds_count",
            endpoint="GET /v1/tickets",
        )
        >= 2
    )
    assert value(samples, "sellapp_bridge_relay_latency_seconds_count") == 1  # the one reply
    assert value(samples, "sellapp_bridge_tickets_tracked") == 1
    assert value(samples, "sellapp_bridge_tickets_open") == 1
    assert value(samples, "sellapp_bridge_outbox_entries", state="delivered") == 1
    for state in ("queued", "sending", "waiting", "refused"):
        assert value(samples, "sellapp_bridge_outbox_entries", state=state) == 0
    assert value(samples, "sellapp_bridge_gateway_connected") == 1

    # A failing store shows up as failed polls and 503s by endpoint.
    world.sellapp.fail(path=r"/tickets$", status=503, times=None)
    await bot.wait_for_line(r"poll failed")
    samples = await health.metrics()
    assert value(samples, "sellapp_bridge_polls_total", outcome="failed") >= 1
    assert (
        value(
            samples,
            "sellapp_bridge_sellapp_requests_total",
            endpoint="GET /v1/tickets",
            status="503",
        )
        >= 1
    )
    assert await bot.terminate() == 0


async def test_json_logs_parse_line_by_line_and_hold_no_secret(
    world: World, start_bot: StartBot
) -> None:
    ticket = world.sellapp.add_ticket(STORE, title="Card", messages=[SECRET_WORDS])
    bot, health = await start_with_health(start_bot, LOG_FORMAT="json")
    thread = await world.discord.wait_for(
        lambda: ticket_thread(world, world.forum_channel, ticket["id"]), timeout=20
    )
    await world.discord.wait_for(lambda: posted_ids(world, thread) or None, timeout=20)
    await health.healthz()
    await health.metrics()
    assert await bot.terminate() == 0

    records = [json.loads(line) for line in bot.lines]  # every line is one JSON object
    assert records
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record)
    polls = [r for r in records if "poll done" in r["message"]]
    assert polls and all(r["guild_id"] == world.guild.id for r in polls)
    assert any(r["message"] == "stopped" for r in records)
    assert_no_secrets(bot.output, DISCORD_TOKEN, SELLAPP_KEY, SECRET_WORDS)


async def test_sigterm_mid_work_exits_0_quickly_and_loses_nothing(
    world: World, start_bot: StartBot
) -> None:
    tickets = [
        world.sellapp.add_ticket(STORE, title=f"T{i}", messages=[f"m{i}-{j}" for j in range(8)])
        for i in range(6)
    ]
    bot = await start_bot()
    await world.discord.wait_for(
        lambda: ticket_thread(world, world.forum_channel, tickets[0]["id"]), timeout=20
    )
    started = time.monotonic()
    assert await bot.terminate(timeout=10) == 0
    assert time.monotonic() - started < 5
    assert "Traceback" not in bot.output
    assert bot.lines[-1].endswith("stopped")

    # The next run finishes the work: every message shown once, none twice.
    await start_bot()
    for ticket in tickets:
        thread = await world.discord.wait_for(
            lambda t=ticket: ticket_thread(world, world.forum_channel, t["id"]), timeout=20
        )
        ids = await world.discord.wait_for(
            lambda th=thread: got if len(got := posted_ids(world, th)) >= 8 else None,
            timeout=20,
        )
        assert ids == [m["id"] for m in world.sellapp.messages(STORE, ticket["id"])]


async def run_command(world: World, *args: str, **env: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--env-file",
        str(world.tmp / "no-such.env"),
        *args,
        env=world.env(**env),
        cwd=world.tmp,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_backup_while_the_bot_writes(world: World, start_bot: StartBot) -> None:
    for i in range(3):
        world.sellapp.add_ticket(STORE, title=f"Backup {i}", messages=["a", "b"])
    bot = await start_bot()
    await bot.wait_for_lines(r"poll done", 2)
    target = world.tmp / "backup.sqlite3"
    code, output = await run_command(world, "backup", str(target))
    assert code == 0, output
    assert f"to {target} (schema version {len(load_migrations())})" in output
    db = sqlite3.connect(target)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM tickets").fetchone() == (3,)
    finally:
        db.close()
    assert await bot.terminate() == 0


@pytest.fixture
async def flagged_world(tmp_path: Path) -> AsyncIterator[World]:
    """A world whose Discord application says the Message Content intent is on."""
    discord = FakeDiscord(bot_token=DISCORD_TOKEN)
    with_app_flags(discord, MESSAGE_CONTENT_LIMITED)
    async with discord, FakeSellApp() as sellapp:
        yield build_world(discord, sellapp, tmp_path)


async def test_check_against_the_fakes(flagged_world: World) -> None:
    world = flagged_world
    code, output = await run_command(world, "check")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0] == "ok      settings"
    assert all(line.startswith("ok      ") for line in lines), output
    assert any(line.startswith("ok      Message Content intent") for line in lines)
    assert_no_secrets(output, DISCORD_TOKEN, SELLAPP_KEY)

    world.sellapp.revoke_key(SELLAPP_KEY)
    code, output = await run_command(world, "check")
    assert code == 1
    failed = [line for line in output.splitlines() if line.startswith("failed")]
    assert failed == [
        f"failed  SellApp store for guild {world.guild.id}: SellApp refused the API key "
        "(it may have been revoked or lack access to this store). An admin can reconnect "
        "with /sellapp connect."
    ]
