"""The triage loop's work for one guild: decide (pure rules), then act through a port.

Each pass: (1) every open ticket's thread is brought to show its owner and waiting
state (the Claim button, the forum tags) and that is recorded, so a restart redoes only
what was not shown; (2) each open ticket awaiting staff past its SLA (support minutes)
gets its reminder; (3) the daily digest goes out once its hour has come. Every ping is a
``triage_pings`` row committed before the post: at most once, also across restarts.
A row left pending (the process died between the row and the post) is settled by
:meth:`TriageEngine.recover`, run each time this process takes the guild's claim (at
start, or from a process that was killed): the channel says whether the post went out;
only if not is it sent. Never imports discord.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.errors import DiscordSideError, GuildNotHeld, ThreadGone, ThreadUnusable
from bot.inbound.render import Post
from bot.store import Store
from bot.store.triage import TriageSettings, reminder_subject
from bot.triage.digest import digest_due, digest_text
from bot.triage.posts import PostTo, as_post, reminder_post, send_once
from bot.triage.queue import QueueItem
from bot.triage.reminders import MINUTE_SECONDS, due_levels, target
from bot.triage.waiting import WaitingFor

log = logging.getLogger(__name__)

HOLDER_CLOCK_AHEAD = 3600.0
"""At a claim, pending rows up to this far in our future are a dead holder's too (its
machine's clock may be ahead of ours)."""


class TriagePort(Protocol):
    async def show(
        self, thread_id: int, ticket_id: int, owner_id: int | None, waiting: WaitingFor | None
    ) -> None: ...

    async def post(self, channel_id: int, post: Post) -> int: ...

    async def find_post(self, channel_id: int, content: str) -> int | None:
        """Our recent message in the channel with exactly this content, if any."""
        ...


async def queue_items(store: Store, guild_id: int) -> list[QueueItem]:
    """Every ticket of the guild with its owner and waiting state."""
    triage = {t.ticket_id: t for t in await store.triage.all(guild_id)}
    items = []
    for record in await store.tickets.all(guild_id):
        t = triage.get(record.ticket_id)
        waiting = t.waiting if t is not None else None
        items.append(
            QueueItem(
                record.ticket_id,
                record.thread_id,
                record.title,
                record.is_open,
                t.owner_id if t is not None else None,
                waiting.waiting_for if waiting is not None else None,
                waiting.since if waiting is not None else None,
            )
        )
    return items


