"""A Discord that speaks the real REST and gateway protocols on loopback, for discord.py.

    async with FakeDiscord() as fake:
        guild = fake.add_guild("Support")
        staff = fake.add_role(guild, "Staff", Perm.BRIDGE)
        tickets = fake.add_forum_channel(guild, "tickets", tags=["open", "closed"])
        discord.http.Route.BASE = fake.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
        ...  # run the bot with fake.bot_token; drive it with member_says, run_command

Build state with `add_*`, act as people with the drivers, read what the bot did with `requests`,
`messages_in`, `threads_in`, `channel`, `commands` and `wait_for`; inject faults with
`fail_next`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from tests.fakes._discord_gateway import Gateway, shard_of
from tests.fakes._discord_limits import Fault, RateLimiter
from tests.fakes._discord_rest import RestApi
from tests.fakes._discord_state import (
    JSON,
    Channel,
    ChannelType,
    Guild,
    Interaction,
    InteractionResponse,
    Member,
    Message,
    Overwrite,
    Perm,
    RecordedRequest,
    Role,
    Snowflakes,
    SyncedCommand,
    User,
    compute_permissions,
    iso,
    new_token,
    now,
)

__all__ = [
    "Channel",
    "ChannelType",
    "FakeDiscord",
    "Guild",
    "Interaction",
    "InteractionResponse",
    "Member",
    "Message",
    "Overwrite",
    "Perm",
    "RecordedRequest",
    "Role",
    "SyncedCommand",
    "User",
]

T = TypeVar("T")
GUILD_MEMBERS_INTENT = 1 << 1


class FakeDiscord:
    def __init__(
        self,
        *,
        bot_token: str = "fake-bot-token",
        bot_name: str = "Bridge",
        heartbeat_interval_ms: int = 41250,
        recommended_shards: int = 1,
        max_guilds_per_shard: int = 2500,
    ) -> None:
        self.ids = Snowflakes()
        self.recommended_shards = recommended_shards
        """What ``GET /gateway/bot`` answers as ``shards``."""
        self.max_guilds_per_shard = max_guilds_per_shard
        """More guilds than this on one shard: IDENTIFY is closed with 4011 (sharding
        required), as Discord does past 2,500 guilds a shard."""
        self.bot_token = bot_token
        self.bot = User(self.ids.next(), bot_name, bot=True)
        self.application_id = self.bot.id
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, list[Message]] = {}
        self.uploads: dict[int, bytes] = {}
        """The bytes of every file uploaded, by attachment id."""
        self.interactions: dict[int, Interaction] = {}
        self.commands: list[SyncedCommand] = []
        self.requests: list[RecordedRequest] = []
        self.unknown_requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.errors: list[Exception] = []
        """Exceptions raised inside the fake's own handlers (each answered with a 500)."""
        self.rate_limiter = RateLimiter()
        self.closing_needs_manage_channels = False
        """Act like a host that asks Manage Channels (beyond the invite's permissions) to
        archive or lock a thread: such an edit is refused with 403 Missing Permissions."""
        self._changed_event = asyncio.Event()
        self.gateway = Gateway(
            token_ok=self._token_ok,
            ready_events=self._ready_events,
            resume_url=lambda: self.gateway_url,
            on_change=self.changed,
            refuse=self._refuse_identify,
        )
        self.gateway.heartbeat_interval_ms = heartbeat_interval_ms
        self._rest = RestApi(self)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self.gateway.handle)
        self._rest.register(app)
        # No access log (as the fake SellApp): a test that reads the bot's last log line
        # from the same process (tests/test_runner.py) must not race a request line.
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        bound_port = sockets[0].getsockname()[1]
        self.url = f"http://{host}:{bound_port}"

    async def stop(self) -> None:
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        return f"{self.url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/gateway"

    # -- building state ----------------------------------------------------------------------

    def add_guild(
        self,
        name: str,
        *,
        everyone_permissions: int = Perm.EVERYONE,
        bot_permissions: int = Perm.BRIDGE,
        shard: tuple[int, int] | None = None,
    ) -> Guild:
        """A guild with @everyone, an owner member and the bot (with its own managed role).
        ``shard=(id, count)``: its id puts it on that shard."""
        guild_id = self.ids.next() if shard is None else self.ids.next_on_shard(*shard)
        owner = User(self.ids.next(), f"{name.lower().replace(' ', '-')}-owner")
        guild = Guild(id=guild_id, name=name, owner_id=owner.id)
        guild.roles[guild_id] = Role(guild_id, guild_id, "@everyone", everyone_permissions)
        bot_role = Role(
            self.ids.next(), guild_id, self.bot.username, bot_permissions, 1, self.bot.id
        )
        guild.roles[bot_role.id] = bot_role
        guild.bot_role_id = bot_role.id
        guild.members[owner.id] = Member(owner, guild_id, [])
        guild.members[self.bot.id] = Member(self.bot, guild_id, [bot_role.id])
        self.guilds[guild_id] = guild
        self.changed()
        return guild

    def add_role(self, guild: Guild, name: str, permissions: int = 0) -> Role:
        role = Role(self.ids.next(), guild.id, name, permissions, len(guild.roles))
        guild.roles[role.id] = role
        self._dispatch_if_live(guild, "GUILD_ROLE_CREATE", {"role": role.payload()})
        return role

    def add_member(
        self, guild: Guild, username: str, roles: Iterable[Role | int] = (), *, bot: bool = False
    ) -> Member:
        user = User(self.ids.next(), username, bot=bot)
        member = Member(user, guild.id, [r.id if isinstance(r, Role) else r for r in roles])
        guild.members[user.id] = member
        self._dispatch_if_live(guild, "GUILD_MEMBER_ADD", member.payload())
        return member

    def bot_member(self, guild: Guild) -> Member:
        return guild.members[self.bot.id]

    def add_text_channel(
        self,
        guild: Guild,
        name: str,
        overwrites: Iterable[Overwrite] = (),
        *,
        topic: str | None = None,
    ) -> Channel:
        return self._add_channel(guild, ChannelType.TEXT, name, overwrites, topic=topic)

    def add_forum_channel(
        self,
        guild: Guild,
        name: str,
        tags: Iterable[str | JSON] = (),
        overwrites: Iterable[Overwrite] = (),
    ) -> Channel:
        channel = self._add_channel(guild, ChannelType.FORUM, name, overwrites)
        channel.available_tags = [self.make_tag(t) for t in tags]
        return channel

    def add_thread(
        self,
        parent: Channel | int,
        name: str,
        *,
        owner: User | Member | None = None,
        archived: bool = False,
        locked: bool = False,
        applied_tags: Iterable[int] = (),
    ) -> Channel:
        """A thread that already exists (for a bot that starts up to find it)."""
        parent_channel = self.channel(parent if isinstance(parent, int) else parent.id)
        thread = self.new_thread(
            parent_channel,
            name,
            owner_id=(owner.id if owner else self.bot.id),
            applied_tags=list(applied_tags),
        )
        thread.archived, thread.locked = archived, locked
        return thread

    def make_tag(self, tag: str | JSON) -> JSON:
        data: JSON = {"name": tag} if isinstance(tag, str) else dict(tag)
        return {
            "id": str(data.get("id") or self.ids.next()),
            "name": data["name"],
            "moderated": bool(data.get("moderated", False)),
            "emoji_id": data.get("emoji_id"),
            "emoji_name": data.get("emoji_name"),
        }

    def _add_channel(
        self,
        guild: Guild,
        type_: int,
        name: str,
        overwrites: Iterable[Overwrite],
        *,
        topic: str | None = None,
    ) -> Channel:
        channel = Channel(
            id=self.ids.next(),
            guild_id=guild.id,
            type=type_,
            name=name,
            position=len(guild.channel_ids),
            overwrites=list(overwrites),
            topic=topic,
        )
        self.channels[channel.id] = channel
        guild.channel_ids.append(channel.id)
        self._dispatch_if_live(guild, "CHANNEL_CREATE", channel.payload())
        return channel

    # -- shared operations (REST handlers and drivers) ---------------------------------------

    def changed(self) -> None:
        """Wake every `wait_for`: call after any change of state."""
        self._changed_event.set()
        self._changed_event = asyncio.Event()

    def dispatch(self, event: str, data: JSON) -> None:
        self.gateway.dispatch(event, data)
        self.changed()

    def _dispatch_if_live(self, guild: Guild, event: str, data: JSON) -> None:
        if self.gateway.current is not None:
            self.dispatch(event, {**data, "guild_id": str(guild.id)})
        else:
            self.changed()

    def guild_of(self, channel: Channel) -> Guild:
        return self.guilds[channel.guild_id]

    def permissions(self, channel: Channel, user_id: int) -> int:
        """What `user_id` may do in `channel` (threads use their parent's overwrites)."""
        guild = self.guild_of(channel)
        member = guild.members.get(user_id)
        if member is None:
            return 0
        target = self.channels[channel.parent_id] if channel.parent_id else channel
        return compute_permissions(guild, member, target)

    def new_thread(
        self,
        parent: Channel,
        name: str,
        *,
        owner_id: int,
        type_: int = ChannelType.PUBLIC_THREAD,
        auto_archive_duration: int = 1440,
        applied_tags: list[int] | None = None,
        thread_id: int | None = None,
    ) -> Channel:
        thread = Channel(
            id=thread_id or self.ids.next(),
            guild_id=parent.guild_id,
            type=type_,
            name=name,
            parent_id=parent.id,
            owner_id=owner_id,
            auto_archive_duration=auto_archive_duration,
            applied_tags=applied_tags or [],
        )
        self.channels[thread.id] = thread
        self.messages[thread.id] = []
        if parent.type == ChannelType.FORUM:
            parent.last_message_id = thread.id
        guild = self.guild_of(parent)
        if self.gateway.current is not None:
            member = {
                "id": str(thread.id),
                "user_id": str(owner_id),
                "join_timestamp": iso(now()),
                "flags": 0,
            }
            self.dispatch(
                "THREAD_CREATE",
                {
                    **thread.payload(),
                    "guild_id": str(guild.id),
                    "newly_created": True,
                    "member": member,
                },
            )
        self.changed()
        return thread

    def thread_updated(self, thread: Channel) -> None:
        self.dispatch("THREAD_UPDATE", thread.payload())

    def post(
        self,
        channel: Channel,
        author: User,
        *,
        message_id: int | None = None,
        webhook_id: int | None = None,
        dispatch: bool = True,
        **fields: Any,
    ) -> Message:
        """Store a message in `channel` and dispatch MESSAGE_CREATE; sending unarchives a thread."""
        if channel.is_thread and channel.archived and not channel.locked:
            channel.archived = False
            channel.archive_timestamp = now()
            self.thread_updated(channel)
        message = Message(
            id=message_id or self.ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=author,
            webhook_id=webhook_id,
            **fields,
        )
        self.messages.setdefault(channel.id, []).append(message)
        channel.last_message_id = message.id
        if channel.is_thread:
            channel.message_count += 1
        if dispatch:
            member = self.guild_of(channel).members.get(author.id)
            self.dispatch("MESSAGE_CREATE", message.payload(member if webhook_id is None else None))
        self.changed()
        return message

    def find_message(self, channel_id: int, message_id: int) -> Message | None:
        for message in self.messages.get(channel_id, []):
            if message.id == message_id and not message.deleted:
                return message
        return None

    def _token_ok(self, token: str) -> bool:
        return token.removeprefix("Bot ") == self.bot_token

    def guilds_on(self, shard_id: int, shard_count: int) -> list[Guild]:
        """The guilds Discord sends to that shard: ``(guild_id >> 22) % count == id``."""
        return [g for g in self.guilds.values() if shard_of(g.id, shard_count) == shard_id]

    def _refuse_identify(self, shard_id: int, shard_count: int) -> tuple[int, bytes] | None:
        if len(self.guilds_on(shard_id, shard_count)) > self.max_guilds_per_shard:
            return (4011, b"Sharding required.")
        return None

    def _ready_events(
        self, session_id: str, intents: int, shard: tuple[int, int] = (0, 1)
    ) -> list[tuple[str, JSON]]:
        guilds = self.guilds_on(*shard)
        ready = {
            "v": 10,
            "user": {**self.bot.payload(), "verified": True, "mfa_enabled": False},
            "session_id": session_id,
            "resume_gateway_url": self.gateway_url,
            "session_type": "normal",
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "shard": list(shard),
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
        }
        return [("READY", ready)] + [("GUILD_CREATE", self.guild_create(g)) for g in guilds]

    def guild_create(self, guild: Guild, *, all_members: bool = True) -> JSON:
        """GUILD_CREATE; without the GUILD_MEMBERS intent only the bot's own member is in it."""
        channels = [self.channels[c] for c in guild.channel_ids if not self.channels[c].deleted]
        threads = [
            c
            for c in self.channels.values()
            if c.guild_id == guild.id and c.is_thread and not c.archived and not c.deleted
        ]
        return {
            **guild.payload(),
            "joined_at": iso(now()),
            "large": False,
            "unavailable": False,
            "member_count": len(guild.members),
            "members": [
                m.payload() for m in guild.members.values() if all_members or m.id == self.bot.id
            ],
            "channels": [c.payload() for c in channels],
            "threads": [t.payload() for t in threads],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    # -- drivers: people acting --------------------------------------------------------------

    def member_says(
        self,
        channel_id: int,
        author: Member | User,
        content: str = "",
        *,
        attachments: Sequence[JSON] = (),
        sticker_items: Sequence[JSON] = (),
        embeds: Sequence[JSON] = (),
        reply_to: Message | None = None,
    ) -> Message:
        """A person posts in a channel or thread (MESSAGE_CREATE with member and guild_id)."""
        channel = self.channel(channel_id)
        full_attachments = [self._attachment(a) for a in attachments]
        reference = None
        if reply_to is not None:
            reference = {
                "message_id": str(reply_to.id),
                "channel_id": str(reply_to.channel_id),
                "guild_id": str(channel.guild_id),
            }
        return self.post(
            channel,
            _user(author),
            content=content,
            attachments=full_attachments,
            sticker_items=list(sticker_items),
            embeds=list(embeds),
            message_reference=reference,
        )

    def _attachment(self, spec: JSON) -> JSON:
        attachment_id = self.ids.next()
        filename = str(spec.get("filename", "file.bin"))
        url = f"https://cdn.discordapp.com/attachments/0/{attachment_id}/{filename}"
        return {
            "id": str(attachment_id),
            "filename": filename,
            "size": int(spec.get("size", 1024)),
            "url": url,
            "proxy_url": url,
            "content_type": spec.get("content_type", "application/octet-stream"),
            **{k: v for k, v in spec.items() if k not in {"filename", "size"}},
        }

    def member_edits(self, message: Message, content: str) -> Message:
        message.content = content
        message.edited_timestamp = now()
        member = self.guild_of(self.channel(message.channel_id)).members.get(message.author.id)
        self.dispatch("MESSAGE_UPDATE", message.payload(member))
        return message

    def member_deletes(self, message: Message) -> None:
        message.deleted = True
        self.dispatch(
            "MESSAGE_DELETE",
            {
                "id": str(message.id),
                "channel_id": str(message.channel_id),
                "guild_id": str(message.guild_id),
            },
        )

    def delete_channel(self, channel_id: int) -> None:
        """A person deletes a channel or thread (THREAD_DELETE / CHANNEL_DELETE)."""
        channel = self.channel(channel_id)
        channel.deleted = True
        if channel.is_thread:
            self.dispatch(
                "THREAD_DELETE",
                {
                    "id": str(channel.id),
                    "guild_id": str(channel.guild_id),
                    "parent_id": str(channel.parent_id),
                    "type": channel.type,
                },
            )
        else:
            self.dispatch("CHANNEL_DELETE", channel.payload())

    def archive_thread(self, thread_id: int, *, locked: bool = False) -> Channel:
        """Archive a thread as the inactivity timer (or a moderator, with `locked`) would."""
        thread = self.channel(thread_id)
        thread.archived = True
        thread.locked = thread.locked or locked
        thread.archive_timestamp = now()
        self.thread_updated(thread)
        return thread

    def set_overwrites(self, channel_id: int, overwrites: Iterable[Overwrite]) -> Channel:
        channel = self.channel(channel_id)
        channel.overwrites = list(overwrites)
        self.dispatch("CHANNEL_UPDATE", channel.payload())
        return channel

    def set_role_permissions(self, role: Role, permissions: int) -> Role:
        role.permissions = permissions
        self.dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(role.guild_id), "role": role.payload()})
        return role

    def run_command(
        self,
        guild: Guild,
        channel_id: int,
        user: Member | User,
        name: str,
        options: Sequence[JSON] = (),
        *,
        guild_command: bool | None = None,
    ) -> Interaction:
        """A person runs a slash command; subcommands are options of type 1 (groups: type 2)."""
        synced = [c for c in self.commands if c.payload["name"] == name]
        synced.sort(key=lambda c: c.guild_id != guild.id)
        command = synced[0] if synced else None
        is_guild = (
            guild_command if guild_command is not None else bool(command and command.guild_id)
        )
        data: JSON = {
            "id": str(command.id if command else self.ids.next()),
            "name": name,
            "type": 1,
            "options": list(options),
        }
        if is_guild:
            data["guild_id"] = str(guild.id)
        resolved = self._resolve(guild, options)
        if resolved:
            data["resolved"] = resolved
        return self._interact(2, guild, channel_id, _user(user), data)

    def submit_modal(
        self,
        guild: Guild,
        channel_id: int,
        user: Member | User,
        custom_id: str,
        fields: dict[str, str],
    ) -> Interaction:
        """A person submits a modal: `fields` maps each text input's custom_id to its value."""
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]}
            for key, value in fields.items()
        ]
        data = {"custom_id": custom_id, "components": rows}
        return self._interact(5, guild, channel_id, _user(user), data)

    def click_button(
        self, guild: Guild, message: Message, user: Member | User, custom_id: str
    ) -> Interaction:
        """A person clicks a button (type 3, component type 2) on ``message``."""
        known = [
            c.get("custom_id") for row in message.components for c in (row.get("components") or [])
        ]
        assert custom_id in known, f"no button {custom_id!r} on the message: {known}"
        data = {"custom_id": custom_id, "component_type": 2}
        record = self._interact(3, guild, message.channel_id, _user(user), data, message=message)
        return record

    def autocomplete(
        self,
        guild: Guild,
        channel_id: int,
        user: Member | User,
        name: str,
        options: Sequence[JSON],
    ) -> Interaction:
        """A person types in an option with autocomplete (the one with ``"focused": True``);
        the bot answers with choices (callback type 8: ``response.data["choices"]``)."""
        synced = [c for c in self.commands if c.payload["name"] == name]
        data: JSON = {
            "id": str(synced[0].id if synced else self.ids.next()),
            "name": name,
            "type": 1,
            "options": list(options),
        }
        if synced and synced[0].guild_id:
            data["guild_id"] = str(guild.id)
        return self._interact(4, guild, channel_id, _user(user), data)

    def _resolve(self, guild: Guild, options: Sequence[JSON]) -> JSON:
        resolved: dict[str, JSON] = {}
        for option in _walk_options(options):
            value = str(option.get("value", ""))
            if option.get("type") == 7 and value.isdigit() and int(value) in self.channels:
                channel = self.channels[int(value)]
                perms = self.permissions(channel, self.bot.id)
                entry = {**channel.payload(), "permissions": str(perms)}
                resolved.setdefault("channels", {})[value] = entry
            elif option.get("type") == 8 and value.isdigit() and int(value) in guild.roles:
                resolved.setdefault("roles", {})[value] = guild.roles[int(value)].payload()
            elif option.get("type") == 6 and value.isdigit() and int(value) in guild.members:
                member = guild.members[int(value)]
                resolved.setdefault("users", {})[value] = member.user.payload()
                resolved.setdefault("members", {})[value] = member.payload(with_user=False)
        return resolved

    def _interact(
        self,
        type_: int,
        guild: Guild,
        channel_id: int,
        user: User,
        data: JSON,
        *,
        message: Message | None = None,
    ) -> Interaction:
        channel = self.channel(channel_id)
        member = guild.members[user.id]
        perms = self.permissions(channel, user.id)
        record = Interaction(
            id=self.ids.next(),
            token=new_token(),
            type=type_,
            guild_id=guild.id,
            channel_id=channel.id,
            user=user,
            data=data,
            target=message,
        )
        self.interactions[record.id] = record
        extra: JSON = {} if message is None else {"message": message.payload()}
        self.dispatch(
            "INTERACTION_CREATE",
            {
                **extra,
                "id": str(record.id),
                "application_id": str(self.application_id),
                "type": type_,
                "token": record.token,
                "version": 1,
                "attachment_size_limit": 26_214_400,
                "guild_id": str(guild.id),
                "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
                "channel": {**channel.payload(), "permissions": str(perms)},
                "channel_id": str(channel.id),
                "member": member.payload(permissions=perms),
                "app_permissions": str(self.permissions(channel, self.bot.id)),
                "locale": "en-US",
                "guild_locale": "en-US",
                "entitlements": [],
                "authorizing_integration_owners": {"0": str(guild.id)},
                "context": 0,
                "data": data,
                **({"message": message.payload()} if message is not None else {}),
            },
        )
        return record

    # -- gateway hooks -------------------------------------------------------------------------

    @property
    def heartbeat_interval_ms(self) -> int:
        return self.gateway.heartbeat_interval_ms

    @heartbeat_interval_ms.setter
    def heartbeat_interval_ms(self, value: int) -> None:
        self.gateway.heartbeat_interval_ms = value

    @property
    def connected(self) -> bool:
        return self.gateway.connected

    @property
    def identify_count(self) -> int:
        return self.gateway.identify_count

    @property
    def resume_count(self) -> int:
        return self.gateway.resume_count

    @property
    def heartbeat_count(self) -> int:
        return self.gateway.heartbeat_count

    async def drop_gateway(self, code: int | None = None, *, shard: int | None = None) -> None:
        """Lose the bot's socket (of ``shard``; None: every one): abort it, or close with
        `code`; the session stays resumable."""
        await self.gateway.drop(code, shard=shard)

    def connected_shards(self) -> set[int]:
        """The shards whose current session has its socket now."""
        return self.gateway.connected_shards()

    async def end_session(self) -> None:
        """Invalidate the bot's session and drop its socket: its RESUME is refused (op 9),
        so it identifies again and gets a new session (READY, ``on_ready``)."""
        self.gateway.sessions.clear()
        await self.gateway.drop()

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await self.wait_for(lambda: self.connected, timeout)

    # -- reading what the bot did --------------------------------------------------------------

    def channel(self, channel_id: int) -> Channel:
        return self.channels[channel_id]

    def messages_in(self, channel_id: int, *, include_deleted: bool = False) -> list[Message]:
        """Messages in a channel or thread, oldest first."""
        return [m for m in self.messages.get(channel_id, []) if include_deleted or not m.deleted]

    def threads_in(self, channel_id: int) -> list[Channel]:
        return [c for c in self.channels.values() if c.parent_id == channel_id and not c.deleted]

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        """Recorded requests whose path (after /api/v10) fully matches `path_regex`."""
        pattern = re.compile(path_regex)
        return [
            r for r in self.requests if r.method == method.upper() and pattern.fullmatch(r.path)
        ]

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 10.0) -> T:
        """Wait until `predicate()` is truthy (re-checked on every change of state); return it."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event = self._changed_event
                    result = predicate()
                    if result:
                        return result
                    await event.wait()
        except TimeoutError:
            raise TimeoutError(f"condition not met within {timeout}s") from None

    async def wait_for_response(
        self,
        interaction: Interaction,
        timeout: float = 10.0,
    ) -> InteractionResponse:
        return await self.wait_for(lambda: interaction.response, timeout)

    # -- faults -------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int = 500,
        *,
        code: int | None = None,
        message: str | None = None,
        times: int = 1,
        retry_after: float = 0.2,
        is_global: bool = False,
    ) -> Fault:
        """Answer the next `times` matching requests with a Discord-shaped error.

        `path_regex` must fully match the path after /api/v10 (no query). 429s carry `retry_after`.
        """
        fault = Fault(
            method.upper(), path_regex, status, code, message, times, retry_after, is_global
        )
        self.faults.append(fault)
        return fault

    def enable_rate_limits(
        self, *, global_per_second: int = 50, messages_per_window: int = 5, window: float = 5.0
    ) -> RateLimiter:
        """Enforce Discord's limits: 429 beyond `global_per_second` or per-channel sends."""
        self.rate_limiter.configure(
            enabled=True,
            global_per_second=global_per_second,
            messages_per_window=messages_per_window,
            window=window,
        )
        return self.rate_limiter

    @property
    def rate_limited_count(self) -> int:
        """How many 429s the enforcer and `fail_next` have sent."""
        return self.rate_limiter.sent_429


def _user(who: Member | User) -> User:
    return who.user if isinstance(who, Member) else who


def _walk_options(options: Sequence[JSON]) -> Iterable[JSON]:
    for option in options:
        yield option
        yield from _walk_options(option.get("options") or [])
