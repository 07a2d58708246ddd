"""The triage rules as pure functions, with a fake clock (plain instants)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.sellapp.models import Author, Ticket
from bot.triage.find import find
from bot.triage.hours import (
    BadHours,
    after_support_seconds,
    in_hours,
    parse_days,
    parse_hours,
    support_seconds,
)
from bot.triage.queue import QueueItem, Show, list_text, queue
from bot.triage.reminders import Target, due_at, due_levels, target
from bot.triage.waiting import Waiting, WaitingFor, next_waiting

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = parse_hours("mon-fri", "09:00", "17:00", "Europe/Berlin")
NIGHTS = parse_hours("mon-fri", "22:00", "06:00", "Europe/Berlin")


def at(text: str) -> float:
    """A Berlin wall-clock time as an instant: the fake clock's reading."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp()


# --- waiting state -------------------------------------------------------------------


def test_a_customer_message_makes_the_ticket_wait_for_staff_from_that_message() -> None:
    state = next_waiting(None, [(Author.CUSTOMER, 100.0)])
    assert state == Waiting(WaitingFor.STAFF, 100.0)


def test_our_reply_makes_the_ticket_wait_for_the_customer() -> None:
    state = next_waiting(Waiting(WaitingFor.STAFF, 100.0), [(Author.STORE, 200.0)])
    assert state == Waiting(WaitingFor.CUSTOMER, 200.0)


def test_more_customer_messages_keep_the_first_ones_waiting_period() -> None:
    state = next_waiting(
        Waiting(WaitingFor.STAFF, 100.0), [(Author.CUSTOMER, 300.0), (Author.CUSTOMER, 400.0)]
    )
    assert state == Waiting(WaitingFor.STAFF, 100.0)


def test_the_last_customer_visible_message_decides() -> None:
    state = next_waiting(
        None, [(Author.CUSTOMER, 1.0), (Author.STORE, 2.0), (Author.CUSTOMER, 3.0)]
    )
    assert state == Waiting(WaitingFor.STAFF, 3.0)


def test_no_customer_visible_message_changes_nothing() -> None:
    # Notes (//) never reach SellApp, so they are never among the messages.
    current = Waiting(WaitingFor.CUSTOMER, 5.0)
    assert next_waiting(current, []) == current
    assert next_waiting(None, []) is None


# --- support-hours clock -------------------------------------------------------------


def test_days_read_ranges_lists_and_wrapping_ranges() -> None:
    assert parse_days("mon-fri") == frozenset({0, 1, 2, 3, 4})
    assert parse_days("mon,wed,fri") == frozenset({0, 2, 4})
    assert parse_days("fri-mon") == frozenset({4, 5, 6, 0})
    with pytest.raises(BadHours, match="day names"):
        parse_days("weekdays")


def test_bad_times_and_zones_say_what_is_expected() -> None:
    with pytest.raises(BadHours, match="24-hour time"):
        parse_hours("mon-fri", "9am", "17:00", "Europe/Berlin")
    with pytest.raises(BadHours, match="IANA name"):
        parse_hours("mon-fri", "09:00", "17:00", "Mars/Olympus")


def test_minutes_count_only_inside_support_hours() -> None:
    # Monday 16:30 to Tuesday 09:30: 30 minutes on Monday, 30 on Tuesday.
    assert support_seconds(OFFICE, at("2026-03-02T16:30"), at("2026-03-03T09:30")) == 3600


def test_a_ticket_that_starts_waiting_outside_hours_counts_from_the_next_shift() -> None:
    # Saturday night: the 30 minutes start Monday 09:00.
    assert after_support_seconds(OFFICE, at("2026-03-07T23:00"), 1800) == at("2026-03-09T09:30")


def test_a_dst_change_inside_overnight_hours_counts_the_real_hours() -> None:
    # Europe/Berlin springs forward on Sunday 2026-03-29 at 02:00 -> 03:00. With a shift
    # Fri 22:00 - Sat 06:00 there is no DST on it; pick a shift that spans the change:
    every_night = parse_hours("sat-sun", "22:00", "06:00", "Europe/Berlin")
    # Saturday 22:00 -> Sunday 06:00 local is only 7 real hours that night.
    start = at("2026-03-28T22:00")
    end = at("2026-03-29T06:00")
    assert support_seconds(every_night, start, end) == 7 * 3600


def test_overnight_hours_belong_to_the_day_they_start() -> None:
    # Friday 22:00 -> Saturday 06:00 is a shift; Saturday 22:00 is not (mon-fri).
    assert in_hours(NIGHTS, at("2026-03-07T05:00"))  # Saturday morning, Friday's shift
    assert not in_hours(NIGHTS, at("2026-03-07T23:00"))  # Saturday night
    assert not in_hours(NIGHTS, at("2026-03-06T12:00"))  # Friday noon
    assert after_support_seconds(NIGHTS, at("2026-03-07T05:30"), 3600) == at("2026-03-09T22:30")


