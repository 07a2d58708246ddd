"""The long-lived services the cogs and engines share, and the one place they are wired.

``bot.runner`` (the bot) and ``bot.ops.commands`` (``sellapp-bridge check``) both start
from here, so what the check tries is what the bot will run with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from bot.config import Settings
from bot.links import Links
from bot.links.sealing import Sealer
from bot.ops.logs import SecretRegistry, secret_values
from bot.push.hub import PushHub
from bot.sellapp.client import Observe, make_http_client
from bot.store import Store, url_secrets


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    store: Store
    http: httpx.AsyncClient
    secrets: SecretRegistry
    links: Links
    push: PushHub | None = None
    """Set when ``PUBLIC_URL`` is: SellApp webhooks (see ``bot.push``)."""


def secret_registry(settings: Settings) -> SecretRegistry:
    """A registry holding every secret of ``settings``, so no log line can show one."""
    secrets = SecretRegistry()
    secrets.add(
        *secret_values(
            [
                settings.discord_token,
                settings.sellapp_api_key,
                settings.secret_key,
                settings.sellapp_webhook_secret,
            ]
        )
    )
    if settings.database_url is not None:
        secrets.add(*url_secrets(settings.database_url.get_secret_value()))
    return secrets


@asynccontextmanager
async def open_services(
    settings: Settings,
    store: Store,
    secrets: SecretRegistry,
    *,
    observe: Observe | None = None,
) -> AsyncIterator[Services]:
    """The services around an open ``store``: the shared HTTP client (closed on exit),
    the sealer (when ``SECRET_KEY`` is set), the links and, when ``PUBLIC_URL`` is set,
    the push hub (stopped on exit). The caller owns the store."""
    async with make_http_client(observe=observe) as http:
        sealer = Sealer(settings.secret_key) if settings.secret_key is not None else None
        links = Links(settings, store, http, secrets, sealer)
        push = PushHub(settings, store, links, secrets) if settings.push_enabled else None
        try:
            yield Services(
                settings=settings, store=store, http=http, secrets=secrets, links=links, push=push
            )
        finally:
            if push is not None:
                await push.stop()
