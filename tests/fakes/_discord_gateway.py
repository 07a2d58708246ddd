"""The fake Discord's gateway: HELLO, heartbeats, IDENTIFY/READY, RESUME and sequenced dispatches.

Package-private: `FakeDiscord` owns one `Gateway`. Dispatches are synchronous for callers: each
frame is logged on the current session of the shard it belongs to (so RESUME can replay it) and
queued to that session's socket writer.

Shards, as Discord does them: IDENTIFY's ``shard: [id, count]`` (default ``[0, 1]``) makes a
session one shard's; each shard has its own current session (several processes may each run
some). An event of a guild goes to the shard ``(guild_id >> 22) % count``; one without a
guild, to shard 0. An IDENTIFY the fake refuses (`refuse`: an invalid shard, 4010; too many
guilds for one shard, 4011) is closed with that code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

JSON = dict[str, Any]


class _Connection:
    """One websocket: a queue and a writer task keep frames in dispatch order."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.ws = ws
        self.request = request
        self._queue: asyncio.Queue[JSON | None] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write())

    def send(self, frame: JSON) -> None:
        self._queue.put_nowait(frame)

    async def _write(self) -> None:
        while (frame := await self._queue.get()) is not None:
            if self.ws.closed:
                return
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_str(json.dumps(frame))

    async def close(self, code: int | None = None, message: bytes = b"") -> None:
        """Flush and close with `code`, or abort the transport when `code` is None."""
        if code is None:
            self._writer.cancel()
            transport = self.request.transport
            if transport is not None:
                transport.abort()
        else:
            self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            await self.ws.close(code=code, message=message)
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer

    async def finish(self) -> None:
        if not self._writer.done():
            self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer


@dataclass
class _Session:
    id: str
    seq: int = 0
    log: list[JSON] = field(default_factory=list)
    conn: _Connection | None = None
    shard_id: int = 0
    shard_count: int = 1
    identified: int = 0
    """The IDENTIFY's number (1, 2, ...): higher is newer."""


def shard_of(guild_id: int, shard_count: int) -> int:
    return (guild_id >> 22) % shard_count


def guild_of_event(event: str, data: JSON) -> int | None:
    """The guild an event belongs to (None: none, e.g. a DM), for routing it to its shard."""
    raw = data.get("guild_id")
    if raw is None and event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"):
        raw = data.get("id")
    return int(raw) if raw is not None else None


