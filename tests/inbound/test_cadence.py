"""A big batch of guilds starting together polls spread over one interval, not at once."""

from __future__ import annotations

from collections import Counter

from bot.inbound.cadence import STAGGER_ABOVE, first_poll_delays


def test_a_small_batch_polls_at_once() -> None:
    """One guild just linked, or a handful at start-up: no one waits for a first poll."""
    assert first_poll_delays({7: 30.0}) == {7: 0.0}
    batch = {g: 30.0 for g in range(STAGGER_ABOVE)}
    assert set(first_poll_delays(batch).values()) == {0.0}


def test_a_thousand_guilds_spread_evenly_over_their_interval() -> None:
    """At most a thirtieth of the batch falls due in any one second of a 30 s interval."""
    delays = first_poll_delays({g: 30.0 for g in range(1_000, 2_000)})
    assert len(delays) == 1_000
    assert all(0.0 <= d < 30.0 for d in delays.values())
    per_second = Counter(int(d) for d in delays.values())
    assert len(per_second) == 30 and max(per_second.values()) <= 34


def test_each_guild_is_spread_over_its_own_interval() -> None:
    intervals = {g: (10.0 if g % 2 else 60.0) for g in range(100)}
    delays = first_poll_delays(intervals)
    assert all(delays[g] < intervals[g] for g in intervals)
    assert max(delays[g] for g in intervals if g % 2) > 9.0
    assert max(delays[g] for g in intervals if not g % 2) > 50.0
