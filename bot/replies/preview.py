"""What ``/reply snippet:`` shows before Send, and whether Send may go ahead. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.replies.posts import post_text
from bot.replies.template import Facts, Filled, fill, for_discord

__all__ = ["DISCORD_LIMIT", "Preview", "preview"]

DISCORD_LIMIT: Final = 2000


@dataclass(frozen=True, slots=True)
class Preview:
    filled: Filled
    words: str
    """The ephemeral preview message."""
    blocked: str | None
    """Why Send is off, in words; None: it may be sent."""


def preview(name: str, body: str, facts: Facts, *, staff_id: int, signature: str | None) -> Preview:
    filled = fill(body, facts)
    blocked: str | None = None
    notes: list[str] = []
    if filled.unknown:
        named = ", ".join(f"`{{{n}}}`" for n in filled.unknown)
        notes.append(f"⚠️ Unknown variable(s): {named}. Fix the snippet (/snippet edit).")
    if filled.missing:
        named = ", ".join(f"`{{{n}}}`" for n in filled.missing)
        notes.append(f"⚠️ No value for this ticket: {named}.")
    if notes:
        blocked = "Not sent: the text still has a variable in it."
    if len(post_text(staff_id, name, filled.text)) > DISCORD_LIMIT:
        blocked = "Not sent: filled in, this snippet is too long for one Discord message."
        notes.append("⚠️ Too long for one Discord message; shorten the snippet.")
    shown = for_discord(filled.text)
    lines = [f"**Preview of snippet `{for_discord(name)}`** (only you see this)", "", shown]
    if signature:
        lines += ["", f"-# Then your signature: {for_discord(signature)}"]
    if notes:
        lines += ["", *notes]
    else:
        lines += ["", "Press **Send** to post it here as your reply to the customer."]
    words = "\n".join(lines)
    if len(words) > DISCORD_LIMIT:
        words = words[: DISCORD_LIMIT - 1] + "…"
    return Preview(filled=filled, words=words, blocked=blocked)
