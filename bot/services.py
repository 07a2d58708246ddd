"""The long-lived services the cogs and engines share, built once by ``bot.runner``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from bot.config import Settings
from bot.links import Links
from bot.ops.logs import SecretRegistry
from bot.store import Store

if TYPE_CHECKING:
    from bot.push.hub import PushHub


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    store: Store
    http: httpx.AsyncClient
    secrets: SecretRegistry
    links: Links
    push: PushHub | None = None
    """Set when ``PUBLIC_URL`` is: SellApp webhooks (see ``bot.push``)."""
