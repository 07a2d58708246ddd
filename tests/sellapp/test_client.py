"""SellAppClient against FakeSellApp over real loopback HTTP: paging, errors, retries, secrecy."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.errors import (
    SellAppAuthError,
    SellAppBadRequest,
    SellAppError,
    SellAppNotFound,
    SellAppProtocolError,
    SellAppRateLimited,
    SellAppUnavailable,
    SellAppValidationError,
)
from bot.sellapp.client import RetryPolicy, SellAppClient, make_http_client
from bot.sellapp.models import Author, TicketStatus
from tests.fakes.sellapp import FakeSellApp, ReferenceStyle

KEY = "sk_TEST-do-not-leak-9f8e7d6c5b4a"
STORE = "main-store"
OTHER = "second-store"
ROOT = Path(__file__).resolve().parents[2]
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002, rate_limit_retries=2)


class RecordingSleep:
    """Stands in for asyncio.sleep: records each delay, waits for nothing."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSellApp]:
    async with FakeSellApp() as server:
        server.add_account(KEY, [STORE, OTHER])
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with make_http_client(timeout=2.0) as client:
        yield client


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def client(fake: FakeSellApp, http: httpx.AsyncClient, sleeps: RecordingSleep) -> SellAppClient:
    return make_client(fake, http, sleeps)


def make_client(
    fake: FakeSellApp,
    http: httpx.AsyncClient,
    sleeps: RecordingSleep,
    *,
    store: str | None = STORE,
    key: str = KEY,
) -> SellAppClient:
    return SellAppClient(
        http, base_url=fake.url, api_key=SecretStr(key), store=store, retry=FAST, sleep=sleeps
    )


def ticket_gets(fake: FakeSellApp) -> int:
    return len(fake.requests_to("GET", r"/v1/tickets$"))


# ------------------------------------------------------------------ pagination


@pytest.mark.parametrize(
    ("count", "limit", "requests"),
    [(0, 100, 1), (1, 100, 1), (15, 15, 1), (100, 100, 1), (101, 100, 2), (1000, 100, 10)],
)
async def test_iter_tickets_yields_every_ticket_once(
    fake: FakeSellApp, client: SellAppClient, count: int, limit: int, requests: int
) -> None:
    created = [fake.add_ticket(STORE, title=f"t{n}")["id"] for n in range(count)]
    seen = [t.id async for t in client.iter_tickets(limit=limit)]
    assert sorted(seen) == sorted(created)
    assert len(seen) == len(set(seen))
    assert ticket_gets(fake) == requests


async def test_default_page_size_walks_many_pages(fake: FakeSellApp, client: SellAppClient) -> None:
    created = [fake.add_ticket(STORE)["id"] for _ in range(31)]
    assert [t.id async for t in client.iter_tickets(limit=15)] == created
    assert [r.query["page"] for r in fake.requests_to("GET", r"/v1/tickets$")] == ["1", "2", "3"]


async def test_limit_is_clamped_to_100(fake: FakeSellApp, client: SellAppClient) -> None:
    for _ in range(3):
        fake.add_ticket(STORE)
    page = await client.list_tickets(limit=5000)
    assert page.per_page == 100
    assert fake.requests[-1].query["limit"] == "100"


async def test_newest_first_lists(fake: FakeSellApp, client: SellAppClient) -> None:
    fake.newest_first = True
    created = [fake.add_ticket(STORE)["id"] for _ in range(250)]
    seen = [t.id async for t in client.iter_tickets()]
    assert seen == sorted(created, reverse=True)


async def test_ticket_arriving_mid_walk_is_not_yielded_twice(
    fake: FakeSellApp, client: SellAppClient
) -> None:
    fake.newest_first = True
    created = [fake.add_ticket(STORE)["id"] for _ in range(30)]
    seen: list[int] = []
    async for ticket in client.iter_tickets(limit=15):
        if not seen:  # page 1 is in hand; a new ticket shifts page 2 by one
            fake.add_ticket(STORE)
        seen.append(ticket.id)
    assert len(seen) == len(set(seen))
    assert set(created) <= set(seen)


