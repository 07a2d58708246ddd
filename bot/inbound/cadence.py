"""When each guild's poll loop takes its first turn.

Cycles start one poll interval apart (``cogs/inbound.py``), so guilds whose loops start
together stay in step: at start-up, every guild's cycle falls due in the same instant,
every interval, and the last of a thousand waits for the other 999 (measured in
``bench/scale.py``: up to a third of the interval late). Spreading the first turns of a
big batch over one interval keeps the load even from then on. A small batch (one guild
just linked, a handful at start) starts at once: nothing to spread.
"""

from __future__ import annotations

from collections.abc import Mapping

STAGGER_ABOVE = 20
"""Batches of up to this many guilds all poll at once."""


def first_poll_delays(intervals: Mapping[int, float]) -> dict[int, float]:
    """Seconds before each guild's first poll, for guilds (id -> poll interval) whose loops
    start together: 0 for a small batch; else the i-th of n (by id) waits i/n of its
    interval, so the batch's polls are spread evenly over one interval."""
    n = len(intervals)
    if n <= STAGGER_ABOVE:
        return dict.fromkeys(intervals, 0.0)
    return {guild: intervals[guild] * i / n for i, guild in enumerate(sorted(intervals))}
