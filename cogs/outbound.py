"""Outbound: staff replies in ticket threads -> SellApp, via :mod:`bot.outbound.engine`.

Two tasks, started in ``cog_load``, each surviving every failed iteration:

* **intake**: gateway events (messages, edits, deletes) are queued by the listeners
  without any await, and handled one at a time in arrival order, so replies to one ticket
  are queued in the order they were typed. At start, before any live event, each open
  mapped thread's history after the last message handled is read (oldest first) and put
  through the same rules: an answer typed while the bot was down still goes out. The
  database may be older than the thread (restored from a backup, or lost), so a reply
  read back this way is never queued blindly: our own ✅/❌/📝 on it, then SellApp's own
  messages, decide whether it was handled already (``OutboundRelay.accept(...,
  from_history=True)``). That check covers every message the history scan reads, also
  those before the thread's last known position and all of a thread with none. A thread
  mapped after the catch-up (found again by the poller) is read the same way within
  ``UNREAD_THREAD_CHECK_SECONDS`` (10 s).
* **delivery**: delivers due entries of the guilds this process works on (what a crash
  left unfinished is settled per guild when this process takes its claim); it
  sleeps until the next entry is due or the intake wakes it (an :class:`asyncio.Event`,
  so a reply goes out at once, not on a poll interval).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.links import LinkConfig
from bot.outbound.discord_edge import DiscordFeedback
from bot.outbound.engine import OutboundRelay, ReplyTarget
from bot.outbound.rules import Attachment, Relay, StaffMessage
from bot.replies.posts import read_post
from bot.replies.signature import signature_facts
from bot.replies.template import fill
from bot.shards.guard import GuardPass
from bot.store.records import Ticket

if TYPE_CHECKING:
    from bot.app import BridgeBot

log = logging.getLogger(__name__)

IDLE_SECONDS = 60.0
"""Longest sleep of the delivery task (a safety net; wake-ups normally come first)."""
FLUSH_SECONDS = 5.0
OVERLAP = datetime.timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class _Changed:
    channel_id: int
    message_id: int
    edited: discord.Message | None
    guild_id: int = 0


class _Wake:
    """Queued to make the intake loop look at its flags (after a new session)."""


_WAKE = _Wake()
_Event = discord.Message | _Changed | _Wake


@dataclass(slots=True)
class _Members:
    """Authors of history messages come without their roles: fetch each member once."""

    found: dict[tuple[int, int], discord.Member | None] = field(default_factory=dict)

    async def of(self, message: discord.Message) -> discord.Member | None:
        author = message.author
        if isinstance(author, discord.Member):
            return author
        guild = message.guild
        if guild is None or author.bot or message.webhook_id is not None:
            return None
        key = (guild.id, author.id)
        if key not in self.found:
            member = guild.get_member(author.id)
            if member is None:
                try:
                    member = await guild.fetch_member(author.id)
                except discord.NotFound:
                    member = None  # left the server
            self.found[key] = member
        return self.found[key]


def staff_message(
    message: discord.Message,
    member: discord.Member | None,
    *,
    me: int | None = None,
    posted_by: str | None = None,
) -> StaffMessage:
    """The plain facts :func:`bot.outbound.rules.classify` needs. ``me``: this bot's id;
    a snippet reply it posted for a staff member (:mod:`bot.replies.posts`) is theirs
    (``posted_by``: their name, when known)."""
    # Only the bot's own plain posts: interaction answers (webhook_id set) may echo input.
    ours = me is not None and message.author.id == me and message.webhook_id is None
    post = read_post(message.content) if ours else None
    if post is not None:
        return StaffMessage(
            guild_id=message.guild.id if message.guild else 0,
            channel_id=message.channel.id,
            message_id=message.id,
            author_id=post.staff_id,
            content=post.text,
            author_name=posted_by,
            posted_for=True,
            typed_at=message.created_at.timestamp(),
            our_reactions=frozenset(str(r.emoji) for r in message.reactions if r.me),
        )
    return StaffMessage(
        guild_id=message.guild.id if message.guild else 0,
        channel_id=message.channel.id,
        message_id=message.id,
        author_id=message.author.id,
        content=message.content,
        is_bot=message.author.bot,
        is_webhook=message.webhook_id is not None,
        is_system=message.is_system(),
        author_role_ids=frozenset(r.id for r in member.roles) if member else frozenset(),
        author_manages_guild=bool(member and member.guild_permissions.manage_guild),
        author_name=(member or message.author).display_name,
        attachments=tuple(Attachment(a.url, a.filename) for a in message.attachments),
        has_stickers=bool(message.stickers),
        has_embeds=bool(message.embeds),
        typed_at=message.created_at.timestamp(),
        our_reactions=frozenset(str(r.emoji) for r in message.reactions if r.me),
    )


class Outbound(commands.Cog):
    def __init__(self, bot: BridgeBot) -> None:
        self.bot = bot
        self.services = bot.services
        self._retry = self.services.settings.relay_retry_seconds
        # How often to look for mapped threads the catch-up has never read (mapped since:
        # the poller found them again on an empty or restored database, or made them new).
        self._unread_every = self.services.settings.unread_thread_check_seconds
        self.engine = OutboundRelay(
            self.services.store,
            DiscordFeedback(bot, bot.pacer),
            self._client_for,
            retry_first=self._retry,
            signer=self._signature,
            works_on=bot.guard.works_on,
            working=bot.guard.working,
        )
        self._intake: asyncio.Queue[_Event] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._catch_up_all = True
        self._catch_up_guilds: set[int] = set()
        """Guilds this process took since the last catch-up: their threads are read."""
        self._dirty: set[int] = set()
        self._unread_checked = 0.0

    async def cog_load(self) -> None:
        self.bot.guard.add_recovery(self._recover_guild)
        self.bot.guard.add_listener(self._claims_changed)
        self._tasks = [
            asyncio.create_task(self._deliver_loop(), name="outbound-delivery"),
            asyncio.create_task(self._intake_loop(), name="outbound-intake"),
        ]

    async def cog_unload(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        # Reactions already under way: let them finish before the store closes.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.engine.flush_feedback(), timeout=FLUSH_SECONDS)

    async def _recover_guild(self, guild_id: int) -> None:
        """This process just took ``guild_id`` (at start, or from a process that died):
        settle what a crash left of its replies before any of them is sent."""
        await self.engine.reconcile_at_start(guild_id)

    def _claims_changed(self, change: GuardPass) -> None:
        """Guilds taken: read their threads for replies typed meanwhile (a live message
        of a guild another process held was left to that process, and it may have died
        before reading it); then deliver what is due."""
        # Lost and taken again in one pass: still read (the loss first, then the take).
        self._catch_up_guilds -= change.released | change.lost
        if change.acquired:
            self._catch_up_guilds |= change.acquired
            self._intake.put_nowait(_WAKE)
            self._wake.set()

    async def _client_for(self, guild_id: int) -> ReplyTarget | None:
        link = await self.services.links.get(guild_id)
        if link is None or not link.runnable or link.paused:
            return None
        return self.services.links.client_for(link)

    async def _signature(self, message: StaffMessage, ticket: Ticket) -> str | None:
        return await self.signature_for(message.author_id, ticket, name=message.author_name)

    async def signature_for(
        self, author_id: int, ticket: Ticket, *, name: str | None
    ) -> str | None:
        """The guild's signature filled in for a reply of ``author_id`` (None: off).
        ``name``: how they show in the server, if known; else they are looked up."""
        template = await self.services.store.replytools.signature(ticket.guild_id)
        if template is None:
            return None
        link = await self.services.links.get(ticket.guild_id)
        if name is None:
            name = await self._member_name(ticket.guild_id, author_id)
        facts = signature_facts(
            staff_name=name,
            store=link.store_slug if link else None,
            ticket_id=ticket.ticket_id,
            ticket_title=ticket.title,
        )
        return fill(template, facts).text

    async def accept_posted(
        self, message: discord.Message, ticket: Ticket, link: LinkConfig, *, posted_by: str
    ) -> bool:
        """A snippet reply the bot just posted for a staff member (``/reply``): queue it
        like a typed reply (the live listener skips our own posts). True if queued."""
        me = self.bot.user.id if self.bot.user else None
        try:
            posted = staff_message(message, None, me=me, posted_by=posted_by)
            verdict = await self.engine.accept(posted, ticket, link)
        except Exception:
            # Posted but not queued: the thread is read again (from history, looking at
            # SellApp first) until it is, so the reply is neither lost nor sent twice.
            self._dirty.add(message.channel.id)
            self._intake.put_nowait(_WAKE)
            raise
        if isinstance(verdict, Relay):
            self._wake.set()
        return isinstance(verdict, Relay)

    async def _member_name(self, guild_id: int, member_id: int) -> str | None:
        guild = self.bot.get_guild(guild_id)
        if guild is None:
            return None
        member = guild.get_member(member_id)
        if member is None:
            try:
                member = await guild.fetch_member(member_id)
            except discord.HTTPException:
                return None  # left the server, or Discord can't say now: the fallback word
        return member.display_name

    def wake(self) -> None:
        """Deliver now (e.g. after a guild is resumed)."""
        self._wake.set()

    # --- listeners: queue only, never await ---

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        me = self.bot.user
        if me is not None and message.author.id == me.id:
            return  # our own posts: never a reply, and the bulk of thread traffic
        # A thread missing from the cache arrives as a PartialMessageable.
        if message.guild is not None and isinstance(
            message.channel, discord.Thread | discord.PartialMessageable
        ):
            self._intake.put_nowait(message)

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        if payload.guild_id is not None:
            self._intake.put_nowait(
                _Changed(payload.channel_id, payload.message_id, payload.message, payload.guild_id)
            )

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if payload.guild_id is not None:
            self._intake.put_nowait(
                _Changed(payload.channel_id, payload.message_id, None, payload.guild_id)
            )

    # --- intake ---

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        # Every new gateway session (not a resume) may have missed messages: catch up
        # before the next event (see _intake_loop).
        self._catch_up_all = True
        self._intake.put_nowait(_WAKE)

    @commands.Cog.listener()
    async def on_shard_ready(self, shard_id: int) -> None:
        # One shard's new session (after the first ready: discord.py sends on_ready
        # once for all shards): its guilds may have missed messages too.
        self._catch_up_all = True
        self._intake.put_nowait(_WAKE)

    async def _intake_loop(self) -> None:
        await self.bot.wait_until_ready()
        members = _Members()
        while True:
            await self._settle_missed(members)
            retry = self._catch_up_all or bool(self._dirty) or bool(self._catch_up_guilds)
            try:
                event = await asyncio.wait_for(
                    self._intake.get(), timeout=self._retry if retry else self._unread_every
                )
            except TimeoutError:
                continue
            if isinstance(event, _Wake):
                continue
            try:
                if isinstance(event, _Changed):
                    await self._changed(event, members)
                else:
                    await self._message(event, members)
            except Exception:
                log.exception("outbound: handling a Discord event failed; re-reading its thread")
                self._dirty.add(
                    event.channel_id if isinstance(event, _Changed) else event.channel.id
                )
            if len(members.found) > 1000:
                members.found.clear()

    async def _settle_missed(self, members: _Members) -> None:
        """Catch up (after start or a new session), and re-read threads whose event failed,
        before handling the next event, so nothing typed is skipped."""
        if self._catch_up_all:
            try:
                self._catch_up_guilds.clear()  # all of them, now
                await self._catch_up()
                self._catch_up_all = False
            except Exception:
                log.exception("outbound: catch-up failed; retrying")
        if self._catch_up_guilds:
            taken = frozenset(self._catch_up_guilds)
            try:
                await self._catch_up(only=taken)
                self._catch_up_guilds -= taken
            except Exception:
                log.exception("outbound: catch-up of the guilds just taken failed; retrying")
        now = time.monotonic()
        if not self._catch_up_all and now - self._unread_checked >= self._unread_every:
            self._unread_checked = now
            try:
                await self._read_unread(members)
            except Exception:
                log.exception("outbound: reading newly mapped threads failed; retrying")
        for thread_id in list(self._dirty):
            ticket = await self.services.store.tickets.by_thread(thread_id)
            link = await self.services.links.get(ticket.guild_id) if ticket else None
            if ticket is None or link is None or not self.bot.guard.works_on(ticket.guild_id):
                self._dirty.discard(thread_id)  # gone, or the holder's catch-up reads it
                continue
            try:
                await self._catch_up_thread(ticket, thread_id, link, members)
                self._dirty.discard(thread_id)
            except Exception:
                log.exception("outbound: re-reading thread %s failed; retrying", thread_id)

    async def _read_unread(self, members: _Members) -> None:
        """A thread mapped after the catch-up may hold replies typed while the bot was
        down: read it whole now, not at the next new gateway session."""
        for ticket in await self.services.store.tickets.threads_without_position():
            if not self.bot.guard.works_on(ticket.guild_id):
                continue
            link = await self.services.links.get(ticket.guild_id)
            if ticket.thread_id is None or link is None or not link.runnable:
                continue
            await self._catch_up_one(ticket, ticket.thread_id, link, members)

    async def _mapped(self, channel_id: int) -> tuple[Ticket, LinkConfig] | None:
        ticket = await self.services.store.tickets.by_thread(channel_id)
        if ticket is None:
            return None
        link = await self.services.links.get(ticket.guild_id)
        return None if link is None else (ticket, link)

    async def _message(self, message: discord.Message, members: _Members) -> None:
        mapped = await self._mapped(message.channel.id)
        if mapped is None:
            return
        ticket, link = mapped
        if not self.bot.guard.works_on(ticket.guild_id):
            return  # another process holds the guild: its catch-up reads the thread
        await self._accept(message, ticket, link, members, from_history=False)

    async def _accept(
        self,
        message: discord.Message,
        ticket: Ticket,
        link: LinkConfig,
        members: _Members,
        *,
        from_history: bool,
    ) -> None:
        if message.guild is None or message.guild.id != ticket.guild_id:
            return
        me = self.bot.user.id if self.bot.user else None
        verdict = await self.engine.accept(
            staff_message(message, await members.of(message), me=me),
            ticket,
            link,
            from_history=from_history,
        )
        if isinstance(verdict, Relay):
            self._wake.set()

    async def _changed(self, event: _Changed, members: _Members) -> None:
        if event.guild_id and not self.bot.guard.works_on(event.guild_id):
            return  # another process's reply (its own gateway session warns)
        edited = None
        if event.edited is not None:
            edited = staff_message(event.edited, await members.of(event.edited))
        await self.engine.changed(event.channel_id, event.message_id, edited)

    async def _catch_up(self, *, only: frozenset[int] | None = None) -> None:
        """Messages typed in open mapped threads while the bot was down (or while another
        process held the guild), in the guilds this process works on (``only``: those)."""
        members = _Members()
        for link in await self.services.links.all():
            if not link.runnable or not self.bot.guard.works_on(link.guild_id):
                continue
            if only is not None and link.guild_id not in only:
                continue
            for ticket in await self.services.store.tickets.all(link.guild_id):
                if ticket.thread_id is None or not ticket.is_open:
                    continue
                await self._catch_up_one(ticket, ticket.thread_id, link, members)

    async def _catch_up_one(
        self, ticket: Ticket, thread_id: int, link: LinkConfig, members: _Members
    ) -> None:
        try:
            await self._catch_up_thread(ticket, thread_id, link, members)
        except discord.HTTPException as exc:
            log.warning(
                "guild %s: ticket %s: could not read thread %s history: HTTP %s",
                ticket.guild_id,
                ticket.ticket_id,
                thread_id,
                exc.status,
            )

    async def _catch_up_thread(
        self, ticket: Ticket, thread_id: int, link: LinkConfig, members: _Members
    ) -> None:
        thread = self.bot.get_channel(thread_id)
        store = self.services.store
        if thread is None:
            try:
                thread = await self.bot.fetch_channel(thread_id)
            except discord.NotFound:
                thread = None
        if not isinstance(thread, discord.Thread):
            # Gone (the poller recreates it) or not a thread: nothing to read here.
            await store.state.set_last_seen_discord_message(thread_id, thread_id)
            return
        last = await store.state.get_last_seen_discord_message(thread_id)
        after = None
        if last is not None:
            # A little before the last message handled: a reply a failed or racing pass
            # skipped is queued now (queueing is idempotent; other kinds are not redone).
            since = discord.utils.snowflake_time(last) - OVERLAP
            after = discord.Object(id=discord.utils.time_snowflake(since))
        seen = 0
        async for message in thread.history(limit=None, after=after, oldest_first=True):
            await self._accept(message, ticket, link, members, from_history=True)
            seen += 1
        # Read: it has a position now, even if nothing in it moved the mark (a thread id
        # is its starter's, so the next read still starts at the top).
        await store.state.set_last_seen_discord_message(thread_id, thread_id)
        if seen:
            log.info(
                "guild %s: ticket %s: caught up on %d message(s) typed while down",
                ticket.guild_id,
                ticket.ticket_id,
                seen,
            )

    # --- delivery ---

    async def _deliver_loop(self) -> None:
        # What a crash left unfinished is settled per guild as this process takes each
        # guild's claim (_recover_guild), before the engine delivers any of its entries.
        await self.bot.wait_until_ready()
        while True:
            self._wake.clear()
            try:
                wait = await self.engine.deliver_due()
            except Exception:
                log.exception("outbound: delivery pass failed; retrying")
                wait = self._retry
            timeout = IDLE_SECONDS if wait is None else min(wait, IDLE_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)


async def setup(bot: BridgeBot) -> None:
    await bot.add_cog(Outbound(bot))
