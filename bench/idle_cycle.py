"""SellApp requests per idle inbound cycle: the engine next to a naive poller, same run.

Run: ``.venv/bin/python bench/idle_cycle.py`` (a few cycles per size; under ~2 minutes).

For 100, 1,000 and 10,000 tickets (1% open, two customer messages each) on FakeSellApp
over loopback, the engine first links the guild (into an in-memory Discord), then runs
idle cycles one poll interval apart. Each idle cycle may cost at most the ticket list's
pages plus one message read per open ticket that is *due* (quiet tickets back off), and
closed tickets cost nothing. The naive poller lists every ticket and then reads every
ticket's messages, every cycle. Prints a markdown table.
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr

from bot.inbound.engine import InboundSync
from bot.sellapp.client import RetryPolicy, SellAppClient, make_http_client
from bot.store import Store
from tests.fakes.sellapp import FakeSellApp
from tests.inbound.fakes import Clock, FakeThreads

KEY = "bench-key"
STORE = "bench-store"
GUILD = 1
CHANNEL = 10
INTERVAL = 60.0
SIZES = (100, 1_000, 10_000)
ENGINE_CYCLES = 6
NAIVE_RUNS = 3  # a median of 3 even at 10,000 (about 17 s a naive cycle there)
LIST_PATH = r"^/api/v1/tickets$"
MESSAGES_PATH = r"^/api/v1/tickets/\d+/messages$"


async def naive_cycle(client: SellAppClient) -> None:
    """What the engine replaces: list everything, then read every ticket's messages."""
    ids = [ticket.id async for ticket in client.iter_tickets(limit=100)]
    for ticket_id in ids:
        async for _ in client.iter_messages(ticket_id):
            pass


async def due_open(store: Store, now: float) -> int:
    return sum(1 for t in await store.tickets.all(GUILD) if t.is_open and t.next_check_at <= now)


async def measure(
    size: int, folder: Path, *, engine_cycles: int = ENGINE_CYCLES, naive_runs: int = NAIVE_RUNS
) -> dict[str, float | int]:
    async with FakeSellApp() as fake, make_http_client(timeout=30.0) as http:
        fake.add_account(KEY, [STORE])
        for i in range(size):
            fake.add_ticket(
                STORE,
                title=f"Ticket {i}",
                status="OPEN" if i % 100 == 0 else "CLOSED",
                messages=["Hello, I need help.", "Order attached."],
            )
        client = SellAppClient(
            http, base_url=fake.url, api_key=SecretStr(KEY), store=STORE, retry=RetryPolicy()
        )
        clock = Clock()
        async with await Store.open(folder / f"bench-{size}.sqlite3") as store:
            engine = InboundSync(store, FakeThreads(), clock=clock)
            await engine.run_cycle(GUILD, CHANNEL, client, interval=INTERVAL)  # the first link

            requests, limits, seconds = [], [], []
            for _ in range(engine_cycles):
                clock.advance(INTERVAL)
                due = await due_open(store, clock())
                fake.requests.clear()
                started = time.perf_counter()
                report = await engine.run_cycle(GUILD, CHANNEL, client, interval=INTERVAL)
                seconds.append(time.perf_counter() - started)
                assert report.messages_posted == 0 and not report.errors, report
                made = len(fake.requests)
                limit = math.ceil(size / 100) + due
                assert made <= limit, f"{size} tickets: {made} requests > limit {limit}"
                requests.append(made)
                limits.append(limit)

            naive_requests, naive_seconds = 0, []
            for _ in range(naive_runs):
                fake.requests.clear()
                started = time.perf_counter()
                await naive_cycle(client)
                naive_seconds.append(time.perf_counter() - started)
                naive_requests = len(fake.requests)

    return {
        "tickets": size,
        "open": math.ceil(size / 100),
        "pages": math.ceil(size / 100),
        "engine_max": max(requests),
        "engine_median": statistics.median(requests),
        "limit_max": max(limits),
        "engine_ms": statistics.median(seconds) * 1000,
        "naive": naive_requests,
        "naive_ms": statistics.median(naive_seconds) * 1000,
        "naive_runs": naive_runs,
    }


def scratch_folder() -> str | None:
    """The store fsyncs every commit (synchronous=FULL); a RAM-backed folder keeps the
    10,000-ticket first link quick without changing what is counted."""
    shm = Path("/dev/shm")  # noqa: S108 - only a parent for a private TemporaryDirectory
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


async def measure_all(
    folder: Path,
    sizes: tuple[int, ...] = SIZES,
    *,
    engine_cycles: int = ENGINE_CYCLES,
    naive_runs: int = NAIVE_RUNS,
) -> list[dict[str, float | int]]:
    return [
        await measure(size, folder, engine_cycles=engine_cycles, naive_runs=naive_runs)
        for size in sizes
    ]


def run(
    sizes: tuple[int, ...] = SIZES,
    *,
    engine_cycles: int = ENGINE_CYCLES,
    naive_runs: int = NAIVE_RUNS,
) -> list[dict[str, float | int]]:
    """The rows, for ``bench.run`` (its own event loop)."""
    with tempfile.TemporaryDirectory(dir=scratch_folder()) as folder:
        return asyncio.run(
            measure_all(Path(folder), sizes, engine_cycles=engine_cycles, naive_runs=naive_runs)
        )


def main() -> None:
    rows = run()

    print(f"command: {os.path.relpath(sys.executable)} {' '.join(sys.argv)}")
    print(f"cores: {os.cpu_count()}; idle cycles one interval ({INTERVAL:.0f} s) apart")
    print(f"engine: {ENGINE_CYCLES} idle cycles after the first link; naive: {NAIVE_RUNS} cycles\n")
    print(
        "| tickets | open | list pages | engine req/idle cycle (median, max) "
        "| limit (pages + due open, max) | engine ms (median) | naive req/cycle "
        "| naive ms (median) | naive / engine (max) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = r["naive"] / r["engine_max"]
        print(
            f"| {r['tickets']:,} | {r['open']} | {r['pages']} "
            f"| {r['engine_median']:g}, {r['engine_max']} | {r['limit_max']} "
            f"| {r['engine_ms']:.0f} | {r['naive']:,} | {r['naive_ms']:.0f} | {ratio:.1f}x |"
        )


if __name__ == "__main__":
    main()
