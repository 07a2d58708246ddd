"""Push against the fake SellApp over loopback: the client's webhook-channel routes, the
store's push rows, and the inbound engine's hinted read and sweep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.config import load_settings
from bot.errors import SellAppProtocolError, WebhooksForbidden, WebhookUrlRefused
from bot.links import LinkConfig, Links
from bot.ops.logs import SecretRegistry
from bot.push.engine import webhook_url
from bot.push.hub import PushHub
from bot.sellapp.client import RetryPolicy, SellAppClient, make_http_client
from bot.store import Store
from tests.fakes.sellapp import FakeSellApp
from tests.inbound.test_engine import CHANNEL, GUILD, INTERVAL, KEY, MESSAGES, STORE, World

FAST = RetryPolicy(attempts=1, base_delay=0.0, max_delay=0.0, rate_limit_retries=0)
SWEEP = 900.0


@pytest.fixture
async def fake() -> AsyncIterator[FakeSellApp]:
    async with FakeSellApp() as server:
        server.add_account(KEY, [STORE])
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with make_http_client(timeout=5.0) as client:
        yield client


@pytest.fixture
def client(fake: FakeSellApp, http: httpx.AsyncClient) -> SellAppClient:
    return SellAppClient(http, base_url=fake.url, api_key=SecretStr(KEY), store=STORE, retry=FAST)


@pytest.fixture
async def world(fake: FakeSellApp, http: httpx.AsyncClient, tmp_path: Path) -> AsyncIterator[World]:
    w = World(fake, http, tmp_path / "bridge.sqlite3")
    await w.start()
    yield w
    await w.store.close()


async def test_webhook_channels_are_listed_created_and_deleted(client: SellAppClient) -> None:
    assert await client.list_webhook_channels() == []
    made = await client.create_webhook_channel(
        "http://127.0.0.1:1/sellapp/webhook/t", ("ticket_message.created",), "bridge"
    )
    listed = await client.list_webhook_channels()
    assert [(c.id, c.url) for c in listed] == [(made.id, "http://127.0.0.1:1/sellapp/webhook/t")]
    assert listed[0].allowed_notifications == ("ticket_message.created",)
    await client.delete_webhook_channel(made.id)
    await client.delete_webhook_channel(made.id)  # already gone: still fine
    assert await client.list_webhook_channels() == []


async def test_an_unreadable_webhook_channel_is_an_error_not_a_reason_to_add_another(
    fake: FakeSellApp, client: SellAppClient
) -> None:
    """Review: read item by item, an unreadable channel (maybe ours) was left out, so the
    hub created another one at every start and SellApp delivered each message twice."""
    made = await client.create_webhook_channel(
        "http://127.0.0.1:1/sellapp/webhook/t", ("ticket_message.created",), "bridge"
    )
    fake._store(STORE).webhooks[made.id]["url"] = None  # a shape the bridge can't read
    with pytest.raises(SellAppProtocolError, match="can't read"):
        await client.list_webhook_channels()


async def test_a_duplicate_url_is_refused_like_sellapp_does(client: SellAppClient) -> None:
    url = "http://127.0.0.1:1/sellapp/webhook/t"
    await client.create_webhook_channel(url, ("ticket_message.created",), "bridge")
    with pytest.raises(WebhookUrlRefused, match="already been taken"):
        await client.create_webhook_channel(url, ("ticket_message.created",), "bridge")


async def test_refusals_say_what_they_mean(fake: FakeSellApp, client: SellAppClient) -> None:
    fake.refuse_webhooks = 403
    with pytest.raises(WebhooksForbidden, match="may not manage webhooks"):
        await client.list_webhook_channels()
    fake.refuse_webhooks = 422
    with pytest.raises(WebhookUrlRefused, match="public"):
        await client.create_webhook_channel("https://x.example/h", ("ticket_message.created",), "b")


async def test_a_guilds_token_is_made_once_and_survives_a_failure(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "s.sqlite3") as store:
        first = await store.push.ensure_token(GUILD, "token-one", now=1)
        again = await store.push.ensure_token(GUILD, "token-two", now=2)
        assert first.token == again.token == "token-one"
        await store.push.record_registered(GUILD, url="https://u/t", channel_id="c1", now=3)
        assert (await store.push.get(GUILD)).channel_id == "c1"  # type: ignore[union-attr]
        await store.push.record_failure(GUILD, error="refused", now=4)
        row = await store.push.get(GUILD)
        assert row is not None and row.channel_id is None and row.last_error == "refused"
        assert row.token == "token-one" and "token-one" not in repr(row)
        assert await store.push.delete(GUILD)
        assert await store.push.get(GUILD) is None


async def hinted(world: World, ticket_id: int) -> int:
    ticket = await world.client.get_ticket(ticket_id)
    report = await world.engine.sync_hinted(
        GUILD, CHANNEL, world.client, ticket, interval=INTERVAL, sweep=SWEEP
    )
    return report.messages_posted


async def sweep_cycle(world: World) -> None:
    await world.engine.run_cycle(GUILD, CHANNEL, world.client, interval=INTERVAL, sweep=SWEEP)


async def test_a_hint_posts_the_new_message_once(world: World) -> None:
    tid = world.ticket(messages=["hello"])
    await sweep_cycle(world)
    world.say(tid, "news")
    assert await hinted(world, tid) == 1
    assert await hinted(world, tid) == 0  # a replayed hint: read, nothing new
    assert world.threads.thread_of(tid).markers() == world.expected(tid)


async def test_a_hint_for_an_unknown_ticket_reads_it_like_a_new_one(world: World) -> None:
    world.ticket(messages=["old"])
    await sweep_cycle(world)
    tid = world.ticket(messages=["brand new"])
    assert await hinted(world, tid) == 1
    assert world.threads.thread_of(tid).markers() == world.expected(tid)


async def test_with_push_live_a_quiet_ticket_waits_for_the_sweep(world: World) -> None:
    tid = world.ticket(messages=["hello"])
    await sweep_cycle(world)
    reads = []
    for _ in range(20):
        world.clock.advance(INTERVAL)
        world.reset_requests()
        await sweep_cycle(world)
        reads.append(world.requests(MESSAGES))
    # Read once more after the change, then only every SWEEP (900 s = 15 intervals).
    assert reads == [1] + [0] * 14 + [1] + [0] * 4
    assert tid


async def test_a_channel_subscribes_to_order_disputed_and_an_old_one_is_updated_once(
    fake: FakeSellApp, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    settings = load_settings(
        None, public_url="https://bridge.example.com", sellapp_api_url=fake.url
    )
    link = LinkConfig(GUILD, STORE, SecretStr(KEY), CHANNEL, frozenset(), INTERVAL, False, "")

    async def start_hub(store: Store) -> PushHub:
        secrets = SecretRegistry()
        hub = PushHub(settings, store, Links(settings, store, http, secrets, None), secrets)
        await hub.load()
        await hub.ensure(link)
        assert hub.is_live(GUILD)
        return hub

    async with await Store.open(tmp_path / "s.sqlite3") as store:
        await start_hub(store)
        [made] = fake.webhook_channels(STORE)
        assert made["allowed_notifications"] == ["ticket_message.created", "order.disputed"]
        # A channel registered before order.disputed was wired (ticket messages only):
        fake._store(STORE).webhooks[made["id"]]["allowed_notifications"] = [
            "ticket_message.created"
        ]
        await start_hub(store)  # a restart
        await start_hub(store)  # and another
    [now] = fake.webhook_channels(STORE)
    assert now["id"] == made["id"]
    assert now["allowed_notifications"] == ["ticket_message.created", "order.disputed"]
    assert len(fake.requests_to("PATCH", r"/api/v2/webhook-channels/")) == 1
    assert len(fake.requests_to("POST", r"/api/v2/webhook-channels$")) == 1


async def test_updating_a_channel_that_is_gone_answers_none_not_an_error(
    client: SellAppClient,
) -> None:
    assert await client.update_webhook_channel("no-such-uuid", ("order.disputed",)) is None


async def test_a_channel_sellapp_wont_update_keeps_ticket_push_live(
    fake: FakeSellApp, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    settings = load_settings(
        None, public_url="https://bridge.example.com", sellapp_api_url=fake.url
    )
    link = LinkConfig(GUILD, STORE, SecretStr(KEY), CHANNEL, frozenset(), INTERVAL, False, "")
    async with await Store.open(tmp_path / "s.sqlite3") as store:
        row = await store.push.ensure_token(GUILD, "old-token", now=0)
        url = webhook_url("https://bridge.example.com", row.token)
        client = SellAppClient(http, base_url=fake.url, api_key=SecretStr(KEY), store=STORE)
        old = await client.create_webhook_channel(url, ("ticket_message.created",), "bridge")
        fake.fail(path=r"/api/v2/webhook-channels/", method="PATCH", status=405, times=None)
        secrets = SecretRegistry()
        hub = PushHub(settings, store, Links(settings, store, http, secrets, None), secrets)
        await hub.load()
        await hub.ensure(link)
        assert hub.is_live(GUILD)  # ticket messages still come by push
        assert (await store.push.get(GUILD)).channel_id == old.id  # type: ignore[union-attr]
    assert [c["id"] for c in fake.webhook_channels(STORE)] == [old.id]
    assert len(fake.requests_to("POST", r"/api/v2/webhook-channels$")) == 1
