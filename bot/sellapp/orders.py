"""Pydantic models of SellApp's order payloads (v2): orders, deliverables, customers, actions.

Tolerant like the ticket models: unknown fields are ignored, ids may be strings or
integers, statuses are read case-insensitively and an unknown status is kept as text
(SellApp may add one). Money stays in integer minor units (``*_cents``), as SellApp sends it.

A :class:`Deliverable` deliberately keeps **no** content: the licence key, secret or file
link SellApp sends in ``deliverable`` is the customer's property and must never reach
Discord, so the model drops it at parse time and nothing downstream can show it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "ActionAnswer",
    "CustomerInsights",
    "CustomerProfile",
    "Deliverable",
    "LineItem",
    "Order",
    "OrderCustomer",
    "OrderPayment",
    "OrderTotals",
    "Refund",
]

KNOWN_STATUSES = frozenset(
    {
        "PENDING",
        "REVERSED",
        "PARTIAL",
        "VOIDED",
        "REFUNDED",
        "PAID",
        "COMPLETED",
        "DISPUTING",
        "REVIEW",
        "FAILED",
    }
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


def _id_text(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("an id must be a string or an integer, not a boolean")
    if isinstance(value, int):
        return str(value)
    return value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _empty_to_none(value: Any) -> Any:
    if value is None or (isinstance(value, list | dict) and not value):
        return None
    return value


def _cents(value: Any) -> Any:
    """Minor units as an int; SellApp's SDKs show them as ints, accept "1234" too."""
    if isinstance(value, bool):
        raise ValueError("an amount must be a number")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return value


class OrderCustomer(_Model):
    id: str | None = None
    email: str | None = None
    country: str | None = None

    _ids = field_validator("id", mode="before")(_id_text)


class OrderPayment(_Model):
    method: str | None = None
    paid_at: datetime | None = None


class OrderTotals(_Model):
    currency: str = "USD"
    subtotal_cents: int | None = None
    total_cents: int = 0
    total_usd_cents: int | None = None
    refunded_cents: int = 0

    _money = field_validator(
        "subtotal_cents", "total_cents", "total_usd_cents", "refunded_cents", mode="before"
    )(_cents)

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> Any:
        return "USD" if value in (None, "") else _upper(value)

    @field_validator("refunded_cents", mode="before")
    @classmethod
    def _none_is_zero(cls, value: Any) -> Any:
        return 0 if value is None else value

    @property
    def remaining_cents(self) -> int:
        """What can still be refunded."""
        return max(0, self.total_cents - self.refunded_cents)


class LineItem(_Model):
    id: str | None = None
    product_id: str | None = None
    product_variant_id: str | None = None
    product_title: str = "(untitled product)"
    variant_title: str | None = None
    quantity: int = 1
    status: str | None = None
    currency: str | None = None
    total_cents: int = 0

    _ids = field_validator("id", "product_id", "product_variant_id", mode="before")(_id_text)
    _money = field_validator("total_cents", mode="before")(_cents)
    _status = field_validator("status", mode="before")(_upper)


class Order(_Model):
    """``GET /v2/orders/{id}``."""

    id: str
    status: str
    customer: OrderCustomer | None = None
    payment: OrderPayment | None = None
    totals: OrderTotals = Field(default_factory=OrderTotals)
    line_items: tuple[LineItem, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None

    _ids = field_validator("id", mode="before")(_id_text)
    _status = field_validator("status", mode="before")(_upper)
    _empty = field_validator("customer", "payment", mode="before")(_empty_to_none)

    @field_validator("line_items", mode="before")
    @classmethod
    def _null_items(cls, value: Any) -> Any:
        return () if value is None else value

    @property
    def known_status(self) -> bool:
        return self.status in KNOWN_STATUSES


class Deliverable(_Model):
    """One fulfilment record. Its content (``deliverable``) is dropped on purpose."""

    line_item_id: str | None = None
    type: str | None = None
    status: str = "pending"
    quantity: int | None = None

    _ids = field_validator("line_item_id", mode="before")(_id_text)

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: Any) -> Any:
        return "pending" if value is None else str(value).strip().lower()

    @property
    def delivered(self) -> bool:
        return self.status == "delivered"


class CustomerInsights(_Model):
    orders_count: int | None = None
    revenue_usd_cents: int | None = None
    first_purchase_at: datetime | None = None
    last_purchase_at: datetime | None = None

    _money = field_validator("revenue_usd_cents", mode="before")(_cents)


class CustomerProfile(_Model):
    """``GET /v2/customers/{id}``."""

    email: str | None = None
    name: str | None = None
    insights: CustomerInsights | None = None

    _empty = field_validator("insights", mode="before")(_empty_to_none)


class Refund(_Model):
    status: str = "pending"
    amount: str | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: Any) -> Any:
        return "pending" if value is None else str(value).strip().lower()

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Any:
        return None if value is None else str(value)


class ActionAnswer(_Model):
    """What SellApp answered an order action: the shape differs per action, so all optional."""

    notifications_sent: int | None = None
    refund: Refund | None = None
    replacement_order_id: str | None = None

    @classmethod
    def from_body(cls, body: Any) -> ActionAnswer:
        """Read ``meta.notifications_sent``, ``refund`` and a replacement order's id."""
        if not isinstance(body, dict):
            return cls()
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
        assert isinstance(data, dict) and isinstance(meta, dict)
        refund = data.get("refund", body.get("refund"))
        replacement = data.get("id") if "replacement" in str(data.get("type", "")) else None
        replacement = replacement or data.get("replacement_order_id")
        return cls.model_validate(
            {
                "notifications_sent": meta.get("notifications_sent"),
                "refund": refund if isinstance(refund, dict) else None,
                "replacement_order_id": None if replacement is None else str(replacement),
            }
        )
