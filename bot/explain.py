"""Errors in plain words for staff: what went wrong and what happens next.

Every sentence is safe to show in Discord: built from our own error types, whose
messages never hold a key, a token or a customer's message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.errors import (
    BridgeError,
    ChannelUnusable,
    DiscordUnavailable,
    SellAppAuthError,
    SellAppBadRequest,
    SellAppError,
    SellAppInProgress,
    SellAppNotFound,
    SellAppProtocolError,
    SellAppRateLimited,
    SellAppUnavailable,
    SellAppValidationError,
)

# Most specific first: the first matching type wins.
_WORDS: tuple[tuple[type[BaseException], Callable[[Any], str]], ...] = (
    (
        SellAppAuthError,
        lambda _: (
            "SellApp refused the API key (it may have been revoked or lack access to "
            "this store). An admin can reconnect with /sellapp connect."
        ),
    ),
    (SellAppNotFound, lambda _: "SellApp doesn't know that ticket (it may have been deleted)."),
    (SellAppValidationError, lambda e: f"SellApp refused it: {e.reason}"),
    (
        SellAppInProgress,
        lambda _: "SellApp is still working on this; the bridge waits and asks again.",
    ),
    (SellAppBadRequest, lambda e: f"SellApp refused the request: {e.message}"),
    (
        SellAppRateLimited,
        lambda _: "SellApp is rate-limiting the bridge right now; it will try again shortly.",
    ),
    (
        SellAppUnavailable,
        lambda _: (
            "SellApp can't be reached right now (server error or timeout); "
            "the bridge keeps retrying."
        ),
    ),
    (
        SellAppProtocolError,
        lambda _: "SellApp answered something the bridge can't read; the bridge keeps retrying.",
    ),
    (SellAppError, lambda e: f"SellApp: {e.message}"),
    (ChannelUnusable, lambda e: f"Can't use the tickets channel: {e.reason}."),
    (
        DiscordUnavailable,
        lambda _: "Discord is having trouble right now; the bridge keeps retrying.",
    ),
    (BridgeError, str),
)

UNEXPECTED = "An unexpected error happened; the details are in the bot's log."


def explain(exc: BaseException) -> str:
    """One or two sentences for staff."""
    for kind, words in _WORDS:
        if isinstance(exc, kind):
            return words(exc)
    return UNEXPECTED
