"""Showing triage on Discord: the owner and waiting state on a ticket's first message
(with its **Claim** button), and in a forum the tags *Claimed*, *Awaiting staff* and
*Awaiting customer*. The one module of :mod:`bot.triage` that touches discord.

The tags are created with *Open* and *Closed* by :mod:`bot.inbound.discord_edge`; the
ones a forum still lacks (the bot has no Manage Channels) are kept in
:attr:`TriageThreads.missing_tags`, so ``/sellapp status`` can say which to create."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import discord

from bot.errors import ThreadGone, ThreadUnusable
from bot.inbound.discord_edge import allowed_mentions
from bot.inbound.render import Post
from bot.pacing import Pacer
from bot.triage.tags import AWAITING_CUSTOMER_TAG, AWAITING_STAFF_TAG, CLAIMED_TAG, TRIAGE_TAGS
from bot.triage.waiting import WaitingFor

log = logging.getLogger(__name__)

CLAIM_PREFIX = "sellapp:claim:"
MAX_APPLIED_TAGS = 5
FIND_SCAN = 100
"""Messages read back to find a ping a crash left unconfirmed."""


def claim_custom_id(ticket_id: int) -> str:
    return f"{CLAIM_PREFIX}{ticket_id}"


def claim_view(ticket_id: int, owner_id: int | None) -> discord.ui.View:
    """The Claim button (handled by the dynamic item in ``cogs.triage``, so it works after
    a restart); disabled while the ticket is claimed."""
    view = discord.ui.View(timeout=None)
    view.add_item(
        discord.ui.Button(
            label="Claim" if owner_id is None else "Claimed",
            style=discord.ButtonStyle.primary,
            custom_id=claim_custom_id(ticket_id),
            disabled=owner_id is not None,
        )
    )
    view.stop()  # not stored: the dynamic item answers every click
    return view


def _with_fields(
    embed: dict[str, Any], owner_id: int | None, waiting: WaitingFor | None
) -> dict[str, Any]:
    fields = [f for f in embed.get("fields", []) if f.get("name") not in ("Owner", "Waiting for")]
    fields.append(
        {"name": "Owner", "value": f"<@{owner_id}>" if owner_id else "unclaimed", "inline": True}
    )
    fields.append(
        {"name": "Waiting for", "value": waiting.value if waiting else "nobody", "inline": True}
    )
    return {**embed, "fields": fields}


def wanted_tags(owner_id: int | None, waiting: WaitingFor | None) -> list[str]:
    names = []
    if owner_id is not None:
        names.append(CLAIMED_TAG)
    if waiting is WaitingFor.STAFF:
        names.append(AWAITING_STAFF_TAG)
    elif waiting is WaitingFor.CUSTOMER:
        names.append(AWAITING_CUSTOMER_TAG)
    return names


class TriageThreads:
    """Shows a ticket's owner and waiting state in its thread."""

    def __init__(self, client: discord.Client, pacer: Pacer) -> None:
        self._client = client
        self._pacer = pacer
        self.missing_tags: dict[int, list[str]] = {}
        """forum id -> triage tags the bot may not create there (for /sellapp status)."""

    async def _thread(self, thread_id: int) -> discord.Thread:
        thread = self._client.get_channel(thread_id)
        if thread is None:
            try:
                await self._pacer.wait()
                thread = await self._client.fetch_channel(thread_id)
            except discord.NotFound:
                raise ThreadGone(thread_id) from None
        if not isinstance(thread, discord.Thread):
            raise ThreadGone(thread_id)
        return thread

    async def _starter(self, thread: discord.Thread) -> discord.Message | None:
        me = self._client.user
        if isinstance(thread.parent, discord.ForumChannel):
            # A forum post's first message has the thread's id.
            await self._pacer.wait()
            with contextlib.suppress(discord.NotFound):
                return await thread.fetch_message(thread.id)
        await self._pacer.wait()
        async for message in thread.history(limit=5, oldest_first=True):
            if me is not None and message.author.id == me.id and message.embeds:
                return message
        return None

    async def show(
        self, thread_id: int, ticket_id: int, owner_id: int | None, waiting: WaitingFor | None
    ) -> None:
        thread = await self._thread(thread_id)
        try:
            starter = await self._starter(thread)
            if starter is not None:
                embeds = [dict(e.to_dict()) for e in starter.embeds]
                if embeds:
                    embeds[0] = _with_fields(embeds[0], owner_id, waiting)
                await self._pacer.wait()
                await starter.edit(
                    embeds=[discord.Embed.from_dict(e) for e in embeds],
                    view=claim_view(ticket_id, owner_id),
                    allowed_mentions=discord.AllowedMentions.none(),
                )
            if isinstance(thread.parent, discord.ForumChannel):
                await self._tag(thread, thread.parent, wanted_tags(owner_id, waiting))
        except discord.HTTPException as exc:
            raise ThreadUnusable(
                thread_id, f"Discord refused to show the owner: {exc.text or exc.status}"
            ) from exc

    async def _tag(
        self, thread: discord.Thread, forum: discord.ForumChannel, wanted: list[str]
    ) -> None:
        by_name = {t.name.casefold(): t for t in forum.available_tags}
        # Created with Open and Closed by the inbound edge when the bot may; else named in
        # /sellapp status so an admin can add them.
        missing = [n for n in TRIAGE_TAGS if n.casefold() not in by_name]
        if missing:
            self.missing_tags[forum.id] = missing
        else:
            self.missing_tags.pop(forum.id, None)
        triage = {n.casefold() for n in TRIAGE_TAGS}
        keep = [t for t in thread.applied_tags if t.name.casefold() not in triage]
        add = [by_name[n.casefold()] for n in wanted if n.casefold() in by_name]
        tags = (keep + add)[:MAX_APPLIED_TAGS]
        if {t.id for t in tags} != {t.id for t in thread.applied_tags}:
            await self._pacer.wait()
            await thread.edit(applied_tags=tags)

    async def _postable(self, channel_id: int) -> discord.Thread | discord.TextChannel:
        """The thread or text channel ``channel_id``; ThreadGone if it is not there."""
        channel = self._client.get_channel(channel_id)
        if channel is None:
            try:
                await self._pacer.wait()
                channel = await self._client.fetch_channel(channel_id)
            except discord.NotFound:
                raise ThreadGone(channel_id) from None
        if not isinstance(channel, discord.Thread | discord.TextChannel):
            raise ThreadGone(channel_id)
        return channel

    async def post(self, channel_id: int, post: Post) -> int:
        """Post in a thread or channel; pings only what the post allows."""
        channel = await self._postable(channel_id)
        try:
            await self._pacer.wait()
            message = await channel.send(
                content=post.content or None,
                embeds=[discord.Embed.from_dict(e) for e in post.embeds],
                allowed_mentions=allowed_mentions(post),
            )
        except discord.HTTPException as exc:
            raise ThreadUnusable(
                channel_id, f"Discord refused the post: {exc.text or exc.status}"
            ) from exc
        return message.id

    async def find_post(self, channel_id: int, content: str) -> int | None:
        """Our message among the channel's last :data:`FIND_SCAN` with exactly ``content``."""
        channel = await self._postable(channel_id)
        me = self._client.user
        try:
            await self._pacer.wait()
            async for message in channel.history(limit=FIND_SCAN):
                if me is not None and message.author.id == me.id and message.content == content:
                    return message.id
        except discord.HTTPException as exc:
            raise ThreadUnusable(
                channel_id, f"Discord refused to read: {exc.text or exc.status}"
            ) from exc
        return None
