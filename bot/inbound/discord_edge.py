"""The Discord side of the engines: :class:`bot.inbound.engine.ThreadPort` on discord.py.

The only module besides the cogs that touches discord objects. It turns discord.py's
exceptions into :mod:`bot.errors` types so the engines can decide without importing
discord.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

import discord

from bot.errors import ChannelUnusable, DiscordUnavailable, ThreadGone, ThreadUnusable
from bot.inbound.render import Post, read_marker
from bot.pacing import Pacer
from bot.triage.tags import TRIAGE_TAGS

log = logging.getLogger(__name__)

OPEN_TAG = "Open"
CLOSED_TAG = "Closed"
UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
THREAD_ARCHIVED = 50083
# A week: threads of quiet tickets stay visible; closing archives them at once anyway.
AUTO_ARCHIVE_MINUTES: Literal[10080] = 10080
TAGS_RETRY_SECONDS = 3600.0
"""After Discord refused to create a forum's tags, how long before asking again."""

TicketChannel = discord.TextChannel | discord.ForumChannel


def allowed_mentions(post: Post) -> discord.AllowedMentions:
    """Nobody, unless the post names the one user or role it may ping (triage's pings)."""
    if post.ping_user is None and post.ping_role is None:
        return discord.AllowedMentions.none()
    return discord.AllowedMentions(
        everyone=False,
        users=[discord.Object(post.ping_user)] if post.ping_user is not None else False,
        roles=[discord.Object(post.ping_role)] if post.ping_role is not None else False,
        replied_user=False,
    )


def _embeds(post: Post) -> list[discord.Embed]:
    return [discord.Embed.from_dict(e) for e in post.embeds]


def _translate(exc: discord.HTTPException, *, thread_id: int | None, channel_id: int) -> Exception:
    """discord.py's exception -> ours (returned, for the caller to raise ``from`` it)."""
    if isinstance(exc, discord.NotFound) and exc.code in (UNKNOWN_CHANNEL, UNKNOWN_MESSAGE):
        if thread_id is not None:
            return ThreadGone(thread_id)
        return ChannelUnusable(channel_id, "the channel no longer exists")
    if isinstance(exc, discord.Forbidden):
        return ChannelUnusable(
            channel_id, "the bot is missing permissions there (see /sellapp channel)"
        )
    if exc.status >= 500:
        return DiscordUnavailable(f"Discord answered {exc.status}; will retry")
    return exc


def _thread_refused(
    thread: discord.Thread, exc: discord.HTTPException, *, action: str = "post in"
) -> Exception:
    """A 403 on a thread: the whole channel's fault (permissions taken away there, which
    stops the guild's cycle and shows in /sellapp status), or this one thread's, in
    Discord's own words (``Discord refused to archive its thread: Missing Permissions``;
    some hosts ask more than the invite's permissions for one step)."""
    parent = thread.parent
    if isinstance(exc, discord.Forbidden) and parent is not None:
        perms = parent.permissions_for(parent.guild.me)
        if not (perms.view_channel and perms.send_messages_in_threads and perms.manage_threads):
            return ChannelUnusable(
                parent.id, "the bot is missing permissions there (see /sellapp channel)"
            )
        said = " ".join((exc.text or "").split())[:100] or "Missing Permissions"
        return ThreadUnusable(thread.id, f"Discord refused to {action} its thread: {said}")
    return _translate(exc, thread_id=thread.id, channel_id=thread.parent_id)


