"""Shards: one process running two shards, then two processes (shard 0 and shard 1 of 2)
on one database, with guilds on both shards. Each guild is worked on by the process of
its shard only, and a ``kill -9`` mid-burst loses and doubles nothing.

The database is the harness's :class:`SharedDatabase` (one SQLite file here, kept apart
per guild by ``FileClaims``); the same tests run on PostgreSQL with a ``DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.links.sealing import Sealer
from bot.shards.plan import shard_of
from tests.e2e.checks import replies_at_sellapp, thread_in_order
from tests.e2e.conftest import StartBot
from tests.e2e.harness import SECRET_KEY, BotProcess, SharedDatabase, World, ticket_thread
from tests.e2e.test_ops import Health, free_port, value
from tests.fakes.discord import Channel, Guild, Member, Message


@dataclass
class Shop:
    """One server on a known shard, linked to its own SellApp store."""

    guild: Guild
    store: str
    key: str
    staff: Member
    channel: Channel
    tickets: list[int] = field(default_factory=list)
    said: list[tuple[Message, str]] = field(default_factory=list)


def open_shops(world: World, shards: list[int], count: int = 2) -> list[Shop]:
    shops = []
    for n, shard in enumerate(shards):
        guild = world.discord.add_guild(f"Shop {n}", shard=(shard, count))
        role = world.discord.add_role(guild, "Staff")
        staff = world.discord.add_member(guild, f"staff-{n}", roles=[role])
        channel = world.discord.add_text_channel(guild, "tickets")
        store, key = f"shop-{n}", f"sk_live_shop_{n}_0123456789SECRET"
        world.sellapp.add_account(key, [store])
        shop = Shop(guild, store, key, staff, channel)
        ticket = world.sellapp.add_ticket(store, title=f"Order {n}", messages=[f"hello from {n}"])
        shop.tickets.append(ticket["id"])
        shops.append(shop)
        assert shard_of(guild.id, count) == shard
    return shops


async def link(db: SharedDatabase, world: World, shops: list[Shop]) -> None:
    """What /sellapp connect, channel and staff add would have stored, for every shop."""
    sealer = Sealer(SECRET_KEY)
    async with await db.open() as store:
        for shop in shops:
            role = next(r for r in shop.guild.roles.values() if r.name == "Staff")
            await store.links.upsert(
                shop.guild.id,
                now=time.time(),
                store_slug=shop.store,
                api_key_sealed=sealer.seal(shop.key),
                channel_id=shop.channel.id,
                staff_role_ids=[role.id],
            )


def unlinked_env(db: SharedDatabase, **extra: str) -> dict[str, str]:
    """No link from the settings (every shop is linked in the database)."""
    return {
        "DISCORD_GUILD_ID": "",
        "TICKETS_CHANNEL_ID": "",
        "SELLAPP_API_KEY": "",
        "SELLAPP_STORE": "",
        **db.env,
        **extra,
    }


def polled_guilds(bot: BotProcess) -> set[int]:
    return {
        int(m[1]) for line in bot.lines if (m := re.search(r"guild (\d+): polling started", line))
    }


def converged(world: World, shops: list[Shop]) -> bool:
    for shop in shops:
        for ticket_id in shop.tickets:
            if not thread_in_order(world, shop.channel, ticket_id, shop.store):
                return False
        ticket_id = shop.tickets[0]
        if replies_at_sellapp(world, ticket_id, shop.store) != [text for _, text in shop.said]:
            return False
        if not all("✅" in said.reactions for said, _ in shop.said):
            return False
    return True


async def staff_replies(world: World, shop: Shop, text: str) -> None:
    thread = await world.discord.wait_for(
        lambda: ticket_thread(world, shop.channel, shop.tickets[0]), 30
    )
    shop.said.append((world.discord.member_says(thread.id, shop.staff, text), text))


async def test_one_process_runs_both_shards_and_serves_every_guild(
    world: World, start_bot: StartBot
) -> None:
    db = SharedDatabase.sqlite(world.tmp)
    shops = open_shops(world, [0, 1, 1])
    await link(db, world, shops)
    port = free_port()
    bot = await start_bot(**unlinked_env(db, SHARD_COUNT="2", HEALTH_PORT=str(port)))
    assert sorted(world.discord.gateway.identified) == [(0, 2), (1, 2)]
    await bot.wait_for_line(r"ready: .* shards 0, 1 of 2")
    for shop in shops:
        await staff_replies(world, shop, f"answer in {shop.store}")
    await world.discord.wait_for(lambda: converged(world, shops) or None, timeout=40)
    assert polled_guilds(bot) == {shop.guild.id for shop in shops}
    assert world.discord.connected_shards() == {0, 1}

    health = Health(port)
    body = await health.wait_healthz(200)
    assert body["shards"] == {
        "count": 2,
        "ids": [0, 1],
        "connected": {"0": True, "1": True},
        "guilds_held": 4,  # the three shops and the world's own (unlinked) server
    }
    samples = await health.metrics()
    assert value(samples, "sellapp_bridge_shard_count") == 2
    assert value(samples, "sellapp_bridge_shard_connected", shard="0") == 1
    assert value(samples, "sellapp_bridge_shard_connected", shard="1") == 1
    assert value(samples, "sellapp_bridge_guilds_held") == 4
    # One shard's socket lost (and its RESUME unanswered): /healthz names that shard.
    gateway = world.discord.gateway
    original = gateway._on_frame

    async def refuse_sessions(conn: Any, payload: dict[str, Any]) -> None:
        if payload.get("op") not in (2, 6):
            await original(conn, payload)

    gateway._on_frame = refuse_sessions  # type: ignore[method-assign]
    await world.discord.drop_gateway(shard=1)
    body = await health.wait_healthz(503)
    assert body["shards"]["connected"] == {"0": True, "1": False}
    assert body["reasons"][0].startswith("gateway: shard 1 not connected to Discord")
    samples = await health.metrics()
    assert value(samples, "sellapp_bridge_shard_connected", shard="1") == 0
    del gateway._on_frame
    await gateway.close_all()
    await health.wait_healthz(200)
    assert await bot.terminate() == 0


async def test_discords_recommended_count_is_used_when_none_is_set(
    world: World, start_bot: StartBot
) -> None:
    world.discord.recommended_shards = 2
    db = SharedDatabase.sqlite(world.tmp)
    shops = open_shops(world, [0, 1])
    await link(db, world, shops)
    bot = await start_bot(**unlinked_env(db))
    await bot.wait_for_line(r"Discord recommends 2 shard\(s\)")
    assert sorted(world.discord.gateway.identified) == [(0, 2), (1, 2)]
    await world.discord.wait_for(lambda: converged(world, shops) or None, timeout=40)
    assert await bot.terminate() == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_two_processes_split_the_guilds_and_a_kill_9_mid_burst_loses_nothing(
    world: World, start_bot: StartBot, backend: str, request: pytest.FixtureRequest
) -> None:
    """Shards 0 and 1 of 2 in two processes on one database: an SQLite file (kept apart by
    file locks) or one PostgreSQL database (advisory locks)."""
    db = (
        SharedDatabase.postgres(request.getfixturevalue("postgres_url"))
        if backend == "postgres"
        else SharedDatabase.sqlite(world.tmp)
    )
    shops = open_shops(world, [0, 1, 0, 1])
    await link(db, world, shops)
    env = unlinked_env(db, SHARD_COUNT="2")
    first = await start_bot(**env, SHARD_IDS="0")
    second = await start_bot(**env, SHARD_IDS="1")
    for shop in shops:
        await staff_replies(world, shop, f"first answer in {shop.store}")
    await world.discord.wait_for(lambda: converged(world, shops) or None, timeout=40)
    on_0 = {s.guild.id for s in shops if shard_of(s.guild.id, 2) == 0}
    on_1 = {s.guild.id for s in shops} - on_0
    assert polled_guilds(first) == on_0
    assert polled_guilds(second) == on_1
    kind = "PostgreSQL" if backend == "postgres" else "SQLite"
    assert any(f"database: {kind} " in line for line in first.lines + second.lines)

    # A burst on every shop: customers write at SellApp, staff answer in Discord; the
    # second process is killed in the middle of it, then started again.
    for round_ in range(6):
        for shop in shops:
            world.sellapp.add_customer_message(shop.store, shop.tickets[0], f"more {round_}")
            await staff_replies(world, shop, f"reply {round_} in {shop.store}")
        await asyncio.sleep(0.15)
        if round_ == 2:
            assert await second.kill() != 0
    second = await start_bot(**env, SHARD_IDS="1")
    await world.discord.wait_for(lambda: converged(world, shops) or None, timeout=60)
    assert polled_guilds(first) == on_0  # never took the dead process's guilds
    assert polled_guilds(second) == on_1
    # Once each: every customer message in its thread (converged compares the threads
    # with SellApp part by part), every reply at SellApp.
    for shop in shops:
        assert len(replies_at_sellapp(world, shop.tickets[0], shop.store)) == 7
    assert await first.terminate() == 0
    assert await second.terminate() == 0


async def test_a_moved_shard_waits_until_the_old_process_lets_go(
    world: World, start_bot: StartBot
) -> None:
    db = SharedDatabase.sqlite(world.tmp)
    shops = open_shops(world, [0, 1])
    await link(db, world, shops)
    env = unlinked_env(db)
    old = await start_bot(**env, SHARD_COUNT="1")  # every guild, one shard
    await world.discord.wait_for(lambda: converged(world, shops) or None, timeout=40)
    # The host now runs two shards, the new process shard 1: the old one still holds
    # every guild, so the new one may not work on its guild yet.
    new = await start_bot(**env, SHARD_COUNT="2", SHARD_IDS="1")
    await new.wait_for_line(r"another process still holds it")
    await asyncio.sleep(1.5)
    assert polled_guilds(new) == set()
    assert await old.terminate() == 0
    await new.wait_for_line(r"guild \d+: polling started", timeout=20)
    odd = next(s for s in shops if shard_of(s.guild.id, 2) == 1)
    assert polled_guilds(new) == {odd.guild.id}
    await staff_replies(world, odd, "answered by the new process")
    await world.discord.wait_for(lambda: converged(world, [odd]) or None, timeout=40)
    assert await new.terminate() == 0


async def test_too_many_servers_for_one_shard_is_one_line_and_exit_1(
    world: World, start_bot: StartBot
) -> None:
    world.discord.max_guilds_per_shard = 0  # the world's one server is already too many
    bot = await start_bot(ready=False, SHARD_COUNT="1")
    assert await bot.wait_exit() == 1
    assert "Traceback" not in bot.output
    assert bot.lines[-1] == (
        "sellapp-bridge: Discord requires more shards for this many servers: raise "
        "SHARD_COUNT, or leave it blank to use Discord's recommended count."
    )
    assert world.discord.gateway.refused == [([0, 1], 4011)]
