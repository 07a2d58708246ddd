"""First link of a big store through the real process, into a fake Discord that enforces
Discord's limits (``FakeDiscord.enable_rate_limits()``: 50 requests a second in all, 5
messages per 5 s per channel, 429 with ``retry_after`` beyond).

Every ticket is OPEN with 5 customer messages, so the first link makes, per ticket, one
forum post (thread + starter) and 5 posts in that thread. The *rate-limit ceiling* is the
fastest schedule those limits allow: 6 requests per ticket at 50 a second (the per-thread
window lets a thread's 5 posts go at once), i.e. ``6 * tickets / 50`` seconds. Achieved
share = ceiling / actual, where actual runs from the first thread created to the last
message posted.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import bot_process, fakes, wait_until
from tests.e2e.harness import STORE

MESSAGES = 5
GLOBAL_PER_SECOND = 50


@dataclass
class FirstLink:
    tickets: int
    seconds: float  # first thread -> last post
    from_ready: float  # bot ready -> last post
    ceiling: float
    http_429: int

    @property
    def share(self) -> float:
        return self.ceiling / self.seconds


async def run(*, tickets: int) -> FirstLink:
    with tempfile.TemporaryDirectory() as folder:
        async with fakes(Path(folder)) as (world, discord, sellapp):
            for n in range(tickets):
                sellapp.add_ticket(
                    STORE,
                    title=f"Order {n}",
                    messages=[f"message {m} of ticket {n}" for m in range(MESSAGES)],
                )
            discord.enable_rate_limits()
            async with bot_process(world, POLL_INTERVAL_SECONDS="30") as bot:
                ready = next(t for t, line in bot.stamped if "ready: logged in as" in line)
                await wait_until(
                    lambda: len(discord.marker_times) >= tickets * MESSAGES,
                    tickets * 2.0 + 60,
                    "every message of the first link",
                    step=0.1,
                )
                last = max(discord.marker_times.values())
                return FirstLink(
                    tickets=tickets,
                    seconds=last - min(discord.thread_times),
                    from_ready=last - ready,
                    ceiling=tickets * (1 + MESSAGES) / GLOBAL_PER_SECOND,
                    http_429=discord.rate_limited_count,
                )


async def main() -> None:
    started = time.monotonic()
    result = await run(tickets=20)
    print(result, f"share {result.share:.0%}", f"{time.monotonic() - started:.0f} s")
