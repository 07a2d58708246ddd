"""Pure functions: SellApp tickets and messages -> Discord payloads.

Nothing here does I/O or imports discord. A payload is a :class:`Post`: plain content
plus embed dicts in Discord's JSON shape (the Discord adapter turns them into
``discord.Embed.from_dict``). The rules:

* Everything a customer wrote is shown inside embeds, markdown-escaped, so it reads
  exactly as typed and can't ping (embeds never ping; the client default is
  ``AllowedMentions.none()`` as well) or dress itself up as a link or a mention.
* Long text is split across several Discord messages without losing a character;
  each part carries a footer marker ``SellApp message <id> · part i of n`` that the
  inbound engine uses to find what it already posted after a crash.
* Lengths are measured in UTF-16 code units, the stricter of the ways a limit can be
  counted, so an emoji-heavy message never overflows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.sellapp.models import Author, Ticket, TicketMessage, TicketStatus

THREAD_NAME_LIMIT = 100
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_FIELD_LIMIT = 1024
EMBED_AUTHOR_LIMIT = 256
# Room left under the description limit for safety; a part is at most this long.
PART_LIMIT = 4000

COLOR_CUSTOMER = 0x3B82F6
COLOR_STORE = 0x22C55E
COLOR_TICKET_OPEN = 0x3B82F6
COLOR_TICKET_CLOSED = 0x6B7280

EMPTY_MESSAGE = "*(empty message)*"
ELLIPSIS = "…"

_MARKER_RE = re.compile(r"SellApp message (\d+)(?: · part (\d+) of (\d+))?")
# Any ASCII punctuation that Discord's markdown gives meaning to. Discord's parser drops
# a backslash before any non-alphanumeric character, so escaping these loses nothing.
_MARKDOWN_CHARS = re.compile(r"([\\*_~|`>#\-\[\]()<])")
# Links stay clickable: text inside a bare URL is left as it is (Discord links URLs before
# it reads markdown, and a backslash inside one would break it).
_URL = re.compile(r"https?://[^\s<>()\[\]\\]+")
_WHITESPACE_RUN = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Post:
    """One Discord message to send."""

    content: str = ""
    embeds: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    ping_user: int | None = None
    """The one user this post may ping (a claimed ticket's owner); nobody else."""
    ping_role: int | None = None
    """The one role this post may ping (the notify role); no other. Only triage sets these."""


@dataclass(frozen=True, slots=True)
class Marker:
    """What a posted message says about itself: which SellApp message, which part."""

    message_id: int
    part: int
    parts: int


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def escape_markdown(text: str) -> str:
    """Backslash-escape markdown and mention syntax so the text shows literally."""
    out: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        out.append(_MARKDOWN_CHARS.sub(r"\\\1", text[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_MARKDOWN_CHARS.sub(r"\\\1", text[last:]))
    return "".join(out)


def _cut(text: str, limit: int) -> str:
    """Cut to ``limit`` UTF-16 units, ending in an ellipsis when cut."""
    if utf16_len(text) <= limit:
        return text
    out = []
    used = utf16_len(ELLIPSIS)
    for ch in text:
        size = utf16_len(ch)
        if used + size > limit:
            break
        out.append(ch)
        used += size
    return "".join(out).rstrip("\\") + ELLIPSIS


def split_text(text: str, limit: int = PART_LIMIT) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` UTF-16 units.

    ``"".join(parts) == text`` always holds. Prefers to break after a newline, then after
    a space, within the last fifth of a part; never between a backslash and the
    character it escapes.
    """
    if not text:
        return [""]
    parts: list[str] = []
    start = 0
    while start < len(text):
        end = start
        used = 0
        while end < len(text):
            size = utf16_len(text[end])
            if used + size > limit:
                break
            used += size
            end += 1
        if end < len(text):
            window_start = start + (end - start) * 4 // 5
            cut = max(text.rfind("\n", window_start, end), text.rfind(" ", window_start, end))
            if cut >= window_start:
                end = cut + 1
            # Don't separate an escaping backslash from what it escapes.
            backslashes = 0
            while end - backslashes - 1 >= start and text[end - backslashes - 1] == "\\":
                backslashes += 1
            if backslashes % 2 == 1:
                end -= 1
        parts.append(text[start:end])
        start = end
    return parts


def one_line(text: str) -> str:
    """Collapse every run of whitespace (newlines included) to one space."""
    return _WHITESPACE_RUN.sub(" ", text).strip()


def thread_name(ticket: Ticket) -> str:
    """``#<id> · <title>``, on one line, cut to Discord's 100 characters."""
    title = one_line(ticket.title) or "(no title)"
    return _cut(f"#{ticket.id} · {title}", THREAD_NAME_LIMIT)


def _timestamp(moment: datetime) -> str:
    return moment.isoformat()


def _discord_time(moment: datetime) -> str:
    return f"<t:{int(moment.timestamp())}:f>"


def ticket_embed(ticket: Ticket) -> dict[str, Any]:
    """The first message of a ticket's thread: who, what, which order, since when."""
    email = ticket.customer.email if ticket.customer and ticket.customer.email else None
    order = "none"
    if ticket.reference is not None:
        kind = ticket.reference.type or "order"
        order = f"{kind} {ticket.reference.id}"
    closed = ticket.status is TicketStatus.CLOSED
    title = one_line(ticket.title) or "(no title)"
    fields = [
        {"name": "Status", "value": ticket.status.value.title(), "inline": True},
        {
            "name": "Customer",
            "value": _cut(escape_markdown(email), EMBED_FIELD_LIMIT) if email else "unknown",
            "inline": True,
        },
        {"name": "Order", "value": _cut(escape_markdown(order), EMBED_FIELD_LIMIT), "inline": True},
        {"name": "Opened", "value": _discord_time(ticket.created_at), "inline": True},
    ]
    return {
        "title": _cut(f"Ticket #{ticket.id}", EMBED_TITLE_LIMIT),
        "description": _cut(escape_markdown(title), EMBED_DESCRIPTION_LIMIT),
        "color": COLOR_TICKET_CLOSED if closed else COLOR_TICKET_OPEN,
        "fields": fields,
        "footer": {"text": f"SellApp ticket {ticket.id}"},
        "timestamp": _timestamp(ticket.created_at),
    }


def ticket_info_embed(ticket: Ticket) -> dict[str, Any]:
    """``/ticket info``: the thread's first embed, plus what changes as the ticket goes on
    (when SellApp last updated it, and how many messages it holds)."""
    embed = ticket_embed(ticket)
    fields = [
        *embed["fields"],
        {"name": "Updated", "value": f"<t:{int(ticket.updated_at.timestamp())}:R>", "inline": True},
    ]
    if ticket.message_count is not None:
        fields.append({"name": "Messages", "value": str(ticket.message_count), "inline": True})
    return {**embed, "fields": fields}


def ticket_post(ticket: Ticket) -> Post:
    return Post(embeds=(ticket_embed(ticket),))


def _author_line(
    message: TicketMessage, ticket: Ticket | None, sent_from_discord: bool
) -> tuple[str, int]:
    if sent_from_discord:
        return ("🧑‍💼 Staff reply (sent from Discord)", COLOR_STORE)
    if message.author is Author.CUSTOMER:
        who = message.sender or (ticket.customer.email if ticket and ticket.customer else None)
        return (f"💬 {one_line(who)}" if who else "💬 Customer", COLOR_CUSTOMER)
    return ("🏪 Store reply (from SellApp, not this thread)", COLOR_STORE)


def marker_text(message_id: int, part: int, parts: int) -> str:
    if parts == 1:
        return f"SellApp message {message_id}"
    return f"SellApp message {message_id} · part {part} of {parts}"


def message_posts(
    message: TicketMessage, ticket: Ticket | None = None, *, sent_from_discord: bool = False
) -> list[Post]:
    """A SellApp message as one or more Discord messages, in order.

    ``sent_from_discord`` marks a reply this bridge relayed, re-posted when a deleted
    thread is recreated with its history."""
    author, color = _author_line(message, ticket, sent_from_discord)
    body = escape_markdown(message.content) if message.content.strip() else ""
    chunks = split_text(body) if body else [EMPTY_MESSAGE]
    posts = []
    for index, chunk in enumerate(chunks, start=1):
        embed: dict[str, Any] = {
            "description": chunk,
            "color": color,
            "footer": {"text": marker_text(message.id, index, len(chunks))},
            "timestamp": _timestamp(message.created_at),
        }
        if index == 1:
            embed["author"] = {"name": _cut(author, EMBED_AUTHOR_LIMIT)}
        posts.append(Post(embeds=(embed,)))
    return posts


def read_marker(embeds: list[dict[str, Any]]) -> Marker | None:
    """Find our marker in a posted message's embeds (see :func:`marker_text`)."""
    for embed in embeds:
        footer = embed.get("footer") or {}
        text = footer.get("text") if isinstance(footer, dict) else None
        if not isinstance(text, str):
            continue
        match = _MARKER_RE.fullmatch(text)
        if match:
            part = int(match.group(2) or 1)
            parts = int(match.group(3) or 1)
            return Marker(int(match.group(1)), part, parts)
    return None
