"""The inbound Discord edge (bot/inbound/discord_edge.py) on SimCord.

Threads made, tagged, closed and reopened as staff see them in Discord, and each
discord.py error turned into the one of ours the engine decides on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest

from bot.errors import ChannelUnusable, DiscordUnavailable, ThreadGone, ThreadUnusable
from bot.inbound.discord_edge import DiscordThreads
from bot.inbound.render import Post
from tests.sim import Sim, simulated

STARTER = Post(embeds=({"title": "Ticket #7: Refund", "description": "from ann@example.com"},))
MISSING_PERMISSIONS = 50013
THREAD_ARCHIVED = 50083


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Sim]:
    async with simulated(tmp_path) as world:
        yield world


def threads(sim: Sim) -> DiscordThreads:
    return DiscordThreads(sim.bot, sim.bot.pacer)


def marked(message_id: int, text: str = "hello") -> Post:
    return Post(
        embeds=({"description": text, "footer": {"text": f"SellApp message {message_id}"}},)
    )


async def fetched_thread(sim: Sim, thread_id: int) -> discord.Thread:
    thread = await sim.bot.fetch_channel(thread_id)
    assert isinstance(thread, discord.Thread)
    return thread


async def test_forum_post_gets_the_open_tag_created_if_missing(sim: Sim) -> None:
    thread_id = await threads(sim).create_thread(sim.forum.id, "#7 · Refund", STARTER)

    thread = await fetched_thread(sim, thread_id)
    assert thread.name == "#7 · Refund"
    assert thread.parent_id == sim.forum.id
    assert [t.name for t in thread.applied_tags] == ["Open"]
    forum = await sim.bot.fetch_channel(sim.forum.id)
    assert isinstance(forum, discord.ForumChannel)
    # Triage's tags are created in the same request (issue 16).
    assert sorted(t.name for t in forum.available_tags) == [
        "Awaiting customer",
        "Awaiting staff",
        "Claimed",
        "Closed",
        "Open",
    ]
    [starter] = sim.thread_named("#7 · ").history()
    assert starter.embeds[0].title == "Ticket #7: Refund"


async def test_text_channel_gets_a_public_thread_with_the_ticket_as_first_message(
    sim: Sim,
) -> None:
    thread_id = await threads(sim).create_thread(sim.lobby.id, "#8 · Login", STARTER)

    thread = await fetched_thread(sim, thread_id)
    assert thread.type is discord.ChannelType.public_thread
    assert thread.parent_id == sim.lobby.id
    [starter] = sim.thread_named("#8 · ").history()
    assert starter.embeds[0].title == "Ticket #7: Refund"


async def test_closing_archives_locks_and_tags_closed_and_reopening_undoes_it(
    sim: Sim,
) -> None:
    # SimCord asks for Manage Channels to archive or lock a thread (Discord: Manage
    # Threads, or owning it); its default bot role has both, so this passes on either.
    edge = threads(sim)
    thread_id = await edge.create_thread(sim.forum.id, "#9 · Refund", STARTER)

    await edge.set_closed(thread_id, closed=True)
    closed = await fetched_thread(sim, thread_id)
    await edge.set_closed(thread_id, closed=False)
    reopened = await fetched_thread(sim, thread_id)

    assert (closed.archived, closed.locked) == (True, True)
    assert [t.name for t in closed.applied_tags] == ["Closed"]
    assert (reopened.archived, reopened.locked) == (False, False)
    assert [t.name for t in reopened.applied_tags] == ["Open"]


async def test_posting_in_a_closed_thread_reopens_it_first(sim: Sim) -> None:
    edge = threads(sim)
    thread_id = await edge.create_thread(sim.lobby.id, "#10 · Late", STARTER)
    await edge.set_closed(thread_id, closed=True)
    # SimCord accepts a message in an archived, locked thread (and leaves it archived);
    # Discord answers 400 with code 50083 "Thread is archived": inject that answer.
    sim.env.inject_error(
        "POST", f"/channels/{thread_id}/messages", status=400, code=THREAD_ARCHIVED
    )

    message_id = await edge.post(thread_id, marked(501, "one more thing"))

    thread = await fetched_thread(sim, thread_id)
    assert not thread.archived
    assert sim.thread_named("#10 · ").history()[-1].id == message_id


async def test_find_thread_and_recent_markers_read_back_what_the_bot_posted(sim: Sim) -> None:
    edge = threads(sim)
    thread_id = await edge.create_thread(sim.forum.id, "#11 · Refund", STARTER)
    first = await edge.post(thread_id, marked(601))
    second = await edge.post(thread_id, marked(602))

    assert await edge.find_thread(sim.forum.id, 11) == thread_id
    assert await edge.find_thread(sim.forum.id, 12) is None
    assert await edge.recent_markers(thread_id, limit=50) == {(601, 1): first, (602, 1): second}


async def test_a_deleted_channel_is_channel_unusable(sim: Sim) -> None:
    with pytest.raises(ChannelUnusable, match="the channel no longer exists"):
        await threads(sim).create_thread(424242424242424242, "#1 · x", STARTER)


async def test_a_deleted_thread_is_thread_gone(sim: Sim) -> None:
    with pytest.raises(ThreadGone) as gone:
        await threads(sim).post(424242424242424242, marked(1))
    assert gone.value.thread_id == 424242424242424242


async def test_a_channel_that_is_not_text_or_forum_is_channel_unusable(sim: Sim) -> None:
    voice = sim.guild.create_voice_channel("voice")

    with pytest.raises(ChannelUnusable, match="not a text or forum channel"):
        await threads(sim).create_thread(voice.id, "#1 · x", STARTER)


async def test_discord_5xx_is_discord_unavailable(sim: Sim) -> None:
    edge = threads(sim)
    thread_id = await edge.create_thread(sim.lobby.id, "#12 · x", STARTER)
    sim.env.inject_error("POST", f"/channels/{thread_id}/messages", status=503)

    with pytest.raises(DiscordUnavailable):
        await edge.post(thread_id, marked(1))


async def test_permissions_taken_away_in_the_channel_make_it_channel_unusable(sim: Sim) -> None:
    edge = threads(sim)
    thread_id = await edge.create_thread(sim.lobby.id, "#13 · x", STARTER)
    me = sim.guild.me
    assert me is not None
    lobby = sim.bot.get_channel(sim.lobby.id)
    assert isinstance(lobby, discord.TextChannel)
    # An admin takes the permission away (through the bot's client: SimCord's builders
    # set overwrites only when making a channel).
    await lobby.set_permissions(me, send_messages_in_threads=False)

    with pytest.raises(ChannelUnusable) as refused:
        await edge.post(thread_id, marked(1))
    assert refused.value.channel_id == sim.lobby.id


async def test_a_403_in_one_thread_with_the_channel_fine_is_thread_unusable(sim: Sim) -> None:
    edge = threads(sim)
    thread_id = await edge.create_thread(sim.lobby.id, "#14 · x", STARTER)
    sim.env.inject_error(
        "POST", f"/channels/{thread_id}/messages", status=403, code=MISSING_PERMISSIONS
    )

    with pytest.raises(ThreadUnusable) as refused:
        await edge.post(thread_id, marked(1))
    assert refused.value.thread_id == thread_id
