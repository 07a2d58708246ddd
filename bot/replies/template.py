"""Snippet and signature templates: ``{variable}`` filled from plain facts. Pure.

The text SellApp gets is plain (:func:`fill`); what Discord shows is the same text with
every markdown and mention character escaped (:func:`for_discord`), so a customer's email,
a ticket title or a product name can never ping anyone or turn into formatting, and
staff see exactly the characters the customer will get. :func:`from_discord` undoes it.

A variable this module does not know (``{custmer.email}``), or one with no value for this
ticket (``{order.id}`` on a ticket without an order), is left in the text as written and
named in :attr:`Filled.unknown` / :attr:`Filled.missing`, so a preview can show it and a
send can refuse it: nothing goes out with a hole in it silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

__all__ = ["VARIABLES", "Facts", "Filled", "fill", "for_discord", "from_discord"]

VARIABLES: Final = (
    "customer.email",
    "ticket.id",
    "ticket.title",
    "order.id",
    "product",
    "staff.name",
    "store",
)

_PLACEHOLDER: Final = re.compile(r"\{([A-Za-z0-9_.]+)\}")
# Every character Discord gives meaning to in a message: markdown, quotes, headings and
# lists, links, mentions (<@id>, @everyone), emoji (:name:) and the escape itself.
_SPECIAL: Final = frozenset("\\*_~`|>#-[]()<@:")


@dataclass(frozen=True, slots=True)
class Facts:
    """What a template can name. None: not known for this ticket (e.g. no order)."""

    customer_email: str | None = None
    ticket_id: int | None = None
    ticket_title: str | None = None
    order_id: str | None = None
    product: str | None = None
    staff_name: str | None = None
    store: str | None = None

    def value(self, name: str) -> str | None:
        values: dict[str, object] = {
            "customer.email": self.customer_email,
            "ticket.id": self.ticket_id,
            "ticket.title": self.ticket_title,
            "order.id": self.order_id,
            "product": self.product,
            "staff.name": self.staff_name,
            "store": self.store,
        }
        found = values.get(name)
        return None if found is None or found == "" else str(found)


@dataclass(frozen=True, slots=True)
class Filled:
    text: str
    """The plain text (what SellApp gets); unknown and missing variables left as written."""
    unknown: tuple[str, ...] = field(default=())
    """Variables no template may use (a typo), in order of first use."""
    missing: tuple[str, ...] = field(default=())
    """Known variables with no value for this ticket."""

    @property
    def complete(self) -> bool:
        return not self.unknown and not self.missing


def fill(template: str, facts: Facts) -> Filled:
    """``template`` with each known variable replaced by its value (plain text)."""
    unknown: list[str] = []
    missing: list[str] = []

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in VARIABLES:
            if name not in unknown:
                unknown.append(name)
            return match.group(0)
        value = facts.value(name)
        if value is None:
            if name not in missing:
                missing.append(name)
            return match.group(0)
        return value

    text = _PLACEHOLDER.sub(one, template)
    return Filled(text=text, unknown=tuple(unknown), missing=tuple(missing))


def for_discord(text: str) -> str:
    """``text`` as Discord should show it: literally, with no formatting and no mention."""
    return "".join(f"\\{c}" if c in _SPECIAL else c for c in text)


def from_discord(shown: str) -> str:
    """The inverse of :func:`for_discord`."""
    out: list[str] = []
    escaped = False
    for c in shown:
        if escaped:
            out.append(c)
            escaped = False
        elif c == "\\":
            escaped = True
        else:
            out.append(c)
    return "".join(out)
