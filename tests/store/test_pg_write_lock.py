"""The PostgreSQL write lock (bot.store._postgres): a process that goes silent while it
holds it is dropped by the server, and the others' writes wait a bounded time for it."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import asyncpg
import pytest

from bot.errors import DatabaseBusy
from bot.store import Store
from bot.store._postgres import (
    IDLE_IN_TRANSACTION_S,
    LOCK_NAMESPACE,
    WRITE_LOCK,
    WRITE_LOCK_WAIT_S,
    PostgresDatabase,
)
from tests.store.test_pg_claims import FreezableProxy


def through(url: str, port: int) -> str:
    """``url`` with its port replaced (to reach the server through a proxy)."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}").geturl()


async def test_a_silent_peer_holding_the_global_write_lock_is_dropped_by_the_server(
    postgres_url: str,
) -> None:
    """A process frozen (or cut off) in the middle of a write keeps the write lock only
    until the server ends its session; meanwhile the other process's writes fail their
    step with DatabaseBusy after WRITE_LOCK_WAIT_S (instead of the statement timeout), and
    the frozen process's half-done write is rolled back."""
    async with await Store.open(postgres_url) as other:
        server = urlsplit(postgres_url).port
        assert server is not None
        proxy = FreezableProxy(server)
        peer_db = await PostgresDatabase.connect(through(postgres_url, await proxy.start()))
        peer = Store(peer_db)
        frozen = asyncio.Event()

        async def write_and_freeze() -> None:
            async with peer_db.transaction() as connection:
                await connection.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?)", ("peer", "half-done")
                )
                proxy.frozen = True  # the host freezes: nothing more reaches the server
                frozen.set()
                await asyncio.Event().wait()

        writer = asyncio.create_task(write_and_freeze())
        try:
            await frozen.wait()
            started = time.monotonic()
            refused: list[float] = []
            while True:
                attempt = time.monotonic()
                try:
                    await other.state.set_meta("other", "written")
                    break
                except DatabaseBusy as exc:
                    assert "write lock" in str(exc)
                    refused.append(time.monotonic() - attempt)
                assert time.monotonic() - started < IDLE_IN_TRANSACTION_S + 3
            took = time.monotonic() - started
        finally:
            peer_db._pool.terminate()  # the frozen process is gone; no cancel request sent
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            await peer.claims.close()
            await proxy.close()

        assert refused, "the blocked write waited without failing its step"
        assert all(WRITE_LOCK_WAIT_S - 0.5 < t < WRITE_LOCK_WAIT_S + 1.5 for t in refused)
        assert IDLE_IN_TRANSACTION_S - 1 < took < IDLE_IN_TRANSACTION_S + 2
        assert await other.state.get_meta("other") == "written"
        assert await other.state.get_meta("peer") is None  # rolled back by the server


async def test_the_pool_sessions_ask_the_server_to_drop_a_silent_peer(postgres_url: str) -> None:
    async with await Store.open(postgres_url) as store:
        db = store._db
        assert isinstance(db, PostgresDatabase)
        async with db._pool.acquire() as connection:
            settings = {
                name: await connection.fetchval(f"SHOW {name}")
                for name in (
                    "idle_in_transaction_session_timeout",
                    "lock_timeout",
                    "tcp_keepalives_idle",
                    "tcp_keepalives_interval",
                    "tcp_keepalives_count",
                    "tcp_user_timeout",
                )
            }
    assert settings == {
        "idle_in_transaction_session_timeout": "10s",
        "lock_timeout": "5s",
        "tcp_keepalives_idle": "5",
        "tcp_keepalives_interval": "2",
        "tcp_keepalives_count": "3",
        "tcp_user_timeout": "10000",  # ms
    }


async def test_migrations_wait_longer_than_a_write_for_another_process_migrating(
    postgres_url: str,
) -> None:
    """Several processes starting at once: one migrates while the others wait for the
    write lock; they must not fail after WRITE_LOCK_WAIT_S."""
    holder = await asyncpg.connect(postgres_url)
    try:
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_NAMESPACE, WRITE_LOCK)
            opening = asyncio.create_task(Store.open(postgres_url))
            await asyncio.sleep(WRITE_LOCK_WAIT_S + 1)
            assert not opening.done()  # still waiting, not failed
        store = await opening
        await store.close()
    finally:
        await holder.close()


async def test_a_schema_change_by_another_process_fails_one_write_clearly_then_writes_work(
    postgres_url: str,
) -> None:
    """Another process upgrades the schema under this one (a column added, so a cached
    ``RETURNING *`` statement's row changes): inside a transaction asyncpg can't re-prepare
    it, so that one step fails, with words, and the next one works."""
    guild = 1_234_567_890_123_456_789
    async with await Store.open(postgres_url) as store:
        await store.links.upsert(guild, now=1.0, channel_id=1)  # the statement is cached
        other = await asyncpg.connect(postgres_url)
        try:
            await other.execute("ALTER TABLE guild_links ADD COLUMN later_migration TEXT")
        finally:
            await other.close()
        with pytest.raises(
            DatabaseBusy, match=r"schema of the database .* changed under this process"
        ):
            await store.links.upsert(guild, now=2.0, channel_id=2)
        link = await store.links.upsert(guild, now=3.0, channel_id=3)
        assert link.channel_id == 3
        assert (await store.links.get(guild)) == link
