"""The guild claim engine: which guilds this process works on, now.

A process works on a guild only while all three hold:

1. the guild is on one of its shards (:class:`bot.shards.plan.ShardPlan`);
2. it holds the guild's claim (:class:`bot.store.claims.GuildClaims`: a file lock on
   SQLite, an advisory lock on PostgreSQL), so no other process works on it at the same
   time, even while shards move (a process restarted with other ``SHARD_IDS``, a new
   shard count): the old holder keeps the claim until it lets go or dies;
3. the guild's after-crash recovery ran in this process since it took the claim (the
   ``recover`` steps the cogs register: settling replies a crash left ``sending``,
   marking queued ones *look first*, owed reactions, the threads' catch-up). At start
   that is every guild; later it is a guild taken over from a process that was killed.

Every pass (:meth:`GuildGuard.refresh`) decides with :func:`plan_claims` (pure) what to
release and what to try, then does it. A claim refused (another process still holds it)
is tried again after :data:`RETRY_SECONDS`. Claims lost (``held()`` shrank, e.g. the
database session that held them ended) stop work at once: :meth:`works_on` reads
``held()`` on every call, and the ``on_change`` listeners hear of it in the next pass.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from bot.shards.plan import ShardPlan
from bot.store.claims import GuildClaims

__all__ = ["MOVING", "RETRY_SECONDS", "ClaimSteps", "GuardPass", "GuildGuard", "plan_claims"]

log = logging.getLogger(__name__)

RETRY_SECONDS: Final = 3.0
"""How soon a refused claim (another process holds the guild) is tried again."""

MOVING: Final = "This server is moving between bridge processes; try again in a few seconds."
"""The ephemeral answer to a command or button of a guild this process does not work on."""

Recover = Callable[[int], Awaitable[None]]
"""A guild's recovery step, run once each time this process takes its claim."""
Listener = Callable[["GuardPass"], None]


@dataclass(frozen=True, slots=True)
class ClaimSteps:
    """What one pass does: give up ``release``, then try to claim ``attempt``."""

    release: frozenset[int]
    attempt: tuple[int, ...]


def plan_claims(
    *,
    wanted: frozenset[int],
    working: frozenset[int],
    held: frozenset[int],
    refused_until: Mapping[int, float],
    now: float,
) -> ClaimSteps:
    """Decide a pass: claims held (or guilds worked on) that are no longer wanted are
    released; wanted guilds not worked on yet are tried, except those refused lately."""
    release = (held | working) - wanted
    attempt = tuple(
        sorted(g for g in wanted - working if g in held or refused_until.get(g, 0.0) <= now)
    )
    return ClaimSteps(frozenset(release), attempt)


@dataclass(frozen=True, slots=True)
class GuardPass:
    """What changed in one pass."""

    acquired: frozenset[int] = frozenset()
    released: frozenset[int] = frozenset()
    lost: frozenset[int] = frozenset()
    refused: frozenset[int] = frozenset()

    @property
    def changed(self) -> bool:
        return bool(self.acquired or self.released or self.lost)


@dataclass(slots=True)
class _State:
    working: set[int] = field(default_factory=set)
    refused_until: dict[int, float] = field(default_factory=dict)


