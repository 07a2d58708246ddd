"""Prometheus instruments of the bridge, on a registry of its own (served by :mod:`bot.ops.health`).

Counters and histograms are updated where things happen (the SellApp transport, the
inbound poller, the relay); the gauges that describe stored state (outbox depth, tickets
tracked) are read from the store when ``/metrics`` is scraped, by :func:`refresh_from_store`,
over the guilds this process works on (with several processes, each one reports its own).

Labels stay low-cardinality: endpoints are templates (``GET /v1/tickets/{id}``), never
paths with ids, and no guild or ticket id is ever a label.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.process_collector import ProcessCollector

from bot.store import Store
from bot.store.records import OUTBOX_STATES, PROBLEM_KINDS

__all__ = [
    "CONTENT_TYPE",
    "REGISTRY",
    "gateway_connected",
    "guilds_held",
    "observe_sellapp",
    "outbox_entries",
    "poll_duration",
    "polls",
    "push_hints",
    "refresh_from_store",
    "relay_latency",
    "render",
    "sellapp_request_duration",
    "sellapp_requests",
    "set_shards",
    "shard_connected",
    "shard_count",
    "ticket_problems",
    "tickets_open",
    "tickets_tracked",
]

PREFIX: Final = "sellapp_bridge"
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

REGISTRY: Final = CollectorRegistry()
ProcessCollector(registry=REGISTRY)

# Seconds: a poll of a quiet store takes well under a second, a first sync much longer.
_POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_REQUEST_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15)
_RELAY_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600)

polls: Final = Counter(
    f"{PREFIX}_polls",
    "Poll cycles of a guild's SellApp store, by outcome (ok or failed).",
    ["outcome"],
    registry=REGISTRY,
)
poll_duration: Final = Histogram(
    f"{PREFIX}_poll_duration_seconds",
    "How long one poll cycle of one guild took.",
    buckets=_POLL_BUCKETS,
    registry=REGISTRY,
)
sellapp_requests: Final = Counter(
    f"{PREFIX}_sellapp_requests",
    "HTTP requests to SellApp, by endpoint template and status (a number, 'timeout' or 'error').",
    ["endpoint", "status"],
    registry=REGISTRY,
)
sellapp_request_duration: Final = Histogram(
    f"{PREFIX}_sellapp_request_duration_seconds",
    "Time to SellApp's response headers (or to the failure), by endpoint template.",
    ["endpoint"],
    buckets=_REQUEST_BUCKETS,
    registry=REGISTRY,
)
relay_latency: Final = Histogram(
    f"{PREFIX}_relay_latency_seconds",
    "Seconds from a staff reply posted in Discord to SellApp accepting it.",
    buckets=_RELAY_BUCKETS,
    registry=REGISTRY,
)
"""Call ``relay_latency.observe(seconds)`` once per delivered reply (``bot.outbound.engine``)."""

push_hints: Final = Counter(
    f"{PREFIX}_push_hints",
    "SellApp webhook deliveries (hints), by outcome: received (a valid hint), rejected "
    "(unknown token, bad body or signature), coalesced (folded into a read in flight, or "
    "over the guild's budget).",
    ["outcome"],
    registry=REGISTRY,
)
for _outcome in ("received", "rejected", "coalesced"):
    push_hints.labels(outcome=_outcome)

outbox_entries: Final = Gauge(
    f"{PREFIX}_outbox_entries",
    "Staff replies in the outbox of every linked guild, by state.",
    ["state"],
    registry=REGISTRY,
)
tickets_tracked: Final = Gauge(
    f"{PREFIX}_tickets_tracked",
    "SellApp tickets the bridge tracks, over every linked guild.",
    registry=REGISTRY,
)
tickets_open: Final = Gauge(
    f"{PREFIX}_tickets_open",
    "Tracked tickets that are not closed, over every linked guild.",
    registry=REGISTRY,
)
ticket_problems: Final = Gauge(
    f"{PREFIX}_ticket_problems",
    "Tickets with a recorded problem (an unreadable item, an unknown status, a step "
    "Discord or SellApp keeps refusing), over every linked guild, by kind.",
    ["kind"],
    registry=REGISTRY,
)
gateway_connected: Final = Gauge(
    f"{PREFIX}_gateway_connected",
    "1 while the Discord gateway session is connected (ready or resumed), else 0.",
    registry=REGISTRY,
)


shard_connected: Final = Gauge(
    f"{PREFIX}_shard_connected",
    "Per shard this process runs: 1 while its gateway session is connected, else 0.",
    ["shard"],
    registry=REGISTRY,
)
shard_count: Final = Gauge(
    f"{PREFIX}_shard_count",
    "Discord shards of the bot in all (every process together); 0 until known.",
    registry=REGISTRY,
)
guilds_held: Final = Gauge(
    f"{PREFIX}_guilds_held",
    "Guilds this process works on now (on its shards, and it holds their claim).",
    registry=REGISTRY,
)


def set_shards(count: int | None, connected: dict[int, bool], held: int | None) -> None:
    """The shard gauges: the count, each shard's gateway state, the guilds held."""
    shard_count.set(count or 0)
    for shard_id, up in connected.items():
        shard_connected.labels(shard=str(shard_id)).set(1 if up else 0)
    if held is not None:
        guilds_held.set(held)


def observe_sellapp(endpoint: str, status: int | str, seconds: float) -> None:
    """The SellApp transport's callback: one finished (or failed) HTTP attempt."""
    sellapp_requests.labels(endpoint=endpoint, status=str(status)).inc()
    sellapp_request_duration.labels(endpoint=endpoint).observe(max(0.0, seconds))


async def refresh_from_store(store: Store, guild_ids: Iterable[int]) -> None:
    """Set the gauges that describe stored state, summed over ``guild_ids``."""
    depth = dict.fromkeys(OUTBOX_STATES, 0)
    problems: dict[str, int] = dict.fromkeys(PROBLEM_KINDS, 0)
    tracked = still_open = 0
    for guild_id in guild_ids:
        for state, count in (await store.outbox.counts(guild_id)).items():
            depth[state] += count
        for kind, count in (await store.problems.counts(guild_id)).items():
            problems[kind] = problems.get(kind, 0) + count
        counts = await store.tickets.count(guild_id)
        tracked += counts.tracked
        still_open += counts.open
    for state, count in depth.items():
        outbox_entries.labels(state=state).set(count)
    for kind, count in problems.items():
        ticket_problems.labels(kind=kind).set(count)
    tickets_tracked.set(tracked)
    tickets_open.set(still_open)


def render() -> bytes:
    """The registry in Prometheus' text exposition format."""
    return generate_latest(REGISTRY)
