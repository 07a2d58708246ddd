"""``GET /healthz`` and ``GET /metrics`` on ``HEALTH_PORT`` (aiohttp, in the bot's own loop).

``/healthz`` answers 200 only while all three hold, else 503; the JSON body says which
check failed and why, in words::

    {"ok": false, "checks": {"gateway": false, "database": true, "polls": true},
     "reasons": ["gateway: not connected to Discord (for 4 s)"]}

- gateway: every Discord session (one per shard this process runs) is connected (READY
  or RESUMED since its last disconnect);
- database: a heartbeat row can be committed;
- polls: every runnable, unpaused guild finished a poll (ok or failed: a SellApp outage is
  SellApp's, and restarting the bridge would not fix it) within
  :data:`STALE_AFTER_INTERVALS` poll intervals. The clock starts at the first READY, or
  when the guild's link last changed, so a fresh start or a new link is not stale.

Both pages are per process: the body's ``shards`` says which shards it runs (ids and
count), each one's gateway state and how many guilds it holds; the poll check and the
store gauges cover only the guilds it holds (another process answers for the others)::

    "shards": {"count": 2, "ids": [0], "connected": {"0": true}, "guilds_held": 3}

``/metrics`` is :mod:`bot.ops.metrics` in Prometheus' text format. Neither page holds a
secret or a customer's words: only ids, counts and our own sentences.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web
from discord.ext import commands

from bot.links import LinkConfig, Links
from bot.ops import metrics
from bot.ops.web import AppServer
from bot.shards.guard import GuildGuard
from bot.store import Store

__all__ = ["GatewayWatch", "HealthChecks", "HealthReport", "HealthServer"]

log = logging.getLogger(__name__)

STALE_AFTER_INTERVALS: Final = 3
DATABASE_TIMEOUT: Final = 5.0
ALL_INTERFACES: Final = "0.0.0.0"  # noqa: S104 - a container's port must be reachable

Clock = Callable[[], float]


class GatewayWatch:
    """Whether each of the process's gateway sessions (one per shard) is up, from
    discord.py's own per-shard events (``on_shard_connect``/``ready``/``resumed`` up,
    ``on_shard_disconnect`` down). Connected means every shard this process runs is."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._shards: dict[int, bool] = {}
        self._expected: Callable[[], frozenset[int]] = lambda: frozenset({0})
        self._count: Callable[[], int | None] = lambda: None
        self._closed: Callable[[], bool] = lambda: False
        self.changed_at = clock()
        self.first_ready_at: float | None = None

    def attach(self, bot: commands.AutoShardedBot) -> None:
        """Listen to ``bot``'s shard events; its shard ids and count say what to expect."""
        self._closed = bot.is_closed
        self._expected = lambda: frozenset(bot.shard_ids or range(bot.shard_count or 1))
        self._count = lambda: bot.shard_count
        bot.add_listener(self._on_ready, "on_ready")
        for event in ("on_shard_connect", "on_shard_ready", "on_shard_resumed"):
            bot.add_listener(self._on_shard_up, event)
        bot.add_listener(self._on_shard_down, "on_shard_disconnect")

    async def _on_ready(self) -> None:
        if self.first_ready_at is None:
            self.first_ready_at = self._clock()

    async def _on_shard_up(self, shard_id: int) -> None:
        self.mark_up(shard_id)

    async def _on_shard_down(self, shard_id: int) -> None:
        self.mark_down(shard_id)

    def mark_up(self, shard_id: int = 0) -> None:
        if self.first_ready_at is None:
            self.first_ready_at = self._clock()
        if not self._shards.get(shard_id):
            self._shards[shard_id] = True
            self.changed_at = self._clock()
            log.info("gateway connected (shard %d)", shard_id)

    def mark_down(self, shard_id: int = 0) -> None:
        if self._shards.get(shard_id):
            self._shards[shard_id] = False
            self.changed_at = self._clock()
            log.info("gateway disconnected (shard %d)", shard_id)

    def shards(self) -> dict[int, bool]:
        """Each shard this process runs: whether its session is up now."""
        closed = self._closed()
        return {i: self._shards.get(i, False) and not closed for i in sorted(self._expected())}

    @property
    def shard_count(self) -> int | None:
        """Shards of the bot in all (None until known)."""
        return self._count()

    @property
    def connected(self) -> bool:
        return all(self.shards().values())

    def down(self) -> list[int]:
        return [i for i, up in self.shards().items() if not up]


@dataclass(frozen=True, slots=True)
class HealthReport:
    checks: dict[str, bool]
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(self.checks.values())

    shards: dict[str, Any] | None = None
    """Which shards this process runs and their gateway state, and the guilds it holds."""

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": self.ok, "checks": self.checks, "reasons": self.reasons}
        if self.shards is not None:
            body["shards"] = self.shards
        return body


