"""``/ticket find query:``: a ticket id, a customer's email or an order id (pure)."""

from __future__ import annotations

from collections.abc import Iterable

from bot.sellapp.models import Ticket

FIND_LIMIT = 15


def matches(ticket: Ticket, query: str) -> bool:
    text = query.strip().lstrip("#").casefold()
    if not text:
        return False
    if text == str(ticket.id):
        return True
    if ticket.reference is not None and text == ticket.reference.id.casefold():
        return True
    email = ticket.customer.email if ticket.customer is not None else None
    return email is not None and ("@" in text and text == email.casefold())


def find(tickets: Iterable[Ticket], query: str) -> list[Ticket]:
    """Matching tickets, closed ones included, newest first."""
    return sorted((t for t in tickets if matches(t, query)), key=lambda t: -t.id)[:FIND_LIMIT]
