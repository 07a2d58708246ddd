"""The fake Discord against the real discord.py client, in-process over loopback."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest
import yarl
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord import Channel, FakeDiscord, Guild, Member, Overwrite, Perm, Role

MESSAGES = r"/channels/\d+/messages"


@dataclass
class World:
    fake: FakeDiscord
    guild: Guild
    staff: Role
    agent: Member
    customer_channel: Channel
    staff_channel: Channel
    forum: Channel


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with FakeDiscord(heartbeat_interval_ms=1000) as fake:
        base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = fake.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
        try:
            guild = fake.add_guild("Support")
            staff = fake.add_role(guild, "Staff", Perm.BRIDGE)
            agent = fake.add_member(guild, "agent", roles=[staff])
            hidden = [
                Overwrite(guild.id, 0, deny=Perm.VIEW_CHANNEL),
                Overwrite(staff.id, 0, allow=Perm.VIEW_CHANNEL),
                Overwrite(guild.bot_role_id, 0, allow=Perm.VIEW_CHANNEL),
            ]
            yield World(
                fake=fake,
                guild=guild,
                staff=staff,
                agent=agent,
                customer_channel=fake.add_text_channel(
                    guild, "lobby", [Overwrite(guild.bot_role_id, 0, deny=Perm.SEND_MESSAGES)]
                ),
                staff_channel=fake.add_text_channel(guild, "tickets", hidden),
                forum=fake.add_forum_channel(
                    guild, "ticket-forum", tags=["open", "closed"], overwrites=hidden
                ),
            )
            assert fake.errors == []
        finally:
            discord.http.Route.BASE = base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


class ReplyModal(discord.ui.Modal, title="Reply to the customer"):
    body: discord.ui.TextInput[ReplyModal] = discord.ui.TextInput(
        label="Reply", custom_id="reply-body"
    )

    def __init__(self, received: list[str]) -> None:
        super().__init__()
        self.received = received

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.received.append(self.body.value)
        await interaction.response.send_message("Sent.", ephemeral=True)


@dataclass
class Seen:
    statuses: list[discord.Interaction] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)


class Bot(commands.Bot):
    def __init__(self) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True
        intents.message_content = True
        super().__init__(
            command_prefix="!",
            intents=intents,
            guild_ready_timeout=0.05,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.seen = Seen()

    async def setup_hook(self) -> None:
        group = app_commands.Group(name="sellapp", description="SellApp bridge")
        seen = self.seen

        @group.command(name="status", description="Bridge status")
        async def status(interaction: discord.Interaction) -> None:
            seen.statuses.append(interaction)
            await interaction.response.send_message("All good.", ephemeral=True)

        @group.command(name="slow", description="A deferred answer")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await interaction.followup.send("Done after a while.", ephemeral=True)

        @group.command(name="reply", description="Reply with a form")
        async def reply(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(ReplyModal(seen.submitted))

        self.tree.add_command(group)


@asynccontextmanager
async def running(fake: FakeDiscord) -> AsyncIterator[Bot]:
    bot = Bot()
    task: asyncio.Task[None] | None = None
    try:
        await bot.login(fake.bot_token)
        task = asyncio.create_task(bot.connect())
        async with asyncio.timeout(5):
            await bot.wait_until_ready()
        yield bot
    finally:
        await bot.close()
        if task is not None:
            await task


def expect(bot: Bot, event: str, check: Any = None) -> asyncio.Future[Any]:
    return asyncio.ensure_future(bot.wait_for(event, check=check, timeout=5))


async def test_login_application_info_and_ready(world: World) -> None:
    fake = world.fake
    async with running(fake) as bot:
        assert bot.user is not None and bot.user.id == fake.bot.id
        assert bot.application_id == fake.application_id
        info = await bot.application_info()
        assert info.id == fake.application_id
        paths = [(r.method, r.path) for r in fake.requests]
        assert ("GET", "/users/@me") in paths
        assert ("GET", "/oauth2/applications/@me") in paths
        assert all(r.headers.get("Authorization") == "[redacted]" for r in fake.requests)
        assert fake.identify_count == 1 and fake.connected


async def test_command_sync_global_and_guild(world: World) -> None:
    fake = world.fake
    async with running(fake) as bot:
        synced = await bot.tree.sync()
        guild_obj = discord.Object(world.guild.id)
        bot.tree.copy_global_to(guild=guild_obj)
        synced_guild = await bot.tree.sync(guild=guild_obj)
    assert [c.name for c in synced] == ["sellapp"]
    assert synced[0].id == fake.commands[0].id
    assert {c.guild_id for c in fake.commands} == {None, world.guild.id}
    assert synced_guild[0].guild_id == world.guild.id
    options = {o["name"] for o in fake.commands[0].payload["options"]}
    assert options == {"status", "slow", "reply"}


async def test_guild_create_channels_roles_and_permissions(world: World) -> None:
    fake = world.fake
    async with running(fake) as bot:
        guild = bot.get_guild(world.guild.id)
        assert guild is not None and guild.me is not None
        assert guild.member_count == len(world.guild.members)
        assert list(guild.members) == [guild.me]  # no GUILD_MEMBERS intent: only the bot itself
        assert {r.name for r in guild.roles} >= {"@everyone", "Staff", fake.bot.username}
        text = guild.get_channel(world.staff_channel.id)
        forum = guild.get_channel(world.forum.id)
        assert isinstance(text, discord.TextChannel)
        assert isinstance(forum, discord.ForumChannel)
        assert [t.name for t in forum.available_tags] == ["open", "closed"]
        for channel in (world.staff_channel, world.customer_channel, world.forum):
            resolved = guild.get_channel(channel.id)
            assert resolved is not None
            mine = resolved.permissions_for(guild.me)
            assert mine.value == fake.permissions(channel, fake.bot.id)
        lobby = guild.get_channel(world.customer_channel.id)
        assert lobby is not None and not lobby.permissions_for(guild.me).send_messages
        assert fake.permissions(world.staff_channel, world.agent.id) & Perm.MANAGE_THREADS
        nobody = fake.add_member(world.guild, "nobody")
        assert not fake.permissions(world.staff_channel, nobody.id) & Perm.VIEW_CHANNEL


async def test_threads_and_forum_posts_resolve_as_threads(world: World) -> None:
    fake = world.fake
    async with running(fake) as bot:
        text = bot.get_channel(world.staff_channel.id)
        forum = bot.get_channel(world.forum.id)
        assert isinstance(text, discord.TextChannel) and isinstance(forum, discord.ForumChannel)
        created = expect(bot, "thread_create", lambda t: t.name == "ticket-1")
        thread = await text.create_thread(name="ticket-1", type=discord.ChannelType.public_thread)
        assert (await created).id == thread.id
        assert isinstance(bot.get_channel(thread.id), discord.Thread)
        assert fake.channel(thread.id).type == 11

        open_tag = forum.available_tags[0]
        post_created = expect(bot, "thread_create", lambda t: t.name == "ticket-2")
        post = await forum.create_thread(
            name="ticket-2",
            content="A new ticket",
            applied_tags=[open_tag],
            allowed_mentions=discord.AllowedMentions.none(),
        )
        await post_created
        cached = bot.get_channel(post.thread.id)
        assert isinstance(cached, discord.Thread) and cached.parent_id == forum.id
        assert [t.id for t in cached.applied_tags] == [open_tag.id]
        assert post.message.id == post.thread.id and post.message.content == "A new ticket"
        assert [t.name for t in fake.threads_in(world.forum.id)] == ["ticket-2"]
        assert fake.messages_in(post.thread.id)[0].content == "A new ticket"


async def test_messages_embeds_history_reactions_edits(world: World) -> None:
    fake = world.fake
    async with running(fake) as bot:
        text = bot.get_channel(world.staff_channel.id)
        assert isinstance(text, discord.TextChannel)
        thread = await text.create_thread(name="ticket-3", type=discord.ChannelType.public_thread)
        embed = discord.Embed(title="Customer", description="@everyone help")
        first = await thread.send(
            "hello <@&1>", embed=embed, allowed_mentions=discord.AllowedMentions.none()
        )
        second = await thread.send(
            "second", file=discord.File(io.BytesIO(b"log"), filename="log.txt")
        )
        stored = fake.messages_in(thread.id)
        assert [m.content for m in stored] == ["hello <@&1>", "second"]
        assert stored[0].allowed_mentions == {"parse": []}
        assert stored[0].embeds[0]["title"] == "Customer"
        assert stored[1].attachments[0]["filename"] == "log.txt"
        assert second.attachments[0].filename == "log.txt"

        history = [m.id async for m in thread.history(limit=10)]
        assert history == [second.id, first.id]
        older = [m.id async for m in thread.history(limit=10, before=second)]
        assert older == [first.id]
        fetched = await thread.fetch_message(first.id)
        assert fetched.embeds[0].description == "@everyone help"

        await first.add_reaction("✅")
        assert stored[0].reactions == ["✅"]
        edited = await first.edit(content="hello again")
        assert edited.content == "hello again" and stored[0].edited_timestamp is not None
        await second.delete()
        assert [m.id for m in fake.messages_in(thread.id)] == [first.id]


async def test_thread_edits_archive_lock_and_tags(world: World) -> None:
    fake = world.fake
    async with running(fake) as bot:
        forum = bot.get_channel(world.forum.id)
        assert isinstance(forum, discord.ForumChannel)
        open_tag, closed_tag = forum.available_tags
        post = await forum.create_thread(name="ticket-4", content="hi", applied_tags=[open_tag])
        updated = expect(bot, "raw_thread_update", lambda e: e.thread_id == post.thread.id)
        thread = await post.thread.edit(archived=True, locked=True, applied_tags=[closed_tag])
        await updated
        record = fake.channel(thread.id)
        assert record.archived and record.locked and record.applied_tags == [closed_tag.id]
        assert bot.get_channel(thread.id) is None  # archived threads leave the cache, as on Discord

        with pytest.raises(discord.Forbidden) as locked:
            await thread.send("into a locked thread")
        assert locked.value.code == 50083

        await thread.edit(archived=False, locked=False)
        fake.archive_thread(thread.id)
        assert fake.channel(thread.id).archived
        await thread.send("wakes it up")
        assert not fake.channel(thread.id).archived

        with pytest.raises(discord.HTTPException) as bad_tag:
            await thread.edit(applied_tags=[discord.Object(12345)])  # type: ignore[list-item]
        assert bad_tag.value.code == 50035


async def test_member_message_reaches_on_message(world: World) -> None:
    fake = world.fake
    async with running(fake) as bot:
        text = bot.get_channel(world.staff_channel.id)
        assert isinstance(text, discord.TextChannel)
        created = expect(bot, "thread_create")
        thread = await text.create_thread(name="ticket-5", type=discord.ChannelType.public_thread)
        await created
        arrived = expect(bot, "message", lambda m: m.author.id == world.agent.id)
        sent = fake.member_says(
            thread.id, world.agent, "We refunded you.", attachments=[{"filename": "receipt.pdf"}]
        )
        message: discord.Message = await arrived
        assert message.id == sent.id and message.content == "We refunded you."
        assert isinstance(message.channel, discord.Thread) and message.channel.id == thread.id
        assert isinstance(message.author, discord.Member)
        assert world.staff.id in [r.id for r in message.author.roles]
        assert message.attachments[0].filename == "receipt.pdf"

        edited = expect(bot, "raw_message_edit", lambda e: e.message_id == sent.id)
        fake.member_edits(sent, "We refunded you in full.")
        assert (await edited).data["content"] == "We refunded you in full."
        deleted = expect(bot, "raw_message_delete", lambda e: e.message_id == sent.id)
        fake.member_deletes(sent)
        await deleted


async def test_slash_command_ephemeral_and_deferred_followup(world: World) -> None:
    fake = world.fake
    async with running(fake) as bot:
        await bot.tree.sync()
        status = fake.run_command(
            world.guild,
            world.staff_channel.id,
            world.agent,
            "sellapp",
            [{"type": 1, "name": "status"}],
        )
        response = await fake.wait_for_response(status, timeout=5)
        assert response.type == 4 and response.ephemeral and response.content == "All good."
        assert bot.seen.statuses[0].user.id == world.agent.id
        assert bot.seen.statuses[0].permissions.manage_threads

        slow = fake.run_command(
            world.guild,
            world.staff_channel.id,
            world.agent,
            "sellapp",
            [{"type": 1, "name": "slow"}],
        )
        deferred = await fake.wait_for_response(slow, timeout=5)
        assert deferred.type == 5 and deferred.ephemeral
        await fake.wait_for(lambda: slow.followups, timeout=5)
        assert slow.followups[0].content == "Done after a while."
        assert fake.messages_in(world.staff_channel.id) == []  # ephemeral answers stay private


async def test_modal_submit_reaches_on_submit(world: World) -> None:
    fake = world.fake
    async with running(fake) as bot:
        await bot.tree.sync()
        command = fake.run_command(
            world.guild,
            world.staff_channel.id,
            world.agent,
            "sellapp",
            [{"type": 1, "name": "reply"}],
        )
        modal = await fake.wait_for_response(command, timeout=5)
        assert modal.type == 9 and modal.data["title"] == "Reply to the customer"
        submit = fake.submit_modal(
            world.guild,
            world.staff_channel.id,
            world.agent,
            modal.data["custom_id"],
            {"reply-body": "Hi!"},
        )
        answer = await fake.wait_for_response(submit, timeout=5)
        assert bot.seen.submitted == ["Hi!"]
        assert answer.content == "Sent." and answer.ephemeral


async def test_429_is_waited_out_and_retried(world: World) -> None:
    fake = world.fake
    async with running(fake) as bot:
        channel = bot.get_channel(world.staff_channel.id)
        assert isinstance(channel, discord.TextChannel)
        fake.fail_next("POST", MESSAGES, 429, retry_after=0.1)
        started = time.monotonic()
        await channel.send("after a rate limit")
        assert time.monotonic() - started >= 0.1
        sends = fake.requests_to("POST", MESSAGES)
        assert [r.status for r in sends] == [429, 200]
        assert fake.rate_limited_count == 1
        assert len(fake.messages_in(channel.id)) == 1


async def test_403_and_404_raise_discord_errors(world: World) -> None:
    fake = world.fake
    async with running(fake) as bot:
        channel = bot.get_channel(world.staff_channel.id)
        assert isinstance(channel, discord.TextChannel)
        fake.fail_next("POST", MESSAGES, 403)
        with pytest.raises(discord.Forbidden) as forbidden:
            await channel.send("no")
        assert forbidden.value.code == 50013
        fake.fail_next("GET", r"/channels/\d+", 404)
        with pytest.raises(discord.NotFound) as not_found:
            await bot.fetch_channel(channel.id)
        assert not_found.value.code == 10003
        with pytest.raises(discord.NotFound) as unknown_channel:
            await bot.fetch_channel(424242)
        assert unknown_channel.value.code == 10003
        lobby = bot.get_channel(world.customer_channel.id)
        assert isinstance(lobby, discord.TextChannel)
        with pytest.raises(discord.Forbidden):  # the fake enforces the configured overwrites
            await lobby.send("the bot may not talk here")
        with pytest.raises(discord.NotFound):
            await bot.http.request(discord.http.Route("GET", "/users/@me/guilds"))
        assert [r.path for r in fake.unknown_requests] == ["/users/@me/guilds"]


async def test_gateway_drop_resumes_and_replays(world: World) -> None:
    fake = world.fake
    async with running(fake) as bot:
        text = bot.get_channel(world.staff_channel.id)
        assert isinstance(text, discord.TextChannel)
        resumed = expect(bot, "resumed")
        await fake.drop_gateway()
        missed = fake.member_says(text.id, world.agent, "sent while the bot was away")
        arrived = expect(bot, "message", lambda m: m.id == missed.id)
        await resumed
        await arrived
        assert fake.resume_count == 1 and fake.identify_count == 1
        later = expect(bot, "message", lambda m: m.content == "after the resume")
        fake.member_says(text.id, world.agent, "after the resume")
        await later
        assert fake.heartbeat_count >= 2


async def test_wrong_token_is_login_failure(world: World) -> None:
    bot = Bot()
    try:
        with pytest.raises(discord.LoginFailure):
            await bot.login("not-the-token")
    finally:
        await bot.close()
    assert world.fake.requests[0].status == 401


async def test_rate_limit_enforcer_paces_message_sends(world: World) -> None:
    fake = world.fake
    fake.enable_rate_limits(messages_per_window=2, window=0.3)
    async with running(fake) as bot:
        channel = bot.get_channel(world.staff_channel.id)
        assert isinstance(channel, discord.TextChannel)
        started = time.monotonic()
        for n in range(5):
            await channel.send(f"message {n}")
        assert time.monotonic() - started >= 0.5  # two full windows waited out by discord.py
        assert [m.content for m in fake.messages_in(channel.id)] == [
            f"message {n}" for n in range(5)
        ]


async def test_wait_for_times_out_with_a_clear_error(world: World) -> None:
    with pytest.raises(TimeoutError, match="condition not met"):
        await world.fake.wait_for(lambda: world.fake.commands, timeout=0.05)


async def test_ended_session_makes_the_bot_identify_again(world: World) -> None:
    fake = world.fake
    async with running(fake) as bot:
        # discord.py waits a few seconds after an invalid session before identifying.
        ready = asyncio.ensure_future(bot.wait_for("ready", timeout=20))
        await fake.end_session()
        await ready
        assert fake.identify_count == 2 and fake.resume_count == 0
        await fake.wait_connected()
