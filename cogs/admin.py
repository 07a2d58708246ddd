"""``/sellapp``: a server's admins link their store and steer the bridge. Replies are ephemeral.

Manage Server is required twice: ``default_permissions`` makes Discord hide the commands
from everyone else, and :meth:`SellAppCommands.interaction_check` refuses them at run
time in case a server's override opens them up.
"""

from __future__ import annotations

import io
import logging
import time
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands
from pydantic import SecretStr

from bot.explain import explain
from bot.inbound.engine import CycleReport
from bot.inbound.problems import summary
from bot.links.connect import (
    MAX_KEY_LENGTH,
    connected_words,
    plan_connect,
    probe_store,
    read_form,
)
from bot.links.status import bridge_state, replies_on_their_way
from bot.permissions import missing_permissions
from bot.push.engine import push_state_off
from bot.replies.signature import check_signature, signature_words
from bot.stats.chart import chart_png, scale_words
from bot.stats.compute import OrderAction as StatsOrderAction
from bot.stats.compute import compute as compute_stats
from bot.stats.report import to_csv
from bot.stats.report import words as stats_words
from bot.tree import NotAllowed, reply_error, require_held
from bot.triage.hours import BadHours, parse_hours
from bot.triage.settings_words import triage_words

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)


def _ago(moment: float | None) -> str:
    return "never" if moment is None else f"<t:{int(moment)}:R>"


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
        await require_held(interaction)
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
        form = read_form(raw_key, raw_store)
        links = self.services.links
        sealer = links.sealer
        if sealer is None:
            raise NotAllowed("The bot's host hasn't set SECRET_KEY; nothing was saved.")
        client = links.trial_client(SecretStr(form.api_key), form.store_slug)
        await interaction.response.defer(ephemeral=True, thinking=True)
        # Checked before anything is saved: a bad key raises and nothing changes.
        probe = await probe_store(client)
        plan = plan_connect(guild_id, form, await links.get(guild_id), sealer)
        await self.services.store.links.connect(
            guild_id,
            now=time.time(),
            store_slug=plan.store_slug,
            api_key_sealed=plan.api_key_sealed,
            forget_tickets=plan.forget_tickets,
        )
        await self._changed()
        link = await links.get(guild_id)
        text = connected_words(plan, probe, channel_set=link is None or link.channel_id is not None)
        log.info("guild %s: connected a SellApp store", guild_id)
        await interaction.followup.send(text, ephemeral=True)

    @app_commands.command(name="disconnect", description="Forget this server's SellApp key")
    @app_commands.describe(forget_tickets="Also forget which thread belongs to which ticket")
    async def disconnect(
        self, interaction: discord.Interaction, forget_tickets: bool = False
    ) -> None:
        guild_id = self._guild(interaction)
        push_problem = None
        if self.services.push is not None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            link = await self.services.links.get(guild_id)
            push_problem = await self.services.push.unregister(link, guild_id)
        await self.services.store.links.delete(guild_id, forget_tickets=forget_tickets)
        await self._changed()
        text = "Disconnected: the SellApp key is forgotten"
        text += " and so are the ticket threads' links." if forget_tickets else "."
        if push_problem:
            text += f"\nThe webhook at SellApp could not be deleted: {push_problem}."
        if self.services.settings.discord_guild_id == guild_id:
            text += (
                "\nThis server is also linked by the host's settings (SELLAPP_API_KEY); "
                "ask the host to remove it there."
            )
        log.info("guild %s: disconnected (forget tickets: %s)", guild_id, forget_tickets)
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
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

    # -- push -------------------------------------------------------------------------------

    @app_commands.command(name="webhook", description="The store's webhook signing secret")
    @app_commands.describe(secret="As set at SellApp; leave out or 'none' to stop checking")  # noqa: S106
    async def webhook(
        self,
        interaction: discord.Interaction,
        secret: app_commands.Range[str, 1, 500] | None = None,
    ) -> None:
        guild_id = self._guild(interaction)
        push = self.services.push
        if push is None:
            raise NotAllowed("Push is off: the bot's host hasn't set PUBLIC_URL.")
        value = (secret or "").strip()
        if value.lower() in {"", "none"}:
            await push.set_signing_secret(guild_id, None)
            text = "Webhook deliveries are no longer checked for a signature."
        else:
            self.services.secrets.add(value)
            await push.set_signing_secret(guild_id, value)
            text = (
                "Webhook deliveries must now carry a matching signature. The secret is "
                "stored sealed; the bridge never rotates it at SellApp."
            )
        await interaction.response.send_message(text, ephemeral=True)

    # -- reply tools (issue 17) -------------------------------------------------------------

    @app_commands.command(name="signature", description="End every relayed reply with a line")
    @app_commands.describe(
        template="e.g. — {staff.name}, {store} support; 'off' (the default): no signature"
    )
    async def signature(
        self, interaction: discord.Interaction, template: app_commands.Range[str, 1, 200]
    ) -> None:
        guild_id = self._guild(interaction)
        value = template.strip()
        if value.lower() == "off":
            await self.services.store.replytools.set_signature(guild_id, None, now=time.time())
            log.info("guild %s: signature off", guild_id)
            await interaction.response.send_message(signature_words(None), ephemeral=True)
            return
        problem = check_signature(value)
        if problem is not None:
            raise NotAllowed(problem)
        await self.services.store.replytools.set_signature(guild_id, value, now=time.time())
        log.info("guild %s: signature set", guild_id)
        await interaction.response.send_message(signature_words(value), ephemeral=True)

    @app_commands.command(name="stats", description="How support is doing: tickets, response times")
    @app_commands.describe(
        days="The last 7, 30 or 90 days", export="Also attach the numbers as CSV"
    )
    async def stats(
        self,
        interaction: discord.Interaction,
        days: Literal[7, 30, 90] = 7,
        export: bool = False,
    ) -> None:
        guild_id = self._guild(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        store = self.services.store
        history = await store.stats.history(guild_id)
        actions = [
            StatsOrderAction(a.kind, a.finished_at)
            for a in await store.orders.done(guild_id)
            if a.finished_at is not None
        ]
        found = compute_stats(
            history,
            now=time.time(),
            days=days,
            hours=(await store.triage.settings(guild_id)).hours,
            products=await store.orders.products(guild_id),
            order_actions=actions,
        )
        files = [discord.File(io.BytesIO(chart_png(found)), filename=f"stats-{days}d.png")]
        if export:
            data = to_csv(found).encode()
            files.append(discord.File(io.BytesIO(data), filename=f"stats-{days}d.csv"))
        log.info("guild %s: stats for %d days shown", guild_id, days)
        text = f"{stats_words(found)}\n{scale_words(found)}"
        await interaction.followup.send(text[:2000], files=files, ephemeral=True)

    # -- triage (issue 16): alerts, support hours, reminders, digest -----------------------

    @app_commands.command(name="notify", description="Ping a role once for each new ticket")
    @app_commands.describe(role="The role to ping", off="Stop the alerts")
    async def notify(
        self, interaction: discord.Interaction, role: discord.Role | None = None, off: bool = False
    ) -> None:
        guild_id = self._guild(interaction)
        if off:
            await self.services.store.triage.set_notify_role(guild_id, None)
            text = "New tickets ping nobody now."
        elif role is None or role.is_default():
            raise NotAllowed("Pick a role (not @everyone), or off:True to stop the alerts.")
        else:
            await self.services.store.triage.set_notify_role(guild_id, role.id)
            text = f"Each new ticket's thread pings {role.mention} once."
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @app_commands.command(name="hours", description="Support hours: reminders count only these")
    @app_commands.describe(
        days="e.g. mon-fri or mon,wed,fri",
        start="e.g. 09:00",
        end="e.g. 17:00 (before start: overnight)",
        timezone="e.g. Europe/Berlin",
        off="Count every minute",
    )
    async def hours(  # noqa: PLR0917 (slash command options)
        self,
        interaction: discord.Interaction,
        days: str = "mon-fri",
        start: str = "09:00",
        end: str = "17:00",
        timezone: str = "UTC",
        off: bool = False,
    ) -> None:
        guild_id = self._guild(interaction)
        if off:
            await self.services.store.triage.set_hours(guild_id, None)
            text = "No support hours: every minute counts towards a reminder."
        else:
            try:
                hours = parse_hours(days, start, end, timezone)
            except BadHours as exc:
                raise NotAllowed(f"Support hours not changed: {exc}.") from None
            await self.services.store.triage.set_hours(guild_id, hours)
            text = f"Support hours: {hours.words()}."
        self.bot.triage_wake.set()  # the triage loop shows it now
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="sla", description="Remind staff when a ticket waits this long")
    @app_commands.describe(
        minutes="Support minutes a customer may wait (1 and up)", off="No reminders"
    )
    async def sla(
        self,
        interaction: discord.Interaction,
        minutes: app_commands.Range[int, 1, 100_000] | None = None,
        off: bool = False,
    ) -> None:
        guild_id = self._guild(interaction)
        if off:
            await self.services.store.triage.set_sla(guild_id, None)
            text = "No reminders."
        elif minutes is None:
            raise NotAllowed("Give minutes (1 and up), or off:True to stop reminders.")
        else:
            await self.services.store.triage.set_sla(guild_id, minutes)
            text = (
                f"A ticket awaiting staff for {minutes} support minute(s) gets a reminder "
                f"(its owner, else the notify role); at {2 * minutes} the notify role."
            )
        self.bot.triage_wake.set()  # the triage loop shows it now
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="digest", description="A daily summary of the queue")
    @app_commands.describe(
        channel="Where it goes", hour="The hour, in the support hours' timezone", off="Stop it"
    )
    async def digest(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | None = None,
        hour: app_commands.Range[int, 0, 23] = 9,
        off: bool = False,
    ) -> None:
        guild_id = self._guild(interaction)
        if off:
            await self.services.store.triage.set_digest(guild_id, None, None)
            text = "No daily digest."
        elif channel is None:
            raise NotAllowed("Give a channel, or off:True to stop the digest.")
        else:
            await self.services.store.triage.set_digest(guild_id, channel.id, hour)
            timezone = (await self.services.store.triage.settings(guild_id)).timezone
            text = f"Each day at {hour:02d}:00 ({timezone}) a digest goes to {channel.mention}."
        self.bot.triage_wake.set()  # the triage loop shows it now
        await interaction.response.send_message(text, ephemeral=True)

    def _missing_tags(self, channel_id: int | None) -> list[str]:
        from cogs.triage import Triage  # noqa: PLC0415 (loaded after this cog)

        cog = self.bot.get_cog("Triage")
        if not isinstance(cog, Triage) or channel_id is None:
            return []
        return cog.threads.missing_tags.get(channel_id, [])

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
        problems = await store.problems.all(guild_id)
        state = bridge_state(
            paused=link.paused,
            missing=link.missing,
            consecutive_failures=poll.consecutive_failures if poll else 0,
            problem_tickets=len({p.ticket_id for p in problems}),
        )
        embed = discord.Embed(title="SellApp bridge", colour=state.colour)
        embed.add_field(name="Store", value=link.store_slug or "the key's first store")
        embed.add_field(
            name="Channel", value=f"<#{link.channel_id}>" if link.channel_id else "not set"
        )
        roles = ", ".join(f"<@&{r}>" for r in sorted(link.staff_role_ids)) or "none"
        embed.add_field(name="Staff roles", value=roles[:1024])
        embed.add_field(name="State", value=state.words, inline=False)
        last = poll.last_poll_at if poll else None
        embed.add_field(name="Last poll", value=_ago(last))
        if state.polling:
            following = (last or time.time()) + link.poll_interval
            embed.add_field(name="Next poll", value=_ago(following))
        embed.add_field(name="Interval", value=f"{link.poll_interval:g} s")
        if state.failing and poll is not None and poll.last_error:
            embed.add_field(name="Last error", value=poll.last_error[:1024], inline=False)
        if problems:
            embed.add_field(name="Problems", value=summary(problems), inline=False)
        embed.add_field(name="Tickets", value=f"{counts.tracked} tracked, {counts.open} open")
        embed.add_field(
            name="Replies",
            value=f"{replies_on_their_way(outbox)} waiting, "
            f"{outbox['refused']} refused, {outbox['delivered']} delivered",
        )
        if poll is not None and poll.last_response_ms is not None:
            embed.add_field(name="SellApp response", value=f"{poll.last_response_ms:.0f} ms")
        push = self.services.push
        push_words = (await push.status(guild_id)).words if push else push_state_off().words
        embed.add_field(name="Push", value=push_words[:1024], inline=False)
        signature = await store.replytools.signature(guild_id)
        embed.add_field(name="Signature", value=signature_words(signature), inline=False)
        snippets = len(await store.replytools.snippets(guild_id))
        embed.add_field(name="Snippets", value=f"{snippets} saved (/snippet list)")

        triage = await store.triage.settings(guild_id)
        missing = self._missing_tags(link.channel_id)
        embed.add_field(
            name="Triage", value=triage_words(triage, missing_tags=missing)[:1024], inline=False
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(SellAppCommands(bot))
