"""Settings: each bad value gives one line naming the variable and what it expects."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
ALL_VARS = [name.upper() for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    settings = load_settings(None)
    assert str(settings.sellapp_api_url) == "https://sell.app/api"
    assert settings.database_path == Path("data/bridge.sqlite3")
    assert settings.poll_interval_seconds == 30
    assert settings.relay_retry_seconds == 5
    assert settings.discord_guild_ready_seconds == 2
    assert settings.staff_role_ids == ()
    assert settings.note_prefix == "//"
    assert settings.discord_token is None


def test_values_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAFF_ROLE_IDS", " 11, 22,33 ,")
    monkeypatch.setenv("POLL_INTERVAL_SECONDS", "1.5")
    monkeypatch.setenv("RELAY_RETRY_SECONDS", "0.5")
    monkeypatch.setenv("DISCORD_GUILD_ID", "123")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    monkeypatch.setenv("SELLAPP_STORE", "my-store")
    settings = load_settings(None)
    assert settings.staff_role_ids == (11, 22, 33)
    assert settings.poll_interval_seconds == 1.5
    assert settings.relay_retry_seconds == 0.5
    assert settings.discord_guild_id == 123
    assert settings.log_level == "DEBUG"
    assert settings.log_format == "json"
    assert settings.sellapp_store == "my-store"


def test_env_file_is_read(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("DISCORD_TOKEN=abc.def.ghi\nTICKETS_CHANNEL_ID=42\n")
    settings = load_settings(env)
    assert settings.tickets_channel_id == 42
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == "abc.def.ghi"


def test_blank_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_GUILD_ID", "")
    monkeypatch.setenv("SECRET_KEY", "  ")
    settings = load_settings(None)
    assert settings.discord_guild_id is None
    assert settings.secret_key is None


@pytest.mark.parametrize(
    ("name", "value", "expects"),
    [
        ("POLL_INTERVAL_SECONDS", "0.5", "at least 1"),
        ("POLL_INTERVAL_SECONDS", "soon", "at least 1"),
        ("POLL_INTERVAL_SECONDS", "nan", "at least 1"),
        ("RELAY_RETRY_SECONDS", "0", "from 0.1 to 600"),
        ("RELAY_RETRY_SECONDS", "3600", "from 0.1 to 600"),
        ("RELAY_RETRY_SECONDS", "inf", "from 0.1 to 600"),
        ("DISCORD_GUILD_READY_SECONDS", "-1", "from 0 to 60"),
        ("STAFF_ROLE_IDS", "admins,mods", "role ids"),
        ("STAFF_ROLE_IDS", "-5", "role ids"),
        ("DISCORD_GUILD_ID", "my server", "server id"),
        ("DISCORD_GUILD_ID", "0", "server id"),
        ("TICKETS_CHANNEL_ID", "#tickets", "channel id"),
        ("SELLAPP_API_URL", "sell.app", "http(s) URL"),
        ("SELLAPP_STORE", "my store!", "store slug"),
        ("SECRET_KEY", "too-short", "at least 32 characters"),
        ("LOG_LEVEL", "loud", "DEBUG, INFO"),
        ("LOG_FORMAT", "xml", "text or json"),
        ("NOTE_PREFIX", "", "1 to 10 characters"),
        ("DISCORD_GATEWAY_URL", "http://x", "ws(s) URL"),
        ("DISCORD_API_BASE_URL", "ftp://x", "http(s) URL"),
        ("DATABASE_URL", "mysql://bridge:pw@db/bridge", "postgresql://"),
        ("DATABASE_URL", "postgresql://bridge:pw@db:notaport/bridge", "PostgreSQL URL"),
        ("DATABASE_URL", "./data/bridge.sqlite3", "or blank for SQLite"),
        ("SHARD_COUNT", "0", "at least 1"),
        ("SHARD_COUNT", "two", "number of shards"),
        ("SHARD_IDS", "0;1", "e.g. 0,1"),
        ("SHARD_IDS", "-1", "e.g. 0,1"),
    ],
)
def test_bad_value_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expects: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{name} is not valid")
    assert expects in message


def test_secrets_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "MTIzNDU2Nzg5.token-that-must-not-print"
    key = "sellapp-key-that-must-not-print"
    monkeypatch.setenv("DISCORD_TOKEN", token)
    monkeypatch.setenv("SELLAPP_API_KEY", key)
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    settings = load_settings(None)
    for text in (str(settings), repr(settings), settings.model_dump_json()):
        assert token not in text
        assert key not in text
        assert "s" * 40 not in text


def test_bad_secret_is_not_echoed_in_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "short-secret")
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert "short-secret" not in str(info.value)


def test_database_url_wins_over_the_path_and_never_shows_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "postgresql://bridge:pg-password-that-must-not-print@db.example.com:5432/bridge"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DATABASE_PATH", "/srv/bridge.sqlite3")
    settings = load_settings(None)
    assert settings.database_target == url
    assert settings.database_kind == "PostgreSQL"
    assert settings.database_shown == "postgresql://bridge:***@db.example.com:5432/bridge"
    for text in (str(settings), repr(settings), settings.model_dump_json()):
        assert "pg-password-that-must-not-print" not in text


def test_postgres_scheme_is_accepted_and_blank_means_sqlite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://db.example.com/bridge")
    assert load_settings(None).database_shown == "postgres://db.example.com/bridge"
    monkeypatch.setenv("DATABASE_URL", "  ")
    settings = load_settings(None)
    assert settings.database_url is None
    assert settings.database_target == Path("data/bridge.sqlite3")
    assert settings.database_kind == "SQLite"


def test_a_bad_database_url_is_not_echoed_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://bridge:hunter2-secret@db/bridge")
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert "hunter2-secret" not in str(info.value)


def test_env_example_lists_every_setting_with_a_comment() -> None:
    text = (ROOT / ".env.example").read_text()
    lines = text.splitlines()
    names = []
    for index, line in enumerate(lines):
        match = re.match(r"^([A-Z_]+)=", line)
        if match:
            names.append(match.group(1))
            assert lines[index - 1].startswith("#"), f"{match.group(1)} has no comment"
    assert sorted(names) == sorted(ALL_VARS)


def test_env_example_itself_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(ROOT / ".env.example")
    assert settings.discord_token is None


def test_shards_default_to_discords_recommendation_and_every_shard() -> None:
    settings = load_settings(None)
    assert settings.shard_count is None
    assert settings.shard_ids is None


def test_shard_ids_are_read_with_their_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARD_COUNT", "4")
    monkeypatch.setenv("SHARD_IDS", " 3, 1 ")
    settings = load_settings(None)
    assert settings.shard_count == 4
    assert settings.shard_ids == (3, 1)
    monkeypatch.setenv("SHARD_IDS", "")
    assert load_settings(None).shard_ids is None


@pytest.mark.parametrize(
    ("count", "ids", "says"),
    [
        (None, "0,1", "SHARD_IDS needs SHARD_COUNT"),
        ("2", "0,2", "shard 2 does not exist with SHARD_COUNT=2 (ids go from 0 to 1)"),
        ("3", "1,0,1", "shard 1 is listed twice"),
    ],
)
def test_shard_ids_that_do_not_fit_get_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, count: str | None, ids: str, says: str
) -> None:
    if count is not None:
        monkeypatch.setenv("SHARD_COUNT", count)
    monkeypatch.setenv("SHARD_IDS", ids)
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    message = str(info.value)
    assert "\n" not in message
    assert says in message