def test_no_hours_set_counts_every_minute() -> None:
    assert after_support_seconds(None, 1000.0, 60.0) == 1060.0
    assert support_seconds(None, 1000.0, 1060.0) == 60.0


# --- reminder due times ----------------------------------------------------------------


def test_the_first_reminder_is_due_at_the_sla_and_the_second_at_twice_it() -> None:
    since = at("2026-03-02T16:50")  # Monday, 10 minutes before closing
    assert due_at(OFFICE, since, 30, 1) == at("2026-03-03T09:20")
    assert due_at(OFFICE, since, 30, 2) == at("2026-03-03T09:50")


def test_reminders_are_due_once_each_per_waiting_period() -> None:
    since = at("2026-03-02T10:00")
    assert due_levels(at("2026-03-02T10:29"), OFFICE, since, 30) == []
    assert due_levels(at("2026-03-02T10:30"), OFFICE, since, 30) == [1]
    assert due_levels(at("2026-03-02T10:45"), OFFICE, since, 30, sent=frozenset({1})) == []
    assert due_levels(at("2026-03-02T11:00"), OFFICE, since, 30, sent=frozenset({1})) == [2]
    assert due_levels(at("2026-03-02T12:00"), OFFICE, since, 30, sent=frozenset({1, 2})) == []


def test_after_a_long_outage_only_the_second_reminder_is_sent() -> None:
    since = at("2026-03-02T10:00")
    assert due_levels(at("2026-03-02T15:00"), OFFICE, since, 30) == [2]


def test_a_one_minute_sla_works_for_trying_it_out() -> None:
    assert due_levels(160.0, None, 100.0, 1) == [1]


def test_the_first_reminder_goes_to_the_owner_else_the_role_the_second_to_the_role() -> None:
    assert target(1, owner_id=7, notify_role_id=9) == Target(user_id=7)
    assert target(1, owner_id=None, notify_role_id=9) == Target(role_id=9)
    assert target(2, owner_id=7, notify_role_id=9) == Target(role_id=9)
    assert target(2, owner_id=7, notify_role_id=None).nobody


# --- lists -----------------------------------------------------------------------------


def _item(
    ticket_id: int,
    *,
    owner: int | None = None,
    since: float | None = None,
    waiting: WaitingFor | None = WaitingFor.STAFF,
    is_open: bool = True,
) -> QueueItem:
    return QueueItem(ticket_id, ticket_id * 10, "t", is_open, owner, waiting, since)


def test_lists_show_oldest_wait_first_and_only_what_was_asked() -> None:
    items = [
        _item(1, since=300.0),
        _item(2, since=100.0, owner=5),
        _item(3, since=200.0, waiting=WaitingFor.CUSTOMER),
        _item(4, since=50.0, is_open=False),
        _item(5, since=None, waiting=None),
    ]
    assert [i.ticket_id for i in queue(items, Show.WAITING, me=5)] == [2, 1]
    assert [i.ticket_id for i in queue(items, Show.UNCLAIMED, me=5)] == [3, 1, 5]
    assert [i.ticket_id for i in queue(items, Show.MINE, me=5)] == [2]
    assert [i.ticket_id for i in queue(items, Show.OPEN, me=5)] == [2, 3, 1, 5]


def test_a_long_list_fits_one_discord_message_and_says_how_many_more() -> None:
    items = [_item(i, since=float(i)) for i in range(1, 200)]

    text = list_text(queue(items, Show.WAITING, me=0), Show.WAITING)

    assert len(text) <= 2000
    assert text.startswith("**Waiting tickets** (199, oldest wait first)")
    shown = text.count("awaiting staff since")
    assert text.endswith(f"…and {199 - shown} more.")
    assert list_text([], Show.MINE) == "You own no open tickets."


# --- find --------------------------------------------------------------------------------


def _ticket(ticket_id: int, email: str, order: str | None, status: str = "OPEN") -> Ticket:
    return Ticket.model_validate(
        {
            "id": ticket_id,
            "title": "t",
            "status": status,
            "customer": {"email": email},
            "reference": {"id": order, "type": "order"} if order else None,
            "created_at": "2026-03-02T10:00:00Z",
            "updated_at": "2026-03-02T10:00:00Z",
        }
    )


def test_find_matches_a_ticket_id_a_customer_email_or_an_order_id_closed_ones_too() -> None:
    tickets = [
        _ticket(1, "ann@example.com", "900"),
        _ticket(2, "bob@example.com", None, status="CLOSED"),
        _ticket(3, "Ann@Example.com", "901", status="CLOSED"),
    ]
    assert [t.id for t in find(tickets, "#2")] == [2]
    assert [t.id for t in find(tickets, "ann@example.com")] == [3, 1]
    assert [t.id for t in find(tickets, "901")] == [3]
    assert find(tickets, "ann") == []  # part of an email is not enough
    assert find(tickets, "  ") == []
