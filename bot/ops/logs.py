"""Logging set-up: the one place that configures handlers.

Readable lines by default, one JSON object a line with ``LOG_FORMAT=json``. A filter
replaces every known secret (the Discord token, SellApp keys, SECRET_KEY) with
``[redacted]`` in whatever reaches a handler, as a last line of defence: the code
itself never logs them.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

REDACTED = "[redacted]"

# Attributes every LogRecord has; anything else was passed with ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class SecretRegistry:
    """The secret strings that must never be written out. Thread-safe; grows at run time
    (a key linked with ``/sellapp connect`` is added when it is first opened)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        self._known: frozenset[str] = frozenset()

    def add(self, *values: str | None) -> None:
        # Called for every key on every poll: nothing new (the rule) costs a set lookup,
        # not a sort of every secret (1,000 guilds: 1,000 keys).
        if all(not v or len(v) < 8 or v in self._known for v in values):
            return
        with self._lock:
            found = set(self._secrets)
            # Very short values would redact ordinary words; real secrets are long.
            found.update(v for v in values if v and len(v) >= 8)
            # Longest first, so a secret containing another is replaced whole.
            self._secrets = tuple(sorted(found, key=len, reverse=True))
            self._known = frozenset(found)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


class RedactingFilter(logging.Filter):
    """Renders the record's message once, scrubs it, and freezes it on the record."""

    def __init__(self, secrets: SecretRegistry) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self._secrets.scrub(message)
        record.msg = scrubbed
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._secrets.scrub(record.exc_text)
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, self._secrets.scrub(value))  # extra= fields too
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                data[key] = (
                    value if isinstance(value, str | int | float | bool | None) else str(value)
                )
        if record.exc_text:
            data["exception"] = record.exc_text
        elif record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup_logging(
    level: str,
    fmt: str,
    secrets: SecretRegistry,
    *,
    stream: TextIO | None = None,
) -> None:
    """Configure the root logger once for the process."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter(secrets))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request line at INFO; those are noise (and carry URLs).
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # discord.py's gateway chatter is DEBUG-level detail.
    logging.getLogger("discord.gateway").setLevel(max(logging.INFO, root.level))


def secret_values(values: Iterable[Any]) -> list[str]:
    """Pull plain strings out of SecretStr-or-None values."""
    out: list[str] = []
    for value in values:
        if value is None:
            continue
        get = getattr(value, "get_secret_value", None)
        out.append(get() if callable(get) else str(value))
    return out
