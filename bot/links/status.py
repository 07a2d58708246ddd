"""``/sellapp status``: the state rule, from plain data (no Discord, no store)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from bot.store.records import OPEN_OUTBOX_STATES, OutboxState

COLOUR_FAILING: Final = 0xEF4444
COLOUR_PROBLEMS: Final = 0xF59E0B
COLOUR_OK: Final = 0x22C55E


@dataclass(frozen=True, slots=True)
class BridgeState:
    words: str
    """The "State" line: paused, not running (and why), failing, or running."""
    failing: bool
    """The last poll failed (shown red, with its error), whatever else holds."""
    polling: bool
    """Polls are scheduled (so a "Next poll" time means something)."""
    problems: bool = False
    """Some tickets have problems (shown amber) while the store as a whole works."""

    @property
    def colour(self) -> int:
        if self.failing:
            return COLOUR_FAILING
        return COLOUR_PROBLEMS if self.problems else COLOUR_OK


def bridge_state(
    *,
    paused: bool,
    missing: str | None,
    consecutive_failures: int,
    problem_tickets: int = 0,
) -> BridgeState:
    """Paused wins over a missing setting, which wins over failing polls, which win over
    per-ticket problems; else running.

    ``missing`` is :attr:`bot.links.LinkConfig.missing`; ``consecutive_failures`` is
    the poll state's count (0 when the guild was never polled); ``problem_tickets`` how
    many tickets have a recorded problem (:mod:`bot.inbound.problems`)."""
    failing = consecutive_failures > 0
    if paused:
        words = "⏸️ paused"
    elif missing:
        words = f"⚪ not running: {missing}"
    elif failing:
        words = "🔴 failing"
    elif problem_tickets:
        words = f"🟡 running, with problems in {problem_tickets} ticket(s)"
    else:
        words = "🟢 running"
    return BridgeState(
        words=words,
        failing=failing,
        polling=not paused and not missing,
        problems=problem_tickets > 0,
    )


def replies_on_their_way(counts: Mapping[OutboxState, int]) -> int:
    """Staff replies not yet delivered nor refused (the "waiting" of the Replies line)."""
    return sum(counts.get(state, 0) for state in OPEN_OUTBOX_STATES)
