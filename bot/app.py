"""The Bot subclass: holds the shared services, loads the cogs, syncs commands."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.pacing import Pacer
from bot.shards.guard import GuildGuard
from bot.shards.plan import ShardPlan
from bot.tree import BridgeTree

if TYPE_CHECKING:
    from bot.services import Services
    from cogs.inbound import Inbound
    from cogs.orders import Orders

log = logging.getLogger(__name__)

# Loaded in this order in setup_hook (RoboDanny style: an explicit list, no directory scan).
EXTENSIONS: tuple[str, ...] = (
    "cogs.claims",
    "cogs.admin",
    "cogs.inbound",
    "cogs.tickets",
    "cogs.outbound",
    "cogs.orders",
    "cogs.snippets",
    "cogs.triage",
)


def intents() -> discord.Intents:
    """Guilds, guild messages and message content: what reading staff replies needs."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.message_content = True
    return wanted


class BridgeBot(commands.AutoShardedBot):
    """The Discord side of the process. It does not own the store or the HTTP client:
    ``bot.runner`` opens them before the bot and closes them after it.

    Sharded by discord.py (one gateway session per shard): ``SHARD_COUNT`` shards in all
    (unset: Discord's recommended count from ``GET /gateway/bot``), of which this process
    runs ``SHARD_IDS`` (unset: all). :attr:`guard` says which guilds it works on."""

    def __init__(self, services: Services) -> None:
        settings = services.settings
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            tree_cls=BridgeTree,
            # How long discord.py waits for the servers' GUILD_CREATEs before "ready".
            guild_ready_timeout=settings.discord_guild_ready_seconds,
            shard_count=settings.shard_count,
        )
        # Set after: discord.py's options type has no "None" for "every shard".
        self.shard_ids = list(settings.shard_ids) if settings.shard_ids else None
        self.services = services
        self.commands_synced = False
        # One budget for every request the engines make (threads, posts, reactions).
        self.pacer = Pacer()
        self.triage_wake = asyncio.Event()
        """Set when a claim or a triage setting changes: the triage loop runs a pass now."""
        self.guard = GuildGuard(services.store.claims)
        """Which guilds this process works on (its shards, and it holds their claim)."""

    def shard_plan(self) -> ShardPlan:
        """The shards this process runs (one shard, ours, before the count is known)."""
        return ShardPlan.of(self.shard_count or 1, self.shard_ids)

    async def launch_shards(self) -> None:
        # Asked for the recommended count, discord.py would connect to the gateway URL in
        # Discord's answer and ignore DISCORD_GATEWAY_URL (a proxy, the test fake): ask
        # for the count only, and connect where DiscordWebSocket.DEFAULT_GATEWAY points.
        if self.shard_count is None and not self.is_closed():
            self.shard_count, _, _ = await self.http.get_bot_gateway()
            log.info("Discord recommends %d shard(s)", self.shard_count)
        self.guard.set_plan(self.shard_plan())
        await super().launch_shards()

    async def setup_hook(self) -> None:
        for name in EXTENSIONS:
            await self.load_extension(name)
        synced = await self.tree.sync()
        self.commands_synced = True
        log.info("synced %d application command(s)", len(synced))

    @property
    def inbound(self) -> Inbound:
        """The poller (commands ask it for a cycle now, or one ticket now)."""
        from cogs.inbound import Inbound  # noqa: PLC0415 (cogs import this module)

        cog = self.get_cog("Inbound")
        if not isinstance(cog, Inbound):
            raise RuntimeError("the inbound cog is not loaded")
        return cog

    @property
    def orders(self) -> Orders:
        """The order card and actions (the /ticket order commands call it)."""
        from cogs.orders import Orders  # noqa: PLC0415 (cogs import this module)

        cog = self.get_cog("Orders")
        if not isinstance(cog, Orders):
            raise RuntimeError("the orders cog is not loaded")
        return cog

    async def on_ready(self) -> None:
        user = self.user
        self.guard.set_plan(self.shard_plan())
        log.info(
            "ready: logged in as %s (%s) in %d guild(s), %s",
            user,
            user.id if user else "?",
            len(self.guilds),
            self.shard_plan().describe(),
        )
