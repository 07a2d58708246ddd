"""The fake Discord's world: records of users, guilds, channels, messages and interactions.

Package-private: use `tests.fakes.discord.FakeDiscord`. Every record renders itself to the JSON
payload Discord would send (`payload()`), so REST replies and gateway events share one source of
truth.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1_420_070_400_000


class Perm:
    """Permission bits (https://discord.com/developers/docs/topics/permissions)."""

    CREATE_INSTANT_INVITE = 1 << 0
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38
    ALL = (1 << 53) - 1
    SEND_TTS_MESSAGES = 1 << 12
    ALL_CHANNEL = 8555290110197585
    """Every permission a channel can grant (lost with View Channel), as discord.py counts them."""

    BRIDGE = (
        VIEW_CHANNEL
        | SEND_MESSAGES
        | SEND_MESSAGES_IN_THREADS
        | CREATE_PUBLIC_THREADS
        | MANAGE_THREADS
        | EMBED_LINKS
        | READ_MESSAGE_HISTORY
        | ADD_REACTIONS
    )
    EVERYONE = (
        VIEW_CHANNEL
        | SEND_MESSAGES
        | SEND_MESSAGES_IN_THREADS
        | CREATE_PUBLIC_THREADS
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | ADD_REACTIONS
        | USE_APPLICATION_COMMANDS
    )


class ChannelType:
    TEXT = 0
    PUBLIC_THREAD = 11
    PRIVATE_THREAD = 12
    FORUM = 15
    THREADS = (10, 11, 12)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Snowflakes:
    """Increasing snowflakes with the real layout, so `created_at` reads the current time."""

    def __init__(self) -> None:
        self._last = 0
        self._increment = itertools.count()

    def next(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        candidate = (ms << 22) | (1 << 17) | (1 << 12) | (next(self._increment) & 0xFFF)
        self._last = max(candidate, self._last + 1)
        return self._last

    def next_on_shard(self, shard_id: int, shard_count: int) -> int:
        """The next snowflake whose guild would be on that shard (a few ms ahead at most)."""
        base = self.next()
        ms = base >> 22
        ms += (shard_id - ms) % shard_count
        self._last = max(self._last, (ms << 22) | (base & 0x3FFFFF))
        return self._last


@dataclass
class User:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None

    def payload(self) -> JSON:
        return {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
            "flags": 0,
        }


@dataclass
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    managed_by_bot: int | None = None

    def payload(self) -> JSON:
        return {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed_by_bot is not None,
            "mentionable": False,
            "flags": 0,
            "tags": {"bot_id": str(self.managed_by_bot)} if self.managed_by_bot else {},
        }


@dataclass
class Member:
    user: User
    guild_id: int
    roles: list[int]
    joined_at: dt.datetime = field(default_factory=now)
    nick: str | None = None

    @property
    def id(self) -> int:
        return self.user.id

    def payload(self, *, with_user: bool = True, permissions: int | None = None) -> JSON:
        data: JSON = {
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass
class Overwrite:
    """A channel permission overwrite; `type` 0 is a role, 1 a member."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0

    def payload(self) -> JSON:
        return {
            "id": str(self.id),
            "type": self.type,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass
class Channel:
    """A text channel, a forum channel or a thread (`type` tells which)."""

    id: int
    guild_id: int
    type: int
    name: str
    position: int = 0
    parent_id: int | None = None
    overwrites: list[Overwrite] = field(default_factory=list)
    topic: str | None = None
    available_tags: list[JSON] = field(default_factory=list)
    applied_tags: list[int] = field(default_factory=list)
    archived: bool = False
    locked: bool = False
    auto_archive_duration: int = 1440
    owner_id: int | None = None
    message_count: int = 0
    last_message_id: int | None = None
    created_at: dt.datetime = field(default_factory=now)
    archive_timestamp: dt.datetime = field(default_factory=now)
    deleted: bool = False

    @property
    def is_thread(self) -> bool:
        return self.type in ChannelType.THREADS

    def payload(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "guild_id": str(self.guild_id),
            "type": self.type,
            "name": self.name,
            "flags": 0,
            "last_message_id": str(self.last_message_id) if self.last_message_id else None,
            "rate_limit_per_user": 0,
            "nsfw": False,
        }
        if self.parent_id is not None:
            data["parent_id"] = str(self.parent_id)
        if self.is_thread:
            data.update(
                owner_id=str(self.owner_id),
                message_count=self.message_count,
                total_message_sent=self.message_count,
                member_count=1,
                applied_tags=[str(t) for t in self.applied_tags],
                thread_metadata={
                    "archived": self.archived,
                    "locked": self.locked,
                    "auto_archive_duration": self.auto_archive_duration,
                    "archive_timestamp": iso(self.archive_timestamp),
                    "invitable": True,
                    "create_timestamp": iso(self.created_at),
                },
            )
            return data
        data.update(
            position=self.position,
            topic=self.topic,
            permission_overwrites=[o.payload() for o in self.overwrites],
            default_auto_archive_duration=1440,
            default_thread_rate_limit_per_user=0,
        )
        if self.type == ChannelType.FORUM:
            data.update(
                available_tags=[dict(tag) for tag in self.available_tags],
                default_reaction_emoji=None,
                default_sort_order=None,
                default_forum_layout=0,
            )
        return data


@dataclass
class Message:
    id: int
    channel_id: int
    guild_id: int | None
    author: User
    content: str = ""
    embeds: list[JSON] = field(default_factory=list)
    allowed_mentions: JSON | None = None
    flags: int = 0
    message_reference: JSON | None = None
    attachments: list[JSON] = field(default_factory=list)
    sticker_items: list[JSON] = field(default_factory=list)
    components: list[JSON] = field(default_factory=list)
    reactions: list[str] = field(default_factory=list)
    """Emoji the bot reacted with, in order."""
    timestamp: dt.datetime = field(default_factory=now)
    edited_timestamp: dt.datetime | None = None
    webhook_id: int | None = None
    deleted: bool = False

    def payload(self, member: Member | None = None) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": iso(self.timestamp),
            "edited_timestamp": iso(self.edited_timestamp) if self.edited_timestamp else None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": self.attachments,
            "embeds": self.embeds,
            "reactions": [
                {
                    "count": 1,
                    "count_details": {"burst": 0, "normal": 1},
                    "me": True,
                    "me_burst": False,
                    "burst_colors": [],
                    "emoji": {"id": None, "name": emoji},
                }
                for emoji in self.reactions
            ],
            "pinned": False,
            "type": 19 if self.message_reference else 0,
            "flags": self.flags,
            "components": self.components,
            "sticker_items": self.sticker_items,
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if self.message_reference:
            data["message_reference"] = self.message_reference
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
        if member is not None:
            data["member"] = member.payload(with_user=False)
        return data


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)
    bot_role_id: int = 0

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]

    def payload(self) -> JSON:
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "max_members": 500000,
        }


@dataclass
class RecordedRequest:
    """One REST request the bot made; `headers` carry no Authorization value."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    files: list[str] = field(default_factory=list)
    status: int = 0


@dataclass
class InteractionResponse:
    """One interaction callback: type 4 message, 5 deferred, 6/7 update, 9 modal."""

    type: int
    data: JSON

    @property
    def content(self) -> str | None:
        value = self.data.get("content")
        return None if value is None else str(value)

    @property
    def embeds(self) -> list[JSON]:
        return list(self.data.get("embeds") or [])

    @property
    def ephemeral(self) -> bool:
        return bool(int(self.data.get("flags") or 0) & 64)


@dataclass
class Interaction:
    """An INTERACTION_CREATE the fake sent, and what the bot answered."""

    id: int
    token: str
    type: int
    guild_id: int
    channel_id: int
    user: User
    data: JSON
    responses: list[InteractionResponse] = field(default_factory=list)
    original: Message | None = None
    followups: list[Message] = field(default_factory=list)
    target: Message | None = None
    """A component interaction's message (the one whose button was pressed)."""

    @property
    def response(self) -> InteractionResponse | None:
        return self.responses[0] if self.responses else None


@dataclass
class SyncedCommand:
    id: int
    guild_id: int | None
    payload: JSON


def new_token() -> str:
    return "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(24)


def compute_permissions(guild: Guild, member: Member, channel: Channel | None) -> int:
    """Discord's algorithm: base permissions from roles, then the channel's overwrites."""
    if member.id == guild.owner_id:
        return Perm.ALL
    base = guild.everyone.permissions
    for role_id in member.roles:
        role = guild.roles.get(role_id)
        if role is not None:
            base |= role.permissions
    if base & Perm.ADMINISTRATOR:
        return Perm.ALL
    if channel is None:
        return base
    perms = base
    by_id = {o.id: o for o in channel.overwrites}
    everyone = by_id.get(guild.id)
    if everyone is not None:
        perms = (perms & ~everyone.deny) | everyone.allow
    allow = deny = 0
    for role_id in member.roles:
        ow = by_id.get(role_id)
        if ow is not None and ow.type == 0:
            allow |= ow.allow
            deny |= ow.deny
    perms = (perms & ~deny) | allow
    own = by_id.get(member.id)
    if own is not None and own.type == 1:
        perms = (perms & ~own.deny) | own.allow
    if not perms & Perm.SEND_MESSAGES:
        perms &= ~(
            Perm.SEND_TTS_MESSAGES | Perm.MENTION_EVERYONE | Perm.EMBED_LINKS | Perm.ATTACH_FILES
        )
    if not perms & Perm.VIEW_CHANNEL:
        perms &= ~Perm.ALL_CHANNEL
    return perms
