"""Claims on SimCord: the Claim button, /ticket claim, unclaim, transfer, two claims at
once, what the first message shows, and /ticket list."""

from __future__ import annotations

import discord
from simcord import ChannelHandle

from tests.sim import STORE, Sim, said


async def ticket_thread(sim: Sim, title: str = "Refund") -> tuple[int, ChannelHandle]:
    await sim.link()
    ticket = sim.sellapp.add_ticket(STORE, title=title, messages=["Where is my order?"])
    await sim.agent.slash(sim.lobby, "ticket open", ticket_id=ticket["id"])
    await triage_pass(sim)
    return int(ticket["id"]), sim.thread_named(f"#{ticket['id']} · ")


async def triage_pass(sim: Sim) -> None:
    cog = sim.cog("Triage")
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
    assert mine == ["You own no open tickets."]


async def test_admins_set_alerts_hours_sla_and_digest_and_status_shows_them(sim: Sim) -> None:
    await sim.link()
    support = sim.guild.create_role("Support")

    notify = await sim.admin.slash(sim.lobby, "sellapp notify", role=support)
    hours = await sim.admin.slash(
        sim.lobby,
        "sellapp hours",
        days="mon-fri",
        start="09:00",
        end="17:00",
        timezone="Europe/Berlin",
    )
    sla = await sim.admin.slash(sim.lobby, "sellapp sla", minutes=1)
    digest = await sim.admin.slash(sim.lobby, "sellapp digest", channel=sim.lobby, hour=9)

    assert said(notify) == [f"Each new ticket's thread pings <@&{support.id}> once."]
    assert said(hours) == ["Support hours: mon,tue,wed,thu,fri 09:00-17:00 (Europe/Berlin)."]
    assert said(sla)[0].startswith("A ticket awaiting staff for 1 support minute(s)")
    assert said(digest) == [
        f"Each day at 09:00 (Europe/Berlin) a digest goes to <#{sim.lobby.id}>."
    ]
    status = await sim.admin.slash(sim.lobby, "sellapp status")
    assert status.response is not None
    fields = {f.name: str(f.value) for f in status.response.embeds[0].fields}
    assert fields["Triage"].splitlines() == [
        f"New-ticket alerts: <@&{support.id}>",
        "Support hours: mon,tue,wed,thu,fri 09:00-17:00 (Europe/Berlin)",
        "Reminder after: 1 min",
        f"Daily digest: <#{sim.lobby.id}> at 09:00 (Europe/Berlin)",
    ]

    off = await sim.admin.slash(sim.lobby, "sellapp notify", off=True)
    assert said(off) == ["New tickets ping nobody now."]
    assert (await sim.store.triage.settings(sim.guild.id)).notify_role_id is None


async def test_bad_support_hours_say_what_is_expected_and_change_nothing(sim: Sim) -> None:
    await sim.link()

    result = await sim.admin.slash(
        sim.lobby, "sellapp hours", days="weekdays", start="09:00", end="17:00", timezone="UTC"
    )

    [text] = said(result)
    assert text.startswith("Support hours not changed: days 'weekdays': use day names")
    assert (await sim.store.triage.settings(sim.guild.id)).hours is None


async def test_a_claimed_forum_post_is_tagged_claimed_and_awaiting_staff(sim: Sim) -> None:
    _, thread = await ticket_thread(sim)

    await sim.agent.slash(thread, "ticket claim")
    await triage_pass(sim)

    channel = sim.bot.get_channel(thread.id)
    assert isinstance(channel, discord.Thread)
    assert {t.name for t in channel.applied_tags} == {"Open", "Claimed", "Awaiting staff"}
