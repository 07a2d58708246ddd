"""A delivered staff reply makes its ticket wait for the customer (triage, issue 16);
a reply still on its way or refused does not."""

from __future__ import annotations

from bot.store.records import Ticket
from bot.triage.waiting import Waiting, WaitingFor
from tests.outbound.test_engine import GUILD, World, deliver, relay, world

__all__ = ["world"]  # the fixtures, shared with test_engine


async def waiting(world: World, ticket: Ticket) -> Waiting | None:
    record = await world.store.triage.get(GUILD, ticket.ticket_id)
    return record.waiting if record is not None else None


async def test_a_delivered_reply_makes_the_ticket_wait_for_the_customer(world: World) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    await world.store.triage.set_waiting(GUILD, ticket.ticket_id, Waiting(WaitingFor.STAFF, 1.0))
    await relay(world, engine, ticket, "It shipped today.")

    assert (await waiting(world, ticket)) == Waiting(WaitingFor.STAFF, 1.0)  # queued only
    await deliver(engine)

    after = await waiting(world, ticket)
    assert after is not None and after.waiting_for is WaitingFor.CUSTOMER


async def test_a_reply_sellapp_cannot_take_yet_leaves_the_ticket_waiting_for_staff(
    world: World,
) -> None:
    engine = world.engine()
    ticket = await world.ticket(thread=1)
    await world.store.triage.set_waiting(GUILD, ticket.ticket_id, Waiting(WaitingFor.STAFF, 1.0))
    world.fake.fail(path=r"/messages$", status=503, times=None)
    message = await relay(world, engine, ticket, "It shipped today.")

    await deliver(engine)

    entry = await world.store.outbox.by_discord_message(message.message_id)
    assert entry is not None and entry.state == "waiting"  # the fault fired
    assert (await waiting(world, ticket)) == Waiting(WaitingFor.STAFF, 1.0)
