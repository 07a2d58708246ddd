"""Inbound: what changed at SellApp -> what to do in Discord.

The engine never imports discord. It reads SellApp through a :class:`TicketSource` (the
SellApp client) and acts on Discord through a :class:`ThreadPort` (the Discord adapter),
so every rule below is tested on plain data with fakes.

**Deciding what a cycle does** (:func:`decide`, pure). One cycle lists every ticket of
the store (``limit=100``, every page; order-agnostic: tickets are matched by id). For
each listed ticket, against what the store recorded:

* unknown ticket: recorded. On the guild's *first link* (nothing recorded yet) a CLOSED
  ticket is only recorded; everything else gets a thread and its whole history. A first
  link that a crash interrupted is still a first link when the next cycle finishes it
  (the store's meta key ``inbound.first_link.<guild>`` says ``running`` until it is done).
* its listing changed (status, title or ``updated_at``): messages are read; a status
  change is applied to the thread; a ticket without a thread (closed at first link) gets
  one now.
* an OPEN ticket whose listing did not change is checked when it is *due*: right after
  any change every cycle, then each quiet check doubles the wait (``interval * 2**n``)
  up to :data:`QUIET_CAP_INTERVALS` intervals (and at most :data:`QUIET_CAP_SECONDS`);
  any change resets it. SellApp documents no link between a new message and a ticket's
  ``updated_at``, so quiet open tickets must still be looked at; closed ones are not.
* a CLOSED ticket whose listing did not change costs nothing.
* a ticket with a post whose outcome is unknown (a crash came between) is re-checked.

**Reading messages** (:meth:`InboundSync._new_messages`). Reading starts at the page
that held the newest message last time (``messages_page``), not page 1, and is verified
by ids: if that page starts past the last message handled, the previous page is read
too; if a page comes back newest-first (ids descending) the walk restarts from page 1
in that order; and if ``meta.total`` says there are more messages than were found plus
those already handled, every page is read. Whatever the order, messages are posted in
ascending id.

**Posting exactly once.** For each SellApp message, in ascending id:

1. ``record_post_intent`` commits a ``pending`` row *before* anything is sent.
2. Each Discord message posted carries the marker ``SellApp message <id> · part i of n``
   in its embed footer (:mod:`bot.render`).
3. ``record_posted`` stores the Discord ids and advances the ticket's cursor, in one
   transaction.

If the process dies between 1 and 3, the row stays ``pending`` and the cursor does not
move, so the next cycle meets the message again, reads the thread's recent history,
adopts every part that carries its marker, posts only the parts that are missing, and
finishes step 3. A message is therefore posted at most once and, as long as SellApp
still lists it, eventually at least once. A thread created just before a crash is found
again by name (``#<id> · ``) instead of being created twice.

STORE messages that are this bridge's own replies are recorded as ``outbound`` by the
relay and never echoed. While one of a ticket's replies is being sent (outbox state
``sending``), an unknown STORE message of that ticket may be that very reply, so the
ticket's walk stops there until the relay has recorded the outcome.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from bot.errors import SellAppError, SellAppNotFound, ThreadGone
from bot.models import Author, Page, Ticket, TicketMessage, TicketStatus
from bot.records import MessageRecord
from bot.records import Ticket as TicketRecord
from bot.render import Post, message_posts, thread_name, ticket_post
from bot.store import Store

log = logging.getLogger(__name__)

MESSAGES_PER_PAGE = 100
FIRST_LINK_KEY = "inbound.first_link.{guild_id}"
QUIET_CAP_INTERVALS = 16
QUIET_CAP_SECONDS = 900.0
HISTORY_SCAN = 100


class TicketSource(Protocol):
    """What the engine needs of a SellApp client."""

    def iter_tickets(self, limit: int = 100) -> AsyncIterator[Ticket]: ...

    async def list_messages(
        self, ticket_id: int, page: int = 1, limit: int = 100
    ) -> Page[TicketMessage]: ...


class ThreadPort(Protocol):
    """What the engine needs of Discord. Raises :class:`bot.errors.ThreadGone` for a
    deleted thread and :class:`bot.errors.ChannelUnusable` for a channel it can't use."""

    async def find_thread(self, channel_id: int, ticket_id: int) -> int | None: ...

    async def create_thread(self, channel_id: int, name: str, starter: Post) -> int: ...

    async def post(self, thread_id: int, post: Post) -> int: ...

    async def set_closed(self, thread_id: int, *, closed: bool) -> None: ...

    async def recent_markers(self, thread_id: int, limit: int) -> dict[tuple[int, int], int]:
        """Our posts among the thread's last ``limit`` messages: (message id, part) -> id."""
        ...


