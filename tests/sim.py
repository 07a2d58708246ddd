"""The real bot's cogs and Discord edges on SimCord, an in-process simulated Discord.

SimCord (PyPI ``simcord``) replaces discord.py's two seams (``HTTPClient.request`` and the
gateway parsers) with an in-memory Discord that checks permissions, command visibility
and the interaction lifecycle, so a slash command here runs the same discord.py code as
in production, in milliseconds. The protocol fakes (``tests/fakes/discord.py``) stay for
the crash, fault and process tests that need a real socket.

What the bot runs here: the real ``/sellapp``, ``/ticket`` and ``/snippet`` cogs, the real
inbound cog minus its poll supervisor, and the real outbound cog minus its loops. SimCord
waits for the bot's work to settle after every action and counts an idle
``asyncio.wait_for(event.wait(), timeout)`` (the poll and delivery loops between cycles)
as unknown work that never settles; those loops are driven by the e2e tests instead.
Commands call ``poll()`` and ``sync_ticket()`` directly, as in production.

SellApp is the protocol fake (``tests/fakes/sellapp.py``) on loopback.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
import httpx
import simcord
from discord import app_commands
from simcord import ChannelHandle, GuildHandle, InteractionResult, MemberActor, RoleHandle

from bot.app import BridgeBot
from bot.config import load_settings
from bot.errors import BridgeError
from bot.links import Links
from bot.links.sealing import Sealer
from bot.ops.logs import SecretRegistry
from bot.services import Services
from bot.store import Store
from tests.fakes.sellapp import FakeSellApp

if TYPE_CHECKING:
    from cogs.outbound import Outbound

KEY = "sk_live_edge_test_key_0123456789"
STORE = "edge-shop"
SECRET_KEY = "edge-tests-secret-key-0123456789abcdef"
TOKEN = "edge.test.token-0123456789"


def _cog_class(module: str, name: str) -> Any:
    """A cog class from its module as it is now: a closed bot unloads its extensions,
    which drops their modules from sys.modules, and BridgeBot's own lookups
    (``bot.inbound``, ``bot.orders``) import them afresh. A subclass of a stale class
    would fail their isinstance checks."""
    return getattr(importlib.import_module(module), name)


def _without_loops(module: str, name: str) -> Any:
    """The real cog, without the loops SimCord can't settle (tests run them by hand)."""
    base = _cog_class(module, name)

    class WithoutLoops(base, name=name):  # type: ignore[misc, valid-type]
        async def cog_load(self) -> None:
            if name == "Triage":  # its Claim button still works across restarts
                self.bot.add_dynamic_items(_cog_class(module, "ClaimButton"))

    return WithoutLoops


class EdgeBot(BridgeBot):
    """BridgeBot loading the command cogs (the outbound loops are e2e's)."""

    async def setup_hook(self) -> None:
        await self.load_extension("cogs.admin")
        await self.load_extension("cogs.tickets")
        await self.add_cog(_without_loops("cogs.inbound", "Inbound")(self))
        await self.add_cog(_without_loops("cogs.outbound", "Outbound")(self))
        await self.load_extension("cogs.snippets")
        await self.add_cog(_without_loops("cogs.triage", "Triage")(self))
        await self.tree.sync()
        self.commands_synced = True


@dataclass
class Sim:
    env: simcord.Env
    bot: EdgeBot
    sellapp: FakeSellApp
    store: Store
    sealer: Sealer
    secrets: SecretRegistry
    guild: GuildHandle
    forum: ChannelHandle
    lobby: ChannelHandle
    staff_role: RoleHandle
    admin: MemberActor
    agent: MemberActor
    stranger: MemberActor
    # How many errors the test expects the tree to log as unknown (see answered()).
    unknown_errors: int = 0

    async def link(self, *, channel: ChannelHandle | None = None) -> None:
        """Link the guild as /sellapp connect, channel and staff add would have."""
        await self.store.links.upsert(
            self.guild.id,
            now=time.time(),
            store_slug=STORE,
            api_key_sealed=self.sealer.seal(KEY),
            channel_id=(channel or self.forum).id,
            staff_role_ids=[self.staff_role.id],
        )

    @property
    def outbound(self) -> Outbound:
        return self.cog("Outbound")  # type: ignore[no-any-return]

    def cog(self, name: str) -> Any:
        """The running cog ``name`` (``cogs.<name lowercased>``), checked against its class
        as its module is now (see :func:`_cog_class`)."""
        cog = self.bot.get_cog(name)
        assert isinstance(cog, _cog_class(f"cogs.{name.lower()}", name))
        return cog

    def thread_named(self, prefix: str) -> ChannelHandle:
        found = [
            t
            for parent in (self.forum, self.lobby)
            for t in parent.threads
            if (t.name or "").startswith(prefix)
        ]
        assert len(found) == 1, [t.name for p in (self.forum, self.lobby) for t in p.threads]
        return found[0]


def answered(error: BaseException) -> bool:
    """An error the tree turns into a plain sentence (anything else is a bug, logged)."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    return isinstance(error, BridgeError | app_commands.CheckFailure)


def said(result: InteractionResult) -> list[str]:
    """Every message the member saw in answer, in order (a deferred answer's edit included)."""
    messages = [result.response, *result.followups]
    return [m.content for m in messages if m is not None]


@asynccontextmanager
async def simulated(tmp_path: Path, *, with_secret_key: bool = True) -> AsyncIterator[Sim]:
    async with FakeSellApp() as sellapp:
        sellapp.add_account(KEY, [STORE])
        settings = load_settings(
            None,
            discord_token=TOKEN,
            sellapp_api_url=sellapp.url,
            database_path=tmp_path / "bridge.sqlite3",
            secret_key=SECRET_KEY if with_secret_key else None,
        )
        store = await Store.open(settings.database_path)
        try:
            async with httpx.AsyncClient() as http:
                secrets = SecretRegistry()
                sealer = Sealer(SECRET_KEY)
                links = Links(settings, store, http, secrets, sealer if with_secret_key else None)
                services = Services(
                    settings=settings, store=store, http=http, secrets=secrets, links=links
                )
                bot = EdgeBot(services)
                # check_errors is ours (see Sim.unanswered): a refusal the tree answered is
                # an error to SimCord too.
                env = simcord.Env(bot, check_errors=False, shard_count=1)
                await env.start()
                try:
                    guild = env.create_guild("Support")
                    admins = guild.create_role(
                        "Admins", permissions=discord.Permissions(manage_guild=True)
                    )
                    staff = guild.create_role("Staff")
                    sim = Sim(
                        env=env,
                        bot=bot,
                        sellapp=sellapp,
                        store=store,
                        sealer=sealer,
                        secrets=secrets,
                        guild=guild,
                        forum=guild.create_forum_channel("tickets"),
                        lobby=guild.create_text_channel("lobby"),
                        staff_role=staff,
                        admin=guild.add_member(env.create_user("admin"), roles=[admins]),
                        agent=guild.add_member(env.create_user("agent"), roles=[staff]),
                        stranger=guild.add_member(env.create_user("stranger")),
                    )
                    yield sim
                finally:
                    await env.shutdown()
                unanswered = [e for e in env.errors if not answered(e)]
                assert len(unanswered) == sim.unknown_errors, unanswered
        finally:
            await store.close()
