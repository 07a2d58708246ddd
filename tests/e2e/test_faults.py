"""Faults while the real process runs: after each, nothing lost, nothing doubled, and the
bot still serving both ways (a new customer message shows up, a new staff reply goes out).

Faults covered elsewhere and not repeated here: a 5xx on a reply
(test_outbound.test_sellapp_down_shows_waiting_then_delivers_once) and a poll outage shown
in /sellapp status (test_commands.test_status_shows_a_sellapp_outage_in_plain_words).
"""

from __future__ import annotations

import itertools
from typing import Any

from tests.e2e.checks import (
    REPLY_PATH,
    all_delivered,
    parts_expected,
    parts_shown,
    replies_at_sellapp,
    thread_in_order,
)
from tests.e2e.conftest import StartBot
from tests.e2e.harness import (
    SELLAPP_KEY,
    STORE,
    BotProcess,
    World,
    answer,
    channel,
    group_sub,
    role,
    sub,
    ticket_thread,
)
from tests.e2e.leaks import assert_nothing_leaked
from tests.e2e.test_commands import connect
from tests.fakes.discord import Channel, Message, Overwrite, Perm

LIST = r"/api/v1/tickets$"
MESSAGES = r"/api/v1/tickets/\d+/messages$"
POSTS = r"/channels/\d+/messages"
OTHER_KEY = "sk_live_faults_other_store_0123456789SECRET"


class Scene:
    """One ticket with a thread, the bot running; and what people said since."""

    def __init__(self, world: World, bot: BotProcess, ticket: dict[str, Any], thread: Channel):
        self.world = world
        self.bot = bot
        self.ticket_id: int = ticket["id"]
        self.thread = thread
        self.staff_said: list[Message] = []
        self.typed: list[str] = []

    def customer(self, text: str) -> None:
        self.world.sellapp.add_customer_message(STORE, self.ticket_id, text)
        # SellApp touches updated_at, so the next poll reads the ticket (how a quiet
        # ticket is still checked has its own tests in test_sync).
        self.world.sellapp.set_ticket_status(STORE, self.ticket_id, "OPEN")

    def staff(self, text: str) -> Message:
        said = self.world.discord.member_says(self.thread.id, self.world.staff, text)
        self.staff_said.append(said)
        self.typed.append(text)
        return said

    def polls(self) -> int:
        return sum(1 for line in self.bot.lines if "poll done" in line)

    async def still_serving(self, timeout: float = 30.0) -> None:
        """Both ways still work, and everything so far is there exactly once, in order."""
        self.customer("still there?")
        self.staff("yes, still here")
        world = self.world
        await world.discord.wait_for(
            lambda: (
                thread_in_order(world, world.forum_channel, self.ticket_id)
                and all_delivered(self.staff_said)
            ),
            timeout=timeout,
        )
        self.assert_exactly_once()

    def assert_exactly_once(self) -> None:
        shown = parts_shown(self.world, self.thread)
        assert len(shown) == len(set(shown)), "a message was posted twice"
        assert shown == parts_expected(self.world, self.ticket_id)
        assert replies_at_sellapp(self.world, self.ticket_id) == self.typed
        assert len(self.world.discord.threads_in(self.world.forum_channel.id)) == 1


async def scene(world: World, start_bot: StartBot, **env: str) -> Scene:
    ticket = world.sellapp.add_ticket(STORE, messages=["first question"])
    bot = await start_bot(**env)
    thread = await world.discord.wait_for(
        lambda: ticket_thread(world, world.forum_channel, ticket["id"]), timeout=20
    )
    found = Scene(world, bot, ticket, thread)
    await world.discord.wait_for(lambda: parts_shown(world, thread) or None, timeout=20)
    return found


async def finish(s: Scene, *, secrets: tuple[str, ...] = ()) -> None:
    await s.still_serving()
    assert await s.bot.terminate() == 0
    assert_nothing_leaked(s.world, [s.bot], secrets=secrets)


# --- SellApp ------------------------------------------------------------------------------