class Gateway:
    def __init__(
        self,
        *,
        token_ok: Callable[[str], bool],
        ready_events: Callable[[str, int, tuple[int, int]], list[tuple[str, JSON]]],
        resume_url: Callable[[], str],
        on_change: Callable[[], None],
        refuse: Callable[[int, int], tuple[int, bytes] | None] = lambda shard, count: None,
    ) -> None:
        self._token_ok = token_ok
        self._refuse = refuse
        self._ready_events = ready_events
        self._resume_url = resume_url
        self._on_change = on_change
        self.heartbeat_interval_ms = 41250
        self.sessions: dict[str, _Session] = {}
        self.by_shard: dict[tuple[int, int], _Session] = {}
        """The current session of each ``(shard_id, shard_count)``. Sessions of different
        shard counts coexist (a host moving to a new count runs both for a while): each
        gets the events of its own guilds, so a guild's events may reach two sessions."""
        """Each shard's current session (the last one identified or resumed)."""
        self.identified: list[tuple[int, int]] = []
        """``[shard_id, shard_count]`` of every IDENTIFY accepted, in order."""
        self.refused: list[tuple[JSON, int]] = []
        """``(IDENTIFY's shard field or None, close code)`` of every IDENTIFY refused."""
        self.identify_count = 0
        self.resume_count = 0
        self.heartbeat_count = 0
        self._connections: set[_Connection] = set()

    @property
    def current(self) -> _Session | None:
        """Shard 0's current session, or the lowest shard's (one shard: the session)."""
        return self.by_shard[min(self.by_shard)] if self.by_shard else None

    @property
    def connected(self) -> bool:
        """Some session is current and every current session has its socket."""
        return bool(self.by_shard) and all(s.conn is not None for s in self.by_shard.values())

    def connected_shards(self) -> set[int]:
        return {i for (i, _), s in self.by_shard.items() if s.conn is not None}

    def sessions_for(self, guild_id: int | None) -> list[_Session]:
        """The current sessions that get ``guild_id``'s events (None: shard 0's), newest
        first: one per shard count in use."""
        found = [
            session
            for session in self.by_shard.values()
            if (
                session.shard_id == 0
                if guild_id is None
                else shard_of(guild_id, session.shard_count) == session.shard_id
            )
        ]
        return sorted(found, key=lambda session: -session.identified)

    def session_for(self, guild_id: int | None) -> _Session | None:
        """The newest current session that gets ``guild_id``'s events."""
        found = self.sessions_for(guild_id)
        return found[0] if found else None

    def dispatch(self, event: str, data: JSON) -> None:
        """Send a DISPATCH (op 0) on every session of the event's guild (an interaction:
        on one, the newest); kept for replay if its socket is gone."""
        sessions = self.sessions_for(guild_of_event(event, data))
        for session in sessions[:1] if event == "INTERACTION_CREATE" else sessions:
            self._send(session, event, data)

    def _send(self, session: _Session | None, event: str, data: JSON) -> None:
        if session is None:
            return
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.log.append(frame)
        if session.conn is not None:
            session.conn.send(frame)

    async def drop(self, code: int | None = None, *, shard: int | None = None) -> None:
        """Lose the current sockets (of ``shard``; None: of every shard): abort, or close
        with `code`; the sessions stay resumable."""
        for (shard_id, _), session in list(self.by_shard.items()):
            if shard is not None and shard_id != shard:
                continue
            if session.conn is None:
                continue
            conn, session.conn = session.conn, None
            self._on_change()
            await conn.close(code)

    async def close_all(self) -> None:
        for conn in list(self._connections):
            await conn.close(1001)
        for session in self.sessions.values():
            session.conn = None

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        conn = _Connection(ws, request)
        self._connections.add(conn)
        conn.send(
            {
                "op": 10,
                "s": None,
                "t": None,
                "d": {"heartbeat_interval": self.heartbeat_interval_ms},
            }
        )
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                payload = json.loads(msg.data)
                await self._on_frame(conn, payload)
        finally:
            self._connections.discard(conn)
            for session in self.sessions.values():
                if session.conn is conn:
                    session.conn = None
                    self._on_change()
            await conn.finish()
        return ws

    async def _on_frame(self, conn: _Connection, payload: JSON) -> None:
        op = payload.get("op")
        data = payload.get("d")
        if op == 1:
            self.heartbeat_count += 1
            conn.send({"op": 11, "s": None, "t": None, "d": None})
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        self._on_change()

    async def _identify(self, conn: _Connection, data: JSON) -> None:
        if not self._token_ok(str(data.get("token", ""))):
            await conn.close(4004, b"Authentication failed.")
            return
        raw = data.get("shard")
        shard = _shard_field(raw)
        refusal = (4010, b"Invalid shard.") if shard is None else self._refuse(*shard)
        if shard is None or refusal is not None:
            assert refusal is not None
            self.refused.append((raw, refusal[0]))
            await conn.close(*refusal)
            return
        shard_id, shard_count = shard
        self.identify_count += 1
        self.identified.append(shard)
        old = self.by_shard.get((shard_id, shard_count))
        if old is not None and old.conn is not None:
            stale, old.conn = old.conn, None
            await stale.close(4000)
        session = _Session(
            id=secrets.token_hex(16),
            conn=conn,
            shard_id=shard_id,
            shard_count=shard_count,
            identified=self.identify_count,
        )
        self.sessions[session.id] = session
        self.by_shard[shard_id, shard_count] = session
        intents = int(data.get("intents") or 0)
        for event, event_data in self._ready_events(session.id, intents, shard):
            self._send(session, event, event_data)

    async def _resume(self, conn: _Connection, data: JSON) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or not self._token_ok(str(data.get("token", ""))):
            conn.send({"op": 9, "s": None, "t": None, "d": False})
            return
        self.resume_count += 1
        if session.conn is not None and session.conn is not conn:
            await session.conn.close(4000)
        session.conn = conn
        self.by_shard[session.shard_id, session.shard_count] = session
        last_seen = int(data.get("seq") or 0)
        for frame in session.log:
            if frame["s"] > last_seen:
                conn.send(frame)
        self._send(session, "RESUMED", {})


def _shard_field(raw: Any) -> tuple[int, int] | None:
    """IDENTIFY's ``shard`` as ``(id, count)``; absent is ``(0, 1)``; None if invalid."""
    if raw is None:
        return (0, 1)
    if (
        not isinstance(raw, list)
        or len(raw) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in raw)
    ):
        return None
    shard_id, count = raw
    if count < 1 or not 0 <= shard_id < count:
        return None
    return (shard_id, count)
