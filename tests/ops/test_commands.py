"""``sellapp-bridge check``, ``invite-url`` and ``backup``, in process against the fakes."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import sqlite3
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import discord
import pytest
from aiohttp import web

from bot.__main__ import main
from bot.config import Settings, load_settings
from bot.errors import ConfigError
from bot.ops import commands as ops
from bot.store import Store, load_migrations
from bot.store.backup import backup_database
from tests.fakes.discord import FakeDiscord, Guild, Overwrite, Perm
from tests.fakes.sellapp import FakeSellApp

TOKEN = "MTE2.unit-discord-token.SECRET-0123456789"
KEY = "sk_live_unit_0123456789abcdefSECRET"
STORE = "unit-store"
SCHEMA = len(load_migrations())  # the newest migration is what a fresh database gets
MESSAGE_CONTENT_LIMITED = 1 << 19

SCHEMA = len(load_migrations())  # the version a fresh database is at


def with_app_flags(fake: FakeDiscord, flags: int) -> None:
    """The fake's application says flags 0; real Discord sets the intent's flag when it's on.
    Must run before ``fake.start()``, which binds the route handlers."""
    original = fake._rest.get_application

    async def get_application(request: web.Request) -> web.Response:
        response = await original(request)
        assert response.body is not None
        body = json.loads(bytes(response.body))  # type: ignore[arg-type]
        body["flags"] = flags
        return web.Response(
            body=json.dumps(body).encode(),
            status=response.status,
            headers={"Content-Type": "application/json"},
        )

    fake._rest.get_application = get_application  # type: ignore[method-assign]


@dataclass
class Env:
    discord: FakeDiscord
    sellapp: FakeSellApp
    guild: Guild
    channel_id: int
    tmp: Path

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "discord_token": TOKEN,
            "discord_api_base_url": self.discord.api_base,
            "sellapp_api_url": self.sellapp.url,
            "sellapp_api_key": KEY,
            "sellapp_store": STORE,
            "discord_guild_id": self.guild.id,
            "tickets_channel_id": self.channel_id,
            "database_path": self.tmp / "data" / "bridge.sqlite3",
        }
        values.update(overrides)
        return load_settings(None, **values)


@pytest.fixture
async def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    # check points discord.py at the fake (a class attribute): put it back afterwards.
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    fake = FakeDiscord(bot_token=TOKEN)
    with_app_flags(fake, MESSAGE_CONTENT_LIMITED)
    async with fake, FakeSellApp() as sellapp:
        guild = fake.add_guild("Support")
        channel = fake.add_forum_channel(guild, "tickets", tags=["Open", "Closed"])
        sellapp.add_account(KEY, [STORE])
        yield Env(fake, sellapp, guild, channel.id, tmp_path)


async def check(settings: Settings | None, error: ConfigError | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = await ops.run_check(settings, out, config_error=error)
    return code, out.getvalue()


def line(output: str, start: str) -> str:
    found = [text for text in output.splitlines() if start in text]
    assert found, f"no line with {start!r} in:\n{output}"
    return found[0]


# --- check ------------------------------------------------------------------------------


async def test_check_all_ok_prints_one_ok_line_per_check(env: Env) -> None:
    code, output = await check(env.settings())
    assert code == 0, output
    lines = output.splitlines()
    assert all(text.startswith("ok      ") for text in lines), output
    assert lines[0] == "ok      settings"
    assert f"schema version {SCHEMA}" in line(output, "database")
    assert "logged in as Bridge" in line(output, "Discord token")
    assert line(output, "SellApp store for guild").endswith(STORE)
    assert line(output, f"tickets channel {env.channel_id}").startswith("ok")
    assert TOKEN not in output and KEY not in output
    # The key was really tried with a one-item list.
    listed = env.sellapp.requests_to("GET", r"/v1/tickets$")
    assert listed and listed[-1].query.get("limit") == "1"


async def test_check_opens_a_postgres_store_and_names_it_with_the_password_masked(
    env: Env, postgres_url: str
) -> None:
    url = postgres_url.replace("postgres@", "postgres:pg-check-SECRET-pw@")
    code, output = await check(env.settings(database_url=url))
    assert code == 0, output
    masked = url.replace("pg-check-SECRET-pw", "***")
    assert line(output, "database") == f"ok      database {masked}: schema version {SCHEMA}"
    assert "pg-check-SECRET-pw" not in output


async def test_check_names_an_unreachable_postgres_server_without_its_password(
    env: Env,
) -> None:
    url = "postgresql://bridge:pg-check-SECRET-pw@127.0.0.1:1/bridge"
    code, output = await check(env.settings(database_url=url))
    assert code == 2
    shown = "postgresql://bridge:***@127.0.0.1:1/bridge"
    assert line(output, "database").startswith(f"failed  database {shown}: cannot open")
    assert "pg-check-SECRET-pw" not in output


async def test_check_masks_a_password_given_in_the_url_query(env: Env, postgres_url: str) -> None:
    """libpq and asyncpg also take the password as ``?password=``: masked the same way."""
    url = f"{postgres_url}?password=pg-check-SECRET-query"
    code, output = await check(env.settings(database_url=url))
    assert code == 0, output
    shown = f"{postgres_url}?password=***"
    assert line(output, "database") == f"ok      database {shown}: schema version {SCHEMA}"
    assert "pg-check-SECRET-query" not in output


async def test_check_names_an_unreachable_server_without_the_secrets_in_its_url_query(
    env: Env,
) -> None:
    url = (
        "postgresql://bridge@127.0.0.1:1/bridge"
        "?password=hunter2&sslmode=disable&sslpassword=pg-check-SECRET-sslkey"
    )
    code, output = await check(env.settings(database_url=url))
    assert code == 2
    shown = "postgresql://bridge@127.0.0.1:1/bridge?password=***&sslmode=disable&sslpassword=***"
    assert line(output, "database").startswith(f"failed  database {shown}: cannot open")
    assert "hunter2" not in output  # the review's case: printed twice
    assert "pg-check-SECRET-sslkey" not in output


async def test_check_names_invalid_settings(env: Env) -> None:
    with pytest.raises(ConfigError) as caught:
        env.settings(poll_interval_seconds=0)
    code, output = await check(None, caught.value)
    assert code == 2  # a setting to fix: the same status as `run`
    assert output.startswith("failed  settings: POLL_INTERVAL_SECONDS is not valid")


async def test_check_names_a_missing_token(env: Env) -> None:
    code, output = await check(env.settings(discord_token=""))
    assert code == 2
    assert line(output, "settings") == "failed  settings: DISCORD_TOKEN is not set"


async def test_check_names_a_refused_token(env: Env) -> None:
    code, output = await check(env.settings(discord_token="MTE2.wrong.token-0123456789"))
    assert code == 1
    assert line(output, "Discord token").startswith("failed  Discord token: Discord refused")
    assert "wrong.token" not in output
    # SellApp is still checked: one run shows every problem.
    assert line(output, "SellApp store").startswith("ok")


async def test_check_names_a_revoked_sellapp_key(env: Env) -> None:
    env.sellapp.revoke_key(KEY)
    code, output = await check(env.settings())
    assert code == 1
    assert line(output, "SellApp store for guild").startswith(
        f"failed  SellApp store for guild {env.guild.id}: SellApp refused the API key"
    )
    assert KEY not in output


async def test_check_names_missing_channel_permissions(env: Env) -> None:
    bot_role = env.guild.bot_role_id
    env.discord.set_overwrites(
        env.channel_id,
        [Overwrite(bot_role, 0, deny=Perm.MANAGE_THREADS | Perm.ADD_REACTIONS)],
    )
    code, output = await check(env.settings())
    assert code == 1
    assert line(output, "tickets channel") == (
        f"failed  tickets channel {env.channel_id} for guild {env.guild.id}: "
        "the bot lacks Manage Threads, Add Reactions"
    )


async def test_check_names_a_deleted_channel(env: Env) -> None:
    env.discord.delete_channel(env.channel_id)
    code, output = await check(env.settings())
    assert code == 1
    assert "no such channel in this server" in line(output, "tickets channel")


async def test_check_names_a_server_the_bot_is_not_in(env: Env) -> None:
    del env.guild.members[env.discord.bot.id]
    code, output = await check(env.settings())
    assert code == 1
    assert "the bot is not in this server" in line(output, "tickets channel")


async def test_check_names_the_message_content_intent(tmp_path: Path) -> None:
    async with FakeDiscord(bot_token=TOKEN) as fake, FakeSellApp() as sellapp:  # flags 0
        settings = load_settings(
            None,
            discord_token=TOKEN,
            discord_api_base_url=fake.api_base,
            sellapp_api_url=sellapp.url,
            database_path=tmp_path / "db.sqlite3",
        )
        before = discord.http.Route.BASE
        try:
            code, output = await check(settings)
        finally:
            discord.http.Route.BASE = before
    assert code == 1
    assert line(output, "Message Content intent").startswith("failed  Message Content intent:")
    assert line(output, "links").startswith("ok      links: no server is linked yet")


async def test_check_names_a_database_from_a_newer_version(env: Env) -> None:
    path = env.tmp / "newer.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 999")
    code, output = await check(env.settings(database_path=path))
    assert code == 2
    assert line(output, "database").startswith(f"failed  database {path}: ")
    assert "newer version" in output


async def test_check_names_a_link_without_a_channel(env: Env) -> None:
    code, output = await check(env.settings(tickets_channel_id=""))
    assert code == 1
    assert line(output, "tickets channel") == (
        f"failed  tickets channel for guild {env.guild.id}: no tickets channel is set yet"
    )


# --- invite-url -------------------------------------------------------------------------


def test_permission_integer_is_the_required_permissions() -> None:
    perms = ops.required_permissions()
    assert perms.value == 326417599552
    assert bin(perms.value).count("1") == 8  # those eight and nothing else
    for attr in (
        "view_channel",
        "send_messages",
        "send_messages_in_threads",
        "create_public_threads",
        "manage_threads",
        "embed_links",
        "read_message_history",
        "add_reactions",
    ):
        assert getattr(perms, attr), attr


def test_invite_url_has_exactly_the_two_scopes() -> None:
    url = ops.invite_url(1234)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://discord.com/oauth2/authorize"
    query = parse_qs(parts.query)
    assert query == {
        "client_id": ["1234"],
        "scope": ["bot applications.commands"],
        "permissions": ["326417599552"],
    }
    assert "scope=bot+applications.commands" in url


async def test_invite_url_asks_discord_for_the_application_id(env: Env) -> None:
    out = io.StringIO()
    assert await ops.run_invite_url(env.settings(), out) == 0
    assert f"client_id={env.discord.application_id}&" in out.getvalue()
    assert env.discord.requests_to("GET", "/oauth2/applications/@me")


async def test_invite_url_falls_back_to_the_token(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    app_id = 112233445566778899
    token = base64.b64encode(str(app_id).encode()).decode().rstrip("=") + ".abc.def"
    unreachable = "http://127.0.0.1:9/api/v10"  # the discard port: nothing listens
    out = io.StringIO()
    settings = env.settings(discord_token=token, discord_api_base_url=unreachable)
    assert await ops.run_invite_url(settings, out) == 0
    assert f"client_id={app_id}&" in out.getvalue()
    assert "read from the token" in capsys.readouterr().err


def test_application_id_from_a_token_that_is_not_one() -> None:
    assert ops.application_id_from_token("not-a-token") is None


# --- backup -----------------------------------------------------------------------------


def dump(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return list(db.iterdump())
    finally:
        db.close()


async def test_backup_during_writes_is_consistent_and_matches(tmp_path: Path) -> None:
    source = tmp_path / "live.sqlite3"
    store = await Store.open(source)
    stop = threading.Event()

    async def writer() -> int:
        n = 0
        while not stop.is_set():
            n += 1
            # One transaction each: the ticket and the counter move together.
            await store.tickets.record(
                1, n, status="OPEN", title=f"t{n}", sellapp_updated_at=None, now=float(n)
            )
            await store.state.set_meta("written", str(n))
            await asyncio.sleep(0)
        return n

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.05)
    copies = []
    for index in range(3):
        target = tmp_path / f"copy{index}.sqlite3"
        await asyncio.to_thread(backup_database, source, target)
        copies.append(target)
    stop.set()
    written = await task
    assert written > 0
    for copy in copies:
        assert not Path(f"{copy}-wal").exists()  # noqa: ASYNC240 - one self-contained file
        db = sqlite3.connect(copy)
        try:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            tickets = db.execute("SELECT count(*) FROM tickets").fetchone()[0]
            meta = db.execute("SELECT value FROM meta WHERE key = 'written'").fetchone()
        finally:
            db.close()
        # A snapshot: never half a write. (The counter lags its ticket by at most one.)
        assert meta is None or int(meta[0]) in (tickets, tickets - 1)
    # Quiet now: a fresh copy holds exactly what the live database holds.
    final = tmp_path / "final.sqlite3"
    backup_database(source, final)
    await store.close()
    assert dump(final) == dump(source)
    reopened = await Store.open(final)
    try:
        assert (await reopened.tickets.count(1)).tracked == written
    finally:
        await reopened.close()


def test_backup_command_refuses_to_overwrite_and_names_the_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "bridge.sqlite3"
    asyncio.run(_make_store(db))
    monkeypatch.setenv("DATABASE_PATH", str(db))
    folder = tmp_path / "backups"
    folder.mkdir()
    assert main(["--env-file", "none.env", "backup", str(folder)]) == 0
    made = list(folder.iterdir())
    assert len(made) == 1 and made[0].name.startswith("bridge-")
    assert f"schema version {SCHEMA}" in capsys.readouterr().out
    assert main(["--env-file", "none.env", "backup", str(made[0])]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["--env-file", "none.env", "backup", "--force", str(made[0])]) == 0


def test_backup_of_a_missing_database_fails_without_creating_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "absent.sqlite3"))
    assert main(["--env-file", "none.env", "backup", str(tmp_path / "copy.sqlite3")]) == 1
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "absent.sqlite3").exists()
    assert not (tmp_path / "copy.sqlite3").exists()


async def _make_store(path: Path) -> None:
    store = await Store.open(path)
    await store.close()


# --- health checks and the SellApp transport's metrics hook ------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_health_checks_gateway_then_stale_polls_then_database(env: Env) -> None:
    from bot.links import Links
    from bot.ops.health import GatewayWatch, HealthChecks
    from bot.ops.logs import SecretRegistry
    from bot.sellapp.client import make_http_client

    clock = Clock()
    settings = env.settings(poll_interval_seconds=10)
    store = await Store.open(settings.database_path)
    async with make_http_client() as http:
        links = Links(settings, store, http, SecretRegistry(), None)
        gateway = GatewayWatch(clock)
        checks = HealthChecks(gateway=gateway, store=store, links=links, clock=clock)
        report = await checks.run()
        assert report.as_json() == {
            "ok": False,
            "checks": {"gateway": False, "database": True, "polls": True},
            "reasons": ["gateway: not connected to Discord (for 0 s)"],
            "shards": {"count": None, "ids": [0], "connected": {"0": False}, "guilds_held": None},
        }
        gateway.mark_up()
        clock.now += 29  # within 3 intervals of READY: a fresh start is not stale
        assert (await checks.run()).ok
        clock.now += 2
        report = await checks.run()
        assert report.checks["polls"] is False
        assert report.reasons == [
            f"polls: guild {env.guild.id} never polled 31 s ago (limit 30 s: 3 intervals)"
        ]
        await store.state.record_poll_failure(env.guild.id, now=clock.now, error="SellApp is down")
        assert (await checks.run()).ok  # a failed poll is still a live poller
        gateway.mark_down()
        clock.now += 5
        assert (await checks.run()).reasons == ["gateway: not connected to Discord (for 5 s)"]
        gateway.mark_up()
        await store.close()
        report = await checks.run()
        assert report.checks == {"gateway": True, "database": False, "polls": False}
        assert report.reasons[0] == "database: the database can't be written"


async def test_sellapp_requests_are_observed_by_endpoint_and_status(env: Env) -> None:
    from pydantic import SecretStr

    from bot.sellapp.client import RetryPolicy, SellAppClient, make_http_client

    seen: list[tuple[str, int | str]] = []
    env.sellapp.fail(path=r"/tickets$", status=503, times=1)
    async with make_http_client(observe=lambda e, s, secs: seen.append((e, s))) as http:
        client = SellAppClient(
            http,
            base_url=env.sellapp.url,
            api_key=SecretStr(KEY),
            store=STORE,
            retry=RetryPolicy(base_delay=0, max_delay=0),
        )
        await client.list_tickets(limit=1)
    assert seen == [("GET /v1/tickets", 503), ("GET /v1/tickets", 200)]


class _ShardedBot:
    """What GatewayWatch reads of an AutoShardedBot, and its listeners."""

    def __init__(self, count: int, ids: list[int] | None) -> None:
        self.shard_count = count
        self.shard_ids = ids
        self.listeners: dict[str, list[Any]] = {}

    def is_closed(self) -> bool:
        return False

    def add_listener(self, func: Any, name: str) -> None:
        self.listeners.setdefault(name, []).append(func)

    async def dispatch(self, name: str, *args: Any) -> None:
        for func in self.listeners.get(f"on_{name}", []):
            await func(*args)


async def test_health_and_metrics_say_which_shards_run_here_and_each_ones_state(
    env: Env,
) -> None:
    from bot.links import Links
    from bot.ops import metrics
    from bot.ops.health import GatewayWatch, HealthChecks
    from bot.ops.logs import SecretRegistry
    from bot.sellapp.client import make_http_client
    from bot.shards.guard import GuildGuard
    from bot.shards.plan import ShardPlan

    clock = Clock()
    settings = env.settings()
    store = await Store.open(settings.database_path)
    async with make_http_client() as http:
        links = Links(settings, store, http, SecretRegistry(), None)
        guard = GuildGuard(store.claims, plan=ShardPlan.of(4, [1, 3]))
        bot = _ShardedBot(4, [1, 3])
        gateway = GatewayWatch(clock)
        gateway.attach(bot)  # type: ignore[arg-type]
        checks = HealthChecks(gateway=gateway, store=store, links=links, clock=clock, guard=guard)
        await bot.dispatch("shard_connect", 1)
        await bot.dispatch("ready")
        clock.now += 7
        report = await checks.run()
        assert report.checks["gateway"] is False
        assert report.reasons == ["gateway: shard 3 not connected to Discord (for 7 s)"]
        assert report.as_json()["shards"] == {
            "count": 4,
            "ids": [1, 3],
            "connected": {"1": True, "3": False},
            "guilds_held": 0,
        }
        await bot.dispatch("shard_ready", 3)
        on_one = 1 << 22  # (id >> 22) % 4 == 1: on shard 1, ours
        await guard.refresh([on_one, 2 << 22])
        report = await checks.run()
        assert report.checks["gateway"] is True
        assert report.as_json()["shards"]["guilds_held"] == 1
        await checks.refresh_metrics()
        text = metrics.render().decode()
        assert 'sellapp_bridge_shard_connected{shard="1"} 1.0' in text
        assert 'sellapp_bridge_shard_connected{shard="3"} 1.0' in text
        assert "sellapp_bridge_shard_count 4.0" in text
        assert "sellapp_bridge_guilds_held 1.0" in text
        await bot.dispatch("shard_disconnect", 1)
        clock.now += 2
        assert (await checks.run()).reasons == [
            "gateway: shard 1 not connected to Discord (for 2 s)"
        ]
        checks.refresh_shard_metrics()
        assert 'sellapp_bridge_shard_connected{shard="1"} 0.0' in metrics.render().decode()
    await store.close()
