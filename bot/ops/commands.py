"""Operator commands: ``sellapp-bridge check``, ``backup PATH`` and ``invite-url``.

Each prints plain lines for a terminal and returns an exit status; none prints a token,
a key or a customer's words (every reason is one of our own sentences).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, TextIO
from urllib.parse import urlencode

import discord

from bot.config import Settings
from bot.errors import BackupFailed, BridgeError, ConfigError, DatabaseBusy, MoveFailed
from bot.explain import explain
from bot.links import LinkConfig, Links
from bot.ops.logs import setup_logging
from bot.permissions import missing_permissions, required_permissions
from bot.runner import point_discord_at
from bot.services import open_services, secret_registry
from bot.store import Store, is_postgres_url, url_secrets
from bot.store.backup import backup_database, backup_postgres
from bot.store.moving import move_to_postgres

__all__ = [
    "INVITE_SCOPES",
    "invite_url",
    "required_permissions",
    "run_backup",
    "run_check",
    "run_invite_url",
]

log = logging.getLogger(__name__)

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_CONFIG: Final = 2
"""A setting (DATABASE_PATH included) can't be used: the same status as ``run`` gives."""
INVITE_SCOPES: Final = ("bot", "applications.commands")
AUTHORIZE_URL: Final = "https://discord.com/oauth2/authorize"
# Application flags that say the Message Content intent is switched on (verified or not).
_MESSAGE_CONTENT_FLAGS: Final = (1 << 18) | (1 << 19)
_USABLE_CHANNELS = (discord.TextChannel, discord.ForumChannel)


# --- invite-url ---------------------------------------------------------------------------


def invite_url(application_id: int) -> str:
    query = urlencode(
        {
            "client_id": application_id,
            "scope": " ".join(INVITE_SCOPES),
            "permissions": required_permissions().value,
        }
    )
    return f"{AUTHORIZE_URL}?{query}"


