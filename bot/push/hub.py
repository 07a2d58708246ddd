"""Push, done: registering each guild's webhook channel at SellApp, and turning accepted
deliveries into hinted reads.

One :class:`PushHub` per process (built by ``bot.services.open_services`` when
``PUBLIC_URL`` is set).
The listener (:mod:`bot.push.listener`) calls :meth:`PushHub.accept`, which answers at
once: it checks the delivery (:mod:`bot.push.engine`), marks the ticket due in the store
(so a crash right after loses nothing: the next poll reads it) and schedules the read in
the background. The read itself is the inbound cog's (``reader``), under the guild's
lock, through the same exactly-once path as polling. An ``order.disputed`` delivery goes
the same way (same token, size, signature and budget) to ``order_reader`` (the orders
cog), which reads the order and marks its card only if SellApp says it is disputed.

Registration (:meth:`PushHub.ensure`) lists the store's channels and reuses one whose URL
is ours (updating its events with one PATCH if it lacks one of :data:`EVENTS`, e.g. a
channel from before ``order.disputed``), else creates one; it runs once per guild and key
in a process, so a restart costs one list and never a duplicate. A refusal is recorded in words for
``/sellapp status`` and tried again after :data:`RETRY_SECONDS`; the guild keeps polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from bot.config import Settings
from bot.errors import SealError, SellAppError, WebhooksForbidden, WebhookUrlRefused
from bot.explain import explain
from bot.links import LinkConfig, Links
from bot.ops import metrics
from bot.ops.logs import SecretRegistry
from bot.push.engine import (
    EVENTS,
    Accepted,
    Admission,
    Coalescer,
    HintCounter,
    OrderHint,
    PushStatus,
    Subject,
    check_delivery,
    push_state,
    token_digest,
    webhook_url,
)
from bot.store import Store
from bot.store.records import PushChannel

log = logging.getLogger(__name__)

RETRY_SECONDS = 600.0
"""After SellApp refused a registration, how long before trying again."""
CHANNEL_NAME = "sellapp-discord-bridge"
MAX_DEFERRED = 1_000
"""Tickets a guild's over-budget hints may queue; past that, they are left to polling."""
RELOAD_SECONDS = 1.0
"""A delivery re-reads its guild's row, and an unknown token every row, at most this
often: another process on the same database may have handed the token out, set a signing
secret or forgotten the channel, but a flood (or random tokens) must not turn into one
store read each."""

Reader = Callable[[int, int], Awaitable[None]]
"""``reader(guild_id, ticket_id)``: read that ticket now (the inbound cog)."""
OrderReader = Callable[[int, str], Awaitable[None]]
"""``order_reader(guild_id, order_id)``: read that order now and mark its cards if SellApp
says it is disputed (the orders cog)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What the listener answers a delivery."""

    status: int
    text: str


def refusal_words(exc: BaseException) -> str:
    """Why registration failed, for ``/sellapp status``."""
    if isinstance(exc, WebhooksForbidden):
        return "SellApp says this API key may not manage webhooks (give it that ability)"
    if isinstance(exc, WebhookUrlRefused):
        return f"SellApp refused the webhook URL: it must be a public https address ({exc.reason})"
    return explain(exc).rstrip(".")


def _key_digest(link: LinkConfig) -> str:
    raw = link.api_key.get_secret_value() if link.api_key else ""
    return hashlib.sha256(f"{raw}|{link.store_slug}".encode()).hexdigest()


