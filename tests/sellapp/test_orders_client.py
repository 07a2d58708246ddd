"""SellAppClient's order routes against FakeSellApp on loopback: reads, actions, idempotency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from bot.errors import (
    SellAppAuthError,
    SellAppInProgress,
    SellAppNotFound,
    SellAppUnavailable,
    SellAppValidationError,
)
from bot.sellapp.client import RetryPolicy, SellAppClient, make_http_client
from tests.fakes.sellapp import FakeSellApp

KEY = "sk_TEST-orders-9f8e7d6c5b4a"
STORE = "main-store"
OTHER = "second-store"
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002, rate_limit_retries=2)


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def fake() -> AsyncIterator[FakeSellApp]:
    async with FakeSellApp() as server:
        server.add_account(KEY, [STORE, OTHER])
        yield server


@pytest.fixture
async def client(fake: FakeSellApp) -> AsyncIterator[SellAppClient]:
    async with make_http_client(timeout=2.0) as http:
        yield SellAppClient(
            http,
            base_url=fake.url,
            api_key=SecretStr(KEY),
            store=STORE,
            retry=FAST,
            sleep=_no_sleep,
        )


async def test_order_reads_lines_totals_and_customer(
    fake: FakeSellApp, client: SellAppClient
) -> None:
    made = fake.add_order(STORE, items=[("Game key", "Steam", 2, 3998), ("DLC", None, 1, 500)])
    order = await client.get_order(made.id)
    assert order.status == "COMPLETED"
    assert [(i.product_title, i.quantity, i.total_cents) for i in order.line_items] == [
        ("Game key", 2, 3998),
        ("DLC", 1, 500),
    ]
    assert order.totals.currency == "EUR" and order.totals.total_cents == 4498
    assert order.customer is not None and order.customer.country == "NL"
    profile = await client.get_customer(made.customer_id)
    assert profile.insights is not None and profile.insights.orders_count == 3


async def test_deliverables_never_keep_the_secret(fake: FakeSellApp, client: SellAppClient) -> None:
    made = fake.add_order(STORE)
    records = await client.get_deliverables(made.id)
    assert [r.delivered for r in records] == [True]
    assert made.secrets[0] not in repr(records)


async def test_another_stores_order_is_not_found(fake: FakeSellApp, client: SellAppClient) -> None:
    other = fake.add_order(OTHER)
    with pytest.raises(SellAppNotFound):
        await client.get_order(other.id)


async def test_an_action_replayed_with_its_key_happens_once(
    fake: FakeSellApp, client: SellAppClient
) -> None:
    made = fake.add_order(STORE)
    first = await client.order_action(made.id, "refunds", {"amount": "5.00"}, idempotency_key="k1")
    again = await client.order_action(made.id, "refunds", {"amount": "5.00"}, idempotency_key="k1")
    assert first == again
    assert first.refund is not None and first.refund.status == "pending"
    assert len(fake.actions_on(made.id, "refunds")) == 1


async def test_same_key_other_body_is_in_progress_error(
    fake: FakeSellApp, client: SellAppClient
) -> None:
    made = fake.add_order(STORE)
    await client.order_action(made.id, "refunds", {"amount": "1.00"}, idempotency_key="k2")
    with pytest.raises(SellAppInProgress):
        await client.order_action(made.id, "refunds", {"amount": "2.00"}, idempotency_key="k2")
    assert len(fake.actions_on(made.id)) == 1


async def test_a_5xx_is_retried_with_the_same_key_and_body(
    fake: FakeSellApp, client: SellAppClient
) -> None:
    made = fake.add_order(STORE, status="PAID")
    fake.fail(path=r"/fulfillment-retries$", status=503, times=1)
    await client.order_action(made.id, "fulfillment-retries", {}, idempotency_key="k3")
    sent = fake.requests_to("POST", r"/fulfillment-retries$")
    assert [r.headers["idempotency-key"] for r in sent] == ["k3", "k3"]
    assert sent[0].json == sent[1].json
    assert len(fake.actions_on(made.id)) == 1


async def test_wrong_state_is_a_validation_error_with_sellapps_words(
    fake: FakeSellApp, client: SellAppClient
) -> None:
    made = fake.add_order(STORE, status="REFUNDED")
    with pytest.raises(SellAppValidationError, match="REFUNDED"):
        await client.order_action(made.id, "fulfillment-retries", {}, idempotency_key="k4")
    assert fake.actions_on(made.id) == []


async def test_notifications_sent_is_read(fake: FakeSellApp, client: SellAppClient) -> None:
    made = fake.add_order(STORE)
    answer = await client.order_action(
        made.id, "fulfillment-notifications", {}, idempotency_key="k5"
    )
    assert answer.notifications_sent == 1


async def test_replacement_answers_the_new_order(fake: FakeSellApp, client: SellAppClient) -> None:
    made = fake.add_order(STORE, items=[("Game key", "Steam", 2, 3998)])
    variant = made.line_items[0]["product_variant_id"]
    answer = await client.order_action(
        made.id, "replacements", {"product_variants": {variant: 1}}, idempotency_key="k6"
    )
    assert answer.replacement_order_id is not None
    with pytest.raises(SellAppValidationError, match="already replaced"):
        await client.order_action(
            made.id, "replacements", {"product_variants": {variant: 1}}, idempotency_key="k7"
        )


async def test_revoked_key_and_outage_are_typed(fake: FakeSellApp, client: SellAppClient) -> None:
    made = fake.add_order(STORE)
    fake.fail(path=r"/orders/", status=503, times=None)
    with pytest.raises(SellAppUnavailable):
        await client.get_order(made.id)
    fake.clear_faults()
    fake.revoke_key(KEY)
    with pytest.raises(SellAppAuthError):
        await client.get_order(made.id)


async def test_an_id_cannot_escape_its_path_segment(client: SellAppClient) -> None:
    with pytest.raises(ValueError, match="not a SellApp id"):
        await client.get_order("../tickets")


async def test_api_errors_never_echo_the_key(fake: FakeSellApp) -> None:
    async with make_http_client(timeout=2.0) as http:
        bad = SellAppClient(http, base_url=fake.url, api_key=SecretStr("sk_wrong"), store=STORE)
        with pytest.raises(SellAppAuthError) as caught:
            await bad.get_order("1")
    assert "sk_wrong" not in str(caught.value)


async def test_the_same_key_while_the_first_is_running_is_in_progress(
    fake: FakeSellApp, client: SellAppClient
) -> None:
    made = fake.add_order(STORE)
    fake.action_seconds = 0.3
    results = await asyncio.gather(
        client.order_action(made.id, "refunds", {}, idempotency_key="k8"),
        client.order_action(made.id, "refunds", {}, idempotency_key="k8"),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["ActionAnswer", "SellAppInProgress"]
    assert len(fake.actions_on(made.id)) == 1
