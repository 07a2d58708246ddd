"""Small per-guild and per-thread state: poll health, thread marks, ``meta`` keys."""

from __future__ import annotations

import logging
import time

from bot.store._db import Connection, Database, Params, Row, one, require
from bot.store.records import PollState

log = logging.getLogger(__name__)


def first_link_key(guild_id: int) -> str:
    return f"inbound.first_link.{guild_id}"


def _poll_state(row: Row) -> PollState:
    return PollState(**{name: row[name] for name in PollState.__dataclass_fields__})


async def mark_seen(db: Connection, thread_id: int, message_id: int) -> int:
    """Inside a transaction: move a thread's mark forward (never back); the mark as stored."""
    row = await one(
        db,
        "INSERT INTO thread_progress (thread_id, last_message_id) VALUES (?, ?)"
        " ON CONFLICT (thread_id) DO UPDATE SET"
        " last_message_id = max(thread_progress.last_message_id, excluded.last_message_id)"
        " RETURNING last_message_id",
        (thread_id, message_id),
    )
    return int(require(row, "thread progress")[0])


class StateTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- poll state ---

    async def record_poll_success(
        self, guild_id: int, *, now: float, response_ms: float | None
    ) -> PollState:
        return await self._upsert_poll_state(
            "INSERT INTO poll_state (guild_id, last_poll_at, last_success_at,"
            " consecutive_failures, last_response_ms) VALUES (?, ?, ?, 0, ?)"
            " ON CONFLICT (guild_id) DO UPDATE SET last_poll_at = excluded.last_poll_at,"
            " last_success_at = excluded.last_success_at, last_error = NULL,"
            " consecutive_failures = 0, last_response_ms = excluded.last_response_ms"
            " RETURNING *",
            (guild_id, now, now, response_ms),
        )

    async def record_poll_failure(self, guild_id: int, *, now: float, error: str) -> PollState:
        """``error`` in plain words, safe to show staff (no key, no customer text)."""
        return await self._upsert_poll_state(
            "INSERT INTO poll_state (guild_id, last_poll_at, last_error, consecutive_failures)"
            " VALUES (?, ?, ?, 1) ON CONFLICT (guild_id) DO UPDATE SET"
            " last_poll_at = excluded.last_poll_at, last_error = excluded.last_error,"
            " consecutive_failures = poll_state.consecutive_failures + 1 RETURNING *",
            (guild_id, now, error),
        )

    async def _upsert_poll_state(self, sql: str, params: Params) -> PollState:
        async with self._db.transaction() as db:
            row = await one(db, sql, params)
        return _poll_state(require(row, "poll state"))

    async def get_poll_state(self, guild_id: int) -> PollState | None:
        row = await self._db.read_one("SELECT * FROM poll_state WHERE guild_id = ?", (guild_id,))
        return _poll_state(row) if row else None

    # --- thread progress ---

    async def get_last_seen_discord_message(self, thread_id: int) -> int | None:
        row = await self._db.read_one(
            "SELECT last_message_id FROM thread_progress WHERE thread_id = ?", (thread_id,)
        )
        return int(row[0]) if row else None

    async def set_last_seen_discord_message(self, thread_id: int, message_id: int) -> int:
        """Move the thread's mark forward (never back); returns the mark as stored."""
        async with self._db.transaction() as db:
            return await mark_seen(db, thread_id, message_id)

    # --- meta and health ---

    async def get_meta(self, key: str) -> str | None:
        row = await self._db.read_one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        async with self._db.transaction() as db:
            await db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    async def first_link_done(self, guild_id: int) -> bool:
        """Whether a whole inbound cycle has finished since the guild's tickets were
        (first, or last) forgotten: until then closed tickets are only recorded."""
        return await self.get_meta(first_link_key(guild_id)) == "done"

    async def mark_first_link_done(self, guild_id: int) -> None:
        await self.set_meta(first_link_key(guild_id), "done")

    async def writable_check(self, *, now: float | None = None) -> bool:
        """For the health check: commit a heartbeat row. False if the database can't be written."""
        try:
            await self.set_meta("heartbeat", repr(time.time() if now is None else now))
        except self._db.errors as exc:
            log.warning("database is not writable: %s", exc)
            return False
        return True
