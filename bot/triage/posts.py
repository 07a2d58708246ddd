"""The Discord posts triage sends: each may ping exactly one user or one role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.inbound.render import Post
from bot.store import Store
from bot.store.triage import Ping, PingKind
from bot.triage.reminders import Target

PostTo = Callable[[int, Post], Awaitable[int]]
"""Posts in a channel or thread and returns the message id (a Discord port's ``post``)."""


def as_ping(channel_id: int, post: Post) -> Ping:
    return Ping(channel_id, post.content, post.ping_user, post.ping_role)


def as_post(ping: Ping) -> Post:
    return Post(content=ping.content, ping_user=ping.user_id, ping_role=ping.role_id)


async def send_once(
    store: Store,
    post_to: PostTo,
    *,
    guild_id: int,
    kind: PingKind,
    subject: str,
    channel_id: int,
    post: Post,
    now: float,
) -> bool:
    """Post a ping at most once: its row is committed first, marked sent after. A crash
    in between leaves the row pending for :meth:`bot.triage.engine.TriageEngine.recover`.
    False if it was recorded before (nothing is posted)."""
    if not await store.triage.begin_ping(
        guild_id, kind, subject, as_ping(channel_id, post), now=now
    ):
        return False
    sent = await post_to(channel_id, post)
    await store.triage.ping_sent(guild_id, kind, subject, sent, now=now)
    return True


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