async def test_sellapp_5xx_burst_on_every_endpoint_loses_and_doubles_nothing(
    world: World, start_bot: StartBot
) -> None:
    s = await scene(world, start_bot)
    # Enough 503s to exhaust the client's retries: whole polls and a reply fail.
    world.sellapp.fail(path=LIST, status=503, times=7)
    world.sellapp.fail(path=MESSAGES, method="GET", status=502, times=4)
    for i in range(3):
        s.customer(f"during the outage {i}")
    await s.bot.wait_for_line(r"poll failed")
    await finish(s)


async def test_sellapp_429_is_retried_after_retry_after_and_sent_once(
    world: World, start_bot: StartBot
) -> None:
    s = await scene(world, start_bot)
    world.sellapp.fail(path=REPLY_PATH, method="POST", status=429, retry_after=1, times=2)
    world.sellapp.fail(path=LIST, status=429, retry_after=1, times=2)
    said = s.staff("rate limited answer")
    s.customer("rate limited question")
    await world.discord.wait_for(lambda: "✅" in said.reactions or None, timeout=30)
    posts = [r.time for r in world.sellapp.requests_to("POST", REPLY_PATH)]
    assert len(posts) == 3  # two 429s, then the one that went through
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(posts)), posts
    assert replies_at_sellapp(world, s.ticket_id) == ["rate limited answer"]
    await finish(s)


async def test_sellapp_malformed_json_loses_and_doubles_nothing(
    world: World, start_bot: StartBot
) -> None:
    s = await scene(world, start_bot)
    world.sellapp.malformed_json(path=LIST, times=4)
    world.sellapp.malformed_json(path=MESSAGES, method="GET", times=4)
    s.customer("question while SellApp talks nonsense")
    await world.discord.wait_for(
        lambda: thread_in_order(world, world.forum_channel, s.ticket_id), timeout=20
    )
    # An unreadable answer to a reply: its outcome is unknown (here: not stored).
    world.sellapp.malformed_json(path=REPLY_PATH, method="POST", times=1)
    s.staff("answer while SellApp talks nonsense")
    await finish(s)


async def test_sellapp_missing_or_mistyped_fields_lose_and_double_nothing(
    world: World, start_bot: StartBot
) -> None:
    s = await scene(world, start_bot)
    for shape in ("missing_fields", "wrong_types", "data_string"):
        world.sellapp.wrong_shape(path=LIST, shape=shape, times=1)  # type: ignore[arg-type]
        world.sellapp.wrong_shape(path=MESSAGES, method="GET", shape=shape, times=1)  # type: ignore[arg-type]
    s.customer("question while SellApp answers oddly")
    await world.discord.wait_for(
        lambda: thread_in_order(world, world.forum_channel, s.ticket_id), timeout=20
    )
    # SellApp stores the reply but answers in a shape we can't read: adopted, not resent.
    world.sellapp.reply_shape = "wrapped"
    world.sellapp.wrong_shape(path=REPLY_PATH, method="POST", shape="wrong_types", times=1)
    s.staff("answer stored but answered oddly")
    await world.discord.wait_for(lambda: all_delivered(s.staff_said) or None, timeout=30)
    assert replies_at_sellapp(world, s.ticket_id) == ["answer stored but answered oddly"]
    await finish(s)


async def test_sellapp_cut_connections_lose_and_double_nothing(
    world: World, start_bot: StartBot
) -> None:
    s = await scene(world, start_bot)
    cuts = [
        world.sellapp.cut_connection(path=LIST, times=4),
        world.sellapp.cut_connection(path=MESSAGES, method="GET", times=4),
        world.sellapp.cut_connection(path=REPLY_PATH, method="POST", times=1),
    ]
    s.customer("question over a bad line")
    s.staff("answer over a bad line")
    await finish(s)
    # Each kind of cut really happened (else this test would pass on a good line).
    assert all(cut.hits > 0 for cut in cuts), [cut.hits for cut in cuts]


async def test_sellapp_slow_answers_lose_and_double_nothing(
    world: World, start_bot: StartBot
) -> None:
    s = await scene(world, start_bot)
    slow = world.sellapp.latency(2.0, path=MESSAGES, method="GET", times=2)
    hung = world.sellapp.hang_after(2.0, path=REPLY_PATH, method="POST", times=1)
    s.customer("question on a slow line")
    s.staff("answer on a slow line")
    await finish(s)
    # Both kinds of slow answer were really given (one slow read may carry both
    # customer messages, so the second latency need not fire).
    assert slow.hits > 0
    assert hung.hits == 1


