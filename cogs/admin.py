"""``/sellapp``: a server's admins link their store and steer the bridge. Replies are ephemeral.

Manage Server is required twice: ``default_permissions`` makes Discord hide the commands
from everyone else, and :meth:`SellAppCommands.interaction_check` refuses them at run
time in case a server's override opens them up.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands
from pydantic import SecretStr

from bot.explain import explain
from bot.inbound.engine import CycleReport
from bot.sellapp.client import SellAppClient
from bot.sellapp.models import TicketStatus
from bot.tree import NotAllowed, reply_error

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

STORE_SLUG = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
MAX_KEY_LENGTH = 500
# What the bot needs in the tickets channel (see README, "Permissions").
REQUIRED_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("send_messages_in_threads", "Send Messages in Threads"),
    ("create_public_threads", "Create Public Threads"),
    ("manage_threads", "Manage Threads"),
    ("embed_links", "Embed Links"),
    ("read_message_history", "Read Message History"),
    ("add_reactions", "Add Reactions"),
)


def _ago(moment: float | None) -> str:
    return "never" if moment is None else f"<t:{int(moment)}:R>"


def missing_permissions(perms: discord.Permissions) -> list[str]:
    return [label for attr, label in REQUIRED_PERMISSIONS if not getattr(perms, attr)]


def report_words(report: CycleReport) -> str:
    parts = [
        f"{report.tickets_listed} ticket(s) listed",
        f"{report.new_tickets} new",
        f"{report.threads_created} thread(s) created",
        f"{report.messages_posted} message(s) posted",
        f"{report.status_changes} status change(s)",
    ]
    text = "Poll done: " + ", ".join(parts) + "."
    if report.errors:
        text += "\nProblems: " + "; ".join(report.errors[:5])
    return text


class ConnectModal(discord.ui.Modal, title="Connect a SellApp store"):
    api_key: discord.ui.TextInput[ConnectModal] = discord.ui.TextInput(
        label="SellApp API key",
        custom_id="api_key",
        placeholder="SellApp dashboard -> Settings -> API",
        max_length=MAX_KEY_LENGTH,
    )
    store: discord.ui.TextInput[ConnectModal] = discord.ui.TextInput(
        label="Store slug (blank: the key's first store)",
        custom_id="store",
        required=False,
        max_length=100,
    )

    def __init__(self, cog: SellAppCommands, opener: discord.abc.User, guild_id: int) -> None:
        # discord.py finds an open form by its custom_id alone (a random one per form),
        # so two admins connecting at once each get their own; interaction_check makes
        # sure only the admin who opened it, in that server, can submit it.
        super().__init__()
        self.cog = cog
        self.opener_id = opener.id
        self.guild_id = guild_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        perms = interaction.permissions
        if interaction.user.id != self.opener_id or interaction.guild_id != self.guild_id:
            raise NotAllowed("This form belongs to someone else; run /sellapp connect.")
        if not (perms.manage_guild or perms.administrator):
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.cog.finish_connect(interaction, self.api_key.value, self.store.value)

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception
    ) -> None:
        await reply_error(interaction, error)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class SellAppCommands(commands.GroupCog, group_name="sellapp"):
    """Link this server to a SellApp store and see how the bridge is doing."""

    staff = app_commands.Group(name="staff", description="Roles whose members answer tickets")
    orders = app_commands.Group(
        name="orders", description="Roles whose members may resend, replace and refund orders"
    )

    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        self.services = bot.services
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        perms = interaction.permissions
        if not (perms.manage_guild or perms.administrator):
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    def _guild(self, interaction: discord.Interaction) -> int:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage
        return interaction.guild_id

    async def _changed(self) -> None:
        self.bot.inbound.links_changed()

    # -- connect / disconnect ---------------------------------------------------------------

    @app_commands.command(name="connect", description="Link this server to a SellApp store")
    async def connect(self, interaction: discord.Interaction) -> None:
        guild_id = self._guild(interaction)
        if self.services.links.sealer is None:
            raise NotAllowed(
                "The bot's host hasn't set SECRET_KEY, which the bridge needs to store API "
                "keys safely. Ask them to set it (see the README), then try again."
            )
        await interaction.response.send_modal(ConnectModal(self, interaction.user, guild_id))
        log.info("guild %s: connect form shown", interaction.guild_id)

    async def finish_connect(
        self, interaction: discord.Interaction, raw_key: str, raw_store: str
    ) -> None:
        guild_id = self._guild(interaction)
        key = raw_key.strip()
        slug = raw_store.strip() or None
        if not key or any(c.isspace() for c in key):
            raise NotAllowed("That API key can't be right: it is empty or has spaces in it.")
        if slug is not None and not STORE_SLUG.match(slug):
            raise NotAllowed(
                "A store slug has only letters, digits, '-', '_' or '.', like my-store."
            )
        sealer = self.services.links.sealer
        if sealer is None:
            raise NotAllowed("The bot's host hasn't set SECRET_KEY; nothing was saved.")
        self.services.secrets.add(key)
        await interaction.response.defer(ephemeral=True, thinking=True)
        client = SellAppClient(
            self.services.http,
            base_url=str(self.services.settings.sellapp_api_url).rstrip("/"),
            api_key=SecretStr(key),
            store=slug,
        )
        # Checked before anything is saved: a bad key raises and nothing changes.
        first = await client.list_tickets(page=1, limit=1)
        open_count = 0
        async for ticket in client.iter_tickets(limit=100):
            open_count += ticket.status is TicketStatus.OPEN
        # The effective link: a guild linked by the host's settings counts too.
        before = await self.services.links.get(guild_id)
        switched = before is not None and before.api_key is not None and before.store_slug != slug
        if switched:
            # Another store: its ticket numbers mean other tickets. Start over cleanly.
            await self.services.store.tickets.forget(guild_id)
        await self.services.store.links.upsert(
            guild_id, now=time.time(), store_slug=slug, api_key_sealed=sealer.seal(key)
        )
        await self._changed()
        link = await self.services.links.get(guild_id)
        total = first.total if first.total is not None else len(first.items)
        text = (
            f"Connected to SellApp store **{slug or 'the key’s first store'}**: "
            f"{total} ticket(s), {open_count} open. The key is stored sealed."
        )
        if switched:
            text += "\nThis server was linked to another store before: its ticket threads stay, "
            text += "but they are no longer followed."
        if link is not None and link.channel_id is None:
            text += "\nNext: choose where tickets go with /sellapp channel."
        log.info("guild %s: connected a SellApp store", guild_id)
        await interaction.followup.send(text, ephemeral=True)

    @app_commands.command(name="disconnect", description="Forget this server's SellApp key")
    @app_commands.describe(forget_tickets="Also forget which thread belongs to which ticket")
    async def disconnect(
        self, interaction: discord.Interaction, forget_tickets: bool = False
    ) -> None:
        guild_id = self._guild(interaction)
        await self.services.store.links.delete(guild_id, forget_tickets=forget_tickets)
        await self._changed()
        text = "Disconnected: the SellApp key is forgotten"
        text += " and so are the ticket threads' links." if forget_tickets else "."
        if self.services.settings.discord_guild_id == guild_id:
            text += (
                "\nThis server is also linked by the host's settings (SELLAPP_API_KEY); "
                "ask the host to remove it there."
            )
        log.info("guild %s: disconnected (forget tickets: %s)", guild_id, forget_tickets)
        await interaction.response.send_message(text, ephemeral=True)

    # -- where and who ----------------------------------------------------------------------

    @app_commands.command(name="channel", description="The channel where tickets get threads")
    @app_commands.describe(channel="A text channel or a forum channel")
    async def channel(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | discord.ForumChannel,
    ) -> None:
        guild_id = self._guild(interaction)
        guild = interaction.guild
        assert guild is not None
        resolved = guild.get_channel(channel.id)
        if not isinstance(resolved, discord.TextChannel | discord.ForumChannel):
            raise NotAllowed("Pick a text channel or a forum channel of this server.")
        missing = missing_permissions(resolved.permissions_for(guild.me))
        if missing:
            raise NotAllowed(
                f"The bot is missing these permissions in {resolved.mention}: "
                f"{', '.join(missing)}. Grant them and run this again; nothing was changed."
            )
        await self.services.store.links.upsert(guild_id, now=time.time(), channel_id=resolved.id)
        await self._changed()
        text = f"Tickets will get threads in {resolved.mention}."
        if resolved.permissions_for(guild.default_role).view_channel:
            text += (
                "\n⚠️ Everyone in this server can see that channel, and tickets hold "
                "customers' emails. Consider making it visible to staff only."
            )
        await interaction.response.send_message(text, ephemeral=True)

    async def _staff_roles(self, guild_id: int) -> set[int]:
        link = await self.services.links.get(guild_id)
        return set(link.staff_role_ids) if link else set()

    @staff.command(name="add", description="Let a role's members answer tickets")
    async def staff_add(self, interaction: discord.Interaction, role: discord.Role) -> None:
        guild_id = self._guild(interaction)
        if role.guild.id != guild_id or role.is_default():
            raise NotAllowed("Pick a role of this server other than @everyone.")
        roles = await self._staff_roles(guild_id) | {role.id}
        await self.services.store.links.upsert(guild_id, now=time.time(), staff_role_ids=roles)
        await interaction.response.send_message(
            f"{role.mention} can now answer tickets.", ephemeral=True
        )

    @staff.command(name="remove", description="Stop a role's members answering tickets")
    async def staff_remove(self, interaction: discord.Interaction, role: discord.Role) -> None:
        guild_id = self._guild(interaction)
        roles = await self._staff_roles(guild_id)
        if role.id not in roles:
            raise NotAllowed(f"{role.mention} isn't a staff role.")
        roles.discard(role.id)
        await self.services.store.links.upsert(guild_id, now=time.time(), staff_role_ids=roles)
        await interaction.response.send_message(
            f"{role.mention} no longer answers tickets.", ephemeral=True
        )

    @staff.command(name="list", description="Roles whose members answer tickets")
    async def staff_list(self, interaction: discord.Interaction) -> None:
        roles = sorted(await self._staff_roles(self._guild(interaction)))
        text = ", ".join(f"<@&{r}>" for r in roles) if roles else "no staff roles yet"
        await interaction.response.send_message(
            f"Staff roles: {text}. Members with Manage Server can always answer.",
            ephemeral=True,
        )

    @orders.command(name="add", description="Let a role's members act on orders")
    async def orders_add(self, interaction: discord.Interaction, role: discord.Role) -> None:
        guild_id = self._guild(interaction)
        if role.guild.id != guild_id or role.is_default():
            raise NotAllowed("Pick a role of this server other than @everyone.")
        await self.services.store.orders.add_role(guild_id, role.id)
        await interaction.response.send_message(
            f"{role.mention} can now resend, replace and refund orders.", ephemeral=True
        )

    @orders.command(name="remove", description="Stop a role's members acting on orders")
    async def orders_remove(self, interaction: discord.Interaction, role: discord.Role) -> None:
        guild_id = self._guild(interaction)
        if not await self.services.store.orders.remove_role(guild_id, role.id):
            raise NotAllowed(f"{role.mention} isn't an orders role.")
        await interaction.response.send_message(
            f"{role.mention} can no longer act on orders.", ephemeral=True
        )

    @orders.command(name="list", description="Roles whose members may act on orders")
    async def orders_list(self, interaction: discord.Interaction) -> None:
        roles = sorted(await self.services.store.orders.roles(self._guild(interaction)))
        text = ", ".join(f"<@&{r}>" for r in roles) if roles else "no orders roles yet"
        await interaction.response.send_message(
            f"Orders roles: {text}. Members with Manage Server can always act on orders.",
            ephemeral=True,
        )

    @app_commands.command(name="notes", description="The prefix that marks an internal note")
    @app_commands.describe(prefix="Messages starting with this are never sent, e.g. //")
    async def notes(
        self, interaction: discord.Interaction, prefix: app_commands.Range[str, 1, 10]
    ) -> None:
        guild_id = self._guild(interaction)
        if not prefix.strip():
            raise NotAllowed("The prefix can't be only spaces.")
        await self.services.store.links.upsert(guild_id, now=time.time(), note_prefix=prefix)
        await interaction.response.send_message(
            f"Messages starting with `{prefix}` are internal notes now.", ephemeral=True
        )

    # -- polling ----------------------------------------------------------------------------

    @app_commands.command(name="interval", description="Seconds between two polls of SellApp")
    async def interval(
        self, interaction: discord.Interaction, seconds: app_commands.Range[int, 10, 3600]
    ) -> None:
        guild_id = self._guild(interaction)
        await self.services.store.links.upsert(
            guild_id, now=time.time(), poll_interval=float(seconds)
        )
        self.bot.inbound.poll_soon(guild_id)
        await interaction.response.send_message(
            f"The bridge now polls SellApp every {seconds} s.", ephemeral=True
        )

    @app_commands.command(name="pause", description="Stop polling SellApp for now")
    async def pause(self, interaction: discord.Interaction) -> None:
        guild_id = self._guild(interaction)
        await self.services.store.links.upsert(guild_id, now=time.time(), paused=True)
        await self._changed()
        await interaction.response.send_message(
            "Paused: no new tickets or messages come in, and staff replies wait (⏳), "
            "until /sellapp resume. Nothing is lost.",
            ephemeral=True,
        )

    @app_commands.command(name="resume", description="Start polling SellApp again")
    async def resume(self, interaction: discord.Interaction) -> None:
        guild_id = self._guild(interaction)
        await self.services.store.links.upsert(guild_id, now=time.time(), paused=False)
        await self._changed()
        await interaction.response.send_message("Resumed polling.", ephemeral=True)

    @app_commands.command(name="poll", description="Poll SellApp now and say what was found")
    async def poll(self, interaction: discord.Interaction) -> None:
        guild_id = self._guild(interaction)
        link = await self.services.links.get(guild_id)
        if link is None or link.missing:
            raise NotAllowed(
                f"Can't poll: {link.missing if link else 'no SellApp store is connected'}."
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        outcome = await self.bot.inbound.poll(link)
        if isinstance(outcome, CycleReport):
            text = report_words(outcome)
        else:
            text = f"The poll failed: {explain(outcome)}"
        await interaction.followup.send(text, ephemeral=True)

    # -- status -----------------------------------------------------------------------------

    @app_commands.command(name="status", description="How the bridge is doing in this server")
    async def status(self, interaction: discord.Interaction) -> None:
        guild_id = self._guild(interaction)
        link = await self.services.links.get(guild_id)
        if link is None:
            await interaction.response.send_message(
                "This server isn't linked to a SellApp store yet. Start with /sellapp connect.",
                ephemeral=True,
            )
            return
        store = self.services.store
        poll = await store.state.get_poll_state(guild_id)
        counts = await store.tickets.count(guild_id)
        outbox = await store.outbox.counts(guild_id)
        failing = poll is not None and poll.consecutive_failures > 0
        if link.paused:
            state = "⏸️ paused"
        elif link.missing:
            state = f"⚪ not running: {link.missing}"
        elif failing:
            state = "🔴 failing"
        else:
            state = "🟢 running"
        embed = discord.Embed(title="SellApp bridge", colour=0xEF4444 if failing else 0x22C55E)
        embed.add_field(name="Store", value=link.store_slug or "the key's first store")
        embed.add_field(
            name="Channel", value=f"<#{link.channel_id}>" if link.channel_id else "not set"
        )
        roles = ", ".join(f"<@&{r}>" for r in sorted(link.staff_role_ids)) or "none"
        embed.add_field(name="Staff roles", value=roles[:1024])
        embed.add_field(name="State", value=state, inline=False)
        last = poll.last_poll_at if poll else None
        embed.add_field(name="Last poll", value=_ago(last))
        if not link.paused and not link.missing:
            following = (last or time.time()) + link.poll_interval
            embed.add_field(name="Next poll", value=_ago(following))
        embed.add_field(name="Interval", value=f"{link.poll_interval:g} s")
        if failing and poll is not None and poll.last_error:
            embed.add_field(name="Last error", value=poll.last_error[:1024], inline=False)
        embed.add_field(name="Tickets", value=f"{counts.tracked} tracked, {counts.open} open")
        embed.add_field(
            name="Replies",
            value=f"{outbox['queued'] + outbox['sending'] + outbox['waiting']} waiting, "
            f"{outbox['refused']} refused, {outbox['delivered']} delivered",
        )
        if poll is not None and poll.last_response_ms is not None:
            embed.add_field(name="SellApp response", value=f"{poll.last_response_ms:.0f} ms")
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(SellAppCommands(bot))
