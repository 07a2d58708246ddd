"""/ticket close waits for the ticket's replies still on their way; reopen never waits."""

from __future__ import annotations

from bot.outbound.closing import REPLY_STILL_SENDING, status_change_refusal
from bot.sellapp.models import TicketStatus


def test_close_is_refused_while_a_reply_is_on_its_way() -> None:
    refusal = status_change_refusal(TicketStatus.CLOSED, reply_on_its_way=True)
    assert refusal == REPLY_STILL_SENDING


def test_close_goes_ahead_once_no_reply_is_on_its_way() -> None:
    assert status_change_refusal(TicketStatus.CLOSED, reply_on_its_way=False) is None


def test_reopen_never_waits_for_replies() -> None:
    assert status_change_refusal(TicketStatus.OPEN, reply_on_its_way=True) is None