async def test_revoked_key_marks_only_its_guild_failing(world: World, start_bot: StartBot) -> None:
    fake = world.discord
    b = fake.add_guild("Second shop")
    b_role = fake.add_role(b, "B staff")
    b_staff = fake.add_member(b, "bea", roles=[b_role])
    b_channel = fake.add_text_channel(b, "b-tickets")
    b_admin = b.members[b.owner_id]
    world.sellapp.add_account(OTHER_KEY, ["other-store"])
    b_ticket = world.sellapp.add_ticket("other-store", messages=["B's question"])
    s = await scene(world, start_bot)
    world_b = World(
        fake, world.sellapp, b, b_role, b_staff, b_staff, b_channel, b_channel, world.tmp
    )
    assert "other-store" in (await connect(world_b, s.bot, OTHER_KEY, "other-store")).text
    for options in (
        sub("channel", channel=channel(b_channel.id)),
        group_sub("staff", "add", role=role(b_role.id)),
    ):
        await answer(world, fake.run_command(b, b_channel.id, b_admin, "sellapp", options))
    b_thread = await fake.wait_for(lambda: ticket_thread(world, b_channel, b_ticket["id"]), 20)

    # Guild A's key dies (the key itself: a fault on the next list request could as well
    # hit guild B's poll, when B polls first).
    world.sellapp.revoke_key(SELLAPP_KEY)
    await s.bot.wait_for_line(rf"guild {world.guild.id}: poll failed")
    status = await answer(
        world,
        fake.run_command(world.guild, world.text_channel.id, world.admin, "sellapp", sub("status")),
    )
    assert "failing" in status.fields["State"]
    assert "SellApp refused the API key" in status.fields["Last error"]
    said = s.staff("answer with a dead key")
    await fake.wait_for(lambda: "❌" in said.reactions or None, timeout=20)
    # Guild B carries on, both ways.
    new = world.sellapp.add_customer_message("other-store", b_ticket["id"], "B again")
    b_said = fake.member_says(b_thread.id, b_staff, "B's answer")
    await fake.wait_for(
        lambda: (
            thread_in_order(world, b_channel, b_ticket["id"], "other-store")
            and "✅" in b_said.reactions
        ),
        timeout=20,
    )
    assert parts_shown(world, b_thread)[-1] == (new["id"], 1)
    assert replies_at_sellapp(world, b_ticket["id"], "other-store") == ["B's answer"]
    b_status = await answer(
        world, fake.run_command(b, b_channel.id, b_admin, "sellapp", sub("status"))
    )
    assert "running" in b_status.fields["State"]
    assert replies_at_sellapp(world, s.ticket_id) == []
    assert await s.bot.terminate() == 0
    assert_nothing_leaked(world, [s.bot], secrets=(OTHER_KEY,))


# --- Discord ------------------------------------------------------------------------------


async def test_discord_429s_lose_and_double_nothing(world: World, start_bot: StartBot) -> None:
    s = await scene(world, start_bot)
    world.discord.fail_next("POST", POSTS, 429, times=3, retry_after=0.3)
    world.discord.fail_next("PUT", r"/channels/\d+/messages/\d+/reactions/.+", 429, times=2)
    for i in range(3):
        s.customer(f"question {i} into a rate limit")
    s.staff("answer into a rate limit")
    await finish(s)
    assert world.discord.rate_limited_count >= 3


async def test_discord_5xx_lose_and_double_nothing(world: World, start_bot: StartBot) -> None:
    s = await scene(world, start_bot)
    outage = world.discord.fail_next("POST", POSTS, 503, times=2)
    for i in range(3):
        s.customer(f"question {i} during a Discord outage")
    await finish(s)
    assert outage.hits == 2  # both 503s were really answered


