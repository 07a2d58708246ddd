"""``/sellapp stats`` as words (the answer) and as CSV (``export:true``). Pure."""

from __future__ import annotations

import csv
import io

from bot.stats.compute import Stats, Summary

__all__ = ["duration", "to_csv", "words"]


def duration(seconds: float | None) -> str:
    """``seconds`` in the largest fitting unit: 45 s, 12 min, 3.5 h, 2.1 d; None: —."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86_400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"


def _summary(s: Summary) -> str:
    if s.count == 0:
        return "no data yet"
    return f"median {duration(s.median)}, 90% within {duration(s.p90)} ({s.count} ticket(s))"


def words(stats: Stats) -> str:
    hours = " (inside support hours)" if stats.in_support_hours else ""
    lines = [f"**Last {stats.days} days** (UTC days, <t:{int(stats.since)}:d> to now)"]
    if stats.records_start is None:
        lines.append("The bridge has no records for this server yet.")
    elif stats.records_start > stats.since:
        lines.append(
            f"-# The bridge's records start <t:{int(stats.records_start)}:f>; "
            "earlier days count only what it learned later."
        )
    else:
        lines.append(f"-# From the bridge's records (they start <t:{int(stats.records_start)}:d>).")
    lines += [
        f"Tickets: **{stats.opened}** opened, **{stats.closed}** closed",
        f"First response{hours}: {_summary(stats.first_response)}; "
        f"{stats.unanswered} not answered yet",
        f"Resolution{hours}: {_summary(stats.resolution)}",
    ]
    if stats.replies_per_staff:
        staff = ", ".join(f"<@{who}> {n}" for who, n in stats.replies_per_staff[:10])
        lines.append(f"Replies per staff member: {staff}")
    else:
        lines.append("Replies per staff member: none in this period")
    if stats.tickets_per_product is None:
        lines.append("Tickets per product: not recorded (needs the orders feature)")
    else:
        products = ", ".join(f"{p} {n}" for p, n in stats.tickets_per_product[:10]) or "none"
        lines.append(f"Tickets per product: {products}")
    if stats.order_actions is None:
        lines.append("Order actions: not recorded (needs the orders feature)")
    else:
        actions = ", ".join(f"{a} {n}" for a, n in stats.order_actions) or "none"
        lines.append(f"Order actions: {actions}")
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def to_csv(stats: Stats) -> str:
    """The same numbers, one per row: ``section, key, value`` (times in seconds)."""
    out = io.StringIO()
    rows = csv.writer(out, lineterminator="\n")
    rows.writerow(["section", "key", "value"])
    rows.writerow(["period", "days", stats.days])
    rows.writerow(["period", "since_unix", f"{stats.since:.0f}"])
    rows.writerow(["period", "until_unix", f"{stats.until:.0f}"])
    rows.writerow(["period", "records_start_unix", _number(stats.records_start)])
    rows.writerow(["period", "in_support_hours", str(stats.in_support_hours).lower()])
    rows.writerow(["tickets", "opened", stats.opened])
    rows.writerow(["tickets", "closed", stats.closed])
    rows.writerow(["tickets", "unanswered", stats.unanswered])
    for name, s in (("first_response", stats.first_response), ("resolution", stats.resolution)):
        rows.writerow([name, "count", s.count])
        rows.writerow([name, "median_seconds", _number(s.median)])
        rows.writerow([name, "p90_seconds", _number(s.p90)])
    for who, n in stats.replies_per_staff:
        rows.writerow(["replies_per_staff", who, n])
    for product, n in stats.tickets_per_product or ():
        rows.writerow(["tickets_per_product", product, n])
    for action, n in stats.order_actions or ():
        rows.writerow(["order_actions", action, n])
    for day in stats.per_day:
        rows.writerow(["opened_per_day", day.day, day.opened])
        rows.writerow(["closed_per_day", day.day, day.closed])
        rows.writerow(
            ["first_response_median_per_day", day.day, _number(day.first_response_median)]
        )
    return out.getvalue()
