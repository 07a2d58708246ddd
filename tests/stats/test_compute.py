"""Each statistic of /sellapp stats on a fixed history with a fixed clock (pure), the
CSV, and the PNG chart decoded back."""

from __future__ import annotations

import csv
import io
import struct
import zlib
from datetime import UTC, datetime

import pytest

from bot.stats.chart import CLOSED, HEIGHT, OPENED, RESPONSE, WIDTH, chart_png
from bot.stats.compute import OrderAction, compute, summary
from bot.stats.report import duration, to_csv, words
from bot.store.records import ReplyTimes, StatsHistory, TicketEvent, TicketTimes
from bot.triage.hours import parse_hours

H = 3600.0
NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC).timestamp()  # the fake clock
ALEX, BEA = 501, 502


def at(day: int, hour: float) -> float:
    """``hour`` o'clock on March ``day`` 2026 (UTC)."""
    return datetime(2026, 3, day, tzinfo=UTC).timestamp() + hour * H


HISTORY = StatsHistory(
    records_start=at(1, 0),
    tickets=(
        TicketTimes(1, at(9, 9), at(9, 9)),  # answered after 1 h, closed after 5 h
        TicketTimes(2, at(9, 10), at(9, 10)),  # answered after 3 h
        TicketTimes(3, at(10, 8), at(10, 8)),  # answered after 0.5 h, closed, reopened
        TicketTimes(4, at(10, 9), at(10, 9)),  # not answered
        TicketTimes(5, at(1, 9), at(1, 9)),  # opened long before the 7-day window
        TicketTimes(6, None, at(9, 0)),  # recorded before opened_at existed
    ),
    events=(
        TicketEvent(1, "closed", at(9, 14)),
        TicketEvent(3, "closed", at(10, 10)),
        TicketEvent(3, "reopened", at(10, 11)),
        TicketEvent(5, "closed", at(2, 9)),  # outside the window
    ),
    replies=(
        ReplyTimes(5, ALEX, at(1, 10), "delivered"),
        ReplyTimes(1, ALEX, at(9, 10), "delivered"),
        ReplyTimes(2, BEA, at(9, 12), "refused"),  # refused: not a response
        ReplyTimes(2, BEA, at(9, 13), "delivered"),
        ReplyTimes(3, ALEX, at(10, 8.5), "delivered"),
        ReplyTimes(3, ALEX, at(10, 9), "delivered"),
        ReplyTimes(4, BEA, at(10, 9.5), "queued"),  # not at SellApp yet
    ),
)


def test_opened_and_closed_count_the_window_only() -> None:
    stats = compute(HISTORY, now=NOW, days=7)
    assert stats.since == at(4, 0)  # 7 UTC days, today included
    assert (stats.opened, stats.closed) == (4, 2)


def test_first_response_median_and_p90_from_the_first_delivered_reply() -> None:
    stats = compute(HISTORY, now=NOW, days=7)
    assert stats.first_response.count == 3  # tickets 1, 2, 3; 4 is not answered
    assert stats.first_response.median == 1 * H
    assert stats.first_response.p90 == 3 * H
    assert stats.unanswered == 1


def test_resolution_time_of_each_close_in_the_window() -> None:
    stats = compute(HISTORY, now=NOW, days=7)
    assert stats.resolution.count == 2
    assert stats.resolution.median == 3.5 * H
    assert stats.resolution.p90 == 5 * H


def test_replies_per_staff_member_count_delivered_replies_most_first() -> None:
    stats = compute(HISTORY, now=NOW, days=7)
    assert stats.replies_per_staff == ((ALEX, 3), (BEA, 1))
    longer = compute(HISTORY, now=NOW, days=30)
    assert longer.replies_per_staff == ((ALEX, 4), (BEA, 1))
    assert (longer.opened, longer.closed) == (5, 3)


def test_per_day_rows_cover_every_day_of_the_window() -> None:
    stats = compute(HISTORY, now=NOW, days=7)
    assert [d.day for d in stats.per_day] == [f"2026-03-{n:02d}" for n in range(4, 11)]
    ninth, tenth = stats.per_day[-2], stats.per_day[-1]
    assert (ninth.opened, ninth.closed, ninth.first_response_median) == (2, 1, 2 * H)
    assert (tenth.opened, tenth.closed, tenth.first_response_median) == (2, 1, 0.5 * H)
    assert all(d.opened == 0 and d.first_response_median is None for d in stats.per_day[:-2])


