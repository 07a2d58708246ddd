"""``python -m bot`` / ``sellapp-bridge``: parse the command line, read Settings once, run."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bot.config import Settings, load_settings
from bot.errors import ConfigError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

HOW_TO_SET_UP = """\
The bridge needs a Discord bot token to start.

Set DISCORD_TOKEN to your bot's token (Discord developer portal -> your application
-> Bot -> Reset Token). The easiest place is a .env file next to the Makefile:

    cp .env.example .env      # then edit .env and fill in DISCORD_TOKEN

See README.md, "Setting up the Discord side", for the rest of the settings.

To see the bridge work first, without a token: `make demo` (in the repository) runs the
real bot against a fake SellApp and a fake Discord and shows what each side saw."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sellapp-bridge",
        description="Answer SellApp support tickets from Discord threads.",
    )
    parser.add_argument(
        "--env-file",
        default=".env",
        help="read settings from this file as well as the environment (default: .env)",
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot (the default)")
    sub.add_parser(
        "check",
        help="check the settings, database, Discord token, SellApp keys and channel permissions",
    )
    backup = sub.add_parser(
        "backup", help="copy the live database (safe while the bot runs) to PATH"
    )
    backup.add_argument("path", help="a file, or a folder to put a dated copy in")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")
    sub.add_parser("invite-url", help="print the link that adds the bot to a server")
    move = sub.add_parser(
        "migrate-to",
        help="copy the SQLite database (DATABASE_PATH) into an empty PostgreSQL database",
    )
    move.add_argument(
        "url",
        nargs="?",
        help="the postgresql:// URL (default: DATABASE_URL; from the environment, it "
        "stays out of the process list)",
    )
    return parser


def _run(settings: Settings) -> int:
    if settings.discord_token is None:
        print(HOW_TO_SET_UP, file=sys.stderr)
        return EXIT_CONFIG
    # Imported here so that `--help` and config errors stay fast and dependency-light.
    from bot.runner import run_bot  # noqa: PLC0415

    return run_bot(settings)


def _ops(
    command: str, args: argparse.Namespace, settings: Settings | None, error: ConfigError | None
) -> int:
    """Operator commands (bot.ops.commands): ``check`` reports bad settings as a failed check."""
    from bot.ops import commands as ops  # noqa: PLC0415 - see _run

    if command == "check":
        return asyncio.run(ops.run_check(settings, config_error=error))
    if settings is None:
        print(f"sellapp-bridge: {error}", file=sys.stderr)
        return EXIT_CONFIG
    if command == "backup":
        return ops.run_backup(settings, args.path, force=args.force)
    if command == "migrate-to":
        return ops.run_migrate_to(settings, args.url)
    if command == "invite-url":
        return asyncio.run(ops.run_invite_url(settings))
    raise AssertionError(f"unhandled command {command!r}")  # argparse rejects unknown ones


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    try:
        settings = load_settings(args.env_file)
    except ConfigError as exc:
        if command == "run":
            print(f"sellapp-bridge: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        return _ops(command, args, None, exc)
    if command == "run":
        return _run(settings)
    return _ops(command, args, settings, None)


if __name__ == "__main__":
    sys.exit(main())
