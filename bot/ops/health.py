"""``GET /healthz`` and ``GET /metrics`` on ``HEALTH_PORT`` (aiohttp, in the bot's own loop).

``/healthz`` answers 200 only while all three hold, else 503; the JSON body says which
check failed and why, in words::

    {"ok": false, "checks": {"gateway": false, "database": true, "polls": true},
     "reasons": ["gateway: not connected to Discord (for 4 s)"]}

- gateway: the Discord session is connected (READY or RESUMED since the last disconnect);
- database: a heartbeat row can be committed;
- polls: every runnable, unpaused guild finished a poll (ok or failed: a SellApp outage is
  SellApp's, and restarting the bridge would not fix it) within
  :data:`STALE_AFTER_INTERVALS` poll intervals. The clock starts at the first READY, or
  when the guild's link last changed, so a fresh start or a new link is not stale.

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

from bot.links import Links
from bot.ops import metrics
from bot.ops.web import AppServer
from bot.store import Store

__all__ = ["GatewayWatch", "HealthChecks", "HealthReport", "HealthServer"]

log = logging.getLogger(__name__)

STALE_AFTER_INTERVALS: Final = 3
DATABASE_TIMEOUT: Final = 5.0
ALL_INTERFACES: Final = "0.0.0.0"  # noqa: S104 - a container's port must be reachable

Clock = Callable[[], float]


class GatewayWatch:
    """Whether the bot's gateway session is up, from discord.py's own events."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._up = False
        self._closed: Callable[[], bool] = lambda: False
        self.changed_at = clock()
        self.first_ready_at: float | None = None

    def attach(self, bot: commands.Bot) -> None:
        """Listen to ``bot``'s ready/resumed/disconnect events."""
        self._closed = bot.is_closed
        bot.add_listener(self._on_up, "on_ready")
        bot.add_listener(self._on_up, "on_resumed")
        bot.add_listener(self._on_down, "on_disconnect")

    async def _on_up(self) -> None:
        self.mark_up()

    async def _on_down(self) -> None:
        self.mark_down()

    def mark_up(self) -> None:
        if self.first_ready_at is None:
            self.first_ready_at = self._clock()
        if not self._up:
            self._up, self.changed_at = True, self._clock()
            log.info("gateway connected")

    def mark_down(self) -> None:
        if self._up:
            self._up, self.changed_at = False, self._clock()
            log.info("gateway disconnected")

    @property
    def connected(self) -> bool:
        return self._up and not self._closed()


@dataclass(frozen=True, slots=True)
class HealthReport:
    checks: dict[str, bool]
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(self.checks.values())

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": self.checks, "reasons": self.reasons}


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
    ) -> None:
        self.gateway = gateway
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
        )

    def _gateway_reason(self) -> str | None:
        if self.gateway.connected:
            return None
        since = max(0, round(self._clock() - self.gateway.changed_at))
        return f"not connected to Discord (for {since} s)"

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
        for link in await self._links.all():
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

    async def refresh_metrics(self) -> None:
        metrics.gateway_connected.set(1 if self.gateway.connected else 0)
        guild_ids = [link.guild_id for link in await self._links.all()]
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
        metrics.gateway_connected.set(1 if report.checks["gateway"] else 0)
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
