"""The bridge's errors, one tree (httpx style: each class says what went wrong and who raises it).

Every message here is safe to show a staff member: no API key, token or customer
message body is ever put into one. The cog layer turns them into ephemeral replies
in one place (:func:`bot.tree.describe`, the command tree's ``on_error``), in the words
of :func:`bot.explain.explain`.

    BridgeError                      base of every error we raise on purpose; str() is safe to show
    ├── ConfigError                  a setting is missing or malformed (bot.config at start;
    │   │                            bot.links.sealing for SECRET_KEY; bot.store for a newer schema)
    │   └── DatabaseUnusable         DATABASE_PATH can't be created, opened or written
    │                                (bot.store._sqlite, _postgres at open)
    ├── DatabaseBusy                 another process held the database too long at open
    ├── BackupFailed                 `sellapp-bridge backup` made no checked copy
    │                                (bot.store.backup)
    ├── MoveFailed                   `sellapp-bridge migrate-to` copied nothing: the target
    │                                holds bridge data, or a count did not match
    │                                (bot.store.moving)
    ├── SealError                    a stored key can't be sealed/opened, e.g. SECRET_KEY
    │                                changed (bot.links.sealing; bot.links reports it as the
    │                                link's problem)
    ├── InputRefused                 what a member typed or asked can't be used (the pure
    │                                command rules: bot.links.connect)
    ├── GuildNotHeld                 this process does not work on the guild now (another
    │                                process holds it, or its claim was lost): nothing was
    │                                done (bot.shards.guard, before each side effect)
    ├── SellAppError                 talking to SellApp went wrong; carries endpoint, status,
    │   │                            request_id (raised only by bot.sellapp.client)
    │   ├── SellAppAuthError         401/403: the key is wrong, revoked or lacks access
    │   │   └── WebhooksForbidden    403 on webhook channels: the key may not manage webhooks
    │   ├── SellAppNotFound          404: no such ticket or message (or another store's)
    │   ├── SellAppBadRequest        400: e.g. SellApp's "missing-store"
    │   ├── SellAppValidationError   422: SellApp refused the content; carries field messages
    │   │   └── WebhookUrlRefused    422 on a webhook channel: the URL is not public
    │   ├── SellAppInProgress        409: the same idempotency key is still being worked on
    │   │                            (order actions); retryable with the same key and body
    │   ├── SellAppRateLimited       429 that outlasted our bounded wait; retryable
    │   ├── SellAppUnavailable       5xx, timeout or connection error (reads: after retries);
    │   │                            retryable
    │   └── SellAppProtocolError     malformed JSON or a payload of an unexpected shape
    └── DiscordSideError             Discord refused or failed an action, as the engines see
        │                            it (built from discord.py's exceptions by
        │                            bot.inbound.discord_edge; the engines never import discord)
        ├── ThreadGone               10003 Unknown Channel for a ticket's thread: it was
        │                            deleted (the inbound engine recreates it)
        ├── ChannelUnusable          the tickets channel is gone, of the wrong type, or the
        │                            bot may not write there (the guild's cycle stops, says why)
        ├── ThreadUnusable           the bot may not write in one ticket's thread; the other
        │                            tickets go on
        └── DiscordUnavailable       Discord answered 5xx or could not be reached; retried later
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose. ``str(err)`` is safe to show."""


class ConfigError(BridgeError):
    """A setting is missing or has a value we can't use."""


class DatabaseUnusable(ConfigError):
    """``DATABASE_PATH`` can't be used (its folder can't be created, the file can't be
    opened or written, it is not a database). The message names the path and the cause."""


class DatabaseBusy(BridgeError):
    """Another process held the database longer than the busy timeout at open (or, on
    PostgreSQL, the write lock longer than a write waits, or changed the schema under a
    write). Not a setting to fix: trying again later may work."""


class BackupFailed(BridgeError):
    """``sellapp-bridge backup`` could not make a checked copy; the message says why."""


class MoveFailed(BridgeError):
    """``sellapp-bridge migrate-to`` left the target as it was; the message says why."""


class SealError(BridgeError):
    """A stored SellApp key could not be sealed or opened (e.g. SECRET_KEY changed)."""


