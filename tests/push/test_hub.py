"""PushHub's delivery side with a real store and a recording reader: floods are coalesced."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.config import load_settings
from bot.links import Links
from bot.links.sealing import Sealer
from bot.ops.logs import SecretRegistry
from bot.push import hub as hub_module
from bot.push.engine import Coalescer
from bot.push.hub import PushHub
from bot.store import Store

GUILD = 7
TOKEN = "a-guild-token-0123456789abcdef"


class Reader:
    """Records each read; each takes a moment, like a real one."""

    def __init__(self) -> None:
        self.reads: list[int] = []
        self.go = asyncio.Event()
        self.go.set()

    async def __call__(self, guild_id: int, ticket_id: int) -> None:
        self.reads.append(ticket_id)
        await self.go.wait()
        await asyncio.sleep(0.05)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[tuple[PushHub, Reader, Store]]:
    settings = load_settings(None, public_url="https://bridge.example.com")
    async with await Store.open(tmp_path / "s.sqlite3") as store, httpx.AsyncClient() as http:
        await store.push.ensure_token(GUILD, TOKEN, now=0)
        secrets = SecretRegistry()
        links = Links(settings, store, http, secrets, None)
        push = PushHub(
            settings, store, links, secrets, coalescer=Coalescer(burst=5, per_second=50.0)
        )
        await push.load()
        reader = Reader()
        push.reader = reader
        yield push, reader, store
        await push.stop()


def hint(ticket_id: int) -> bytes:
    return json.dumps({"data": {"ticket_id": ticket_id}}).encode()


async def test_a_flood_for_one_ticket_costs_at_most_two_reads(
    hub: tuple[PushHub, Reader, Store],
) -> None:
    push, reader, _ = hub
    reader.go.clear()  # the first read lasts the whole flood
    answers = [await push.accept(TOKEN, hint(42), None) for _ in range(200)]
    assert {a.status for a in answers} == {202}
    reader.go.set()
    await asyncio.sleep(0.3)
    assert reader.reads == [42, 42]  # one, then one more for what came during it


async def test_a_flood_over_many_tickets_is_paced_by_the_budget_and_loses_none(
    hub: tuple[PushHub, Reader, Store],
) -> None:
    push, reader, _ = hub
    for ticket_id in range(1, 41):
        await push.accept(TOKEN, hint(ticket_id), None)
    assert len(reader.reads) <= 5  # the burst; the rest wait for the budget
    await asyncio.sleep(0.1)
    assert len(reader.reads) < 40
    for _ in range(100):
        if len(reader.reads) == 40:
            break
        await asyncio.sleep(0.05)
    assert sorted(reader.reads) == list(range(1, 41))


async def test_a_wrong_token_is_refused_and_reads_nothing(
    hub: tuple[PushHub, Reader, Store],
) -> None:
    push, reader, _ = hub
    assert not await push.knows("not-the-token")
    assert (await push.accept("not-the-token", hint(1), None)).status == 404
    await asyncio.sleep(0.1)
    assert reader.reads == []


async def test_an_accepted_hint_is_durable_before_the_answer(
    hub: tuple[PushHub, Reader, Store],
) -> None:
    push, _, store = hub
    await store.tickets.record(
        GUILD, 5, status="OPEN", title="t", sellapp_updated_at=None, now=0, next_check_at=9e9
    )
    await push.accept(TOKEN, hint(5), None)
    ticket = await store.tickets.get(GUILD, 5)
    assert ticket is not None and ticket.next_check_at == 0  # the next poll reads it


class OrderReader:
    """Records each order read, like :class:`Reader`."""

    def __init__(self) -> None:
        self.reads: list[tuple[int, str]] = []
        self.go = asyncio.Event()
        self.go.set()

    async def __call__(self, guild_id: int, order_id: str) -> None:
        self.reads.append((guild_id, order_id))
        await self.go.wait()
        await asyncio.sleep(0.05)


def dispute(order: object) -> bytes:
    return json.dumps({"event": "order.disputed", "data": {"order": {"id": order}}}).encode()


async def test_an_order_disputed_goes_to_the_order_reader_not_the_ticket_reader(
    hub: tuple[PushHub, Reader, Store],
) -> None:
    push, reader, store = hub
    orders = OrderReader()
    push.order_reader = orders
    await store.tickets.record(
        GUILD, 9001, status="OPEN", title="t", sellapp_updated_at=None, now=0, next_check_at=9e9
    )
    assert (await push.accept(TOKEN, dispute(9001), None)).status == 202
    await asyncio.sleep(0.2)
    assert orders.reads == [(GUILD, "9001")]
    assert reader.reads == []
    ticket = await store.tickets.get(GUILD, 9001)
    assert ticket is not None and ticket.next_check_at == 9e9  # no ticket 9001 made due


async def test_a_flood_of_disputes_for_one_order_costs_at_most_two_reads(
    hub: tuple[PushHub, Reader, Store],
) -> None:
    push, _, _ = hub
    orders = OrderReader()
    push.order_reader = orders
    orders.go.clear()
    answers = [await push.accept(TOKEN, dispute("9001"), None) for _ in range(200)]
    assert {a.status for a in answers} == {202}
    orders.go.set()
    await asyncio.sleep(0.3)
    assert orders.reads == [(GUILD, "9001"), (GUILD, "9001")]


async def test_disputes_share_the_guilds_budget_with_ticket_hints(
    hub: tuple[PushHub, Reader, Store],
) -> None:
    push, _, _ = hub
    orders = OrderReader()
    push.order_reader = orders
    for ticket_id in range(1, 6):  # the burst of 5
        await push.accept(TOKEN, hint(ticket_id), None)
    assert (await push.accept(TOKEN, dispute(9001), None)).text == "accepted (queued)"
    assert orders.reads == []
    for _ in range(40):
        if orders.reads:
            break
        await asyncio.sleep(0.05)
    assert orders.reads == [(GUILD, "9001")]  # later, once the budget allows


async def test_a_refused_order_delivery_reads_nothing(
    hub: tuple[PushHub, Reader, Store],
) -> None:
    push, reader, _ = hub
    orders = OrderReader()
    push.order_reader = orders
    assert (await push.accept(TOKEN, dispute("../x"), None)).status == 422
    assert (await push.accept("not-the-token", dispute(9001), None)).status == 404
    await asyncio.sleep(0.1)
    assert orders.reads == [] and reader.reads == []


# --- several processes on one database (issue 18) ---------------------------------------


@pytest.fixture
async def two_hubs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[PushHub, PushHub, Store]]:
    """Two bridge processes' hubs on one database, behind one PUBLIC_URL: either may get
    a guild's delivery, whichever process registered it."""
    monkeypatch.setattr(hub_module, "RELOAD_SECONDS", 0.0)
    settings = load_settings(None, public_url="https://bridge.example.com")
    sealer = Sealer("a host secret of more than thirty-two characters")
    async with await Store.open(tmp_path / "s.sqlite3") as store, httpx.AsyncClient() as http:
        hubs = []
        for _ in range(2):
            secrets = SecretRegistry()
            hub = PushHub(settings, store, Links(settings, store, http, secrets, sealer), secrets)
            await hub.load()
            hub.reader = Reader()
            hubs.append(hub)
        yield hubs[0], hubs[1], store
        for hub in hubs:
            await hub.stop()