@dataclass(frozen=True, slots=True)
class Decision:
    """What one cycle does with one listed ticket."""

    ticket: Ticket
    new: bool
    needs_thread: bool
    read_messages: bool
    status_changed: bool

    @property
    def idle(self) -> bool:
        return not (self.new or self.needs_thread or self.read_messages or self.status_changed)


@dataclass(slots=True)
class CycleReport:
    """What a cycle found and did; shown by ``/sellapp poll`` and logged."""

    tickets_listed: int = 0
    new_tickets: int = 0
    tickets_read: int = 0
    threads_created: int = 0
    messages_posted: int = 0
    status_changes: int = 0
    errors: list[str] = field(default_factory=list)


def listing_changed(ticket: Ticket, record: TicketRecord) -> bool:
    return (
        record.status != ticket.status.value
        or record.title != ticket.title
        or record.sellapp_updated_at != ticket.updated_at.isoformat()
    )


def decide(
    ticket: Ticket,
    record: TicketRecord | None,
    *,
    now: float,
    first_link: bool,
    has_pending: bool,
) -> Decision:
    """The rule of the module docstring for one ticket. Pure."""
    is_open = ticket.status is TicketStatus.OPEN
    if record is None:
        wanted = is_open or not first_link
        return Decision(ticket, True, wanted, wanted, False)
    changed = listing_changed(ticket, record)
    needs_thread = record.thread_id is None and (changed or is_open or has_pending)
    read = needs_thread or changed or has_pending or (is_open and record.next_check_at <= now)
    status_changed = record.status != ticket.status.value and record.thread_id is not None
    return Decision(ticket, False, needs_thread, read, status_changed)


def next_check(*, now: float, interval: float, quiet_checks: int) -> float:
    """When a quiet open ticket is due again: doubling waits, capped."""
    cap = min(interval * QUIET_CAP_INTERVALS, max(QUIET_CAP_SECONDS, interval))
    return now + min(interval * float(1 << min(quiet_checks, 30)), cap)


def _is_descending(ids: list[int]) -> bool:
    return len(ids) >= 2 and all(a > b for a, b in itertools.pairwise(ids))


@dataclass(slots=True)
class _Found:
    messages: list[TicketMessage]
    page_hint: int


