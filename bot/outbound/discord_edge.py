"""The Discord side of the outbound relay: :class:`bot.outbound.engine.FeedbackPort` on discord.py.

Feedback is best effort: a message or thread that is gone (NotFound), a thread that is
archived or locked, a missing permission or a Discord outage is logged and swallowed.
The outbox has already recorded the outcome, so failing to show it never loses a reply
or sends one again. Nothing posted here can ping anyone (``AllowedMentions.none()``).
"""

from __future__ import annotations

import logging

import discord

from bot.pacing import Pacer

log = logging.getLogger(__name__)


class DiscordFeedback:
    """Reactions on staff messages and short replies in ticket threads, by id only."""

    def __init__(self, client: discord.Client, pacer: Pacer) -> None:
        self._client = client
        self._pace = pacer.wait

    def _channel(self, channel_id: int) -> discord.PartialMessageable:
        return self._client.get_partial_messageable(
            channel_id, type=discord.ChannelType.public_thread
        )

    async def react(self, channel_id: int, message_id: int, emoji: str) -> None:
        message = self._channel(channel_id).get_partial_message(message_id)
        try:
            await self._pace()
            await message.add_reaction(emoji)
        except discord.HTTPException as exc:
            _log_failure("react on", channel_id, message_id, exc)

    async def unreact(self, channel_id: int, message_id: int, emoji: str) -> None:
        me = self._client.user
        if me is None:
            return
        message = self._channel(channel_id).get_partial_message(message_id)
        try:
            await self._pace()
            await message.remove_reaction(emoji, me)
        except discord.HTTPException as exc:
            _log_failure("remove a reaction from", channel_id, message_id, exc)

    async def say(self, channel_id: int, text: str, reply_to: int | None) -> None:
        reference = (
            discord.MessageReference(
                message_id=reply_to, channel_id=channel_id, fail_if_not_exists=False
            )
            if reply_to is not None
            else None
        )
        try:
            await self._pace()
            await self._channel(channel_id).send(
                text,
                reference=reference,  # type: ignore[arg-type]
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as exc:
            _log_failure("post in", channel_id, reply_to, exc)


def _log_failure(
    action: str, channel_id: int, message_id: int | None, exc: discord.HTTPException
) -> None:
    if isinstance(exc, discord.NotFound):
        log.info("could not %s message %s in %s: it is gone", action, message_id, channel_id)
    else:
        log.warning(
            "could not %s message %s in %s: HTTP %s (code %s)",
            action,
            message_id,
            channel_id,
            exc.status,
            exc.code,
        )
