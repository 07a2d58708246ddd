"""The Discord posts triage sends: each may ping exactly one user or one role."""

from __future__ import annotations

from bot.inbound.render import Post
from bot.triage.reminders import Target


def alert_post(ticket_id: int, role_id: int) -> Post:
    return Post(content=f"<@&{role_id}> New ticket #{ticket_id}.", ping_role=role_id)


def owner_post(ticket_id: int, owner_id: int) -> Post:
    return Post(
        content=f"<@{owner_id}> The customer wrote again in ticket #{ticket_id}.",
        ping_user=owner_id,
    )


def reminder_post(ticket_id: int, level: int, who: Target, waiting_since: float) -> Post:
    again = "still " if level == 2 else ""
    text = (
        f"{who.mention} Ticket #{ticket_id} is {again}awaiting staff,"
        f" since <t:{int(waiting_since)}:R>."
    )
    return Post(content=text.strip(), ping_user=who.user_id, ping_role=who.role_id)
