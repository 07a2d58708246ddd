"""The ``snippets`` and ``signatures`` tables: a guild's saved replies and reply signature."""

from __future__ import annotations

from bot.store._db import Database, Row, changed, one
from bot.store.records import Snippet


def _snippet(row: Row) -> Snippet:
    return Snippet(**{name: row[name] for name in Snippet.__dataclass_fields__})


class ReplyToolsTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- snippets ---

    async def snippet(self, guild_id: int, name: str) -> Snippet | None:
        row = await self._db.read_one(
            "SELECT * FROM snippets WHERE guild_id = ? AND name = ?", (guild_id, name)
        )
        return _snippet(row) if row else None

    async def snippets(self, guild_id: int) -> list[Snippet]:
        rows = await self._db.read_all(
            "SELECT * FROM snippets WHERE guild_id = ? ORDER BY name", (guild_id,)
        )
        return [_snippet(r) for r in rows]

    async def add_snippet(
        self, guild_id: int, name: str, body: str, *, by: int, now: float
    ) -> Snippet | None:
        """Save a new snippet; None if the guild has one by that name already."""
        async with self._db.transaction() as db:
            row = await one(
                db,
                "INSERT INTO snippets (guild_id, name, body, updated_by, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, name) DO NOTHING RETURNING *",
                (guild_id, name, body, by, now, now),
            )
        return _snippet(row) if row else None

    async def edit_snippet(
        self, guild_id: int, name: str, body: str, *, by: int, now: float
    ) -> Snippet | None:
        """Change a snippet's text; None if there is none by that name."""
        async with self._db.transaction() as db:
            row = await one(
                db,
                "UPDATE snippets SET body = ?, updated_by = ?, updated_at = ?"
                " WHERE guild_id = ? AND name = ? RETURNING *",
                (body, by, now, guild_id, name),
            )
        return _snippet(row) if row else None

    async def remove_snippet(self, guild_id: int, name: str) -> bool:
        async with self._db.transaction() as db:
            gone = await changed(
                db, "DELETE FROM snippets WHERE guild_id = ? AND name = ?", (guild_id, name)
            )
        return gone > 0

    # --- signature ---

    async def signature(self, guild_id: int) -> str | None:
        """The guild's signature template; None: off."""
        row = await self._db.read_one(
            "SELECT template FROM signatures WHERE guild_id = ?", (guild_id,)
        )
        return str(row["template"]) if row else None

    async def set_signature(self, guild_id: int, template: str | None, *, now: float) -> None:
        """Set the template, or turn signatures off (None)."""
        async with self._db.transaction() as db:
            if template is None:
                await db.execute("DELETE FROM signatures WHERE guild_id = ?", (guild_id,))
            else:
                await db.execute(
                    "INSERT INTO signatures (guild_id, template, updated_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (guild_id) DO UPDATE SET template = excluded.template,"
                    " updated_at = excluded.updated_at",
                    (guild_id, template, now),
                )
