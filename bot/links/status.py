"""``/sellapp status``: the state rule, from plain data (no Discord, no store)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from bot.store.records import OPEN_OUTBOX_STATES, OutboxState

COLOUR_FAILING: Final = 0xEF4444
COLOUR_OK: Final = 0x22C55E


@dataclass(frozen=True, slots=True)
class BridgeState:
    words: str
    """The "State" line: paused, not running (and why), failing, or running."""
    failing: bool
    """The last poll failed (shown red, with its error), whatever else holds."""
    polling: bool
    """Polls are scheduled (so a "Next poll" time means something)."""

    @property
    def colour(self) -> int:
        return COLOUR_FAILING if self.failing else COLOUR_OK


def bridge_state(*, paused: bool, missing: str | None, consecutive_failures: int) -> BridgeState:
    """Paused wins over a missing setting, which wins over failing polls; else running.

    ``missing`` is :attr:`bot.links.LinkConfig.missing`; ``consecutive_failures`` is
    the poll state's count (0 when the guild was never polled)."""
    failing = consecutive_failures > 0
    if paused:
        words = "⏸️ paused"
    elif missing:
        words = f"⚪ not running: {missing}"
    elif failing:
        words = "🔴 failing"
    else:
        words = "🟢 running"
    return BridgeState(words=words, failing=failing, polling=not paused and not missing)


def replies_on_their_way(counts: Mapping[OutboxState, int]) -> int:
    """Staff replies not yet delivered nor refused (the "waiting" of the Replies line)."""
    return sum(counts.get(state, 0) for state in OPEN_OUTBOX_STATES)
