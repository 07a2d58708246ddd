"""What a Discord reader sees of text that :func:`bot.inbound.render.escape_markdown` escaped.

Only the tests need to read escaped text back; the bridge itself never does. Kept
separate from the bot's regexes so a test compares against an independent reading.
"""

from __future__ import annotations

import re

# A backslash before any of these shows the character itself (Discord's parser).
_ESCAPED = re.compile(r"\\([\\*_~|`>#\-\[\]()<])")
# Text inside a bare URL is never escaped, so it is left as it is.
_URL = re.compile(r"https?://[^\s<>()\[\]\\]+")


def unescape_markdown(text: str) -> str:
    """The inverse of ``escape_markdown``: the text as a reader sees it."""
    out: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        out.append(_ESCAPED.sub(r"\1", text[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_ESCAPED.sub(r"\1", text[last:]))
    return "".join(out)
