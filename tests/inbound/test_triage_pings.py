"""The inbound engine's triage: the new-ticket alert, the owner's ping and the waiting
state, on plain data (the fakes of tests/inbound)."""

from __future__ import annotations

from bot.inbound.render import Post
from bot.store.triage import Ping
from bot.triage.waiting import WaitingFor
from tests.inbound.test_engine import GUILD, STORE, World, fake, http, world

__all__ = ["fake", "http", "world"]  # the fixtures, shared with test_engine

ROLE = 4242
OWNER = 777


def pings(world: World, ticket_id: int) -> list[Post]:
    """The posts of the thread that may ping someone."""
    thread = world.threads.thread_of(ticket_id)
    return [p for _, p in thread.posts if p.ping_user is not None or p.ping_role is not None]


async def first_link_done(world: World) -> None:
    await world.cycle()  # the first link: tickets already there are not news


async def test_a_new_ticket_pings_the_notify_role_exactly_once(world: World) -> None:
    await first_link_done(world)
    await world.store.triage.set_notify_role(GUILD, ROLE)
    tid = world.ticket(messages=["hello"])

    await world.cycle()
    await world.restart()
    await world.settle()

    [alert] = pings(world, tid)
    assert alert.ping_role == ROLE and alert.ping_user is None
    assert f"<@&{ROLE}>" in alert.content
    # Every other post of the thread pings nobody.
    thread = world.threads.thread_of(tid)
    assert [p for _, p in thread.posts if p is not alert] == [
        p for _, p in thread.posts if p.ping_role is None and p.ping_user is None
    ]


async def test_no_alert_without_a_notify_role_or_for_tickets_of_the_first_link(
    world: World,
) -> None:
    await world.store.triage.set_notify_role(GUILD, ROLE)
    before = world.ticket(messages=["old"])
    await world.cycle()  # first link
    await world.store.triage.set_notify_role(GUILD, None)
    after = world.ticket(messages=["new"])
    await world.settle()

    assert pings(world, before) == []
    assert pings(world, after) == []


async def test_an_alert_interrupted_by_a_crash_is_not_sent_twice(world: World) -> None:
    await first_link_done(world)
    await world.store.triage.set_notify_role(GUILD, ROLE)
    tid = world.ticket(messages=["hello"])
    # The intent row is committed; the process dies before the post. The poller never
    # sends it blindly: the triage loop looks for it first (tests/triage/test_engine.py).
    ping = Ping(0, f"<@&{ROLE}> New ticket #{tid}.", None, ROLE)
    assert await world.store.triage.begin_ping(GUILD, "alert", str(tid), ping, now=world.clock())

    await world.settle()

    assert pings(world, tid) == []
    assert len(await world.store.triage.pending(GUILD, before=world.clock() + 1)) == 1


async def test_each_customer_message_pings_the_owner_once_and_only_the_owner(
    world: World,
) -> None:
    tid = world.ticket(messages=["hello"])
    await world.cycle()
    await world.store.triage.claim(GUILD, tid, OWNER, now=world.clock())
    world.say(tid, "are you there?")
    world.fake.add_store_message(STORE, tid, "from the dashboard")
    world.say(tid, "hello??")

    await world.settle()
    await world.restart()
    await world.settle()

    found = pings(world, tid)
    assert [(p.ping_user, p.ping_role) for p in found] == [(OWNER, None), (OWNER, None)]
    assert all(p.content.startswith(f"<@{OWNER}>") for p in found)


async def test_the_ticket_waits_for_whoever_did_not_write_last(world: World) -> None:
    tid = world.ticket(messages=["hello"])
    await world.cycle()
    record = await world.store.triage.get(GUILD, tid)
    assert record is not None and record.waiting is not None
    assert record.waiting.waiting_for is WaitingFor.STAFF
    first_since = record.waiting.since

    world.say(tid, "still there?")
    await world.settle()
    record = await world.store.triage.get(GUILD, tid)
    assert record is not None and record.waiting is not None
    assert (record.waiting.waiting_for, record.waiting.since) == (WaitingFor.STAFF, first_since)

    world.fake.add_store_message(STORE, tid, "answered in the dashboard")
    await world.settle()
    record = await world.store.triage.get(GUILD, tid)
    assert record is not None and record.waiting is not None
    assert record.waiting.waiting_for is WaitingFor.CUSTOMER
