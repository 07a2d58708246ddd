"""Push (SellApp webhooks), through the real process: a hint makes a message appear in
Discord at once, polling stays the safety net, and hostile deliveries cost at most one read."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import aiohttp

from tests.e2e.checks import thread_in_order
from tests.e2e.conftest import StartBot
from tests.e2e.harness import (
    DISCORD_TOKEN,
    SELLAPP_KEY,
    STORE,
    BotProcess,
    World,
    assert_no_secrets,
    channel,
    posted_ids,
    sub,
    ticket_thread,
)
from tests.e2e.test_commands import NEW_KEY, UNLINKED, connect, files_contain, run
from tests.e2e.test_orders import card_of, cards_in, lines_in
from tests.fakes.discord import Channel

QUIET = "30"  # the default poll interval: any message seen sooner came by push


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def push_env(port: int | None = None, **extra: str) -> dict[str, str]:
    port = port or free_port()
    return {
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "WEBHOOK_PORT": str(port),
        "WEBHOOK_HOST": "127.0.0.1",
        "POLL_INTERVAL_SECONDS": QUIET,
        **extra,
    }


async def registered(world: World, bot: BotProcess) -> str:
    """Wait for the bot's webhook channel at the fake; its URL."""
    await bot.wait_for_line(r"webhook channel (registered|already registered)")
    channels = world.sellapp.webhook_channels(STORE)
    assert len(channels) == 1, channels
    assert channels[0]["allowed_notifications"] == ["ticket_message.created", "order.disputed"]
    return str(channels[0]["url"])


async def first_poll(world: World, bot: BotProcess, ticket_id: int) -> Channel:
    await bot.wait_for_line(r"poll done")
    return await world.discord.wait_for(
        lambda: ticket_thread(world, world.forum_channel, ticket_id), timeout=20
    )


async def wait_shown(world: World, thread: Channel, sellapp_id: int, timeout: float) -> float:
    """Seconds from the message's creation at the fake to its post in Discord."""
    await world.discord.wait_for(
        lambda: sellapp_id in posted_ids(world, thread) or None, timeout=timeout
    )
    return time.monotonic() - world.sellapp.created_at[sellapp_id]


async def deliver(url: str, body: bytes, headers: dict[str, str] | None = None) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers or {}) as response,
    ):
        return response.status


def hint(ticket_id: int, content: str = "x") -> bytes:
    data = {"author": "CUSTOMER", "content": content, "ticket_id": ticket_id}
    return json.dumps({"event": "ticket_message.created", "data": data, "store": 1}).encode()


