"""The fake Discord's REST API under /api/v10, as discord.py calls it.

Package-private: `FakeDiscord` registers one `RestApi` on its aiohttp app. A middleware records
every request, checks the bot token, applies injected faults and the rate-limit enforcer, and turns
`DiscordError` into Discord's error bodies.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from tests.fakes._discord_limits import DiscordError, json_response
from tests.fakes._discord_state import (
    JSON,
    Channel,
    ChannelType,
    Interaction,
    InteractionResponse,
    Message,
    Overwrite,
    Perm,
    RecordedRequest,
    SyncedCommand,
    now,
)

if TYPE_CHECKING:
    from tests.fakes.discord import FakeDiscord

API = "/api/v10"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BODY: web.RequestKey[Any] = web.RequestKey("body")
FILES: web.RequestKey[list[JSON]] = web.RequestKey("files")
EPHEMERAL = 64
LOADING = 128


def _no_content() -> web.Response:
    return web.Response(status=204)


def _int(value: str, code: int) -> int:
    if not value.isdigit():
        raise DiscordError(404, code)
    return int(value)


class RestApi:
    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    def register(self, app: web.Application) -> None:
        app.middlewares.append(self._middleware)
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/users/@me", self.get_me),
            ("GET", "/oauth2/applications/@me", self.get_application),
            ("GET", "/applications/@me", self.get_application),
            ("GET", "/gateway", self.get_gateway),
            ("GET", "/gateway/bot", self.get_gateway),
            ("PUT", "/applications/{app}/commands", self.put_commands),
            ("GET", "/applications/{app}/commands", self.get_commands),
            ("PUT", "/applications/{app}/guilds/{gid}/commands", self.put_commands),
            ("GET", "/applications/{app}/guilds/{gid}/commands", self.get_commands),
            ("GET", "/channels/{cid}", self.get_channel),
            ("PATCH", "/channels/{cid}", self.patch_channel),
            ("DELETE", "/channels/{cid}", self.delete_channel),
            ("POST", "/channels/{cid}/threads", self.create_thread),
            ("GET", "/channels/{cid}/messages", self.get_messages),
            ("POST", "/channels/{cid}/messages", self.post_message),
            ("GET", "/channels/{cid}/messages/{mid}", self.get_message),
            ("PATCH", "/channels/{cid}/messages/{mid}", self.patch_message),
            ("DELETE", "/channels/{cid}/messages/{mid}", self.delete_message),
            ("PUT", "/channels/{cid}/messages/{mid}/reactions/{emoji}/@me", self.put_reaction),
            (
                "DELETE",
                "/channels/{cid}/messages/{mid}/reactions/{emoji}/@me",
                self.delete_reaction,
            ),
            ("GET", "/guilds/{gid}", self.get_guild),
            ("GET", "/guilds/{gid}/roles", self.get_roles),
            ("GET", "/guilds/{gid}/members/{uid}", self.get_member),
            ("GET", "/guilds/{gid}/channels", self.get_guild_channels),
            ("GET", "/guilds/{gid}/threads/active", self.get_active_threads),
            ("POST", "/interactions/{iid}/{token}/callback", self.interaction_callback),
            ("POST", "/webhooks/{app}/{token}", self.execute_webhook),
            ("GET", "/webhooks/{app}/{token}/messages/{mid}", self.get_webhook_message),
            ("PATCH", "/webhooks/{app}/{token}/messages/{mid}", self.patch_webhook_message),
            ("DELETE", "/webhooks/{app}/{token}/messages/{mid}", self.delete_webhook_message),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, API + path, handler)
        app.router.add_route("*", API + "/{tail:.*}", self.unknown)

    # -- middleware ---------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API + "/"):
            return await handler(request)
        fake = self.fake
        path = request.path[len(API) :]
        body, files = await _read_body(request)
        request[BODY] = body
        request[FILES] = files
        headers = {
            k: ("[redacted]" if k.lower() == "authorization" else v)
            for k, v in request.headers.items()
        }
        record = RecordedRequest(
            request.method, path, dict(request.query), body, headers, [f["filename"] for f in files]
        )
        fake.requests.append(record)
        try:
            response = await self._answer(request, handler, path)
        except DiscordError as exc:
            response = exc.response()
        except Exception as exc:  # a bug in the fake: keep it visible to the test
            fake.errors.append(exc)
            response = json_response({"message": f"fake crashed: {exc!r}", "code": 0}, 500)
        record.status = response.status
        if handler == self.unknown:
            fake.unknown_requests.append(record)
        fake.changed()
        return response

    async def _answer(
        self, request: web.Request, handler: Handler, path: str
    ) -> web.StreamResponse:
        fake = self.fake
        exempt = path.startswith(("/interactions/", "/webhooks/"))
        if not exempt and path != "/gateway":
            token = request.headers.get("Authorization", "")
            if token != f"Bot {fake.bot_token}":
                return json_response({"message": "401: Unauthorized", "code": 0}, 401)
        resource = request.match_info.route.resource
        route = f"{request.method} {resource.canonical if resource else path}"
        for fault in fake.faults:
            if fault.matches(request.method, path):
                if fault.status == 429:
                    fake.rate_limiter.sent_429 += 1
                return fault.response(
                    fake.rate_limiter.admit(route, None, True)[1]["X-RateLimit-Bucket"]
                )
        channel_key = None
        if request.method == "POST" and route.endswith("/channels/{cid}/messages"):
            channel_key = request.match_info["cid"]
        limited, limit_headers = fake.rate_limiter.admit(route, channel_key, exempt)
        if limited is not None:
            return limited
        response = await handler(request)
        response.headers.update(limit_headers)
        return response

    async def unknown(self, request: web.Request) -> web.Response:
        return json_response({"message": "404: Not Found", "code": 0}, 404)

    # -- helpers ------------------------------------------------------------------------------

    def _channel(self, request: web.Request, *, view: bool = True) -> Channel:
        channel = self.fake.channels.get(_int(request.match_info["cid"], 10003))
        if channel is None or channel.deleted:
            raise DiscordError(404, 10003)
        if view and not self._perms(channel) & Perm.VIEW_CHANNEL:
            raise DiscordError(403, 50001)
        return channel

    def _perms(self, channel: Channel) -> int:
        return self.fake.permissions(channel, self.fake.bot.id)

    def _require(self, channel: Channel, permission: int) -> None:
        if self._perms(channel) & permission != permission:
            raise DiscordError(403, 50013)

    def _message(self, request: web.Request, channel: Channel) -> Message:
        message = self.fake.find_message(channel.id, _int(request.match_info["mid"], 10008))
        if message is None:
            raise DiscordError(404, 10008)
        return message

    def _check_writable(self, channel: Channel) -> None:
        if channel.is_thread and channel.archived:
            raise DiscordError(400, 50083)

    def _message_fields(self, body: JSON, files: list[JSON]) -> JSON:
        content = str(body.get("content") or "")
        embeds = list(body.get("embeds") or [])
        if len(content) > 2000:
            errors = {
                "content": {
                    "_errors": [
                        {
                            "code": "BASE_TYPE_MAX_LENGTH",
                            "message": "Must be 2000 or fewer in length.",
                        }
                    ]
                }
            }
            raise DiscordError(400, 50035, errors=errors)
        if len(embeds) > 10:
            raise DiscordError(
                400, 50035, errors={"embeds": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}}
            )
        attachments = [self._attachment(f) for f in files]
        if not (
            content or embeds or attachments or body.get("sticker_ids") or body.get("components")
        ):
            raise DiscordError(400, 50006)
        return {
            "content": content,
            "embeds": embeds,
            "allowed_mentions": body.get("allowed_mentions"),
            "flags": int(body.get("flags") or 0),
            "message_reference": body.get("message_reference"),
            "attachments": attachments,
            "components": list(body.get("components") or []),
        }

    def _attachment(self, file: JSON) -> JSON:
        attachment_id = self.fake.ids.next()
        self.fake.uploads[attachment_id] = bytes(file.get("data") or b"")
        url = f"{self.fake.url}/attachments/{attachment_id}/{file['filename']}"
        return {
            "id": str(attachment_id),
            "filename": file["filename"],
            "size": file["size"],
            "url": url,
            "proxy_url": url,
            "content_type": file["content_type"],
        }

    # -- users, application, gateway, commands -------------------------------------------------

    async def get_me(self, request: web.Request) -> web.Response:
        bot = self.fake.bot
        return json_response(
            {**bot.payload(), "verified": True, "mfa_enabled": False, "locale": "en-US"}
        )

    async def get_application(self, request: web.Request) -> web.Response:
        fake = self.fake
        owner = {
            "id": "1",
            "username": "app-owner",
            "discriminator": "0",
            "avatar": None,
            "global_name": None,
        }
        return json_response(
            {
                "id": str(fake.application_id),
                "name": fake.bot.username,
                "icon": None,
                "description": "",
                "summary": "",
                "rpc_origins": [],
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": owner,
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "bot": fake.bot.payload(),
            }
        )

    async def get_gateway(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return json_response(
            {
                "url": self.fake.gateway_url,
                "shards": self.fake.recommended_shards,
                "session_start_limit": limit,
            }
        )

    def _scope(self, request: web.Request) -> int | None:
        gid = request.match_info.get("gid")
        if request.match_info["app"] != str(self.fake.application_id):
            raise DiscordError(403, 50001)
        if gid is None:
            return None
        if _int(gid, 10004) not in self.fake.guilds:
            raise DiscordError(404, 10004)
        return int(gid)

    async def put_commands(self, request: web.Request) -> web.Response:
        fake = self.fake
        guild_id = self._scope(request)
        previous = {c.payload["name"]: c for c in fake.commands if c.guild_id == guild_id}
        synced: list[SyncedCommand] = []
        for item in request[BODY] or []:
            old = previous.get(item["name"])
            command_id = old.id if old else fake.ids.next()
            payload = {
                "type": 1,
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                **item,
                "id": str(command_id),
                "application_id": str(fake.application_id),
                "version": str(fake.ids.next()),
            }
            if guild_id is not None:
                payload["guild_id"] = str(guild_id)
            synced.append(SyncedCommand(command_id, guild_id, payload))
        fake.commands = [c for c in fake.commands if c.guild_id != guild_id] + synced
        return json_response([c.payload for c in synced])

    async def get_commands(self, request: web.Request) -> web.Response:
        guild_id = self._scope(request)
        return json_response([c.payload for c in self.fake.commands if c.guild_id == guild_id])

    # -- channels -----------------------------------------------------------------------------

    async def get_channel(self, request: web.Request) -> web.Response:
        return json_response(self._channel(request).payload())

    async def patch_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        body: JSON = request[BODY] or {}
        if channel.is_thread:
            self._edit_thread(channel, body)
            self.fake.thread_updated(channel)
        else:
            self._require(channel, Perm.MANAGE_CHANNELS)
            self._edit_channel(channel, body)
            self.fake.dispatch("CHANNEL_UPDATE", channel.payload())
        return json_response(channel.payload())

    def _edit_thread(self, thread: Channel, body: JSON) -> None:
        manage = bool(self._perms(thread) & Perm.MANAGE_THREADS)
        own = thread.owner_id == self.fake.bot.id
        closing = bool(body.get("archived")) or bool(body.get("locked"))
        if (
            closing
            and self.fake.closing_needs_manage_channels
            and not self._perms(thread) & Perm.MANAGE_CHANNELS
        ):
            raise DiscordError(403, 50013)
        if ("locked" in body and body["locked"] != thread.locked) and not manage:
            raise DiscordError(403, 50013)
        if thread.locked and thread.archived and not manage:
            raise DiscordError(403, 50013)
        if not (manage or own) and set(body) & {
            "name",
            "archived",
            "applied_tags",
            "auto_archive_duration",
        }:
            raise DiscordError(403, 50013)
        if "name" in body:
            thread.name = _thread_name(body["name"])
        if "applied_tags" in body:
            thread.applied_tags = self._tags(
                self.fake.channels[thread.parent_id or 0], body["applied_tags"]
            )
        if "auto_archive_duration" in body:
            thread.auto_archive_duration = int(body["auto_archive_duration"])
        if "locked" in body:
            thread.locked = bool(body["locked"])
        if "archived" in body and bool(body["archived"]) != thread.archived:
            thread.archived = bool(body["archived"])
            thread.archive_timestamp = now()

    def _tags(self, forum: Channel, tag_ids: list[Any]) -> list[int]:
        known = {int(t["id"]) for t in forum.available_tags}
        chosen = [int(t) for t in tag_ids]
        if forum.type != ChannelType.FORUM or len(chosen) > 5 or not set(chosen) <= known:
            raise DiscordError(
                400, 50035, errors={"applied_tags": {"_errors": [{"code": "INVALID_TAG"}]}}
            )
        return chosen

    def _edit_channel(self, channel: Channel, body: JSON) -> None:
        if "name" in body:
            channel.name = str(body["name"])
        if "topic" in body:
            channel.topic = body["topic"]
        if "permission_overwrites" in body:
            channel.overwrites = [
                Overwrite(
                    int(o["id"]), int(o["type"]), int(o.get("allow") or 0), int(o.get("deny") or 0)
                )
                for o in body["permission_overwrites"]
            ]
        if "available_tags" in body and channel.type == ChannelType.FORUM:
            if len(body["available_tags"]) > 20:
                raise DiscordError(
                    400,
                    50035,
                    errors={"available_tags": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}},
                )
            channel.available_tags = [self.fake.make_tag(t) for t in body["available_tags"]]

    async def delete_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        self._require(channel, Perm.MANAGE_THREADS if channel.is_thread else Perm.MANAGE_CHANNELS)
        self.fake.delete_channel(channel.id)
        return json_response(channel.payload())

    async def create_thread(self, request: web.Request) -> web.Response:
        fake = self.fake
        parent = self._channel(request)
        body: JSON = request[BODY] or {}
        name = _thread_name(body.get("name"))
        archive = int(body.get("auto_archive_duration") or 1440)
        if parent.type == ChannelType.TEXT:
            type_ = int(body.get("type") or ChannelType.PRIVATE_THREAD)
            need = (
                Perm.CREATE_PUBLIC_THREADS
                if type_ == ChannelType.PUBLIC_THREAD
                else Perm.CREATE_PRIVATE_THREADS
            )
            self._require(parent, need)
            thread = fake.new_thread(
                parent, name, owner_id=fake.bot.id, type_=type_, auto_archive_duration=archive
            )
            return json_response(thread.payload(), 201)
        if parent.type != ChannelType.FORUM:
            raise DiscordError(400, 50008)
        self._require(parent, Perm.SEND_MESSAGES)
        if not isinstance(body.get("message"), dict):
            raise DiscordError(
                400, 50035, errors={"message": {"_errors": [{"code": "BASE_TYPE_REQUIRED"}]}}
            )
        fields = self._message_fields(body["message"], request[FILES])
        tags = self._tags(parent, body.get("applied_tags") or [])
        thread_id = fake.ids.next()
        thread = fake.new_thread(
            parent,
            name,
            owner_id=fake.bot.id,
            auto_archive_duration=archive,
            applied_tags=tags,
            thread_id=thread_id,
        )
        message = fake.post(thread, fake.bot, message_id=thread_id, **fields)
        return json_response({**thread.payload(), "message": message.payload()}, 201)

    # -- messages -----------------------------------------------------------------------------

    async def post_message(self, request: web.Request) -> web.Response:
        fake = self.fake
        channel = self._channel(request)
        if channel.type == ChannelType.FORUM:
            raise DiscordError(400, 50008)
        self._require(
            channel, Perm.SEND_MESSAGES_IN_THREADS if channel.is_thread else Perm.SEND_MESSAGES
        )
        if channel.is_thread and channel.archived and channel.locked:
            raise DiscordError(403, 50083)
        fields = self._message_fields(request[BODY] or {}, request[FILES])
        message = fake.post(channel, fake.bot, **fields)
        return json_response(message.payload())

    async def get_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        self._require(channel, Perm.READ_MESSAGE_HISTORY)
        query = request.query
        limit = max(1, min(100, int(query.get("limit", 50))))
        messages = self.fake.messages_in(channel.id)  # oldest first
        if "before" in query:
            chosen = [m for m in messages if m.id < int(query["before"])][-limit:]
        elif "after" in query:
            chosen = [m for m in messages if m.id > int(query["after"])][:limit]
        elif "around" in query:
            around = int(query["around"])
            older = [m for m in messages if m.id < around][-(limit // 2) :] if limit > 1 else []
            rest = [m for m in messages if m.id >= around][: limit - len(older)]
            chosen = older + rest
        else:
            chosen = messages[-limit:]
        return json_response([m.payload() for m in reversed(chosen)])

    async def get_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        self._require(channel, Perm.READ_MESSAGE_HISTORY)
        return json_response(self._message(request, channel).payload())

    async def patch_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        message = self._message(request, channel)
        if message.author.id != self.fake.bot.id:
            raise DiscordError(403, 50005)
        self._check_writable(channel)
        _apply_edit(message, request[BODY] or {})
        self.fake.dispatch("MESSAGE_UPDATE", message.payload())
        return json_response(message.payload())

    async def delete_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        message = self._message(request, channel)
        if message.author.id != self.fake.bot.id:
            self._require(channel, Perm.MANAGE_MESSAGES)
        self.fake.member_deletes(message)
        return _no_content()

    async def put_reaction(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        self._require(channel, Perm.ADD_REACTIONS | Perm.READ_MESSAGE_HISTORY)
        message = self._message(request, channel)
        self._check_writable(channel)
        emoji = request.match_info["emoji"]
        if emoji not in message.reactions:
            message.reactions.append(emoji)
            self.fake.dispatch(
                "MESSAGE_REACTION_ADD", self._reaction_event(channel, message, emoji)
            )
        return _no_content()

    async def delete_reaction(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        message = self._message(request, channel)
        emoji = request.match_info["emoji"]
        if emoji in message.reactions:
            message.reactions.remove(emoji)
            self.fake.dispatch(
                "MESSAGE_REACTION_REMOVE", self._reaction_event(channel, message, emoji)
            )
        return _no_content()

    def _reaction_event(self, channel: Channel, message: Message, emoji: str) -> JSON:
        name, _, emoji_id = emoji.partition(":")
        guild = self.fake.guild_of(channel)
        return {
            "user_id": str(self.fake.bot.id),
            "channel_id": str(channel.id),
            "message_id": str(message.id),
            "guild_id": str(guild.id),
            "member": self.fake.bot_member(guild).payload(),
            "emoji": {"id": emoji_id or None, "name": name},
            "message_author_id": str(message.author.id),
            "burst": False,
            "type": 0,
        }

    # -- guilds -------------------------------------------------------------------------------

    def _guild_id(self, request: web.Request) -> int:
        gid = _int(request.match_info["gid"], 10004)
        if gid not in self.fake.guilds:
            raise DiscordError(404, 10004)
        return gid

    async def get_guild(self, request: web.Request) -> web.Response:
        guild = self.fake.guilds[self._guild_id(request)]
        counts = {"approximate_member_count": len(guild.members), "approximate_presence_count": 0}
        return json_response({**guild.payload(), **counts})

    async def get_roles(self, request: web.Request) -> web.Response:
        guild = self.fake.guilds[self._guild_id(request)]
        return json_response([r.payload() for r in guild.roles.values()])

    async def get_member(self, request: web.Request) -> web.Response:
        guild = self.fake.guilds[self._guild_id(request)]
        member = guild.members.get(_int(request.match_info["uid"], 10007))
        if member is None:
            raise DiscordError(404, 10007)
        return json_response(member.payload())

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        guild = self.fake.guilds[self._guild_id(request)]
        channels = [self.fake.channels[c] for c in guild.channel_ids]
        return json_response([c.payload() for c in channels if not c.deleted])

    async def get_active_threads(self, request: web.Request) -> web.Response:
        gid = self._guild_id(request)
        threads = [
            c
            for c in self.fake.channels.values()
            if c.guild_id == gid and c.is_thread and not c.archived and not c.deleted
        ]
        return json_response({"threads": [t.payload() for t in threads], "members": []})

    # -- interactions -------------------------------------------------------------------------

    def _interaction_by_token(self, request: web.Request) -> Interaction:
        token = request.match_info["token"]
        if request.match_info["app"] == str(self.fake.application_id):
            for record in self.fake.interactions.values():
                if record.token == token:
                    return record
        raise DiscordError(404, 10015)

    async def interaction_callback(self, request: web.Request) -> web.Response:
        fake = self.fake
        record = fake.interactions.get(_int(request.match_info["iid"], 10062))
        if record is None or record.token != request.match_info["token"]:
            raise DiscordError(404, 10062)
        if record.responses:
            raise DiscordError(400, 40060)
        body: JSON = request[BODY] or {}
        type_ = int(body.get("type", 0))
        data: JSON = dict(body.get("data") or {})
        if request[FILES]:
            data["attachments"] = [self._attachment(f) for f in request[FILES]]
        response = InteractionResponse(type_, data)
        record.responses.append(response)
        if type_ in (4, 5):
            flags = int(data.get("flags") or 0) | (LOADING if type_ == 5 else 0)
            record.original = self._interaction_message(record, data, flags, publish=type_ == 4)
        elif type_ in (6, 7) and record.target is not None:
            # A component's interaction answers on the message the component is on.
            record.original = record.target
            if type_ == 7:
                _apply_edit(record.target, data)
        fake.changed()
        if request.query.get("with_response") not in ("1", "true", "True"):
            return _no_content()
        summary = {
            "id": str(record.id),
            "type": record.type,
            "response_message_loading": type_ == 5,
            "response_message_ephemeral": response.ephemeral,
        }
        resource: JSON = {"type": type_}
        if record.original is not None:
            summary["response_message_id"] = str(record.original.id)
            resource["message"] = record.original.payload()
        return json_response({"interaction": summary, "resource": resource})

    def _interaction_message(
        self, record: Interaction, data: JSON, flags: int, *, publish: bool
    ) -> Message:
        fake = self.fake
        fields: JSON = {
            "content": str(data.get("content") or ""),
            "embeds": list(data.get("embeds") or []),
            "allowed_mentions": data.get("allowed_mentions"),
            "flags": flags,
            "components": list(data.get("components") or []),
            "attachments": list(data.get("attachments") or []),
        }
        channel = fake.channel(record.channel_id)
        if publish and not flags & EPHEMERAL:
            return fake.post(channel, fake.bot, webhook_id=fake.application_id, **fields)
        return Message(
            fake.ids.next(),
            channel.id,
            channel.guild_id,
            fake.bot,
            webhook_id=fake.application_id,
            **fields,
        )

    async def execute_webhook(self, request: web.Request) -> web.Response:
        record = self._interaction_by_token(request)
        if not record.responses:
            raise DiscordError(404, 10015)
        body: JSON = dict(request[BODY] or {})
        fields = self._message_fields(body, request[FILES])
        original = record.original
        if original is not None and original.flags & LOADING:
            # The first followup after a deferral fills in the "thinking..." message.
            message = original
            _apply_edit(message, {**fields, "flags": original.flags & ~LOADING})
            message.attachments = fields["attachments"]
            self._publish(record, message)
        else:
            flags = fields.pop("flags")
            message = self._interaction_message(
                record, {**fields, "flags": flags}, flags, publish=True
            )
        record.followups.append(message)
        self.fake.changed()
        if request.query.get("wait") in ("true", "1", "True"):
            return json_response(message.payload())
        return _no_content()

    def _publish(self, record: Interaction, message: Message) -> None:
        fake = self.fake
        if message.flags & EPHEMERAL or message in fake.messages.get(record.channel_id, []):
            return
        fake.messages.setdefault(record.channel_id, []).append(message)
        fake.dispatch("MESSAGE_CREATE", message.payload())

    def _webhook_message(self, request: web.Request) -> tuple[Interaction, Message]:
        record = self._interaction_by_token(request)
        mid = request.match_info["mid"]
        if mid == "@original":
            message = record.original
        else:
            message = next((m for m in record.followups if str(m.id) == mid), None)
        if message is None or message.deleted:
            raise DiscordError(404, 10008)
        return record, message

    async def get_webhook_message(self, request: web.Request) -> web.Response:
        return json_response(self._webhook_message(request)[1].payload())

    async def patch_webhook_message(self, request: web.Request) -> web.Response:
        record, message = self._webhook_message(request)
        body: JSON = dict(request[BODY] or {})
        body["flags"] = message.flags & ~LOADING
        _apply_edit(message, body)
        if request[FILES]:
            message.attachments = [self._attachment(f) for f in request[FILES]]
        if message in self.fake.messages.get(record.channel_id, []):
            self.fake.dispatch("MESSAGE_UPDATE", message.payload())
        else:
            self._publish(record, message)
        return json_response(message.payload())

    async def delete_webhook_message(self, request: web.Request) -> web.Response:
        _, message = self._webhook_message(request)
        message.deleted = True
        if message in self.fake.messages.get(message.channel_id, []):
            self.fake.member_deletes(message)
        return _no_content()


def _apply_edit(message: Message, body: JSON) -> None:
    for key in ("content", "embeds", "allowed_mentions", "flags", "components"):
        if key in body and body[key] is not None:
            setattr(message, key, body[key])
    message.edited_timestamp = now()


def _thread_name(value: Any) -> str:
    name = str(value or "")
    if not 1 <= len(name) <= 100:
        errors = {
            "name": {
                "_errors": [
                    {
                        "code": "BASE_TYPE_BAD_LENGTH",
                        "message": "Must be between 1 and 100 in length.",
                    }
                ]
            }
        }
        raise DiscordError(400, 50035, errors=errors)
    return name


async def _read_body(request: web.Request) -> tuple[Any, list[JSON]]:
    """The JSON body, or `payload_json` and the files of a multipart/form-data body."""
    if not request.can_read_body:
        return None, []
    if request.content_type == "multipart/form-data":
        body: Any = None
        files: list[JSON] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            data = await part.read()
            if part.name == "payload_json":
                body = json.loads(data)
            elif part.filename:
                content_type = part.headers.get("Content-Type", "application/octet-stream")
                files.append(
                    {
                        "filename": part.filename,
                        "size": len(data),
                        "content_type": content_type,
                        "data": bytes(data),
                    }
                )
        return body, files
    raw = await request.read()
    if not raw:
        return None, []
    try:
        return json.loads(raw), []
    except ValueError:
        return raw.decode(errors="replace"), []
