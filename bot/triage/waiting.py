"""The waiting state of a ticket, from its customer-visible messages.

A ticket waits for **staff** when its last customer-visible message is the customer's,
and for the **customer** when it is ours (a reply sent from Discord, or typed in
SellApp's dashboard). Internal notes (``//``) never reach SellApp, so they are not
customer-visible and never change it. A waiting period starts at the first message of
the run that put the ticket in its state: three customer messages in a row are one
period, started by the first.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from bot.sellapp.models import Author


class WaitingFor(enum.StrEnum):
    STAFF = "staff"
    CUSTOMER = "customer"


@dataclass(frozen=True, slots=True)
class Waiting:
    waiting_for: WaitingFor
    since: float
    """When this waiting period started (unix seconds)."""


def who_waits(author: Author) -> WaitingFor:
    """The customer wrote last: staff must answer; we did: the customer may."""
    return WaitingFor.STAFF if author is Author.CUSTOMER else WaitingFor.CUSTOMER


def next_waiting(
    current: Waiting | None, messages: Iterable[tuple[Author, float]]
) -> Waiting | None:
    """``current`` after the new customer-visible ``messages`` (author, sent at), in order.

    A message that keeps the state keeps its period (and its start); one that flips it
    starts a new period at its own time."""
    state = current
    for author, at in messages:
        wanted = who_waits(author)
        if state is None or state.waiting_for is not wanted:
            state = Waiting(wanted, at)
    return state