def application_id_from_token(token: str) -> int | None:
    """A bot token's first dot-separated part is its user id (= application id), base64."""
    head = token.split(".", 1)[0]
    try:
        text = base64.b64decode(head + "=" * (-len(head) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


async def _application_id(token: str) -> int | None:
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        await http.static_login(token)
        data = await http.application_info()
        return int(data["id"])
    except (discord.HTTPException, OSError, KeyError, ValueError) as exc:
        log.debug("application info failed: %s", type(exc).__name__)
        return None
    finally:
        await http.close()


async def run_invite_url(settings: Settings, out: TextIO = sys.stdout) -> int:
    """Print the invite link of the configured bot (its application id from Discord,
    else decoded from the token)."""
    if settings.discord_token is None:
        print("sellapp-bridge: set DISCORD_TOKEN first (see README).", file=sys.stderr)
        return EXIT_FAILED
    point_discord_at(settings)
    token = settings.discord_token.get_secret_value()
    app_id = await _application_id(token)
    if app_id is None:
        app_id = application_id_from_token(token)
        if app_id is None:
            print(
                "sellapp-bridge: could not learn the application id: Discord did not answer "
                "and DISCORD_TOKEN does not look like a bot token.",
                file=sys.stderr,
            )
            return EXIT_FAILED
        print("(Discord did not answer; the id was read from the token.)", file=sys.stderr)
    print(invite_url(app_id), file=out)
    return EXIT_OK


# --- check --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckLine:
    ok: bool
    what: str
    reason: str = ""

    def __str__(self) -> str:
        status = "ok" if self.ok else "failed"
        return f"{status:<8}{self.what}" + (f": {self.reason}" if self.reason else "")


class _Printer:
    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.failed = 0

    def __call__(self, ok: bool, what: str, reason: str = "") -> bool:
        if not ok:
            self.failed += 1
        print(CheckLine(ok, what, reason), file=self._out, flush=True)
        return ok


async def run_check(
    settings: Settings | None,
    out: TextIO = sys.stdout,
    *,
    config_error: ConfigError | None = None,
) -> int:
    """Validate everything the bot needs, one line per check; 1 if any failed, 2 if the
    settings (DATABASE_PATH included) can't be used, as ``run`` would exit."""
    say = _Printer(out)
    if settings is None:
        say(False, "settings", str(config_error or "could not be read"))
        return EXIT_CONFIG
    secrets = secret_registry(settings)
    setup_logging("WARNING", "text", secrets)  # our lines are the output; the log is for errors
    logging.getLogger("discord.client").setLevel(logging.ERROR)  # "voice not supported"
    if settings.discord_token is None:
        say(False, "settings", "DISCORD_TOKEN is not set")
        return EXIT_CONFIG
    say(True, "settings")
    try:
        store = await Store.open(settings.database_target)
    except (ConfigError, DatabaseBusy) as exc:
        say(False, f"database {settings.database_shown}", str(exc))
        return EXIT_CONFIG if isinstance(exc, ConfigError) else EXIT_FAILED
    try:
        version = await store.schema_version()
        say(True, f"database {settings.database_shown}", f"schema version {version}")
        async with open_services(settings, store, secrets) as services:
            await _check_discord_and_links(settings, services.links, say)
    finally:
        await store.close()
    return EXIT_FAILED if say.failed else EXIT_OK


async def _check_discord_and_links(settings: Settings, links: Links, say: _Printer) -> None:
    assert settings.discord_token is not None
    point_discord_at(settings)
    all_links = await links.all()
    async with _discord_client(settings.discord_token.get_secret_value()) as (client, problem):
        if client is None or client.user is None:
            say(False, "Discord token", problem)
        else:
            say(True, "Discord token", f"logged in as {client.user} (id {client.user.id})")
            app = client.application
            flags = app.flags.value if app is not None else 0
            say(
                bool(flags & _MESSAGE_CONTENT_FLAGS),
                "Message Content intent",
                ""
                if flags & _MESSAGE_CONTENT_FLAGS
                else "switch it on (developer portal -> Bot -> Privileged Gateway Intents)",
            )
        if not all_links:
            say(True, "links", "no server is linked yet (DISCORD_GUILD_ID or /sellapp connect)")
        for link in all_links:
            await _check_link(link, links, client, say)


async def _check_link(
    link: LinkConfig, links: Links, client: discord.Client | None, say: _Printer
) -> None:
    guild = f"guild {link.guild_id}"
    if link.paused:
        say(True, guild, "paused (/sellapp resume to poll again)")
    if link.api_key is None:
        say(False, f"SellApp store for {guild}", link.missing or "no SellApp key")
    else:
        try:
            await links.client_for(link).list_tickets(page=1, limit=1)
        except BridgeError as exc:
            say(False, f"SellApp store for {guild}", explain(exc))
        else:
            say(True, f"SellApp store for {guild}", link.store_slug or "the key's default store")
    if link.channel_id is None:
        say(False, f"tickets channel for {guild}", "no tickets channel is set yet")
    elif client is not None and client.user is not None:
        problem = await _channel_problem(client, link.guild_id, link.channel_id)
        say(problem is None, f"tickets channel {link.channel_id} for {guild}", problem or "")


async def _channel_problem(client: discord.Client, guild_id: int, channel_id: int) -> str | None:
    """Why the bot can't use the channel, or None. Computed from the REST API alone."""
    assert client.user is not None
    try:
        guild = await client.fetch_guild(guild_id)
        member = await guild.fetch_member(client.user.id)
        channels = await guild.fetch_channels()
    except discord.NotFound:
        return "the bot is not in this server (invite it: sellapp-bridge invite-url)"
    except discord.Forbidden:
        return "the bot can't see this server (invite it: sellapp-bridge invite-url)"
    except discord.HTTPException as exc:
        return f"Discord answered {exc.status} while reading the server"
    channel = next((c for c in channels if c.id == channel_id), None)
    if channel is None:
        return "no such channel in this server (deleted, or the bot can't see it)"
    if not isinstance(channel, _USABLE_CHANNELS):
        return "it is neither a text channel nor a forum channel"
    missing = missing_permissions(channel.permissions_for(member))
    return f"the bot lacks {', '.join(missing)}" if missing else None


@contextlib.asynccontextmanager
async def _discord_client(
    token: str,
) -> AsyncIterator[tuple[discord.Client | None, str]]:
    """A REST-only client (no gateway): logged in, or None and the reason in words."""
    client = discord.Client(intents=discord.Intents(guilds=True))
    try:
        try:
            await client.login(token)
        except discord.LoginFailure:
            yield None, "Discord refused the token (developer portal -> Bot -> Reset Token)"
        except (discord.HTTPException, OSError) as exc:
            yield None, f"Discord could not be reached ({type(exc).__name__})"
        else:
            yield client, ""
    finally:
        await client.close()


# --- backup -------------------------------------------------------------------------------


def _default_name() -> str:
    return f"bridge-{datetime.now(UTC):%Y%m%d-%H%M%S}.sqlite3"


def run_backup(settings: Settings, path: str, *, force: bool = False) -> int:
    """A consistent copy of the live database as one SQLite file: of the SQLite file, or,
    with ``DATABASE_URL``, of the PostgreSQL store (one snapshot; see
    :func:`bot.store.backup.backup_postgres`)."""
    source = settings.database_path
    target = Path(path)
    if target.is_dir():
        target = target / _default_name()
    if target.exists() and not force:
        print(f"sellapp-bridge: {target} exists; pass --force to replace it.", file=sys.stderr)
        return EXIT_FAILED
    url = settings.database_url.get_secret_value() if settings.database_url else None
    if url is None and target.resolve() == source.resolve():
        print("sellapp-bridge: the backup can't replace the database itself.", file=sys.stderr)
        return EXIT_FAILED
    try:
        if url is not None:
            version = asyncio.run(backup_postgres(url, target))
        else:
            version = backup_database(source, target)
    except (BackupFailed, ConfigError) as exc:
        print(f"sellapp-bridge: backup failed: {_scrubbed(settings, exc)}", file=sys.stderr)
        return EXIT_FAILED
    print(f"backed up {settings.database_shown} to {target} (schema version {version})")
    return EXIT_OK


def _scrubbed(settings: Settings, exc: BaseException) -> str:
    return secret_registry(settings).scrub(str(exc))


# --- migrate-to ---------------------------------------------------------------------------


def run_migrate_to(settings: Settings, url: str | None, out: TextIO | None = None) -> int:
    """``sellapp-bridge migrate-to [DATABASE_URL]``: copy the SQLite store (DATABASE_PATH)
    into an empty PostgreSQL database (the URL given, else DATABASE_URL), check every
    table's row count and print a summary. The password is never printed."""
    out = out or sys.stdout
    target = url or (settings.database_url.get_secret_value() if settings.database_url else None)
    if target is None or not is_postgres_url(target):
        print(
            "sellapp-bridge: migrate-to needs a postgresql:// URL (as its argument or in "
            "DATABASE_URL)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    secrets = secret_registry(settings)
    secrets.add(*url_secrets(target))
    try:
        summary = asyncio.run(move_to_postgres(settings.database_path, target))
    except (MoveFailed, ConfigError) as exc:
        print(f"sellapp-bridge: migrate-to: {secrets.scrub(str(exc))}", file=sys.stderr)
        return EXIT_CONFIG if isinstance(exc, ConfigError) else EXIT_FAILED
    total = sum(summary.rows.values())
    print(
        f"copied {summary.source} to {summary.target} (schema version"
        f" {summary.schema_version}): {total} rows in {len(summary.rows)} tables",
        file=out,
    )
    for table, count in summary.rows.items():
        print(f"  {table:<16} {count:>8}", file=out)
    print("every table's row count matches: set DATABASE_URL and start the bridge", file=out)
    return EXIT_OK
