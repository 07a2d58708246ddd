"""A pacer for the bot's Discord requests, so a burst stays under the global rate limit.

Discord allows about 50 requests a second per bot in all. discord.py waits out the
per-route limits it is told about, but learns of the global one only from a 429. The
engines post to many threads at once (each thread has its own limit), so without a
pacer a first link of a big store would run into global 429s, and every task that
waited one out would fire at once when it ends, causing the next. A token bucket keeps
them away: in any one second it lets through at most ``burst + per_second`` requests,
so the defaults (44 a second, bursts of 5) stay under 50 in every sliding second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

GLOBAL_PER_SECOND = 44.0
GLOBAL_BURST = 5


class Pacer:
    """At most ``per_second`` passes a second on average, bursts up to ``burst``."""

    def __init__(
        self,
        per_second: float = GLOBAL_PER_SECOND,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rate = per_second
        self._burst = float(burst if burst is not None else GLOBAL_BURST)
        self._tokens = self._burst
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now

    async def wait(self) -> None:
        """Return when one more request may go out."""
        async with self._lock:  # first come, first served
            self._refill()
            if self._tokens < 1:
                await self._sleep((1 - self._tokens) / self._rate)
                self._refill()
            self._tokens -= 1
