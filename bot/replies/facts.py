"""What a snippet can name about a ticket, from SellApp's ticket and the bridge. Pure.

``{product}`` comes from the ticket's order's line items (:func:`products_of`); with no
order, or one SellApp can't show now, it has no value and the preview says so (the
snippet is then not sent)."""

from __future__ import annotations

from bot.replies.template import Facts
from bot.sellapp.models import Ticket
from bot.sellapp.orders import Order

__all__ = ["products_of", "ticket_facts"]


def products_of(order: Order | None) -> str | None:
    """The order's products, each once in line order ("Game key (Steam), DLC")."""
    if order is None:
        return None
    names: list[str] = []
    for item in order.line_items:
        name = item.product_title + (f" ({item.variant_title})" if item.variant_title else "")
        if name not in names:
            names.append(name)
    return ", ".join(names) or None


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
