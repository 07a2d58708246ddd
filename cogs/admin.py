"""``/sellapp``: a server's admins see and steer their link. Every reply is ephemeral."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.explain import explain

if TYPE_CHECKING:
    from bot.app import BridgeBot


def _ago(moment: float | None) -> str:
    if moment is None:
        return "never"
    return f"<t:{int(moment)}:R>"


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class SellAppCommands(commands.GroupCog, group_name="sellapp"):
    """Link this server to a SellApp store and see how the bridge is doing."""

    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        self.services = bot.services
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        # Discord hides the commands from non-admins (default_permissions), but a server
        # override could open them up: check again here.
        perms = interaction.permissions
        if not (perms.manage_guild or perms.administrator):
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    @app_commands.command(name="status", description="How the bridge is doing in this server")
    async def status(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        link = await self.services.links.get(interaction.guild_id)
        if link is None:
            await interaction.response.send_message(
                "This server isn't linked to a SellApp store yet. Use /sellapp connect.",
                ephemeral=True,
            )
            return
        store = self.services.store
        poll = await store.get_poll_state(link.guild_id)
        counts = await store.count_tickets(link.guild_id)
        if link.paused:
            state = "paused"
        elif link.missing:
            state = f"not running: {link.missing}"
        elif poll is not None and poll.consecutive_failures:
            state = "failing"
        else:
            state = "running"
        embed = discord.Embed(title="SellApp bridge", colour=0x3B82F6)
        embed.add_field(name="Store", value=link.store_slug or "(the key's first store)")
        embed.add_field(
            name="Channel", value=f"<#{link.channel_id}>" if link.channel_id else "not set"
        )
        embed.add_field(name="State", value=state, inline=False)
        last = poll.last_poll_at if poll else None
        embed.add_field(name="Last poll", value=_ago(last))
        if last is not None and not link.paused:
            embed.add_field(name="Next poll", value=_ago(last + link.poll_interval))
        if poll is not None and poll.last_error and poll.consecutive_failures:
            embed.add_field(name="Last error", value=poll.last_error[:1000], inline=False)
        embed.add_field(name="Tickets", value=f"{counts.tracked} tracked, {counts.open} open")
        if poll is not None and poll.last_response_ms is not None:
            embed.add_field(name="SellApp response", value=f"{poll.last_response_ms:.0f} ms")
        embed.set_footer(text=f"checked {time.strftime('%H:%M:%S', time.gmtime())} UTC")
        await interaction.response.send_message(embed=embed, ephemeral=True)

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.MissingPermissions):
            text = "Only members with Manage Server can use /sellapp."
        else:
            original = getattr(error, "original", error)
            text = explain(original)
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(SellAppCommands(bot))
