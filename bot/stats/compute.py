"""Each statistic of ``/sellapp stats`` from a guild's recorded history. Pure: the clock,
support hours, products and order actions are inputs.

* **Opened**: tickets SellApp says were created in the window (``opened_at``).
* **Closed**: closes the bridge saw in the window (a ticket closed, reopened and closed
  again counts twice: it was closed twice).
* **First response**: for tickets opened in the window, from opening to the first staff
  reply through the bridge that reached SellApp (when it was typed). Inside support hours
  when they are given (:class:`SupportHours`), otherwise wall-clock. Median and 90th
  percentile (nearest rank).
* **Resolution**: for closes in the window, from opening to that close.
* **Replies per staff member**: delivered replies typed in the window, by author.
* **Tickets per product** and **order actions**: only when the caller has them (the
  orders feature); None otherwise, and the answer says they are not recorded.

Days are UTC calendar days; the window is the last ``days`` of them, today included.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol, TypeVar

from bot.store.records import StatsHistory

__all__ = ["DAY", "PERIODS", "DayRow", "OrderAction", "Stats", "Summary", "SupportHours", "compute"]

DAY: Final = 86_400.0
_Key = TypeVar("_Key", str, int)
PERIODS: Final = (7, 30, 90)


class SupportHours(Protocol):
    """Hook (issue 17): the triage feature's support hours, built in parallel. Until it is
    wired, ``/sellapp stats`` passes None and times are wall-clock."""

    def working_seconds(self, start: float, end: float) -> float:
        """Seconds between ``start`` and ``end`` that fall inside support hours."""
        ...


@dataclass(frozen=True, slots=True)
class OrderAction:
    """Hook (issue 17): an order action staff took (refund, resend...), from the orders
    feature built in parallel."""

    kind: str
    at: float


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    median: float | None
    p90: float | None


@dataclass(frozen=True, slots=True)
class DayRow:
    day: str
    """``YYYY-MM-DD`` (UTC)."""
    opened: int
    closed: int
    first_response_median: float | None


@dataclass(frozen=True, slots=True)
class Stats:
    days: int
    since: float
    until: float
    records_start: float | None
    opened: int
    closed: int
    first_response: Summary
    unanswered: int
    """Tickets opened in the window with no reply yet."""
    resolution: Summary
    replies_per_staff: tuple[tuple[int, int], ...]
    """(author id, replies), most first."""
    per_day: tuple[DayRow, ...]
    tickets_per_product: tuple[tuple[str, int], ...] | None
    order_actions: tuple[tuple[str, int], ...] | None
    in_support_hours: bool


def summary(values: Sequence[float]) -> Summary:
    """Median and 90th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return Summary(0, None, None)
    mid = n // 2
    median = ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return Summary(n, median, ordered[max(0, math.ceil(0.9 * n) - 1)])


def _day(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d")


def _ranked(counts: Counter[_Key]) -> tuple[tuple[_Key, int], ...]:
    """Most first; ties by key."""
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def compute(
    history: StatsHistory,
    *,
    now: float,
    days: int,
    hours: SupportHours | None = None,
    products: Mapping[int, str] | None = None,
    order_actions: Sequence[OrderAction] | None = None,
) -> Stats:
    """The statistics of the last ``days`` UTC days up to ``now``."""
    if days not in PERIODS:
        raise ValueError(f"days must be one of {PERIODS}")
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start_day = today - timedelta(days=days - 1)
    since = start_day.timestamp()

    def inside(moment: float | None) -> bool:
        return moment is not None and since <= moment <= now

    def span(start: float, end: float) -> float:
        return hours.working_seconds(start, end) if hours else max(0.0, end - start)

    opened_at = {t.ticket_id: t.opened_at for t in history.tickets}
    opened = [t for t in history.tickets if inside(t.opened_at)]
    first_reply: dict[int, float] = {}
    for reply in history.replies:
        if reply.state == "delivered" and reply.ticket_id not in first_reply:
            first_reply[reply.ticket_id] = reply.at
    responses: dict[int, float] = {}
    for ticket in opened:
        assert ticket.opened_at is not None
        answered = first_reply.get(ticket.ticket_id)
        if answered is not None and answered >= ticket.opened_at:
            responses[ticket.ticket_id] = span(ticket.opened_at, answered)
    closes = [e for e in history.events if e.kind == "closed" and inside(e.at)]
    resolutions = [
        span(o, e.at) for e in closes if (o := opened_at.get(e.ticket_id)) is not None and e.at >= o
    ]
    staff: Counter[int] = Counter(
        r.author_id for r in history.replies if r.state == "delivered" and inside(r.at)
    )

    per_day = []
    for offset in range(days):
        day = _day((start_day + timedelta(days=offset)).timestamp())
        day_responses = [
            responses[t.ticket_id]
            for t in opened
            if t.opened_at is not None and _day(t.opened_at) == day and t.ticket_id in responses
        ]
        per_day.append(
            DayRow(
                day=day,
                opened=sum(
                    1 for t in opened if t.opened_at is not None and _day(t.opened_at) == day
                ),
                closed=sum(1 for e in closes if _day(e.at) == day),
                first_response_median=summary(day_responses).median,
            )
        )

    product_counts = None
    if products is not None:
        product_counts = _ranked(
            Counter(products[t.ticket_id] for t in opened if t.ticket_id in products)
        )
    action_counts = None
    if order_actions is not None:
        action_counts = _ranked(Counter(a.kind for a in order_actions if inside(a.at)))
    return Stats(
        days=days,
        since=since,
        until=now,
        records_start=history.records_start,
        opened=len(opened),
        closed=len(closes),
        first_response=summary(list(responses.values())),
        unanswered=len(opened) - len(responses),
        resolution=summary(resolutions),
        replies_per_staff=_ranked(staff),
        per_day=tuple(per_day),
        tickets_per_product=product_counts,
        order_actions=action_counts,
        in_support_hours=hours is not None,
    )
