"""Triage: the loop that shows owners and waiting state, sends reminders and the daily
digest (:class:`bot.triage.engine.TriageEngine`), and the ticket's **Claim** button.

The button is a dynamic item (custom id ``sellapp:claim:<ticket>``), so it answers on a
message posted before a restart. The loop starts in ``cog_load``, waits for the bot to
be ready, and survives every failed pass (logged; progress is in SQLite). Each guild's
pass is one step of the guild guard's (:meth:`bot.shards.guard.GuildGuard.working`), and
the pings a run that died left pending are settled each time this process takes a
guild's claim (:meth:`bot.triage.engine.TriageEngine.recover`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Self

import discord
from discord.ext import commands

from bot.errors import GuildNotHeld
from bot.tree import refused_elsewhere
from bot.triage.claims import claim_words
from bot.triage.discord_edge import CLAIM_PREFIX, TriageThreads
from bot.triage.engine import TriageEngine
from cogs.tickets import is_staff

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)


class ClaimButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=re.escape(CLAIM_PREFIX) + r"(?P<ticket>[0-9]+)",
):
    def __init__(self, ticket_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Claim",
                style=discord.ButtonStyle.primary,
                custom_id=f"{CLAIM_PREFIX}{ticket_id}",
            )
        )
        self.ticket_id = ticket_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(int(match["ticket"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        cog = interaction.client.get_cog("Triage")
        if not isinstance(cog, Triage):
            return
        await cog.claim_clicked(interaction, self.ticket_id)


class Triage(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        self.services = bot.services
        self.threads = TriageThreads(bot, bot.pacer)
        settings = self.services.settings
        self.engine = TriageEngine(
            self.services.store,
            self.threads,
            minute_seconds=settings.triage_minute_seconds,
            works_on=bot.guard.works_on,
        )
        self._task: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        self.bot.guard.add_recovery(self.engine.recover)
        self.bot.add_dynamic_items(ClaimButton)
        self._task = asyncio.create_task(self._loop(), name="triage")

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ClaimButton)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        await self.bot.wait_until_ready()
        while True:
            for link in await self._links():
                try:
                    async with self.bot.guard.working(link):
                        await self.engine.run_guild(link)
                except GuildNotHeld:
                    log.info("guild %s: triage pass stopped: the guild's claim was lost", link)
                except Exception:
                    log.exception("guild %s: triage pass failed; trying again next pass", link)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.bot.triage_wake.wait(), timeout=self.services.settings.triage_check_seconds
                )
            self.bot.triage_wake.clear()

    async def _links(self) -> list[int]:
        try:
            return [
                link.guild_id
                for link in await self.services.links.all()
                if link.runnable and not link.paused and self.bot.guard.works_on(link.guild_id)
            ]
        except Exception:
            log.exception("triage: could not read the links; retrying")
            return []

    async def claim_clicked(self, interaction: discord.Interaction[Any], ticket_id: int) -> None:
        if await refused_elsewhere(interaction):
            return
        guild_id = interaction.guild_id
        link = await self.services.links.get(guild_id) if guild_id is not None else None
        if link is None or not is_staff(interaction, link):
            await interaction.response.send_message(
                "Only staff can claim tickets (ask an admin: /sellapp staff add).", ephemeral=True
            )
            return
        record = await self.services.store.tickets.get(link.guild_id, ticket_id)
        if record is None:
            await interaction.response.send_message(
                f"Ticket #{ticket_id} isn't one of this server's tickets.", ephemeral=True
            )
            return
        result = await self.services.store.triage.claim(
            link.guild_id, ticket_id, interaction.user.id, now=time.time()
        )
        await interaction.response.send_message(
            claim_words(ticket_id, interaction.user.id, result), ephemeral=True
        )
        if result.taken:
            log.info("guild %s: ticket %s claimed", link.guild_id, ticket_id)
            self.bot.triage_wake.set()


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(Triage(bot))