class HealthChecks:
    """The three checks behind ``/healthz``, and the store-derived gauges of ``/metrics``."""

    def __init__(
        self,
        *,
        gateway: GatewayWatch,
        store: Store,
        links: Links,
        clock: Clock = time.time,
        database_timeout: float = DATABASE_TIMEOUT,
        guard: GuildGuard | None = None,
    ) -> None:
        self.gateway = gateway
        self._guard = guard
        self._store = store
        self._links = links
        self._clock = clock
        self._database_timeout = database_timeout

    async def run(self) -> HealthReport:
        reasons: list[str] = []
        gateway = self._gateway_reason()
        database = await self._database_reason()
        try:
            polls = await self._poll_reasons()
        except Exception as exc:  # the database check says why
            log.warning("health: could not read the poll state: %s", type(exc).__name__)
            polls = ["could not read the poll state"]
        for name, problems in (
            ("gateway", [gateway] if gateway else []),
            ("database", [database] if database else []),
            ("polls", polls),
        ):
            reasons.extend(f"{name}: {problem}" for problem in problems)
        return HealthReport(
            {"gateway": gateway is None, "database": database is None, "polls": not polls},
            reasons,
            shards=self.shard_facts(),
        )

    def shard_facts(self) -> dict[str, Any]:
        """``{"count": 2, "ids": [0], "connected": {"0": true}, "guilds_held": 3}``."""
        states = self.gateway.shards()
        return {
            "count": self.gateway.shard_count,
            "ids": list(states),
            "connected": {str(i): up for i, up in states.items()},
            "guilds_held": len(self._guard.held()) if self._guard is not None else None,
        }

    def _gateway_reason(self) -> str | None:
        down = self.gateway.down()
        if not down:
            return None
        since = max(0, round(self._clock() - self.gateway.changed_at))
        if len(self.gateway.shards()) == 1:
            return f"not connected to Discord (for {since} s)"
        which = ", ".join(str(i) for i in down)
        return (
            f"shard{'s' if len(down) > 1 else ''} {which} not connected to Discord (for {since} s)"
        )

    async def _ours(self) -> list[LinkConfig]:
        """The links this process works on (all of them without a guard)."""
        links = await self._links.all()
        if self._guard is None:
            return links
        held = self._guard.held()
        return [link for link in links if link.guild_id in held]

    async def _database_reason(self) -> str | None:
        try:
            async with asyncio.timeout(self._database_timeout):
                writable = await self._store.writable_check(now=self._clock())
        except TimeoutError:
            return f"a write did not finish within {self._database_timeout:g} s"
        except Exception as exc:  # a closed connection, a full disk: all mean "not writable"
            log.warning("health: database check failed: %s", type(exc).__name__)
            return "the database can't be written"
        return None if writable else "the database can't be written (see the log)"

    async def _poll_reasons(self) -> list[str]:
        started = self.gateway.first_ready_at
        if started is None:
            return []  # not polling before the first READY; the gateway check says so
        now = self._clock()
        problems = []
        for link in await self._ours():
            if not link.runnable or link.paused:
                continue
            row = await self._store.links.get(link.guild_id)
            state = await self._store.state.get_poll_state(link.guild_id)
            since = max(
                started,
                row.updated_at if row else 0.0,
                (state.last_poll_at or 0.0) if state else 0.0,
            )
            limit = STALE_AFTER_INTERVALS * link.poll_interval
            if now - since > limit:
                polled = "never polled" if state is None else "last polled"
                problems.append(
                    f"guild {link.guild_id} {polled} {now - since:.0f} s ago "
                    f"(limit {limit:g} s: {STALE_AFTER_INTERVALS} intervals)"
                )
        return problems

    def refresh_shard_metrics(self) -> None:
        metrics.gateway_connected.set(1 if self.gateway.connected else 0)
        metrics.set_shards(
            self.gateway.shard_count,
            self.gateway.shards(),
            len(self._guard.held()) if self._guard is not None else None,
        )

    async def refresh_metrics(self) -> None:
        self.refresh_shard_metrics()
        guild_ids = [link.guild_id for link in await self._ours()]
        await metrics.refresh_from_store(self._store, guild_ids)


class HealthServer(AppServer):
    """The HTTP side: start after the store opens, stop before it closes."""

    def __init__(self, checks: HealthChecks, port: int, host: str = ALL_INTERFACES) -> None:
        super().__init__(host, port)
        self._checks = checks

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        await self.serve(app)
        log.info("health and metrics on port %d (/healthz, /metrics)", self.port)

    async def _healthz(self, request: web.Request) -> web.Response:
        report = await self._checks.run()
        self._checks.refresh_shard_metrics()
        return web.Response(
            text=json.dumps(report.as_json()),
            status=200 if report.ok else 503,
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            await self._checks.refresh_metrics()
        except Exception as exc:  # still serve the counters; the gauges keep their last value
            log.warning("metrics: could not read the store: %s", type(exc).__name__)
        return web.Response(body=metrics.render(), headers={"Content-Type": metrics.CONTENT_TYPE})
