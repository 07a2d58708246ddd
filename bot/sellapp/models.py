"""Pydantic models of SellApp's ticket payloads.

Tolerant of every shape variant listed in ``sellapp-api-notes.md``: ``customer.id`` as a
uuid string or an int, ``reference`` as ``[]``/``{}``/``null``/an object, ``archived`` as
0/1 or a boolean, statuses and authors in any case, and the v2 extras. Unknown fields are
ignored so a new field at SellApp never breaks the bridge. Every model is frozen.

A status the bridge doesn't know (SellApp's v2 already has more than OPEN and CLOSED) is
not an error: the ticket is treated as open (it is not CLOSED) and keeps the word SellApp
sent in :attr:`Ticket.unknown_status`, for ``/sellapp status`` to show. A list page is read
item by item (:mod:`bot.sellapp._http`): an item that doesn't fit is left out and named in
:attr:`Page.problems`, so one odd item never makes the whole page unreadable.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

__all__ = [
    "Author",
    "Customer",
    "ItemProblem",
    "Listing",
    "OrderReference",
    "Page",
    "Ticket",
    "TicketMessage",
    "TicketStatus",
    "WebhookChannel",
]

T = TypeVar("T")


class TicketStatus(enum.StrEnum):
    """A ticket's status. Parsed case-insensitively ("open" -> OPEN)."""

    OPEN = "OPEN"
    CLOSED = "CLOSED"

    @classmethod
    def _missing_(cls, value: object) -> TicketStatus | None:
        if isinstance(value, str):
            return cls.__members__.get(value.strip().upper())
        return None


class Author(enum.StrEnum):
    """Who wrote a ticket message. Parsed case-insensitively."""

    STORE = "STORE"
    CUSTOMER = "CUSTOMER"

    @classmethod
    def _missing_(cls, value: object) -> Author | None:
        if isinstance(value, str):
            return cls.__members__.get(value.strip().upper())
        return None


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


def _id_to_str(value: Any) -> Any:
    """Accept an id as a string or an integer (not a bool); keep it as a string."""
    if isinstance(value, bool):
        raise ValueError("an id must be a string or an integer, not a boolean")
    if isinstance(value, int):
        return str(value)
    return value


class Customer(_Model):
    """The ticket's customer. ``id`` is a uuid string on the ticket page, an int in one SDK."""

    id: str | None = None
    email: str | None = None

    _coerce_id = field_validator("id", mode="before")(_id_to_str)


class OrderReference(_Model):
    """The order a ticket is about, e.g. ``{"id": 12, "type": "order"}``."""

    id: str
    type: str | None = None

    _coerce_id = field_validator("id", mode="before")(_id_to_str)


def _empty_to_none(value: Any) -> Any:
    """SellApp sends ``[]`` (PHP's empty array) where it means "nothing"; ``{}`` too."""
    if value is None or (isinstance(value, list | dict) and not value):
        return None
    return value


UNKNOWN_STATUS_LIMIT = 40
"""How much of a status word we keep to show staff (SellApp's words are short)."""


class Ticket(_Model):
    """A support ticket, as returned by ``/v1/tickets`` and ``/v2/tickets``.

    ``status`` is OPEN for any status text other than CLOSED that the bridge doesn't know;
    the text itself is kept in ``unknown_status`` (None for OPEN and CLOSED)."""

    id: int
    title: str
    status: TicketStatus
    unknown_status: str | None = None
    customer: Customer | None = None
    reference: OrderReference | None = None
    created_at: datetime
    updated_at: datetime
    store_id: int | None = None
    read_by: int | None = None
    archived: bool = False
    # v2 extras
    read_status: str | None = None
    order_id: int | str | None = None
    reason: str | None = None
    message_count: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _unknown_status_is_open(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        raw = data.get("status")
        if not isinstance(raw, str) or not raw.strip():
            return data  # missing or not text: a malformed ticket, refused below
        try:
            TicketStatus(raw)
        except ValueError:
            word = " ".join(raw.split())[:UNKNOWN_STATUS_LIMIT]
            return {**data, "status": TicketStatus.OPEN.value, "unknown_status": word}
        return {**data, "unknown_status": None}

    _empty_customer = field_validator("customer", mode="before")(_empty_to_none)
    _empty_reference = field_validator("reference", mode="before")(_empty_to_none)

    @field_validator("archived", mode="before")
    @classmethod
    def _archived_flag(cls, value: Any) -> Any:
        if value is None:
            return False
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        raise ValueError("archived must be 0, 1, true or false")

    @field_validator("read_status", mode="before")
    @classmethod
    def _read_status_text(cls, value: Any) -> Any:
        # Undocumented beyond its name: it may be a word or a flag. Keep it as text.
        if isinstance(value, bool | int):
            return str(value).lower()
        return value


class TicketMessage(_Model):
    """One message in a ticket, from the customer or the store."""

    id: int
    author: Author
    sender: str | None = None
    content: str = ""
    created_at: datetime
    updated_at: datetime
    ticket_id: int

    @field_validator("content", mode="before")
    @classmethod
    def _null_content(cls, value: Any) -> Any:
        return "" if value is None else value


class WebhookChannel(_Model):
    """A store's webhook channel (``/v2/webhook-channels``): where SellApp pushes events."""

    id: str
    url: str = ""
    allowed_notifications: tuple[str, ...] = ()

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("allowed_notifications", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return () if value is None else value


@dataclass(frozen=True, slots=True)
class ItemProblem:
    """One item of a list page that the bridge could not read, and was left out.

    ``item_id`` is the item's id when it had a readable one; ``reason`` says where and why
    in plain words (a field name and pydantic's message, never the value), safe to show."""

    item_id: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a Laravel-style list: the items that could be read, the ones that
    couldn't (``problems``), and where the page sits among the pages."""

    items: Sequence[T]
    current_page: int
    last_page: int
    total: int | None
    per_page: int
    problems: Sequence[ItemProblem] = ()


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """Every page of a list, read: the items (each id once) and every item left out."""

    items: Sequence[T]
    problems: Sequence[ItemProblem] = ()