async def test_deleted_thread_with_a_reply_in_it_loses_and_doubles_nothing(
    world: World, start_bot: StartBot
) -> None:
    s = await scene(world, start_bot)
    said = s.staff("answer just before the thread is deleted")
    await world.discord.wait_for(lambda: "✅" in said.reactions or None, timeout=20)
    world.discord.delete_channel(s.thread.id)
    s.customer("question after the delete")
    new = await world.discord.wait_for(
        lambda: ticket_thread(world, world.forum_channel, s.ticket_id), timeout=20
    )
    assert new.id != s.thread.id
    ours = {m["id"] for m in world.sellapp.messages(STORE, s.ticket_id) if m["sender"] is None}
    s.thread, s.staff_said = new, []  # the old thread's messages are gone with it
    s.customer("still there?")
    said = s.staff("yes, in the new thread")

    def history() -> list[tuple[int, int]]:
        # The new thread shows the whole history, our earlier reply too (marked as sent
        # from Discord); what staff answer in the new thread is not echoed.
        return [
            (m["id"], 1)
            for m in world.sellapp.messages(STORE, s.ticket_id)
            if m["sender"] is not None or m["id"] in ours
        ]

    await world.discord.wait_for(
        lambda: parts_shown(world, new) == history() and "✅" in said.reactions, timeout=20
    )
    assert replies_at_sellapp(world, s.ticket_id) == s.typed
    assert len(world.discord.threads_in(world.forum_channel.id)) == 1
    assert await s.bot.terminate() == 0
    assert_nothing_leaked(world, [s.bot])


async def test_deleted_channel_fails_plainly_until_a_new_one_is_set(
    world: World, start_bot: StartBot
) -> None:
    s = await scene(world, start_bot)
    for thread in world.discord.threads_in(world.forum_channel.id):
        world.discord.delete_channel(thread.id)  # Discord deletes a channel's threads with it
    world.discord.delete_channel(world.forum_channel.id)
    s.customer("question while the channel is gone")
    await s.bot.wait_for_line(r"poll failed")
    status = await answer(
        world,
        world.discord.run_command(
            world.guild, world.text_channel.id, world.admin, "sellapp", sub("status")
        ),
    )
    assert "failing" in status.fields["State"]
    assert "channel" in status.fields["Last error"]
    moved = await answer(
        world,
        world.discord.run_command(
            world.guild,
            world.text_channel.id,
            world.admin,
            "sellapp",
            sub("channel", channel=channel(world.text_channel.id)),
        ),
    )
    assert "Tickets will get threads" in moved.text
    # The ticket's whole history arrives in the new channel, each message once.
    await world.discord.wait_for(
        lambda: thread_in_order(world, world.text_channel, s.ticket_id), timeout=30
    )
    thread = ticket_thread(world, world.text_channel, s.ticket_id)
    assert thread is not None
    shown = parts_shown(world, thread)
    assert shown == parts_expected(world, s.ticket_id)
    said = world.discord.member_says(thread.id, world.staff, "answer in the new channel")
    await world.discord.wait_for(lambda: "✅" in said.reactions or None, timeout=20)
    assert replies_at_sellapp(world, s.ticket_id) == ["answer in the new channel"]
    assert await s.bot.terminate() == 0
    assert_nothing_leaked(world, [s.bot])


async def test_permissions_removed_then_restored_lose_and_double_nothing(
    world: World, start_bot: StartBot
) -> None:
    s = await scene(world, start_bot)
    bot_role = world.guild.bot_role_id
    deny = Perm.SEND_MESSAGES | Perm.SEND_MESSAGES_IN_THREADS
    world.discord.set_overwrites(world.forum_channel.id, [Overwrite(bot_role, 0, deny=deny)])
    s.customer("question the bot may not post")
    await s.bot.wait_for_line(r"poll failed|missing permissions")
    status = await answer(
        world,
        world.discord.run_command(
            world.guild, world.text_channel.id, world.admin, "sellapp", sub("status")
        ),
    )
    assert "failing" in status.fields["State"]
    assert "permission" in status.fields["Last error"].lower()
    world.discord.set_overwrites(world.forum_channel.id, [])
    await finish(s)


async def test_gateway_drop_and_resume_lose_and_double_nothing(
    world: World, start_bot: StartBot
) -> None:
    s = await scene(world, start_bot)
    fake = world.discord
    resumes = fake.resume_count
    await fake.drop_gateway()
    # Typed while the bot is disconnected: Discord replays it on resume.
    s.staff("answer typed during the drop")
    s.customer("question during the drop")
    await fake.wait_for(lambda: fake.resume_count > resumes or None, timeout=20)
    await fake.wait_connected(timeout=20)
    await finish(s)
    assert fake.identify_count == 1
