"""The SellApp transport does not pay for a failed import on every request."""

from __future__ import annotations

import asyncio
import sys
import time

from httpcore._synchronization import current_async_library


def test_httpcore_finds_sniffio_so_each_request_skips_a_failed_import() -> None:
    """httpcore asks ``import sniffio`` for every connection lock and request; without it
    (anyio 4.11 stopped depending on it) each call walks sys.path and fails, ~0.1 ms a
    request: 5% of the bot's CPU at 1,000 guilds (bench/scale.py). It is a dependency."""

    async def calls_per_ms() -> float:
        started = time.perf_counter()
        for _ in range(2_000):
            assert current_async_library() == "asyncio"
        return 2_000 / ((time.perf_counter() - started) * 1000)

    assert "sniffio" in sys.modules or __import__("sniffio")
    # Found: a few microseconds a call; a failed import costs ~100 µs (measured 97 µs).
    # The bound is loose (shared machine): it only tells the two apart.
    assert asyncio.run(calls_per_ms()) > 30
