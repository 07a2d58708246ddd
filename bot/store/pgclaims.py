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
:data:`HEARTBEAT_S` seconds for a network that dies silently. Every statement on the
connection (claim, release, heartbeat) has a timeout of one heartbeat period, and one that
times out ends the session here (the connection is terminated; the next
:meth:`try_claim` connects again). :meth:`held` itself is empty once the server has not
answered for a heartbeat period plus that timeout (10 s), whatever is in flight: a
statement hung on a dead network never keeps it listing guilds. The server is asked to
notice a silent death later (TCP keepalives and ``tcp_user_timeout``, about 25 s), so this
process has stopped before another can take its guilds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
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
    "tcp_user_timeout": "25000",  # ms: unacknowledged data, e.g. a reply to a dead host
    "application_name": "sellapp-bridge claims",
}
_INT64: Final = 1 << 64


def lock_key(guild_id: int) -> int:
    """The advisory lock key of a guild: its id as a signed 64-bit integer."""
    return guild_id - _INT64 if guild_id >= 1 << 63 else guild_id


class _Lost(Exception):
    """A statement on the claims connection failed or timed out: the session is lost."""


class PgClaims(GuildClaims):
    def __init__(self, url: str, *, heartbeat_s: float = HEARTBEAT_S) -> None:
        self._url = url
        self._heartbeat_s = heartbeat_s
        self._timeout_s = heartbeat_s
        """Every statement's timeout: far under the server's 25 s, so a hung one ends the
        session here long before the server gives the guilds away."""
        self._connection: asyncpg.Connection[Any] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._held: frozenset[int] = frozenset()
        """Replaced (never changed in place) on each claim, release or loss: held() is
        asked on every step of work, so it hands this out as it is."""
        self._lock = asyncio.Lock()
        """One statement at a time on the connection (the heartbeat never waits on it)."""
        self._answered_at = 0.0
        self._unreachable = False

    @property
    def silence_limit_s(self) -> float:
        """How long the server may stay silent before :meth:`held` is empty."""
        return self._heartbeat_s + self._timeout_s

    def held(self) -> frozenset[int]:
        connection = self._connection
        if connection is None or connection.is_closed():
            self._held = frozenset()
            return frozenset()
        if self._held and time.monotonic() - self._answered_at > self.silence_limit_s:
            log.warning(
                "the claims connection to %s has not answered for %.0f s: %d guild(s) released",
                masked_url(self._url),
                self.silence_limit_s,
                len(self._held),
            )
            self._lose(connection)
            return frozenset()
        return self._held

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
                got = await self._ask(connection, "SELECT pg_try_advisory_lock($1)", guild_id)
            except _Lost:
                return False
            if got and connection is self._connection and not connection.is_closed():
                self._held |= {guild_id}
                return True
            return False

    async def release(self, guild_id: int) -> None:
        async with self._lock:
            if guild_id not in self.held():
                return
            self._held -= {guild_id}
            connection = self._connection
            assert connection is not None
            with contextlib.suppress(_Lost):  # the session is gone: so is the lock
                await self._ask(connection, "SELECT pg_advisory_unlock($1)", guild_id)

    async def close(self) -> None:
        async with self._lock:
            connection = self._connection
            self._forget()
            if connection is not None and not connection.is_closed():
                with contextlib.suppress(*ERRORS, TimeoutError):
                    await connection.close(timeout=self._timeout_s)
                if not connection.is_closed():
                    connection.terminate()

    async def _connected(self) -> asyncpg.Connection[Any]:
        connection = self._connection
        if connection is not None and not connection.is_closed():
            return connection
        self._forget()
        connection = await asyncpg.connect(
            self._url,
            timeout=CONNECT_TIMEOUT_S,
            command_timeout=self.silence_limit_s,  # a backstop: _timed is first
            server_settings=dict(_SERVER_KEEPALIVES),
        )
        connection.add_termination_listener(self._terminated)
        self._connection = connection
        self._answered_at = time.monotonic()
        self._heartbeat = asyncio.create_task(self._beat(connection))
        return connection

    async def _ask(self, connection: asyncpg.Connection[Any], sql: str, guild_id: int) -> Any:
        """One statement about a guild's lock; raises :class:`_Lost` (the session ended
        here) if it fails or does not answer within the timeout."""
        return await self._timed(connection, sql, lock_key(guild_id))

    async def _timed(self, connection: asyncpg.Connection[Any], sql: str, *args: Any) -> Any:
        """``fetchval`` under the timeout. One that times out terminates the connection
        (which fails the statement) rather than cancelling it: asyncpg would ask the server
        to cancel on a new connection, over a network that may be dead."""
        statement = asyncio.ensure_future(connection.fetchval(sql, *args))
        try:
            done, _ = await asyncio.wait({statement}, timeout=self._timeout_s)
        except asyncio.CancelledError:
            self._lose(connection)
            statement.cancel()
            raise
        if not done:
            self._lose(connection)
            with contextlib.suppress(*ERRORS, asyncio.CancelledError):
                await statement
            raise _Lost
        try:
            answer = statement.result()
        except ERRORS as exc:
            self._lose(connection)
            raise _Lost from exc
        if connection is self._connection:
            self._answered_at = time.monotonic()
        return answer

    def _terminated(self, connection: asyncpg.Connection[Any] | PoolConnectionProxy[Any]) -> None:
        if connection is self._connection and self._held:
            log.warning(
                "lost the claims connection to %s: %d guild(s) released",
                masked_url(self._url),
                len(self._held),
            )
        if connection is self._connection:
            self._held = frozenset()

    async def _beat(self, connection: asyncpg.Connection[Any]) -> None:
        while connection is self._connection and not connection.is_closed():
            await asyncio.sleep(self._heartbeat_s)
            if self._lock.locked():
                # A claim or release is on the connection: its own timeout bounds it, and
                # held() counts the silence meanwhile. Never wait behind it.
                self.held()
                continue
            async with self._lock:
                if connection is not self._connection or connection.is_closed():
                    return
                try:
                    await self._timed(connection, "SELECT 1")
                except _Lost:
                    return

    def _lose(self, connection: asyncpg.Connection[Any]) -> None:
        """The session may be gone: stop claiming anything on it, and end it."""
        if connection is self._connection:
            self._held = frozenset()
        if not connection.is_closed():
            connection.terminate()

    def _forget(self) -> None:
        self._held = frozenset()
        self._connection = None
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