async def test_page_beyond_last_is_empty(fake: FakeSellApp, client: SellAppClient) -> None:
    fake.add_ticket(STORE)
    page = await client.list_tickets(page=9)
    assert (page.items, page.current_page, page.last_page, page.total) == ((), 9, 1, 1)


async def test_server_that_never_advances_is_a_protocol_error(
    fake: FakeSellApp, client: SellAppClient
) -> None:
    for _ in range(40):
        fake.add_ticket(STORE)
    fake.pin_current_page = 1
    with pytest.raises(SellAppProtocolError) as err:
        _ = [t async for t in client.iter_tickets(limit=15)]
    assert err.value.endpoint == "GET /v1/tickets"
    assert ticket_gets(fake) == 2


async def test_messages_paged(fake: FakeSellApp, client: SellAppClient) -> None:
    ticket = fake.add_ticket(STORE, messages=[f"m{n}" for n in range(35)])
    contents = [m.content async for m in client.iter_messages(ticket["id"], limit=15)]
    assert contents == [f"m{n}" for n in range(35)]
    later = [m.content async for m in client.iter_messages(ticket["id"], limit=15, start_page=3)]
    assert later == [f"m{n}" for n in range(30, 35)]
    typed = fake.add_store_message(STORE, ticket["id"], "From the dashboard")
    last = [m async for m in client.iter_messages(ticket["id"], limit=15, start_page=3)][-1]
    assert (last.id, last.author, last.content) == (typed["id"], Author.STORE, "From the dashboard")
    first = await anext(m async for m in client.iter_messages(ticket["id"], limit=15))
    assert (first.author, first.sender, first.content) == (
        Author.CUSTOMER,
        "customer@example.com",
        "m0",
    )


async def test_get_ticket_with_every_shape_knob(fake: FakeSellApp, client: SellAppClient) -> None:
    fake.customer_id_as_int = True
    fake.archived_as_bool = True
    plain = fake.add_ticket(STORE, email="a@b.c")
    ordered = fake.add_ticket(STORE, reference=555)
    styles: tuple[ReferenceStyle, ...] = ("list", "null", "empty_object", "missing")
    for style in styles:
        fake.reference_style = style
        got = await client.get_ticket(plain["id"])
        assert got.reference is None
        assert got.customer is not None
        assert got.customer.email == "a@b.c"
        assert got.customer.id is not None
        assert got.customer.id.isdigit()
    got = await client.get_ticket(ordered["id"])
    assert got.reference is not None
    assert got.reference.id == "555"
    assert got.archived is False


# ----------------------------------------------------------------- the errors


async def test_unknown_key_is_auth_error(
    fake: FakeSellApp, http: httpx.AsyncClient, sleeps: RecordingSleep
) -> None:
    stranger = make_client(fake, http, sleeps, key="wrong-key")
    with pytest.raises(SellAppAuthError) as err:
        await stranger.list_tickets()
    assert err.value.status == 401
    assert err.value.message == "Unauthenticated."
    assert err.value.endpoint == "GET /v1/tickets"


async def test_revoked_key_is_auth_error(fake: FakeSellApp, client: SellAppClient) -> None:
    ticket = fake.add_ticket(STORE)
    assert (await client.get_ticket(ticket["id"])).id == ticket["id"]
    fake.revoke_key(KEY)
    with pytest.raises(SellAppAuthError) as err:
        await client.get_ticket(ticket["id"])
    assert err.value.status == 401


async def test_revoke_fault_stops_a_walk(fake: FakeSellApp, client: SellAppClient) -> None:
    for _ in range(30):
        fake.add_ticket(STORE)
    seen: list[int] = []
    with pytest.raises(SellAppAuthError):
        async for ticket in client.iter_tickets(limit=15):
            if not seen:
                fake.revoke(path=r"/v1/tickets$")
            seen.append(ticket.id)
    assert len(seen) == 15


async def test_store_the_key_does_not_own_is_403(
    fake: FakeSellApp, http: httpx.AsyncClient, sleeps: RecordingSleep
) -> None:
    fake.add_account("someone-else", ["their-store"])
    intruder = make_client(fake, http, sleeps, store="their-store")
    with pytest.raises(SellAppAuthError) as err:
        await intruder.list_tickets()
    assert err.value.status == 403


