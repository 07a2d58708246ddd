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
``held()`` on every call, and the listeners hear of the loss first thing in the next
pass, before anything else in it (inbound cancels the guild's poll task there).

**In-flight work.** Every side-effecting step runs inside ``async with
guard.working(guild_id)`` (a reply's mark_sending..POST..mark_delivered, an inbound cycle,
an order action, a triage pass): it refuses to start (:class:`bot.errors.GuildNotHeld`)
when the guild is not worked on, and the step asks :meth:`GuildGuard.check` again right
before its side effect. The guard counts these steps per guild. A step already past its
last check when the claim goes runs to its end: a POST that may have reached SellApp
must record what became of it. So a guild with steps in flight is neither taken back
(its recovery would find this process's own reply ``sending`` and send it again) nor
let go to another process: the claim is kept (or taken again), and the recovery runs
in the pass after the last of them ended (the guard's loop is woken then).

**Across processes** (PostgreSQL; a file lock on SQLite is lost only when its process
dies). A claim lost to a silent network is noticed here within the claims heartbeat:
``SELECT 1`` every 5 s with a 5 s timeout, so 10 s at the most (at once when the
session ends visibly). The server frees it for another process only after about 25 s
(TCP keepalives: 10 s idle + 3 probes 5 s apart). A step must therefore end within
25 - 10 = 15 s of its last check. :data:`STEP_SECONDS` (10 s) bounds the one step that
can be neither undone nor repeated safely, the reply POST: the SellApp client's timeout
is 15 s *per phase* (connect, write, read) and a 429 is waited out and retried up to
3 times (``Retry-After`` capped at 30 s), so the engine's own deadline is what bounds
it; a POST cut off there has an unknown outcome and is looked for before any resend.
Order actions carry an idempotency key (a repeat by the next holder is the same action
at SellApp). Discord posts (inbound messages, triage pings) have no deadline of their
own (discord.py waits out Discord's 429s): each is recorded before it is posted, and the
next holder reads the channel (markers, ``find_post``) before posting it again, so a
duplicate needs a Discord post still in flight 15 s after this process noticed the loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from bot.errors import GuildNotHeld
from bot.shards.plan import ShardPlan
from bot.store.claims import GuildClaims

__all__ = [
    "MOVING",
    "RETRY_SECONDS",
    "STEP_SECONDS",
    "ClaimSteps",
    "GuardPass",
    "GuildGuard",
    "plan_claims",
]

log = logging.getLogger(__name__)

RETRY_SECONDS: Final = 3.0
"""How soon a refused claim (another process holds the guild) is tried again."""

STEP_SECONDS: Final = 10.0
"""The longest a side effect that can't be repeated safely (a reply's POST) may run after
its last :meth:`GuildGuard.check`: well under the 15 s between a lost claim being
noticed here and the database server handing it to another process (module docstring)."""

MOVING: Final = GuildNotHeld.MESSAGE
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
    draining: frozenset[int] = frozenset()
    """Held, but not worked on until this process's steps still in flight there ended."""


@dataclass(slots=True)
class _State:
    working: set[int] = field(default_factory=set)
    refused_until: dict[int, float] = field(default_factory=dict)
    in_flight: dict[int, int] = field(default_factory=dict)
    """Guild -> how many of this process's steps run there now (:meth:`GuildGuard.working`)."""
    draining: set[int] = field(default_factory=set)
    """Guilds whose recovery (or release) waits for their steps in flight to end."""


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

    def check(self, guild_id: int) -> None:
        """Raise :class:`GuildNotHeld` unless this process works on ``guild_id`` now: asked
        right before a side effect, inside :meth:`working`."""
        if not self.works_on(guild_id):
            raise GuildNotHeld(guild_id)

    @contextlib.asynccontextmanager
    async def working(self, guild_id: int) -> AsyncIterator[None]:
        """A step of work on ``guild_id``: refused (:class:`GuildNotHeld`) unless this
        process works on it now; while it runs, the guild is neither taken back after a
        lost claim (its recovery would race the step) nor let go to another process."""
        self.check(guild_id)
        state = self._state
        state.in_flight[guild_id] = state.in_flight.get(guild_id, 0) + 1
        try:
            yield
        finally:
            left = state.in_flight[guild_id] - 1
            if left:
                state.in_flight[guild_id] = left
            else:
                del state.in_flight[guild_id]
                if guild_id in state.draining:
                    self.wake.set()  # the pass that was waiting for it can run now

    def in_flight(self, guild_id: int) -> int:
        """How many steps of this process run on ``guild_id`` now."""
        return self._state.in_flight.get(guild_id, 0)

    def held(self) -> frozenset[int]:
        """The guilds this process works on now."""
        plan = self._plan
        if plan is None:
            return frozenset()
        held = self._claims.held()
        return frozenset(g for g in self._state.working if g in held and plan.serves(g))

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
            if await self._take(guild_id, self._clock()) != "working":
                return False
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
        if result.acquired or result.released:  # (the losses were told at once)
            self._tell(GuardPass(acquired=result.acquired, released=result.released))
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
        if lost:
            self._tell(GuardPass(lost=lost))  # before anything else: poll tasks stop now
        now = self._clock()
        steps = plan_claims(
            wanted=frozenset(g for g in candidates if plan.serves(g)),
            working=frozenset(state.working),
            held=held,
            refused_until=state.refused_until,
            now=now,
        )
        released = await self._release(steps.release)
        acquired: set[int] = set()
        refused: set[int] = set()
        draining: set[int] = set()
        for guild_id in steps.attempt:
            taken = await self._take(guild_id, now)
            if taken == "refused":
                refused.add(guild_id)
            elif taken == "draining":
                draining.add(guild_id)
            elif taken == "working":
                acquired.add(guild_id)
        return GuardPass(
            acquired=frozenset(acquired),
            released=released,
            lost=lost,
            refused=frozenset(refused),
            draining=frozenset(draining),
        )

    async def _take(
        self, guild_id: int, now: float
    ) -> Literal["refused", "draining", "unrecovered", "working"]:
        """Claim ``guild_id`` and, once this process's own steps there have ended, run its
        recovery; then it is worked on. What came of it, in one word."""
        state = self._state
        if not await self._claims.try_claim(guild_id):
            if guild_id not in state.refused_until:
                log.info(
                    "guild %s: another process still holds it; trying again every %g s",
                    guild_id,
                    self._retry,
                )
            state.refused_until[guild_id] = now + self._retry
            return "refused"
        state.refused_until.pop(guild_id, None)
        if guild_id in state.in_flight:
            # This process's own steps still run there (the claim blipped while a reply
            # was being sent): recovering now would race them. Kept, not worked on; the
            # pass after the last one ends recovers it.
            if guild_id not in state.draining:
                log.info("guild %s: claim taken back; waiting for its work in flight", guild_id)
            state.draining.add(guild_id)
            return "draining"
        state.draining.discard(guild_id)
        if not await self._recovered(guild_id):
            return "unrecovered"
        state.working.add(guild_id)
        return "working"

    async def _release(self, release: frozenset[int]) -> frozenset[int]:
        """Stop working on ``release`` and give their claims up; a guild with steps still
        in flight keeps its claim until they end (no other process may start on it
        before). Returns the guilds work stopped on or whose claim was given up now."""
        state = self._state
        released: set[int] = set()
        for guild_id in sorted(release):
            if guild_id in state.working:
                state.working.discard(guild_id)
                released.add(guild_id)
            state.refused_until.pop(guild_id, None)
            if guild_id in state.in_flight:
                state.draining.add(guild_id)
                continue
            if guild_id not in state.draining:
                released.add(guild_id)
            state.draining.discard(guild_id)
            await self._claims.release(guild_id)
            log.info("guild %s: claim released (no longer on this process's shards)", guild_id)
        return frozenset(released)

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
