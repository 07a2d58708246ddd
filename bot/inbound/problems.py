"""Per-ticket problems of a guild: what is new, what repeats, what has cleared. Pure.

A problem is keyed by (guild, ticket, kind) and kept in the store (``ticket_problems``),
so that it is logged once when it first appears and once when it clears, across
restarts too, while ``/sellapp status`` shows it and a metric counts it by kind.

Two families of kinds:

* seen in the *listing* (``unreadable_ticket``, ``unknown_status``): every cycle reads
  the whole listing, so one that is not seen again has cleared.
* seen while *working* on a ticket (``unreadable_message``, ``discord_refused``,
  ``sellapp_failed``): one clears when the ticket was worked on again without it, or
  when SellApp no longer lists the ticket. The failures among them back off: the ticket
  is retried after ``interval * 2**repeats`` (capped at :data:`RETRY_CAP_SECONDS`), not
  every poll; ``/ticket resync`` retries it at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from bot.sellapp.models import ItemProblem, Listing, Ticket
from bot.store.records import PROBLEM_KINDS, ProblemKind, TicketProblem

__all__ = [
    "BACKS_OFF",
    "LISTING_KINDS",
    "NO_ID",
    "PROBLEM_KINDS",
    "ProblemKind",
    "ProblemPlan",
    "Seen",
    "describe",
    "listing_problems",
    "retry_after",
    "settle",
    "summary",
    "unknown_status",
    "unreadable_messages",
]

LISTING_KINDS: Final[frozenset[str]] = frozenset({"unreadable_ticket", "unknown_status"})
BACKS_OFF: Final[frozenset[str]] = frozenset({"discord_refused", "sellapp_failed"})
NO_ID: Final = 0
"""The ticket id of a listed item that had no readable id."""
RETRY_CAP_SECONDS: Final = 3600.0


@dataclass(frozen=True, slots=True)
class Seen:
    """A problem seen this cycle. ``detail`` is plain words, safe to show staff."""

    ticket_id: int
    kind: ProblemKind
    detail: str

    @property
    def key(self) -> tuple[int, str]:
        return self.ticket_id, self.kind


@dataclass(frozen=True, slots=True)
class ProblemPlan:
    """What to write: ``new`` and ``repeated`` are upserted, ``cleared`` deleted."""

    new: tuple[TicketProblem, ...] = ()
    repeated: tuple[TicketProblem, ...] = ()
    cleared: tuple[TicketProblem, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.new or self.repeated or self.cleared)


# --- what a problem says, from what SellApp sent -------------------------------------------


def unknown_status(ticket: Ticket) -> Seen:
    return Seen(
        ticket.id,
        "unknown_status",
        f"SellApp sent a status the bridge doesn't know: {ticket.unknown_status} (treated as open)",
    )


def listing_problems(listing: Listing[Ticket]) -> list[Seen]:
    """The listing's odd tickets: unknown statuses (they flow) and unreadable items (left out)."""
    seen = [unknown_status(t) for t in listing.items if t.unknown_status is not None]
    seen.extend(
        Seen(
            NO_ID if p.item_id is None else p.item_id,
            "unreadable_ticket",
            f"SellApp sent it in a shape the bridge can't read ({p.reason}); it is skipped",
        )
        for p in listing.problems
    )
    return seen


def unreadable_messages(ticket_id: int, problems: list[ItemProblem]) -> Seen:
    first = problems[0]
    which = "a message" if first.item_id is None else f"message {first.item_id}"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return Seen(
        ticket_id,
        "unreadable_message",
        f"SellApp sent {which}{more} in a shape the bridge can't read ({first.reason}); "
        "it is skipped",
    )


# --- deciding ---------------------------------------------------------------------------


def retry_after(*, now: float, interval: float, repeats: int) -> float:
    """When a ticket whose step failed ``repeats + 1`` times in a row is tried again.

    Half an interval early, like the quiet-ticket backoff, so the cycle meant to retry it
    doesn't miss it by a hair."""
    wait = min(interval * float(1 << min(repeats, 30)), max(RETRY_CAP_SECONDS, interval))
    return now + wait - interval / 2


def settle(
    guild_id: int,
    before: Iterable[TicketProblem],
    seen: Iterable[Seen],
    *,
    examined: Callable[[int, str], bool],
    now: float,
    interval: float,
) -> ProblemPlan:
    """Compare the problems recorded with those seen in a cycle.

    ``examined(ticket_id, kind)``: whether this cycle looked where that problem would
    show (so its absence means it has cleared)."""
    recorded: Mapping[tuple[int, str], TicketProblem] = {(p.ticket_id, p.kind): p for p in before}
    found: dict[tuple[int, str], Seen] = {}
    for problem in seen:
        found.setdefault(problem.key, problem)
    new: list[TicketProblem] = []
    repeated: list[TicketProblem] = []
    for key, problem in found.items():
        old = recorded.get(key)
        repeats = 0 if old is None else old.repeats + 1
        due = (
            retry_after(now=now, interval=interval, repeats=repeats)
            if problem.kind in BACKS_OFF
            else 0.0
        )
        row = TicketProblem(
            guild_id=guild_id,
            ticket_id=problem.ticket_id,
            kind=problem.kind,
            detail=problem.detail,
            first_seen_at=now if old is None else old.first_seen_at,
            last_seen_at=now,
            repeats=repeats,
            retry_at=due,
        )
        (new if old is None else repeated).append(row)
    cleared = [
        old
        for key, old in recorded.items()
        if key not in found and examined(old.ticket_id, old.kind)
    ]
    return ProblemPlan(tuple(new), tuple(repeated), tuple(cleared))


def describe(problem: TicketProblem) -> str:
    """One line for ``/sellapp status`` and the log: ``ticket 123: ...``."""
    who = "an item without an id" if problem.ticket_id == NO_ID else f"ticket {problem.ticket_id}"
    return f"{who}: {problem.detail}"


STATUS_LINES: Final = 5
FIELD_LIMIT: Final = 1024


def summary(problems: Iterable[TicketProblem], *, lines: int = STATUS_LINES) -> str:
    """The ``Problems`` field of ``/sellapp status``: a few lines, then how many more."""
    every = [describe(p) for p in problems]
    shown = every[:lines]
    rest = len(every) - len(shown)
    text = "\n".join(f"• {line}" for line in shown)
    if rest:
        text += f"\n…and {rest} more"
    return text if len(text) <= FIELD_LIMIT else text[: FIELD_LIMIT - 1] + "…"
