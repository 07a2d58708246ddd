"""What a claim, unclaim or transfer tells the member (pure)."""

from __future__ import annotations

from bot.store.triage import ClaimResult


def claim_words(ticket_id: int, member_id: int, result: ClaimResult) -> str:
    if result.taken:
        return f"You own ticket #{ticket_id} now."
    if result.owner_id == member_id:
        return f"You already own ticket #{ticket_id}."
    return f"Ticket #{ticket_id} is already claimed by <@{result.owner_id}>."


def unclaim_words(ticket_id: int, member_id: int, previous: int | None) -> str:
    if previous is None:
        return f"Ticket #{ticket_id} wasn't claimed."
    if previous == member_id:
        return f"You no longer own ticket #{ticket_id}."
    return f"Ticket #{ticket_id} is unclaimed (it was <@{previous}>'s)."


def transfer_words(ticket_id: int, new_owner: int, previous: int | None) -> str:
    before = f" (from <@{previous}>)" if previous is not None else ""
    return f"Ticket #{ticket_id} now belongs to <@{new_owner}>{before}."
