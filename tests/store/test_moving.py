"""Moving a store between backends: ``sellapp-bridge migrate-to`` (SQLite -> PostgreSQL)
and ``sellapp-bridge backup`` of a PostgreSQL store (-> an SQLite file), end to end."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from bot.__main__ import main
from bot.store import Store, load_migrations, masked_url, url_secrets
from bot.store.triage import Ping
from bot.triage.waiting import Waiting, WaitingFor
from tests.pg import ThrowawayPostgres, query

GUILD = 1_100_000_000_000_000_001  # a real-sized Discord id: 64 bits on PostgreSQL too
OTHER = 2_200_000_000_000_000_002
NOW = 1_700_000_000.0
PASSWORD = "pg-move-SECRET-password"


async def fill(store: Store) -> dict[str, int]:
    """A store that has seen some life: links, tickets (one closed, one reopened),
    messages, replies in every state, order cards and actions, snippets, triage, push."""
    await store.links.upsert(
        GUILD, now=NOW, store_slug="shop", channel_id=GUILD + 1, staff_role_ids=(5, 6)
    )
    await store.links.upsert(OTHER, now=NOW, store_slug="other", paused=True)
    for ticket_id, status in ((1, "OPEN"), (2, "CLOSED"), (3, "OPEN")):
        await store.tickets.record(
            GUILD,
            ticket_id,
            status=status,
            title=f"ticket {ticket_id}",
            sellapp_updated_at="2024-01-01T00:00:00.000000Z",
            now=NOW,
            opened_at=NOW - 100,
        )
    await store.tickets.record(  # closed, then reopened: two events by the triggers
        GUILD, 3, status="CLOSED", title="t", sellapp_updated_at=None, now=NOW + 1
    )
    await store.tickets.record(
        GUILD, 3, status="OPEN", title="t", sellapp_updated_at=None, now=NOW + 2
    )
    await store.tickets.set_thread(GUILD, 1, GUILD + 10, now=NOW)
    await store.messages.record_post_intent(GUILD, 1, 10, now=NOW)
    await store.messages.record_posted(GUILD, 10, [GUILD + 20, GUILD + 21], now=NOW)
    await store.messages.record_post_intent(GUILD, 1, 11, now=NOW)  # left pending
    await store.state.set_last_seen_discord_message(GUILD + 10, GUILD + 30)
    await store.state.record_poll_failure(GUILD, now=NOW, error="SellApp said 503")
    ids = {}
    for n in range(3):
        entry = await store.outbox.enqueue(
            GUILD,
            1,
            channel_id=GUILD + 10,
            discord_message_id=GUILD + 40 + n,
            author_id=9,
            content=f"reply {n} ✓",
            now=NOW + n,
        )
        assert entry is not None
        ids[f"outbox{n}"] = entry.id
    assert await store.outbox.mark_sending(ids["outbox0"], now=NOW)
    assert await store.outbox.mark_delivered(ids["outbox0"], 12, now=NOW)
    await store.orders.add_role(GUILD, 77)
    await store.orders.record_card(
        GUILD, 1, order_id="ord-1", thread_id=GUILD + 10, message_id=GUILD + 50,
        status="COMPLETED", now=NOW, product="Key",
    )  # fmt: skip
    action = await store.orders.propose(
        GUILD, 1, thread_id=GUILD + 10, order_id="ord-1", kind="refund",
        route="refunds", body={"amount": "5.00"}, summary="a refund of 5.00 EUR",
        actor_id=9, now=NOW,
    )  # fmt: skip
    ids["action"] = action.id
    await store.replytools.add_snippet(GUILD, "thanks", "Thank you!", by=9, now=NOW)
    await store.replytools.set_signature(GUILD, "— {staff}", now=NOW)
    await store.triage.claim(GUILD, 1, 9, now=NOW)
    await store.triage.set_waiting(GUILD, 1, Waiting(WaitingFor.STAFF, NOW))
    await store.triage.begin_ping(GUILD, "alert", "1", Ping(GUILD + 10, "new", None, 5), now=NOW)
    await store.push.ensure_token(GUILD, "push-token-1", now=NOW)
    await store.state.set_meta("heartbeat", "1.5")
    return ids


async def table_rows(target: Path | str) -> dict[str, list[tuple[object, ...]]]:
    """Every bridge table's rows, in a fixed order, read outside the store."""
    sqlite_file = target if isinstance(target, Path) else None
    if sqlite_file is not None:
        with sqlite3.connect(sqlite_file) as db:
            names = [
                r[0]
                for r in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                    " AND name NOT LIKE 'sqlite%'"
                )
            ]
    else:
        names = [
            str(r[0])
            for r in await query(
                target,
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'schema_version'",
            )
        ]
    found = {}
    for name in sorted(names):
        rows = await query(target, f'SELECT * FROM "{name}"')
        found[name] = sorted(rows, key=repr)
    return found


