"""``python -m bot`` / ``sellapp-bridge``: parse the command line, read Settings once, run."""

from __future__ import annotations

import argparse
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

See README.md, "Setting up the Discord side", for the rest of the settings."""


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
    return parser


def _run(settings: Settings) -> int:
    if settings.discord_token is None:
        print(HOW_TO_SET_UP, file=sys.stderr)
        return EXIT_CONFIG
    # Imported here so that `--help` and config errors stay fast and dependency-light.
    from bot.runner import run_bot  # noqa: PLC0415

    return run_bot(settings)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.env_file)
    except ConfigError as exc:
        print(f"sellapp-bridge: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    command = args.command or "run"
    if command == "run":
        return _run(settings)
    raise AssertionError(f"unhandled command {command!r}")  # argparse rejects unknown ones


if __name__ == "__main__":
    sys.exit(main())
