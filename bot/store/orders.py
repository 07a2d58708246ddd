"""Orders: ``order_roles``, ``order_cards`` and ``order_actions`` (migration 0008).

An action's life: :meth:`OrderTable.propose` (key and exact body, ``proposed``) ->
:meth:`OrderTable.claim` (``sending``, committed before the request; at most one action of
a kind per order in flight, so a double click or two staff at once make one) ->
:meth:`OrderTable.finish` (``done`` or ``refused``). A retryable failure keeps it
``sending`` with a later ``next_attempt_at`` (:meth:`OrderTable.retry_later`), and a row
found ``sending`` at start is sent again with the same key and body, never a new key.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Final, Literal

from bot.store._db import Database, Row, changed, one

ActionKind = Literal["resend", "replace", "refund"]

_IDS_PER_QUERY: Final = 500
"""Guild ids bound in one ``IN (...)``: well within SQLite's and PostgreSQL's limits."""
ActionState = Literal["proposed", "sending", "done", "refused", "cancelled"]


@dataclass(frozen=True, slots=True)
class OrderAction:
    """One action on an order, as recorded."""

    id: int
    guild_id: int
    ticket_id: int
    thread_id: int
    order_id: str
    kind: ActionKind
    route: str
    body: str
    idempotency_key: str
    summary: str
    actor_id: int
    state: ActionState
    attempts: int
    next_attempt_at: float
    last_error: str | None
    outcome: str | None
    audit_message_id: int | None
    created_at: float
    sent_at: float | None
    finished_at: float | None

    @property
    def payload(self) -> dict[str, Any]:
        """The exact body to send (the same on every retry)."""
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value


@dataclass(frozen=True, slots=True)
class OrderCard:
    guild_id: int
    ticket_id: int
    order_id: str
    thread_id: int
    message_id: int | None
    last_status: str | None
    updated_at: float
    product: str | None = None
    """The product of the order's first line item, as last read (for stats)."""


class RecentlyDone(Exception):
    """The same kind of action on this order was done moments ago (a second click)."""

    def __init__(self, action: OrderAction) -> None:
        super().__init__(f"action {action.id} was just done")
        self.action = action


class AlreadyInFlight(Exception):
    """Another action of this kind on this order is being sent right now."""

    def __init__(self, action: OrderAction) -> None:
        super().__init__(f"action {action.id} is in flight")
        self.action = action


def _action(row: Row) -> OrderAction:
    return OrderAction(**{name: row[name] for name in OrderAction.__dataclass_fields__})


def _card(row: Row) -> OrderCard:
    return OrderCard(**{name: row[name] for name in OrderCard.__dataclass_fields__})


class OrderTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    # ------------------------------------------------------------------ roles

    async def roles(self, guild_id: int) -> set[int]:
        rows = await self._db.read_all(
            "SELECT role_id FROM order_roles WHERE guild_id = ?", (guild_id,)
        )
        return {int(r[0]) for r in rows}

    async def add_role(self, guild_id: int, role_id: int) -> bool:
        async with self._db.transaction() as db:
            count = await changed(
                db,
                "INSERT INTO order_roles (guild_id, role_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (guild_id, role_id),
            )
        return count > 0

    async def remove_role(self, guild_id: int, role_id: int) -> bool:
        async with self._db.transaction() as db:
            count = await changed(
                db,
                "DELETE FROM order_roles WHERE guild_id = ? AND role_id = ?",
                (guild_id, role_id),
            )
        return count > 0

    # ------------------------------------------------------------------ cards

    async def card(self, guild_id: int, ticket_id: int) -> OrderCard | None:
        row = await self._db.read_one(
            "SELECT * FROM order_cards WHERE guild_id = ? AND ticket_id = ?",
            (guild_id, ticket_id),
        )
        return _card(row) if row else None

    async def record_card(
        self,
        guild_id: int,
        ticket_id: int,
        *,
        order_id: str,
        thread_id: int,
        message_id: int | None,
        status: str | None,
        now: float,
        product: str | None = None,
    ) -> OrderCard:
        """Remember the card's message (``None``: the intent, before posting), status and
        product (None: keep what was known)."""
        async with self._db.transaction() as db:
            row = await one(
                db,
                "INSERT INTO order_cards (guild_id, ticket_id, order_id, thread_id, message_id,"
                " last_status, updated_at, product) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (guild_id, ticket_id) DO UPDATE SET order_id = excluded.order_id,"
                " thread_id = excluded.thread_id,"
                " message_id = coalesce(excluded.message_id, order_cards.message_id),"
                " last_status = coalesce(excluded.last_status, order_cards.last_status),"
                " product = coalesce(excluded.product, order_cards.product),"
                " updated_at = excluded.updated_at RETURNING *",
                (guild_id, ticket_id, order_id, thread_id, message_id, status, now, product),
            )
        assert row is not None
        return _card(row)

    async def products(self, guild_id: int) -> dict[int, str]:
        """Ticket id -> the product its order is for, where a card has read it."""
        rows = await self._db.read_all(
            "SELECT ticket_id, product FROM order_cards WHERE guild_id = ? AND product IS NOT NULL",
            (guild_id,),
        )
        return {int(r[0]): str(r[1]) for r in rows}

    async def cards_due(
        self,
        *,
        now: float,
        readable_after: float,
        unreadable_after: float,
        limit: int = 10,
        guild_ids: Collection[int] | None = None,
    ) -> list[OrderCard]:
        """Cards of open tickets to read again: an unreadable one (no status yet) after
        ``unreadable_after`` seconds, the others after ``readable_after``; oldest first.

        ``guild_ids``: only those guilds' (the ones this process works on; None: every
        guild). The limit is taken among them, so cards of guilds other processes hold
        never crowd this process's out."""
        sql = (
            "SELECT c.* FROM order_cards AS c JOIN tickets AS t"
            " ON t.guild_id = c.guild_id AND t.ticket_id = c.ticket_id"
            " WHERE upper(t.status) != 'CLOSED' AND c.message_id IS NOT NULL"
            " AND c.updated_at <= CASE WHEN c.last_status IS NULL"
            " THEN CAST(? AS DOUBLE PRECISION) ELSE CAST(? AS DOUBLE PRECISION) END"
        )
        since = (now - unreadable_after, now - readable_after)
        if guild_ids is None:
            rows = await self._db.read_all(f"{sql} ORDER BY c.updated_at LIMIT ?", (*since, limit))
            return [_card(r) for r in rows]
        wanted = sorted(set(guild_ids))
        found: list[OrderCard] = []
        for start in range(0, len(wanted), _IDS_PER_QUERY):  # within every backend's limit
            chunk = wanted[start : start + _IDS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            rows = await self._db.read_all(
                f"{sql} AND c.guild_id IN ({marks}) ORDER BY c.updated_at LIMIT ?",
                (*since, *chunk, limit),
            )
            found.extend(_card(r) for r in rows)
        found.sort(key=lambda card: card.updated_at)
        return found[:limit]

    async def cards_of_order(self, guild_id: int, order_id: str) -> list[OrderCard]:
        rows = await self._db.read_all(
            "SELECT * FROM order_cards WHERE guild_id = ? AND order_id = ?", (guild_id, order_id)
        )
        return [_card(r) for r in rows]

    # ---------------------------------------------------------------- actions

    async def propose(
        self,
        guild_id: int,
        ticket_id: int,
        *,
        thread_id: int,
        order_id: str,
        kind: ActionKind,
        route: str,
        body: dict[str, Any],
        summary: str,
        actor_id: int,
        now: float,
    ) -> OrderAction:
        """Record an action with a fresh idempotency key and its exact body."""
        async with self._db.transaction() as db:
            row = await one(
                db,
                "INSERT INTO order_actions (guild_id, ticket_id, thread_id, order_id, kind, route,"
                " body, idempotency_key, summary, actor_id, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                (
                    guild_id,
                    ticket_id,
                    thread_id,
                    order_id,
                    kind,
                    route,
                    json.dumps(body, sort_keys=True, separators=(",", ":")),
                    str(uuid.uuid4()),
                    summary,
                    actor_id,
                    now,
                ),
            )
        assert row is not None
        return _action(row)

    async def claim(
        self,
        action_id: int,
        *,
        actor_id: int,
        now: float,
        done_since: float | None = None,
    ) -> OrderAction | None:
        """``proposed`` -> ``sending``, committed before the request. ``None`` if the action
        was already claimed, finished or cancelled (a second click). Raises
        :class:`AlreadyInFlight` if another action of its kind on its order is being sent,
        and with ``done_since`` :class:`RecentlyDone` if one finished since then."""
        async with self._db.transaction() as db:
            current = await one(db, "SELECT * FROM order_actions WHERE id = ?", (action_id,))
            if current is None or current["state"] != "proposed":
                return None
            busy = await one(
                db,
                "SELECT * FROM order_actions WHERE guild_id = ? AND order_id = ? AND kind = ?"
                " AND state = 'sending'",
                (current["guild_id"], current["order_id"], current["kind"]),
            )
            if busy is not None:
                raise AlreadyInFlight(_action(busy))
            if done_since is not None:
                recent = await one(
                    db,
                    "SELECT * FROM order_actions WHERE guild_id = ? AND order_id = ? AND kind = ?"
                    " AND state = 'done' AND finished_at >= ? ORDER BY finished_at DESC LIMIT 1",
                    (current["guild_id"], current["order_id"], current["kind"], done_since),
                )
                if recent is not None:
                    raise RecentlyDone(_action(recent))
            row = await one(
                db,
                "UPDATE order_actions SET state = 'sending', actor_id = ?, sent_at = ?,"
                " next_attempt_at = ? WHERE id = ? AND state = 'proposed' RETURNING *",
                (actor_id, now, now, action_id),
            )
        return _action(row) if row else None

    async def note_attempt(self, action_id: int, *, now: float) -> None:
        async with self._db.transaction() as db:
            await changed(
                db,
                "UPDATE order_actions SET attempts = attempts + 1, sent_at = ?"
                " WHERE id = ? AND state = 'sending'",
                (now, action_id),
            )

    async def retry_later(self, action_id: int, error: str, *, next_attempt_at: float) -> None:
        """A timeout, 5xx or 409: stay ``sending``; the same key and body go again later."""
        async with self._db.transaction() as db:
            await changed(
                db,
                "UPDATE order_actions SET last_error = ?, next_attempt_at = ?"
                " WHERE id = ? AND state = 'sending'",
                (error, next_attempt_at, action_id),
            )

    async def finish(
        self, action_id: int, state: Literal["done", "refused"], outcome: str, *, now: float
    ) -> OrderAction | None:
        """SellApp's final answer. ``None`` if the action was not ``sending``."""
        async with self._db.transaction() as db:
            row = await one(
                db,
                "UPDATE order_actions SET state = ?, outcome = ?, finished_at = ?"
                " WHERE id = ? AND state = 'sending' RETURNING *",
                (state, outcome, now, action_id),
            )
        return _action(row) if row else None

    async def cancel(self, action_id: int, *, now: float) -> bool:
        async with self._db.transaction() as db:
            count = await changed(
                db,
                "UPDATE order_actions SET state = 'cancelled', finished_at = ?"
                " WHERE id = ? AND state = 'proposed'",
                (now, action_id),
            )
        return count > 0

    async def record_audit(self, action_id: int, message_id: int) -> None:
        async with self._db.transaction() as db:
            await changed(
                db,
                "UPDATE order_actions SET audit_message_id = ? WHERE id = ?",
                (message_id, action_id),
            )

    async def get(self, action_id: int) -> OrderAction | None:
        row = await self._db.read_one("SELECT * FROM order_actions WHERE id = ?", (action_id,))
        return _action(row) if row else None

    async def for_ticket(self, guild_id: int, ticket_id: int) -> list[OrderAction]:
        """Every confirmed action on this ticket's order, oldest first."""
        rows = await self._db.read_all(
            "SELECT * FROM order_actions WHERE guild_id = ? AND ticket_id = ?"
            " AND state IN ('sending', 'done', 'refused') ORDER BY id",
            (guild_id, ticket_id),
        )
        return [_action(r) for r in rows]

    async def done(self, guild_id: int) -> list[OrderAction]:
        """Every action SellApp carried out for the guild, oldest first (for stats)."""
        rows = await self._db.read_all(
            "SELECT * FROM order_actions WHERE guild_id = ? AND state = 'done' ORDER BY id",
            (guild_id,),
        )
        return [_action(r) for r in rows]

    async def last_done(self, guild_id: int, order_id: str, kind: ActionKind) -> OrderAction | None:
        row = await self._db.read_one(
            "SELECT * FROM order_actions WHERE guild_id = ? AND order_id = ? AND kind = ?"
            " AND state = 'done' ORDER BY finished_at DESC LIMIT 1",
            (guild_id, order_id, kind),
        )
        return _action(row) if row else None

    async def due(self, *, now: float) -> list[OrderAction]:
        """Actions in flight whose next try is due: left by a timeout, a 409 or a restart."""
        rows = await self._db.read_all(
            "SELECT * FROM order_actions WHERE state = 'sending' AND next_attempt_at <= ?"
            " ORDER BY id",
            (now,),
        )
        return [_action(r) for r in rows]

    async def unaudited(self) -> list[OrderAction]:
        """Finished actions whose public line is not yet in the thread."""
        rows = await self._db.read_all(
            "SELECT * FROM order_actions WHERE state IN ('done', 'refused')"
            " AND audit_message_id IS NULL ORDER BY id"
        )
        return [_action(r) for r in rows]
