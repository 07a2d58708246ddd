"""A server another bridge process holds: its commands and buttons are answered, only to
the member, that it is moving, and nothing is done. Once the other process lets go, the
next command works here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.shards.guard import MOVING, GuardPass
from bot.store.claims import claims_path
from cogs.outbound import _Members
from tests.sim import STORE, Sim, said
from tests.store.test_file_claims import Holder


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for holder in started:
        holder.stop()


async def test_a_command_of_a_server_held_elsewhere_says_it_is_moving_and_does_nothing(
    sim: Sim, holders: list[Holder]
) -> None:
    await sim.link()
    sim.sellapp.add_ticket(STORE, title="Refund", messages=["Where is my order?"])
    other = Holder(claims_path(sim.store.path), sim.guild.id)  # another bridge process
    holders.append(other)
    assert other.answer == ["held"]
    listed = len(sim.sellapp.requests)

    result = await sim.admin.slash(sim.lobby, "sellapp poll")

    assert said(result) == [MOVING]
    assert result.ephemeral
    assert len(sim.sellapp.requests) == listed  # nothing polled
    assert sim.forum.threads == []
    assert not sim.bot.guard.works_on(sim.guild.id)

    other.kill9()  # the other process is gone: this one takes the server at once
    result = await sim.admin.slash(sim.lobby, "sellapp poll")
    assert MOVING not in said(result)
    assert sim.bot.guard.works_on(sim.guild.id)
    assert len(sim.forum.threads) == 1


async def test_a_button_of_a_server_held_elsewhere_says_it_is_moving(
    sim: Sim, holders: list[Holder]
) -> None:
    await sim.link()
    ticket = sim.sellapp.add_ticket(STORE, title="Refund", messages=["Where is my order?"])
    await sim.agent.slash(sim.lobby, "ticket open", ticket_id=ticket["id"])
    await sim.cog("Triage").engine.run_guild(sim.guild.id)  # shows the Claim button
    thread = sim.thread_named(f"#{ticket['id']} · ")
    # This process let go (a shard moved) and another one took the server.
    await sim.store.claims.release(sim.guild.id)
    other = Holder(claims_path(sim.store.path), sim.guild.id)
    holders.append(other)
    assert other.answer == ["held"]

    result = await sim.agent.click(thread.history()[0], label="Claim")

    assert said(result) == [MOVING]
    assert result.ephemeral
    record = await sim.store.triage.get(sim.guild.id, int(ticket["id"]))
    assert record is None or record.owner_id is None


async def test_a_claim_lost_and_taken_back_in_one_pass_still_reads_the_guilds_threads(
    sim: Sim,
) -> None:
    """A reply typed while the claim was away (its live event was left to the holder) is
    read from the thread when the claim comes back, even when the loss and the take are
    heard in one pass."""
    await sim.link()
    ticket = sim.sellapp.add_ticket(STORE, title="Refund", messages=["Where is my order?"])
    await sim.agent.slash(sim.lobby, "ticket open", ticket_id=ticket["id"])
    thread = sim.thread_named(f"#{ticket['id']} · ")
    outbound = sim.outbound
    guild = sim.guild.id
    await outbound._settle_missed(_Members())  # the start's catch-up: the thread was read
    assert await sim.store.state.get_last_seen_discord_message(thread.id) is not None
    typed = await sim.agent.send(thread, "Refund sent today.")  # the live event: not handled

    outbound._claims_changed(GuardPass(lost=frozenset({guild}), acquired=frozenset({guild})))
    await outbound._settle_missed(_Members())

    entry = await sim.store.outbox.by_discord_message(typed.id)
    assert entry is not None and entry.content == "Refund sent today."