async def hint_counts(health_port: int) -> dict[str, float]:
    """``sellapp_bridge_push_hints_total`` by outcome, from the bot's /metrics."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{health_port}/metrics") as response,
    ):
        text = await response.text()
    found = {}
    for line in text.splitlines():
        if line.startswith("sellapp_bridge_push_hints_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            found[outcome] = float(line.rsplit(" ", 1)[1])
    return found


def reads_of(world: World, ticket_id: int) -> int:
    return len(world.sellapp.requests_to("GET", rf"/api/v1/tickets/{ticket_id}(/messages)?$"))


async def test_message_on_a_quiet_ticket_appears_in_under_a_second(
    world: World, start_bot: StartBot
) -> None:
    ticket = world.sellapp.add_ticket(STORE, messages=["first"])
    bot = await start_bot(**push_env())
    await registered(world, bot)
    thread = await first_poll(world, bot, ticket["id"])
    await wait_shown(world, thread, world.sellapp.messages(STORE, ticket["id"])[0]["id"], 20)
    for text in ("are you there?", "hello again"):
        new = world.sellapp.add_customer_message(STORE, ticket["id"], text)
        assert await wait_shown(world, thread, new["id"], timeout=5) < 1.0
    assert thread_in_order(world, world.forum_channel, ticket["id"])
    polls = [line for line in bot.lines if "poll done" in line]
    assert len(polls) == 1, "a poll, not push, posted it"
    assert await bot.terminate() == 0
    url = world.sellapp.webhook_channels(STORE)[0]["url"]
    token = url.rsplit("/", 1)[1]
    assert_no_secrets(bot.output, DISCORD_TOKEN, SELLAPP_KEY, token)


async def test_lost_webhook_is_caught_by_the_sweep(world: World, start_bot: StartBot) -> None:
    world.sellapp.drop_deliveries = True
    ticket = world.sellapp.add_ticket(STORE, messages=["first"])
    bot = await start_bot(**push_env(POLL_INTERVAL_SECONDS="1", PUSH_SWEEP_SECONDS="5"))
    await registered(world, bot)
    thread = await first_poll(world, bot, ticket["id"])
    await bot.wait_for_lines(r"poll done", 3)  # the ticket is quiet now
    new = world.sellapp.add_customer_message(STORE, ticket["id"], "nobody told you")
    dropped = await world.discord.wait_for(lambda: world.sellapp.deliveries or None, timeout=5)
    assert [d.status for d in dropped] == [None]
    waited = await wait_shown(world, thread, new["id"], timeout=15)
    assert waited < 7.5, waited
    assert thread_in_order(world, world.forum_channel, ticket["id"])


async def test_quiet_tickets_are_not_read_on_a_backoff_while_push_is_live(
    world: World, start_bot: StartBot
) -> None:
    ticket = world.sellapp.add_ticket(STORE, messages=["first"])
    bot = await start_bot(**push_env(POLL_INTERVAL_SECONDS="1"))
    await registered(world, bot)
    await first_poll(world, bot, ticket["id"])
    await bot.wait_for_lines(r"poll done", 3)
    before = reads_of(world, ticket["id"])
    await bot.wait_for_lines(r"poll done", 10, timeout=30)
    # Without push, a quiet ticket is read again after 1, 2, 4 intervals: 2 reads here.
    assert reads_of(world, ticket["id"]) == before


async def test_hostile_deliveries_post_nothing_wrong_and_cost_at_most_one_read(
    world: World, start_bot: StartBot
) -> None:
    ticket = world.sellapp.add_ticket(STORE, messages=["first"])
    health = free_port()
    bot = await start_bot(**push_env(HEALTH_PORT=str(health)))
    url = await registered(world, bot)
    thread = await first_poll(world, bot, ticket["id"])
    await wait_shown(world, thread, world.sellapp.messages(STORE, ticket["id"])[0]["id"], 20)
    requests = len(world.sellapp.requests)

    forged = url.rsplit("/", 1)[0] + "/not-the-token"
    assert await deliver(forged, hint(ticket["id"])) == 404
    assert await deliver(url, b"x" * (64 * 1024 + 1)) == 413
    assert await deliver(url, b"not json") == 400
    assert await deliver(url, json.dumps({"data": {}}).encode()) == 422
    await asyncio.sleep(0.5)
    assert len(world.sellapp.requests) == requests, "a refused delivery caused a request"

    # A replayed hint whose content lies: read once, nothing posted (nothing is new).
    assert await deliver(url, hint(ticket["id"], "FORGED CONTENT")) == 202
    assert await deliver(url, hint(ticket["id"], "FORGED CONTENT")) == 202
    await bot.wait_for_line(rf"hint for ticket {ticket['id']}: 0 posted")
    await asyncio.sleep(0.5)
    assert world.sellapp.requests_to("GET", rf"/api/v1/tickets/{ticket['id']}$")
    assert thread_in_order(world, world.forum_channel, ticket["id"])

    # A ticket the store doesn't have: one read, nothing posted, no thread.
    threads = len(world.discord.threads_in(world.forum_channel.id))
    assert await deliver(url, hint(999_999)) == 202
    await bot.wait_for_line(r"hinted ticket 999999 is not in the store")
    assert len(world.sellapp.requests_to("GET", r"/api/v1/tickets/999999")) == 1
    assert len(world.discord.threads_in(world.forum_channel.id)) == threads

    # Duplicates from SellApp itself: each message still shown exactly once.
    world.sellapp.deliver_twice = True
    new = world.sellapp.add_customer_message(STORE, ticket["id"], "twice delivered")
    await wait_shown(world, thread, new["id"], timeout=5)
    await asyncio.sleep(0.5)
    assert thread_in_order(world, world.forum_channel, ticket["id"])
    assert "FORGED CONTENT" not in json.dumps(
        [m.embeds for m in world.discord.messages_in(thread.id)]
    )
    counted = await hint_counts(health)
    assert counted["rejected"] == 4
    assert counted["received"] >= 5  # 2 replays, 1 unknown ticket, 2 duplicates


async def test_signed_deliveries_are_checked_when_the_secret_is_set(
    world: World, start_bot: StartBot
) -> None:
    secret = "whsec_e2e_store_wide_signing_secret_0123"
    world.sellapp.webhook_secret = secret
    ticket = world.sellapp.add_ticket(STORE, messages=["first"])
    bot = await start_bot(**push_env(SELLAPP_WEBHOOK_SECRET=secret))
    url = await registered(world, bot)
    thread = await first_poll(world, bot, ticket["id"])
    requests = len(world.sellapp.requests)
    assert await deliver(url, hint(ticket["id"])) == 401
    assert await deliver(url, hint(ticket["id"]), {"Signature": "0" * 64}) == 401
    await asyncio.sleep(0.3)
    assert len(world.sellapp.requests) == requests
    new = world.sellapp.add_customer_message(STORE, ticket["id"], "signed")
    assert await wait_shown(world, thread, new["id"], timeout=5) < 1.0
    assert await bot.terminate() == 0
    assert_no_secrets(bot.output, secret)


async def test_kill_right_after_a_hint_was_accepted_loses_nothing(
    world: World, start_bot: StartBot
) -> None:
    ticket = world.sellapp.add_ticket(STORE, messages=["first"])
    port = free_port()
    bot = await start_bot(**push_env(port, POLL_INTERVAL_SECONDS="1"))
    await registered(world, bot)
    thread = await first_poll(world, bot, ticket["id"])
    await bot.wait_for_lines(r"poll done", 3)  # quiet: next read only at the sweep (900 s)
    # The hinted read (and any read of the ticket) hangs, so the hint is only accepted.
    world.sellapp.latency(path=rf"/api/v1/tickets/{ticket['id']}", seconds=60, times=None)
    new = world.sellapp.add_customer_message(STORE, ticket["id"], "before the crash")
    await world.discord.wait_for(
        lambda: any(d.status == 202 for d in world.sellapp.deliveries) or None, timeout=5
    )
    await bot.kill()
    world.sellapp.clear_faults()
    await start_bot(**push_env(port))
    assert await wait_shown(world, thread, new["id"], timeout=20) > 0
    assert thread_in_order(world, world.forum_channel, ticket["id"])


async def test_registration_happens_once_across_restarts(world: World, start_bot: StartBot) -> None:
    port = free_port()
    bot = await start_bot(**push_env(port))
    url = await registered(world, bot)
    assert await bot.terminate() == 0
    again = await start_bot(**push_env(port))
    await again.wait_for_line(r"webhook channel already registered; reusing it")
    assert [c["url"] for c in world.sellapp.webhook_channels(STORE)] == [url]
    assert len(world.sellapp.requests_to("POST", r"/api/v2/webhook-channels$")) == 1


async def test_status_says_why_push_failed_and_the_guild_keeps_polling(
    world: World, start_bot: StartBot
) -> None:
    world.sellapp.refuse_webhooks = 403
    ticket = world.sellapp.add_ticket(STORE, messages=["first"])
    bot = await start_bot(**push_env(POLL_INTERVAL_SECONDS="1"))
    await bot.wait_for_line(r"push not live")
    await first_poll(world, bot, ticket["id"])
    status = await run(world, world.admin, "sellapp", sub("status"))
    assert "may not manage webhooks" in status.fields["Push"]
    assert "running" in status.fields["State"]


async def test_status_shows_push_live_and_disconnect_deletes_the_channel(
    world: World, start_bot: StartBot
) -> None:
    world.sellapp.add_account(NEW_KEY, ["new-store"])
    ticket = world.sellapp.add_ticket("new-store", messages=["first"])
    bot = await start_bot(**UNLINKED, **push_env())
    await connect(world, bot, NEW_KEY, "new-store")
    await run(
        world, world.admin, "sellapp", sub("channel", channel=channel(world.forum_channel.id))
    )
    await bot.wait_for_line(r"webhook channel registered")
    assert len(world.sellapp.webhook_channels("new-store")) == 1
    thread = await first_poll(world, bot, ticket["id"])
    new = world.sellapp.add_customer_message("new-store", ticket["id"], "hi")
    assert await wait_shown(world, thread, new["id"], timeout=5) < 1.0

    status = await run(world, world.admin, "sellapp", sub("status"))
    assert status.fields["Push"].startswith("live (last hint"), status.fields
    assert "1 today" in status.fields["Push"]
    await run(world, world.admin, "sellapp", sub("disconnect"))
    assert world.sellapp.webhook_channels("new-store") == []


async def test_a_guild_linked_by_command_gives_its_signing_secret_sealed(
    world: World, start_bot: StartBot
) -> None:
    secret = "whsec_given_by_command_0123456789"
    world.sellapp.add_account(NEW_KEY, ["new-store"])
    ticket = world.sellapp.add_ticket("new-store", messages=["first"])
    port = free_port()
    bot = await start_bot(**UNLINKED, **push_env(port))
    await connect(world, bot, NEW_KEY, "new-store")
    await run(
        world, world.admin, "sellapp", sub("channel", channel=channel(world.forum_channel.id))
    )
    reply = await run(world, world.admin, "sellapp", sub("webhook", secret=secret))
    assert "stored sealed" in reply.text and reply.ephemeral
    url = await registered_in(world, bot, "new-store")
    thread = await first_poll(world, bot, ticket["id"])
    requests = len(world.sellapp.requests)
    assert await deliver(url, hint(ticket["id"])) == 401  # unsigned
    await asyncio.sleep(0.3)
    assert len(world.sellapp.requests) == requests
    world.sellapp.webhook_secret = secret
    new = world.sellapp.add_customer_message("new-store", ticket["id"], "signed")
    assert await wait_shown(world, thread, new["id"], timeout=5) < 1.0
    assert files_contain(world.tmp / "data", secret) == []
    # Still checked after a restart (the sealed secret is opened again).
    assert await bot.terminate() == 0
    again = await start_bot(**UNLINKED, **push_env(port))
    await again.wait_for_line(r"webhook channel already registered")
    assert await deliver(url, hint(ticket["id"])) == 401
    assert_no_secrets(bot.output + again.output, secret, NEW_KEY)


async def registered_in(world: World, bot: BotProcess, store: str) -> str:
    await bot.wait_for_line(r"webhook channel (registered|already registered)")
    channels = world.sellapp.webhook_channels(store)
    assert len(channels) == 1, channels
    return str(channels[0]["url"])


def dispute_hint(order_id: str) -> bytes:
    data = {"id": int(order_id), "status": "DISPUTING"}  # the status is a claim, never trusted
    return json.dumps({"event": "order.disputed", "data": data, "store": 1}).encode()


def order_reads(world: World, order_id: str) -> int:
    return len(world.sellapp.requests_to("GET", rf"/api/v2/orders/{order_id}$"))


async def test_a_dispute_marks_the_order_card_in_seconds_and_tells_the_thread_once(
    world: World, start_bot: StartBot
) -> None:
    made = world.sellapp.add_order(STORE)
    calm = world.sellapp.add_order(STORE)
    ticket = world.sellapp.add_ticket(STORE, reference=made.id, messages=["I paid, no key"])
    other = world.sellapp.add_ticket(STORE, reference=calm.id, messages=["where is it?"])
    bot = await start_bot(**push_env())  # polls every 30 s; cards are re-read every 300 s
    url = await registered(world, bot)
    thread = await first_poll(world, bot, ticket["id"])
    calm_thread = await world.discord.wait_for(
        lambda: ticket_thread(world, world.forum_channel, other["id"]), timeout=20
    )
    card = await world.discord.wait_for(lambda: card_of(world, thread, made.id), timeout=20)
    await world.discord.wait_for(lambda: card_of(world, calm_thread, calm.id), timeout=20)
    calm_card = card_of(world, calm_thread, calm.id)
    assert calm_card is not None
    calm_before = json.dumps(calm_card.embeds)
    calm_reads = order_reads(world, calm.id)

    # Forged: an order no card refers to costs no read; a real order that isn't disputed
    # (whatever the payload claims) costs one read, and neither posts or marks anything.
    assert await deliver(url, dispute_hint("424242")) == 202
    assert await deliver(url, dispute_hint(calm.id)) == 202
    await bot.wait_for_line(r"dispute hint for order 424242: 0 card")
    await bot.wait_for_line(rf"dispute hint for order {calm.id}: 0 card")
    assert order_reads(world, "424242") == 0
    assert order_reads(world, calm.id) == calm_reads + 1
    assert json.dumps(card_of(world, calm_thread, calm.id).embeds) == calm_before  # type: ignore[union-attr]
    assert lines_in(world, calm_thread, "is DISPUTED") == []

    started = time.monotonic()
    world.sellapp.dispute_order(made.id)  # a chargeback opens: SellApp pushes order.disputed
    await world.discord.wait_for(lambda: lines_in(world, thread, "is DISPUTED") or None, timeout=5)
    assert time.monotonic() - started < 3.0
    assert "DISPUTED" in str(card_of(world, thread, made.id).embeds[0]["title"])  # type: ignore[union-attr]

    # SellApp delivering it again, twice over: the thread is still told once.
    world.sellapp.deliver_twice = True
    sent = len(world.sellapp.deliveries)
    world.sellapp.dispute_order(made.id, shape="order")
    await world.discord.wait_for(
        lambda: len(world.sellapp.deliveries) >= sent + 2 or None, timeout=5
    )
    await asyncio.sleep(0.5)
    assert len(lines_in(world, thread, "is DISPUTED")) == 1
    assert [m.id for m in cards_in(world, thread, made.id)] == [card.id]
    assert [line for line in bot.lines if "poll done" in line][1:] == [], "a poll marked it"
    assert lines_in(world, calm_thread, "is DISPUTED") == []
