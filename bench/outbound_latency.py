"""Added latency of a staff reply: from the Discord message event to the POST at SellApp.

Run: ``.venv/bin/python bench/outbound_latency.py [--replies 300] [--tickets 10]
[--gap-ms 20] [--feedback-ms 80]`` (well under a minute).

Drives :class:`bot.outbound.engine.OutboundRelay` the way ``cogs/outbound.py`` does: one intake
task calls ``accept`` for each message in arrival order and sets the delivery task's
wake event; the delivery task runs ``deliver_due`` and sleeps on that event. The store is
a real SQLite file (WAL, ``synchronous=FULL``) in a temp folder, the client the real
:class:`SellAppClient`, SellApp the loopback :class:`FakeSellApp`. Reactions go to a
port that takes ``--feedback-ms`` per call, like Discord's REST would.

The clock is ``time.monotonic`` on both ends: the event time is taken just before
``accept``; the arrival time is the fake's own record of the request (its middleware
stamps ``time.monotonic()`` before any handling). Replies go round-robin over
``--tickets`` tickets, one every ``--gap-ms``. Target: p99 under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from pydantic import SecretStr

from bot.links import LinkConfig
from bot.outbound.engine import OutboundRelay, ReplyTarget
from bot.outbound.rules import StaffMessage
from bot.sellapp.client import RetryPolicy, SellAppClient, make_http_client
from bot.store import Store
from tests.fakes.sellapp import FakeSellApp

KEY = "bench-key-0123456789"
STORE = "bench-store"
GUILD = 1
STAFF_ROLE = 7
REPLY_PATH = r"/tickets/\d+/messages$"


class SlowFeedback:
    """Stands in for Discord's REST: each call takes ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0

    async def react(self, channel_id: int, message_id: int, emoji: str) -> None:
        self.calls += 1
        await asyncio.sleep(self.delay)

    async def unreact(self, channel_id: int, message_id: int, emoji: str) -> None:
        self.calls += 1
        await asyncio.sleep(self.delay)

    async def say(self, channel_id: int, text: str, reply_to: int | None) -> None:
        self.calls += 1
        await asyncio.sleep(self.delay)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def run(replies: int, tickets: int, gap: float, feedback_delay: float) -> list[float]:
    async with FakeSellApp() as fake, make_http_client() as http:
        fake.add_account(KEY, [STORE])
        with tempfile.TemporaryDirectory() as folder:
            store = await Store.open(Path(folder) / "bench.sqlite3")
            try:
                return await _drive(
                    fake,
                    http,
                    store,
                    replies=replies,
                    tickets=tickets,
                    gap=gap,
                    feedback_delay=feedback_delay,
                )
            finally:
                await store.close()


async def _drive(
    fake: FakeSellApp,
    http: httpx.AsyncClient,
    store: Store,
    *,
    replies: int,
    tickets: int,
    gap: float,
    feedback_delay: float,
) -> list[float]:
    client = SellAppClient(
        http,
        base_url=fake.url,
        api_key=SecretStr(KEY),
        store=STORE,
        retry=RetryPolicy(),
    )

    async def clients(guild_id: int) -> ReplyTarget | None:
        return client

    link = LinkConfig(
        guild_id=GUILD,
        store_slug=STORE,
        api_key=SecretStr(KEY),
        channel_id=100,
        staff_role_ids=frozenset({STAFF_ROLE}),
        poll_interval=30.0,
        paused=False,
        note_prefix="//",
    )
    records = []
    for n in range(tickets):
        made = fake.add_ticket(STORE, messages=["hello"])
        await store.tickets.record(
            GUILD, made["id"], status="OPEN", title="t", sellapp_updated_at=None, now=0.0
        )
        await store.tickets.set_thread(GUILD, made["id"], 1000 + n, now=0.0)
        found = await store.tickets.get(GUILD, made["id"])
        assert found is not None
        records.append(found)

    feedback = SlowFeedback(feedback_delay)
    engine = OutboundRelay(store, feedback, clients)
    wake = asyncio.Event()

    async def deliver_loop() -> None:  # as cogs/outbound.py: deliver, then sleep on the event
        while True:
            wake.clear()
            wait = await engine.deliver_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=60.0 if wait is None else wait)

    worker = asyncio.create_task(deliver_loop())
    started: dict[str, float] = {}
    try:
        for i in range(replies):
            ticket = records[i % tickets]
            assert ticket.thread_id is not None
            text = f"reply {i}: your order is on its way"
            message = StaffMessage(
                guild_id=GUILD,
                channel_id=ticket.thread_id,
                message_id=10_000 + i,
                author_id=42,
                content=text,
                author_role_ids=frozenset({STAFF_ROLE}),
            )
            started[text] = time.monotonic()  # the gateway event
            await engine.accept(message, ticket, link)
            wake.set()
            await asyncio.sleep(gap)
        deadline = time.monotonic() + 30
        while len(fake.requests_to("POST", REPLY_PATH)) < replies:
            if time.monotonic() > deadline:
                raise RuntimeError("not every reply reached the fake SellApp")
            await asyncio.sleep(0.01)
        await engine.flush_feedback()
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    posts = fake.requests_to("POST", REPLY_PATH)
    arrived = {r.json["content"]: r.time for r in posts}
    assert len(posts) == replies == len(arrived), "a reply was posted twice or lost"
    return [(arrived[text] - t0) * 1000 for text, t0 in started.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replies", type=int, default=300)
    parser.add_argument("--tickets", type=int, default=10)
    parser.add_argument("--gap-ms", type=float, default=20.0)
    parser.add_argument("--feedback-ms", type=float, default=80.0)
    args = parser.parse_args()
    if args.replies < 200:
        parser.error("--replies must be at least 200")
    latencies = asyncio.run(
        run(args.replies, max(1, args.tickets), args.gap_ms / 1000, args.feedback_ms / 1000)
    )
    print(f"command: {os.path.relpath(sys.executable)} {' '.join(sys.argv)}")
    print(
        f"cores: {os.cpu_count()}; replies: {len(latencies)} over {args.tickets} ticket(s), "
        f"one every {args.gap_ms:g} ms; feedback calls take {args.feedback_ms:g} ms"
    )
    print("event -> POST arriving at the fake SellApp (loopback, real SQLite with fsync):")
    print(
        f"  median {statistics.median(latencies):.1f} ms   "
        f"p99 {percentile(latencies, 99):.1f} ms   max {max(latencies):.1f} ms"
    )
    target = "met" if percentile(latencies, 99) < 50 else "NOT met"
    print(f"target p99 < 50 ms: {target}")


if __name__ == "__main__":
    main()
