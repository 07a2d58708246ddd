"""``/snippet`` (a guild's saved replies) and ``/reply snippet:`` (send one in a ticket's
thread). Staff only: a staff role of the guild, or Manage Server, checked at run time.

``/reply`` shows an ephemeral preview with the variables filled in
(:mod:`bot.replies.preview`) and a **Send** button, off while a variable is unknown or
has no value. Send posts the text in the thread for the staff member
(:mod:`bot.replies.posts`) and queues that message in the outbox like a typed reply
(``Outbound.accept_posted``): ✅ ⏳ ❌ on it, exactly once, after a crash or a restore too.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Final

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import SellAppError
from bot.links import LinkConfig
from bot.orders.engine import subject_of
from bot.replies.facts import products_of, ticket_facts
from bot.replies.posts import post_text
from bot.replies.preview import preview
from bot.replies.template import for_discord
from bot.sellapp.client import SellAppClient
from bot.sellapp.models import Ticket
from bot.sellapp.orders import Order
from bot.store.records import Ticket as TicketRecord
from bot.tree import NotAllowed, reply_error, require_held
from cogs.tickets import is_staff

if TYPE_CHECKING:
    from bot.app import BridgeBot
    from cogs.outbound import Outbound

log = logging.getLogger(__name__)

MAX_NAME: Final = 50
MAX_BODY: Final = 1500
PREVIEW_SECONDS: Final = 600.0


def _name(raw: str) -> str:
    name = " ".join(raw.split())
    if not name:
        raise NotAllowed("A snippet needs a name.")
    return name[:MAX_NAME]


class SnippetForm(discord.ui.Modal):
    text: discord.ui.TextInput[SnippetForm] = discord.ui.TextInput(
        label="Text (variables like {customer.email})",
        custom_id="text",
        style=discord.TextStyle.paragraph,
        max_length=MAX_BODY,
    )

    def __init__(self, cog: Snippets, *, name: str, body: str | None, opener: int) -> None:
        super().__init__(title=f"Snippet: {name}"[:45])
        self.cog = cog
        self.name = name
        self.editing = body is not None
        self.opener = opener
        if body is not None:
            self.text.default = body

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        await require_held(interaction)
        if interaction.user.id != self.opener:
            raise NotAllowed("This form belongs to someone else; run /snippet again.")
        await self.cog.staff(interaction)
        return True

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.cog.save(interaction, self.name, self.text.value, editing=self.editing)

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception
    ) -> None:
        await reply_error(interaction, error)


class SendView(discord.ui.View):
    """The preview's Send button: posts the previewed text, once."""

    def __init__(self, cog: Snippets, *, opener: int, name: str, text: str, blocked: bool) -> None:
        super().__init__(timeout=PREVIEW_SECONDS)
        self.cog = cog
        self.opener = opener
        self.name = name
        self.text = text
        self.sent = False
        self.send.disabled = blocked

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        await require_held(interaction)
        if interaction.user.id != self.opener:
            raise NotAllowed("This preview belongs to someone else; run /reply yourself.")
        return True

    @discord.ui.button(label="Send", style=discord.ButtonStyle.primary)
    async def send(
        self, interaction: discord.Interaction, button: discord.ui.Button[SendView]
    ) -> None:
        if self.sent:
            raise NotAllowed("Already sent.")
        self.sent = True  # once: run /reply again if this one fails
        self.stop()
        await self.cog.send(interaction, self.name, self.text)

    async def on_error(
        self,
        interaction: discord.Interaction,
        error: Exception,
        item: discord.ui.Item[SendView],
    ) -> None:
        await reply_error(interaction, error)


