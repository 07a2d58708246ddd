"""The outbound Discord edge (bot/outbound/discord_edge.py) on SimCord.

Reactions on staff replies and the bot's short answers, best effort: a message that is
gone or a permission taken away is logged and swallowed (the outbox already recorded
the outcome), never raised into the relay.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest

from bot.inbound.discord_edge import DiscordThreads
from bot.inbound.render import Post
from bot.outbound.discord_edge import DiscordFeedback
from tests.sim import Sim, simulated

STARTER = Post(embeds=({"title": "Ticket #7: Refund"},))


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Sim]:
    async with simulated(tmp_path) as world:
        yield world


@pytest.fixture
async def staff_reply(sim: Sim) -> discord.Message:
    """A staff member's reply in a ticket thread made by the bot."""
    await DiscordThreads(sim.bot, sim.bot.pacer).create_thread(sim.lobby.id, "#7 · x", STARTER)
    return await sim.agent.send(sim.thread_named("#7 · "), "Your refund is on its way")


def feedback(sim: Sim) -> DiscordFeedback:
    return DiscordFeedback(sim.bot, sim.bot.pacer)


async def bot_reactions(sim: Sim, message: discord.Message) -> list[str]:
    fetched = await message.channel.fetch_message(message.id)
    return [str(r.emoji) for r in fetched.reactions if r.me]


async def test_react_then_unreact_shows_and_removes_the_bots_reaction(
    sim: Sim, staff_reply: discord.Message
) -> None:
    edge = feedback(sim)

    await edge.react(staff_reply.channel.id, staff_reply.id, "⏳")
    await edge.react(staff_reply.channel.id, staff_reply.id, "✅")
    both = await bot_reactions(sim, staff_reply)
    await edge.unreact(staff_reply.channel.id, staff_reply.id, "⏳")

    assert both == ["⏳", "✅"]
    assert await bot_reactions(sim, staff_reply) == ["✅"]


async def test_removing_a_reaction_never_added_is_swallowed(
    sim: Sim, staff_reply: discord.Message, caplog: pytest.LogCaptureFixture
) -> None:
    # SimCord answers 404 Unknown Message to removing a reaction never added (Discord
    # answers 204); either way nothing reaches the relay.
    with caplog.at_level(logging.INFO, logger="bot.outbound.discord_edge"):
        await feedback(sim).unreact(staff_reply.channel.id, staff_reply.id, "⏳")

    assert await bot_reactions(sim, staff_reply) == []


async def test_reacting_on_a_deleted_message_is_logged_as_gone(
    sim: Sim, staff_reply: discord.Message, caplog: pytest.LogCaptureFixture
) -> None:
    await sim.agent.delete(staff_reply)

    with caplog.at_level(logging.INFO, logger="bot.outbound.discord_edge"):
        await feedback(sim).react(staff_reply.channel.id, staff_reply.id, "✅")

    assert f"could not react on message {staff_reply.id}" in caplog.text
    assert "it is gone" in caplog.text


async def test_reacting_without_add_reactions_is_a_warning_not_an_error(
    sim: Sim, staff_reply: discord.Message, caplog: pytest.LogCaptureFixture
) -> None:
    lobby = sim.bot.get_channel(sim.lobby.id)
    me = sim.guild.me
    assert isinstance(lobby, discord.TextChannel)
    assert me is not None
    # An admin takes Add Reactions away (through the bot's client: SimCord's builders set
    # overwrites only when making a channel).
    await lobby.set_permissions(me, add_reactions=False)

    with caplog.at_level(logging.WARNING, logger="bot.outbound.discord_edge"):
        await feedback(sim).react(staff_reply.channel.id, staff_reply.id, "✅")

    assert "HTTP 403" in caplog.text
    assert await bot_reactions(sim, staff_reply) == []


async def test_say_answers_the_staff_message_without_pinging_anyone(
    sim: Sim, staff_reply: discord.Message
) -> None:
    await feedback(sim).say(
        staff_reply.channel.id, f"{sim.agent.mention} SellApp refused it.", staff_reply.id
    )

    said = sim.thread_named("#7 · ").last_message
    assert said is not None
    assert said.content == f"{sim.agent.mention} SellApp refused it."
    assert said.reference is not None
    assert said.reference.message_id == staff_reply.id
    # Discord lists a mention in the content either way; allowed_mentions decides the ping.
    sent = [
        r
        for r in sim.env.http_requests
        if r.method == "POST" and r.path == f"/channels/{staff_reply.channel.id}/messages"
    ][-1]
    assert isinstance(sent.json, dict)
    assert sent.json["allowed_mentions"] == {"parse": []}


async def test_say_in_a_deleted_thread_is_swallowed(
    sim: Sim, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bot.outbound.discord_edge"):
        await feedback(sim).say(424242424242424242, "Sent ✅", None)

    assert "could not post in message None in 424242424242424242: it is gone" in caplog.text