class GuildGuard:
    """One per process. The cogs ask :meth:`works_on` before touching a guild."""

    def __init__(
        self,
        claims: GuildClaims,
        *,
        plan: ShardPlan | None = None,
        clock: Callable[[], float] = time.monotonic,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self._claims = claims
        self._plan = plan
        self._clock = clock
        self._retry = retry_seconds
        self._state = _State()
        self._recover: list[Recover] = []
        self._listeners: list[Listener] = []
        self._pass_lock = asyncio.Lock()
        self.wake = asyncio.Event()
        """Set it to make the guard's loop run a pass now (a link or guild changed)."""

    # --- set-up ---

    @property
    def plan(self) -> ShardPlan | None:
        """The shards this process runs; None until the gateway says how many there are."""
        return self._plan

    def set_plan(self, plan: ShardPlan) -> None:
        if plan != self._plan:
            log.info("this process runs %s", plan.describe())
        self._plan = plan
        self.wake.set()

    def add_recovery(self, step: Recover) -> None:
        """Run ``step(guild_id)`` each time a claim is taken, before any work on it."""
        self._recover.append(step)

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(pass)`` after every pass that changed something."""
        self._listeners.append(listener)

    # --- questions ---

    def works_on(self, guild_id: int) -> bool:
        """Whether this process may work on ``guild_id`` now."""
        plan = self._plan
        return (
            plan is not None
            and guild_id in self._state.working
            and guild_id in self._claims.held()
            and plan.serves(guild_id)
        )

    def held(self) -> frozenset[int]:
        """The guilds this process works on now."""
        plan = self._plan
        if plan is None:
            return frozenset()
        held = self._claims.held()
        return frozenset(g for g in self._state.working if g in held and plan.serves(g))

    def on_our_shards(self, guild_id: int) -> bool:
        plan = self._plan
        return plan is not None and plan.serves(guild_id)

    async def ensure(self, guild_id: int) -> bool:
        """Whether this process works on ``guild_id``, claiming it now if it is on our
        shards and nobody holds it (a guild that just joined, or a command faster than
        the next pass). False: another process holds it, or it is not on our shards."""
        if self.works_on(guild_id):
            return True
        plan = self._plan
        if plan is None or not plan.serves(guild_id):
            return False
        async with self._pass_lock:
            if self.works_on(guild_id):
                return True
            # A member asked: try now, even if a pass was refused lately (one lock call).
            state, now = self._state, self._clock()
            if not await self._claims.try_claim(guild_id):
                state.refused_until[guild_id] = now + self._retry
                return False
            state.refused_until.pop(guild_id, None)
            if not await self._recovered(guild_id):
                return False
            state.working.add(guild_id)
        self._tell(GuardPass(acquired=frozenset({guild_id})))
        return True

    def _tell(self, result: GuardPass) -> None:
        for listener in self._listeners:
            try:
                listener(result)
            except Exception:
                log.exception("claims: a listener failed")

    # --- a pass ---

    async def refresh(self, candidates: Iterable[int]) -> GuardPass:
        """Work out the guilds wanted (``candidates`` on our shards), release the rest,
        claim and recover the new ones."""
        async with self._pass_lock:
            result = await self._refresh(frozenset(candidates))
        if result.changed:
            self._tell(result)
        return result

    async def _refresh(self, candidates: frozenset[int]) -> GuardPass:
        plan = self._plan
        if plan is None:
            return GuardPass()
        state = self._state
        held = self._claims.held()
        lost = frozenset(g for g in state.working if g not in held)
        for guild_id in lost:
            state.working.discard(guild_id)
            log.warning("guild %s: claim lost; stopped working on it", guild_id)
        now = self._clock()
        steps = plan_claims(
            wanted=frozenset(g for g in candidates if plan.serves(g)),
            working=frozenset(state.working),
            held=held,
            refused_until=state.refused_until,
            now=now,
        )
        for guild_id in sorted(steps.release):
            state.working.discard(guild_id)
            state.refused_until.pop(guild_id, None)
            await self._claims.release(guild_id)
            log.info("guild %s: claim released (no longer on this process's shards)", guild_id)
        acquired: set[int] = set()
        refused: set[int] = set()
        for guild_id in steps.attempt:
            if not await self._claims.try_claim(guild_id):
                if guild_id not in state.refused_until:
                    log.info(
                        "guild %s: another process still holds it; trying again every %g s",
                        guild_id,
                        self._retry,
                    )
                state.refused_until[guild_id] = now + self._retry
                refused.add(guild_id)
                continue
            state.refused_until.pop(guild_id, None)
            if await self._recovered(guild_id):
                state.working.add(guild_id)
                acquired.add(guild_id)
        return GuardPass(
            acquired=frozenset(acquired),
            released=steps.release,
            lost=lost,
            refused=frozenset(refused),
        )

    async def _recovered(self, guild_id: int) -> bool:
        """Run the guild's recovery steps; False (tried again next pass) if one failed."""
        for step in self._recover:
            try:
                await step(guild_id)
            except Exception:
                log.exception(
                    "guild %s: recovery after taking its claim failed; retrying", guild_id
                )
                return False
        return True

    async def close(self) -> None:
        """Stop working on every guild (the store gives the claims up when it closes)."""
        self._state.working.clear()