class PushHub:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        links: Links,
        secrets_: SecretRegistry,
        *,
        clock: Callable[[], float] = time.time,
        coalescer: Coalescer | None = None,
    ) -> None:
        assert settings.public_url is not None
        self._settings = settings
        self._public_url = str(settings.public_url)
        self._store = store
        self._links = links
        self._secrets = secrets_
        self._clock = clock
        self._coalescer = coalescer or Coalescer()
        self._guild_by_token: dict[str, int] = {}
        self._loaded_at = float("-inf")
        self._read_at: dict[int, float] = {}
        self._opened: dict[int, tuple[str, str]] = {}
        """Per guild, its sealed secret and what it opens to: a re-read opens it again only
        once it changed."""
        self._ensured: dict[int, str] = {}
        self._failed_at: dict[int, float] = {}
        self._live: set[int] = set()
        self._hints: dict[int, HintCounter] = {}
        self._signing: dict[int, str] = {}
        """Signing secrets given with ``/sellapp webhook`` (guilds linked by command)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._deferred: dict[int, dict[Subject, None]] = {}
        self._draining: set[int] = set()
        self.reader: Reader | None = None
        self.order_reader: OrderReader | None = None

    # ------------------------------------------------------------------ lifecycle

    async def load(self) -> None:
        """Learn the tokens already handed out (a restart keeps every guild's URL)."""
        self._loaded_at = time.monotonic()
        for row in await self._store.push.all():
            self._learn(row)

    def _learn(self, row: PushChannel) -> None:
        """Take ``row`` as the guild's truth: its token and its signing secret."""
        self._secrets.add(row.token)
        self._guild_by_token[token_digest(row.token)] = row.guild_id
        if row.secret_sealed is None:
            self._signing.pop(row.guild_id, None)
            return
        cached = self._opened.get(row.guild_id)
        secret = cached[1] if cached is not None and cached[0] == row.secret_sealed else None
        if secret is None:
            sealer = self._links.sealer
            if sealer is None:
                return
            try:
                secret = sealer.open(row.secret_sealed).get_secret_value()
            except SealError:
                log.warning("guild %s: the stored webhook secret can't be opened", row.guild_id)
                return
            self._secrets.add(secret)
            self._opened[row.guild_id] = (row.secret_sealed, secret)
        self._signing[row.guild_id] = secret

    async def _current(self, token: str) -> int | None:
        """The guild ``token`` belongs to now, as the store says.

        Several processes can share one database and one ``PUBLIC_URL`` (behind a proxy):
        another process may have handed the token out, changed the guild's signing secret
        or forgotten the channel since this one read it. So a known token's row is read
        again and an unknown token re-reads them all, each at most once per
        :data:`RELOAD_SECONDS` (a flood of deliveries, or of random tokens, costs one read
        a second): a secret set by another process is checked within that second."""
        digest = token_digest(token)
        guild_id = self._guild_by_token.get(digest)
        now = time.monotonic()
        if guild_id is None:
            if now - self._loaded_at < RELOAD_SECONDS:
                return None
            await self.load()
            return self._guild_by_token.get(digest)
        if now - self._read_at.get(guild_id, float("-inf")) < RELOAD_SECONDS:
            return guild_id
        self._read_at[guild_id] = now
        row = await self._store.push.get(guild_id)
        if row is None or token_digest(row.token) != digest:
            self._guild_by_token.pop(digest, None)
            if row is None:
                self._signing.pop(guild_id, None)
            else:
                self._learn(row)
            return None
        self._learn(row)
        return guild_id

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --------------------------------------------------------------- registration

    def is_live(self, guild_id: int) -> bool:
        return guild_id in self._live

    async def ensure(self, link: LinkConfig) -> None:
        """Register the guild's channel at SellApp unless done (never raises)."""
        digest = _key_digest(link)
        if self._ensured.get(link.guild_id) == digest:
            return
        failed = self._failed_at.get(link.guild_id)
        if failed is not None and self._clock() - failed < RETRY_SECONDS:
            return
        try:
            await self._register(link)
        except SellAppError as exc:
            words = refusal_words(exc)
            log.warning("guild %s: push not live: %s", link.guild_id, words)
            self._live.discard(link.guild_id)
            self._failed_at[link.guild_id] = self._clock()
            await self._store.push.record_failure(link.guild_id, error=words, now=self._clock())
            return
        self._ensured[link.guild_id] = digest
        self._failed_at.pop(link.guild_id, None)
        self._live.add(link.guild_id)

    async def _register(self, link: LinkConfig) -> None:
        row = await self._store.push.ensure_token(
            link.guild_id, secrets.token_urlsafe(32), now=self._clock()
        )
        self._secrets.add(row.token)
        self._guild_by_token[token_digest(row.token)] = link.guild_id
        url = webhook_url(self._public_url, row.token)
        client = self._links.client_for(link)
        ours = next((c for c in await client.list_webhook_channels() if c.url == url), None)
        if ours is not None and not set(EVENTS) <= set(ours.allowed_notifications):
            wanted = (
                *ours.allowed_notifications,
                *(e for e in EVENTS if e not in ours.allowed_notifications),
            )
            try:
                updated = await client.update_webhook_channel(ours.id, wanted)
            except SellAppError as exc:
                # Ticket push keeps working as it is; disputes wait for the card refresh.
                log.warning(
                    "guild %s: could not add %s to the webhook channel: %s",
                    link.guild_id,
                    ", ".join(wanted),
                    refusal_words(exc),
                )
                updated = ours
            if updated is None:  # deleted at SellApp meanwhile: make it again below
                ours = None
            elif updated is not ours:
                ours = updated
                log.info("guild %s: webhook channel's events updated at SellApp", link.guild_id)
        if ours is None:
            ours = await client.create_webhook_channel(url, EVENTS, CHANNEL_NAME)
            log.info("guild %s: webhook channel registered at SellApp", link.guild_id)
        else:
            log.info("guild %s: webhook channel already registered; reusing it", link.guild_id)
        await self._store.push.record_registered(
            link.guild_id, url=url, channel_id=ours.id, now=self._clock()
        )

    async def unregister(self, link: LinkConfig | None, guild_id: int) -> str | None:
        """Delete the guild's channel at SellApp and forget its token. Returns a problem in
        words if SellApp could not be told (the row is forgotten anyway)."""
        row = await self._store.push.get(guild_id)
        self._live.discard(guild_id)
        self._ensured.pop(guild_id, None)
        self._failed_at.pop(guild_id, None)
        if row is None:
            return None
        self._guild_by_token.pop(token_digest(row.token), None)
        problem = None
        if row.channel_id is not None and link is not None and link.api_key is not None:
            try:
                await self._links.client_for(link).delete_webhook_channel(row.channel_id)
                log.info("guild %s: webhook channel deleted at SellApp", guild_id)
            except (SellAppError, ValueError) as exc:  # ValueError: a stored id unfit for a URL
                problem = refusal_words(exc)
                log.warning("guild %s: could not delete the webhook channel: %s", guild_id, problem)
        await self._store.push.delete(guild_id)
        return problem

    async def status(self, guild_id: int) -> PushStatus:
        row = await self._store.push.get(guild_id)
        hints = self._hints.get(guild_id, HintCounter())
        now = self._clock()
        return push_state(
            enabled=True,
            channel_id=row.channel_id if row and guild_id in self._live else None,
            last_error=row.last_error if row else None,
            last_hint_at=hints.last_at,
            hints_today=hints.count_today(now),
            now=now,
        )

    # ---------------------------------------------------------------- deliveries

    async def set_signing_secret(self, guild_id: int, secret: str | None) -> None:
        """Check deliveries to this guild against ``secret`` (None: stop checking). Stored
        sealed with ``SECRET_KEY``, like API keys."""
        sealer = self._links.sealer
        if secret is not None and sealer is None:
            raise SealError("the host has no SECRET_KEY set, so the secret can't be stored")
        await self._store.push.ensure_token(guild_id, secrets.token_urlsafe(32), now=self._clock())
        sealed = sealer.seal(secret) if secret is not None and sealer is not None else None
        await self._store.push.set_secret(guild_id, sealed, now=self._clock())
        if secret is None:
            self._signing.pop(guild_id, None)
        else:
            self._secrets.add(secret)
            self._signing[guild_id] = secret

    def _secret_for(self, guild_id: int) -> str | None:
        if guild_id in self._signing:
            return self._signing[guild_id]
        if guild_id == self._settings.discord_guild_id:
            secret = self._settings.sellapp_webhook_secret
            return secret.get_secret_value() if secret is not None else None
        return None

    async def knows(self, token: str) -> bool:
        known = await self._current(token) is not None
        if not known:
            metrics.push_hints.labels(outcome="rejected").inc()
        return known

    async def accept(self, token: str, body: bytes, signature: str | None) -> Answer:
        """One delivery. Answers without any SellApp or Discord request."""
        guild_id = await self._current(token)
        if guild_id is None:
            return Answer(404, "no such webhook")
        verdict = check_delivery(body, secret=self._secret_for(guild_id), signature=signature)
        if not isinstance(verdict, Accepted | OrderHint):
            metrics.push_hints.labels(outcome="rejected").inc()
            log.info("guild %s: webhook delivery refused: %s", guild_id, verdict.reason)
            return Answer(verdict.status, verdict.reason)
        metrics.push_hints.labels(outcome="received").inc()
        now = self._clock()
        self._hints.setdefault(guild_id, HintCounter()).add(now)
        subject: Subject = verdict.ticket_id if isinstance(verdict, Accepted) else verdict
        admission = self._coalescer.admit(guild_id, subject, now=now)
        if admission is Admission.OVER_BUDGET:
            metrics.push_hints.labels(outcome="coalesced").inc()
            queued = self._defer(guild_id, subject)
            return Answer(202, "accepted (queued)" if queued else "accepted (left to polling)")
        if isinstance(subject, int):
            # Durable before the answer: a crash now leaves the ticket due for the next poll.
            # (An order hint lost in a crash is caught by the card's periodic refresh.)
            await self._store.tickets.make_due(guild_id, subject)
        if admission is Admission.FOLDED:
            metrics.push_hints.labels(outcome="coalesced").inc()
            return Answer(202, "accepted (a read is in flight)")
        self._spawn(self._read(guild_id, subject), f"hint-{guild_id}")
        return Answer(202, "accepted")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _defer(self, guild_id: int, subject: Subject) -> bool:
        """Over budget: read the ticket (or order) when the budget allows (each once), up to
        :data:`MAX_DEFERRED` a guild; past that, polling sees it."""
        waiting = self._deferred.setdefault(guild_id, {})
        if subject not in waiting and len(waiting) >= MAX_DEFERRED:
            return False
        waiting[subject] = None
        if guild_id not in self._draining:
            self._draining.add(guild_id)
            self._spawn(self._drain(guild_id), f"hints-deferred-{guild_id}")
        return True

    async def _drain(self, guild_id: int) -> None:
        waiting = self._deferred.get(guild_id, {})
        try:
            while waiting:
                await asyncio.sleep(1 / self._coalescer.per_second)
                subject = next(iter(waiting))
                admission = self._coalescer.admit(guild_id, subject, now=self._clock())
                if admission is Admission.OVER_BUDGET:
                    continue
                del waiting[subject]
                if isinstance(subject, int):
                    await self._store.tickets.make_due(guild_id, subject)
                if admission is Admission.READ:
                    self._spawn(self._read(guild_id, subject), f"hint-{guild_id}")
        finally:
            self._draining.discard(guild_id)

    async def _read(self, guild_id: int, subject: Subject) -> None:
        try:
            while True:
                try:
                    if isinstance(subject, OrderHint):
                        if self.order_reader is not None:
                            await self.order_reader(guild_id, subject.order_id)
                    elif self.reader is not None:
                        await self.reader(guild_id, subject)
                except Exception:
                    log.exception("guild %s: reading a hinted ticket or order failed", guild_id)
                if not self._coalescer.finished(guild_id, subject):
                    return
        finally:
            # Cancelled: let a later hint start a read again.
            self._coalescer.drop(guild_id, subject)
