"""``/ticket close`` and ``reopen``: when a status change may go to SellApp."""

from __future__ import annotations

from typing import Final

from bot.sellapp.models import TicketStatus

REPLY_STILL_SENDING: Final = (
    "A reply to this ticket is still being sent (⏳). Close it once "
    "the reply shows ✅, so the customer gets it first."
)


def status_change_refusal(status: TicketStatus, *, reply_on_its_way: bool) -> str | None:
    """Why the ticket can't be set to ``status`` now, or None if it can.

    A close must wait for the ticket's replies still queued, sending or waiting: sent
    after the close, SellApp would refuse them and the customer would never get them.
    Reopening never waits."""
    if status is TicketStatus.CLOSED and reply_on_its_way:
        return REPLY_STILL_SENDING
    return None