async def test_missing_store_is_bad_request(
    fake: FakeSellApp, http: httpx.AsyncClient, sleeps: RecordingSleep
) -> None:
    fake.add_account("no-stores-key", [])
    storeless = make_client(fake, http, sleeps, store=None, key="no-stores-key")
    with pytest.raises(SellAppBadRequest) as err:
        await storeless.list_tickets()
    assert (err.value.status, err.value.message) == (400, "missing-store")


async def test_not_found(fake: FakeSellApp, client: SellAppClient) -> None:
    theirs = fake.add_ticket(OTHER)
    with pytest.raises(SellAppNotFound) as err:
        await client.get_ticket(theirs["id"])  # another store's ticket is invisible
    assert err.value.endpoint == "GET /v1/tickets/{id}"
    assert "No query results" in err.value.message


@pytest.mark.parametrize(
    ("content", "field", "words"),
    [
        ("", "content", "required"),
        ("   ", "content", "required"),
        ("x" * 10_001, "content", "10000"),
    ],
)
async def test_refused_reply_carries_field_messages(
    fake: FakeSellApp, client: SellAppClient, content: str, field: str, words: str
) -> None:
    ticket = fake.add_ticket(STORE)
    with pytest.raises(SellAppValidationError) as err:
        await client.reply(ticket["id"], content)
    assert words in err.value.errors[field][0]
    assert words in err.value.reason
    assert fake.messages(STORE, ticket["id"]) == []


async def test_reply_to_closed_ticket_is_refused(fake: FakeSellApp, client: SellAppClient) -> None:
    ticket = fake.add_ticket(STORE)
    fake.set_ticket_status(STORE, ticket["id"], "CLOSED")
    with pytest.raises(SellAppValidationError) as err:
        await client.reply(ticket["id"], "hello?")
    assert "closed" in err.value.reason


@pytest.mark.parametrize(
    ("retry_after", "waited"), [("3", 3.0), (None, 1.0), ("120", 30.0), ("0.25", 0.25)]
)
async def test_429_is_waited_out_then_succeeds(
    fake: FakeSellApp,
    client: SellAppClient,
    sleeps: RecordingSleep,
    retry_after: str | None,
    waited: float,
) -> None:
    fake.add_ticket(STORE)
    fake.fail(path=r"/v1/tickets$", status=429, retry_after=retry_after)
    page = await client.list_tickets()
    assert len(page.items) == 1
    assert sleeps.delays == [waited]
    assert ticket_gets(fake) == 2


async def test_429_retry_after_as_http_date(
    fake: FakeSellApp, client: SellAppClient, sleeps: RecordingSleep
) -> None:
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    fake.fail(path=r"/v1/tickets$", status=429, retry_after=when)
    await client.list_tickets()
    assert len(sleeps.delays) == 1
    assert 3.0 <= sleeps.delays[0] <= 5.0


async def test_429_forever_is_rate_limited(
    fake: FakeSellApp, client: SellAppClient, sleeps: RecordingSleep
) -> None:
    fake.fail(path=r"/v1/tickets$", status=429, retry_after="2", times=None)
    with pytest.raises(SellAppRateLimited) as err:
        await client.list_tickets()
    assert err.value.retry_after == 2.0
    assert err.value.message == "Too Many Attempts."
    assert sleeps.delays == [2.0, 2.0]
    assert ticket_gets(fake) == 1 + FAST.rate_limit_retries


async def test_429_on_reply_is_retried_and_posts_once(
    fake: FakeSellApp, client: SellAppClient, sleeps: RecordingSleep
) -> None:
    ticket = fake.add_ticket(STORE)
    fake.fail(path=r"/messages$", method="POST", status=429, retry_after="1")
    message = await client.reply(ticket["id"], "on its way")
    assert message.content == "on its way"
    assert sleeps.delays == [1.0]
    assert [m["content"] for m in fake.messages(STORE, ticket["id"])] == ["on its way"]


async def test_5xx_then_success_for_get(
    fake: FakeSellApp, client: SellAppClient, sleeps: RecordingSleep
) -> None:
    fake.add_ticket(STORE)
    fake.fail(path=r"/v1/tickets$", status=503, times=2)
    page = await client.list_tickets()
    assert len(page.items) == 1
    assert ticket_gets(fake) == 3
    assert len(sleeps.delays) == 2
    assert all(0 < d <= FAST.max_delay for d in sleeps.delays)