class InboundSync:
    """Runs inbound cycles for one guild at a time. Owns no resources."""

    def __init__(
        self,
        store: Store,
        threads: ThreadPort,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._threads = threads
        self._clock = clock

    async def run_cycle(
        self,
        guild_id: int,
        channel_id: int,
        source: TicketSource,
        *,
        interval: float,
    ) -> CycleReport:
        """List the store's tickets and bring every thread up to date.

        SellApp errors while listing propagate (the cycle failed); Discord's
        :class:`ChannelUnusable` propagates too (nothing can be posted in this guild).
        A failure reading one ticket's messages is reported and the others go on."""
        report = CycleReport()
        listed: dict[int, Ticket] = {}
        async for ticket in source.iter_tickets(limit=100):
            listed[ticket.id] = ticket
        report.tickets_listed = len(listed)
        recorded = {t.ticket_id: t for t in await self._store.list_tickets(guild_id)}
        first_link_key = FIRST_LINK_KEY.format(guild_id=guild_id)
        first_link = not recorded or await self._store.get_meta(first_link_key) == "running"
        if first_link and listed:
            # Survives a crash mid-way, so the next cycle still only records closed tickets.
            await self._store.set_meta(first_link_key, "running")
        pending = {m.ticket_id for m in await self._store.pending_posts(guild_id)}
        now = self._clock()
        # Oldest first, so a first link fills the channel in the order tickets came in.
        for ticket_id in sorted(listed):
            decision = decide(
                listed[ticket_id],
                recorded.get(ticket_id),
                now=now,
                first_link=first_link,
                has_pending=ticket_id in pending,
            )
            if decision.idle:
                continue
            try:
                await self._apply(
                    guild_id=guild_id,
                    channel_id=channel_id,
                    source=source,
                    decision=decision,
                    interval=interval,
                    report=report,
                )
            except SellAppNotFound:
                report.errors.append(f"ticket {ticket_id} vanished at SellApp")
            except SellAppError as exc:
                if not exc.retryable:
                    raise
                report.errors.append(f"ticket {ticket_id}: {exc.message}")
        if first_link and listed:
            await self._store.set_meta(first_link_key, "done")
        return report

    async def sync_ticket(
        self,
        guild_id: int,
        channel_id: int,
        source: TicketSource,
        ticket: Ticket,
        *,
        interval: float,
    ) -> CycleReport:
        """Bring one ticket's thread up to date now (``/ticket resync``, ``open``, ``close``).

        Unlike a cycle it always reads the ticket's messages, gives it a thread whatever
        its status, and applies the status SellApp gave."""
        report = CycleReport(tickets_listed=1)
        record = await self._store.get_ticket(guild_id, ticket.id)
        decision = Decision(
            ticket,
            new=record is None,
            needs_thread=record is None or record.thread_id is None,
            read_messages=True,
            status_changed=record is not None
            and record.thread_id is not None
            and record.status != ticket.status.value,
        )
        await self._apply(
            guild_id=guild_id,
            channel_id=channel_id,
            source=source,
            decision=decision,
            interval=interval,
            report=report,
        )
        return report

    async def _apply(
        self,
        *,
        guild_id: int,
        channel_id: int,
        source: TicketSource,
        decision: Decision,
        interval: float,
        report: CycleReport,
    ) -> None:
        ticket = decision.ticket
        now = self._clock()
        if decision.new:
            report.new_tickets += 1
            if decision.needs_thread:
                # Recorded as an open thread-to-be; the real listing is written at the end,
                # so a crash before then makes the next cycle finish the job.
                await self._store.record_ticket(
                    guild_id,
                    ticket.id,
                    status=TicketStatus.OPEN.value,
                    title=ticket.title,
                    sellapp_updated_at=None,
                    now=now,
                )
            else:
                await self._record_listing(guild_id, ticket, now=now, next_check_at=float("inf"))
                return
        record = await self._store.get_ticket(guild_id, ticket.id)
        assert record is not None
        try:
            found = await self._sync_thread(
                guild_id=guild_id,
                channel_id=channel_id,
                source=source,
                decision=decision,
                record=record,
                report=report,
            )
        except ThreadGone:
            log.warning(
                "guild %s: thread of ticket %s was deleted; recreating it with its history",
                guild_id,
                ticket.id,
            )
            await self._store.reset_ticket_thread(guild_id, ticket.id, now=self._clock())
            record = await self._store.get_ticket(guild_id, ticket.id)
            assert record is not None
            recreate = Decision(ticket, False, True, True, False)
            found = await self._sync_thread(
                guild_id=guild_id,
                channel_id=channel_id,
                source=source,
                decision=recreate,
                record=record,
                report=report,
            )
        await self._finish(
            guild_id=guild_id,
            ticket=ticket,
            record=record,
            found_something=found,
            decision=decision,
            interval=interval,
        )

    async def _sync_thread(
        self,
        *,
        guild_id: int,
        channel_id: int,
        source: TicketSource,
        decision: Decision,
        record: TicketRecord,
        report: CycleReport,
    ) -> bool:
        """Create the thread if needed, post what's new, apply the status. Returns whether
        anything new was found."""
        ticket = decision.ticket
        thread_id = record.thread_id
        thread_closed = record.status == TicketStatus.CLOSED.value and thread_id is not None
        if thread_id is None:
            thread_id, created = await self._ensure_thread(guild_id, channel_id, ticket)
            report.threads_created += created
            thread_closed = False
        messages: list[TicketMessage] = []
        if decision.read_messages or decision.needs_thread:
            report.tickets_read += 1
            found = await self._new_messages(guild_id, source, record)
            messages = found.messages
            page_hint = found.page_hint
        else:
            page_hint = record.messages_page
        wants_closed = ticket.status is TicketStatus.CLOSED
        if messages and thread_closed:
            await self._threads.set_closed(thread_id, closed=False)
            thread_closed = False
        elif thread_closed and not wants_closed:
            await self._threads.set_closed(thread_id, closed=False)
            thread_closed = False
            report.status_changes += 1
        posted = await self._post_all(guild_id, ticket, thread_id, messages, page_hint)
        report.messages_posted += posted
        if wants_closed and not thread_closed:
            await self._threads.set_closed(thread_id, closed=True)
            if decision.status_changed:
                report.status_changes += 1
        return bool(messages) or decision.status_changed

    async def _ensure_thread(
        self, guild_id: int, channel_id: int, ticket: Ticket
    ) -> tuple[int, bool]:
        """Find the ticket's thread (created before a crash) or create it; and whether it
        was created now."""
        thread_id = await self._threads.find_thread(channel_id, ticket.id)
        created = thread_id is None
        if thread_id is None:
            thread_id = await self._threads.create_thread(
                channel_id, thread_name(ticket), ticket_post(ticket)
            )
            log.info("guild %s: ticket %s -> new thread %s", guild_id, ticket.id, thread_id)
        await self._store.set_thread(guild_id, ticket.id, thread_id, now=self._clock())
        return thread_id, created

    async def _post_all(
        self,
        guild_id: int,
        ticket: Ticket,
        thread_id: int,
        messages: list[TicketMessage],
        page_hint: int,
    ) -> int:
        posted = 0
        markers: dict[tuple[int, int], int] | None = None
        holding = {e.ticket_id for e in await self._store.entries_in_state("sending", guild_id)}
        for message in messages:
            row = await self._store.get_message(guild_id, message.id)
            if row is None:
                if message.author is Author.STORE and ticket.id in holding:
                    log.info(
                        "guild %s: ticket %s has a reply in flight; holding its messages",
                        guild_id,
                        ticket.id,
                    )
                    break
                await self._store.record_post_intent(
                    guild_id, ticket.id, message.id, now=self._clock()
                )
                ids = [
                    await self._threads.post(thread_id, p) for p in message_posts(message, ticket)
                ]
            elif row.state == "pending":
                if markers is None:
                    markers = await self._threads.recent_markers(thread_id, HISTORY_SCAN)
                ids = await self._finish_pending(thread_id, message, ticket, row, markers)
            else:
                continue
            await self._store.record_posted(
                guild_id, message.id, ids, now=self._clock(), messages_page=page_hint
            )
            posted += 1
        return posted

    async def _finish_pending(
        self,
        thread_id: int,
        message: TicketMessage,
        ticket: Ticket,
        row: MessageRecord,
        markers: dict[tuple[int, int], int],
    ) -> list[int]:
        """Adopt the parts a crashed attempt already posted; post only the missing ones."""
        posts = message_posts(message, ticket, sent_from_discord=row.direction == "outbound")
        ids = []
        for part, post in enumerate(posts, start=1):
            existing = markers.get((message.id, part))
            ids.append(
                existing if existing is not None else await self._threads.post(thread_id, post)
            )
        return ids

    async def _new_messages(
        self, guild_id: int, source: TicketSource, record: TicketRecord
    ) -> _Found:
        """Messages past the ticket's cursor, or still pending, in ascending id."""
        ticket_id = record.ticket_id
        handled = await self._store.known_message_ids(guild_id, ticket_id)
        pending = {
            m.sellapp_message_id
            for m in await self._store.pending_posts(guild_id)
            if m.ticket_id == ticket_id
        }

        def wanted(m: TicketMessage) -> bool:
            return m.id > record.last_message_id or m.id in pending

        def unhandled(m: TicketMessage) -> bool:
            # Our own replies (outbound rows) sit past the cursor without ever being
            # posted by us; they are handled, not new.
            return m.id not in handled or m.id in pending

        pages: dict[int, Page[TicketMessage]] = {}

        async def page(number: int) -> Page[TicketMessage]:
            if number not in pages:
                pages[number] = await source.list_messages(ticket_id, number, MESSAGES_PER_PAGE)
            return pages[number]

        number = max(1, record.messages_page)
        found: dict[int, TicketMessage] = {}
        total: int | None = None
        newest_first = False
        while True:
            current = await page(number)
            total = current.total if current.total is not None else total
            ids = [m.id for m in current.items]
            if _is_descending(ids):
                newest_first = True
                break
            if (
                number > 1
                and (not ids or min(ids) > record.last_message_id)
                and number - 1 not in pages
            ):
                number -= 1  # the first unseen message may sit on an earlier page
                continue
            found.update((m.id, m) for m in current.items if wanted(m))
            if not current.items or current.current_page >= current.last_page:
                break
            number = current.current_page + 1
        hint = number
        if newest_first:
            found, hint = await self._walk_newest_first(page, wanted)
        found = {i: m for i, m in found.items() if unhandled(m)}
        if not newest_first and total is not None and total > len(handled - pending) + len(found):
            # Fewer found than SellApp counts: the order is not what we assumed. Read all.
            found = {}
            number = 1
            while True:
                current = await page(number)
                found.update(
                    (m.id, m) for m in current.items if m.id not in handled or m.id in pending
                )
                if not current.items or current.current_page >= current.last_page:
                    break
                number = current.current_page + 1
            hint = number
        return _Found(sorted(found.values(), key=lambda m: m.id), hint)

    @staticmethod
    async def _walk_newest_first(
        page: Callable[[int], object], wanted: Callable[[TicketMessage], bool]
    ) -> tuple[dict[int, TicketMessage], int]:
        found: dict[int, TicketMessage] = {}
        number = 1
        while True:
            current = await page(number)  # type: ignore[misc]
            assert isinstance(current, Page)
            items: list[TicketMessage] = list(current.items)
            found.update((m.id, m) for m in items if wanted(m))
            if not items or not all(wanted(m) for m in items):
                break
            if current.current_page >= current.last_page:
                break
            number = current.current_page + 1
        return found, 1

    async def _finish(
        self,
        *,
        guild_id: int,
        ticket: Ticket,
        record: TicketRecord,
        found_something: bool,
        decision: Decision,
        interval: float,
    ) -> None:
        now = self._clock()
        fresh = await self._store.get_ticket(guild_id, ticket.id)
        assert fresh is not None
        changed = found_something or decision.new or listing_changed(ticket, record)
        quiet = 0 if changed else record.quiet_checks + 1
        if ticket.status is TicketStatus.OPEN:
            due = (
                now + interval
                if changed
                else next_check(now=now, interval=interval, quiet_checks=quiet)
            )
        else:
            due = float("inf")
        await self._store.update_sync_progress(
            guild_id,
            ticket.id,
            last_message_id=fresh.last_message_id,
            messages_page=fresh.messages_page,
            next_check_at=due,
            quiet_checks=quiet,
        )
        await self._record_listing(guild_id, ticket, now=now)

    async def _record_listing(
        self, guild_id: int, ticket: Ticket, *, now: float, next_check_at: float | None = None
    ) -> None:
        await self._store.record_ticket(
            guild_id,
            ticket.id,
            status=ticket.status.value,
            title=ticket.title,
            sellapp_updated_at=ticket.updated_at.isoformat(),
            now=now,
            next_check_at=next_check_at,
        )
