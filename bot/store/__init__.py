"""The bridge's store (SQLite or PostgreSQL): the only package with SQL.

:class:`Store` is the one object the rest of the bridge holds. It owns one shared
database (:mod:`bot.store._db`: its transactions; the SQLite kind in
:mod:`bot.store._sqlite`, the PostgreSQL kind in :mod:`bot.store._postgres`) and hands it
to one class a concern, each the only writer of its tables:

- ``store.links`` (:mod:`bot.store.links`): ``guild_links``.
- ``store.tickets`` (:mod:`bot.store.tickets`): ``tickets``.
- ``store.messages`` (:mod:`bot.store.messages`): ``messages``.
- ``store.outbox`` (:mod:`bot.store.outbox`): ``outbox``.
- ``store.state`` (:mod:`bot.store.state`): ``poll_state``, ``thread_progress``, ``meta``.
- ``store.problems`` (:mod:`bot.store.problems`): ``ticket_problems``.
- ``store.push`` (:mod:`bot.store.push`): ``push_channels``.
- ``store.orders`` (:mod:`bot.store.orders`): ``order_roles``, ``order_cards``, ``order_actions``.
- ``store.replytools`` (:mod:`bot.store.replytools`): ``snippets``, ``signatures``.
- ``store.stats`` (:mod:`bot.store.stats`): reads ``tickets``, ``ticket_events`` (kept by
  triggers) and ``outbox`` for ``/sellapp stats``.
- ``store.claims`` (:mod:`bot.store.claims`): not a table; the guilds this process holds
  (a lock per guild beside the SQLite file), so two processes never work on one guild.
- ``store.triage`` (:mod:`bot.store.triage`): ``triage_settings``, ``ticket_triage``,
  ``triage_pings`` (owners, waiting state, pings sent at most once).

A transaction that spans tables stays one method of the concern that starts it (for
example ``outbox.mark_delivered`` also records the reply as our own message, and
``links.delete(forget_tickets=True)`` drops the tickets too), so it commits once.
Every method hands back records from :mod:`bot.store.records`, never rows.

Migrations are ``bot/store/migrations/NNNN_name.sql`` (:mod:`bot.store._schema`),
applied in order at :meth:`Store.open`.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Self

from bot.store._db import (
    MEMORY,
    Backend,
    Database,
    is_postgres_url,
    masked_url,
    open_database,
    url_secrets,
)
from bot.store._schema import Migration, load_migrations, migrate, schema_version
from bot.store.claims import GuildClaims, LocalClaims, make_claims
from bot.store.links import UNSET, LinkTable
from bot.store.messages import MessageTable
from bot.store.orders import OrderTable
from bot.store.outbox import OutboxTable
from bot.store.problems import ProblemTable
from bot.store.push import PushTable
from bot.store.replytools import ReplyToolsTable
from bot.store.state import StateTable
from bot.store.stats import StatsTable
from bot.store.tickets import TicketTable
from bot.store.triage import TriageTable

__all__ = [
    "MEMORY",
    "UNSET",
    "Backend",
    "Migration",
    "Store",
    "is_postgres_url",
    "load_migrations",
    "masked_url",
    "url_secrets",
]


class Store:
    """Durable state of the bridge. Open with ``await Store.open(path)``."""

    def __init__(self, db: Database, claims: GuildClaims | None = None) -> None:
        self._db = db
        self.claims: GuildClaims = claims if claims is not None else LocalClaims()
        """Which guilds this process may work on (:mod:`bot.store.claims`)."""
        self.links = LinkTable(db)
        self.tickets = TicketTable(db)
        self.messages = MessageTable(db)
        self.outbox = OutboxTable(db)
        self.state = StateTable(db)
        self.problems = ProblemTable(db)
        self.push = PushTable(db)
        self.orders = OrderTable(db)
        self.replytools = ReplyToolsTable(db)
        self.stats = StatsTable(db)
        self.triage = TriageTable(db)

    @classmethod
    async def open(cls, path: Path | str) -> Self:
        """Open and bring the schema up to date. ``path``: an SQLite file (its folder and
        the file are created if needed) or a ``postgresql://`` URL (a string)."""
        db = await open_database(path)
        try:
            await migrate(db)
        except BaseException:
            await db.close()
            raise
        return cls(db, make_claims(db))

    async def close(self) -> None:
        try:
            await self.claims.close()
        finally:
            await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def path(self) -> str:
        """The SQLite file, or the PostgreSQL URL with its password masked."""
        return self._db.path

    @property
    def backend(self) -> Backend:
        return self._db.backend

    async def schema_version(self) -> int:
        return await schema_version(self._db)

    async def writable_check(self, *, now: float | None = None) -> bool:
        """For the health check: commit a heartbeat row. False if the database can't be written."""
        return await self.state.writable_check(now=now)
