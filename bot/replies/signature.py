"""Signatures: which variables a signature may use, and its facts. Pure.

A signature is filled in as each reply is queued, from what the bridge knows without
asking SellApp, so only these variables may be used in one; ``/sellapp signature``
refuses any other. A value the bridge lacks falls back to a plain word, so a signature
never goes out with a ``{variable}`` in it.
"""

from __future__ import annotations

from typing import Final

from bot.replies.template import Facts, fill, for_discord

__all__ = [
    "MAX_SIGNATURE",
    "SIGNATURE_VARIABLES",
    "check_signature",
    "signature_facts",
    "signature_words",
]

SIGNATURE_VARIABLES: Final = ("staff.name", "store", "ticket.id", "ticket.title")
MAX_SIGNATURE: Final = 200
FALLBACK_STAFF: Final = "Support"
FALLBACK_STORE: Final = "our store"


def signature_facts(
    *, staff_name: str | None, store: str | None, ticket_id: int, ticket_title: str
) -> Facts:
    return Facts(
        staff_name=staff_name or FALLBACK_STAFF,
        store=store or FALLBACK_STORE,
        ticket_id=ticket_id,
        ticket_title=ticket_title or f"Ticket {ticket_id}",
    )


def check_signature(template: str) -> str | None:
    """Why ``template`` can't be a signature, in words for staff; None if it can."""
    text = template.strip()
    if not text:
        return "A signature needs some text (or use `off` to turn signatures off)."
    if len(text) > MAX_SIGNATURE:
        return f"Keep a signature under {MAX_SIGNATURE} characters."
    probe = fill(text, Facts())
    wrong = [n for n in (*probe.unknown, *probe.missing) if n not in SIGNATURE_VARIABLES]
    if wrong:
        allowed = ", ".join(f"{{{n}}}" for n in SIGNATURE_VARIABLES)
        named = ", ".join(f"{{{n}}}" for n in wrong)
        return f"A signature can't use {named}. It may use: {allowed}."
    return None


def signature_words(template: str | None) -> str:
    """How ``/sellapp signature`` and ``/sellapp status`` describe the setting."""
    if template is None:
        return "Off: replies go out in the store's voice, unsigned."
    sample = fill(
        template,
        signature_facts(staff_name="Alex", store="your-store", ticket_id=42, ticket_title=""),
    ).text
    return (
        f"On: each relayed reply ends with `{template.replace('`', chr(39))}`, "
        f"e.g. {for_discord(sample)}"
    )
