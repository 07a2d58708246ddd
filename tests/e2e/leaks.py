"""Scan everything the bot said for secrets: its log lines, every message and reaction it
left in the fake Discord, every interaction reply, and any exception text a test caught.

A secret counts as leaked if it appears whole, or if a 12-character slice of its middle
does (a key cut short in a log line is still a leak).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from tests.e2e.harness import DISCORD_TOKEN, SELLAPP_KEY, BotProcess, World

SECRET_KEY = "e2e-secret-key-that-is-long-enough-0123456789"  # World.env's SECRET_KEY


def _needles(secret: str) -> list[str]:
    middle = len(secret) // 2
    return [secret, secret[middle - 6 : middle + 6]]


def bot_said(world: World) -> Iterable[str]:
    """Every text the bot put anywhere in the fake Discord."""
    bot_id = world.discord.bot.id
    for messages in world.discord.messages.values():
        for message in messages:
            if message.author.id == bot_id:
                yield message.content
                yield json.dumps(message.embeds)
    for interaction in world.discord.interactions.values():
        for response in interaction.responses:
            yield json.dumps(response.data)
        for message in [interaction.original, *interaction.followups]:
            if message is not None:
                yield message.content
                yield json.dumps(message.embeds)
    for channel in world.discord.channels.values():
        yield channel.name


def find_leaks(
    world: World,
    bots: Iterable[BotProcess] = (),
    *,
    errors: Iterable[BaseException | str] = (),
    secrets: Iterable[str] = (),
) -> list[str]:
    """Where a secret showed up (empty: nowhere). Never returns the secret itself."""
    wanted = [DISCORD_TOKEN, SELLAPP_KEY, SECRET_KEY, *secrets]
    places: list[tuple[str, str]] = [("Discord", text) for text in bot_said(world)]
    for index, bot in enumerate(bots):
        places.extend((f"bot process {index} line {n}", line) for n, line in enumerate(bot.lines))
    places.extend(("an exception", str(e) + repr(e)) for e in errors)
    found = []
    for where, text in places:
        for number, secret in enumerate(wanted):
            if any(needle in text for needle in _needles(secret)):
                found.append(f"secret #{number} in {where}")
    return found


def assert_nothing_leaked(
    world: World,
    bots: Iterable[BotProcess] = (),
    *,
    errors: Iterable[BaseException | str] = (),
    secrets: Iterable[str] = (),
) -> int:
    """Fail naming where a secret leaked; return how many texts were scanned."""
    bots = list(bots)
    leaks = find_leaks(world, bots, errors=errors, secrets=secrets)
    assert leaks == [], leaks
    return sum(len(b.lines) for b in bots) + sum(1 for _ in bot_said(world))
