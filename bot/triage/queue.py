"""``/ticket list``: which of a guild's tickets each view shows, oldest wait first."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from bot.triage.waiting import WaitingFor

LIST_LIMIT = 25
MESSAGE_LIMIT = 2000


class Show(enum.StrEnum):
    WAITING = "waiting"
    UNCLAIMED = "unclaimed"
    MINE = "mine"
    OPEN = "open"


@dataclass(frozen=True, slots=True)
class QueueItem:
    ticket_id: int
    thread_id: int | None
    title: str
    is_open: bool
    owner_id: int | None
    waiting_for: WaitingFor | None
    waiting_since: float | None


def shows(item: QueueItem, show: Show, *, me: int) -> bool:
    if not item.is_open:
        return False
    if show is Show.WAITING:
        return item.waiting_for is WaitingFor.STAFF
    if show is Show.UNCLAIMED:
        return item.owner_id is None
    if show is Show.MINE:
        return item.owner_id == me
    return True


def queue(items: Iterable[QueueItem], show: Show, *, me: int) -> list[QueueItem]:
    """The tickets ``show`` lists, oldest wait first (tickets without a wait last, by id)."""
    chosen = [i for i in items if shows(i, show, me=me)]
    return sorted(
        chosen,
        key=lambda i: (i.waiting_since is None, i.waiting_since or 0.0, i.ticket_id),
    )


def line(item: QueueItem) -> str:
    where = f"<#{item.thread_id}>" if item.thread_id is not None else f"#{item.ticket_id}"
    owner = f", owner <@{item.owner_id}>" if item.owner_id is not None else ", unclaimed"
    if item.waiting_since is None or item.waiting_for is None:
        wait = "no messages yet"
    else:
        wait = f"awaiting {item.waiting_for.value} since <t:{int(item.waiting_since)}:R>"
    return f"#{item.ticket_id} {where}: {wait}{owner}"


EMPTY = {
    Show.WAITING: "No open ticket is awaiting staff.",
    Show.UNCLAIMED: "No open ticket is unclaimed.",
    Show.MINE: "You own no open tickets.",
    Show.OPEN: "No open tickets.",
}


def list_text(items: list[QueueItem], show: Show) -> str:
    """The reply of ``/ticket list``: within one Discord message, saying how many more."""
    if not items:
        return EMPTY[show]
    head = f"**{show.value.title()} tickets** ({len(items)}, oldest wait first)"
    lines: list[str] = []
    for item in items[:LIST_LIMIT]:
        candidate = "\n".join([head, *lines, line(item)])
        if len(candidate) > MESSAGE_LIMIT - 40:  # room for the "more" line
            break
        lines.append(line(item))
    more = len(items) - len(lines)
    return "\n".join([head, *lines] + ([f"…and {more} more."] if more > 0 else []))