async def migrate_to(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], source: Path, url: str
) -> tuple[int, str, str]:
    monkeypatch.setenv("DATABASE_PATH", str(source))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code = await _in_thread(lambda: main(["--env-file", "/nonexistent", "migrate-to", url]))
    out, err = capsys.readouterr()
    return code, out, err


async def _in_thread(call: Callable[[], int]) -> int:
    """``main`` runs its own event loop: off this test's loop."""
    return await asyncio.to_thread(call)


def with_password(url: str) -> str:
    return url.replace("postgres@", f"postgres:{PASSWORD}@")


async def test_migrate_to_copies_every_table_and_the_store_reads_the_same_records(
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "bridge.sqlite3"
    async with await Store.open(source) as before:
        ids = await fill(before)
        links = await before.links.all()
        tickets = await before.tickets.all(GUILD)
        message = await before.messages.get(GUILD, 10)
        replies = [await before.outbox.get(i) for k, i in ids.items() if k.startswith("outbox")]
        action = await before.orders.get(ids["action"])
        card = await before.orders.card(GUILD, 1)
        triage = await before.triage.get(GUILD, 1)
    expected = await table_rows(source)
    assert expected["ticket_events"], "the triggers recorded the close and reopen"

    code, out, err = await migrate_to(monkeypatch, capsys, source, with_password(postgres_url))
    assert code == 0, err
    assert PASSWORD not in out + err
    assert "postgres:***@" in out
    assert f"schema version {len(load_migrations())}" in out
    assert "every table's row count matches" in out

    assert await table_rows(postgres_url) == expected  # every row of every table, as it was
    async with await Store.open(postgres_url) as after:
        assert await after.links.all() == links
        assert await after.tickets.all(GUILD) == tickets
        assert await after.messages.get(GUILD, 10) == message
        assert [await after.outbox.get(i) for k, i in ids.items() if k.startswith("outbox")] == (
            replies
        )
        assert await after.orders.get(ids["action"]) == action
        assert await after.orders.card(GUILD, 1) == card
        assert await after.triage.get(GUILD, 1) == triage
        # New rows get ids past the copied ones (the identities were moved on).
        entry = await after.outbox.enqueue(
            GUILD, 1, channel_id=1, discord_message_id=GUILD + 99, author_id=9,
            content="after the move", now=NOW,
        )  # fmt: skip
        assert entry is not None and entry.id == max(ids["outbox0"], ids["outbox2"]) + 1


async def test_migrate_to_refuses_a_database_that_holds_bridge_data(
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "bridge.sqlite3"
    async with await Store.open(source) as sqlite_store:
        await fill(sqlite_store)
    async with await Store.open(postgres_url) as live:
        await live.links.upsert(GUILD, now=NOW, store_slug="already-here")
    before = await table_rows(postgres_url)

    code, out, err = await migrate_to(monkeypatch, capsys, source, with_password(postgres_url))
    assert code == 1
    assert "already holds bridge data (table guild_links has rows)" in err
    assert err.count("\n") == 1
    assert PASSWORD not in out + err
    assert await table_rows(postgres_url) == before  # nothing copied


async def test_migrate_to_without_a_postgres_url_says_what_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = await migrate_to(monkeypatch, capsys, tmp_path / "x.sqlite3", "mysql://db/x")
    assert code == 2
    assert "needs a postgresql:// URL" in err


async def test_backup_of_a_postgres_store_is_an_sqlite_file_that_migrate_to_restores(
    tmp_path: Path,
    postgres_server: ThrowawayPostgres,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with await Store.open(postgres_url) as live:
        ids = await fill(live)
        tickets = await live.tickets.all(GUILD)
    expected = await table_rows(postgres_url)

    backup = tmp_path / "backup.sqlite3"
    monkeypatch.setenv("DATABASE_URL", with_password(postgres_url))
    code = await _in_thread(lambda: main(["--env-file", "/nonexistent", "backup", str(backup)]))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert PASSWORD not in out + err
    assert f"(schema version {len(load_migrations())})" in out

    assert await table_rows(backup) == expected  # the same rows, events included
    async with await Store.open(backup) as copy:  # a bridge can run on it as it is
        assert await copy.tickets.all(GUILD) == tickets
        assert (await copy.outbox.get(ids["outbox1"])) is not None

    restored = postgres_server.new_database(f"restored_{id(backup)}")
    code, out, err = await migrate_to(monkeypatch, capsys, backup, restored)
    assert code == 0, err
    assert await table_rows(restored) == expected


async def test_a_failed_postgres_backup_names_the_cause_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://bridge:{PASSWORD}@127.0.0.1:1/bridge")
    target = tmp_path / "backup.sqlite3"
    code = await _in_thread(lambda: main(["--env-file", "/nonexistent", "backup", str(target)]))
    _, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("sellapp-bridge: backup failed: cannot open the database")
    assert PASSWORD not in err
    assert not target.exists()
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 (no partial file left)


async def test_backup_and_migrate_to_never_print_a_password_given_in_the_url_query(
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"{postgres_url}?password={PASSWORD}"
    source = tmp_path / "source.sqlite3"
    async with await Store.open(source) as store:
        await fill(store)
    code, out, err = await migrate_to(monkeypatch, capsys, source, url)
    assert code == 0, err
    assert f"to {postgres_url}?password=*** (schema version" in out
    assert PASSWORD not in out + err

    monkeypatch.setenv("DATABASE_URL", url)
    backup = tmp_path / "backup.sqlite3"
    code = await _in_thread(lambda: main(["--env-file", "/nonexistent", "backup", str(backup)]))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith(f"backed up {postgres_url}?password=*** to {backup}")
    assert PASSWORD not in out + err


async def test_a_failed_postgres_backup_hides_a_password_given_in_the_url_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "DATABASE_URL", f"postgresql://bridge@127.0.0.1:1/bridge?password={PASSWORD}"
    )
    target = tmp_path / "backup.sqlite3"
    code = await _in_thread(lambda: main(["--env-file", "/nonexistent", "backup", str(target)]))
    _, err = capsys.readouterr()
    assert code == 1
    assert err.startswith(
        "sellapp-bridge: backup failed: cannot open the database"
        " postgresql://bridge@127.0.0.1:1/bridge?password=***: "
    )
    assert PASSWORD not in err


def test_masked_url_masks_every_secret_a_postgres_url_can_carry() -> None:
    assert masked_url("postgresql://u:p%40ss@db:5432/x?sslpassword=k%2By&application_name=a") == (
        "postgresql://u:***@db:5432/x?sslpassword=***&application_name=a"
    )
    assert masked_url("postgres://db/x?host=/run/pg&password=") == (
        "postgres://db/x?host=/run/pg&password=***"
    )
    assert url_secrets("postgresql://u:p%40ss@db/x?password=a+b%21c") == [
        "postgresql://u:p%40ss@db/x?password=a+b%21c",
        "p%40ss",
        "p@ss",
        "a+b%21c",
        "a+b!c",
        "a b!c",  # how asyncpg reads it (a + is a space in a query)
    ]


async def test_postgres_holds_64_bit_discord_ids(postgres_url: str) -> None:
    async with await Store.open(postgres_url) as store:
        await store.links.upsert(GUILD, now=NOW, channel_id=(1 << 63) - 1)
        link = await store.links.get(GUILD)
        assert link is not None and link.channel_id == (1 << 63) - 1
    connection = await asyncpg.connect(postgres_url)
    try:
        kind = await connection.fetchval(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'guild_links' AND column_name = 'guild_id'"
        )
    finally:
        await connection.close()
    assert kind == "bigint"
