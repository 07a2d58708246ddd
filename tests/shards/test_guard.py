"""The guild claim engine, with claims shared between two "processes" in memory."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import GuildNotHeld
from bot.shards.guard import GuardPass, GuildGuard, plan_claims
from bot.shards.plan import ShardPlan
from bot.store.claims import GuildClaims

EVEN = 2 << 22  # shard 0 of 2
EVEN2 = 4 << 22  # shard 0 of 2
ODD = 3 << 22  # shard 1 of 2


class Board:
    """Who holds which guild: the part of a lock file two processes share."""

    def __init__(self) -> None:
        self.owner: dict[int, SharedClaims] = {}


class SharedClaims(GuildClaims):
    def __init__(self, board: Board) -> None:
        self.board = board
        self.tries: list[int] = []

    async def try_claim(self, guild_id: int) -> bool:
        self.tries.append(guild_id)
        return self.board.owner.setdefault(guild_id, self) is self

    async def release(self, guild_id: int) -> None:
        if self.board.owner.get(guild_id) is self:
            del self.board.owner[guild_id]

    def held(self) -> frozenset[int]:
        return frozenset(g for g, o in self.board.owner.items() if o is self)

    async def close(self) -> None:
        for guild_id in self.held():
            await self.release(guild_id)

    def die(self) -> None:
        """kill -9: the kernel (or the database server) drops every claim."""
        for guild_id in self.held():
            del self.board.owner[guild_id]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plan_claims_releases_the_unwanted_and_skips_recent_refusals() -> None:
    steps = plan_claims(
        wanted=frozenset({1, 2, 3}),
        working=frozenset({1, 9}),
        held=frozenset({1, 9, 8}),
        refused_until={3: 50.0, 2: 10.0},
        now=20.0,
    )
    assert steps.release == {8, 9}
    assert steps.attempt == (2,)  # 3 was refused until 50


async def test_a_guild_is_worked_on_only_on_our_shards_and_after_its_recovery() -> None:
    recovered: list[int] = []
    guard = GuildGuard(SharedClaims(Board()))

    async def recover(guild_id: int) -> None:
        assert not guard.works_on(guild_id)  # no work before its recovery is done
        recovered.append(guild_id)

    guard.add_recovery(recover)
    assert (await guard.refresh([EVEN, ODD])).acquired == frozenset()  # no plan yet
    assert not guard.works_on(EVEN)
    guard.set_plan(ShardPlan.of(2, [0]))
    result = await guard.refresh([EVEN, ODD, EVEN2])
    assert result.acquired == {EVEN, EVEN2}
    assert recovered == [EVEN, EVEN2]
    assert guard.works_on(EVEN) and guard.works_on(EVEN2) and not guard.works_on(ODD)
    assert guard.held() == {EVEN, EVEN2}
    assert (await guard.refresh([EVEN, ODD, EVEN2])).acquired == frozenset()
    assert recovered == [EVEN, EVEN2]  # once per claim taken, not per pass


async def test_two_processes_never_work_on_one_guild_and_a_dead_ones_guilds_move() -> None:
    board, clock = Board(), Clock()
    old_claims, new_claims = SharedClaims(board), SharedClaims(board)
    old = GuildGuard(old_claims, plan=ShardPlan.of(1), clock=clock)
    # The shard moved: a new process runs shard 0 of 2 while the old one (all guilds,
    # one shard) has not let go yet.
    new = GuildGuard(new_claims, plan=ShardPlan.of(2, [0]), clock=clock, retry_seconds=3)
    await old.refresh([EVEN, ODD])
    result = await new.refresh([EVEN, ODD])
    assert result.refused == {EVEN} and result.acquired == frozenset()
    assert old.works_on(EVEN) and not new.works_on(EVEN)

    new_claims.tries.clear()
    clock.now += 1
    await new.refresh([EVEN, ODD])
    assert new_claims.tries == []  # refused lately: waits its retry time

    old_claims.die()
    assert not old.works_on(EVEN)  # lost claims stop work at once, before any pass
    clock.now += 3
    result = await new.refresh([EVEN, ODD])
    assert result.acquired == {EVEN} and new.works_on(EVEN)
    assert (await old.refresh([EVEN, ODD])).lost == {EVEN, ODD}


async def test_a_guild_no_longer_wanted_is_released_for_the_next_holder() -> None:
    board = Board()
    first = GuildGuard(SharedClaims(board), plan=ShardPlan.of(1))
    second = GuildGuard(SharedClaims(board), plan=ShardPlan.of(1))
    heard = []
    first.add_listener(heard.append)
    await first.refresh([EVEN, ODD])
    assert heard[-1].acquired == {EVEN, ODD}
    await first.refresh([ODD])  # EVEN unlinked and gone from this process
    assert heard[-1].released == {EVEN}
    assert not first.works_on(EVEN)
    assert (await second.refresh([EVEN])).acquired == {EVEN}


async def test_a_failed_recovery_keeps_the_guild_idle_and_is_tried_again() -> None:
    guard = GuildGuard(SharedClaims(Board()), plan=ShardPlan.of(1))
    failures = [RuntimeError("database busy")]

    async def recover(guild_id: int) -> None:
        if failures:
            raise failures.pop()

    guard.add_recovery(recover)
    assert (await guard.refresh([EVEN])).acquired == frozenset()
    assert not guard.works_on(EVEN)
    assert (await guard.refresh([EVEN])).acquired == {EVEN}
    assert guard.works_on(EVEN)


async def test_self_reclaim_runs_recovery_while_own_work_for_the_guild_is_in_flight() -> None:
    """A claims blip (a heartbeat timeout on a busy host) while this process's own reply
    is being sent: the guild is taken back only after that step ended, and its recovery
    (which would find the reply ``sending`` and send it again) runs only then."""
    board = Board()
    claims = SharedClaims(board)
    guard = GuildGuard(claims, plan=ShardPlan.of(1))
    recovered: list[int] = []
    heard: list[GuardPass] = []
    guard.add_listener(heard.append)

    async def recover(guild_id: int) -> None:
        assert guard.in_flight(guild_id) == 0, "recovery ran while a step is in flight"
        recovered.append(guild_id)

    guard.add_recovery(recover)
    await guard.refresh([EVEN])
    step_may_end = asyncio.Event()
    passed_check = asyncio.Event()

    async def a_send() -> None:
        async with guard.working(EVEN):
            guard.check(EVEN)  # right before the POST
            passed_check.set()
            await step_may_end.wait()  # the POST is in flight

    sending = asyncio.create_task(a_send())
    await passed_check.wait()
    claims.die()  # the claims session blips
    with pytest.raises(GuildNotHeld):
        guard.check(EVEN)  # a step that has not reached its side effect stops there
    guard.wake.clear()
    result = await guard.refresh([EVEN])  # the next pass: the POST is still in flight
    assert result.lost == {EVEN} and result.acquired == frozenset()
    assert result.draining == {EVEN}
    assert heard[-1].lost == {EVEN}  # told at once, before the pass took anything
    assert board.owner[EVEN] is claims  # kept: no other process may start on it meanwhile
    assert not guard.works_on(EVEN) and recovered == [EVEN]
    with pytest.raises(GuildNotHeld):
        async with guard.working(EVEN):
            pass  # no new step starts on it

    step_may_end.set()
    await sending
    assert guard.wake.is_set()  # the loop runs a pass now, not in 2 s
    result = await guard.refresh([EVEN])
    assert result.acquired == {EVEN} and recovered == [EVEN, EVEN]
    assert guard.works_on(EVEN)


async def test_a_guild_released_with_work_in_flight_keeps_its_claim_until_the_work_ends() -> None:
    board = Board()
    first, second = SharedClaims(board), SharedClaims(board)
    guard = GuildGuard(first, plan=ShardPlan.of(1))
    await guard.refresh([EVEN])
    step_may_end = asyncio.Event()
    entered = asyncio.Event()

    async def a_send() -> None:
        async with guard.working(EVEN):
            entered.set()
            await step_may_end.wait()

    sending = asyncio.create_task(a_send())
    await entered.wait()
    result = await guard.refresh([])  # unlinked: no longer wanted here
    assert result.released == {EVEN} and not guard.works_on(EVEN)
    assert not await second.try_claim(EVEN)  # not before this process's send has ended
    step_may_end.set()
    await sending
    assert (await guard.refresh([])).released == frozenset()  # told once
    assert await second.try_claim(EVEN)
