"""Outbound latency through the real process: a staff message event at the fake Discord
(``member_says``) -> the reply's POST arriving at the fake SellApp.

Both ends stamp ``time.monotonic()`` in this process: the event just before the fake
Discord dispatches MESSAGE_CREATE, the arrival in the fake SellApp's middleware. Replies
go round-robin over a few open tickets, one every ``gap`` seconds, while the inbound
poller runs as usual (2 s interval).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import bot_process, fakes, median, percentile, wait_until
from tests.e2e.harness import STORE, ticket_thread

REPLY_PATH = r"/api/v1/tickets/\d+/messages$"


async def run(*, replies: int = 240, tickets: int = 10, gap: float = 0.02) -> list[float]:
    """Latencies in seconds, one per reply."""
    with tempfile.TemporaryDirectory() as folder:
        async with fakes(Path(folder)) as (world, discord, sellapp):
            ids = [sellapp.add_ticket(STORE, messages=["hi"])["id"] for _ in range(tickets)]
            async with bot_process(world, POLL_INTERVAL_SECONDS="2"):
                await wait_until(lambda: len(discord.marker_times) >= tickets, 60, "threads")
                threads = [ticket_thread(world, world.forum_channel, i) for i in ids]
                started: dict[str, float] = {}
                for n in range(replies):
                    thread = threads[n % tickets]
                    assert thread is not None
                    text = f"reply {n}: your order is on its way"
                    started[text] = time.monotonic()
                    discord.member_says(thread.id, world.staff, text)
                    await asyncio.sleep(gap)
                await wait_until(
                    lambda: len(sellapp.requests_to("POST", REPLY_PATH)) >= replies,
                    60,
                    "every reply at SellApp",
                )
            arrived = {r.json["content"]: r.time for r in sellapp.requests_to("POST", REPLY_PATH)}
    assert len(arrived) == replies, "a reply was lost or posted twice"
    return [arrived[text] - t0 for text, t0 in started.items()]


def summary(latencies: list[float]) -> tuple[float, float, float]:
    return median(latencies), percentile(latencies, 99), max(latencies)
