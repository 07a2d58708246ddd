"""/sellapp status: the state rule and the replies line, from plain data."""

from __future__ import annotations

import pytest

from bot.links.status import COLOUR_FAILING, COLOUR_OK, bridge_state, replies_on_their_way
from bot.store.records import OUTBOX_STATES


@pytest.mark.parametrize(
    ("paused", "missing", "failures", "words", "polling"),
    [
        (False, None, 0, "🟢 running", True),
        (False, None, 3, "🔴 failing", True),
        (True, None, 0, "⏸️ paused", False),
        (True, None, 2, "⏸️ paused", False),  # paused wins over failing
        (True, "no key", 0, "⏸️ paused", False),  # and over what is missing
        (False, "no key", 0, "⚪ not running: no key", False),
        (False, "no key", 1, "⚪ not running: no key", False),
    ],
)
def test_state_rule(
    paused: bool, missing: str | None, failures: int, words: str, polling: bool
) -> None:
    state = bridge_state(paused=paused, missing=missing, consecutive_failures=failures)
    assert (state.words, state.polling) == (words, polling)


def test_a_failing_poll_shows_red_even_while_paused() -> None:
    assert bridge_state(paused=True, missing=None, consecutive_failures=1).colour == COLOUR_FAILING
    assert bridge_state(paused=False, missing=None, consecutive_failures=0).colour == COLOUR_OK


def test_replies_waiting_are_queued_sending_and_waiting_only() -> None:
    counts = dict.fromkeys(OUTBOX_STATES, 0) | {
        "queued": 1,
        "sending": 2,
        "waiting": 4,
        "delivered": 8,
        "refused": 16,
    }
    assert replies_on_their_way(counts) == 7
    assert replies_on_their_way({}) == 0