class NineToFive:
    """Support hours 09:00-17:00 UTC every day (what the triage feature will pass)."""

    def working_seconds(self, start: float, end: float) -> float:
        total, t = 0.0, start
        while t < end:
            day = t - t % 86_400
            lo, hi = day + 9 * H, day + 17 * H
            total += max(0.0, min(end, hi) - max(t, lo))
            t = day + 86_400
        return total


def test_first_response_counts_only_support_hours_when_they_are_set() -> None:
    stats = compute(HISTORY, now=NOW, days=7, hours=NineToFive())
    # Ticket 3 opened 08:00, answered 08:30: before hours open, so 0 s.
    assert summary([1 * H, 3 * H, 0.0]) == stats.first_response
    assert stats.in_support_hours
    assert "inside support hours" in words(stats)


def test_the_support_hours_set_with_sellapp_hours_count_like_the_stand_in() -> None:
    """What /sellapp stats now passes: the guild's triage hours (/sellapp hours)."""
    hours = parse_hours("mon-sun", "09:00", "17:00", "UTC")
    assert compute(HISTORY, now=NOW, days=7, hours=hours) == compute(
        HISTORY, now=NOW, days=7, hours=NineToFive()
    )


def test_products_and_order_actions_only_when_given() -> None:
    plain = compute(HISTORY, now=NOW, days=7)
    assert plain.tickets_per_product is None and plain.order_actions is None
    assert "Order actions: not recorded" in words(plain)
    given = compute(
        HISTORY,
        now=NOW,
        days=7,
        products={1: "Gift card", 2: "Gift card", 3: "Key", 5: "Key"},
        order_actions=[OrderAction("refund", at(9, 12)), OrderAction("resend", at(1, 1))],
    )
    assert given.tickets_per_product == (("Gift card", 2), ("Key", 1))
    assert given.order_actions == (("refund", 1),)


def test_an_unknown_period_is_refused() -> None:
    with pytest.raises(ValueError, match="days must be one of"):
        compute(HISTORY, now=NOW, days=14)


def test_words_say_when_the_records_start() -> None:
    young = StatsHistory(records_start=at(8, 12), tickets=(), events=(), replies=())
    text = words(compute(young, now=NOW, days=30))
    assert f"records start <t:{int(at(8, 12))}:f>" in text
    empty = StatsHistory(records_start=None, tickets=(), events=(), replies=())
    assert "no records for this server yet" in words(compute(empty, now=NOW, days=7))
    assert duration(45) == "45 s" and duration(2 * H) == "2.0 h" and duration(None) == "—"


def test_csv_holds_the_same_numbers() -> None:
    stats = compute(HISTORY, now=NOW, days=7)
    rows = list(csv.reader(io.StringIO(to_csv(stats))))
    assert rows[0] == ["section", "key", "value"]
    table = {(section, key): value for section, key, value in rows[1:]}
    assert table["tickets", "opened"] == "4"
    assert table["first_response", "median_seconds"] == "3600"
    assert table["replies_per_staff", str(ALEX)] == "3"
    assert table["opened_per_day", "2026-03-09"] == "2"
    assert table["period", "records_start_unix"] == f"{at(1, 0):.0f}"


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    idat = b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = body
        if kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour_type) == (8, 2)
    raw = zlib.decompress(idat)
    stride = width * 3 + 1
    rows = [raw[y * stride + 1 : (y + 1) * stride] for y in range(height)]
    assert all(raw[y * stride] == 0 for y in range(height))
    return width, height, rows


def test_chart_is_a_valid_png_with_opened_closed_and_response_bars() -> None:
    stats = compute(HISTORY, now=NOW, days=7)
    width, height, rows = decode_png(chart_png(stats))
    assert (width, height) == (WIDTH, HEIGHT)
    colours = {bytes(row[x : x + 3]) for row in rows for x in range(0, width * 3, 3)}
    for colour in (OPENED, CLOSED, RESPONSE):
        assert bytes(colour) in colours
    # Only the last two days have tickets: the left half of the top panel has no bars.
    left_top = {bytes(rows[y][3 * x : 3 * x + 3]) for y in range(20, 160) for x in range(16, 500)}
    assert bytes(OPENED) not in left_top
