"""Claims on SimCord: the Claim button, /ticket claim, unclaim, transfer, two claims at
once, what the first message shows, and /ticket list."""

from __future__ import annotations

from simcord import ChannelHandle

from cogs.triage import Triage
from tests.sim import STORE, Sim, said


async def ticket_thread(sim: Sim, title: str = "Refund") -> tuple[int, ChannelHandle]:
    await sim.link()
    ticket = sim.sellapp.add_ticket(STORE, title=title, messages=["Where is my order?"])
    await sim.agent.slash(sim.lobby, "ticket open", ticket_id=ticket["id"])
    await triage_pass(sim)
    return int(ticket["id"]), sim.thread_named(f"#{ticket['id']} · ")


async def triage_pass(sim: Sim) -> None:
    cog = sim.bot.get_cog("Triage")
    assert isinstance(cog, Triage)
    await cog.engine.run_guild(sim.guild.id)


def owner_field(thread: ChannelHandle) -> str:
    starter = thread.history()[0]
    fields = {f.name: f.value for f in starter.embeds[0].fields}
    return str(fields["Owner"])


async def test_the_claim_button_makes_the_clicker_the_owner_and_the_first_message_shows_it(
    sim: Sim,
) -> None:
    tid, thread = await ticket_thread(sim)
    assert owner_field(thread) == "unclaimed"

    result = await sim.agent.click(thread.history()[0], label="Claim")

    assert said(result) == [f"You own ticket #{tid} now."]
    assert result.ephemeral
    await triage_pass(sim)
    assert owner_field(thread) == sim.agent.mention


async def test_a_second_click_on_claim_is_told_who_owns_the_ticket(sim: Sim) -> None:
    # Clicks at the very same moment are decided in one transaction: see
    # tests/store/test_triage.py::test_two_claims_racing_make_exactly_one_owner_...
    # (SimCord runs one member action at a time).
    tid, thread = await ticket_thread(sim)
    second = sim.guild.add_member(sim.env.create_user("agent2"), roles=[sim.staff_role])
    starter = thread.history()[0]

    first = await sim.agent.click(starter, label="Claim")
    other = await second.click(starter, label="Claim")

    assert said(first) == [f"You own ticket #{tid} now."]
    assert said(other) == [f"Ticket #{tid} is already claimed by {sim.agent.mention}."]
    record = await sim.store.triage.get(sim.guild.id, tid)
    assert record is not None and record.owner_id == sim.agent.id


async def test_a_stranger_cannot_claim(sim: Sim) -> None:
    tid, thread = await ticket_thread(sim)

    result = await sim.stranger.click(thread.history()[0], label="Claim")

    assert said(result) == ["Only staff can claim tickets (ask an admin: /sellapp staff add)."]
    assert (await sim.store.triage.get(sim.guild.id, tid)).owner_id is None  # type: ignore[union-attr]


async def test_ticket_claim_unclaim_and_transfer(sim: Sim) -> None:
    tid, thread = await ticket_thread(sim)
    second = sim.guild.add_member(sim.env.create_user("agent2"), roles=[sim.staff_role])

    assert said(await sim.agent.slash(thread, "ticket claim")) == [f"You own ticket #{tid} now."]
    assert said(await second.slash(thread, "ticket claim")) == [
        f"Ticket #{tid} is already claimed by {sim.agent.mention}."
    ]
    assert said(await sim.agent.slash(thread, "ticket transfer", member=second)) == [
        f"Ticket #{tid} now belongs to {second.mention} (from {sim.agent.mention})."
    ]
    await triage_pass(sim)
    assert owner_field(thread) == second.mention
    assert said(await second.slash(thread, "ticket unclaim")) == [
        f"You no longer own ticket #{tid}."
    ]
    await triage_pass(sim)
    assert owner_field(thread) == "unclaimed"


async def test_transfer_to_a_member_who_is_not_staff_is_refused(sim: Sim) -> None:
    tid, thread = await ticket_thread(sim)

    result = await sim.agent.slash(thread, "ticket transfer", member=sim.stranger)

    assert said(result) == [f"{sim.stranger.mention} isn't staff here; pick a staff member."]
    assert (await sim.store.triage.get(sim.guild.id, tid)).owner_id is None  # type: ignore[union-attr]


async def test_ticket_list_shows_the_waiting_tickets_with_links(sim: Sim) -> None:
    tid, thread = await ticket_thread(sim)

    result = await sim.agent.slash(sim.lobby, "ticket list", show="waiting")

    assert result.ephemeral
    [text] = said(result)
    assert f"#{tid} <#{thread.id}>: awaiting staff since <t:" in text
    mine = said(await sim.agent.slash(sim.lobby, "ticket list", show="mine"))
    assert mine == ["No mine tickets."]
