"""The fake Discord's shards, against discord.py's real AutoShardedBot over loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import discord
import pytest
import yarl
from discord.ext import commands

from tests.fakes.discord import FakeDiscord, Guild


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(heartbeat_interval_ms=1000, recommended_shards=2) as fake:
        base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = fake.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
        try:
            yield fake
            assert fake.errors == []
        finally:
            discord.http.Route.BASE = base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


class Sharded(commands.AutoShardedBot):
    def __init__(self, shard_count: int | None, shard_ids: list[int] | None) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True
        intents.message_content = True
        super().__init__(
            command_prefix="!",
            intents=intents,
            guild_ready_timeout=0.05,
            shard_count=shard_count,
            shard_ids=shard_ids,
        )
        self.messages: list[discord.Message] = []

    async def on_message(self, message: discord.Message) -> None:
        self.messages.append(message)


@asynccontextmanager
async def running(
    fake: FakeDiscord, shard_count: int | None = None, shard_ids: list[int] | None = None
) -> AsyncIterator[Sharded]:
    bot = Sharded(shard_count, shard_ids)
    task: asyncio.Task[None] | None = None
    try:
        await bot.login(fake.bot_token)
        task = asyncio.create_task(bot.connect())
        async with asyncio.timeout(10):
            await bot.wait_until_ready()
        yield bot
    finally:
        await bot.close()
        if task is not None:
            await task


def guilds_on_both(fake: FakeDiscord) -> tuple[Guild, Guild, Guild]:
    return (
        fake.add_guild("Even", shard=(0, 2)),
        fake.add_guild("Odd", shard=(1, 2)),
        fake.add_guild("Even too", shard=(0, 2)),
    )


async def test_the_recommended_count_is_asked_for_and_each_shard_gets_its_guilds(
    fake: FakeDiscord,
) -> None:
    even, odd, even_too = guilds_on_both(fake)
    assert (even.id >> 22) % 2 == 0 and (odd.id >> 22) % 2 == 1
    async with running(fake) as bot:  # no count: GET /gateway/bot says 2
        assert bot.shard_count == 2
        assert sorted(fake.gateway.identified) == [(0, 2), (1, 2)]
        assert fake.connected_shards() == {0, 1}
        assert {g.id for g in bot.guilds} == {even.id, odd.id, even_too.id}
        assert {g.id: g.shard_id for g in bot.guilds} == {even.id: 0, odd.id: 1, even_too.id: 0}
        assert fake.requests_to("GET", r"/gateway/bot$")


async def test_a_process_running_one_shard_sees_only_that_shards_guilds_and_events(
    fake: FakeDiscord,
) -> None:
    even, odd, _ = guilds_on_both(fake)
    even_channel = fake.add_text_channel(even, "tickets")
    odd_channel = fake.add_text_channel(odd, "tickets")
    author = fake.add_member(odd, "agent")
    even_author = fake.add_member(even, "agent")
    async with running(fake, 2, [1]) as second, running(fake, 2, [0]) as first:
        assert {g.id for g in second.guilds} == {odd.id}
        assert odd.id not in {g.id for g in first.guilds}
        arrived = asyncio.ensure_future(second.wait_for("message", timeout=5))
        arrived_first = asyncio.ensure_future(first.wait_for("message", timeout=5))
        fake.member_says(odd_channel.id, author, "to shard 1")
        fake.member_says(even_channel.id, even_author, "to shard 0")
        assert (await arrived).content == "to shard 1"
        assert (await arrived_first).content == "to shard 0"
        await asyncio.sleep(0.2)  # nothing else arrives anywhere
        assert [m.content for m in second.messages] == ["to shard 1"]
        assert [m.content for m in first.messages] == ["to shard 0"]

        # A lost socket of one shard resumes that shard only.
        resumed = asyncio.ensure_future(second.wait_for("shard_resumed", timeout=10))
        await fake.drop_gateway(shard=1)
        assert fake.connected_shards() == {0}
        assert await resumed == 1
        assert fake.resume_count == 1 and fake.connected_shards() == {0, 1}


async def _identify(fake: FakeDiscord, shard: object) -> int | None:
    """A raw IDENTIFY with ``shard``; the close code the fake answers with (None: READY)."""
    async with aiohttp.ClientSession() as http, http.ws_connect(fake.gateway_url) as ws:
        await ws.receive_json()  # HELLO
        payload: dict[str, object] = {"token": fake.bot_token, "intents": 0}
        if shard is not None:
            payload["shard"] = shard
        await ws.send_str(json.dumps({"op": 2, "d": payload}))
        reply = await ws.receive()
        if reply.type is aiohttp.WSMsgType.TEXT:
            assert json.loads(reply.data)["t"] == "READY"
            return None
        return ws.close_code


async def test_an_invalid_shard_is_closed_with_4010(fake: FakeDiscord) -> None:
    for bad in ([2, 2], [-1, 2], [0, 0], [0], "0,1"):
        assert await _identify(fake, bad) == 4010
    assert await _identify(fake, [1, 2]) is None
    assert [code for _, code in fake.gateway.refused] == [4010] * 5


async def test_too_many_guilds_unsharded_is_closed_with_4011(fake: FakeDiscord) -> None:
    fake.max_guilds_per_shard = 2
    guilds_on_both(fake)
    assert await _identify(fake, None) == 4011  # three guilds on one shard
    assert await _identify(fake, [0, 1]) == 4011
    assert await _identify(fake, [0, 2]) is None  # two of them: allowed
    assert fake.gateway.refused == [(None, 4011), ([0, 1], 4011)]


async def test_sessions_of_two_shard_counts_both_get_a_guilds_messages(
    fake: FakeDiscord,
) -> None:
    """A host moving from one shard to two runs both for a while: Discord sends a guild's
    events to the session of its shard in each count, so the process that does not hold
    the guild sees them too (and must leave them alone)."""
    _, odd, _ = guilds_on_both(fake)
    channel = fake.add_text_channel(odd, "tickets")
    author = fake.add_member(odd, "agent")
    async with running(fake, 1, [0]) as old, running(fake, 2, [1]) as new:
        assert sorted(fake.gateway.identified) == [(0, 1), (1, 2)]
        to_old = asyncio.ensure_future(old.wait_for("message", timeout=5))
        to_new = asyncio.ensure_future(new.wait_for("message", timeout=5))
        fake.member_says(channel.id, author, "seen by both counts")
        assert (await to_old).content == "seen by both counts"
        assert (await to_new).content == "seen by both counts"
