"""What a snippet can name about a ticket, from SellApp's ticket and the bridge. Pure.

Hook (issue 17): ``{product}`` comes from the order's line items, which the orders
feature (built in parallel) reads; until it is wired, callers pass ``product=None`` and a
snippet using ``{product}`` shows it as having no value in the preview (not sent)."""

from __future__ import annotations

from bot.replies.template import Facts
from bot.sellapp.models import Ticket

__all__ = ["ticket_facts"]


def ticket_facts(
    ticket: Ticket, *, staff_name: str, store: str | None, product: str | None = None
) -> Facts:
    order_id: str | None = None
    reference = ticket.reference
    if reference is not None and (reference.type or "order").lower() == "order":
        order_id = reference.id
    elif ticket.order_id is not None:
        order_id = str(ticket.order_id)
    return Facts(
        customer_email=ticket.customer.email if ticket.customer else None,
        ticket_id=ticket.id,
        ticket_title=ticket.title,
        order_id=order_id,
        product=product,
        staff_name=staff_name,
        store=store,
    )
