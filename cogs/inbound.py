"""Inbound polling: one loop per linked guild, each driving :class:`bot.inbound.engine.InboundSync`.

Each guild polls in its own task, so a slow or failing store never holds up another
guild. A loop survives every failed cycle (recorded in ``poll_state`` for
``/sellapp status``, counted by a metric) and keeps its progress in SQLite. Each cycle
(and each one-ticket or hinted sync) is one step of the guild guard's
(:meth:`bot.shards.guard.GuildGuard.working`); a guild whose claim is lost has its poll
task cancelled first thing in the guard's next pass. A failure
that repeats is logged once, when it starts or its words change, and once more when
polling works again; not on every poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from discord.ext import commands

from bot.errors import BridgeError, GuildNotHeld, SellAppNotFound
from bot.explain import explain
from bot.inbound.cadence import first_poll_delays
from bot.inbound.discord_edge import DiscordThreads
from bot.inbound.engine import CycleReport, InboundSync
from bot.links import LinkConfig
from bot.ops import metrics
from bot.sellapp.models import Ticket
from bot.shards.guard import GuardPass

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

# How often the supervisor looks for guilds linked, unlinked, paused or resumed.
SUPERVISE_SECONDS = 5.0


class Inbound(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        self.services = bot.services
        self.engine = InboundSync(
            self.services.store,
            DiscordThreads(bot, bot.pacer),
            on_new_thread=self._new_thread,
            works_on=bot.guard.works_on,
        )
        self._loops: dict[int, asyncio.Task[None]] = {}
        self._wake: dict[int, asyncio.Event] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._supervisor: asyncio.Task[None] | None = None
        self._rescan = asyncio.Event()

    async def cog_load(self) -> None:
        if self.services.push is not None:
            self.services.push.reader = self.read_hinted
        self.bot.guard.add_listener(self._claims_changed)
        self._supervisor = asyncio.create_task(self._supervise(), name="inbound-supervisor")

    async def cog_unload(self) -> None:
        tasks = [t for t in (self._supervisor, *self._loops.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops.clear()

    async def _new_thread(self, guild_id: int, ticket: Ticket, thread_id: int) -> None:
        """A ticket's thread exists now: let the orders cog post the order card."""
        from cogs.orders import Orders  # noqa: PLC0415 (loaded after this cog)

        orders = self.bot.get_cog("Orders")
        if isinstance(orders, Orders):
            await orders.ticket_thread_created(guild_id, ticket, thread_id)

    def links_changed(self) -> None:
        """Called by the admin commands: look at the links (and the claims) again now."""
        self._rescan.set()
        self.bot.guard.wake.set()

    def _claims_changed(self, change: GuardPass) -> None:
        """Guilds given up or lost stop polling at once; guilds taken start soon."""
        for guild_id in change.released | change.lost:
            task = self._loops.pop(guild_id, None)
            if task is not None:
                task.cancel()
                log.info("guild %s: polling stopped (no longer held here)", guild_id)
        if change.acquired:
            self._rescan.set()

    async def _supervise(self) -> None:
        await self.bot.wait_until_ready()
        while True:
            try:
                await self._reconcile_loops()
            except Exception:
                log.exception("inbound supervisor: could not read the links; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rescan.wait(), timeout=SUPERVISE_SECONDS)
            self._rescan.clear()

    async def _reconcile_loops(self) -> None:
        intervals = {
            link.guild_id: link.poll_interval
            for link in await self.services.links.all()
            if link.runnable and not link.paused and self.bot.guard.works_on(link.guild_id)
        }
        wanted = set(intervals)
        for guild_id in list(self._loops):
            task = self._loops[guild_id]
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error(
                    "guild %s: poll loop died; restarting it", guild_id, exc_info=task.exception()
                )
            if guild_id not in wanted or task.done():
                task.cancel()
                del self._loops[guild_id]
                log.info("guild %s: polling stopped", guild_id)
        starting = {g: intervals[g] for g in wanted - set(self._loops)}
        for guild_id, delay in first_poll_delays(starting).items():
            self._loops[guild_id] = asyncio.create_task(
                self._guild_loop(guild_id, delay), name=f"poll-{guild_id}"
            )
            log.info("guild %s: polling started", guild_id)

    async def _guild_loop(self, guild_id: int, first_delay: float = 0.0) -> None:
        wake = self._wake.setdefault(guild_id, asyncio.Event())
        if first_delay > 0:  # one of a big batch: spread over an interval (bot.inbound.cadence)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=first_delay)
            wake.clear()
        while True:
            if not self.bot.guard.works_on(guild_id):
                return  # another process holds it now (the supervisor notices)
            link = await self.services.links.get(guild_id)
            if link is None or not link.runnable or link.paused:
                return
            started = time.monotonic()
            if self.services.push is not None:
                await self.services.push.ensure(link)
            await self.poll(link)
            # A steady cadence: cycles start one interval apart (not interval + cycle).
            rest = max(0.0, link.poll_interval - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=rest)
            wake.clear()

    def poll_soon(self, guild_id: int) -> None:
        event = self._wake.get(guild_id)
        if event is not None:
            event.set()

    async def sync_ticket(self, link: LinkConfig, ticket: Ticket) -> CycleReport:
        """One ticket now, under the guild's lock so it never races a cycle."""
        assert link.channel_id is not None
        lock = self._locks.setdefault(link.guild_id, asyncio.Lock())
        async with lock, self.bot.guard.working(link.guild_id):
            return await self.engine.sync_ticket(
                link.guild_id,
                link.channel_id,
                self.services.links.client_for(link),
                ticket,
                interval=link.poll_interval,
            )

    def _sweep(self, guild_id: int) -> float | None:
        """With push live, quiet tickets wait for the sweep instead of a backoff."""
        push = self.services.push
        if push is None or not push.is_live(guild_id):
            return None
        return self.services.settings.push_sweep_seconds

    async def read_hinted(self, guild_id: int, ticket_id: int) -> None:
        """A webhook said ``ticket_id`` has news: read it now (``bot.push.hub``). A guild
        another process holds is left to it: the hub marked the ticket due, so the
        holder's next poll reads it."""
        if not self.bot.guard.works_on(guild_id):
            return
        link = await self.services.links.get(guild_id)
        if link is None or not link.runnable or link.paused:
            return
        assert link.channel_id is not None
        client = self.services.links.client_for(link)
        try:
            ticket = await client.get_ticket(ticket_id)
        except SellAppNotFound:
            log.info("guild %s: hinted ticket %s is not in the store", guild_id, ticket_id)
            return
        except BridgeError as exc:
            log.warning("guild %s: hinted read failed: %s", guild_id, explain(exc))
            return
        lock = self._locks.setdefault(guild_id, asyncio.Lock())
        async with lock:
            try:
                async with self.bot.guard.working(guild_id):
                    report = await self.engine.sync_hinted(
                        guild_id,
                        link.channel_id,
                        client,
                        ticket,
                        interval=link.poll_interval,
                        sweep=self._sweep(guild_id),
                    )
            except GuildNotHeld:
                return  # lost meanwhile: the ticket stays due for its holder's poll
            except BridgeError as exc:
                log.warning("guild %s: hinted read failed: %s", guild_id, explain(exc))
                return
        log.info(
            "guild %s: hint for ticket %s: %d posted", guild_id, ticket_id, report.messages_posted
        )

    async def poll(self, link: LinkConfig) -> CycleReport | BridgeError:
        """One cycle for one guild; never raises (the failure is recorded and returned)."""
        assert link.channel_id is not None
        lock = self._locks.setdefault(link.guild_id, asyncio.Lock())
        store = self.services.store
        async with lock:
            started = time.monotonic()
            client = self.services.links.client_for(link)
            before = await store.state.get_poll_state(link.guild_id)
            failing = before.last_error if before and before.consecutive_failures else None
            try:
                async with self.bot.guard.working(link.guild_id):
                    report = await self.engine.run_cycle(
                        link.guild_id,
                        link.channel_id,
                        client,
                        interval=link.poll_interval,
                        sweep=self._sweep(link.guild_id),
                    )
            except GuildNotHeld as exc:
                # Lost before or during the cycle: nothing recorded for a guild that
                # another process may hold now; its holder polls it.
                log.info("guild %s: poll stopped: the guild's claim was lost", link.guild_id)
                return exc
            except BridgeError as exc:
                _count_poll("failed", started)
                words = explain(exc)
                level = logging.DEBUG if words == failing else logging.WARNING
                log.log(level, "guild %s: poll failed: %s", link.guild_id, words, extra=_ids(link))
                await store.state.record_poll_failure(link.guild_id, now=time.time(), error=words)
                return exc
            except Exception:
                _count_poll("failed", started)
                words = explain(RuntimeError())
                log.log(
                    logging.DEBUG if words == failing else logging.ERROR,
                    "guild %s: poll failed unexpectedly",
                    link.guild_id,
                    exc_info=True,
                    extra=_ids(link),
                )
                await store.state.record_poll_failure(link.guild_id, now=time.time(), error=words)
                return BridgeError("unexpected error")
            _count_poll("ok", started)
            await store.state.record_poll_success(
                link.guild_id, now=time.time(), response_ms=client.last_response_ms
            )
            if before is not None and before.consecutive_failures:
                log.info(
                    "guild %s: polling works again after %d failed poll(s)",
                    link.guild_id,
                    before.consecutive_failures,
                    extra=_ids(link),
                )
            log.info(
                "guild %s: poll done in %.0f ms: %d listed, %d new, %d read, %d threads, "
                "%d posted, %d status changes",
                link.guild_id,
                (time.monotonic() - started) * 1000,
                report.tickets_listed,
                report.new_tickets,
                report.tickets_read,
                report.threads_created,
                report.messages_posted,
                report.status_changes,
                extra=_ids(link),
            )
            return report


def _ids(link: LinkConfig) -> dict[str, object]:
    """Fields for JSON log lines (``LOG_FORMAT=json``)."""
    return {"guild_id": link.guild_id}


def _count_poll(outcome: str, started: float) -> None:
    metrics.polls.labels(outcome=outcome).inc()
    metrics.poll_duration.observe(time.monotonic() - started)


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(Inbound(bot))
