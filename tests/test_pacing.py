"""The Discord pacer keeps a burst under the global rate limit."""

from __future__ import annotations

import asyncio

from bot.pacing import Pacer


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_a_burst_beyond_the_budget_is_spread_at_the_rate() -> None:
    time = FakeTime()
    pacer = Pacer(44.0, burst=5, clock=time.clock, sleep=time.sleep)
    stamps = []
    for _ in range(5 + 88):
        await pacer.wait()
        stamps.append(time.now)
    # The first 5 go at once; the next 88 take two more seconds, not less.
    assert stamps[4] == 0.0 and time.slept
    assert 1.99 <= time.now <= 2.01
    # Never more than 49 requests within any one second: under Discord's 50.
    assert max(sum(1 for t in stamps if start <= t < start + 1.0) for start in stamps) <= 49


async def test_a_quiet_bot_is_not_slowed() -> None:
    time = FakeTime()
    pacer = Pacer(45.0, clock=time.clock, sleep=time.sleep)
    for _ in range(10):
        time.now += 1.0  # one request a second
        await pacer.wait()
    assert time.slept == []


async def test_concurrent_waiters_all_get_through_in_order() -> None:
    time = FakeTime()
    pacer = Pacer(10.0, burst=1, clock=time.clock, sleep=time.sleep)
    order: list[int] = []

    async def one(i: int) -> None:
        await pacer.wait()
        order.append(i)

    await asyncio.gather(*(one(i) for i in range(20)))
    assert order == list(range(20))
    assert 1.85 <= time.now <= 1.95  # 19 waits of 0.1 s after the first
