"""Orders, decided: which order a ticket is about, what an action would send, in what words.

Pure: no I/O, no discord. Every refusal is an :class:`OrderActionRefused` whose message
is plain words a staff member can act on, e.g. "SellApp can only retry delivery of a
PAID or PARTIAL order; this one is REFUNDED". Money is integer minor units; SellApp's
refund amount is a decimal string in the order's currency (``"5.00"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, Literal

from bot.errors import BridgeError
from bot.sellapp.models import Ticket
from bot.sellapp.orders import ActionAnswer, Order
from bot.store.orders import ActionKind

__all__ = [
    "ActionPlan",
    "OrderActionRefused",
    "TicketSubject",
    "confirmation_text",
    "format_money",
    "outcome_words",
    "parse_amount",
    "plan_refund",
    "plan_replace",
    "plan_resend",
    "subject_of",
]

REFUNDABLE = frozenset({"PAID", "COMPLETED", "PARTIAL"})
REPLACEABLE = frozenset({"COMPLETED", "PARTIAL"})
DISPUTED = frozenset({"DISPUTING", "DISPUTED"})
MAX_AMOUNT_LENGTH = 20


class OrderActionRefused(BridgeError):
    """The action can't be done on this order as it is; ``str()`` says why in plain words."""


@dataclass(frozen=True, slots=True)
class TicketSubject:
    """What a ticket is about: an order or a product (no subject: :func:`subject_of` is None)."""

    kind: Literal["order", "product"]
    id: str


@dataclass(frozen=True, slots=True)
class ActionPlan:
    """What to send: the route under ``/v2/orders/{id}/``, the exact body, and in words."""

    kind: ActionKind
    route: str
    body: dict[str, Any]
    summary: str


def subject_of(ticket: Ticket) -> TicketSubject | None:
    """``order_id`` or ``reference.type == "order"`` names an order; ``product`` a product."""
    if ticket.order_id not in (None, "", 0):
        return TicketSubject("order", str(ticket.order_id))
    ref = ticket.reference
    if ref is None or not ref.id:
        return None
    kind = (ref.type or "").strip().lower()
    if kind == "order":
        return TicketSubject("order", ref.id)
    if kind == "product":
        return TicketSubject("product", ref.id)
    return None


def main_product(order: Order | None) -> str | None:
    """What the order is for, in one name: its first line item's product (for stats)."""
    if order is None or not order.line_items:
        return None
    return order.line_items[0].product_title


def is_disputed(status: str | None) -> bool:
    return (status or "").upper() in DISPUTED


def format_money(cents: int, currency: str) -> str:
    """``1999, "EUR"`` -> ``"19.99 EUR"``."""
    return f"{Decimal(cents) / 100:.2f} {currency}"


def _customer(order: Order) -> str:
    email = order.customer.email if order.customer else None
    return email or "the customer"


# ---------------------------------------------------------------------- resend


def plan_resend(order: Order) -> ActionPlan:
    """COMPLETED: send the delivery email again; PAID/PARTIAL: retry the delivery."""
    if order.status == "COMPLETED":
        return ActionPlan("resend", "fulfillment-notifications", {}, "resent the delivery email")
    if order.status in ("PAID", "PARTIAL"):
        return ActionPlan("resend", "fulfillment-retries", {}, "retried the delivery")
    raise OrderActionRefused(
        "SellApp can only resend the delivery of a COMPLETED order or retry delivery of a "
        f"PAID or PARTIAL order; this one is {order.status}."
    )


# ---------------------------------------------------------------------- refund


def parse_amount(text: str | None, *, currency: str, remaining_cents: int) -> int | None:
    """Staff's amount -> minor units; blank -> ``None`` (the full remaining balance).

    Accepts ``5``, ``5.5``, ``5.00``, ``5,00`` and an optional currency code. Refuses
    anything else, more than two decimals, zero, and more than the remaining balance."""
    raw = (text or "").strip()
    if not raw:
        return None
    remaining = format_money(remaining_cents, currency)
    if len(raw) > MAX_AMOUNT_LENGTH:
        raise OrderActionRefused(f"That amount is too long. The remaining balance is {remaining}.")
    cleaned = re.sub(rf"\s*{re.escape(currency)}\s*$", "", raw, flags=re.IGNORECASE).strip()
    if "," in cleaned and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    if not re.fullmatch(r"\d+(\.\d{1,2})?", cleaned):
        raise OrderActionRefused(
            f"“{raw[:MAX_AMOUNT_LENGTH]}” isn't an amount in {currency} (like 5.00). "
            f"The remaining balance is {remaining}."
        )
    try:
        cents = int((Decimal(cleaned) * 100).quantize(Decimal(1), rounding=ROUND_DOWN))
    except InvalidOperation:  # pragma: no cover - the pattern above admits only numbers
        raise OrderActionRefused(f"That isn't an amount in {currency}.") from None
    if cents <= 0:
        raise OrderActionRefused("A refund must be more than zero.")
    if cents > remaining_cents:
        raise OrderActionRefused(
            f"{format_money(cents, currency)} is more than the remaining balance, {remaining}."
        )
    return cents


