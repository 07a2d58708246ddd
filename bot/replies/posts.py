"""A snippet reply as the bot posts it in a ticket's thread, and reading one back. Pure.

Send posts the snippet's text in the thread *for* the staff member: a header naming them
and the snippet, then the text escaped (:func:`bot.replies.template.for_discord`), so the
thread shows exactly what the customer gets. That Discord message is the reply's outbox
entry (``author_id`` = the staff member), like a typed reply.

The post carries all the outbox needs, so a database older than the thread (restored, or
lost) still knows it from history: :func:`read_post` gives back the staff member and the
plain text, and the catch-up treats it like any staff reply read from history (our ✅
means delivered; none: looked for at SellApp first, then sent), never skipped forever,
never sent twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from bot.replies.template import for_discord, from_discord

__all__ = ["SnippetPost", "post_text", "read_post"]

_HEADER: Final = re.compile(r"\A-# 💬 Reply from <@(\d+)> \(snippet ([^\n]*)\)\n")


@dataclass(frozen=True, slots=True)
class SnippetPost:
    staff_id: int
    snippet: str
    text: str
    """The plain text the customer gets (before any signature)."""


def post_text(staff_id: int, snippet: str, text: str) -> str:
    """What the bot posts: the header, then ``text`` shown literally."""
    name = for_discord(snippet.replace("\n", " "))
    return f"-# 💬 Reply from <@{staff_id}> (snippet {name})\n{for_discord(text)}"


def read_post(content: str) -> SnippetPost | None:
    """A post of :func:`post_text` read back; None for any other message."""
    match = _HEADER.match(content)
    if match is None:
        return None
    body = content[match.end() :]
    return SnippetPost(
        staff_id=int(match.group(1)),
        snippet=from_discord(match.group(2)),
        text=from_discord(body),
    )
