"""A server another bridge process holds: its commands and buttons are answered, only to
the member, that it is moving, and nothing is done. Once the other process lets go, the
next command works here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.shards.guard import MOVING
from bot.store.claims import claims_path
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
