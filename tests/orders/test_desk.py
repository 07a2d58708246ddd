"""Order actions exactly once: a real SQLite store and FakeSellApp on loopback, no mocks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.orders.desk import read_order, send_action
from bot.orders.engine import plan_refund, plan_resend
from bot.sellapp.client import RetryPolicy, SellAppClient, make_http_client
from bot.store import Store
from bot.store.orders import AlreadyInFlight, OrderAction
from tests.fakes.sellapp import FakeSellApp
from tests.fakes.sellapp_orders import FakeOrder

KEY = "sk_TEST-desk-1234"
STORE = "shop"
GUILD = 10
TICKET = 7
THREAD = 70
ONCE = RetryPolicy(attempts=1, base_delay=0.001, max_delay=0.002)


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def fake() -> AsyncIterator[FakeSellApp]:
    async with FakeSellApp() as server:
        server.add_account(KEY, [STORE])
        yield server


@pytest.fixture
async def store(store_target: Path | str) -> AsyncIterator[Store]:
    async with await Store.open(store_target) as opened:
        yield opened


def client_for(
    fake: FakeSellApp, http: httpx.AsyncClient, retry: RetryPolicy = ONCE
) -> SellAppClient:
    return SellAppClient(
        http, base_url=fake.url, api_key=SecretStr(KEY), store=STORE, retry=retry, sleep=_no_sleep
    )


async def propose_refund(
    store: Store, made: FakeOrder, fake: FakeSellApp, amount: str
) -> OrderAction:
    async with make_http_client(timeout=2.0) as http:
        view = await read_order(client_for(fake, http), made.id)
    assert view.order is not None
    plan = plan_refund(view.order, amount)
    return await store.orders.propose(
        GUILD,
        TICKET,
        thread_id=THREAD,
        order_id=made.id,
        kind=plan.kind,
        route=plan.route,
        body=plan.body,
        summary=plan.summary,
        actor_id=1,
        now=1.0,
    )


async def test_a_double_confirm_claims_one_action(store: Store, fake: FakeSellApp) -> None:
    made = fake.add_order(STORE)
    action = await propose_refund(store, made, fake, "5")
    first, second = await asyncio.gather(
        store.orders.claim(action.id, actor_id=1, now=2.0),
        store.orders.claim(action.id, actor_id=2, now=2.0),
    )
    assert [first is None, second is None].count(True) == 1


async def test_two_staff_refunding_at_once_make_one_in_flight(
    store: Store, fake: FakeSellApp
) -> None:
    made = fake.add_order(STORE)
    one = await propose_refund(store, made, fake, "5")
    two = await propose_refund(store, made, fake, "5")
    assert await store.orders.claim(one.id, actor_id=1, now=2.0) is not None
    with pytest.raises(AlreadyInFlight):
        await store.orders.claim(two.id, actor_id=2, now=2.0)


async def test_a_lost_answer_is_retried_with_the_same_key_and_refunds_once(
    store: Store, fake: FakeSellApp
) -> None:
    made = fake.add_order(STORE)
    action = await propose_refund(store, made, fake, "5")
    claimed = await store.orders.claim(action.id, actor_id=1, now=2.0)
    assert claimed is not None
    fake.hang_after(1.0, path=r"/refunds$")
    async with make_http_client(timeout=0.3) as http:
        after_timeout = await send_action(store.orders, client_for(fake, http), claimed)
    assert after_timeout.state == "sending" and after_timeout.last_error
    await asyncio.sleep(0.8)  # the fake finishes holding its answer
    due = await store.orders.due(now=after_timeout.next_attempt_at + 1)
    assert [d.id for d in due] == [action.id]
    async with make_http_client(timeout=2.0) as http:
        done = await send_action(store.orders, client_for(fake, http), due[0])
    assert done.state == "done" and "pending" in (done.outcome or "")
    sent = fake.requests_to("POST", r"/refunds$")
    assert len(sent) == 2 and {r.headers["idempotency-key"] for r in sent} == {
        action.idempotency_key
    }
    assert sent[0].json == sent[1].json == {"amount": "5.00"}
    assert len(fake.actions_on(made.id, "refunds")) == 1
    assert made.refunded_cents == 500


async def test_a_row_left_sending_is_found_after_a_restart(
    tmp_path: Path, fake: FakeSellApp
) -> None:
    made = fake.add_order(STORE)
    path = tmp_path / "b.sqlite3"
    async with await Store.open(path) as store:
        action = await propose_refund(store, made, fake, "")
        await store.orders.claim(action.id, actor_id=1, now=2.0)
    async with await Store.open(path) as reopened:
        due = await reopened.orders.due(now=3.0)
        assert [(d.id, d.idempotency_key) for d in due] == [(action.id, action.idempotency_key)]


async def test_sellapp_refusing_the_state_is_recorded_in_plain_words(
    store: Store, fake: FakeSellApp
) -> None:
    made = fake.add_order(STORE, status="COMPLETED")
    async with make_http_client(timeout=2.0) as http:
        client = client_for(fake, http)
        view = await read_order(client, made.id)
        assert view.order is not None
        plan = plan_resend(view.order)
        made.status = "REFUNDED"  # refunded in the dashboard meanwhile
        action = await store.orders.propose(
            GUILD,
            TICKET,
            thread_id=THREAD,
            order_id=made.id,
            kind=plan.kind,
            route=plan.route,
            body=plan.body,
            summary=plan.summary,
            actor_id=1,
            now=1.0,
        )
        claimed = await store.orders.claim(action.id, actor_id=1, now=2.0)
        assert claimed is not None
        final = await send_action(store.orders, client, claimed)
    assert final.state == "refused" and "REFUNDED" in (final.outcome or "")


async def test_in_progress_409_is_waited_out(store: Store, fake: FakeSellApp) -> None:
    made = fake.add_order(STORE)
    action = await propose_refund(store, made, fake, "5")
    claimed = await store.orders.claim(action.id, actor_id=1, now=2.0)
    assert claimed is not None
    fake.fail(path=r"/refunds$", status=409, times=2)
    async with make_http_client(timeout=2.0) as http:
        final = await send_action(store.orders, client_for(fake, http), claimed, sleep=_no_sleep)
    assert final.state == "done"
    assert len(fake.actions_on(made.id)) == 1


async def test_an_unreadable_order_gives_a_reason(fake: FakeSellApp) -> None:
    async with make_http_client(timeout=2.0) as http:
        view = await read_order(client_for(fake, http), "123456")
    assert view.order is None and "404" in (view.reason or "")
