"""Guild claims on PostgreSQL (bot.store.pgclaims): one process per guild, given up at
once when the session that held it ends."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from bot.store import Store
from bot.store.claims import GuildClaims
from bot.store.pgclaims import PgClaims, lock_key
from tests.pg import ThrowawayPostgres

GUILD = 1_234_567_890_123_456_789
OTHER = 987_654_321_098_765_432


@pytest.fixture
async def two(postgres_store_database: tuple[str, str]) -> AsyncIterator[tuple[Store, Store]]:
    """Two bridge processes' stores on one database (two pools, two claims sessions)."""
    url, _ = postgres_store_database
    async with await Store.open(url) as a, await Store.open(url) as b:
        yield a, b


async def claims_backends(url: str) -> list[int]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'sellapp-bridge claims'"
        )
    finally:
        await connection.close()
    return [row[0] for row in rows]


async def eventually_empty(claims: GuildClaims, within: float = 3.0) -> float:
    assert isinstance(claims, PgClaims)
    started = time.monotonic()
    while claims.held():
        assert time.monotonic() - started < within, "held() still lists guilds"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_only_one_store_can_claim_a_guild_until_it_gives_it_up(
    two: tuple[Store, Store],
) -> None:
    a, b = two
    assert await a.claims.try_claim(GUILD)
    assert await a.claims.try_claim(GUILD)  # holding it already counts
    assert not await b.claims.try_claim(GUILD)
    assert await b.claims.try_claim(OTHER)
    assert a.claims.held() == {GUILD}
    assert b.claims.held() == {OTHER}

    await a.claims.release(GUILD)
    await a.claims.release(GUILD)  # not held: nothing happens
    assert a.claims.held() == frozenset()
    assert await b.claims.try_claim(GUILD)
    assert not await a.claims.try_claim(GUILD)
    assert b.claims.held() == {GUILD, OTHER}


async def test_racing_claims_of_one_guild_make_exactly_one_holder(
    two: tuple[Store, Store],
) -> None:
    a, b = two
    results = await asyncio.gather(*(s.claims.try_claim(GUILD) for _ in range(10) for s in (a, b)))
    holders = [s for s in (a, b) if GUILD in s.claims.held()]
    assert len(holders) == 1
    assert results.count(True) == 10  # the holder's ten tries, none of the other's


async def test_a_closed_store_leaves_its_guilds_to_the_next(
    postgres_store_database: tuple[str, str],
) -> None:
    url, _ = postgres_store_database
    async with await Store.open(url) as b:
        a = await Store.open(url)
        assert await a.claims.try_claim(GUILD)
        assert not await b.claims.try_claim(GUILD)
        await a.close()
        assert await b.claims.try_claim(GUILD)


async def test_a_terminated_session_empties_held_at_once_and_claims_reconnect(
    two: tuple[Store, Store], postgres_store_database: tuple[str, str]
) -> None:
    """Like a process whose database session died (server restart, kill -9 of the
    backend): the server drops its locks, so the process must stop at once."""
    url, _ = postgres_store_database
    a, b = two
    assert await a.claims.try_claim(GUILD)
    [holder] = await claims_backends(url)

    connection = await asyncpg.connect(url)
    try:
        assert await connection.fetchval("SELECT pg_terminate_backend($1)", holder)
    finally:
        await connection.close()
    took = await eventually_empty(a.claims)
    assert took < 1.0

    assert await b.claims.try_claim(GUILD)  # the server let the lock go
    assert not await a.claims.try_claim(GUILD)  # a reconnected, and b holds it now
    assert await a.claims.try_claim(OTHER)
    assert a.claims.held() == {OTHER}


def test_a_guild_key_is_its_id_as_a_signed_64_bit_integer() -> None:
    assert lock_key(GUILD) == GUILD
    top = (1 << 64) - 1
    assert lock_key(top) == -1
    assert lock_key(1 << 63) == -(1 << 63)
    keys = {lock_key(g) for g in (1, (1 << 63) - 1, 1 << 63, top, GUILD, OTHER)}
    assert len(keys) == 6


