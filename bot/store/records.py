"""What :class:`bot.store.Store` hands back: small frozen records, never raw rows.

Timestamps are unix seconds (``float``); SellApp's own timestamps stay the text it sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

Direction = Literal["inbound", "outbound"]
"""``inbound``: a SellApp message we post into Discord; ``outbound``: a staff reply we sent."""

MessageState = Literal["pending", "posted"]
"""``pending``: intent recorded, not yet confirmed posted; ``posted``: the Discord ids are known."""

OutboxState = Literal["queued", "sending", "waiting", "delivered", "refused"]
"""``sending``: a POST may have reached SellApp (reconcile at start, never resend blindly);
``waiting``: a retryable failure, due again at ``next_attempt_at``."""

OUTBOX_STATES: tuple[OutboxState, ...] = ("queued", "sending", "waiting", "delivered", "refused")
OPEN_OUTBOX_STATES: tuple[OutboxState, ...] = ("queued", "sending", "waiting")
"""A reply in one of these is still on its way: not yet delivered, not refused for good."""

ProblemKind = Literal[
    "unreadable_ticket",
    "unknown_status",
    "unreadable_message",
    "discord_refused",
    "sellapp_failed",
]
"""What went wrong with one ticket (see :mod:`bot.inbound.problems`)."""

PROBLEM_KINDS: tuple[ProblemKind, ...] = (
    "unreadable_ticket",
    "unknown_status",
    "unreadable_message",
    "discord_refused",
    "sellapp_failed",
)


@dataclass(frozen=True, slots=True)
class GuildLink:
    """A Discord guild linked to one SellApp store."""

    guild_id: int
    store_slug: str | None
    api_key_sealed: str | None
    channel_id: int | None
    staff_role_ids: tuple[int, ...]
    poll_interval: float | None
    paused: bool
    note_prefix: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class Ticket:
    """A SellApp ticket and how far we have synced it."""

    guild_id: int
    ticket_id: int
    thread_id: int | None
    status: str
    title: str
    sellapp_updated_at: str | None
    last_message_id: int
    messages_page: int
    next_check_at: float
    quiet_checks: int
    created_at: float
    updated_at: float

    @property
    def is_open(self) -> bool:
        return self.status.upper() != "CLOSED"


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One SellApp message and the Discord message(s) that show it."""

    guild_id: int
    sellapp_message_id: int
    ticket_id: int
    direction: Direction
    state: MessageState
    discord_message_ids: tuple[int, ...]
    created_at: float
    posted_at: float | None


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A staff reply waiting to be (or already) delivered to SellApp."""

    id: int
    guild_id: int
    ticket_id: int
    channel_id: int
    discord_message_id: int
    author_id: int
    content: str
    state: OutboxState
    attempts: int
    last_error: str | None
    next_attempt_at: float
    sellapp_message_id: int | None
    created_at: float
    sent_at: float | None
    delivered_at: float | None
    waiting_shown: bool = False
    """⏳ was put on the Discord message (so it is to be taken off again)."""
    look_first: bool = False
    """Look for it at SellApp before the first send (it may be there already)."""
    typed_at: float | None = None
    """When the staff message was typed, if it was queued later (read from history)."""
    signature: str | None = None
    """The filled-in signature that ends ``content`` (None: sent unsigned)."""


@dataclass(frozen=True, slots=True)
class PollState:
    """How the last polls of one guild went."""

    guild_id: int
    last_poll_at: float | None
    last_success_at: float | None
    last_error: str | None
    consecutive_failures: int
    last_response_ms: float | None


@dataclass(frozen=True, slots=True)
class TicketProblem:
    """A problem with one ticket of a guild, recorded so it is logged once and shown.

    ``detail`` is plain words, safe to show staff; ``repeats`` counts the cycles that saw
    it again after the first; ``retry_at`` is when a failed step is tried again (0: no
    backoff for this kind)."""

    guild_id: int
    ticket_id: int
    kind: ProblemKind
    detail: str
    first_seen_at: float
    last_seen_at: float
    repeats: int
    retry_at: float


class TicketCounts(NamedTuple):
    """How many tickets a guild tracks, and how many of those are open. Unpacks as a pair."""

    tracked: int
    open: int


@dataclass(frozen=True, slots=True)
class PushChannel:
    """A guild's webhook channel at SellApp (push). ``token`` is secret: never log it."""

    guild_id: int
    token: str
    url: str | None
    channel_id: str | None
    last_error: str | None
    secret_sealed: str | None
    updated_at: float

    def __repr__(self) -> str:
        return f"PushChannel(guild_id={self.guild_id}, channel_id={self.channel_id!r})"


@dataclass(frozen=True, slots=True)
class Snippet:
    """A saved reply of a guild (``/snippet``); ``body`` is a template."""

    guild_id: int
    name: str
    body: str
    updated_by: int
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class TicketTimes:
    """When a ticket was opened at SellApp (None: unknown) and first recorded here."""

    ticket_id: int
    opened_at: float | None
    recorded_at: float


@dataclass(frozen=True, slots=True)
class TicketEvent:
    """A close or reopen the bridge saw (``ticket_events``)."""

    ticket_id: int
    kind: Literal["closed", "reopened"]
    at: float


@dataclass(frozen=True, slots=True)
class ReplyTimes:
    """A staff reply through the bridge: who, when typed, and how it ended."""

    ticket_id: int
    author_id: int
    at: float
    state: OutboxState


@dataclass(frozen=True, slots=True)
class StatsHistory:
    """Everything ``/sellapp stats`` is computed from, for one guild."""

    records_start: float | None
    """When the bridge's records of this guild start (None: it has none)."""
    tickets: tuple[TicketTimes, ...]
    events: tuple[TicketEvent, ...]
    replies: tuple[ReplyTimes, ...]