async def test_5xx_forever_is_unavailable(
    fake: FakeSellApp, client: SellAppClient, sleeps: RecordingSleep
) -> None:
    fake.fail(path=r"/v1/tickets$", status=500, times=None)
    with pytest.raises(SellAppUnavailable) as err:
        await client.list_tickets()
    assert err.value.status == 500
    assert err.value.retryable
    assert ticket_gets(fake) == FAST.attempts


async def test_reply_5xx_is_not_retried(fake: FakeSellApp, client: SellAppClient) -> None:
    ticket = fake.add_ticket(STORE)
    fake.fail(path=r"/messages$", method="POST", status=502, times=None)
    with pytest.raises(SellAppUnavailable) as err:
        await client.reply(ticket["id"], "hello")
    assert err.value.endpoint == "POST /v1/tickets/{id}/messages"
    assert len(fake.requests_to("POST", r"/messages$")) == 1


async def test_reply_timeout_is_not_retried(fake: FakeSellApp, sleeps: RecordingSleep) -> None:
    ticket = fake.add_ticket(STORE)
    fake.latency(0.5, path=r"/messages$", method="POST", times=None)
    async with make_http_client(timeout=0.1) as short:
        with pytest.raises(SellAppUnavailable, match="timed out"):
            await make_client(fake, short, sleeps).reply(ticket["id"], "hello")
    assert len(fake.requests_to("POST", r"/messages$")) == 1
    # The fake finishes its slow answer (0.5 s) after our timeout: the reply did land, once.
    # Wait for it to land, with margin, rather than for exactly the injected latency.
    async with asyncio.timeout(5):
        while not fake.messages(STORE, ticket["id"]):  # noqa: ASYNC110 - the fake has no event
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # and nothing more arrives (the client did not retry)
    assert [m["content"] for m in fake.messages(STORE, ticket["id"])] == ["hello"]
    assert len(fake.requests_to("POST", r"/messages$")) == 1


async def test_get_timeout_retried_then_succeeds(fake: FakeSellApp, sleeps: RecordingSleep) -> None:
    ticket = fake.add_ticket(STORE)
    fake.latency(0.5, path=r"/v1/tickets/\d+$")
    async with make_http_client(timeout=0.1) as short:
        got = await make_client(fake, short, sleeps).get_ticket(ticket["id"])
    assert got.id == ticket["id"]
    assert len(sleeps.delays) == 1


async def test_get_timeout_forever_is_unavailable(
    fake: FakeSellApp, sleeps: RecordingSleep
) -> None:
    fake.latency(0.3, path=r"/v1/tickets$", times=None)
    async with make_http_client(timeout=0.05) as short:
        with pytest.raises(SellAppUnavailable, match="timed out"):
            await make_client(fake, short, sleeps).list_tickets()
    assert ticket_gets(fake) == FAST.attempts


async def test_cut_connection(
    fake: FakeSellApp, client: SellAppClient, sleeps: RecordingSleep
) -> None:
    fake.add_ticket(STORE)
    cut = fake.cut_connection(path=r"/v1/tickets$")
    assert len((await client.list_tickets()).items) == 1
    assert cut.hits == 1  # the first try really was cut
    assert len(sleeps.delays) == 1
    fake.cut_connection(path=r"/v1/tickets$", times=None)
    with pytest.raises(SellAppUnavailable):
        await client.list_tickets()


async def test_unreachable_server_is_unavailable(
    http: httpx.AsyncClient, sleeps: RecordingSleep
) -> None:
    fake = FakeSellApp()
    await fake.start()
    url = fake.url
    await fake.stop()
    gone = SellAppClient(
        http, base_url=url, api_key=SecretStr(KEY), store=STORE, retry=FAST, sleep=sleeps
    )
    with pytest.raises(SellAppUnavailable):
        await gone.list_tickets()
    assert len(sleeps.delays) == FAST.attempts - 1