def plan_refund(order: Order, amount_text: str | None) -> ActionPlan:
    if order.status not in REFUNDABLE:
        raise OrderActionRefused(
            f"SellApp can only refund a PAID, COMPLETED or PARTIAL order; this one is "
            f"{order.status}."
        )
    totals = order.totals
    if totals.remaining_cents <= 0:
        raise OrderActionRefused("Nothing is left to refund on this order.")
    cents = parse_amount(
        amount_text, currency=totals.currency, remaining_cents=totals.remaining_cents
    )
    if cents is None:
        money = format_money(totals.remaining_cents, totals.currency)
        return ActionPlan("refund", "refunds", {}, f"a refund of the full balance, {money}")
    body = {"amount": f"{Decimal(cents) / 100:.2f}"}
    return ActionPlan(
        "refund", "refunds", body, f"a refund of {format_money(cents, totals.currency)}"
    )


# --------------------------------------------------------------------- replace


def parse_selection(text: str | None, order: Order) -> dict[int, int]:
    """``"1, 2x3"`` -> line 1 in full, 3 of line 2; blank -> every line in full."""
    lines = order.line_items
    raw = (text or "").strip()
    if not raw:
        return {n: item.quantity for n, item in enumerate(lines, start=1)}
    chosen: dict[int, int] = {}
    for part in re.split(r"[,\s]+", raw):
        if not part:
            continue
        match = re.fullmatch(r"(\d{1,3})(?:[x×:](\d{1,4}))?", part, flags=re.IGNORECASE)
        if match is None:
            raise OrderActionRefused(
                f"“{part[:20]}” isn't a line: write line numbers, e.g. `1, 2x3` "
                "(line 2, quantity 3)."
            )
        line = int(match[1])
        if not 1 <= line <= len(lines):
            raise OrderActionRefused(f"This order has lines 1 to {len(lines)}, not {line}.")
        bought = lines[line - 1].quantity
        quantity = int(match[2]) if match[2] else bought
        if not 1 <= quantity <= bought:
            raise OrderActionRefused(
                f"Line {line} can be replaced 1 to {bought} time(s), not {quantity}."
            )
        chosen[line] = quantity
    return chosen


def plan_replace(order: Order, selection: dict[int, int]) -> ActionPlan:
    if order.status not in REPLACEABLE:
        raise OrderActionRefused(
            f"SellApp can only replace the delivery of a COMPLETED or PARTIAL order; this one "
            f"is {order.status}."
        )
    if not selection:
        raise OrderActionRefused("Pick at least one line to replace.")
    variants: dict[str, int] = {}
    words = []
    for line, quantity in sorted(selection.items()):
        item = order.line_items[line - 1]
        variant = item.product_variant_id or item.product_id
        if variant is None:
            raise OrderActionRefused(f"SellApp sent line {line} without a product variant.")
        variants[variant] = variants.get(variant, 0) + quantity
        words.append(f"{quantity}× {item.product_title}")
    return ActionPlan(
        "replace",
        "replacements",
        {"product_variants": variants},
        "a replacement of " + ", ".join(words),
    )


# ----------------------------------------------------------------------- words


def confirmation_text(order: Order, plan: ActionPlan) -> str:
    """What staff confirm: the order, the customer, and the amount or the lines."""
    return f"Confirm {plan.summary} on order #{order.id} for {_customer(order)}?"


def outcome_words(kind: ActionKind, answer: ActionAnswer) -> str:
    """SellApp's answer in words. A pending refund is never called done."""
    if kind == "refund":
        status = answer.refund.status if answer.refund else "pending"
        return {
            "pending": "refund pending at SellApp (not yet effective)",
            "effective": "refund effective",
            "failed": "refund failed at SellApp",
            "cancelled": "refund cancelled at SellApp",
        }.get(status, f"refund {status}")
    if kind == "replace":
        if answer.replacement_order_id:
            return f"replacement order #{answer.replacement_order_id} created"
        return "replacement created"
    if answer.notifications_sent is not None:
        sent = answer.notifications_sent
        return f"{sent} notification(s) sent" if sent else "no notification could be sent"
    return "delivery retried"
