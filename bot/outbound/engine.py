"""Outbound: staff replies typed in a ticket's thread -> SellApp, exactly once, in order.

The pure decisions named below (``classify``, ``waiting_to_show``, ``shown_outcome``,
``backoff``, ``signed``) live in :mod:`bot.outbound.rules`; this module acts on them.

The engine never imports discord. The cog turns a ``discord.Message`` into a plain
:class:`StaffMessage`; :func:`classify` (pure) decides what it is; :class:`OutboundRelay`
keeps the outbox and shows the outcome through a :class:`FeedbackPort`.

**Who is relayed** (:func:`classify`). A message in a ticket's thread from a member with
one of the guild's staff roles or with Manage Server. Bots (this one too), webhooks,
system messages and other members are ignored; a message starting with the note prefix
is an internal note (📝, never sent); empty text is ignored; a sticker or embed on its own
is refused (SellApp takes text only). Attachments are appended as links, with a line
saying that Discord's links expire.

**Durable and ordered.** :meth:`OutboundRelay.accept` writes the reply to the outbox
(``enqueue_reply``) before anything is sent; one Discord message is queued once, however
often it is seen (live event and start-up catch-up). :meth:`OutboundRelay.deliver_due`
sends from the outbox; the store hands out, per ticket, only the oldest undelivered
entry, so a waiting entry holds back later replies of its ticket and no other.

**Exactly once.** Each delivery is:

1. ``mark_sending`` commits (state ``sending``, ``sent_at``) - from here the POST *may*
   reach SellApp, so the entry is never sent again without first looking;
2. ``POST /v1/tickets/:id/messages`` (the client never retries it, but on 429);
3. ``mark_delivered`` records SellApp's message id and, in the same transaction, that
   message as our own, so the inbound poller never echoes it.

A 429 means SellApp did nothing: the entry waits (⏳) and is sent again later. Any other
failure without an answer (5xx, timeout, cut connection, unreadable answer) leaves the
outcome unknown, and so does a crash between 1 and 3. Such an entry is *settled* before
it may be sent again: the ticket's messages are listed, and a STORE message with the same
content, created no earlier than the entry itself (so before any attempt's ``sent_at``)
minus :data:`CLOCK_SKEW`, and not already recorded as one of our replies, is adopted
(``mark_delivered``). Only if there is none is the entry sent again. Settling happens
right after such a failure, at start for every entry found ``sending``
(:meth:`OutboundRelay.reconcile_at_start`), and before every retry of an entry that was
sent before (the entry is ``sending`` again while it is looked for). While an entry is
``sending`` the poller holds back the ticket's unknown STORE messages (see
:mod:`bot.inbound.engine`). If the poller did record the reply meanwhile (as *inbound*: it could
read SellApp while our POST failed), it is still adopted, so it is not sent twice; it
then also shows in the thread as a dashboard reply, which is cosmetic.

**A database older than Discord** (restored from a backup, or lost) does not know every
reply it delivered. The catch-up reads thread history (``accept(..., from_history=True)``)
and never queues from it blindly: our own ✅ means delivered, ❌ refused, 📝 a note
(:func:`shown_outcome`), none sent; any other reply is queued *look first* and settled as
above before its first send, the window starting when it was typed. At start every entry
still queued or waiting is marked look first too (a backup taken while it was queued).
Limit: a reply read back without our ✅, with the same words as a reply of ours that
SellApp stored within :data:`CLOCK_SKEW` of it being typed (and that the store does not
know), is taken as delivered.

**Nothing silent.** ✅ delivered; ❌ plus a short reply in the thread saying why, in plain
words; ⏳ waiting: for SellApp, for the guild to deliver again (paused, no key), or behind
an earlier reply of its ticket that waits. Every waiting reply shows ⏳, added once each
and in order (:func:`waiting_to_show`); that it was added is recorded on the outbox row
(``waiting_shown``) before the request, and the final reaction takes ⏳ off only where it
was added, after a restart too. A reply that goes straight through costs one request: ✅.
The final reaction is owed from just before the final state is written until it was
shown (a flag on the outbox row), so a crash in between shows it at the next
start. Feedback failing never loses or resends a reply.
Editing or deleting a relayed message gets ⚠️ and one explanation per message.

**Signatures and snippet replies** (:mod:`bot.replies`). When the guild has a signature,
the ``signer`` port fills it in as a reply is queued and the engine appends it to the
entry's content (``SIGNATURE_SEPARATOR``, then the signature) and records it on the row:
a retry sends the stored body, so the signature is there exactly once, and adoption
matches the exact text SellApp stored. On ✅ the thread gets a one-line note with the
signature, so staff see exactly what the customer received. A snippet's Send posts the
text in the thread through the bot (``posted_for`` names the staff member it was sent
for); that message is queued like a typed reply, also when read back from history.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC
from typing import Protocol

from bot.errors import GuildNotHeld, SellAppError, SellAppProtocolError, SellAppRateLimited
from bot.explain import explain
from bot.ops import metrics
from bot.outbound.rules import (
    BACKOFF_MIN,
    CLOCK_SKEW,
    DELETE_WARNING,
    DELIVERED,
    EDIT_WARNING,
    EDITED,
    HELD_RECHECK,
    MAX_PARALLEL,
    NOTE,
    REFUSED,
    SHOWN_REFUSED,
    STUCK_SENDING,
    WAITING,
    WITHDRAWN,
    WITHDRAWN_NOTICE,
    Ignore,
    LinkFacts,
    Note,
    Refuse,
    Relay,
    StaffMessage,
    Verdict,
    backoff,
    classify,
    message_text,
    shown_outcome,
    signature_note,
    signed,
    unsigned,
    waiting_to_show,
)
from bot.sellapp.models import Author, Listing, TicketMessage
from bot.shards.guard import STEP_SECONDS
from bot.store import Store
from bot.store.records import OPEN_OUTBOX_STATES, OutboxEntry, Ticket
from bot.triage.waiting import Waiting, WaitingFor

__all__ = [
    "FeedbackPort",
    "OutboundRelay",
    "ReplyTarget",
    "Signer",
]

log = logging.getLogger(__name__)


class ReplyTarget(Protocol):
    """What the engine needs of a SellApp client."""

    async def reply(self, ticket_id: int, content: str) -> TicketMessage: ...

    async def list_all_messages(
        self, ticket_id: int, limit: int = 100
    ) -> Listing[TicketMessage]: ...


class FeedbackPort(Protocol):
    """What staff see. Implementations swallow (and log) a message or thread that is gone."""

    async def react(self, channel_id: int, message_id: int, emoji: str) -> None: ...

    async def unreact(self, channel_id: int, message_id: int, emoji: str) -> None: ...

    async def say(self, channel_id: int, text: str, reply_to: int | None) -> None: ...


Clients = Callable[[int], Awaitable[ReplyTarget | None]]
"""guild id -> its SellApp client, or None while the guild can't deliver (paused, no key)."""

