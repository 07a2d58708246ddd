"""The support-hours clock: how many seconds of support hours lie between two moments.

Hours are a set of weekdays, a start and an end in one IANA timezone
(``mon-fri 09:00-17:00 Europe/Berlin``). A shift belongs to the day it starts: with
``start`` after ``end`` (``22:00-06:00``) Friday's shift runs into Saturday morning.
``start == end`` means the whole day. Local times are turned into instants with
:mod:`zoneinfo`, so a DST change makes that day's shift an hour shorter or longer, as
the team's wall clock says. No hours set means every minute counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
# A ticket waiting longer than this many days without one support minute is not due.
_HORIZON_DAYS = 400


class BadHours(ValueError):
    """Support hours that can't be read; the message says what is expected."""


@dataclass(frozen=True, slots=True)
class SupportHours:
    days: frozenset[int]
    """Weekdays a shift starts on, 0 = Monday."""
    start: time
    end: time
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def words(self) -> str:
        return f"{days_words(self.days)} {self.start:%H:%M}-{self.end:%H:%M} ({self.timezone})"

    def working_seconds(self, start: float, end: float) -> float:
        """Seconds between ``start`` and ``end`` inside these hours (what stats count)."""
        return support_seconds(self, start, end)


def parse_days(text: str) -> frozenset[int]:
    """``mon-fri``, ``mon,wed,fri``, ``sat-sun``, ``fri-mon`` (wrapping) or ``every``."""
    words = text.strip().lower().replace(" ", "")
    if words in {"every", "all", "daily", "mon-sun"}:
        return frozenset(range(7))
    days: set[int] = set()
    for part in words.split(","):
        first, _, last = part.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise BadHours(
                f"days {text!r}: use day names like mon-fri or mon,wed,fri"
                " (mon tue wed thu fri sat sun)"
            )
        a = DAY_NAMES.index(first)
        b = DAY_NAMES.index(last) if last else a
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    return frozenset(days)


def days_words(days: frozenset[int]) -> str:
    return ",".join(DAY_NAMES[d] for d in sorted(days))


def parse_clock(text: str, what: str) -> time:
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        raise BadHours(f"{what} {text!r}: use a 24-hour time like 09:00")
    return time(int(match[1]), int(match[2]))


def parse_timezone(text: str) -> str:
    name = text.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadHours(
            f"timezone {text!r}: use an IANA name like Europe/Berlin or America/New_York"
        ) from None
    return name


def parse_hours(days: str, start: str, end: str, timezone: str) -> SupportHours:
    return SupportHours(
        parse_days(days),
        parse_clock(start, "start"),
        parse_clock(end, "end"),
        parse_timezone(timezone),
    )


def _instant(day: date, clock: time, zone: ZoneInfo) -> float:
    return datetime.combine(day, clock, tzinfo=zone).timestamp()


def shifts(hours: SupportHours, after: float) -> Iterator[tuple[float, float]]:
    """Every shift (start, end instants) that ends after ``after``, in order."""
    zone = hours.zone
    day = datetime.fromtimestamp(after, zone).date() - timedelta(days=1)
    for _ in range(_HORIZON_DAYS):
        if day.weekday() in hours.days:
            begin = _instant(day, hours.start, zone)
            end_day = day if hours.end > hours.start else day + timedelta(days=1)
            finish = _instant(end_day, hours.end, zone)
            if finish > after:
                yield begin, finish
        day += timedelta(days=1)


def support_seconds(hours: SupportHours | None, start: float, end: float) -> float:
    """Seconds of support hours in ``[start, end)``."""
    if end <= start:
        return 0.0
    if hours is None:
        return end - start
    total = 0.0
    for begin, finish in shifts(hours, start):
        if begin >= end:
            break
        total += max(0.0, min(finish, end) - max(begin, start))
    return total


def after_support_seconds(hours: SupportHours | None, start: float, seconds: float) -> float:
    """The instant at which ``seconds`` of support hours have passed since ``start``
    (``inf`` if the hours have no shift at all)."""
    if hours is None:
        return start + seconds
    left = seconds
    for begin, finish in shifts(hours, start):
        open_from = max(begin, start)
        length = finish - open_from
        if length >= left:
            return open_from + left
        left -= length
    return float("inf")


def in_hours(hours: SupportHours | None, moment: float) -> bool:
    if hours is None:
        return True
    for begin, finish in shifts(hours, moment):
        return begin <= moment < finish
    return False