async def test_malformed_json_names_the_endpoint(fake: FakeSellApp, client: SellAppClient) -> None:
    fake.add_ticket(STORE)
    fake.malformed_json(path=r"/messages$")
    with pytest.raises(SellAppProtocolError) as err:
        await client.list_messages(1)
    assert err.value.endpoint == "GET /v1/tickets/{id}/messages"
    assert "GET /v1/tickets/{id}/messages" in str(err.value)


async def test_wrong_list_shape_is_protocol_error(fake: FakeSellApp, client: SellAppClient) -> None:
    fake.add_ticket(STORE, title="SECRET-CUSTOMER-TITLE")
    fake.wrong_shape(path=r"/v1/tickets$", shape="data_string")
    with pytest.raises(SellAppProtocolError) as err:
        await client.list_tickets()
    assert err.value.endpoint == "GET /v1/tickets"
    assert "SECRET-CUSTOMER-TITLE" not in str(err.value)
    assert "data" in err.value.message


@pytest.mark.parametrize("shape", ["missing_fields", "wrong_types"])
async def test_unreadable_items_cost_only_themselves_not_the_page(
    fake: FakeSellApp, client: SellAppClient, shape: str
) -> None:
    fake.add_ticket(STORE, title="SECRET-CUSTOMER-TITLE")
    fake.wrong_shape(path=r"/v1/tickets$", shape=shape)  # type: ignore[arg-type]
    page = await client.list_tickets()
    assert page.items == ()
    assert len(page.problems) == 1
    assert page.problems[0].item_id is None  # its id was the broken part
    assert "SECRET-CUSTOMER-TITLE" not in page.problems[0].reason


async def test_one_odd_ticket_does_not_stop_the_store_listing(
    fake: FakeSellApp, client: SellAppClient
) -> None:
    """Issue 12.1: a PENDING ticket and a malformed one made every poll of the store fail."""
    created = [fake.add_ticket(STORE, title=f"t{n}")["id"] for n in range(35)]
    pending, broken = created[3], created[20]
    fake.set_ticket_status(STORE, pending, "PENDING")
    fake.serve_ticket_as(STORE, broken, created_at="yesterday")
    listing = await client.list_all_tickets(limit=15)
    by_id = {t.id: t for t in listing.items}
    assert sorted(by_id) == sorted(set(created) - {broken})
    assert by_id[pending].status is TicketStatus.OPEN  # not CLOSED, so it flows as open
    assert by_id[pending].unknown_status == "PENDING"
    assert by_id[created[0]].unknown_status is None
    assert [p.item_id for p in listing.problems] == [broken]
    assert listing.problems[0].reason.startswith("data.5.created_at: Input should be a valid")


async def test_a_page_of_only_unreadable_items_does_not_end_the_walk(
    fake: FakeSellApp, client: SellAppClient
) -> None:
    created = [fake.add_ticket(STORE)["id"] for _ in range(30)]
    for ticket_id in created[:15]:
        fake.serve_ticket_as(STORE, ticket_id, drop=["title"])
    listing = await client.list_all_tickets(limit=15)
    assert [t.id for t in listing.items] == created[15:]
    assert sorted(p.item_id or 0 for p in listing.problems) == created[:15]
    assert [t.id async for t in client.iter_tickets(limit=15)] == created[15:]


async def test_one_unreadable_message_does_not_hide_the_others(
    fake: FakeSellApp, client: SellAppClient
) -> None:
    ticket = fake.add_ticket(STORE, messages=["one", "two", "three"])
    ids = [m["id"] for m in fake.messages(STORE, ticket["id"])]
    fake.serve_message_as(STORE, ticket["id"], ids[1], author="ROBOT")
    page = await client.list_messages(ticket["id"])
    assert [m.content for m in page.items] == ["one", "three"]
    assert [p.item_id for p in page.problems] == [ids[1]]
    assert page.problems[0].reason.startswith("data.1.author:")


async def test_a_single_ticket_with_an_unknown_status_is_read_as_open(
    fake: FakeSellApp, client: SellAppClient
) -> None:
    ticket = fake.add_ticket(STORE)
    fake.set_ticket_status(STORE, ticket["id"], "awaiting_customer")
    got = await client.get_ticket(ticket["id"])
    assert (got.status, got.unknown_status) == (TicketStatus.OPEN, "AWAITING_CUSTOMER")


