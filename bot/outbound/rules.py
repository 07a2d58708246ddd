"""The outbound engine's decisions: pure, no I/O and no discord (see
:mod:`bot.outbound.engine` for the exactly-once delivery that acts on them).

What a staff message is (:func:`classify`: a reply to relay, a note, something to refuse
or ignore), which waiting replies show ⏳ (:func:`waiting_to_show`), what our own reactions
read back from history say was done (:func:`shown_outcome`), how long to wait before a
retry (:func:`backoff`) and how a signature is appended once (:func:`signed`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from bot.replies.template import for_discord
from bot.store.records import OutboxEntry

__all__ = [
    "ATTACHMENTS_LINE",
    "BACKOFF_MAX",
    "BACKOFF_MIN",
    "CLOCK_SKEW",
    "DELETE_WARNING",
    "DELIVERED",
    "EDITED",
    "EDIT_WARNING",
    "HELD_RECHECK",
    "MAX_PARALLEL",
    "NOTE",
    "REFUSED",
    "SHOWN_REFUSED",
    "SIGNATURE_SEPARATOR",
    "STICKER_ONLY",
    "STUCK_SENDING",
    "WAITING",
    "WITHDRAWN",
    "WITHDRAWN_NOTICE",
    "Attachment",
    "Ignore",
    "LinkFacts",
    "Note",
    "Refuse",
    "Relay",
    "Shown",
    "StaffMessage",
    "Verdict",
    "backoff",
    "classify",
    "message_text",
    "shown_outcome",
    "signature_note",
    "signed",
    "unsigned",
    "waiting_to_show",
]


DELIVERED: Final = "✅"
WAITING: Final = "⏳"
REFUSED: Final = "❌"
NOTE: Final = "📝"
EDITED: Final = "⚠️"

CLOCK_SKEW: Final = 120.0
"""Seconds SellApp's clock may run behind ours when adopting a reply after a crash."""
BACKOFF_MIN: Final = 5.0
BACKOFF_MAX: Final = 600.0
HELD_RECHECK: Final = 30.0
STUCK_SENDING: Final = 300.0
"""Seconds after which an entry still ``sending`` is taken as stuck (a POST takes 15 s
at most; the SellApp client's timeout)."""
"""How soon to look again at entries of a guild that can't deliver (paused, no key)."""
MAX_PARALLEL: Final = 8

ATTACHMENTS_LINE = "Attachments (links from Discord; they may stop working after a while):"
STICKER_ONLY = (
    "Not sent: SellApp takes text only, so a sticker or an embed on its own can't reach "
    "the customer. Type the answer as text."
)
EDIT_WARNING = (
    "⚠️ That message was already sent (or queued) to the customer. Editing it here does not "
    "change what they receive; send a new message with the correction."
)
SHOWN_REFUSED = "Refused before (❌ in the thread); not sent again"
WITHDRAWN = "Deleted in Discord before it was sent"
WITHDRAWN_NOTICE = (
    "🗑️ A reply that was still waiting to be sent was deleted here, so it was not sent "
    "to the customer."
)
DELETE_WARNING = (
    "⚠️ A message that was already sent (or queued) to the customer was deleted here. "
    "Deleting it does not take it back from them."
)


# --- what a message is ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attachment:
    url: str
    filename: str


@dataclass(frozen=True, slots=True)
class StaffMessage:
    """What the engine needs of a Discord message, as plain data."""

    guild_id: int
    channel_id: int
    message_id: int
    author_id: int
    content: str
    is_bot: bool = False
    is_webhook: bool = False
    is_system: bool = False
    author_role_ids: frozenset[int] = frozenset()
    author_manages_guild: bool = False
    attachments: tuple[Attachment, ...] = ()
    has_stickers: bool = False
    has_embeds: bool = False
    typed_at: float = 0.0
    """When it was typed (Discord's clock, unix seconds); 0: unknown."""
    our_reactions: frozenset[str] = frozenset()
    """The reactions this bot has on it (read back from history; none on a live event)."""
    author_name: str | None = None
    """How the author shows in the server (for a signature's ``{staff.name}``)."""
    posted_for: bool = False
    """The bot posted it for staff member ``author_id`` (a snippet reply, checked as
    staff when sent): relayed as their reply, whatever the bot's own roles."""


