"""Inbound: what changed at SellApp -> what to do in Discord.

The engine never imports discord. It reads SellApp through a :class:`TicketSource` (the
SellApp client) and acts on Discord through a :class:`ThreadPort` (the Discord adapter),
so every rule below is tested on plain data with fakes.

**Deciding what a cycle does** (:func:`decide`, pure). One cycle lists every ticket of
the store (``limit=100``, every page; order-agnostic: tickets are matched by id). For
each listed ticket, against what the store recorded:

* unknown ticket: recorded. On the guild's *first link* a CLOSED ticket is only
  recorded; everything else gets a thread and its whole history. The first link lasts
  until a whole cycle has finished (``Store.first_link_done``), so neither a crash
  mid-way nor a ``/ticket open`` before the first poll ends it early; forgetting a
  guild's tickets starts a new one.
* its listing changed (status, title or ``updated_at``): messages are read; a status
  change is applied to the thread; a ticket without a thread (closed at first link) gets
  one now.
* an OPEN ticket whose listing did not change is checked when it is *due*: right after
  any change every cycle, and still after its first quiet check (a conversation often
  pauses for one cycle), then each quiet check doubles the wait (``interval * 2**n``)
  up to :data:`QUIET_CAP_INTERVALS` intervals (and at most :data:`QUIET_CAP_SECONDS`);
  any change resets it. SellApp documents no link between a new message and a ticket's
  ``updated_at``, so quiet open tickets must still be looked at; closed ones are not.
* a CLOSED ticket whose listing did not change costs nothing.
* a ticket with a post whose outcome is unknown (a crash came between) is re-checked.
* a ticket whose last attempt failed (Discord refused a step, SellApp failed reading
  it) waits until its retry is due: the waits double, capped (:mod:`bot.inbound.problems`).

**One odd ticket costs only itself.** A listed item SellApp sent in a shape the bridge
can't read is left out (the rest of the page flows); a status the bridge doesn't know is
treated as open. Those, and every per-ticket failure, are recorded as the guild's ticket
problems: logged once when they appear and once when they clear, shown in
``/sellapp status`` and counted by a metric.

**Reading messages** (:meth:`InboundSync._new_messages`). Reading starts at the page
that held the newest message last time (``messages_page``), not page 1, and is verified
by ids: if that page starts past the last message handled, the previous page is read
too; if a page comes back newest-first (ids descending) the walk restarts from page 1
in that order; and if ``meta.total`` says there are more messages than were found plus
those already handled, every page is read. Whatever the order, messages are posted in
ascending id.

**Pace.** Up to :data:`PARALLEL_TICKETS` tickets are worked on at once (each thread has
its own message rate limit, so a first link of a big store needs many in flight), while
threads are still created oldest ticket first; the Discord adapter's pacer keeps the
total under Discord's global limit.

**Posting exactly once.** For each SellApp message, in ascending id:

1. ``record_post_intent`` commits a ``pending`` row *before* anything is sent.
2. Each Discord message posted carries the marker ``SellApp message <id> · part i of n``
   in its embed footer (:mod:`bot.inbound.render`).
3. ``record_posted`` stores the Discord ids and advances the ticket's cursor, in one
   transaction.

If the process dies between 1 and 3, the row stays ``pending`` and the cursor does not
move, so the next cycle meets the message again, reads the thread's recent history,
adopts every part that carries its marker, posts only the parts that are missing, and
finishes step 3. A message is therefore posted at most once and, as long as SellApp
still lists it, eventually at least once. A thread created just before a crash is found
again by name (``#<id> · ``) instead of being created twice; a thread found that way
(also after a guild's tickets were forgotten and linked again) has its whole history
read for markers, so nothing already in it is posted again.

STORE messages that are this bridge's own replies are recorded as ``outbound`` by the
relay and never echoed. While one of a ticket's replies may have reached SellApp without
its outcome being recorded (outbox state ``sending``, or ``waiting`` after an attempt),
an unknown STORE message of that ticket may be that very reply, so the ticket's walk
stops there (it is *held*) and the ticket is read again next cycle, whatever its status,
until the relay has settled the reply.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

from bot.errors import GuildNotHeld, SellAppError, SellAppNotFound, ThreadGone, ThreadUnusable
from bot.inbound.problems import (
    BACKS_OFF,
    LISTING_KINDS,
    ProblemPlan,
    Seen,
    describe,
    listing_problems,
    settle,
    unknown_status,
    unreadable_messages,
)
from bot.inbound.reading import read_new_messages
from bot.inbound.render import Post, message_posts, thread_name, ticket_post
from bot.sellapp.models import (
    Author,
    Listing,
    Page,
    Ticket,
    TicketMessage,
    TicketStatus,
)
from bot.store import Store
from bot.store.records import Ticket as TicketRecord
from bot.store.records import TicketProblem as TicketProblemRecord
from bot.triage.posts import alert_post, owner_post, send_once
from bot.triage.waiting import next_waiting

log = logging.getLogger(__name__)

QUIET_CAP_INTERVALS = 16
QUIET_CAP_SECONDS = 900.0
HISTORY_SCAN = 100
PARALLEL_TICKETS = 48
"""Tickets worked on at once in a cycle. Each thread has its own message rate limit
(5 per 5 s), so a first link of many tickets goes as fast as the global limit allows
only with many threads in flight; the Discord adapter paces the total."""
# A thread found again by name is read whole for markers (bounded, it is rare).
ADOPTED_HISTORY_SCAN = 10_000


class TicketSource(Protocol):
    """What the engine needs of a SellApp client."""

    async def list_all_tickets(self, limit: int = 100) -> Listing[Ticket]: ...

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
    retry_at: float = 0.0,
) -> Decision:
    """The rule of the module docstring for one ticket. Pure.

    ``retry_at``: when a ticket whose last attempt failed may be tried again."""
    is_open = ticket.status is TicketStatus.OPEN
    if retry_at > now:
        return Decision(ticket, False, False, False, False)
    if record is None:
        wanted = is_open or not first_link
        return Decision(ticket, True, wanted, wanted, False)
    changed = listing_changed(ticket, record)
    needs_thread = record.thread_id is None and (changed or is_open or has_pending)
    read = needs_thread or changed or has_pending or (is_open and record.next_check_at <= now)
    status_changed = record.status != ticket.status.value and record.thread_id is not None
    return Decision(ticket, False, needs_thread, read, status_changed)


def next_check(*, now: float, interval: float, quiet_checks: int) -> float:
    """When a quiet open ticket is due again: doubling waits, capped.

    Half an interval early, so that the cycle meant to read it (cycles start one
    interval apart, each a little after its nominal time) does not miss it by a hair."""
    cap = min(interval * QUIET_CAP_INTERVALS, max(QUIET_CAP_SECONDS, interval))
    # The first quiet check costs no wait: a conversation often pauses for one cycle.
    steps = max(0, quiet_checks - 1)
    return now + min(interval * float(1 << min(steps, 30)), cap) - interval / 2


class _Turns:
    """Lets tickets create their threads in the order given, one after another, while
    the rest of their work overlaps."""

    def __init__(self, order: list[int]) -> None:
        self._done = {ticket_id: asyncio.Event() for ticket_id in order}
        self._previous = dict(zip(order[1:], order, strict=False))

    async def wait(self, ticket_id: int) -> None:
        previous = self._previous.get(ticket_id)
        if previous is not None:
            await self._done[previous].wait()

    def done(self, ticket_id: int) -> None:
        event = self._done.get(ticket_id)
        if event is not None:
            event.set()


@dataclass(slots=True)
class _Job:
    """One guild's cycle (or one-ticket sync): where it posts and what it found."""

    guild_id: int
    channel_id: int
    source: TicketSource
    interval: float
    report: CycleReport
    pending: dict[int, set[int]]
    """ticket id -> SellApp message ids whose post is not confirmed (read once a cycle)."""
    turns: _Turns = field(default_factory=lambda: _Turns([]))
    seen: list[Seen] = field(default_factory=list)
    """Per-ticket problems met while working (see :mod:`bot.inbound.problems`)."""
    worked: set[int] = field(default_factory=set)
    """Tickets worked on (so a work problem not seen again has cleared)."""
    sweep: float | None = None
    """Push is live: a quiet open ticket is read again only this often (not on a backoff)."""
    first_link: bool = False
    """The guild's first link: its tickets are not new to the team, so no alerts."""