async def test_wrong_item_shape_names_the_field(fake: FakeSellApp, client: SellAppClient) -> None:
    ticket = fake.add_ticket(STORE)
    fake.wrong_shape(path=r"/v1/tickets/\d+$", shape="wrong_types")
    with pytest.raises(SellAppProtocolError, match=r"id: Input should be a valid integer"):
        await client.get_ticket(ticket["id"])


# ---------------------------------------------------------- replies and status


@pytest.mark.parametrize("shape", ["bare", "wrapped"])
@pytest.mark.parametrize("status", [200, 201])
async def test_reply_shapes(
    fake: FakeSellApp, client: SellAppClient, shape: str, status: int
) -> None:
    fake.reply_shape = shape  # type: ignore[assignment]
    fake.reply_status = status  # type: ignore[assignment]
    ticket = fake.add_ticket(STORE)
    message = await client.reply(ticket["id"], "We do not accept doge.")
    assert (message.author, message.ticket_id, message.content) == (
        Author.STORE,
        ticket["id"],
        "We do not accept doge.",
    )
    assert fake.messages(STORE, ticket["id"])[-1]["id"] == message.id
    assert fake.requests[-1].json == {"content": "We do not accept doge."}


async def test_x_store_sent_and_honoured(
    fake: FakeSellApp, http: httpx.AsyncClient, sleeps: RecordingSleep
) -> None:
    mine = fake.add_ticket(STORE, title="main")
    theirs = fake.add_ticket(OTHER, title="second")
    main = make_client(fake, http, sleeps, store=STORE)
    second = make_client(fake, http, sleeps, store=OTHER)
    default = make_client(fake, http, sleeps, store=None)
    assert [t.id async for t in main.iter_tickets()] == [mine["id"]]
    assert [t.id async for t in second.iter_tickets()] == [theirs["id"]]
    assert [t.id async for t in default.iter_tickets()] == [mine["id"]]  # the first store
    stores = [r.headers.get("x-store") for r in fake.requests]
    assert stores == [STORE, OTHER, None]
    await second.reply(theirs["id"], "hi")
    assert fake.messages(OTHER, theirs["id"])[-1]["content"] == "hi"


async def test_request_headers(fake: FakeSellApp, client: SellAppClient) -> None:
    await client.list_tickets()
    sent = fake.requests[-1]
    assert sent.bearer == KEY
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["user-agent"].startswith("sellapp-discord-bridge/")
    assert KEY not in str(sent.redacted_headers())
    assert client.last_response_ms is not None
    assert client.last_response_ms >= 0


async def test_trailing_slash_base_url(
    fake: FakeSellApp, http: httpx.AsyncClient, sleeps: RecordingSleep
) -> None:
    slashed = SellAppClient(http, base_url=fake.url + "/", api_key=SecretStr(KEY), store=STORE)
    await slashed.list_tickets()
    assert fake.requests[-1].path == "/api/v1/tickets"


async def test_close_and_archive_via_v2(fake: FakeSellApp, client: SellAppClient) -> None:
    ticket = fake.add_ticket(STORE)
    closed = await client.set_status(ticket["id"], TicketStatus.CLOSED)
    assert closed.status is TicketStatus.CLOSED
    assert fake.tickets(STORE)[0]["status"] == "CLOSED"
    archived = await client.set_status(ticket["id"], archived=True)
    assert archived.archived is True
    assert archived.message_count == 0
    patches = fake.requests_to("PATCH", r"/api/v2/tickets/\d+$")
    assert [p.json for p in patches] == [{"status": "CLOSED"}, {"archived": True}]
    assert "idempotency-key" not in patches[0].headers
    with pytest.raises(ValueError, match="needs"):
        await client.set_status(ticket["id"])


async def test_patch_with_idempotency_key_is_retried(
    fake: FakeSellApp, client: SellAppClient
) -> None:
    ticket = fake.add_ticket(STORE)
    fake.fail(path=r"/v2/tickets/\d+$", method="PATCH", status=503)
    got = await client.set_status(ticket["id"], TicketStatus.CLOSED, idempotency_key="close-1")
    assert got.status is TicketStatus.CLOSED
    patches = fake.requests_to("PATCH", r"/v2/tickets/\d+$")
    assert [p.headers["idempotency-key"] for p in patches] == ["close-1", "close-1"]