class InputRefused(BridgeError):
    """What a member typed or asked can't be used; the message says why and what to do.

    Raised by the pure command rules (e.g. :func:`bot.links.connect.read_form`) before
    anything is changed."""


class GuildNotHeld(BridgeError):
    """This process does not work on the guild now (another process holds it, or its claim
    was just lost); the step was not started, so nothing was done."""

    MESSAGE = "This server is moving between bridge processes; try again in a few seconds."

    def __init__(self, guild_id: int) -> None:
        super().__init__(self.MESSAGE)
        self.guild_id = guild_id


class SellAppError(BridgeError):
    """Talking to SellApp failed.

    ``endpoint`` is e.g. ``GET /v1/tickets``; ``status`` the HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.status = status
        self.request_id = request_id

    def __str__(self) -> str:
        where = f"{self.endpoint}" + (f" (HTTP {self.status})" if self.status else "")
        return f"{self.message} [{where}]"

    @property
    def retryable(self) -> bool:
        """Whether trying the same request later may succeed."""
        return False


class SellAppAuthError(SellAppError):
    """401/403: the API key is wrong, revoked, or has no access to this store."""


class WebhooksForbidden(SellAppAuthError):
    """403 on a webhook-channel route: the API key may not manage webhooks."""


class SellAppNotFound(SellAppError):
    """404: the ticket or message doesn't exist (or belongs to another store)."""


class SellAppBadRequest(SellAppError):
    """400: SellApp refused the request as malformed (e.g. a missing or unknown store)."""


class SellAppValidationError(SellAppError):
    """422: SellApp refused what we sent. ``errors`` maps field -> SellApp's messages."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status: int | None = 422,
        errors: dict[str, list[str]] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, status=status, request_id=request_id)
        self.errors = errors or {}

    @property
    def reason(self) -> str:
        """SellApp's own words, joined, for showing staff."""
        parts = [m for msgs in self.errors.values() for m in msgs]
        return " ".join(parts) if parts else self.message


class WebhookUrlRefused(SellAppValidationError):
    """422 on creating a webhook channel: SellApp says the URL is not public (or is taken)."""


class SellAppInProgress(SellAppError):
    """409 on an order action: SellApp is still working on this idempotency key (or was
    sent another body under it). Waiting and sending the same request again is safe."""

    @property
    def retryable(self) -> bool:
        return True


class SellAppRateLimited(SellAppError):
    """429 that lasted longer than we were willing to wait. ``retry_after`` in seconds."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, status=429, request_id=request_id)
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return True


class SellAppUnavailable(SellAppError):
    """SellApp could not be reached or answered 5xx (reads: after bounded retries)."""

    @property
    def retryable(self) -> bool:
        return True


class SellAppProtocolError(SellAppError):
    """SellApp answered something we can't read: malformed JSON or an unexpected shape."""


class DiscordSideError(BridgeError):
    """Discord refused or failed an action, as the engines see it (they never import discord).

    The Discord adapter (``bot.inbound.discord_edge``) turns discord.py's exceptions into these."""


class ThreadGone(DiscordSideError):
    """The ticket's thread no longer exists (10003 Unknown Channel): someone deleted it."""

    def __init__(self, thread_id: int) -> None:
        super().__init__(f"the thread {thread_id} was deleted")
        self.thread_id = thread_id


class ChannelUnusable(DiscordSideError):
    """The tickets channel is missing, of the wrong type, or the bot may not write there."""

    def __init__(self, channel_id: int, reason: str) -> None:
        super().__init__(f"can't use the tickets channel <#{channel_id}>: {reason}")
        self.channel_id = channel_id
        self.reason = reason


class DiscordUnavailable(DiscordSideError):
    """Discord answered 5xx or could not be reached; trying later may work."""


class ThreadUnusable(DiscordSideError):
    """The bot may not write in one ticket's thread (its channel is fine otherwise)."""

    def __init__(self, thread_id: int, reason: str) -> None:
        super().__init__(f"can't write in the thread {thread_id}: {reason}")
        self.thread_id = thread_id
        self.reason = reason
