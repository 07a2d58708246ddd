"""The daily digest: one message with what the queue looks like this morning."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.triage.queue import QueueItem, Show, line, queue

LONGEST = 5


def digest_due(now: float, timezone: str, hour: int) -> str | None:
    """The local date whose digest is due at ``now`` (from ``hour`` o'clock on), else None.
    The date is the digest's durable key: one a day, even across restarts."""
    local = datetime.fromtimestamp(now, ZoneInfo(timezone))
    return local.date().isoformat() if local.hour >= hour else None


def digest_text(items: Sequence[QueueItem], *, reminders_yesterday: int) -> str:
    open_ = queue(items, Show.OPEN, me=0)
    waiting = queue(items, Show.WAITING, me=0)
    unclaimed = queue(items, Show.UNCLAIMED, me=0)
    lines = [
        "**Daily digest**",
        f"Open: {len(open_)} · Awaiting staff: {len(waiting)} · Unclaimed: {len(unclaimed)}",
        f"Reminders yesterday: {reminders_yesterday}",
    ]
    if waiting:
        lines.append("Longest waits:")
        lines.extend(f"- {line(item)}" for item in waiting[:LONGEST])
    return "\n".join(lines)