class TriageEngine:
    def __init__(
        self,
        store: Store,
        port: TriagePort,
        *,
        clock: Callable[[], float] = time.time,
        minute_seconds: float = MINUTE_SECONDS,
        works_on: Callable[[int], bool] = lambda guild_id: True,
    ) -> None:
        """``works_on``: whether this process works on a guild now
        (:mod:`bot.shards.guard`), asked again right before each ping is posted."""
        self._store = store
        self._port = port
        self._clock = clock
        self._minute = minute_seconds
        self._works_on = works_on
        self._started = clock()
        self._claimed_at: dict[int, float] = {}
        """Guild -> when :meth:`recover` ran for it: pending rows from before are a dead
        run's; later ones may be this process's own, still in flight."""

    async def run_guild(self, guild_id: int) -> None:
        settings = await self._store.triage.settings(guild_id)
        # What the claim's recovery could not settle (Discord failed then), or, without
        # one (a single process in the tests), what an earlier run left.
        await self._settle(guild_id, before=self._claimed_at.get(guild_id, self._started))
        await self.show_all(guild_id)
        await self.remind(settings)
        await self.digest(settings)

    async def recover(self, guild_id: int) -> None:
        """This process just took ``guild_id``'s claim (the guard runs this only while
        none of this process's own steps is in flight there): every ping still pending
        was left by a run that died, this process's earlier one or the killed holder's,
        however late it recorded it. A Discord failure leaves the rest to the next pass
        (never blocks the guild's other work)."""
        now = self._clock()
        self._claimed_at[guild_id] = now
        try:
            await self._settle(guild_id, before=now + HOLDER_CLOCK_AHEAD)
        except DiscordSideError as exc:
            log.warning("guild %s: pending pings not settled yet: %s", guild_id, exc)

    async def _settle(self, guild_id: int, *, before: float) -> None:
        """Pings recorded before ``before`` but never confirmed: the channel's recent
        messages say whether the post went out; only if not is it sent."""
        for pending in await self._store.triage.pending(guild_id, before=before):
            ping = pending.ping
            try:
                found = await self._port.find_post(ping.channel_id, ping.content)
                if found is None:
                    found = await self._post_to(guild_id)(ping.channel_id, as_post(ping))
                    log.info("guild %s: %s ping sent after a restart", guild_id, pending.kind)
            except (ThreadGone, ThreadUnusable) as exc:
                log.info("guild %s: %s ping given up: %s", guild_id, pending.kind, exc)
                found = 0  # nowhere to post it: settled, never retried
            await self._store.triage.ping_sent(
                guild_id, pending.kind, pending.subject, found, now=self._clock()
            )

    def _post_to(self, guild_id: int) -> PostTo:
        """The port's ``post``, refused (:class:`GuildNotHeld`) once the guild is lost:
        its row stays pending for the next holder's :meth:`recover`."""

        async def post(channel_id: int, post: Post) -> int:
            if not self._works_on(guild_id):
                raise GuildNotHeld(guild_id)
            return await self._port.post(channel_id, post)

        return post

    async def show_all(self, guild_id: int) -> None:
        tickets = {t.ticket_id: t for t in await self._store.tickets.all(guild_id)}
        await self._store.triage.ensure_rows(guild_id)
        for row in await self._store.triage.unshown(guild_id):
            ticket = tickets.get(row.ticket_id)
            if ticket is None or not ticket.is_open or ticket.thread_id is None:
                continue
            waiting = row.waiting.waiting_for if row.waiting is not None else None
            try:
                await self._port.show(ticket.thread_id, ticket.ticket_id, row.owner_id, waiting)
            except (ThreadGone, ThreadUnusable) as exc:
                # Not retried every pass (e.g. a thread archived for inactivity): the next
                # change of owner or waiting state tries again.
                log.info("guild %s: ticket %s: %s", guild_id, ticket.ticket_id, exc)
            await self._store.triage.mark_shown(guild_id, row.ticket_id, row.showing)

    async def remind(self, settings: TriageSettings) -> None:
        if settings.sla_minutes is None:
            return
        guild_id = settings.guild_id
        now = self._clock()
        tickets = {t.ticket_id: t for t in await self._store.tickets.all(guild_id)}
        for row in await self._store.triage.all(guild_id):
            ticket = tickets.get(row.ticket_id)
            waiting = row.waiting
            if ticket is None or not ticket.is_open or ticket.thread_id is None:
                continue
            if waiting is None or waiting.waiting_for is not WaitingFor.STAFF:
                continue
            sent = await self._store.triage.reminders_sent(guild_id, row.ticket_id, waiting.since)
            for level in due_levels(
                now,
                settings.hours,
                waiting.since,
                settings.sla_minutes,
                sent=sent,
                minute_seconds=self._minute,
            ):
                who = target(level, owner_id=row.owner_id, notify_role_id=settings.notify_role_id)
                subject = reminder_subject(row.ticket_id, waiting.since, level)
                post = reminder_post(row.ticket_id, level, who, waiting.since)
                try:
                    posted = await send_once(
                        self._store,
                        self._post_to(guild_id),
                        guild_id=guild_id,
                        kind="reminder",
                        subject=subject,
                        channel_id=ticket.thread_id,
                        post=post,
                        now=now,
                    )
                except (ThreadGone, ThreadUnusable) as exc:
                    log.info("guild %s: reminder not sent: %s", guild_id, exc)
                    continue
                if posted:
                    log.info(
                        "guild %s: ticket %s: reminder %d sent", guild_id, row.ticket_id, level
                    )

    async def digest(self, settings: TriageSettings) -> None:
        if settings.digest_channel_id is None or settings.digest_hour is None:
            return
        now = self._clock()
        day = digest_due(now, settings.timezone, settings.digest_hour)
        if day is None:
            return
        guild_id = settings.guild_id
        if await self._store.triage.ping_known(guild_id, "digest", day):
            return
        zone = ZoneInfo(settings.timezone)
        today = datetime.fromisoformat(day).replace(tzinfo=zone)
        yesterday = (today - timedelta(days=1)).timestamp()
        reminders = await self._store.triage.pings_between(
            guild_id, "reminder", yesterday, today.timestamp()
        )
        text = digest_text(await queue_items(self._store, guild_id), reminders_yesterday=reminders)
        await send_once(
            self._store,
            self._post_to(guild_id),
            guild_id=guild_id,
            kind="digest",
            subject=day,
            channel_id=settings.digest_channel_id,
            post=Post(content=text),
            now=now,
        )
