"""Retry and response-reading helpers for :mod:`bot.sellapp.client`. Private: use the client.

Nothing here speaks HTTP; these are the small pure pieces the client's request loop uses:
how long to wait before the next try, how to read ``Retry-After``, how to turn a SellApp
error body into a short message that is safe to show staff, and how to read SellApp's
list envelope and single items into models (or a :class:`SellAppProtocolError`).
"""

from __future__ import annotations

import email.utils
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from bot.errors import SellAppProtocolError
from bot.sellapp.models import ItemProblem, Page

__all__ = [
    "RetryPolicy",
    "describe_validation_error",
    "error_fields",
    "error_message",
    "parse_item",
    "parse_page",
    "parse_retry_after",
]

T = TypeVar("T")

MESSAGE_LIMIT = 200


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard the client tries before giving up.

    ``attempts`` bounds the tries of a retry-safe request (GETs, and PATCHes that carry an
    idempotency key) against 5xx answers, timeouts and connection errors; waits grow
    exponentially from ``base_delay`` up to ``max_delay``, with jitter so that many
    stores' clients don't retry in step. ``rate_limit_retries`` bounds how many 429
    answers we wait out (for every method: a 429 means SellApp did nothing), each wait
    being ``Retry-After`` capped at ``max_retry_after`` (``default_retry_after`` when absent).
    """

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    rate_limit_retries: int = 3
    max_retry_after: float = 30.0
    default_retry_after: float = 1.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.rate_limit_retries < 0:
            raise ValueError("rate_limit_retries must not be negative")
        if min(self.base_delay, self.max_delay, self.max_retry_after) < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry`` (0-based): jittered, never above max_delay."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** min(retry, 30)))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not crypto

    def rate_limit_wait(self, retry_after: float | None) -> float:
        """How long to wait out a 429 that said ``retry_after`` (seconds or None)."""
        wait = self.default_retry_after if retry_after is None else retry_after
        return max(0.0, min(wait, self.max_retry_after))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Read ``Retry-After``: delta-seconds or an HTTP date. ``None`` when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _truncate(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def error_message(body: Any, fallback: str) -> str:
    """SellApp's own ``message``/``error``/``error_description``, truncated; else ``fallback``."""
    if isinstance(body, dict):
        for field in ("message", "error", "error_description"):
            value = body.get(field)
            if isinstance(value, str) and value.strip():
                return _truncate(value)
    return fallback


def error_fields(body: Any) -> dict[str, list[str]]:
    """The ``errors`` map of a 422 body, as field -> messages (each truncated)."""
    raw = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(raw, dict):
        return {}
    fields: dict[str, list[str]] = {}
    for key, value in raw.items():
        items = value if isinstance(value, list) else [value]
        fields[str(key)] = [_truncate(str(item)) for item in items if item is not None]
    return fields


def describe_validation_error(exc: ValidationError, *, prefix: tuple[str, ...] = ()) -> str:
    """Where and why a payload didn't fit: pydantic's first error, without the input value."""
    first = exc.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(part) for part in (*prefix, *first["loc"])) or "(top level)"
    return f"{where}: {first['msg']}"


class _Meta(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    current_page: int
    last_page: int
    per_page: int
    total: int | None = None


class _ListEnvelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    data: list[Any]
    meta: _Meta


def _item_id(raw: Any) -> int | None:
    """The id of a list item that didn't fit, when it has a readable one."""
    value = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def parse_page(body: Any, adapter: TypeAdapter[T], endpoint: str) -> Page[T]:
    """A Laravel list envelope (``data`` + ``meta``) -> :class:`Page`, item by item.

    The envelope must fit (without ``meta`` the pages can't be followed): if it doesn't,
    :class:`SellAppProtocolError`. An item that doesn't fit only costs that item: it is
    left out of ``items`` and described in ``problems``, and the rest of the page flows."""
    try:
        envelope = _ListEnvelope.model_validate(body)
    except ValidationError as exc:
        raise SellAppProtocolError(
            f"SellApp sent a list of an unexpected shape ({describe_validation_error(exc)})",
            endpoint=endpoint,
        ) from None
    items: list[T] = []
    problems: list[ItemProblem] = []
    for index, raw in enumerate(envelope.data):
        try:
            items.append(adapter.validate_python(raw))
        except ValidationError as exc:
            reason = describe_validation_error(exc, prefix=("data", str(index)))
            problems.append(ItemProblem(_item_id(raw), reason))
    meta = envelope.meta
    return Page(
        items=tuple(items),
        current_page=meta.current_page,
        last_page=meta.last_page,
        total=meta.total,
        per_page=meta.per_page,
        problems=tuple(problems),
    )


def parse_item(body: Any, model: type[T], endpoint: str) -> T:
    """A single item, ``{"data": {...}}`` or bare (SellApp's reply page shows it bare)."""
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        body = body["data"]
    try:
        return TypeAdapter(model).validate_python(body)
    except ValidationError as exc:
        raise SellAppProtocolError(
            f"SellApp sent an item of an unexpected shape ({describe_validation_error(exc)})",
            endpoint=endpoint,
        ) from None