@app_commands.guild_only()
class Snippets(commands.GroupCog, group_name="snippet"):
    """Saved replies of this server."""

    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        self.services = bot.services
        super().__init__()

    # --- who may ---

    async def staff(self, interaction: discord.Interaction) -> LinkConfig:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage
        link = await self.services.links.get(interaction.guild_id)
        if link is None:
            raise NotAllowed("This server isn't linked to a SellApp store (/sellapp connect).")
        if not is_staff(interaction, link):
            raise NotAllowed("Only staff can use snippets (ask an admin: /sellapp staff add).")
        return link

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        await self.staff(interaction)
        return True

    async def _names(self, interaction: discord.Interaction, current: str) -> list[str]:
        if interaction.guild_id is None:
            return []
        link = await self.services.links.get(interaction.guild_id)
        if link is None or not is_staff(interaction, link):
            return []
        wanted = current.casefold()
        found = await self.services.store.replytools.snippets(interaction.guild_id)
        return [s.name for s in found if wanted in s.name.casefold()][:25]

    async def name_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=n, value=n) for n in await self._names(interaction, current)
        ]

    # --- /snippet ---

    @app_commands.command(name="add", description="Save a reply staff can send with /reply")
    @app_commands.describe(name="A short name to find it by")
    async def add(
        self, interaction: discord.Interaction, name: app_commands.Range[str, 1, MAX_NAME]
    ) -> None:
        link = await self.staff(interaction)
        clean = _name(name)
        if await self.services.store.replytools.snippet(link.guild_id, clean) is not None:
            raise NotAllowed(f"There is a snippet `{for_discord(clean)}` already: /snippet edit.")
        form = SnippetForm(self, name=clean, body=None, opener=interaction.user.id)
        await interaction.response.send_modal(form)
        log.info("guild %s: snippet form shown", link.guild_id)

    @app_commands.command(name="edit", description="Change a snippet's text")
    @app_commands.describe(name="The snippet to change")
    async def edit(self, interaction: discord.Interaction, name: str) -> None:
        link = await self.staff(interaction)
        found = await self.services.store.replytools.snippet(link.guild_id, _name(name))
        if found is None:
            raise NotAllowed("No snippet by that name (/snippet list).")
        form = SnippetForm(self, name=found.name, body=found.body, opener=interaction.user.id)
        await interaction.response.send_modal(form)
        log.info("guild %s: snippet form shown", link.guild_id)

    @app_commands.command(name="remove", description="Delete a snippet")
    @app_commands.describe(name="The snippet to delete")
    async def remove(self, interaction: discord.Interaction, name: str) -> None:
        link = await self.staff(interaction)
        clean = _name(name)
        if not await self.services.store.replytools.remove_snippet(link.guild_id, clean):
            raise NotAllowed("No snippet by that name (/snippet list).")
        log.info("guild %s: snippet removed", link.guild_id)
        await interaction.response.send_message(
            f"Snippet `{for_discord(clean)}` removed.", ephemeral=True
        )

    @app_commands.command(name="list", description="This server's snippets")
    async def list_(self, interaction: discord.Interaction) -> None:
        link = await self.staff(interaction)
        found = await self.services.store.replytools.snippets(link.guild_id)
        if not found:
            text = "No snippets yet. Add one with /snippet add."
        else:
            lines = [f"**{len(found)} snippet(s)**; send one with /reply snippet:"]
            for s in found:
                first = " ".join(s.body.split())
                short = first if len(first) <= 80 else first[:79] + "…"
                lines.append(f"• `{for_discord(s.name)}`: {for_discord(short)}")
            text = "\n".join(lines)
            if len(text) > 2000:
                text = text[:1999] + "…"
        await interaction.response.send_message(text, ephemeral=True)

    edit.autocomplete("name")(name_choices)
    remove.autocomplete("name")(name_choices)

    async def save(
        self, interaction: discord.Interaction, name: str, body: str, *, editing: bool
    ) -> None:
        link = await self.staff(interaction)
        text = body.strip()
        if not text:
            raise NotAllowed("A snippet needs some text. Nothing was saved.")
        table = self.services.store.replytools
        by, now = interaction.user.id, time.time()
        if editing:
            saved = await table.edit_snippet(link.guild_id, name, text, by=by, now=now)
            missing = "That snippet was removed meanwhile; add it again with /snippet add."
        else:
            saved = await table.add_snippet(link.guild_id, name, text, by=by, now=now)
            missing = "A snippet by that name was added meanwhile; use /snippet edit."
        if saved is None:
            raise NotAllowed(missing)
        log.info("guild %s: snippet %s", link.guild_id, "edited" if editing else "added")
        word = "saved" if editing else "added"
        await interaction.response.send_message(
            f"Snippet `{for_discord(name)}` {word}. Send it in a ticket thread with "
            "/reply snippet:.",
            ephemeral=True,
        )

    # --- /reply ---

    async def _thread_ticket(
        self, interaction: discord.Interaction, link: LinkConfig
    ) -> tuple[discord.Thread, TicketRecord]:
        channel = interaction.channel
        record = None
        if isinstance(channel, discord.Thread):
            record = await self.services.store.tickets.by_thread(channel.id)
        if not isinstance(channel, discord.Thread) or record is None:
            raise NotAllowed("This isn't a ticket thread. Use /reply inside a ticket's thread.")
        if record.guild_id != link.guild_id:
            raise NotAllowed("This isn't a ticket thread. Use /reply inside a ticket's thread.")
        return channel, record

    def _outbound(self) -> Outbound:
        from cogs.outbound import Outbound  # noqa: PLC0415 (cog modules load in order)

        cog = self.bot.get_cog("Outbound")
        if not isinstance(cog, Outbound):
            raise RuntimeError("the outbound cog is not loaded")
        return cog

    async def reply(self, interaction: discord.Interaction, snippet: str) -> None:
        link = await self.staff(interaction)
        _, record = await self._thread_ticket(interaction, link)
        found = await self.services.store.replytools.snippet(link.guild_id, _name(snippet))
        if found is None:
            raise NotAllowed("No snippet by that name (/snippet list).")
        if link.api_key is None:
            raise NotAllowed("This server isn't linked to a SellApp store (/sellapp connect).")
        await interaction.response.defer(ephemeral=True, thinking=True)
        client = self.services.links.client_for(link)
        ticket = await client.get_ticket(record.ticket_id)
        user = interaction.user
        facts = ticket_facts(
            ticket,
            staff_name=user.display_name,
            store=link.store_slug,
            product=products_of(await _order_of(client, ticket)),
        )
        signature = await self._outbound().signature_for(user.id, record, name=user.display_name)
        shown = preview(found.name, found.body, facts, staff_id=user.id, signature=signature)
        view = SendView(
            self,
            opener=user.id,
            name=found.name,
            text=shown.filled.text,
            blocked=shown.blocked is not None,
        )
        await interaction.followup.send(shown.words, view=view, ephemeral=True)
        log.info("guild %s: ticket %s: snippet preview shown", link.guild_id, record.ticket_id)

    async def send(self, interaction: discord.Interaction, name: str, text: str) -> None:
        link = await self.staff(interaction)
        thread, record = await self._thread_ticket(interaction, link)
        await interaction.response.edit_message(
            content=f"Sending snippet `{for_discord(name)}`…", view=None
        )
        posted = await thread.send(
            post_text(interaction.user.id, name, text),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        queued = await self._outbound().accept_posted(
            posted, record, link, posted_by=interaction.user.display_name
        )
        log.info(
            "guild %s: ticket %s: snippet reply posted as message %s (%s)",
            link.guild_id,
            record.ticket_id,
            posted.id,
            "queued" if queued else "not queued",
        )
        await interaction.edit_original_response(
            content=f"Posted snippet `{for_discord(name)}` as your reply: {posted.jump_url} "
            "(✅ on it once the customer has it)."
        )


class Reply(commands.Cog):
    """``/reply``: a top-level command next to the ``/snippet`` group."""

    def __init__(self, snippets: Snippets) -> None:
        self.snippets = snippets

    @app_commands.command(name="reply", description="Send a saved reply in this ticket thread")
    @app_commands.describe(snippet="The snippet to send (previewed first)")
    @app_commands.guild_only()
    async def reply(self, interaction: discord.Interaction, snippet: str) -> None:
        await self.snippets.reply(interaction, snippet)

    @reply.autocomplete("snippet")
    async def _snippet_names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.snippets.name_choices(interaction, current)


async def setup(bot: BridgeBot) -> None:
    snippets = Snippets(bot)
    await bot.add_cog(snippets)
    await bot.add_cog(Reply(snippets))


async def _order_of(client: SellAppClient, ticket: Ticket) -> Order | None:
    """The ticket's order, for ``{product}``; None if it has none or SellApp can't say."""
    subject = subject_of(ticket)
    if subject is None or subject.kind != "order":
        return None
    try:
        return await client.get_order(subject.id)
    except (SellAppError, ValueError) as exc:
        log.info("ticket %s: order %s not read for a snippet: %s", ticket.id, subject.id, exc)
        return None
