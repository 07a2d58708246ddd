"""Guild claims: the loop that keeps this process's claims in step with its shards.

Every pass (every :data:`PASS_SECONDS`, or at once when a link changes or a guild joins)
hands :meth:`bot.shards.guard.GuildGuard.refresh` the guilds that may need work: every
linked guild and every guild the bot is in. The guard keeps those on this process's
shards, claims them (running each one's recovery first) and lets the rest go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

PASS_SECONDS = 2.0
"""How often claims are looked at (a refused claim is tried again on its own, slower, clock)."""


class Claims(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        self.guard = bot.guard
        self._task: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="guild-claims")

    async def cog_unload(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.guard.close()

    async def candidates(self) -> set[int]:
        """Linked guilds (the stored links' ids: no key is opened) and the bot's guilds."""
        services = self.bot.services
        linked = {row.guild_id for row in await services.store.links.all()}
        if services.settings.discord_guild_id is not None:
            linked.add(services.settings.discord_guild_id)
        return linked | {guild.id for guild in self.bot.guilds}

    async def _loop(self) -> None:
        await self.bot.wait_until_ready()
        self.guard.set_plan(self.bot.shard_plan())
        while True:
            self.guard.wake.clear()
            try:
                result = await self.guard.refresh(await self.candidates())
                if result.acquired or result.released:
                    log.info(
                        "claims: %d guild(s) held (%d taken, %d released)",
                        len(self.guard.held()),
                        len(result.acquired),
                        len(result.released),
                    )
            except Exception:
                log.exception("claims: a pass failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.guard.wake.wait(), timeout=PASS_SECONDS)

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        self.guard.wake.set()

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        self.guard.wake.set()


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(Claims(bot))
