"""Push, decided: what a webhook delivery means and whether it may cost a SellApp read.

Pure: no I/O, no discord, no clock of its own (callers pass ``now``). A delivery is only
ever a *hint* ("ticket N of this guild has news"): it is checked here, and the hint is
then read through the same exactly-once path as polling. Its content is never used.

* :func:`check_delivery`: size, JSON, ``data.ticket_id`` (or, for ``order.disputed``, the
  order id at ``data.id``, ``data.order_id`` or ``data.order.id``), and, when the guild
  has a signing secret, ``Signature`` = hex HMAC-SHA256 of the raw body (constant time).
  An order hint is only "order N may have changed": its status is never trusted.
* :class:`Coalescer`: one read in flight per ticket or order (a hint during a read asks
  for one more read after it, never a second one alongside), and a per-guild token bucket
  so a flood of hints can't turn the listener into a SellApp request amplifier.
* :func:`push_state`: what ``/sellapp status`` says (off / live / failing).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

__all__ = [
    "EVENT",
    "EVENTS",
    "MAX_BODY",
    "ORDER_DISPUTED",
    "WEBHOOK_ROUTE",
    "Accepted",
    "Admission",
    "Coalescer",
    "OrderHint",
    "PushStatus",
    "Rejected",
    "check_delivery",
    "push_state",
    "push_state_off",
    "token_digest",
    "webhook_url",
]

EVENT: Final = "ticket_message.created"
ORDER_DISPUTED: Final = "order.disputed"
EVENTS: Final = (EVENT, ORDER_DISPUTED)
"""What the bridge's webhook channel subscribes to."""
MAX_ORDER_ID: Final = 64
MAX_BODY: Final = 64 * 1024
WEBHOOK_ROUTE: Final = "/sellapp/webhook/{token}"
BUDGET_BURST: Final = 30
"""Reads a guild's hints may start at once."""
BUDGET_PER_SECOND: Final = 10.0
"""Reads a guild's hints may start per second, sustained."""


def webhook_url(public_url: str, token: str) -> str:
    """The URL SellApp posts to for one guild: ``PUBLIC_URL`` + the route with its token."""
    return public_url.rstrip("/") + WEBHOOK_ROUTE.format(token=token)


def token_digest(token: str) -> str:
    """What tokens are looked up by, so a lookup's timing says nothing about a token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Accepted:
    """A ticket hint: ``ticket_id`` has news."""

    ticket_id: int


@dataclass(frozen=True, slots=True)
class OrderHint:
    """An ``order.disputed`` hint: ``order_id`` may be disputed now (read it to know)."""

    order_id: str


@dataclass(frozen=True, slots=True)
class Rejected:
    status: int
    reason: str


def _signed(body: bytes, secret: str, signature: str | None) -> bool:
    if not signature:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def check_delivery(
    body: bytes, *, secret: str | None, signature: str | None
) -> Accepted | OrderHint | Rejected:
    """A delivery to a known guild's URL: the ticket or order it hints at, or why it is refused."""
    if len(body) > MAX_BODY:
        return Rejected(413, "body over 64 KiB")
    if secret is not None and not _signed(body, secret, signature):
        return Rejected(401, "bad or missing Signature")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return Rejected(400, "not JSON")
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        data = {}
    if isinstance(payload, dict) and payload.get("event") == ORDER_DISPUTED:
        order_id = _order_id(data)
        return Rejected(422, "no order id") if order_id is None else OrderHint(order_id)
    raw = _positive_int(data.get("ticket_id"))
    return Rejected(422, "no ticket id") if raw is None else Accepted(raw)


def _positive_int(raw: object) -> int | None:
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 < raw < 2**63:
        return None
    return raw


