"""When a ticket awaiting staff is due a reminder, and whom the reminder pings.

With an SLA of ``sla`` minutes: the first reminder falls due once the ticket has waited
``sla`` minutes *of support hours* (see :mod:`bot.triage.hours`), the second at twice
that. The first pings the ticket's owner, else the notify role; the second always the
notify role. Each is sent at most once per waiting period: the period's start is part
of the reminder's durable key, so a reply (a new period) allows new ones and a restart
never repeats one.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.triage.hours import SupportHours, after_support_seconds

LEVELS = (1, 2)
MINUTE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Target:
    """Whom a ping may reach: exactly one user or one role (or nobody)."""

    user_id: int | None = None
    role_id: int | None = None

    @property
    def mention(self) -> str:
        if self.user_id is not None:
            return f"<@{self.user_id}>"
        if self.role_id is not None:
            return f"<@&{self.role_id}>"
        return ""

    @property
    def nobody(self) -> bool:
        return self.user_id is None and self.role_id is None


def due_at(
    hours: SupportHours | None,
    waiting_since: float,
    sla_minutes: int,
    level: int,
    *,
    minute_seconds: float = MINUTE_SECONDS,
) -> float:
    """When reminder ``level`` (1 or 2) of a period that started at ``waiting_since`` is due."""
    return after_support_seconds(hours, waiting_since, level * sla_minutes * minute_seconds)


def due_levels(
    now: float,
    hours: SupportHours | None,
    waiting_since: float,
    sla_minutes: int,
    *,
    sent: frozenset[int] = frozenset(),
    minute_seconds: float = MINUTE_SECONDS,
) -> list[int]:
    """The reminder levels due now and not yet sent. When both are due at once (the bot
    was down), only the second is sent: one nudge, to the role, not two in a row."""
    due = [
        level
        for level in LEVELS
        if due_at(hours, waiting_since, sla_minutes, level, minute_seconds=minute_seconds) <= now
    ]
    if 2 in due:
        return [] if 2 in sent else [2]
    return [level for level in due if level not in sent]


def target(level: int, *, owner_id: int | None, notify_role_id: int | None) -> Target:
    if level == 1 and owner_id is not None:
        return Target(user_id=owner_id)
    return Target(role_id=notify_role_id)
