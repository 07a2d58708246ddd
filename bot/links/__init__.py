"""Which Discord guild is linked to which SellApp store, and with what settings.

A guild's effective link is what it set with slash commands (stored in ``guild_links``)
over the environment's defaults (``DISCORD_GUILD_ID``, ``TICKETS_CHANNEL_ID``,
``STAFF_ROLE_IDS``, ``SELLAPP_API_KEY``, ``SELLAPP_STORE``), which apply to that one
guild only. Keys stored by command are sealed; they are opened here and nowhere else.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from bot.config import Settings
from bot.errors import SealError
from bot.links.sealing import Sealer
from bot.ops.logs import SecretRegistry
from bot.sellapp.client import SellAppClient
from bot.store import Store
from bot.store.records import GuildLink

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """One guild's effective link. ``problem`` says in plain words why it can't run."""

    guild_id: int
    store_slug: str | None
    api_key: SecretStr | None
    channel_id: int | None
    staff_role_ids: frozenset[int]
    poll_interval: float
    paused: bool
    note_prefix: str
    problem: str | None = None

    @property
    def runnable(self) -> bool:
        return self.problem is None and self.api_key is not None and self.channel_id is not None

    @property
    def missing(self) -> str | None:
        """What is left to set up, in words, or None when nothing is."""
        if self.problem:
            return self.problem
        if self.api_key is None:
            return "no SellApp store is connected yet (/sellapp connect)"
        if self.channel_id is None:
            return "no tickets channel is set yet (/sellapp channel)"
        return None


class Links:
    """Builds :class:`LinkConfig` s and hands out one SellApp client per store and key."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        http: httpx.AsyncClient,
        secrets: SecretRegistry,
        sealer: Sealer | None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._http = http
        self._secrets = secrets
        self._sealer = sealer
        self._clients: dict[tuple[str, str | None, str], SellAppClient] = {}
        self._opened: dict[str, SecretStr] = {}
        """sealed key -> the key: opened once, not on every poll (Fernet + HMAC each time)."""

    @property
    def sealer(self) -> Sealer | None:
        return self._sealer

    def _default_for(self, guild_id: int) -> bool:
        return self._settings.discord_guild_id == guild_id

    def resolve(self, guild_id: int, row: GuildLink | None) -> LinkConfig | None:
        """The effective link of ``guild_id`` (None if neither settings nor commands link it)."""
        default = self._default_for(guild_id)
        if row is None and not default:
            return None
        s = self._settings
        api_key: SecretStr | None = s.sellapp_api_key if default else None
        store_slug = s.sellapp_store if default else None
        channel_id = s.tickets_channel_id if default else None
        staff: frozenset[int] = frozenset(s.staff_role_ids) if default else frozenset()
        interval = s.poll_interval_seconds
        paused = False
        prefix = s.note_prefix
        problem = None
        if row is not None:
            if row.api_key_sealed is not None:
                api_key, problem = self._open(row.api_key_sealed)
                store_slug = row.store_slug
            channel_id = row.channel_id if row.channel_id is not None else channel_id
            staff = frozenset(row.staff_role_ids) if row.staff_role_ids else staff
            interval = row.poll_interval if row.poll_interval is not None else interval
            paused = row.paused
            prefix = row.note_prefix or prefix
        return LinkConfig(
            guild_id=guild_id,
            store_slug=store_slug,
            api_key=api_key,
            channel_id=channel_id,
            staff_role_ids=staff,
            poll_interval=interval,
            paused=paused,
            note_prefix=prefix,
            problem=problem,
        )

    def _open(self, sealed: str) -> tuple[SecretStr | None, str | None]:
        if self._sealer is None:
            return None, "the host has no SECRET_KEY set, so the stored key can't be opened"
        key = self._opened.get(sealed)
        if key is None:
            try:
                key = self._sealer.open(sealed)
            except SealError as exc:
                return None, str(exc)
            self._secrets.add(key.get_secret_value())
            self._opened[sealed] = key
        return key, None

    async def get(self, guild_id: int) -> LinkConfig | None:
        return self.resolve(guild_id, await self._store.links.get(guild_id))

    async def all(self) -> list[LinkConfig]:
        """Every linked guild: those with a stored link, and the settings' default guild."""
        rows = {row.guild_id: row for row in await self._store.links.all()}
        ids = set(rows)
        if self._settings.discord_guild_id is not None:
            ids.add(self._settings.discord_guild_id)
        configs = [self.resolve(gid, rows.get(gid)) for gid in sorted(ids)]
        return [c for c in configs if c is not None]

    def client_for(self, link: LinkConfig) -> SellAppClient:
        """The guild's SellApp client (shared by guilds linking the same store and key)."""
        if link.api_key is None:
            raise ValueError("this guild has no SellApp key")
        return self.client(link.api_key, link.store_slug)

    def client(self, api_key: SecretStr, store_slug: str | None) -> SellAppClient:
        raw = api_key.get_secret_value()
        self._secrets.add(raw)
        # Keyed by the key's digest: the raw key is not kept a second time, and (unlike
        # hash()) a collision that would hand one store's client to another can't happen.
        digest = hashlib.sha256(raw.encode()).hexdigest()
        cache_key = (digest, store_slug, str(self._settings.sellapp_api_url))
        client = self._clients.get(cache_key)
        if client is None:
            client = self._clients[cache_key] = self.trial_client(api_key, store_slug)
        return client

    def trial_client(self, api_key: SecretStr, store_slug: str | None) -> SellAppClient:
        """A client for a key not saved yet (``/sellapp connect`` tries it first): not
        kept, so a key that turns out wrong leaves nothing behind. The one place a
        :class:`SellAppClient` is built for the running bot."""
        self._secrets.add(api_key.get_secret_value())
        return SellAppClient(
            self._http,
            base_url=str(self._settings.sellapp_api_url).rstrip("/"),
            api_key=api_key,
            store=store_slug,
        )