@dataclass(slots=True)
class _Markers:
    """Our markers in a thread, read at most once per walk (None: not read yet)."""

    found: dict[tuple[int, int], int] | None


@dataclass(slots=True)
class _Outcome:
    found: bool
    """Anything new: messages, or a status change."""
    held: bool
    """The walk stopped at a message that may be our own reply in flight."""


NewThreadHook = Callable[[int, Ticket, int], Awaitable[None]]
"""``hook(guild_id, ticket, thread_id)``: a ticket's thread was created or found again."""


class InboundSync:
    """Runs inbound cycles for one guild at a time. Owns no resources."""

    def __init__(
        self,
        store: Store,
        threads: ThreadPort,
        *,
        clock: Callable[[], float] = time.time,
        parallel: int = PARALLEL_TICKETS,
        on_new_thread: NewThreadHook | None = None,
        works_on: Callable[[int], bool] = lambda guild_id: True,
    ) -> None:
        """``works_on``: whether this process works on a guild now
        (:mod:`bot.shards.guard`), asked again right before each thread or post is made:
        once the guild is lost the cycle stops there (:class:`GuildNotHeld`)."""
        self._works_on = works_on
        self._store = store
        self._threads = threads
        self._on_new_thread = on_new_thread
        self._clock = clock
        self._parallel = max(1, parallel)

    async def _job(
        self,
        guild_id: int,
        channel_id: int,
        source: TicketSource,
        interval: float,
        report: CycleReport,
        *,
        sweep: float | None = None,
    ) -> _Job:
        pending: dict[int, set[int]] = {}
        for row in await self._store.messages.pending_posts(guild_id):
            pending.setdefault(row.ticket_id, set()).add(row.sellapp_message_id)
        return _Job(guild_id, channel_id, source, interval, report, pending, sweep=sweep)

    async def run_cycle(
        self,
        guild_id: int,
        channel_id: int,
        source: TicketSource,
        *,
        interval: float,
        sweep: float | None = None,
    ) -> CycleReport:
        """List the store's tickets and bring every thread up to date.

        SellApp errors while listing propagate (the cycle failed), and so do Discord's
        :class:`ChannelUnusable` (nothing can be posted in this guild; recorded and
        logged by the caller) and :class:`DiscordUnavailable`. A failure with one ticket
        (reading its messages, or a step Discord refuses in its thread) is reported,
        recorded as a ticket problem (its retries back off) and the other tickets go on;
        so is a listed item that can't be read."""
        report = CycleReport()
        listing = await source.list_all_tickets(limit=100)
        listed: dict[int, Ticket] = {ticket.id: ticket for ticket in listing.items}
        report.tickets_listed = len(listed)
        recorded = {t.ticket_id: t for t in await self._store.tickets.all(guild_id)}
        first_link = not await self._store.state.first_link_done(guild_id)
        job = await self._job(guild_id, channel_id, source, interval, report, sweep=sweep)
        job.first_link = first_link
        job.seen.extend(listing_problems(listing))
        before = await self._store.problems.all(guild_id)
        retry_at = {p.ticket_id: p.retry_at for p in before if p.kind in BACKS_OFF}
        now = self._clock()
        work = deque(
            decision
            for ticket_id in sorted(listed)  # oldest first
            if not (
                decision := decide(
                    listed[ticket_id],
                    recorded.get(ticket_id),
                    now=now,
                    first_link=first_link,
                    has_pending=ticket_id in job.pending,
                    retry_at=retry_at.get(ticket_id, 0.0),
                )
            ).idle
        )
        job.turns = _Turns([d.ticket.id for d in work])

        async def worker() -> None:
            while work:
                await self._apply_one(job, work.popleft())

        # Several tickets at once (each thread has its own Discord rate limit), while
        # threads are still created oldest first (job.turns). A failure that stops the
        # cycle (the channel, the key) cancels the rest; what they left half-done is
        # finished next cycle, as after a crash.
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self._parallel, len(work))):
                    group.create_task(worker())
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        if first_link:
            await self._store.state.mark_first_link_done(guild_id)

        def examined(ticket_id: int, kind: str) -> bool:
            return kind in LISTING_KINDS or ticket_id in job.worked or ticket_id not in listed

        await self._settle_problems(job, before, examined)
        return report

    async def _settle_problems(
        self,
        job: _Job,
        before: list[TicketProblemRecord],
        examined: Callable[[int, str], bool],
    ) -> None:
        """Record the cycle's ticket problems; log each once as it appears and clears."""
        plan: ProblemPlan = settle(
            job.guild_id,
            before,
            job.seen,
            examined=examined,
            now=self._clock(),
            interval=job.interval,
        )
        if plan.empty:
            return
        await self._store.problems.save(
            job.guild_id, upsert=(*plan.new, *plan.repeated), clear=plan.cleared
        )
        for problem in plan.new:
            log.warning("guild %s: %s", job.guild_id, describe(problem))
        for problem in plan.cleared:
            log.info("guild %s: resolved: %s", job.guild_id, describe(problem))

    async def _apply_one(self, job: _Job, decision: Decision) -> None:
        """One ticket of a cycle: its own failures are reported, not raised."""
        ticket_id = decision.ticket.id
        job.worked.add(ticket_id)
        try:
            await self._apply(job, decision)
        except SellAppNotFound:
            job.report.errors.append(f"ticket {ticket_id} vanished at SellApp")
            job.seen.append(Seen(ticket_id, "sellapp_failed", "SellApp no longer finds it"))
        except SellAppError as exc:
            if not exc.retryable:
                raise
            job.report.errors.append(f"ticket {ticket_id}: {exc.message}")
            job.seen.append(Seen(ticket_id, "sellapp_failed", exc.message))
        except ThreadUnusable as exc:
            job.report.errors.append(f"ticket {ticket_id}: {exc.reason}")
            job.seen.append(Seen(ticket_id, "discord_refused", exc.reason))
        finally:
            job.turns.done(ticket_id)

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
        record = await self._store.tickets.get(guild_id, ticket.id)
        decision = Decision(
            ticket,
            new=record is None,
            needs_thread=record is None or record.thread_id is None,
            read_messages=True,
            status_changed=record is not None
            and record.thread_id is not None
            and record.status != ticket.status.value,
        )
        job = await self._job(guild_id, channel_id, source, interval, report)
        before = await self._store.problems.all(guild_id)
        if ticket.unknown_status is not None:
            job.seen.append(unknown_status(ticket))
        await self._apply(job, decision)
        # Done by hand and it worked: this ticket's failures have cleared.
        job.worked.add(ticket.id)
        await self._settle_problems(
            job,
            [p for p in before if p.ticket_id == ticket.id],
            lambda ticket_id, kind: ticket_id == ticket.id,
        )
        return report

    async def sync_hinted(
        self,
        guild_id: int,
        channel_id: int,
        source: TicketSource,
        ticket: Ticket,
        *,
        interval: float,
        sweep: float | None = None,
    ) -> CycleReport:
        """A push hint said ``ticket`` has news: the cycle's own rule for it, as if it
        were due now (an unknown ticket is read like a new one). Before the guild's first
        cycle has finished, nothing: that cycle reads everything anyway.

        A ticket whose failing step backs off waits out its backoff, as in a cycle (the
        hint made it due, so the first cycle after the backoff reads it); its problems are
        recorded and logged once, as a cycle does."""
        report = CycleReport(tickets_listed=1)
        if not await self._store.state.first_link_done(guild_id):
            return report
        before = [p for p in await self._store.problems.all(guild_id) if p.ticket_id == ticket.id]
        if any(p.kind in BACKS_OFF and p.retry_at > self._clock() for p in before):
            return report
        job = await self._job(guild_id, channel_id, source, interval, report, sweep=sweep)
        if ticket.unknown_status is not None:
            job.seen.append(unknown_status(ticket))
        decision = decide(
            ticket,
            await self._store.tickets.get(guild_id, ticket.id),
            now=float("inf"),  # a hint makes an open ticket due
            first_link=False,
            has_pending=ticket.id in job.pending,
        )
        if not decision.idle:
            await self._apply_one(job, decision)
        await self._settle_problems(
            job,
            before,
            lambda ticket_id, kind: (
                ticket_id == ticket.id and (kind in LISTING_KINDS or ticket_id in job.worked)
            ),
        )
        return report

    async def _apply(self, job: _Job, decision: Decision) -> None:
        ticket = decision.ticket
        now = self._clock()
        if decision.new:
            job.report.new_tickets += 1
            if not decision.needs_thread:
                await self._record_listing(
                    job.guild_id, ticket, now=now, next_check_at=float("inf")
                )
                return
            # Recorded as an open thread-to-be; the real listing is written at the end,
            # so a crash before then makes the next cycle finish the job.
            await self._store.tickets.record(
                job.guild_id,
                ticket.id,
                status=TicketStatus.OPEN.value,
                title=ticket.title,
                sellapp_updated_at=None,
                now=now,
                opened_at=_unix(ticket.created_at),
            )
        record = await self._record(job, ticket.id)
        try:
            outcome = await self._sync_thread(job, decision, record)
        except ThreadGone:
            log.warning(
                "guild %s: thread of ticket %s was deleted; recreating it with its history",
                job.guild_id,
                ticket.id,
            )
            await self._store.tickets.reset_thread(job.guild_id, ticket.id, now=self._clock())
            job.pending.pop(ticket.id, None)
            for row in await self._store.messages.pending_posts(job.guild_id):
                if row.ticket_id == ticket.id:
                    job.pending.setdefault(ticket.id, set()).add(row.sellapp_message_id)
            record = await self._record(job, ticket.id)
            recreate = Decision(ticket, False, True, True, False)
            outcome = await self._sync_thread(job, recreate, record)
        await self._finish(job, decision, record, outcome)

    async def _record(self, job: _Job, ticket_id: int) -> TicketRecord:
        record = await self._store.tickets.get(job.guild_id, ticket_id)
        if record is None:
            raise LookupError(f"ticket {ticket_id} is not recorded")
        return record

    async def _sync_thread(self, job: _Job, decision: Decision, record: TicketRecord) -> _Outcome:
        """Create the thread if needed, post what's new, apply the status."""
        ticket = decision.ticket
        thread_id = record.thread_id
        thread_closed = record.status == TicketStatus.CLOSED.value and thread_id is not None
        markers: dict[tuple[int, int], int] | None = None
        alert = thread_id is None and ticket.status is TicketStatus.OPEN and not job.first_link
        if thread_id is None:
            await job.turns.wait(ticket.id)
            thread_id, created = await self._ensure_thread(job, ticket)
            job.turns.done(ticket.id)
            job.report.threads_created += created
            thread_closed = False
            if not created:
                # Found again by name: whatever it already shows must not be posted again.
                markers = await self._threads.recent_markers(thread_id, ADOPTED_HISTORY_SCAN)
        messages: list[TicketMessage] = []
        page_hint = record.messages_page
        if decision.read_messages or decision.needs_thread:
            job.report.tickets_read += 1
            found = await read_new_messages(
                job.source.list_messages,
                record,
                handled=await self._store.messages.known_ids(job.guild_id, ticket.id),
                pending=job.pending.get(ticket.id, set()),
            )
            messages, page_hint = found.messages, found.page_hint
            if found.problems:
                job.seen.append(unreadable_messages(ticket.id, found.problems))
        wants_closed = ticket.status is TicketStatus.CLOSED
        if thread_closed and (messages or not wants_closed):
            await self._threads.set_closed(thread_id, closed=False)
            thread_closed = False
            if not wants_closed:
                job.report.status_changes += 1
        posted, held = await self._post_all(
            job,
            ticket=ticket,
            thread_id=thread_id,
            messages=messages,
            page_hint=page_hint,
            markers=markers,
        )
        job.report.messages_posted += posted
        if alert:
            await self._alert(job.guild_id, ticket.id, thread_id)
        if wants_closed and not thread_closed:
            await self._threads.set_closed(thread_id, closed=True)
            if decision.status_changed:
                job.report.status_changes += 1
        return _Outcome(found=bool(messages) or decision.status_changed, held=held)

    def _check(self, guild_id: int) -> None:
        if not self._works_on(guild_id):
            raise GuildNotHeld(guild_id)

    async def _ensure_thread(self, job: _Job, ticket: Ticket) -> tuple[int, bool]:
        """Find the ticket's thread (created before a crash) or create it; and whether it
        was created now."""
        thread_id = await self._threads.find_thread(job.channel_id, ticket.id)
        created = thread_id is None
        if thread_id is None:
            self._check(job.guild_id)
            thread_id = await self._threads.create_thread(
                job.channel_id, thread_name(ticket), ticket_post(ticket)
            )
            log.info("guild %s: ticket %s -> new thread %s", job.guild_id, ticket.id, thread_id)
        await self._store.tickets.set_thread(job.guild_id, ticket.id, thread_id, now=self._clock())
        if self._on_new_thread is not None:
            # e.g. the order card (cogs/orders.py): extra, so its failure must not stop
            # the ticket's messages (the thread is recorded; /ticket order posts a card).
            try:
                await self._on_new_thread(job.guild_id, ticket, thread_id)
            except Exception:
                log.exception(
                    "guild %s: ticket %s: the new-thread hook failed", job.guild_id, ticket.id
                )
        return thread_id, created

    async def _holding(self, guild_id: int) -> set[int]:
        """Tickets with a reply that may have reached SellApp unrecorded."""
        sending = await self._store.outbox.in_state("sending", guild_id)
        unsure = [
            *await self._store.outbox.in_state("waiting", guild_id),
            *await self._store.outbox.in_state("queued", guild_id),
        ]
        # attempts: sent before; look_first: maybe sent by a run the database forgot.
        return {e.ticket_id for e in sending} | {
            e.ticket_id for e in unsure if e.attempts or e.look_first
        }

    async def _post_all(
        self,
        job: _Job,
        *,
        ticket: Ticket,
        thread_id: int,
        messages: list[TicketMessage],
        page_hint: int,
        markers: dict[tuple[int, int], int] | None,
    ) -> tuple[int, bool]:
        """Post each message (the steps of the module docstring). Returns how many were
        posted and whether the walk was held."""
        posted = 0
        holding = await self._holding(job.guild_id) if messages else set()
        shown: list[TicketMessage] = []
        held = False
        seen = _Markers(markers)
        for message in messages:
            outcome = await self._post_one(
                job,
                ticket=ticket,
                thread_id=thread_id,
                message=message,
                page_hint=page_hint,
                holding=holding,
                markers=seen,
            )
            if outcome == "held":
                held = True
                break
            shown.append(message)
            posted += outcome == "posted"
        await self._track_waiting(job.guild_id, ticket.id, shown)
        return posted, held

    async def _post_one(
        self,
        job: _Job,
        *,
        ticket: Ticket,
        thread_id: int,
        message: TicketMessage,
        page_hint: int,
        holding: set[int],
        markers: _Markers,
    ) -> Literal["posted", "skipped", "held"]:
        """Post one message (if not yet posted), or say the walk is held there."""
        row = await self._store.messages.get(job.guild_id, message.id)
        if row is None:
            if message.author is Author.STORE and ticket.id in holding:
                log.info(
                    "guild %s: ticket %s has a reply in flight; holding its messages",
                    job.guild_id,
                    ticket.id,
                )
                return "held"
            recorded = await self._store.messages.record_post_intent(
                job.guild_id, ticket.id, message.id, now=self._clock()
            )
            if not recorded:
                return "skipped"  # recorded meanwhile (e.g. the relay: it is our own reply)
            from_discord = False
        elif row.state == "pending":
            from_discord = row.direction == "outbound"
            if markers.found is None:  # read once per walk, only if a post is in doubt
                markers.found = await self._threads.recent_markers(thread_id, HISTORY_SCAN)
        else:
            return "skipped"
        self._check(job.guild_id)
        ids = await self._post_parts(
            thread_id, message, ticket, markers.found or {}, from_discord=from_discord
        )
        await self._store.messages.record_posted(
            job.guild_id, message.id, ids, now=self._clock(), messages_page=page_hint
        )
        if message.author is Author.CUSTOMER:
            await self._ping_owner(job.guild_id, ticket.id, thread_id, message.id)
        return "posted"

    async def _track_waiting(
        self, guild_id: int, ticket_id: int, shown: list[TicketMessage]
    ) -> None:
        """Whom the ticket waits for after these customer-visible messages (bot.triage)."""
        if not shown:
            return
        record = await self._store.triage.get(guild_id, ticket_id)
        current = record.waiting if record is not None else None
        waiting = next_waiting(current, [(m.author, m.created_at.timestamp()) for m in shown])
        if waiting != current:
            await self._store.triage.set_waiting(guild_id, ticket_id, waiting)

    async def _alert(self, guild_id: int, ticket_id: int, thread_id: int) -> None:
        """Ping the notify role once for a new ticket (at most once: the row comes first)."""
        settings = await self._store.triage.settings(guild_id)
        if settings.notify_role_id is None:
            return
        await send_once(
            self._store,
            self._threads.post,
            guild_id=guild_id,
            kind="alert",
            subject=str(ticket_id),
            channel_id=thread_id,
            post=alert_post(ticket_id, settings.notify_role_id),
            now=self._clock(),
        )

    async def _ping_owner(
        self, guild_id: int, ticket_id: int, thread_id: int, message_id: int
    ) -> None:
        """A claimed ticket's owner hears of each new customer message, once."""
        record = await self._store.triage.get(guild_id, ticket_id)
        if record is None or record.owner_id is None:
            return
        await send_once(
            self._store,
            self._threads.post,
            guild_id=guild_id,
            kind="owner",
            subject=str(message_id),
            channel_id=thread_id,
            post=owner_post(ticket_id, record.owner_id),
            now=self._clock(),
        )

    async def _post_parts(
        self,
        thread_id: int,
        message: TicketMessage,
        ticket: Ticket,
        markers: dict[tuple[int, int], int],
        *,
        from_discord: bool,
    ) -> list[int]:
        """Post the message's parts, adopting any the thread already shows (a crashed
        attempt, or a thread found again)."""
        ids = []
        for part, post in enumerate(
            message_posts(message, ticket, sent_from_discord=from_discord), start=1
        ):
            existing = markers.get((message.id, part))
            ids.append(
                existing if existing is not None else await self._threads.post(thread_id, post)
            )
        return ids

    async def _finish(
        self, job: _Job, decision: Decision, record: TicketRecord, outcome: _Outcome
    ) -> None:
        ticket = decision.ticket
        now = self._clock()
        changed = outcome.found or decision.new or listing_changed(ticket, record)
        quiet = 0 if changed or outcome.held else record.quiet_checks + 1
        if outcome.held or ticket.status is TicketStatus.OPEN:
            # quiet == 0 (a change, or held whatever the status): the very next cycle.
            due = next_check(now=now, interval=job.interval, quiet_checks=quiet)
            if job.sweep is not None and quiet > 0:
                # Push is live: news comes as a hint; a quiet ticket waits for the sweep.
                due = now + max(job.sweep, job.interval) - job.interval / 2
        else:
            due = float("inf")
        # Held: the old listing stays, so the next cycle sees it changed and reads on.
        listing = None if outcome.held else _listing(ticket)
        await self._store.tickets.record_check(
            job.guild_id,
            ticket.id,
            next_check_at=due,
            quiet_checks=quiet,
            now=now,
            listing=listing,
        )

    async def _record_listing(
        self, guild_id: int, ticket: Ticket, *, now: float, next_check_at: float | None = None
    ) -> None:
        status, title, updated = _listing(ticket)
        await self._store.tickets.record(
            guild_id,
            ticket.id,
            status=status,
            title=title,
            sellapp_updated_at=updated,
            now=now,
            next_check_at=next_check_at,
            opened_at=_unix(ticket.created_at),
        )


def _unix(moment: datetime) -> float:
    """SellApp's timestamp as unix seconds (one without a zone is UTC)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _listing(ticket: Ticket) -> tuple[str, str, str]:
    """What :func:`listing_changed` compares: status, title, SellApp's updated_at."""
    return ticket.status.value, ticket.title, ticket.updated_at.isoformat()
