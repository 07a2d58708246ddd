"""The ``outbox`` table: staff replies on their way to SellApp, one row a Discord message.

States: ``queued`` -> ``sending`` (committed before the POST) -> ``delivered``; a
retryable failure makes it ``waiting``; a final one ``refused``. Per ticket, an entry is
never deliverable while an older one is still open (see :data:`OPEN_OUTBOX_STATES`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from bot.store._db import Database, Row, changed, every, one
from bot.store.messages import insert_outbound
from bot.store.records import OPEN_OUTBOX_STATES, OUTBOX_STATES, OutboxEntry, OutboxState
from bot.store.state import mark_seen

# ``state IN _OPEN`` in SQL: the states of a reply still on its way (fixed words, no input).
_OPEN: Final = "(" + ", ".join(f"'{state}'" for state in OPEN_OUTBOX_STATES) + ")"


def _outbox(row: Row) -> OutboxEntry:
    fields = {name: row[name] for name in OutboxEntry.__dataclass_fields__}
    fields["waiting_shown"] = bool(fields["waiting_shown"])
    fields["look_first"] = bool(fields["look_first"])
    return OutboxEntry(**fields)


class OutboxTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def enqueue(
        self,
        guild_id: int,
        ticket_id: int,
        *,
        channel_id: int,
        discord_message_id: int,
        author_id: int,
        content: str,
        now: float,
        look_first: bool = False,
        typed_at: float | None = None,
        waiting_shown: bool = False,
        signature: str | None = None,
    ) -> OutboxEntry | None:
        """Queue a staff reply; None if this Discord message was already queued. Also moves
        the thread's mark (see ``StateTable.set_last_seen_discord_message``) in the same
        commit: one write on the path from a staff message to SellApp, not two.

        ``look_first``: SellApp may have it already (read back from history), so it is
        looked for there before its first send; ``typed_at`` is when it was typed;
        ``waiting_shown``: the message already carries our ⏳ (from an earlier run);
        ``signature``: the filled-in signature ``content`` ends with (shown in the thread)."""
        async with self._db.transaction() as db:
            row = await one(
                db,
                "INSERT INTO outbox (guild_id, ticket_id, channel_id, discord_message_id,"
                " author_id, content, next_attempt_at, created_at, look_first, typed_at,"
                " waiting_shown, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (discord_message_id) DO NOTHING RETURNING *",
                (
                    guild_id,
                    ticket_id,
                    channel_id,
                    discord_message_id,
                    author_id,
                    content,
                    now,
                    now,
                    int(look_first),
                    typed_at,
                    int(waiting_shown),
                    signature,
                ),
            )
            await mark_seen(db, channel_id, discord_message_id)
        return _outbox(row) if row else None

    async def record_settled_reply(
        self,
        guild_id: int,
        ticket_id: int,
        *,
        channel_id: int,
        discord_message_id: int,
        author_id: int,
        content: str,
        state: Literal["delivered", "refused"],
        note: str | None,
        now: float,
        typed_at: float | None = None,
    ) -> OutboxEntry | None:
        """Record a staff reply whose outcome Discord still shows (our ✅ or ❌ on it) but
        this database lost: in its final state, never to be sent. None if it was known.
        Moves the thread's mark like :meth:`enqueue`."""
        async with self._db.transaction() as db:
            row = await one(
                db,
                "INSERT INTO outbox (guild_id, ticket_id, channel_id, discord_message_id,"
                " author_id, content, state, last_error, created_at, delivered_at, typed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (discord_message_id) DO NOTHING RETURNING *",
                (
                    guild_id,
                    ticket_id,
                    channel_id,
                    discord_message_id,
                    author_id,
                    content,
                    state,
                    note,
                    now,
                    now if state == "delivered" else None,
                    typed_at,
                ),
            )
            await mark_seen(db, channel_id, discord_message_id)
        return _outbox(row) if row else None

    async def look_first_for_unfinished(self, guild_id: int | None = None) -> int:
        """Every queued or waiting entry (of ``guild_id``; None: of every guild) is
        looked for at SellApp before its next send.

        Called at start: the database may be older than SellApp (restored from a backup
        taken while a reply was queued that a later run delivered). Returns how many."""
        async with self._db.transaction() as db:
            return await changed(
                db,
                "UPDATE outbox SET look_first = 1"
                " WHERE state IN ('queued', 'waiting') AND look_first = 0"
                " AND (CAST(:guild AS BIGINT) IS NULL OR guild_id = :guild)",
                {"guild": guild_id},
            )

    async def next_deliverable(
        self, guild_id: int | None = None, *, now: float
    ) -> list[OutboxEntry]:
        """Per ticket, the oldest undelivered entry, if its time has come.

        An entry is never deliverable while an older one of the same ticket is queued,
        waiting or sending; refused and delivered entries no longer hold the line.
        """
        rows = await self._db.read_all(
            "SELECT * FROM outbox AS o WHERE o.state IN ('queued', 'waiting')"  # noqa: S608
            " AND o.next_attempt_at <= :now"
            " AND (CAST(:guild AS BIGINT) IS NULL OR o.guild_id = :guild)"
            " AND NOT EXISTS (SELECT 1 FROM outbox AS p WHERE p.guild_id = o.guild_id"
            "  AND p.ticket_id = o.ticket_id AND p.id < o.id"
            f"  AND p.state IN {_OPEN})"
            " ORDER BY o.id",
            {"now": now, "guild": guild_id},
        )
        return [_outbox(r) for r in rows]

    async def get(self, entry_id: int) -> OutboxEntry | None:
        row = await self._db.read_one("SELECT * FROM outbox WHERE id = ?", (entry_id,))
        return _outbox(row) if row else None

    async def by_discord_message(self, discord_message_id: int) -> OutboxEntry | None:
        row = await self._db.read_one(
            "SELECT * FROM outbox WHERE discord_message_id = ?", (discord_message_id,)
        )
        return _outbox(row) if row else None

    async def in_state(self, state: OutboxState, guild_id: int | None = None) -> list[OutboxEntry]:
        rows = await self._db.read_all(
            "SELECT * FROM outbox WHERE state = ?"
            " AND (CAST(? AS BIGINT) IS NULL OR guild_id = ?) ORDER BY id",
            (state, guild_id, guild_id),
        )
        return [_outbox(r) for r in rows]

    async def open_entries(self, guild_id: int, ticket_id: int) -> list[OutboxEntry]:
        """A ticket's entries not yet delivered or refused, oldest (the head) first."""
        rows = await self._db.read_all(
            "SELECT * FROM outbox WHERE guild_id = ? AND ticket_id = ?"  # noqa: S608
            f" AND state IN {_OPEN} ORDER BY id",
            (guild_id, ticket_id),
        )
        return [_outbox(r) for r in rows]

    async def mark_waiting_shown(self, entry_ids: Sequence[int]) -> list[OutboxEntry]:
        """Record that ⏳ goes on these entries' messages, before it is added. Only entries
        still queued or waiting and not marked yet change; those are returned, oldest
        first, and are the ones to react on (each gets ⏳ once)."""
        if not entry_ids:
            return []
        marks = ", ".join("?" for _ in entry_ids)
        async with self._db.transaction() as db:
            rows = await every(
                db,
                f"UPDATE outbox SET waiting_shown = 1 WHERE id IN ({marks})"  # noqa: S608 - only ?s
                " AND waiting_shown = 0 AND state IN ('queued', 'waiting') RETURNING *",
                tuple(entry_ids),
            )
        return sorted((_outbox(r) for r in rows), key=lambda e: e.id)

    async def has_reply_on_its_way(self, guild_id: int, ticket_id: int) -> bool:
        """Whether a staff reply to the ticket is still queued, sending or waiting."""
        row = await self._db.read_one(
            f"SELECT 1 FROM outbox WHERE guild_id = ? AND ticket_id = ? AND state IN {_OPEN}"  # noqa: S608
            " LIMIT 1",
            (guild_id, ticket_id),
        )
        return row is not None

    async def counts(self, guild_id: int) -> dict[OutboxState, int]:
        rows = await self._db.read_all(
            "SELECT state, count(*) FROM outbox WHERE guild_id = ? GROUP BY state", (guild_id,)
        )
        counts: dict[OutboxState, int] = dict.fromkeys(OUTBOX_STATES, 0)
        for state, count in rows:
            counts[state] = int(count)
        return counts

    async def mark_sending(self, entry_id: int, *, now: float) -> bool:
        """Claim a queued/waiting entry: from here its POST may reach SellApp.

        Commit this before sending; an entry found ``sending`` at start must be reconciled
        with SellApp, never resent blindly. False if the entry was not queued or waiting.
        """
        async with self._db.transaction() as db:
            count = await changed(
                db,
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1, sent_at = ?"
                " WHERE id = ? AND state IN ('queued', 'waiting')",
                (now, entry_id),
            )
        return count > 0

    async def mark_delivered(self, entry_id: int, sellapp_message_id: int, *, now: float) -> bool:
        """Mark a sending entry delivered and record its SellApp message as our own, at once."""
        async with self._db.transaction() as db:
            row = await one(
                db,
                "UPDATE outbox SET state = 'delivered', sellapp_message_id = ?, delivered_at = ?,"
                " last_error = NULL WHERE id = ? AND state = 'sending' RETURNING *",
                (sellapp_message_id, now, entry_id),
            )
            if row is None:
                return False
            await insert_outbound(
                db,
                guild_id=row["guild_id"],
                ticket_id=row["ticket_id"],
                sellapp_message_id=sellapp_message_id,
                discord_message_ids=(row["discord_message_id"],),
                now=now,
            )
        return True

    async def mark_waiting(self, entry_id: int, error: str, *, next_attempt_at: float) -> bool:
        """A retryable failure: try again at ``next_attempt_at``. ``error`` is shown to staff."""
        async with self._db.transaction() as db:
            count = await changed(
                db,
                "UPDATE outbox SET state = 'waiting', last_error = ?, next_attempt_at = ?"  # noqa: S608
                f" WHERE id = ? AND state IN {_OPEN}",
                (error, next_attempt_at, entry_id),
            )
        return count > 0

    async def withdraw_reply(self, entry_id: int, reason: str) -> bool:
        """Take back a reply no attempt has been made to send (queued, or waiting without
        an attempt). False if it may already be on its way: then it can't be withdrawn.
        A reply to be looked for first (read back after a restore) may be at SellApp
        already, so it can't be withdrawn either."""
        async with self._db.transaction() as db:
            count = await changed(
                db,
                "UPDATE outbox SET state = 'refused', last_error = ?"
                " WHERE id = ? AND attempts = 0 AND look_first = 0"
                " AND state IN ('queued', 'waiting')",
                (reason, entry_id),
            )
        return count > 0

    async def mark_refused(self, entry_id: int, error: str) -> bool:
        """SellApp refused the reply for good (e.g. 422); it is never sent again."""
        async with self._db.transaction() as db:
            count = await changed(
                db,
                "UPDATE outbox SET state = 'refused', last_error = ?"  # noqa: S608
                f" WHERE id = ? AND state IN {_OPEN}",
                (error, entry_id),
            )
        return count > 0

    # --- the relay's feedback on an entry (lives and dies with the entry) ---

    async def owe_feedback(self, entry_id: int) -> None:
        """The entry's final reaction is owed until :meth:`settle_feedback`."""
        await self._set_feedback_owed(entry_id, owed=True)

    async def settle_feedback(self, entry_id: int) -> None:
        await self._set_feedback_owed(entry_id, owed=False)

    async def _set_feedback_owed(self, entry_id: int, *, owed: bool) -> None:
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE outbox SET feedback_owed = ? WHERE id = ?", (int(owed), entry_id)
            )

    async def owed_feedback(self, guild_id: int | None = None) -> list[int]:
        """Ids of the entries (of ``guild_id``; None: of every guild) whose final reaction
        is still owed, oldest first."""
        rows = await self._db.read_all(
            "SELECT id FROM outbox WHERE feedback_owed = 1"
            " AND (CAST(:guild AS BIGINT) IS NULL OR guild_id = :guild) ORDER BY id",
            {"guild": guild_id},
        )
        return [int(r[0]) for r in rows]

    async def edit_warned(self, discord_message_id: int) -> bool:
        """Whether staff were already told that editing this relayed message changes nothing."""
        row = await self._db.read_one(
            "SELECT 1 FROM outbox WHERE discord_message_id = ? AND edit_warned_at IS NOT NULL",
            (discord_message_id,),
        )
        return row is not None

    async def record_edit_warned(self, discord_message_id: int, *, now: float) -> None:
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE outbox SET edit_warned_at = coalesce(edit_warned_at, ?)"
                " WHERE discord_message_id = ?",
                (now, discord_message_id),
            )
