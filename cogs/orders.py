"""Orders in the thread: the order card, its buttons and forms, and the action loop.

Buttons carry fixed custom ids (``orders:resend``, ``orders:replace``, ``orders:refund``,
``orders:confirm:<id>``, ``orders:cancel:<id>``) and are handled in :meth:`Orders.on_interaction`
from the id alone, so they keep working after a restart. Every button and form checks at
run time who may act (an orders role, or Manage Server); a refused member gets an
ephemeral refusal and nothing reaches SellApp. The ``/ticket`` commands call in here.

Each action sent, audit line posted and card posted or edited is one step of the guild
guard's (:meth:`bot.shards.guard.GuildGuard.working`): none starts in a guild this
process does not work on, and a guild's claim is not taken back (its recovery) while
one runs. An action sent twice across processes is one action at SellApp (its
idempotency key).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.errors import BridgeError, GuildNotHeld
from bot.links import LinkConfig
from bot.orders.desk import OrderView, read_order, send_action, unreadable_reason
from bot.orders.engine import (
    ActionPlan,
    OrderActionRefused,
    confirmation_text,
    is_disputed,
    main_product,
    parse_selection,
    plan_refund,
    plan_replace,
    plan_resend,
    subject_of,
)
from bot.orders.render import audit_line, disputed_line, order_card, product_card
from bot.sellapp.client import SellAppClient
from bot.sellapp.models import Ticket
from bot.sellapp.orders import Order
from bot.shards.guard import MOVING
from bot.store.orders import AlreadyInFlight, OrderAction, RecentlyDone
from bot.store.records import Ticket as TicketRecord
from bot.tree import NotAllowed, refused_elsewhere, reply_error
from cogs.order_forms import (
    PREFIX,
    AmountModal,
    ReplaceModal,
    card_buttons,
    confirm_buttons,
    may_act,
)

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

LOOP_SECONDS = 5.0
CARD_REFRESH_SECONDS = 300.0
"""How often an open ticket's card is read again (a status seen at poll: DISPUTED)."""
RESEND_AGAIN_AFTER = 30.0
"""A Resend within this long of the last one is the same click twice, not a new request."""