class LinkFacts(Protocol):
    """What classifying needs of a guild's link (:class:`bot.links.LinkConfig` has it)."""

    @property
    def staff_role_ids(self) -> frozenset[int]: ...

    @property
    def note_prefix(self) -> str: ...

    @property
    def paused(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Ignore:
    reason: str


@dataclass(frozen=True, slots=True)
class Note:
    pass


@dataclass(frozen=True, slots=True)
class Refuse:
    reason: str


@dataclass(frozen=True, slots=True)
class Relay:
    text: str


Verdict = Ignore | Note | Refuse | Relay


def message_text(message: StaffMessage) -> str:
    """The text SellApp gets: the content, then the attachments as links. May be empty."""
    text = message.content.strip()
    if message.attachments:
        links = "\n".join(f"{a.filename}: {a.url}" for a in message.attachments)
        text = f"{text}\n\n{ATTACHMENTS_LINE}\n{links}".strip()
    return text


def _not_relayed(message: StaffMessage, link: LinkFacts) -> Ignore | None:
    """Why a message is not from staff at all, or None if it is."""
    if message.posted_for:
        return None
    if message.is_system:
        return Ignore("system message")
    if message.is_webhook:
        return Ignore("webhook")
    if message.is_bot:
        return Ignore("bot")
    if not (message.author_manages_guild or message.author_role_ids & link.staff_role_ids):
        return Ignore("not staff")
    return None


def classify(message: StaffMessage, link: LinkFacts) -> Verdict:
    """The rules of the module docstring for one message. Pure."""
    ignored = _not_relayed(message, link)
    if ignored is not None:
        return ignored
    if not message.posted_for and message.content.lstrip().startswith(link.note_prefix):
        return Note()
    text = message_text(message)
    if text:
        return Relay(text)
    if message.has_stickers or message.has_embeds:
        return Refuse(STICKER_ONLY)
    return Ignore("empty")


def waiting_to_show(open_entries: Sequence[OutboxEntry], *, head_waits: bool) -> list[int]:
    """Which of a ticket's open entries (oldest first) get ⏳ now. Pure.

    Once the ticket's head waits (SellApp can't be reached, the guild can't deliver) or
    already shows ⏳, every entry queued behind it waits too: each one not shown yet gets
    it, in order. An entry being sent gets none; it is about to show its outcome."""
    if not open_entries or not (head_waits or open_entries[0].waiting_shown):
        return []
    return [e.id for e in open_entries if not e.waiting_shown and e.state != "sending"]


Shown = Literal["delivered", "refused", "note"]


def shown_outcome(our_reactions: frozenset[str]) -> Shown | None:
    """What our own reactions on a message read back from history say was done with it,
    whatever the database lost. Pure.

    * ✅: delivered. Never sent again.
    * ❌: refused, and staff were told so in the thread ("Not sent to the customer...").
      They have retyped it or decided not to; sending it now, maybe days later and out of
      order, would surprise both them and the customer, and make the ❌ a lie. It stays
      refused.
    * 📝: an internal note (the prefix may have changed since): never sent.
    * ⏳ or ⚠️ alone, or nothing: no outcome was shown, so it may or may not be at SellApp;
      it is looked for there before it is sent (see :meth:`OutboundRelay.accept`).
    """
    if DELIVERED in our_reactions:
        return "delivered"
    if REFUSED in our_reactions:
        return "refused"
    if NOTE in our_reactions:
        return "note"
    return None


def backoff(
    attempts: int, *, retry_after: float | None = None, first: float = BACKOFF_MIN
) -> float:
    """Seconds until the next try after ``attempts`` failed ones: ``first`` (5 s unless
    ``RELAY_RETRY_SECONDS`` says otherwise) doubling, each wait jittered up to half as long
    again (so replies that failed together don't retry in step), never above 10 min; at
    least SellApp's ``Retry-After``."""
    ceiling = first * 2.0 ** min(max(attempts - 1, 0), 20)
    wait = min(BACKOFF_MAX, random.uniform(ceiling, ceiling * 1.5))  # noqa: S311 - jitter
    return max(wait, min(retry_after or 0.0, BACKOFF_MAX))


# --- ports ------------------------------------------------------------------------------


SIGNATURE_SEPARATOR: Final = "\n\n"


def signed(text: str, signature: str | None) -> str:
    """The reply's body as SellApp gets it: the text, then the signature once. Pure."""
    return f"{text}{SIGNATURE_SEPARATOR}{signature}" if signature else text


def unsigned(entry: OutboxEntry) -> str:
    """An entry's content without the signature it was queued with. Pure."""
    tail = signed("", entry.signature)
    if entry.signature and entry.content.endswith(tail):
        return entry.content[: -len(tail)]
    return entry.content


def signature_note(signature: str) -> str:
    """The line under a delivered, signed reply: what the customer got after the text."""
    return f"-# ✍️ Sent with your signature: {for_discord(signature)}"
