"""Push (SellApp webhooks): inbound latency through the real process with
``POLL_INTERVAL_SECONDS=30``, and SellApp requests per hour of an idle store.

**Latency.** The real ``python -m bot`` with ``PUBLIC_URL`` on loopback, against the fakes;
the fake SellApp delivers ``ticket_message.created`` to the bot's webhook channel. Active
tickets get a message every 0-2 s; quiet tickets (nothing since the first link) get one
each at a random time. Clocks: ``time.monotonic()`` in this process, from the message's
creation at the fake SellApp to the bot's post at the fake Discord.

**Requests per hour.** The engine against the fake SellApp (like ``bench/idle_cycle.py``):
one simulated hour of idle cycles 30 s apart, with and without push (the sweep,
900 s, instead of the quiet backoff). Message reads are measured on the open tickets (1%);
list pages are the same in both modes (every cycle lists every page: SellApp sends no
event for status changes) and are counted as ``ceil(tickets / 100)`` a cycle.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import statistics
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from bench.common import Section, Target, bot_process, fakes, median, percentile, wait_until
from bot.inbound.engine import InboundSync
from bot.sellapp.client import RetryPolicy, SellAppClient, make_http_client
from bot.store import Store
from tests.e2e.harness import STORE
from tests.fakes.sellapp import FakeSellApp
from tests.inbound.fakes import Clock, FakeThreads

INTERVAL = 30.0
SWEEP = 900.0
HOUR = 3600.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def latency(
    *, active_tickets: int = 6, quiet_tickets: int = 12, seconds: float = 30.0, seed: int = 11
) -> dict[str, list[float]]:
    rng = random.Random(seed)  # noqa: S311 - arrival times, not secrets
    port = _free_port()
    env = {
        "POLL_INTERVAL_SECONDS": f"{INTERVAL:g}",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "WEBHOOK_PORT": str(port),
        "WEBHOOK_HOST": "127.0.0.1",
    }
    with tempfile.TemporaryDirectory() as folder:
        async with fakes(Path(folder)) as (world, discord, sellapp):
            active = [
                sellapp.add_ticket(STORE, title=f"active {n}", messages=["hi"])["id"]
                for n in range(active_tickets)
            ]
            quiet = [
                sellapp.add_ticket(STORE, title=f"quiet {n}", messages=["hi"])["id"]
                for n in range(quiet_tickets)
            ]
            total = active_tickets + quiet_tickets
            async with bot_process(world, **env) as bot:
                await bot.wait_for_line(r"webhook channel registered", 30)
                await wait_until(lambda: len(discord.marker_times) >= total, 60, "first link")
                linked = time.monotonic()
                kinds: dict[int, str] = {}

                async def say(ticket_id: int, kind: str) -> None:
                    message = sellapp.add_customer_message(STORE, ticket_id, f"{kind} message")
                    kinds[message["id"]] = kind
                    await wait_until(lambda: message["id"] in discord.marker_times, 60, "a post")

                async def converse(ticket_id: int) -> None:
                    while time.monotonic() - linked < seconds:
                        await asyncio.sleep(rng.uniform(0, 2.0))
                        await say(ticket_id, "active")

                async def wake(ticket_id: int) -> None:
                    await asyncio.sleep(rng.uniform(seconds / 4, seconds))
                    await say(ticket_id, "quiet")

                await asyncio.gather(*(converse(t) for t in active), *(wake(t) for t in quiet))
    return {
        kind: [
            discord.marker_times[m] - sellapp.created_at[m] for m, k in kinds.items() if k == kind
        ]
        for kind in ("active", "quiet")
    }


async def reads_per_hour(open_tickets: int, *, sweep: float | None, folder: Path) -> int:
    """Message reads of ``open_tickets`` quiet open tickets over an hour of idle cycles."""
    async with FakeSellApp() as fake, make_http_client(timeout=10) as http:
        fake.add_account("bench-key", ["bench-store"])
        for _ in range(open_tickets):
            fake.add_ticket("bench-store", messages=["a", "b"])
        client = SellAppClient(
            http,
            base_url=fake.url,
            api_key=SecretStr("bench-key"),
            store="bench-store",
            retry=RetryPolicy(attempts=1, base_delay=0, max_delay=0, rate_limit_retries=0),
        )
        clock = Clock()
        path = folder / f"reads-{open_tickets}-{sweep}.sqlite3"
        async with await Store.open(path) as store:
            engine = InboundSync(store, FakeThreads(), clock=clock)
            await engine.run_cycle(1, 10, client, interval=INTERVAL, sweep=sweep)
            # Let the first link's changes settle (as an hour into a quiet day).
            for _ in range(40):
                clock.advance(INTERVAL)
                await engine.run_cycle(1, 10, client, interval=INTERVAL, sweep=sweep)
            fake.requests.clear()
            for _ in range(int(HOUR / INTERVAL)):
                clock.advance(INTERVAL)
                await engine.run_cycle(1, 10, client, interval=INTERVAL, sweep=sweep)
        return len(fake.requests_to("GET", r"^/api/v1/tickets/\d+/messages$"))


async def requests(sizes: tuple[int, ...]) -> list[list[str]]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for tickets in sizes:
            open_tickets = max(1, tickets // 100)
            pages = math.ceil(tickets / 100) * int(HOUR / INTERVAL)
            poll = await reads_per_hour(open_tickets, sweep=None, folder=Path(folder))
            push = await reads_per_hour(open_tickets, sweep=SWEEP, folder=Path(folder))
            rows.append(
                [
                    f"{tickets:,}",
                    str(open_tickets),
                    f"{pages:,}",
                    f"{poll:,}",
                    f"{pages + poll:,}",
                    f"{push:,}",
                    f"{pages + push:,}",
                ]
            )
    return rows


def run(
    *,
    active_tickets: int = 6,
    quiet_tickets: int = 12,
    seconds: float = 30.0,
    sizes: tuple[int, ...] = (1_000, 10_000),
) -> Section:
    started = time.monotonic()
    lat = asyncio.run(
        latency(active_tickets=active_tickets, quiet_tickets=quiet_tickets, seconds=seconds)
    )
    rows = [
        [
            kind,
            str(len(values)),
            f"{median(values):.3f}",
            f"{statistics.fmean(values):.3f}",
            f"{percentile(values, 99):.3f}",
            f"{max(values):.3f}",
        ]
        for kind, values in lat.items()
    ]
    worst = max(percentile(values, 99) for values in lat.values())
    per_hour = asyncio.run(requests(sizes))
    section = Section(
        title=f"7. Push: inbound latency and idle requests (poll interval {INTERVAL:g} s)",
        setup=(
            f"Real process with PUBLIC_URL on loopback; {active_tickets} active tickets (a "
            f"message every 0-2 s for {seconds:.0f} s) and {quiet_tickets} quiet ones (one "
            "message each at a random time). Seconds from the message's creation at the fake "
            "SellApp to its post at the fake Discord:"
        ),
        headers=["ticket", "messages", "p50 s", "mean s", "p99 s", "max s"],
        rows=rows,
        targets=[
            Target(
                "p99 under 0.5 s on loopback, quiet tickets too",
                worst < 0.5,
                f"worst p99 {worst:.3f} s (without push: bench section 2, up to 16 intervals)",
            )
        ],
    )
    table = [
        "SellApp requests per hour, idle store (1% open), interval 30 s, sweep 900 s "
        "(list pages counted, message reads measured on the engine):",
        "",
        "| tickets | open | list pages/h | reads/h poll only | total poll only "
        "| reads/h push | total push |",
        "|---|---|---|---|---|---|---|",
        *("| " + " | ".join(r) + " |" for r in per_hour),
        "",
        "Push saves only the quiet tickets' backoff reads; the listing (which push can't "
        "replace: SellApp sends no event for status changes or closing) dominates an idle "
        "store's requests.",
    ]
    section.notes.append("\n".join(table))
    section.seconds = time.monotonic() - started
    return section
