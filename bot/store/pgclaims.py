"""Guild claims on PostgreSQL: one session advisory lock per guild, on a connection of
their own (:class:`bot.store.claims.GuildClaims`).

The key is the single-``bigint`` form, ``pg_try_advisory_lock(key)``, with the guild id
itself as the key (a Discord id is 64 bits; one past 2**63 is folded onto the negative
half, one-to-one): no hash, so two guilds never share a lock. The store's own locks (the
write lock, :mod:`bot.store._postgres`) use the two-``int4`` form, which PostgreSQL keeps
in a key space of its own.

The locks live exactly as long as the session. When the connection is lost (the server
restarted, the session was terminated, the network went away) the server releases them,
so :meth:`held` turns empty at once: a termination listener, and a heartbeat every
:data:`HEARTBEAT_S` seconds for a network that dies silently. The server is asked to
notice a silent death later than the heartbeat does (TCP keepalives, about 25 s), so this
process has stopped before another can take its guilds. The next :meth:`try_claim`
connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bot.store._db import masked_url
from bot.store._postgres import CONNECT_TIMEOUT_S, ERRORS
from bot.store.claims import GuildClaims

log = logging.getLogger(__name__)

HEARTBEAT_S: Final = 5.0
_SERVER_KEEPALIVES: Final = {
    # The server drops a silent session after about 10 + 3 * 5 = 25 s (releasing its
    # locks): well after the heartbeat here has noticed and stopped the work.
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
    "application_name": "sellapp-bridge claims",
}
_INT64: Final = 1 << 64


def lock_key(guild_id: int) -> int:
    """The advisory lock key of a guild: its id as a signed 64-bit integer."""
    return guild_id - _INT64 if guild_id >= 1 << 63 else guild_id


class PgClaims(GuildClaims):
    def __init__(self, url: str, *, heartbeat_s: float = HEARTBEAT_S) -> None:
        self._url = url
        self._heartbeat_s = heartbeat_s
        self._connection: asyncpg.Connection[Any] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._held: set[int] = set()
        self._lock = asyncio.Lock()
        self._unreachable = False

    def held(self) -> frozenset[int]:
        connection = self._connection
        if connection is None or connection.is_closed():
            self._held.clear()
            return frozenset()
        return frozenset(self._held)

    async def try_claim(self, guild_id: int) -> bool:
        """As :meth:`GuildClaims.try_claim`; False too while the server can't be reached
        (nothing may be worked on without a claim), with one warning per outage."""
        async with self._lock:
            try:
                connection = await self._connected()
            except (*ERRORS, TimeoutError) as exc:
                if not self._unreachable:
                    log.warning(
                        "guild claims: cannot reach %s (%s); no guild is claimed until it answers",
                        masked_url(self._url),
                        type(exc).__name__,
                    )
                self._unreachable = True
                return False
            self._unreachable = False
            if guild_id in self.held():
                return True
            try:
                got = await connection.fetchval(
                    "SELECT pg_try_advisory_lock($1)", lock_key(guild_id)
                )
            except (*ERRORS, TimeoutError):
                self._lose(connection)  # the session may be gone: nothing is claimed on it
                return False
            if got:
                self._held.add(guild_id)
            return bool(got)

    async def release(self, guild_id: int) -> None:
        async with self._lock:
            if guild_id not in self.held():
                return
            self._held.discard(guild_id)
            connection = self._connection
            assert connection is not None
            try:
                await connection.fetchval("SELECT pg_advisory_unlock($1)", lock_key(guild_id))
            except ERRORS:
                self._lose(connection)  # the session is gone: so is the lock

    async def close(self) -> None:
        async with self._lock:
            connection = self._connection
            self._forget()
            if connection is not None and not connection.is_closed():
                with contextlib.suppress(*ERRORS):
                    await connection.close(timeout=CONNECT_TIMEOUT_S)

    async def _connected(self) -> asyncpg.Connection[Any]:
        connection = self._connection
        if connection is not None and not connection.is_closed():
            return connection
        self._forget()
        connection = await asyncpg.connect(
            self._url, timeout=CONNECT_TIMEOUT_S, server_settings=dict(_SERVER_KEEPALIVES)
        )
        connection.add_termination_listener(self._terminated)
        self._connection = connection
        self._heartbeat = asyncio.create_task(self._beat(connection))
        return connection

    def _terminated(self, connection: asyncpg.Connection[Any] | PoolConnectionProxy[Any]) -> None:
        if connection is self._connection and self._held:
            log.warning(
                "lost the claims connection to %s: %d guild(s) released",
                masked_url(self._url),
                len(self._held),
            )
        if connection is self._connection:
            self._held.clear()

    async def _beat(self, connection: asyncpg.Connection[Any]) -> None:
        while not connection.is_closed():
            await asyncio.sleep(self._heartbeat_s)
            async with self._lock:  # one statement at a time on the connection
                if connection is not self._connection:
                    return
                try:
                    await connection.fetchval("SELECT 1", timeout=self._heartbeat_s)
                except (*ERRORS, TimeoutError):
                    self._lose(connection)
                    return

    def _lose(self, connection: asyncpg.Connection[Any]) -> None:
        """The session may be gone: stop claiming anything on it, and end it."""
        if connection is self._connection:
            self._held.clear()
        connection.terminate()

    def _forget(self) -> None:
        self._held.clear()
        self._connection = None
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