def _order_id(data: dict[str, object]) -> str | None:
    """The order an ``order.disputed`` names: ``data.id``, ``data.order_id`` or
    ``data.order.id`` (the payload is undocumented), as the text a card stores."""
    nested = data.get("order")
    candidates = [data.get("id"), data.get("order_id")]
    if isinstance(nested, dict):
        candidates.append(nested.get("id"))
    for raw in candidates:
        number = _positive_int(raw)
        if number is not None:
            return str(number)
        if (
            isinstance(raw, str)
            and 0 < len(raw) <= MAX_ORDER_ID
            and all(c.isascii() and (c.isalnum() or c in "-_") for c in raw)
        ):
            return raw
    return None


class Admission(enum.Enum):
    READ = "read"
    """Start a read of the ticket now."""
    FOLDED = "folded"
    """A read of the ticket is in flight: it is read once more when that one ends."""
    OVER_BUDGET = "over_budget"
    """The guild spent its budget: polling (the safety net) will see the news."""


Subject = int | OrderHint
"""What a hinted read is of: a ticket id, or an order."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


@dataclass(slots=True)
class Coalescer:
    """Which hints start a read. Not thread-safe; lives in the bot's event loop."""

    burst: int = BUDGET_BURST
    per_second: float = BUDGET_PER_SECOND
    _in_flight: dict[tuple[int, Subject], bool] = field(default_factory=dict)
    """(guild, what is read) -> whether another hint came during the read."""
    _buckets: dict[int, _Bucket] = field(default_factory=dict)

    def admit(self, guild_id: int, ticket_id: Subject, *, now: float) -> Admission:
        key = (guild_id, ticket_id)
        if key in self._in_flight:
            self._in_flight[key] = True
            return Admission.FOLDED
        bucket = self._buckets.setdefault(guild_id, _Bucket(float(self.burst), now))
        bucket.tokens = min(
            float(self.burst), bucket.tokens + max(0.0, now - bucket.at) * self.per_second
        )
        bucket.at = now
        if bucket.tokens < 1:
            return Admission.OVER_BUDGET
        bucket.tokens -= 1
        self._in_flight[key] = False
        return Admission.READ

    def finished(self, guild_id: int, ticket_id: Subject) -> bool:
        """The read ended. True: a hint came meanwhile, so read once more (still in flight)."""
        key = (guild_id, ticket_id)
        again = self._in_flight.pop(key, False)
        if again:
            self._in_flight[key] = False
        return again

    def drop(self, guild_id: int, ticket_id: Subject) -> None:
        """Forget a read that will not finish (cancelled)."""
        self._in_flight.pop((guild_id, ticket_id), None)

    def in_flight(self, guild_id: int) -> int:
        return sum(1 for g, _ in self._in_flight if g == guild_id)


@dataclass(frozen=True, slots=True)
class PushStatus:
    state: str
    """``off``, ``live`` or ``failing``."""
    words: str


def _day(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).date().isoformat()


def push_state_off() -> PushStatus:
    """Push when the host has not set ``PUBLIC_URL``."""
    return push_state(
        enabled=False, channel_id=None, last_error=None, last_hint_at=None, hints_today=0, now=0
    )


def push_state(
    *,
    enabled: bool,
    channel_id: str | None,
    last_error: str | None,
    last_hint_at: float | None,
    hints_today: int,
    now: float,
) -> PushStatus:
    """The rule behind ``/sellapp status``'s Push line."""
    if not enabled:
        return PushStatus("off", "off (the host has not set PUBLIC_URL): polling only")
    if channel_id is None:
        why = last_error or "not registered at SellApp yet"
        return PushStatus("failing", f"failing: {why}. Polling as usual meanwhile.")
    if last_hint_at is None:
        return PushStatus("live", "live (no hint received yet)")
    ago = max(0, round(now - last_hint_at))
    return PushStatus("live", f"live (last hint {ago} s ago, {hints_today} today)")


@dataclass(slots=True)
class HintCounter:
    """Hints of one guild: when the last came, and how many today (UTC)."""

    last_at: float | None = None
    day: str = ""
    today: int = 0

    def add(self, now: float) -> None:
        day = _day(now)
        if day != self.day:
            self.day, self.today = day, 0
        self.today += 1
        self.last_at = now

    def count_today(self, now: float) -> int:
        return self.today if self.day == _day(now) else 0