async def test_a_token_another_process_handed_out_is_accepted(
    two_hubs: tuple[PushHub, PushHub, Store],
) -> None:
    here, _, store = two_hubs
    await store.push.ensure_token(GUILD, TOKEN, now=0)  # the other process registered it
    assert await here.knows(TOKEN)
    assert (await here.accept(TOKEN, hint(1), None)).status == 202


async def test_a_signing_secret_set_by_another_process_is_checked_at_once(
    two_hubs: tuple[PushHub, PushHub, Store],
) -> None:
    here, there, store = two_hubs
    await store.push.ensure_token(GUILD, TOKEN, now=0)
    assert (await here.accept(TOKEN, hint(1), None)).status == 202  # unsigned, no secret yet
    await there.set_signing_secret(GUILD, "whsec-set-over-there")
    refused = await here.accept(TOKEN, hint(2), None)
    assert refused.status == 401, refused
    body = hint(3)
    signature = hmac.new(b"whsec-set-over-there", body, hashlib.sha256).hexdigest()
    assert (await here.accept(TOKEN, body, signature)).status == 202


async def test_a_channel_another_process_forgot_is_refused(
    two_hubs: tuple[PushHub, PushHub, Store],
) -> None:
    here, there, store = two_hubs
    await store.push.ensure_token(GUILD, TOKEN, now=0)
    assert await here.knows(TOKEN)
    assert await there.unregister(None, GUILD) is None
    assert not await here.knows(TOKEN)
    assert (await here.accept(TOKEN, hint(1), None)).status == 404