class Orders(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        self.services = bot.services
        self._running: set[int] = set()
        self._auditing: set[int] = set()
        self._cards: dict[tuple[int, int], asyncio.Lock] = {}
        self._loop: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def cog_load(self) -> None:
        if self.services.push is not None:
            self.services.push.order_reader = self.read_hinted_order
        self._loop = asyncio.create_task(self._action_loop(), name="orders-actions")

    async def cog_unload(self) -> None:
        tasks = [t for t in (self._loop, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------- context

    async def context(
        self, interaction: discord.Interaction
    ) -> tuple[LinkConfig, TicketRecord, SellAppClient]:
        """The link and ticket of the thread the member is in, if they may act on orders."""
        if interaction.guild_id is None:
            raise NotAllowed("Orders can only be handled in a server.")
        if not await self.bot.guard.ensure(interaction.guild_id):
            raise NotAllowed(MOVING)  # a form opened before another process took over
        link = await self.services.links.get(interaction.guild_id)
        if link is None or link.api_key is None:
            raise NotAllowed("This server isn't linked to a SellApp store (/sellapp connect).")
        roles = await self.services.store.orders.roles(link.guild_id)
        if not may_act(interaction, roles):
            raise NotAllowed(
                "Only members with an orders role or Manage Server can act on orders "
                "(an admin can add one: /sellapp orders add)."
            )
        record = None
        if isinstance(interaction.channel, discord.Thread):
            record = await self.services.store.tickets.by_thread(interaction.channel.id)
        if record is None or record.guild_id != link.guild_id or record.thread_id is None:
            raise NotAllowed("This isn't a ticket thread. Use it inside a ticket's thread.")
        return link, record, self.services.links.client_for(link)

    async def order_id_of(
        self, link: LinkConfig, record: TicketRecord, client: SellAppClient
    ) -> str:
        card = await self.services.store.orders.card(link.guild_id, record.ticket_id)
        if card is not None:
            return card.order_id
        ticket = await client.get_ticket(record.ticket_id)
        subject = subject_of(ticket)
        if subject is None or subject.kind != "order":
            raise NotAllowed("This ticket isn't about an order.")
        return subject.id

    async def current_order(self, client: SellAppClient, order_id: str) -> Order:
        """The order now (one read: a button must answer within Discord's 3 seconds)."""
        try:
            return await client.get_order(order_id)
        except (BridgeError, ValueError) as exc:
            raise NotAllowed(
                f"The order can't be read right now: {unreadable_reason(exc)}"
            ) from None

    # ---------------------------------------------------------------- card

    async def show_card(
        self, link: LinkConfig, ticket_id: int, thread_id: int, order_id: str, client: SellAppClient
    ) -> OrderView:
        """Post the card once, or edit it to show the order as SellApp has it now."""
        key = (link.guild_id, ticket_id)
        lock = self._cards.setdefault(key, asyncio.Lock())
        async with lock, self.bot.guard.working(link.guild_id):
            view = await read_order(client, order_id)
            store = self.services.store.orders
            card = await store.card(link.guild_id, ticket_id)
            embed = discord.Embed.from_dict(order_card(view))
            thread = await self._thread(thread_id)
            status = view.order.status if view.order else None
            message_id = card.message_id if card else None
            if card is None or message_id is None:
                await store.record_card(
                    link.guild_id,
                    ticket_id,
                    order_id=order_id,
                    thread_id=thread_id,
                    message_id=None,
                    status=None,
                    now=time.time(),
                )
                message_id = await self._find_card(thread, order_id)
            if message_id is not None:
                try:
                    await thread.get_partial_message(message_id).edit(
                        embed=embed, view=card_buttons()
                    )
                except discord.NotFound:
                    message_id = None
            if message_id is None:
                sent = await thread.send(embed=embed, view=card_buttons())
                message_id = sent.id
            await store.record_card(
                link.guild_id,
                ticket_id,
                order_id=order_id,
                thread_id=thread_id,
                message_id=message_id,
                status=status,
                now=time.time(),
                product=main_product(view.order),
            )
            was_disputed = is_disputed(card.last_status if card else None)
            if status is not None and is_disputed(status) and not was_disputed:
                await thread.send(disputed_line(order_id))
            return view

    async def _find_card(self, thread: discord.Thread, order_id: str) -> int | None:
        """A card posted before a crash, found by its footer, so it is never posted twice."""
        me = self.bot.user
        async for message in thread.history(limit=50):
            if me is None or message.author.id != me.id:
                continue
            for embed in message.embeds:
                footer = embed.footer.text or ""
                if (
                    footer.startswith(f"SellApp order {order_id} ")
                    or footer == f"SellApp order {order_id}"
                ):
                    return message.id
        return None

    async def _thread(self, thread_id: int) -> discord.Thread:
        channel = self.bot.get_channel(thread_id) or await self.bot.fetch_channel(thread_id)
        if not isinstance(channel, discord.Thread):
            raise NotAllowed("The ticket's thread is gone.")
        return channel

    async def ticket_thread_created(self, guild_id: int, ticket: Ticket, thread_id: int) -> None:
        """Called by inbound when a ticket's thread appears: post its card in the background."""
        subject = subject_of(ticket)
        if subject is None:
            return
        link = await self.services.links.get(guild_id)
        if link is None or link.api_key is None:
            return
        task = asyncio.create_task(
            self._first_card(link, ticket.id, thread_id, subject.kind, subject.id)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _first_card(
        self, link: LinkConfig, ticket_id: int, thread_id: int, kind: str, subject_id: str
    ) -> None:
        try:
            if kind == "product":
                async with self.bot.guard.working(link.guild_id):
                    thread = await self._thread(thread_id)
                    await thread.send(embed=discord.Embed.from_dict(product_card(subject_id)))
                return
            card = await self.services.store.orders.card(link.guild_id, ticket_id)
            if card is None or card.message_id is None:  # none yet, or a crash mid-post
                client = self.services.links.client_for(link)
                await self.show_card(link, ticket_id, thread_id, subject_id, client)
        except (BridgeError, discord.HTTPException, NotAllowed) as exc:
            log.warning(
                "guild %s: ticket %s: order card not posted: %s", link.guild_id, ticket_id, exc
            )

    # ------------------------------------------------------------- actions

    async def resend(self, interaction: discord.Interaction) -> None:
        link, record, client = await self.context(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        order_id = await self.order_id_of(link, record, client)
        order = await self.current_order(client, order_id)
        plan = plan_resend(order)
        store = self.services.store.orders
        last = await store.last_done(link.guild_id, order_id, "resend")
        if (
            last is not None
            and last.finished_at
            and time.time() - last.finished_at < RESEND_AGAIN_AFTER
        ):
            raise NotAllowed(
                f"The delivery was just resent (by <@{last.actor_id}>): {last.outcome}."
            )
        action = await self._record(link, record, order_id, plan, interaction.user.id)
        # Checked again inside the claim: two clicks at once must not both pass the check above.
        since = time.time() - RESEND_AGAIN_AFTER
        await self._confirm_and_run(interaction, action, done_since=since)

    async def open_form(self, interaction: discord.Interaction, kind: str) -> None:
        link, record, client = await self.context(interaction)
        order_id = await self.order_id_of(link, record, client)
        order = await self.current_order(client, order_id)
        if kind == "refund":
            plan_refund(order, "")  # refuses at once if nothing can be refunded
            await interaction.response.send_modal(AmountModal(self, order))
        else:
            plan_replace(order, parse_selection("", order))
            await interaction.response.send_modal(ReplaceModal(self, order))

    async def propose(self, interaction: discord.Interaction, kind: str, text: str | None) -> None:
        """A refund or replacement: record it, then ask for a confirmation naming it."""
        link, record, client = await self.context(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        order_id = await self.order_id_of(link, record, client)
        order = await self.current_order(client, order_id)
        if kind == "refund":
            plan = plan_refund(order, text)
        else:
            plan = plan_replace(order, parse_selection(text, order))
        action = await self._record(link, record, order_id, plan, interaction.user.id)
        await interaction.followup.send(
            confirmation_text(order, plan), view=confirm_buttons(action.id), ephemeral=True
        )

    async def _record(
        self, link: LinkConfig, record: TicketRecord, order_id: str, plan: ActionPlan, actor: int
    ) -> OrderAction:
        assert record.thread_id is not None
        return await self.services.store.orders.propose(
            link.guild_id,
            record.ticket_id,
            thread_id=record.thread_id,
            order_id=order_id,
            kind=plan.kind,
            route=plan.route,
            body=plan.body,
            summary=plan.summary,
            actor_id=actor,
            now=time.time(),
        )

    async def confirm(self, interaction: discord.Interaction, action_id: int) -> None:
        link, record, _ = await self.context(interaction)
        action = await self.services.store.orders.get(action_id)
        if (
            action is None
            or action.guild_id != link.guild_id
            or action.ticket_id != record.ticket_id
        ):
            raise NotAllowed("That confirmation isn't for this ticket.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._confirm_and_run(interaction, action)

    async def _confirm_and_run(
        self,
        interaction: discord.Interaction,
        action: OrderAction,
        *,
        done_since: float | None = None,
    ) -> None:
        store = self.services.store.orders
        try:
            claimed = await store.claim(
                action.id, actor_id=interaction.user.id, now=time.time(), done_since=done_since
            )
        except RecentlyDone as done:
            await store.cancel(action.id, now=time.time())
            raise NotAllowed(
                f"This was just done (by <@{done.action.actor_id}>): {done.action.outcome}."
            ) from None
        except AlreadyInFlight as busy:
            await store.cancel(action.id, now=time.time())
            raise NotAllowed(
                f"<@{busy.action.actor_id}> is already doing this ({busy.action.summary}); "
                "wait for its line in the thread."
            ) from None
        if claimed is None:
            latest = await store.get(action.id)
            state = latest.state if latest else "gone"
            raise NotAllowed(f"This was already confirmed ({state}); nothing more was sent.")
        final = await self.run(claimed)
        if final.state == "sending":
            text = "SellApp hasn't answered yet; the bridge keeps asking with the same request."
        else:
            text = final.outcome or final.state
        await interaction.followup.send(text, ephemeral=True)

    async def cancel(self, interaction: discord.Interaction, action_id: int) -> None:
        link, _, _ = await self.context(interaction)
        action = await self.services.store.orders.get(action_id)
        if action is None or action.guild_id != link.guild_id:
            raise NotAllowed("That confirmation isn't for this server.")
        done = await self.services.store.orders.cancel(action_id, now=time.time())
        await interaction.response.send_message(
            "Cancelled: nothing was sent." if done else "Too late to cancel: it was confirmed.",
            ephemeral=True,
        )

    async def run(self, action: OrderAction) -> OrderAction:
        """Send a claimed action (once in this process at a time), then audit and refresh."""
        if action.id in self._running or not self.bot.guard.works_on(action.guild_id):
            return action  # running already, or the process holding the guild runs it
        self._running.add(action.id)
        try:
            link = await self.services.links.get(action.guild_id)
            if link is None or link.api_key is None:
                return action
            client = self.services.links.client_for(link)
            try:
                async with self.bot.guard.working(action.guild_id):
                    final = await send_action(self.services.store.orders, client, action)
            except GuildNotHeld:
                return action  # lost meanwhile: the guild's next holder sends it (same key)
            if final.state in ("done", "refused"):
                await self._audit(final)
                with contextlib.suppress(BridgeError, discord.HTTPException, NotAllowed):
                    await self.show_card(
                        link, final.ticket_id, final.thread_id, final.order_id, client
                    )
            return final
        finally:
            self._running.discard(action.id)

    async def _audit(self, action: OrderAction) -> None:
        """The action's public line, once: one poster at a time, and re-read before posting."""
        if action.id in self._auditing:
            return
        self._auditing.add(action.id)
        try:
            async with self.bot.guard.working(action.guild_id):
                latest = await self.services.store.orders.get(action.id)
                if latest is None or latest.audit_message_id is not None:
                    return
                thread = await self._thread(latest.thread_id)
                sent = await thread.send(audit_line(latest))
                await self.services.store.orders.record_audit(latest.id, sent.id)
        except GuildNotHeld:
            return  # the guild's next holder posts it
        finally:
            self._auditing.discard(action.id)

    async def _action_loop(self) -> None:
        """Actions left in flight (a timeout, a 409, a restart, a process killed) go again
        with their own key, in the process that holds their guild now."""
        await self.bot.wait_until_ready()
        works_on = self.bot.guard.works_on
        while True:
            try:
                for action in await self.services.store.orders.due(now=time.time()):
                    if works_on(action.guild_id):
                        await self.run(action)
                for action in await self.services.store.orders.unaudited():
                    if action.id not in self._running and works_on(action.guild_id):
                        await self._audit(action)
                await self._refresh_cards()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("order action loop failed; trying again")
            # A card retry shorter than the loop (ORDER_CARD_RETRY_SECONDS, for the tests)
            # is kept by looking as often.
            await asyncio.sleep(min(LOOP_SECONDS, self.services.settings.order_card_retry_seconds))

    async def _refresh_cards(self) -> None:
        due = await self.services.store.orders.cards_due(
            now=time.time(),
            readable_after=CARD_REFRESH_SECONDS,
            unreadable_after=self.services.settings.order_card_retry_seconds,
            guild_ids=self.bot.guard.held(),  # the limit among ours, not everyone's
        )
        for card in due:
            if not self.bot.guard.works_on(card.guild_id):
                continue
            link = await self.services.links.get(card.guild_id)
            if link is None or link.api_key is None or link.paused:
                continue
            client = self.services.links.client_for(link)
            try:
                await self.show_card(link, card.ticket_id, card.thread_id, card.order_id, client)
            except (BridgeError, discord.HTTPException, NotAllowed) as exc:
                log.info(
                    "guild %s: order card %s not refreshed: %s", card.guild_id, card.order_id, exc
                )

    async def mark_disputed(self, guild_id: int, order_id: str) -> int:
        """An ``order.disputed`` hint: if SellApp (read once now; the hint's content is never
        trusted) says the order is disputed, refresh each of its cards not yet showing it
        (the card then shows DISPUTED and the thread is told, once). An order no card
        refers to costs no read. Returns how many cards were marked."""
        if not self.bot.guard.works_on(guild_id):
            return 0  # the holder's 5-minute card refresh reads it
        link = await self.services.links.get(guild_id)
        if link is None or link.api_key is None or link.paused:
            return 0
        cards = await self.services.store.orders.cards_of_order(guild_id, order_id)
        unmarked = [c for c in cards if c.message_id is not None and not is_disputed(c.last_status)]
        if not unmarked:
            return 0
        client = self.services.links.client_for(link)
        order = await client.get_order(order_id)
        if not is_disputed(order.status):
            return 0
        for card in unmarked:
            await self.show_card(link, card.ticket_id, card.thread_id, card.order_id, client)
        return len(unmarked)

    async def read_hinted_order(self, guild_id: int, order_id: str) -> None:
        """The push hub's ``order_reader`` (``bot.push.hub``): never raises."""
        try:
            marked = await self.mark_disputed(guild_id, order_id)
        except (BridgeError, ValueError, discord.HTTPException, NotAllowed) as exc:
            log.warning("guild %s: hinted order not read: %s", guild_id, exc)
            return
        log.info(
            "guild %s: dispute hint for order %s: %d card(s) marked", guild_id, order_id, marked
        )

    # ------------------------------------------------------------- routing

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is not discord.InteractionType.component:
            return
        data = interaction.data
        custom_id = str(data.get("custom_id", "")) if data is not None else ""
        if not custom_id.startswith(PREFIX):
            return
        what, _, arg = custom_id.removeprefix(PREFIX).partition(":")
        if await refused_elsewhere(interaction):
            return
        try:
            if what == "resend":
                await self.resend(interaction)
            elif what in ("refund", "replace"):
                await self.open_form(interaction, what)
            elif what == "confirm" and arg.isdigit():
                await self.confirm(interaction, int(arg))
            elif what == "cancel" and arg.isdigit():
                await self.cancel(interaction, int(arg))
        except (BridgeError, NotAllowed, OrderActionRefused) as exc:
            await reply_error(interaction, exc)
        except Exception as exc:  # one handler, as for commands: logged with a reference
            await reply_error(interaction, exc)


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(Orders(bot))