async def test_no_guild_is_claimed_while_the_server_cannot_be_reached(
    caplog: pytest.LogCaptureFixture,
) -> None:
    claims = PgClaims("postgresql://bridge:pg-claims-SECRET@127.0.0.1:1/bridge")
    try:
        assert not await claims.try_claim(GUILD)
        assert not await claims.try_claim(OTHER)
        assert claims.held() == frozenset()
    finally:
        await claims.close()
    warnings = [r.getMessage() for r in caplog.records if "guild claims" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not once per guild
    assert "pg-claims-SECRET" not in warnings[0]


class FreezableProxy:
    """A TCP proxy to the server that can go silent (a dead network: no FIN, no RST)."""

    def __init__(self, port: int) -> None:
        self._port = port
        self.frozen = False
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._port)
        self._writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if not self.frozen:
                writer.write(data)
                await writer.drain()

    async def close(self) -> None:
        """Close both ends of every connection and wait for it, so no stream is left for
        the garbage collector to find after the test's event loop has closed."""
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for writer in self._writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if self._server is not None:
            await self._server.wait_closed()


async def test_a_silently_dead_network_empties_held_within_the_heartbeat(
    postgres_server: ThrowawayPostgres,
) -> None:
    proxy = FreezableProxy(postgres_server.port)
    port = await proxy.start()
    claims = PgClaims(f"postgresql://postgres@127.0.0.1:{port}/postgres", heartbeat_s=0.2)
    try:
        assert await claims.try_claim(GUILD)
        await asyncio.sleep(0.5)  # heartbeats answered: still held
        assert claims.held() == {GUILD}
        proxy.frozen = True
        took = await eventually_empty(claims, within=3.0)
        assert took < 1.0  # one heartbeat period plus its timeout
    finally:
        await claims.close()
        await proxy.close()


async def test_a_claim_hung_on_a_dead_network_empties_held_and_the_next_claim_reconnects(
    postgres_server: ThrowawayPostgres,
) -> None:
    """A claim in flight when the network goes silent must not keep held() listing the
    guilds (the heartbeat never waits behind it), and it ends the session: the next claim
    connects again."""
    proxy = FreezableProxy(postgres_server.port)
    port = await proxy.start()
    claims = PgClaims(f"postgresql://postgres@127.0.0.1:{port}/postgres", heartbeat_s=0.2)
    try:
        assert await claims.try_claim(GUILD)
        proxy.frozen = True
        hung = asyncio.create_task(claims.try_claim(OTHER))  # a pass claiming another guild
        took = await eventually_empty(claims, within=3.0)
        assert took < claims.silence_limit_s + 0.3  # a heartbeat period plus the timeout
        assert await asyncio.wait_for(hung, 1.0) is False  # it timed out: nothing claimed
        assert claims.held() == frozenset()

        proxy.frozen = False  # the old session is lost for good; a new one answers
        assert await claims.try_claim(OTHER)
        assert claims.held() == {OTHER}
    finally:
        await claims.close()
        await proxy.close()


async def test_a_release_hung_on_a_dead_network_times_out_and_ends_the_session(
    postgres_server: ThrowawayPostgres,
) -> None:
    proxy = FreezableProxy(postgres_server.port)
    port = await proxy.start()
    claims = PgClaims(f"postgresql://postgres@127.0.0.1:{port}/postgres", heartbeat_s=0.2)
    try:
        assert await claims.try_claim(GUILD)
        assert await claims.try_claim(OTHER)
        proxy.frozen = True
        started = time.monotonic()
        await asyncio.wait_for(claims.release(GUILD), 2.0)  # returns: no hang
        assert time.monotonic() - started < 0.2 + 0.3  # within its timeout
        assert claims.held() == frozenset()  # OTHER went with the session
    finally:
        await claims.close()
        await proxy.close()
