"""The order card and the audit lines, as Discord JSON. Pure: no I/O, no discord.

The card shows what staff need to solve an order problem and never a deliverable's
content: :class:`bot.sellapp.orders.Deliverable` doesn't even keep it, and nothing here
reads anything but its status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.inbound.render import escape_markdown, one_line
from bot.orders.desk import OrderView
from bot.orders.engine import format_money, is_disputed
from bot.store.orders import OrderAction

DASHBOARD_URL = "https://sell.app/dashboard/store/orders/{id}"
"""Where the order opens in SellApp's dashboard. Inferred: SellApp doesn't document it."""

FIELD_LIMIT = 1024
MAX_LINES = 10
COLOR_OK = 0x22C55E
COLOR_PENDING = 0xF59E0B
COLOR_BAD = 0xEF4444
COLOR_UNKNOWN = 0x6B7280


def _when(moment: datetime | None) -> str:
    return "unknown" if moment is None else f"<t:{int(moment.timestamp())}:f>"


def _color(status: str) -> int:
    if is_disputed(status) or status in ("REFUNDED", "REVERSED", "VOIDED", "FAILED"):
        return COLOR_BAD
    if status in ("COMPLETED",):
        return COLOR_OK
    if status in ("PAID", "PARTIAL", "PENDING", "REVIEW"):
        return COLOR_PENDING
    return COLOR_UNKNOWN


def _cut(text: str, limit: int = FIELD_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def order_card(view: OrderView, *, dashboard_url: str = DASHBOARD_URL) -> dict[str, Any]:
    """The card of ``view``: the order, or a one-line reason it can't be read yet."""
    url = dashboard_url.format(id=view.order_id)
    order = view.order
    if order is None:
        return {
            "title": f"Order #{view.order_id}",
            "url": url,
            "color": COLOR_UNKNOWN,
            "description": "⚠️ "
            + one_line(view.reason or "SellApp hasn't answered yet.")[:300]
            + "\nThe ticket works as usual; this card fills in once SellApp answers.",
            "footer": {"text": f"SellApp order {view.order_id}"},
        }
    totals = order.totals
    delivered = {d.line_item_id: d.delivered for d in view.deliverables if d.line_item_id}
    lines = []
    for n, item in enumerate(order.line_items[:MAX_LINES], start=1):
        state = delivered.get(item.id) if item.id else None
        if state is None and len(view.deliverables) == len(order.line_items):
            state = view.deliverables[n - 1].delivered
        word = "unknown" if state is None else ("delivered" if state else "pending")
        variant = f" ({escape_markdown(item.variant_title)})" if item.variant_title else ""
        price = format_money(item.total_cents, item.currency or totals.currency)
        lines.append(
            f"{n}. {escape_markdown(item.product_title)}{variant} × {item.quantity}"
            f" · {price} · {word}"
        )
    if len(order.line_items) > MAX_LINES:
        lines.append(f"… and {len(order.line_items) - MAX_LINES} more line(s)")
    status = order.status
    title = f"Order #{order.id} · {status}"
    if is_disputed(status):
        title += " ⚠️ DISPUTED"
    customer = order.customer
    fields = [
        {"name": "Items", "value": _cut("\n".join(lines) or "none"), "inline": False},
        {
            "name": "Total",
            "value": format_money(totals.total_cents, totals.currency),
            "inline": True,
        },
        {
            "name": "Payment",
            "value": escape_markdown(
                (order.payment.method if order.payment else None) or "unknown"
            ),
            "inline": True,
        },
        {
            "name": "Paid",
            "value": _when(order.payment.paid_at if order.payment else order.created_at),
            "inline": True,
        },
        {
            "name": "Country",
            "value": escape_markdown((customer.country if customer else None) or "unknown"),
            "inline": True,
        },
    ]
    if totals.refunded_cents:
        fields.append(
            {
                "name": "Refunded",
                "value": format_money(totals.refunded_cents, totals.currency)
                + f" (remaining {format_money(totals.remaining_cents, totals.currency)})",
                "inline": True,
            }
        )
    insights = view.profile.insights if view.profile else None
    if insights is not None:
        history = [
            f"{insights.orders_count} order(s)" if insights.orders_count is not None else None,
            (
                format_money(insights.revenue_usd_cents, "USD") + " lifetime"
                if insights.revenue_usd_cents is not None
                else None
            ),
            (
                f"first purchase {_when(insights.first_purchase_at)}"
                if insights.first_purchase_at
                else None
            ),
        ]
        fields.append(
            {
                "name": "Customer history",
                "value": " · ".join(h for h in history if h) or "none",
                "inline": False,
            }
        )
    return {
        "title": title[:256],
        "url": url,
        "color": _color(status),
        "fields": fields,
        "footer": {"text": f"SellApp order {order.id} · deliverables' contents are never shown"},
    }


def product_card(product_id: str) -> dict[str, Any]:
    """A ticket about a product, not an order."""
    return {
        "title": f"Product {product_id}",
        "color": COLOR_UNKNOWN,
        "description": "This ticket is about a product, not an order.",
    }


def audit_line(action: OrderAction) -> str:
    """The public line an action leaves in its thread: who, what, SellApp's answer."""
    if action.state == "done":
        return (
            f"🧾 <@{action.actor_id}> asked for {action.summary} on order #{action.order_id}: "
            f"{action.outcome}."
        )
    return (
        f"🧾 <@{action.actor_id}> asked for {action.summary} on order #{action.order_id}; "
        f"not done. {action.outcome}"
    )


def disputed_line(order_id: str) -> str:
    return f"⚠️ Order #{order_id} is DISPUTED at SellApp (a chargeback): check before acting."


def actions_summary(actions: list[OrderAction]) -> str:
    """For ``/ticket info``: every action on this ticket's order, one line each."""
    if not actions:
        return "none"
    rows = []
    for a in actions[-10:]:
        state = {"sending": "in progress", "done": a.outcome, "refused": a.outcome}.get(a.state)
        rows.append(f"<t:{int(a.created_at)}:d> <@{a.actor_id}>: {a.summary} — {state}")
    return _cut("\n".join(rows))