class DiscordThreads:
    """Creates and writes ticket threads in a text or forum channel."""

    def __init__(self, client: discord.Client, pacer: Pacer) -> None:
        self._client = client
        self._pace = pacer.wait
        self._tags_refused: dict[int, float] = {}
        """forum id -> when creating its tags was refused (monotonic): not asked on every
        thread, and logged once, not every time."""

    async def _channel(self, channel_id: int) -> TicketChannel:
        channel = self._client.get_channel(channel_id)
        if channel is None:
            try:
                await self._pace()
                channel = await self._client.fetch_channel(channel_id)
            except discord.HTTPException as exc:
                raise _translate(exc, thread_id=None, channel_id=channel_id) from exc
        if not isinstance(channel, discord.TextChannel | discord.ForumChannel):
            raise ChannelUnusable(channel_id, "it is not a text or forum channel")
        return channel

    async def _thread(self, thread_id: int) -> discord.Thread:
        thread = self._client.get_channel(thread_id)
        if thread is None:
            try:
                await self._pace()
                thread = await self._client.fetch_channel(thread_id)
            except discord.HTTPException as exc:
                raise _translate(exc, thread_id=thread_id, channel_id=thread_id) from exc
        if not isinstance(thread, discord.Thread):
            raise ThreadGone(thread_id)
        return thread

    async def _tags(self, forum: discord.ForumChannel) -> dict[str, discord.ForumTag]:
        """The forum's Open and Closed tags, created if missing (with triage's tags, in the
        same request)."""
        by_name = {t.name.casefold(): t for t in forum.available_tags}
        missing = [n for n in (OPEN_TAG, CLOSED_TAG, *TRIAGE_TAGS) if n.casefold() not in by_name]
        refused_at = self._tags_refused.get(forum.id)
        if refused_at is not None and time.monotonic() - refused_at < TAGS_RETRY_SECONDS:
            missing = []
        if missing:
            tags = [*forum.available_tags, *(discord.ForumTag(name=n) for n in missing)]
            try:
                await self._pace()
                forum = await forum.edit(available_tags=tags[:20])
            except discord.Forbidden:
                # Creating tags needs Manage Channels, which the bridge doesn't require:
                # work without them (an admin can add "Open" and "Closed" by hand).
                if refused_at is None:
                    log.warning(
                        "forum %s has no %s tag(s) and the bot may not create them",
                        forum.id,
                        "/".join(missing),
                    )
                self._tags_refused[forum.id] = time.monotonic()
            except discord.HTTPException as exc:
                raise _translate(exc, thread_id=None, channel_id=forum.id) from exc
            by_name = {t.name.casefold(): t for t in forum.available_tags}
        return {n: by_name[n.casefold()] for n in (OPEN_TAG, CLOSED_TAG) if n.casefold() in by_name}

    async def find_thread(self, channel_id: int, ticket_id: int) -> int | None:
        """A thread the bot made for this ticket (by name), e.g. just before a crash."""
        channel = await self._channel(channel_id)
        me = self._client.user
        prefix = f"#{ticket_id} · "
        for thread in channel.threads:
            if thread.name.startswith(prefix) and me is not None and thread.owner_id == me.id:
                return thread.id
        return None

    async def create_thread(self, channel_id: int, name: str, starter: Post) -> int:
        channel = await self._channel(channel_id)
        try:
            if isinstance(channel, discord.ForumChannel):
                tags = await self._tags(channel)
                await self._pace()
                created = await channel.create_thread(
                    name=name,
                    embeds=_embeds(starter),
                    applied_tags=[tags[OPEN_TAG]] if OPEN_TAG in tags else [],
                    auto_archive_duration=AUTO_ARCHIVE_MINUTES,
                    allowed_mentions=discord.AllowedMentions.none(),
                )
                return created.thread.id
            await self._pace()
            thread = await channel.create_thread(
                name=name,
                type=discord.ChannelType.public_thread,
                auto_archive_duration=AUTO_ARCHIVE_MINUTES,
            )
            await self._pace()
            await thread.send(
                embeds=_embeds(starter), allowed_mentions=discord.AllowedMentions.none()
            )
            return thread.id
        except discord.HTTPException as exc:
            raise _translate(exc, thread_id=None, channel_id=channel_id) from exc

    async def post(self, thread_id: int, post: Post) -> int:
        thread = await self._thread(thread_id)
        try:
            await self._pace()
            message = await thread.send(
                content=post.content or None,
                embeds=_embeds(post),
                allowed_mentions=allowed_mentions(post),
            )
        except discord.HTTPException as exc:
            if exc.code == THREAD_ARCHIVED:
                # Locked and archived: open it just long enough for the caller to decide.
                await self.set_closed(thread_id, closed=False)
                return await self.post(thread_id, post)
            raise _thread_refused(thread, exc) from exc
        return message.id

    async def set_closed(self, thread_id: int, *, closed: bool) -> None:
        thread = await self._thread(thread_id)
        kwargs: dict[str, Any] = {"archived": closed, "locked": closed}
        parent = thread.parent
        try:
            if isinstance(parent, discord.ForumChannel):
                tags = await self._tags(parent)
                wanted = tags.get(CLOSED_TAG if closed else OPEN_TAG)
                others = [
                    t
                    for t in thread.applied_tags
                    if t.name.casefold() not in (OPEN_TAG.casefold(), CLOSED_TAG.casefold())
                ]
                kwargs["applied_tags"] = ([wanted] if wanted else []) + others[:4]
            # One edit: Discord accepts tag changes on an archived thread when the same
            # request unarchives it, and archives after applying the rest when closing.
            await self._pace()
            await thread.edit(**kwargs)
        except discord.HTTPException as exc:
            action = "archive" if closed else "reopen"
            raise _thread_refused(thread, exc, action=action) from exc

    async def recent_markers(self, thread_id: int, limit: int) -> dict[tuple[int, int], int]:
        thread = await self._thread(thread_id)
        me = self._client.user
        found: dict[tuple[int, int], int] = {}
        try:
            await self._pace()  # history pages: one paced request per 100 messages read
            async for message in thread.history(limit=limit):
                if me is None or message.author.id != me.id:
                    continue
                marker = read_marker(_embed_dicts(message.embeds))
                if marker is not None:
                    found.setdefault((marker.message_id, marker.part), message.id)
        except discord.HTTPException as exc:
            raise _thread_refused(thread, exc, action="read") from exc
        return found


def _embed_dicts(embeds: Sequence[discord.Embed]) -> list[dict[str, Any]]:
    return [dict(e.to_dict()) for e in embeds]
