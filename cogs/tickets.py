"""``/ticket``: staff act on the ticket of the thread they are in (or open one by id).

Staff means a member with one of the guild's staff roles, or with Manage Server. Every
command works only on this guild's own store and threads: a thread is looked up with
the guild's id, so another guild's ticket is simply "not a ticket thread" here.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.inbound.engine import CycleReport
from bot.inbound.render import ticket_info_embed
from bot.links import LinkConfig
from bot.orders.engine import subject_of
from bot.orders.render import actions_summary
from bot.outbound.closing import status_change_refusal
from bot.sellapp.client import SellAppClient
from bot.sellapp.models import Ticket, TicketStatus
from bot.store.records import Ticket as TicketRecord
from bot.tree import NotAllowed
from bot.triage.claims import claim_words, transfer_words, unclaim_words
from bot.triage.engine import queue_items
from bot.triage.find import find
from bot.triage.queue import Show, list_text, queue

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)


def is_staff(interaction: discord.Interaction, link: LinkConfig) -> bool:
    """A staff role of this guild, or Manage Server."""
    if interaction.permissions.manage_guild or interaction.permissions.administrator:
        return True
    member = interaction.user
    if not isinstance(member, discord.Member) or member.guild.id != link.guild_id:
        return False
    return any(role.id in link.staff_role_ids for role in member.roles)


@app_commands.guild_only()
class TicketCommands(commands.GroupCog, group_name="ticket"):
    """Work on a SellApp ticket from its Discord thread."""

    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        self.services = bot.services
        super().__init__()

    async def _link(self, interaction: discord.Interaction) -> LinkConfig:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage
        link = await self.services.links.get(interaction.guild_id)
        if link is None or link.api_key is None:
            raise NotAllowed("This server isn't linked to a SellApp store (/sellapp connect).")
        if not is_staff(interaction, link):
            raise NotAllowed("Only staff can use /ticket (ask an admin: /sellapp staff add).")
        return link

    async def _here(
        self, interaction: discord.Interaction
    ) -> tuple[LinkConfig, TicketRecord, SellAppClient]:
        link = await self._link(interaction)
        record = None
        if isinstance(interaction.channel, discord.Thread):
            record = await self.services.store.tickets.by_thread(interaction.channel.id)
        if record is None or record.guild_id != link.guild_id:
            raise NotAllowed("This isn't a ticket thread. Use it inside a ticket's thread.")
        return link, record, self.services.links.client_for(link)

    async def _refresh(self, link: LinkConfig, ticket: Ticket) -> CycleReport:
        """Make the thread follow what SellApp now says about ``ticket``."""
        assert link.channel_id is not None
        return await self.bot.inbound.sync_ticket(link, ticket)

    @app_commands.command(name="info", description="The ticket as SellApp has it now")
    async def info(self, interaction: discord.Interaction) -> None:
        link, record, client = await self._here(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        ticket = await client.get_ticket(record.ticket_id)
        embed = discord.Embed.from_dict(ticket_info_embed(ticket))
        actions = await self.services.store.orders.for_ticket(link.guild_id, record.ticket_id)
        if actions:
            embed.add_field(name="Order actions", value=actions_summary(actions), inline=False)
        await interaction.followup.send(embed=embed, ephemeral=True)

    async def _set_status(self, interaction: discord.Interaction, status: TicketStatus) -> None:
        link, record, client = await self._here(interaction)
        on_its_way = await self.services.store.outbox.has_reply_on_its_way(
            link.guild_id, record.ticket_id
        )
        refusal = status_change_refusal(status, reply_on_its_way=on_its_way)
        if refusal is not None:
            raise NotAllowed(refusal)
        await interaction.response.defer(ephemeral=True, thinking=True)
        ticket = await client.set_status(
            record.ticket_id, status, idempotency_key=f"discord-{interaction.id}"
        )
        log.info(
            "guild %s: ticket %s set %s by a staff member",
            link.guild_id,
            record.ticket_id,
            status.value,
        )
        word = "closed" if status is TicketStatus.CLOSED else "reopened"
        # Answer first: the thread is about to be archived and locked when closing.
        await interaction.followup.send(
            f"Ticket #{record.ticket_id} is {word} at SellApp.", ephemeral=True
        )
        await self._refresh(link, ticket)

    @app_commands.command(name="close", description="Close this ticket at SellApp")
    async def close(self, interaction: discord.Interaction) -> None:
        await self._set_status(interaction, TicketStatus.CLOSED)

    @app_commands.command(name="reopen", description="Reopen this ticket at SellApp")
    async def reopen(self, interaction: discord.Interaction) -> None:
        await self._set_status(interaction, TicketStatus.OPEN)

    @app_commands.command(name="resync", description="Re-read this ticket and post what's missing")
    async def resync(self, interaction: discord.Interaction) -> None:
        link, record, client = await self._here(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        ticket = await client.get_ticket(record.ticket_id)
        report = await self._refresh(link, ticket)
        await interaction.followup.send(
            f"Resynced ticket #{record.ticket_id}: {report.messages_posted} missing message(s) "
            "posted.",
            ephemeral=True,
        )

    @app_commands.command(name="open", description="Link to a ticket's thread, creating it")
    @app_commands.describe(ticket_id="The SellApp ticket number")
    async def open(
        self, interaction: discord.Interaction, ticket_id: app_commands.Range[int, 1]
    ) -> None:
        link = await self._link(interaction)
        if link.channel_id is None:
            raise NotAllowed("No tickets channel is set yet (/sellapp channel).")
        await interaction.response.defer(ephemeral=True, thinking=True)
        record = await self.services.store.tickets.get(link.guild_id, ticket_id)
        if record is None or record.thread_id is None:
            ticket = await self.services.links.client_for(link).get_ticket(ticket_id)
            await self._refresh(link, ticket)
            record = await self.services.store.tickets.get(link.guild_id, ticket_id)
        if record is None or record.thread_id is None:
            raise NotAllowed(f"Ticket #{ticket_id} has no thread yet; try again in a moment.")
        await interaction.followup.send(
            f"Ticket #{ticket_id}: <#{record.thread_id}>", ephemeral=True
        )

    # -- orders (cogs/orders.py does the work; these are its commands) ----------------------

    @app_commands.command(
        name="order", description="Show this ticket's order as SellApp has it now"
    )
    async def order(self, interaction: discord.Interaction) -> None:
        link, record, client = await self._here(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        ticket = await client.get_ticket(record.ticket_id)
        subject = subject_of(ticket)
        if subject is None:
            await interaction.followup.send("This ticket isn't about an order.", ephemeral=True)
            return
        if subject.kind == "product":
            await interaction.followup.send(
                f"This ticket is about product {subject.id}, not an order.", ephemeral=True
            )
            return
        assert record.thread_id is not None
        view = await self.bot.orders.show_card(
            link, record.ticket_id, record.thread_id, subject.id, client
        )
        words = view.order.status if view.order else view.reason
        await interaction.followup.send(
            f"Order #{subject.id}: {words}. The card in this thread is up to date.", ephemeral=True
        )

    @app_commands.command(name="resend", description="Resend (or retry) this order's delivery")
    async def resend(self, interaction: discord.Interaction) -> None:
        await self.bot.orders.resend(interaction)

    @app_commands.command(name="replace", description="Replace line items of this order")
    @app_commands.describe(items="Lines and quantities, e.g. 1, 2x3 (blank: every line in full)")
    async def replace(
        self, interaction: discord.Interaction, items: app_commands.Range[str, 0, 100] = ""
    ) -> None:
        await self.bot.orders.propose(interaction, "replace", items)

    @app_commands.command(name="refund", description="Refund this order (asks to confirm)")
    @app_commands.describe(amount="In the order's currency, e.g. 5.00; blank: the full balance")
    async def refund(
        self, interaction: discord.Interaction, amount: app_commands.Range[str, 0, 20] = ""
    ) -> None:
        await self.bot.orders.propose(interaction, "refund", amount)

    # --- triage (issue 16): owners, lists, find ------------------------------------------

    @app_commands.command(name="claim", description="Take this ticket: you own it")
    async def claim(self, interaction: discord.Interaction) -> None:
        link, record, _ = await self._here(interaction)
        result = await self.services.store.triage.claim(
            link.guild_id, record.ticket_id, interaction.user.id, now=time.time()
        )
        await interaction.response.send_message(
            claim_words(record.ticket_id, interaction.user.id, result), ephemeral=True
        )
        if result.taken:
            self.bot.triage_wake.set()  # the triage loop shows it now

    @app_commands.command(name="unclaim", description="Nobody owns this ticket any more")
    async def unclaim(self, interaction: discord.Interaction) -> None:
        link, record, _ = await self._here(interaction)
        previous = await self.services.store.triage.set_owner(
            link.guild_id, record.ticket_id, None, now=time.time()
        )
        await interaction.response.send_message(
            unclaim_words(record.ticket_id, interaction.user.id, previous), ephemeral=True
        )
        self.bot.triage_wake.set()  # the triage loop shows it now

    @app_commands.command(name="transfer", description="Give this ticket to another staff member")
    @app_commands.describe(member="The new owner (a staff member)")
    async def transfer(self, interaction: discord.Interaction, member: discord.Member) -> None:
        link, record, _ = await self._here(interaction)
        if member.bot or not (
            member.guild_permissions.manage_guild
            or any(role.id in link.staff_role_ids for role in member.roles)
        ):
            raise NotAllowed(f"{member.mention} isn't staff here; pick a staff member.")
        previous = await self.services.store.triage.set_owner(
            link.guild_id, record.ticket_id, member.id, now=time.time()
        )
        await interaction.response.send_message(
            transfer_words(record.ticket_id, member.id, previous),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.bot.triage_wake.set()  # the triage loop shows it now

    @app_commands.command(name="list", description="Tickets waiting, unclaimed, yours or open")
    @app_commands.describe(show="Which tickets (oldest wait first)")
    async def list_(self, interaction: discord.Interaction, show: Show) -> None:
        link = await self._link(interaction)
        items = queue(
            await queue_items(self.services.store, link.guild_id), show, me=interaction.user.id
        )
        text = list_text(items, show)
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @app_commands.command(name="find", description="Find a ticket by id, customer email or order")
    @app_commands.describe(query="A ticket id, a customer's email or an order id")
    async def find(
        self, interaction: discord.Interaction, query: app_commands.Range[str, 1, 200]
    ) -> None:
        link = await self._link(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        listing = await self.services.links.client_for(link).list_all_tickets()
        found = find(listing.items, query)
        threads = {
            t.ticket_id: t.thread_id for t in await self.services.store.tickets.all(link.guild_id)
        }
        if not found:
            text = "No ticket matches that id, email or order."
        else:
            rows = []
            for ticket in found:
                thread = threads.get(ticket.id)
                where = f"<#{thread}>" if thread is not None else "no thread (/ticket open)"
                rows.append(f"#{ticket.id} ({ticket.status.value.lower()}): {where}")
            text = "\n".join(rows)
        await interaction.followup.send(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(TicketCommands(bot))