async def test_patch_without_key_is_sent_once(fake: FakeSellApp, client: SellAppClient) -> None:
    ticket = fake.add_ticket(STORE)
    fake.fail(path=r"/v2/tickets/\d+$", method="PATCH", status=503)
    with pytest.raises(SellAppUnavailable):
        await client.set_status(ticket["id"], TicketStatus.CLOSED)
    assert len(fake.requests_to("PATCH", r"/v2/tickets/\d+$")) == 1


# -------------------------------------------------------------------- secrecy


async def test_key_never_leaks(
    fake: FakeSellApp,
    client: SellAppClient,
    http: httpx.AsyncClient,
    sleeps: RecordingSleep,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    ticket = fake.add_ticket(STORE)
    errors: list[SellAppError] = []
    fake.fail(path=r"/v1/tickets$", status=500, times=None)
    fake.fail(path=r"/messages$", method="POST", status=429, times=None)
    fake.malformed_json(path=r"/messages$", method="GET")
    attempts = [
        client.list_tickets(),
        client.reply(ticket["id"], "x"),
        client.list_messages(ticket["id"]),
        client.get_ticket(999),
        make_client(fake, http, sleeps, store="nope").get_ticket(ticket["id"]),
    ]
    for attempt in attempts:
        with pytest.raises(SellAppError) as err:
            await attempt
        errors.append(err.value)
    fake.revoke_key(KEY)
    with pytest.raises(SellAppAuthError) as auth:
        await client.get_ticket(ticket["id"])
    errors.append(auth.value)
    assert len({type(e) for e in errors}) >= 5
    assert all(r.bearer == KEY for r in fake.requests)  # it was sent...
    assert any(r.name == "bot.sellapp.client" for r in caplog.records)
    for text in [caplog.text, repr(client), str(client)]:  # ...and shown nowhere
        assert KEY not in text
    for error in errors:
        assert KEY not in str(error)
        assert KEY not in repr(error)
        assert error.__cause__ is None


# ---------------------------------------------------- the fake, driven by hand


async def test_fake_control_routes(fake: FakeSellApp, client: SellAppClient) -> None:
    root = fake.url.removesuffix("/api")
    async with httpx.AsyncClient(base_url=root) as raw:
        made = await raw.post(
            "/_fake/tickets",
            json={"store": STORE, "title": "By hand", "email": "h@x.io", "message": "Hi!"},
        )
        assert made.status_code == 201
        ticket_id = made.json()["data"]["id"]
        added = await raw.post(f"/_fake/tickets/{ticket_id}/messages", json={"content": "Again"})
        assert added.status_code == 201
        state = (await raw.get("/_fake/state")).json()
        missing = await raw.post("/_fake/tickets/424242/messages", json={"content": "x"})
    assert missing.status_code == 404
    assert [t["title"] for t in state["stores"][STORE]] == ["By hand"]
    ticket = await client.get_ticket(ticket_id)
    assert (ticket.title, ticket.customer and ticket.customer.email) == ("By hand", "h@x.io")
    assert [m.content async for m in client.iter_messages(ticket_id)] == ["Hi!", "Again"]
    assert not any(r.path.startswith("/_fake/") for r in fake.requests)


async def test_fake_answers_json_even_for_unknown_routes(fake: FakeSellApp) -> None:
    async with httpx.AsyncClient() as raw:
        answer = await raw.get(fake.url + "/v1/nothing-here")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/json")


def test_fake_command_line_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.fakes.sellapp", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    for option in ("--port", "--key", "--store", "--seed"):
        assert option in done.stdout


def test_fake_command_line_serves_seeded_tickets() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.sellapp", "--port", "0", "--seed", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            url = first.split(" at ", 1)[1].strip()
            deadline = time.monotonic() + 10
            tickets = httpx.get(
                url + "/v1/tickets",
                headers={"Authorization": "Bearer fake-sellapp-key", "Accept": "application/json"},
                timeout=max(0.1, deadline - time.monotonic()),
            ).json()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    assert tickets["meta"]["total"] == 2
    assert tickets["data"][0]["title"] == "Question #1"
