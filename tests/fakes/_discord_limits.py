"""The fake Discord's error bodies, injected faults and (optional) rate-limit enforcer.

Package-private: see `FakeDiscord.fail_next` and `FakeDiscord.enable_rate_limits`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ERROR_MESSAGES = {
    0: "General error",
    10003: "Unknown Channel",
    10004: "Unknown Guild",
    10007: "Unknown Member",
    10008: "Unknown Message",
    10014: "Unknown Emoji",
    10015: "Unknown Webhook",
    10062: "Unknown interaction",
    40060: "Interaction has already been acknowledged.",
    50001: "Missing Access",
    50005: "Cannot edit a message authored by another user",
    50006: "Cannot send an empty message",
    50008: "Cannot send messages in a non-text channel",
    50013: "Missing Permissions",
    50035: "Invalid Form Body",
    50083: "Thread is archived",
}
DEFAULT_CODES = {400: 50035, 403: 50013, 404: 10003}


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """JSON with `Content-Type: application/json` exactly: discord.py reads nothing else as JSON."""
    response = web.Response(status=status, body=json.dumps(data).encode(), headers=headers)
    response.headers["Content-Type"] = "application/json"
    return response


class DiscordError(Exception):
    """Raised by a handler; answered as Discord's `{"code", "message"}` body."""

    def __init__(
        self, status: int, code: int, message: str | None = None, errors: Any = None
    ) -> None:
        self.status = status
        self.code = code
        self.message = message or ERROR_MESSAGES.get(code, "Error")
        self.errors = errors
        super().__init__(f"{status} {code} {self.message}")

    def response(self) -> web.Response:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return json_response(body, self.status)


def bucket_hash(route: str) -> str:
    return hashlib.sha1(route.encode(), usedforsecurity=False).hexdigest()[:16]


def rate_limited(
    retry_after: float, bucket: str, *, is_global: bool, scope: str = "user"
) -> web.Response:
    reset = time.time() + retry_after
    headers = {
        "Retry-After": str(max(1, math.ceil(retry_after))),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{reset:.3f}",
        "X-RateLimit-Reset-After": f"{retry_after:.3f}",
        "X-RateLimit-Bucket": bucket,
        "X-RateLimit-Scope": "global" if is_global else scope,
        "Via": "1.1 google",
    }
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    body = {
        "message": "You are being rate limited.",
        "retry_after": retry_after,
        "global": is_global,
    }
    return json_response(body, 429, headers)


@dataclass
class Fault:
    """An injected failure for the next `times` requests matching `method` and `path_regex`."""

    method: str
    path_regex: str
    status: int
    code: int | None
    message: str | None
    times: int
    retry_after: float
    is_global: bool
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.times > 0
            and self.method == method
            and re.fullmatch(self.path_regex, path) is not None
        )

    def response(self, bucket: str) -> web.Response:
        self.times -= 1
        self.hits += 1
        if self.status == 429:
            return rate_limited(self.retry_after, bucket, is_global=self.is_global)
        if self.status >= 500:
            body = {
                "message": self.message or f"{self.status}: Server Error",
                "code": self.code or 0,
            }
            return json_response(body, self.status)
        code = self.code if self.code is not None else DEFAULT_CODES.get(self.status, 0)
        return DiscordError(self.status, code, self.message).response()


@dataclass
class RateLimiter:
    """Off by default. When on: `global_per_second` requests a second in all (interactions aside)
    and `messages_per_window` sends per channel per `window` seconds; beyond them, a 429."""

    enabled: bool = False
    global_per_second: int = 50
    messages_per_window: int = 5
    window: float = 5.0
    sent_429: int = 0
    _global: deque[float] = field(default_factory=deque)
    _channels: dict[str, deque[float]] = field(default_factory=dict)

    def configure(
        self, *, enabled: bool, global_per_second: int, messages_per_window: int, window: float
    ) -> None:
        self.enabled = enabled
        self.global_per_second = global_per_second
        self.messages_per_window = messages_per_window
        self.window = window

    def admit(
        self, route: str, channel_key: str | None, exempt: bool
    ) -> tuple[web.Response | None, dict[str, str]]:
        """Either a 429 to send, or the X-RateLimit-* headers for a request let through."""
        bucket = bucket_hash(route)
        static = {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Bucket": bucket,
        }
        if not self.enabled:
            return None, static
        clock = time.monotonic()
        if not exempt:
            while self._global and self._global[0] <= clock - 1.0:
                self._global.popleft()
            if len(self._global) >= self.global_per_second:
                self.sent_429 += 1
                retry = max(0.001, self._global[0] + 1.0 - clock)
                return rate_limited(round(retry, 3), bucket, is_global=True), {}
            self._global.append(clock)
        if channel_key is None:
            return None, static
        sent = self._channels.setdefault(channel_key, deque())
        while sent and sent[0] <= clock - self.window:
            sent.popleft()
        if len(sent) >= self.messages_per_window:
            self.sent_429 += 1
            retry = max(0.001, sent[0] + self.window - clock)
            return rate_limited(round(retry, 3), bucket, is_global=False), {}
        sent.append(clock)
        reset_after = sent[0] + self.window - clock
        return None, {
            "X-RateLimit-Limit": str(self.messages_per_window),
            "X-RateLimit-Remaining": str(self.messages_per_window - len(sent)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket,
        }
