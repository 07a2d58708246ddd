"""Settings: the only reader of the environment and ``.env``.

Read once in ``bot.__main__`` with :func:`load_settings` and passed down; nothing
builds settings at import time. Secrets are ``SecretStr`` so they never print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError
from bot.store import is_postgres_url, masked_url

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

STORE_SLUG_PATTERN: Final = r"^[A-Za-z0-9_.-]{1,100}$"
"""A SellApp store slug, as ``SELLAPP_STORE`` and ``/sellapp connect`` accept it."""

# What each setting expects, in words, for the one-line error at start.
_EXPECTS: dict[str, str] = {
    "discord_token": "the bot token from the Discord developer portal",
    "sellapp_api_url": "an http(s) URL such as https://sell.app/api",
    "sellapp_api_key": "a SellApp API key",
    "sellapp_store": "a store slug (letters, digits, '-', '_' or '.')",
    "discord_guild_id": "a Discord server id (a positive whole number)",
    "tickets_channel_id": "a Discord channel id (a positive whole number)",
    "staff_role_ids": "comma-separated Discord role ids, e.g. 123,456",
    "database_path": "a file path such as ./data/bridge.sqlite3",
    "database_url": "a PostgreSQL URL such as postgresql://bridge:PASSWORD@db.example.com/bridge"
    " (postgresql:// or postgres://), or blank for SQLite",
    "poll_interval_seconds": "a number of seconds, at least 1 (fractions allowed)",
    "relay_retry_seconds": "a number of seconds from 0.1 to 600 (fractions allowed)",
    "secret_key": "a random string of at least 32 characters (e.g. `openssl rand -base64 32`)",
    "log_level": "one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
    "log_format": "text or json",
    "note_prefix": "1 to 10 characters that mark an internal note, e.g. //",
    "discord_api_base_url": "an http(s) URL ending in /api/v10",
    "discord_gateway_url": "a ws(s) URL",
    "discord_guild_ready_seconds": "a number of seconds from 0 to 60 (fractions allowed)",
    "health_port": "a TCP port number from 1 to 65535, or blank for none",
    "public_url": "an https URL where SellApp can reach the bot (http only for 127.0.0.1)",
    "webhook_port": "a TCP port number from 1 to 65535",
    "webhook_host": "an interface address to bind, such as 0.0.0.0 or 127.0.0.1",
    "push_sweep_seconds": "a number of seconds, at least 1 (default 900)",
    "sellapp_webhook_secret": "the store's webhook signing secret from SellApp, or blank",
    "triage_minute_seconds": "a number of seconds from 0.01 to 60 (for testing only)",
    "triage_check_seconds": "a number of seconds from 0.1 to 600",
    "shard_count": "a whole number of shards, at least 1, or blank for Discord's recommendation",
    "shard_ids": "comma-separated shard ids this process runs, e.g. 0,1, or blank for all",
    "order_card_retry_seconds": "a number of seconds from 0.1 to 3600 (fractions allowed)",
    "unread_thread_check_seconds": "a number of seconds from 0.1 to 600 (fractions allowed)",
}

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


class Settings(BaseSettings):
    """Everything the bridge reads from its environment."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
    )

    discord_token: SecretStr | None = None
    sellapp_api_url: AnyHttpUrl = AnyHttpUrl("https://sell.app/api")
    sellapp_api_key: SecretStr | None = None
    sellapp_store: Annotated[str | None, Field(pattern=STORE_SLUG_PATTERN)] = None
    discord_guild_id: Annotated[int | None, Field(gt=0)] = None
    tickets_channel_id: Annotated[int | None, Field(gt=0)] = None
    staff_role_ids: Annotated[tuple[int, ...], NoDecode] = ()
    database_path: Path = Path("./data/bridge.sqlite3")
    # PostgreSQL instead of the SQLite file (several processes share it); a secret: the
    # URL holds the database password.
    database_url: SecretStr | None = None
    poll_interval_seconds: Annotated[float, Field(ge=1, allow_inf_nan=False)] = 30.0
    relay_retry_seconds: Annotated[float, Field(ge=0.1, le=600, allow_inf_nan=False)] = 5.0
    secret_key: Annotated[SecretStr | None, Field(min_length=32)] = None
    log_level: LogLevel = "INFO"
    log_format: Literal["text", "json"] = "text"
    note_prefix: Annotated[str, Field(min_length=1, max_length=10)] = "//"
    discord_api_base_url: AnyHttpUrl | None = None
    discord_gateway_url: Annotated[str | None, Field(pattern=r"^wss?://\S+$")] = None
    discord_guild_ready_seconds: Annotated[float, Field(ge=0, le=60, allow_inf_nan=False)] = 2.0
    health_port: Annotated[int | None, Field(ge=1, le=65535)] = None
    public_url: AnyHttpUrl | None = None
    webhook_port: Annotated[int, Field(ge=1, le=65535)] = 8090
    webhook_host: Annotated[str, Field(min_length=1, pattern=r"^\S+$")] = "0.0.0.0"  # noqa: S104
    push_sweep_seconds: Annotated[float, Field(ge=1, allow_inf_nan=False)] = 900.0
    sellapp_webhook_secret: SecretStr | None = None
    # Triage (issue 16): how often reminders and the digest are checked, and, for tests
    # only, how many real seconds one SLA minute lasts.
    triage_check_seconds: Annotated[float, Field(ge=0.1, le=600, allow_inf_nan=False)] = 30.0
    triage_minute_seconds: Annotated[float, Field(ge=0.01, le=60, allow_inf_nan=False)] = 60.0
    # Sharding (issue 18): how many shards the bot has (None: Discord's recommended count
    # from GET /gateway/bot) and which of them this process runs (None: all of them).
    shard_count: Annotated[int | None, Field(ge=1)] = None
    shard_ids: Annotated[tuple[int, ...] | None, NoDecode] = None
    # How soon an order card that could not read its order tries again.
    order_card_retry_seconds: Annotated[float, Field(ge=0.1, le=3600, allow_inf_nan=False)] = 30.0
    # How often threads found again after the catch-up (an empty or restored database)
    # are read for replies typed while the bot was down.
    unread_thread_check_seconds: Annotated[float, Field(ge=0.1, le=600, allow_inf_nan=False)] = 10.0

    @field_validator(
        "discord_token",
        "sellapp_api_key",
        "sellapp_store",
        "discord_guild_id",
        "tickets_channel_id",
        "secret_key",
        "discord_api_base_url",
        "discord_gateway_url",
        "health_port",
        "public_url",
        "sellapp_webhook_secret",
        "database_url",
        "shard_count",
        "shard_ids",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @field_validator("public_url")
    @classmethod
    def _public_https(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is None:
            return None
        if value.scheme != "https" and (value.host or "") not in _LOOPBACK_HOSTS:
            raise ValueError("must be https (http only for a loopback address)")
        if value.query or value.fragment or value.username or value.password:
            raise ValueError("must be a plain base URL")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        url = value.get_secret_value().strip()
        if not is_postgres_url(url):
            raise ValueError("must start with postgresql:// or postgres://")
        try:
            parts = urlsplit(url)
            _ = parts.port  # a port that is not a number raises here
        except ValueError:
            raise ValueError("not a readable URL") from None
        if not parts.hostname and "host=" not in parts.query:
            raise ValueError("names no server")
        return SecretStr(url)

    @property
    def database_target(self) -> Path | str:
        """What the store opens: the PostgreSQL URL when ``DATABASE_URL`` is set (it wins
        over ``DATABASE_PATH``), else the SQLite file."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return self.database_path

    @property
    def database_shown(self) -> str:
        """The database in words safe for logs and replies (a URL's password masked)."""
        if self.database_url is not None:
            return masked_url(self.database_url.get_secret_value())
        return str(self.database_path)

    @property
    def database_kind(self) -> str:
        return "PostgreSQL" if self.database_url is not None else "SQLite"

    @property
    def push_enabled(self) -> bool:
        """Whether the bridge asks SellApp to push (``PUBLIC_URL`` is set)."""
        return self.public_url is not None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("staff_role_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",")]
            ids = []
            for part in parts:
                if not part:
                    continue
                if not part.isdigit() or int(part) <= 0:
                    raise ValueError("not a role id")
                ids.append(int(part))
            return tuple(ids)
        return value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _split_shard_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return None
            parts = [p.strip() for p in value.split(",")]
            if not all(part.isdigit() for part in parts):
                raise ValueError("not a list of shard ids")
            return tuple(int(part) for part in parts)
        return value

    @model_validator(mode="after")
    def _shard_ids_fit_the_count(self) -> Settings:
        ids = self.shard_ids
        if ids is None:
            return self
        if self.shard_count is None:
            raise ValueError(
                "SHARD_IDS needs SHARD_COUNT: set SHARD_COUNT to the total number of shards "
                "every process together runs (e.g. SHARD_COUNT=2 with SHARD_IDS=0 here and "
                "SHARD_IDS=1 on the other process)."
            )
        outside = sorted(i for i in set(ids) if i >= self.shard_count)
        if outside:
            raise ValueError(
                f"SHARD_IDS is not valid: shard {outside[0]} does not exist with "
                f"SHARD_COUNT={self.shard_count} (ids go from 0 to {self.shard_count - 1})."
            )
        if len(set(ids)) != len(ids):
            twice = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"SHARD_IDS is not valid: shard {twice} is listed twice.")
        return self


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    if not first["loc"]:  # a check of several settings together: its own sentence
        return str(first["msg"]).removeprefix("Value error, ")
    field = str(first["loc"][0])
    expects = _EXPECTS.get(field, first["msg"])
    return f"{field.upper()} is not valid: expected {expects}."


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Read the environment (and ``env_file`` if it exists) once.

    Raises :class:`ConfigError` with one line naming the variable and what it expects.
    """
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
