"""Many guilds on one process: ``guilds`` linked guilds, ``tickets`` tickets each (one of
them open), each guild with its own SellApp store and key. The first guild is linked by
the settings; the others by ``guild_links`` rows (key sealed with the bot's SECRET_KEY)
written into the database before start.

After every guild's first link, the run alternates phases: *normal*, then *slow* (every
request to one store is delayed by ``slow_seconds`` at the fake SellApp), twice. Per
phase, each guild's poll times come from its ``guild <id>: poll done`` log lines (stamped
on arrival); a guild's *wait* is the gap between two of its polls. The target: the slow
store's guild may crawl, the others' waits stay what they were.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.common import TimedBot, median, percentile, scratch_folder, wait_until
from bot.links.sealing import Sealer
from bot.store import Store
from tests.e2e.harness import DISCORD_TOKEN, SELLAPP_KEY, STORE, World, build_world
from tests.fakes.discord import FakeDiscord
from tests.fakes.sellapp import FakeSellApp


class SlowStoreSellApp(FakeSellApp):
    """The fake SellApp, delaying every request made for one store (by ``X-STORE``)."""

    def __init__(self) -> None:
        super().__init__()
        self.slow_store: str | None = None
        self.slow_seconds = 0.0

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.slow_store is not None and request.headers.get("X-STORE") == self.slow_store:
            await asyncio.sleep(self.slow_seconds)
        return await super()._middleware(request, handler)


@dataclass
class Phase:
    name: str
    fast_median: float  # s between polls, fast guilds
    fast_p99: float
    fast_max: float
    slow_max: float | None  # the slow guild's longest wait
    polls: int
    cycle_ms: float  # median "poll done in" of fast guilds


async def seed_links(path: Path, secret: str, guilds: list[tuple[int, int, int, str, str]]) -> None:
    sealer = Sealer(secret)
    async with await Store.open(path) as store:
        for guild_id, channel_id, role_id, slug, key in guilds:
            await store.links.upsert(
                guild_id,
                now=time.time(),
                store_slug=slug,
                api_key_sealed=sealer.seal(key),
                channel_id=channel_id,
                staff_role_ids=[role_id],
            )


def phase_of(bot: TimedBot, name: str, since: float, until: float, slow_guild: int | None) -> Phase:
    gaps: list[float] = []
    durations: list[float] = []
    slow: list[float] = []
    polls = 0
    for guild, runs in bot.polls(since=since).items():
        times = [t for t, _ in runs if t <= until]
        polls += len(times)
        waits = [b - a for a, b in itertools.pairwise(times)]
        if guild == slow_guild:
            slow += waits or [until - since]
        else:
            gaps += waits
            durations += [d for t, d in runs if t <= until]
    gaps = gaps or [until - since]  # no fast guild polled twice: the phase was too short
    durations = durations or [0.0]
    return Phase(
        name,
        median(gaps),
        percentile(gaps, 99),
        max(gaps),
        (max(slow) if slow else until - since) if slow_guild is not None else None,
        polls,
        median(durations) * 1000,
    )


async def run(
    *,
    guilds: int = 200,
    tickets: int = 50,
    interval: float = 5.0,
    phase_seconds: float = 20.0,
    slow_seconds: float = 6.0,
    rounds: int = 2,
    settle_intervals: float = 3.0,
) -> list[Phase]:
    with tempfile.TemporaryDirectory(dir=scratch_folder()) as folder:
        tmp = Path(folder)
        async with (
            FakeDiscord(bot_token=DISCORD_TOKEN) as discord,
            SlowStoreSellApp() as sellapp,
        ):
            world: World = build_world(discord, sellapp, tmp)
            world.fast_timers = False  # figures with the production waits
            stores = [(world.guild.id, STORE, SELLAPP_KEY)]
            seeded = []
            for n in range(1, guilds):
                guild = discord.add_guild(f"Shop {n}")
                role = discord.add_role(guild, "Staff")
                forum = discord.add_forum_channel(guild, "tickets", tags=["Open", "Closed"])
                slug, key = f"store-{n}", f"key-{n}-0123456789abcdef"
                sellapp.add_account(key, [slug])
                stores.append((guild.id, slug, key))
                seeded.append((guild.id, forum.id, role.id, slug, key))
            for _, slug, _ in stores:
                for t in range(tickets):
                    sellapp.add_ticket(
                        slug, status="OPEN" if t == 0 else "CLOSED", messages=["hi", "order?"]
                    )
            env = world.env(POLL_INTERVAL_SECONDS=f"{interval:g}")
            await seed_links(Path(env["DATABASE_PATH"]), env["SECRET_KEY"], seeded)
            bot = TimedBot(env=env, cwd=tmp / "cwd")
            await bot.start()
            try:
                await bot.wait_ready(timeout=120)
                await wait_until(
                    lambda: len(bot.polls()) >= guilds, 60 + guilds, "every guild's first poll"
                )
                # Let the first links' tail (threads, histories) pass before measuring.
                await asyncio.sleep(settle_intervals * interval)
                slow_guild, slow_slug, _ = stores[len(stores) // 2]
                phases = []
                for r in range(rounds):
                    for slow in (False, True):
                        sellapp.slow_store = slow_slug if slow else None
                        sellapp.slow_seconds = slow_seconds
                        since = time.monotonic()
                        await asyncio.sleep(phase_seconds)
                        name = f"{'slow store' if slow else 'normal'} (round {r + 1})"
                        phases.append(
                            phase_of(
                                bot,
                                name,
                                since,
                                time.monotonic(),
                                slow_guild if slow else None,
                            )
                        )
                sellapp.slow_store = None
            except BaseException:
                print("\n".join(bot.lines[-30:]))
                raise
            finally:
                await bot.close()
    return phases
