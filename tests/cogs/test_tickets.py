"""/ticket on SimCord: staff only, and what it does to the ticket and its thread."""

from __future__ import annotations

import discord

from tests.sim import STORE, Sim, said

NOT_STAFF = "Only staff can use /ticket (ask an admin: /sellapp staff add)."


async def test_ticket_is_refused_to_a_member_without_a_staff_role(sim: Sim) -> None:
    await sim.link()
    ticket = sim.sellapp.add_ticket(STORE, messages=["Where is my order?"])

    result = await sim.stranger.slash(sim.lobby, "ticket open", ticket_id=ticket["id"])

    assert result.ephemeral
    assert said(result) == [NOT_STAFF]
    assert sim.forum.threads == []


async def test_ticket_in_an_unlinked_server_says_to_connect(sim: Sim) -> None:
    result = await sim.agent.slash(sim.lobby, "ticket open", ticket_id=1)

    assert said(result) == ["This server isn't linked to a SellApp store (/sellapp connect)."]


async def test_ticket_open_creates_the_thread_and_links_to_it(sim: Sim) -> None:
    await sim.link()
    ticket = sim.sellapp.add_ticket(STORE, title="Refund", messages=["Where is my order?"])

    result = await sim.agent.slash(sim.lobby, "ticket open", ticket_id=ticket["id"])

    thread = sim.thread_named(f"#{ticket['id']} · ")
    assert said(result) == [f"Ticket #{ticket['id']}: <#{thread.id}>"]
    assert result.ephemeral
    texts = [str(embed.description) for message in thread.history() for embed in message.embeds]
    assert any("Where is my order?" in text for text in texts), texts


async def test_ticket_info_outside_a_ticket_thread_says_where_to_use_it(sim: Sim) -> None:
    await sim.link()

    result = await sim.agent.slash(sim.lobby, "ticket info")

    assert said(result) == ["This isn't a ticket thread. Use it inside a ticket's thread."]


async def test_ticket_info_in_its_thread_shows_the_ticket(sim: Sim) -> None:
    await sim.link()
    ticket = sim.sellapp.add_ticket(STORE, title="Refund", email="ann@example.com")
    await sim.agent.slash(sim.lobby, "ticket open", ticket_id=ticket["id"])
    thread = sim.thread_named(f"#{ticket['id']} · ")

    result = await sim.agent.slash(thread, "ticket info")

    assert result.ephemeral
    assert result.response is not None
    [embed] = result.response.embeds
    # The thread's own first embed (title in the description), plus what has changed.
    assert embed.title == f"Ticket #{ticket['id']}"
    assert embed.description == "Refund"
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Status"] == "Open"
    assert fields["Customer"] == "ann@example.com"


async def test_ticket_close_closes_at_sellapp_and_archives_and_locks_the_thread(sim: Sim) -> None:
    # SimCord asks for Manage Channels to archive or lock a thread (Discord: Manage
    # Threads, or owning it); its default bot role has both, so this passes on either.
    await sim.link()
    ticket = sim.sellapp.add_ticket(STORE, messages=["Thanks, all sorted"])
    await sim.agent.slash(sim.lobby, "ticket open", ticket_id=ticket["id"])
    thread = sim.thread_named(f"#{ticket['id']} · ")

    result = await sim.agent.slash(thread, "ticket close")

    assert said(result) == [f"Ticket #{ticket['id']} is closed at SellApp."]
    assert sim.sellapp.tickets(STORE)[0]["status"] == "CLOSED"
    closed = await sim.bot.fetch_channel(thread.id)
    assert isinstance(closed, discord.Thread)
    assert closed.archived
    assert closed.locked
    assert [t.name for t in closed.applied_tags] == ["Closed"]