Signer = Callable[[StaffMessage, Ticket], Awaitable[str | None]]
"""(a reply, its ticket) -> the filled-in signature to end it with, or None (off)."""

Working = Callable[[int], AbstractAsyncContextManager[None]]
"""guild id -> a step of work on it (:meth:`bot.shards.guard.GuildGuard.working`): refused
with :class:`GuildNotHeld` if this process does not work on the guild; while it runs,
the guild's after-crash recovery does not (it would find the step's entry ``sending``)."""


def _any_step(guild_id: int) -> AbstractAsyncContextManager[None]:
    return contextlib.nullcontext()


# --- the engine -------------------------------------------------------------------------


class OutboundRelay:
    """Accepts staff messages into the outbox and delivers it. One per process."""

    def __init__(
        self,
        store: Store,
        feedback: FeedbackPort,
        clients: Clients,
        *,
        clock: Callable[[], float] = time.time,
        retry_first: float = BACKOFF_MIN,
        signer: Signer | None = None,
        works_on: Callable[[int], bool] = lambda guild_id: True,
        working: Working = _any_step,
        step_seconds: float = STEP_SECONDS,
    ) -> None:
        """``retry_first``: the first wait of a reply's backoff (``RELAY_RETRY_SECONDS``);
        ``signer``: the guild's signature for a reply (None: never signed); ``works_on``:
        whether this process works on a guild now (:mod:`bot.shards.guard`): entries of
        other guilds are another process's, and never delivered, settled or waited on;
        ``working``: each delivery (mark_sending..POST..mark_delivered) runs as one step
        of it, and ``works_on`` is asked again right before the POST; ``step_seconds``:
        how long the POST may take before its outcome counts as unknown (looked for
        before any resend), so a claim lost meanwhile is not outlived by it."""
        self._signer = signer
        self._works_on = works_on
        self._working = working
        self._step_seconds = step_seconds
        self._store = store
        self._feedback = feedback
        self._clients = clients
        self._clock = clock
        self._retry_first = retry_first
        self._edit_lock = asyncio.Lock()
        self._parallel = asyncio.Semaphore(MAX_PARALLEL)
        self._showing: dict[int, asyncio.Task[None]] = {}

    # --- intake ---

    async def accept(
        self,
        message: StaffMessage,
        ticket: Ticket,
        link: LinkFacts,
        *,
        from_history: bool = False,
    ) -> Verdict:
        """Classify a message of ``ticket``'s thread; queue a reply before anything else.

        A message at or before the thread's last handled one was seen already (catch-up
        and a live event can both bring it) and is ignored, unless it is a reply: queueing
        one is idempotent (one outbox entry per Discord message), so a reply that an
        earlier pass missed (an error, a reconnect racing the catch-up) still goes out.

        ``from_history``: read back from the thread's history (the catch-up), not a live
        event. The database may be older than Discord (restored from a backup, or lost),
        so a reply it does not know may have been delivered long ago. Before it is
        queued, what survives outside the database decides: our own reactions on it
        (:func:`shown_outcome`: ✅ is recorded delivered, ❌ refused, 📝 a note; none
        is sent), and for the rest SellApp's own messages: the entry is queued
        *look first*, so delivery settles it like a reply whose outcome was unknown
        (a matching STORE message created since it was typed is adopted, ✅, not sent)."""
        last_seen = await self._store.state.get_last_seen_discord_message(message.channel_id)
        verdict = classify(message, link)
        if (
            last_seen is not None
            and message.message_id <= last_seen
            and not isinstance(verdict, Relay)
        ):
            return Ignore("already handled")
        where = (ticket.guild_id, ticket.ticket_id, message.message_id)
        if isinstance(verdict, Relay) and from_history:
            verdict = await self._from_history(message, ticket, verdict)
        elif isinstance(verdict, Relay):
            signature = await self._signature(message, ticket)
            entry = await self._store.outbox.enqueue(
                ticket.guild_id,
                ticket.ticket_id,
                channel_id=message.channel_id,
                discord_message_id=message.message_id,
                author_id=message.author_id,
                content=signed(verdict.text, signature),
                now=self._clock(),
                signature=signature,
            )
            if entry is None:
                verdict = Ignore("already queued")
            else:
                log.info("guild %s: ticket %s: queued reply from message %s", *where)
        else:  # (queueing a reply moves the thread's mark in the same commit)
            await self._store.state.set_last_seen_discord_message(
                message.channel_id, message.message_id
            )
        channel, mid = message.channel_id, message.message_id
        if isinstance(verdict, Relay):
            # Paused, or queued behind a reply that already waits: it waits too.
            await self._show_waiting(ticket.guild_id, ticket.ticket_id, head_waits=link.paused)
        elif isinstance(verdict, Note):
            self._later(mid, lambda: self._react(channel, mid, NOTE))
        elif isinstance(verdict, Refuse):
            log.info("guild %s: ticket %s: message %s refused before sending", *where)
            reason = verdict.reason
            self._later(mid, lambda: self._refused_here(channel, mid, reason))
        return verdict

    async def _from_history(
        self, message: StaffMessage, ticket: Ticket, relay: Relay
    ) -> Relay | Ignore:
        """A reply read back from history: record what our reactions show, or queue it to
        be looked for at SellApp before it is sent (see :meth:`accept`)."""
        where = (ticket.guild_id, ticket.ticket_id, message.message_id)
        known = await self._store.outbox.by_discord_message(message.message_id)
        if known is not None:
            await self._store.state.set_last_seen_discord_message(
                message.channel_id, message.message_id
            )
            return Ignore("already queued")
        shown = shown_outcome(message.our_reactions)
        typed_at = message.typed_at or None
        if shown is None:
            signature = await self._signature(message, ticket)
            entry = await self._store.outbox.enqueue(
                ticket.guild_id,
                ticket.ticket_id,
                channel_id=message.channel_id,
                discord_message_id=message.message_id,
                author_id=message.author_id,
                content=signed(relay.text, signature),
                now=self._clock(),
                look_first=True,
                typed_at=typed_at,
                # A ⏳ of an earlier run is still on it: taken off with the final reaction.
                waiting_shown=WAITING in message.our_reactions,
                signature=signature,
            )
            if entry is None:
                return Ignore("already queued")
            log.info(
                "guild %s: ticket %s: queued reply from message %s (read from history: "
                "looked for at SellApp first)",
                *where,
            )
            return relay
        if shown == "note":
            await self._store.state.set_last_seen_discord_message(
                message.channel_id, message.message_id
            )
            return Ignore("shown as a note before")
        await self._store.outbox.record_settled_reply(
            ticket.guild_id,
            ticket.ticket_id,
            channel_id=message.channel_id,
            discord_message_id=message.message_id,
            author_id=message.author_id,
            content=relay.text,
            state=shown,
            note=None if shown == "delivered" else SHOWN_REFUSED,
            now=self._clock(),
            typed_at=typed_at,
        )
        if WAITING in message.our_reactions:  # a ⏳ an earlier run left beside ✅ or ❌
            await self._unreact(message.channel_id, message.message_id, WAITING)
        log.info(
            "guild %s: ticket %s: message %s shows it was %s before; not sent again",
            *where,
            shown,
        )
        return Ignore(f"{shown} before")

    async def _signature(self, message: StaffMessage, ticket: Ticket) -> str | None:
        return None if self._signer is None else await self._signer(message, ticket)

    async def changed(self, channel_id: int, message_id: int, edited: StaffMessage | None) -> bool:
        """A message was edited (``edited``) or deleted (None). If it was relayed or queued,
        say once that the customer's copy stays as it was. Returns whether it warned.

        An edit that leaves the relayed text as it was (Discord adding a link preview)
        is not a change."""
        entry = await self._store.outbox.by_discord_message(message_id)
        if entry is None or entry.state == "refused":
            return False
        if edited is not None and message_text(edited) == unsigned(entry):
            return False
        if edited is None and await self._store.outbox.withdraw_reply(entry.id, WITHDRAWN):
            # Deleted before any attempt to send it: it never leaves.
            log.info(
                "guild %s: ticket %s: queued message %s deleted before sending; withdrawn",
                entry.guild_id,
                entry.ticket_id,
                message_id,
            )
            await self._say(channel_id, WITHDRAWN_NOTICE, None)
            return True
        async with self._edit_lock:
            if await self._store.outbox.edit_warned(message_id):
                return False
            log.info(
                "guild %s: ticket %s: relayed message %s was %s",
                entry.guild_id,
                entry.ticket_id,
                message_id,
                "deleted" if edited is None else "edited",
            )
            if edited is None:
                await self._say(channel_id, DELETE_WARNING, None)
            else:
                await self._react(channel_id, message_id, EDITED)
                await self._say(channel_id, EDIT_WARNING, message_id)
            await self._store.outbox.record_edit_warned(message_id, now=self._clock())
        return True

    # --- start ---

    async def reconcile_at_start(self, guild_id: int | None = None) -> None:
        """Settle every entry a crash left ``sending``; show feedback a crash left owed.
        ``guild_id``: only that guild's (run when this process takes the guild's claim:
        at start, or taking over from a process that died); None: every guild.

        Every entry still queued or waiting is marked *look first*: the database may be
        older than SellApp (a backup taken while it was queued, restored after a later
        run delivered it), so it is looked for before it is sent."""
        marked = await self._store.outbox.look_first_for_unfinished(guild_id)
        if marked:
            log.info("outbound: %d unfinished reply(ies) will be looked for before sending", marked)
        for entry in await self._store.outbox.in_state("sending", guild_id):
            client = await self._clients(entry.guild_id)
            if client is None or not await self._adopt_or_wait(entry, client, why=None):
                # Not at SellApp (or can't look now): due again at once; a retry of an
                # entry that was sent before always looks first.
                await self._store.outbox.mark_waiting(
                    entry.id, entry.last_error or "not sent yet", next_attempt_at=self._clock()
                )
        for entry_id in await self._store.outbox.owed_feedback(guild_id):
            found = await self._store.outbox.get(entry_id)
            if found is not None and found.state in ("delivered", "refused"):
                await self._show_final(found)
            else:
                await self._store.outbox.settle_feedback(entry_id)

    # --- delivery ---

    async def deliver_due(self) -> float | None:
        """Deliver every due entry, ticket by ticket in order.

        Returns the seconds until something is due again (None: nothing is queued)."""
        held: set[int] = set()
        await self._unstick()
        while True:
            due = [
                e
                for e in await self._store.outbox.next_deliverable(now=self._clock())
                if e.guild_id not in held and self._works_on(e.guild_id)
            ]
            if not due:
                break
            targets: dict[int, ReplyTarget] = {}
            for guild_id in {e.guild_id for e in due}:
                client = await self._clients(guild_id)
                if client is None:
                    held.add(guild_id)
                else:
                    targets[guild_id] = client
            for entry in due:
                if entry.guild_id in held:
                    await self._show_waiting(entry.guild_id, entry.ticket_id, head_waits=True)
            runnable = [e for e in due if e.guild_id in targets]
            results = await asyncio.gather(
                *(self._deliver(e, targets[e.guild_id]) for e in runnable),
                return_exceptions=True,
            )
            for entry, result in zip(runnable, results, strict=True):
                if isinstance(result, BaseException) and not isinstance(result, Exception):
                    raise result  # cancellation and the like stop the pass, as they should
                if isinstance(result, Exception):
                    log.error(
                        "guild %s: ticket %s: delivering entry %s failed",
                        entry.guild_id,
                        entry.ticket_id,
                        entry.id,
                        exc_info=result,
                    )
        return await self._next_wait(held)

    async def _unstick(self) -> None:
        """A ``sending`` entry is settled within one request's time. One still sending
        long after (an error while recording its outcome) would block its ticket's
        later replies and hold the poller: treat its outcome as unknown, so the next
        attempt looks at SellApp before sending again."""
        stale = self._clock() - STUCK_SENDING
        for entry in await self._store.outbox.in_state("sending"):
            if not self._works_on(entry.guild_id):
                continue  # in flight in the process that holds the guild
            if entry.sent_at is not None and entry.sent_at < stale:
                log.warning(
                    "guild %s: ticket %s: entry %s was left sending; checking it again",
                    entry.guild_id,
                    entry.ticket_id,
                    entry.id,
                )
                await self._store.outbox.mark_waiting(
                    entry.id,
                    entry.last_error or "not confirmed yet",
                    next_attempt_at=self._clock(),
                )

    async def _next_wait(self, held: set[int]) -> float | None:
        heads: dict[tuple[int, int], OutboxEntry] = {}
        for state in OPEN_OUTBOX_STATES:
            for e in await self._store.outbox.in_state(state):
                if not self._works_on(e.guild_id):
                    continue
                key = (e.guild_id, e.ticket_id)
                if key not in heads or e.id < heads[key].id:
                    heads[key] = e
        now = self._clock()
        waits = [
            max(0.0, e.next_attempt_at - now)
            for e in heads.values()
            if e.state != "sending" and e.guild_id not in held
        ]
        if held:
            waits.append(HELD_RECHECK)
        if any(e.state == "sending" for e in heads.values()):
            waits.append(STUCK_SENDING)
        return min(waits) if waits else None

    async def _deliver(self, entry: OutboxEntry, client: ReplyTarget) -> None:
        async with self._parallel:  # (a wait: the guild may have been lost meanwhile)
            try:
                async with self._working(entry.guild_id):
                    await self._send(entry, client)
            except GuildNotHeld:
                log.info(
                    "guild %s: ticket %s: entry %s not sent here: the guild's claim was lost",
                    entry.guild_id,
                    entry.ticket_id,
                    entry.id,
                )

    def _check(self, guild_id: int) -> None:
        if not self._works_on(guild_id):
            raise GuildNotHeld(guild_id)

    async def _send(self, entry: OutboxEntry, client: ReplyTarget) -> None:
        """One delivery: mark_sending, (look,) POST, record the outcome. Stops before the
        POST if the guild was lost meanwhile: the entry stays ``sending`` and the next
        holder's recovery settles it (looks at SellApp first)."""
        self._check(entry.guild_id)
        if not await self._store.outbox.mark_sending(entry.id, now=self._clock()):
            return
        # Sent before with an unknown outcome, or maybe sent by a run this database
        # does not remember (look first): look before sending.
        looks = entry.attempts > 0 or entry.look_first
        if looks and await self._adopt_or_wait(entry, client, why=None):
            return
        self._check(entry.guild_id)
        try:
            async with asyncio.timeout(self._step_seconds):
                sent = await client.reply(entry.ticket_id, entry.content)
        except TimeoutError:
            why = f"SellApp did not answer within {self._step_seconds:g} s"
            await self._unknown_outcome(entry, client, why)
        except SellAppRateLimited as exc:
            await self._wait(entry, explain(exc), retry_after=exc.retry_after)
        except SellAppError as exc:
            if exc.retryable or exc.status is None or exc.status < 400:
                await self._unknown_outcome(entry, client, explain(exc))
            else:
                await self._refuse(entry, explain(exc))
        except Exception:
            log.exception(
                "guild %s: ticket %s: sending entry %s failed unexpectedly",
                entry.guild_id,
                entry.ticket_id,
                entry.id,
            )
            await self._unknown_outcome(entry, client, explain(RuntimeError()))
        else:
            await self._delivered(entry, sent.id)

    async def _unknown_outcome(self, entry: OutboxEntry, client: ReplyTarget, why: str) -> None:
        """The POST may or may not have reached SellApp: adopt it, or wait and retry."""
        if not await self._adopt_or_wait(entry, client, why=why):
            await self._wait(entry, why)

    async def _adopt_or_wait(
        self, entry: OutboxEntry, client: ReplyTarget, *, why: str | None
    ) -> bool:
        """For a ``sending`` entry: True if settled here (SellApp has it: adopted; or its
        messages can't be read: waiting); False if SellApp surely doesn't have it."""
        try:
            adopted = await self._find_sent(entry, client)
        except Exception as exc:
            if not isinstance(exc, SellAppError):
                log.exception("guild %s: could not look for entry %s", entry.guild_id, entry.id)
            await self._wait(entry, why or explain(exc))
            return True
        if adopted is None:
            return False
        log.info(
            "guild %s: ticket %s: entry %s had reached SellApp as message %s; adopted",
            entry.guild_id,
            entry.ticket_id,
            entry.id,
            adopted,
        )
        await self._delivered(entry, adopted)
        return True

    async def _find_sent(self, entry: OutboxEntry, client: ReplyTarget) -> int | None:
        """SellApp's message that is this entry's reply, if any (see the module docstring).

        The window starts at the entry's creation (or, if earlier, when it was typed: an
        entry read back from history), so it covers every attempt's ``sent_at``, also
        those of a run the database forgot, minus :data:`CLOCK_SKEW`."""
        since = min(entry.created_at, entry.typed_at or entry.created_at) - CLOCK_SKEW
        wanted = _normal(entry.content)
        listing = await client.list_all_messages(entry.ticket_id)
        for message in listing.items:
            if message.author is not Author.STORE or _normal(message.content) != wanted:
                continue
            created = message.created_at
            if created.tzinfo is None:
                created = created.replace(tzinfo=UTC)
            if created.timestamp() < since:
                continue
            known = await self._store.messages.get(entry.guild_id, message.id)
            if known is not None and known.direction == "outbound":
                continue  # another reply of ours with the same words
            return message.id
        if listing.problems:
            # One we can't read may be this very reply: never send it again blindly.
            raise SellAppProtocolError(
                f"SellApp sent {len(listing.problems)} message(s) of this ticket the bridge "
                "can't read, so it can't tell whether the reply arrived",
                endpoint="GET /v1/tickets/{id}/messages",
            )
        return None

    # --- outcomes ---

    async def _delivered(self, entry: OutboxEntry, sellapp_message_id: int) -> None:
        await self._store.outbox.owe_feedback(entry.id)
        now = self._clock()
        if await self._store.outbox.mark_delivered(entry.id, sellapp_message_id, now=now):
            # Our reply is the last customer-visible message: the customer's turn (triage).
            await self._store.triage.set_waiting(
                entry.guild_id, entry.ticket_id, Waiting(WaitingFor.CUSTOMER, now)
            )
            # From the moment the reply was queued (the gateway event) to SellApp's answer.
            metrics.relay_latency.observe(max(0.0, now - entry.created_at))
            log.info(
                "guild %s: ticket %s: message %s delivered as SellApp message %s",
                entry.guild_id,
                entry.ticket_id,
                entry.discord_message_id,
                sellapp_message_id,
                extra={"guild_id": entry.guild_id, "ticket_id": entry.ticket_id},
            )
        await self._show_final_later(entry.id)

    async def _refuse(self, entry: OutboxEntry, why: str) -> None:
        log.warning(
            "guild %s: ticket %s: SellApp refused message %s: %s",
            entry.guild_id,
            entry.ticket_id,
            entry.discord_message_id,
            why,
        )
        await self._store.outbox.owe_feedback(entry.id)
        await self._store.outbox.mark_refused(entry.id, why)
        await self._show_final_later(entry.id)

    async def _wait(
        self, entry: OutboxEntry, why: str, *, retry_after: float | None = None
    ) -> None:
        current = await self._store.outbox.get(entry.id)
        attempts = max(current.attempts if current else entry.attempts, 1)
        delay = backoff(attempts, retry_after=retry_after, first=self._retry_first)
        await self._store.outbox.mark_waiting(entry.id, why, next_attempt_at=self._clock() + delay)
        log.warning(
            "guild %s: ticket %s: message %s waiting %.0f s after attempt %d: %s",
            entry.guild_id,
            entry.ticket_id,
            entry.discord_message_id,
            delay,
            attempts,
            why,
        )
        await self._show_waiting(entry.guild_id, entry.ticket_id, head_waits=True)

    async def _show_waiting(self, guild_id: int, ticket_id: int, *, head_waits: bool) -> None:
        """⏳ on each reply of the ticket that waits and doesn't show it yet (see
        :func:`waiting_to_show`), in order. Recorded before it is added, so the final
        outcome takes it off again, after a restart too, and only where it was added."""
        wanted = waiting_to_show(
            await self._store.outbox.open_entries(guild_id, ticket_id), head_waits=head_waits
        )
        previous: asyncio.Task[None] | None = None
        for shown in await self._store.outbox.mark_waiting_shown(wanted):
            mid = shown.discord_message_id
            react = functools.partial(self._react, shown.channel_id, mid, WAITING)
            previous = self._later(mid, react, after=previous)

    async def _show_final_later(self, entry_id: int) -> None:
        found = await self._store.outbox.get(entry_id)
        if found is not None:
            self._later(found.discord_message_id, lambda: self._show_final(found))

    async def _show_final(self, entry: OutboxEntry) -> None:
        channel, message = entry.channel_id, entry.discord_message_id
        if entry.state in ("delivered", "refused") and entry.waiting_shown:
            await self._unreact(channel, message, WAITING)  # only where it was added
        if entry.state == "delivered":
            await self._react(channel, message, DELIVERED)
            if entry.signature:
                await self._say(channel, signature_note(entry.signature), message)
        elif entry.state == "refused":
            await self._react(channel, message, REFUSED)
            why = entry.last_error or "SellApp refused it."
            await self._say(channel, f"Not sent to the customer. {why}", message)
        await self._store.outbox.settle_feedback(entry.id)

    # --- feedback that never breaks or slows delivery ---

    def _later(
        self,
        message_id: int,
        show: Callable[[], Awaitable[None]],
        *,
        after: asyncio.Task[None] | None = None,
    ) -> asyncio.Task[None]:
        """Show feedback in the background, after what was shown on this message before
        (and after ``after``: feedback on several messages in their order)."""
        before = [t for t in (self._showing.get(message_id), after) if t is not None]

        async def run() -> None:
            if before:
                await asyncio.wait(before)
            await show()

        task = asyncio.create_task(run(), name=f"feedback-{message_id}")
        self._showing[message_id] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._showing.get(message_id) is finished:
                del self._showing[message_id]
            if not finished.cancelled() and finished.exception() is not None:
                log.error(
                    "feedback on message %s failed", message_id, exc_info=finished.exception()
                )

        task.add_done_callback(done)
        return task

    async def flush_feedback(self) -> None:
        """Wait until all feedback started so far has been shown (tests, shutdown)."""
        while self._showing:
            await asyncio.wait(list(self._showing.values()))

    async def _refused_here(self, channel_id: int, message_id: int, reason: str) -> None:
        await self._react(channel_id, message_id, REFUSED)
        await self._say(channel_id, reason, message_id)

    async def _react(self, channel_id: int, message_id: int, emoji: str) -> None:
        try:
            await self._feedback.react(channel_id, message_id, emoji)
        except Exception:
            log.exception("could not react %s on message %s", emoji, message_id)

    async def _unreact(self, channel_id: int, message_id: int, emoji: str) -> None:
        try:
            await self._feedback.unreact(channel_id, message_id, emoji)
        except Exception:
            log.exception("could not remove %s from message %s", emoji, message_id)

    async def _say(self, channel_id: int, text: str, reply_to: int | None) -> None:
        try:
            await self._feedback.say(channel_id, text, reply_to)
        except Exception:
            log.exception("could not post feedback in thread %s", channel_id)


def _normal(text: str) -> str:
    return text.replace("\r\n", "\n").strip()
