"""One error handler for every slash command and modal.

A known error becomes a clear ephemeral sentence; anything else is logged with its
traceback under a short reference id, and the member gets that id. Replies are built
from our own error types (see :mod:`bot.explain`), so no secret can reach one.
"""

from __future__ import annotations

import logging
import secrets

import discord
from discord import app_commands

from bot.errors import BridgeError
from bot.explain import explain
from bot.shards.guard import MOVING, GuildGuard

log = logging.getLogger(__name__)


class NotAllowed(app_commands.CheckFailure):
    """The member may not use this command here; the message says why."""


def describe(error: BaseException) -> str:
    """The sentence a member sees for ``error`` (logging unknown ones with a reference)."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, app_commands.MissingPermissions):
        return "Only members with Manage Server can change the bridge's settings."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works in a server."
    if isinstance(error, NotAllowed):
        return str(error)
    if isinstance(error, app_commands.TransformerError):
        return f"That {error.type.name.replace('_', ' ')} isn't one the bridge can use."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {error.retry_after:.0f} s."
    if isinstance(error, BridgeError):
        return explain(error)
    reference = secrets.token_hex(4)
    log.error("command failed (reference %s)", reference, exc_info=error)
    return f"Something went wrong on our side (reference {reference}; the bot's log has details)."


async def reply_error(interaction: discord.Interaction, error: BaseException) -> None:
    text = describe(error)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell the member about an error (interaction expired?)")


async def refused_elsewhere(interaction: discord.Interaction[discord.Client]) -> bool:
    """True (and the member told, ephemerally) if the interaction's guild is one this
    process does not work on now: another bridge process holds it (a shard moving). The
    caller then does nothing."""
    guard = getattr(interaction.client, "guard", None)
    if interaction.guild_id is None or not isinstance(guard, GuildGuard):
        return False
    if await guard.ensure(interaction.guild_id):
        return False
    log.info("guild %s: interaction refused: another process holds it", interaction.guild_id)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(MOVING, ephemeral=True)
        else:
            await interaction.response.send_message(MOVING, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell the member the server is moving (interaction expired?)")
    return True


async def require_held(interaction: discord.Interaction[discord.Client]) -> None:
    """For a form or view opened earlier: raise :class:`NotAllowed` (the "moving"
    sentence) if this process no longer works on the interaction's guild."""
    guard = getattr(interaction.client, "guard", None)
    if interaction.guild_id is None or not isinstance(guard, GuildGuard):
        return
    if not await guard.ensure(interaction.guild_id):
        raise NotAllowed(MOVING)


class BridgeTree(app_commands.CommandTree[discord.Client]):
    async def interaction_check(self, interaction: discord.Interaction[discord.Client]) -> bool:
        """Every slash command: only in a guild this process works on now."""
        return not await refused_elsewhere(interaction)

    async def on_error(
        self, interaction: discord.Interaction[discord.Client], error: app_commands.AppCommandError
    ) -> None:
        await reply_error(interaction, error)
