"""The end state every fault and crash test checks: each SellApp message in its ticket's
thread exactly once and in order; each staff reply at SellApp exactly once and in order."""

from __future__ import annotations

from collections.abc import Iterable

from bot.inbound.render import escape_markdown, read_marker, split_text
from tests.e2e.harness import STORE, World, ticket_thread
from tests.fakes.discord import Channel, Message

REPLY_PATH = r"/api/v1/tickets/\d+/messages$"


def parts_shown(world: World, thread: Channel) -> list[tuple[int, int]]:
    """(SellApp message id, part) of every bot post in the thread, in thread order."""
    found = []
    for message in world.discord.messages_in(thread.id):
        if message.author.id == world.discord.bot.id:
            marker = read_marker(message.embeds)
            if marker is not None:
                found.append((marker.message_id, marker.part))
    return found


def parts_expected(world: World, ticket_id: int, store: str = STORE) -> list[tuple[int, int]]:
    """Every customer and dashboard message at SellApp, one entry per part, ascending id."""
    out = []
    for m in sorted(world.sellapp.messages(store, ticket_id), key=lambda m: m["id"]):
        if m["author"] == "STORE" and m["sender"] is None:
            continue  # a reply that came through the API: ours, never echoed
        parts = len(split_text(escape_markdown(m["content"]))) if m["content"].strip() else 1
        out.extend((m["id"], part) for part in range(1, parts + 1))
    return out


def replies_at_sellapp(world: World, ticket_id: int, store: str = STORE) -> list[str]:
    """What staff sent through the bridge, as SellApp has it, in order."""
    return [
        m["content"]
        for m in world.sellapp.messages(store, ticket_id)
        if m["author"] == "STORE" and m["sender"] is None
    ]


def thread_in_order(world: World, channel: Channel, ticket_id: int, store: str = STORE) -> bool:
    thread = ticket_thread(world, channel, ticket_id)
    return thread is not None and parts_shown(world, thread) == parts_expected(
        world, ticket_id, store
    )


def all_delivered(said: Iterable[Message]) -> bool:
    return all("✅" in m.reactions for m in said)
