"""The ``messages`` table: every SellApp message of a ticket, and where it was posted.

Inbound rows are customer (and dashboard) messages, written as an intent before the
Discord post and marked posted after it. Outbound rows are our own replies, so they are
never echoed back into the thread as store messages.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from bot.store._db import Connection, Database, Row, changed, ids, one, require
from bot.store.records import MessageRecord


def _message(row: Row) -> MessageRecord:
    fields = {name: row[name] for name in MessageRecord.__dataclass_fields__}
    fields["discord_message_ids"] = ids(row["discord_message_ids"])
    return MessageRecord(**fields)


async def insert_outbound(
    db: Connection,
    *,
    guild_id: int,
    ticket_id: int,
    sellapp_message_id: int,
    discord_message_ids: Sequence[int],
    now: float,
) -> bool:
    """Inside a transaction: remember a SellApp message that is our own reply."""
    inserted = await changed(
        db,
        "INSERT INTO messages (guild_id, sellapp_message_id, ticket_id, direction, state,"
        " discord_message_ids, created_at, posted_at)"
        " VALUES (?, ?, ?, 'outbound', 'posted', ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (guild_id, sellapp_message_id, ticket_id, json.dumps(list(discord_message_ids)), now, now),
    )
    return inserted > 0


class MessageTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record_post_intent(
        self, guild_id: int, ticket_id: int, sellapp_message_id: int, *, now: float
    ) -> bool:
        """Record that we are about to post a SellApp message. False if it is already known."""
        async with self._db.transaction() as db:
            inserted = await changed(
                db,
                "INSERT INTO messages (guild_id, sellapp_message_id, ticket_id, direction, state,"
                " created_at) VALUES (?, ?, ?, 'inbound', 'pending', ?)"
                " ON CONFLICT DO NOTHING",
                (guild_id, sellapp_message_id, ticket_id, now),
            )
        return inserted > 0

    async def record_posted(
        self,
        guild_id: int,
        sellapp_message_id: int,
        discord_message_ids: Sequence[int],
        *,
        now: float,
        messages_page: int | None = None,
    ) -> MessageRecord:
        """Mark a message posted and advance its ticket's progress, in one transaction."""
        async with self._db.transaction() as db:
            row = require(
                await one(
                    db,
                    "UPDATE messages SET state = 'posted', discord_message_ids = ?, posted_at = ?"
                    " WHERE guild_id = ? AND sellapp_message_id = ?"
                    " RETURNING *",
                    (json.dumps(list(discord_message_ids)), now, guild_id, sellapp_message_id),
                ),
                "recorded message",
            )
            await db.execute(
                "UPDATE tickets SET last_message_id = max(last_message_id, ?),"
                " messages_page = coalesce(?, messages_page), updated_at = ?"
                " WHERE guild_id = ? AND ticket_id = ?",
                (sellapp_message_id, messages_page, now, guild_id, row["ticket_id"]),
            )
        return _message(row)

    async def get(self, guild_id: int, sellapp_message_id: int) -> MessageRecord | None:
        row = await self._db.read_one(
            "SELECT * FROM messages WHERE guild_id = ? AND sellapp_message_id = ?",
            (guild_id, sellapp_message_id),
        )
        return _message(row) if row else None

    async def pending_posts(self, guild_id: int) -> list[MessageRecord]:
        """Intents not confirmed posted (a crash came between), oldest first per ticket."""
        rows = await self._db.read_all(
            "SELECT * FROM messages WHERE guild_id = ? AND state = 'pending'"
            " ORDER BY ticket_id, sellapp_message_id",
            (guild_id,),
        )
        return [_message(r) for r in rows]

    async def known_ids(self, guild_id: int, ticket_id: int) -> set[int]:
        rows = await self._db.read_all(
            "SELECT sellapp_message_id FROM messages WHERE guild_id = ? AND ticket_id = ?",
            (guild_id, ticket_id),
        )
        return {int(r[0]) for r in rows}
