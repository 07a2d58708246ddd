"""``/sellapp connect``, decided without Discord: read the form, try the key, work out
whether the guild moves to another store, and what to save.

The cog only calls these in order (:func:`read_form`, :func:`probe_store`,
:func:`plan_connect`, then ``Store.connect_store`` with the plan, then
:func:`connected_words`), so a bad key or slug raises before anything is saved, and the
forgetting of another store's tickets is committed together with the new key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from bot.config import STORE_SLUG_PATTERN
from bot.errors import InputRefused
from bot.links import LinkConfig
from bot.links.sealing import Sealer
from bot.sellapp.client import SellAppClient
from bot.sellapp.models import TicketStatus

MAX_KEY_LENGTH: Final = 500
"""The form's key field is this long at most (Discord enforces it)."""
_STORE_SLUG: Final = re.compile(STORE_SLUG_PATTERN)

BAD_KEY: Final = "That API key can't be right: it is empty or has spaces in it."
BAD_SLUG: Final = "A store slug has only letters, digits, '-', '_' or '.', like my-store."


@dataclass(frozen=True, slots=True)
class ConnectForm:
    """What the admin typed, cleaned: the key and the store (None: the key's first store)."""

    api_key: str
    store_slug: str | None


@dataclass(frozen=True, slots=True)
class StoreProbe:
    """What the key showed of the store before anything was saved."""

    tickets: int
    open_tickets: int


@dataclass(frozen=True, slots=True)
class ConnectPlan:
    """What to save for the guild, in one transaction."""

    guild_id: int
    store_slug: str | None
    api_key_sealed: str
    forget_tickets: bool
    """True when the guild moves to another store: its ticket numbers mean other tickets."""


def read_form(raw_key: str, raw_store: str) -> ConnectForm:
    """The form's fields, trimmed; :class:`InputRefused` if either can't be right."""
    key = raw_key.strip()
    slug = raw_store.strip() or None
    if not key or any(c.isspace() for c in key):
        raise InputRefused(BAD_KEY)
    if slug is not None and not _STORE_SLUG.match(slug):
        raise InputRefused(BAD_SLUG)
    return ConnectForm(api_key=key, store_slug=slug)


async def probe_store(client: SellAppClient) -> StoreProbe:
    """Read the store with the new key: its ticket count and how many are open.

    Raises the client's errors (a wrong key: :class:`bot.errors.SellAppAuthError`)."""
    first = await client.list_tickets(page=1, limit=1)
    open_count = 0
    async for ticket in client.iter_tickets(limit=100):
        open_count += ticket.status is TicketStatus.OPEN
    total = first.total if first.total is not None else len(first.items)
    return StoreProbe(tickets=total, open_tickets=open_count)


def switches_store(before: LinkConfig | None, store_slug: str | None) -> bool:
    """Whether connecting ``store_slug`` moves the guild off another store.

    Decided from the *effective* link (a guild linked by the host's settings has a key
    and a store too), not from the stored row alone."""
    return before is not None and before.api_key is not None and before.store_slug != store_slug


def plan_connect(
    guild_id: int, form: ConnectForm, before: LinkConfig | None, sealer: Sealer
) -> ConnectPlan:
    return ConnectPlan(
        guild_id=guild_id,
        store_slug=form.store_slug,
        api_key_sealed=sealer.seal(form.api_key),
        forget_tickets=switches_store(before, form.store_slug),
    )


def connected_words(plan: ConnectPlan, probe: StoreProbe, *, channel_set: bool) -> str:
    """The admin's reply once the plan is saved."""
    text = (
        f"Connected to SellApp store **{plan.store_slug or 'the key’s first store'}**: "
        f"{probe.tickets} ticket(s), {probe.open_tickets} open. The key is stored sealed."
    )
    if plan.forget_tickets:
        text += "\nThis server was linked to another store before: its ticket threads stay, "
        text += "but they are no longer followed."
    if not channel_set:
        text += "\nNext: choose where tickets go with /sellapp channel."
    return text
