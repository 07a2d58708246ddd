"""The fake Discord's gateway: HELLO, heartbeats, IDENTIFY/READY, RESUME and sequenced dispatches.

Package-private: `FakeDiscord` owns one `Gateway`. Dispatches are synchronous for callers: each
frame is logged on the current session (so RESUME can replay it) and queued to that session's
socket writer.
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


class Gateway:
    def __init__(
        self,
        *,
        token_ok: Callable[[str], bool],
        ready_events: Callable[[str, int], list[tuple[str, JSON]]],
        resume_url: Callable[[], str],
        on_change: Callable[[], None],
    ) -> None:
        self._token_ok = token_ok
        self._ready_events = ready_events
        self._resume_url = resume_url
        self._on_change = on_change
        self.heartbeat_interval_ms = 41250
        self.sessions: dict[str, _Session] = {}
        self.current: _Session | None = None
        self.identify_count = 0
        self.resume_count = 0
        self.heartbeat_count = 0
        self._connections: set[_Connection] = set()

    @property
    def connected(self) -> bool:
        return self.current is not None and self.current.conn is not None

    def dispatch(self, event: str, data: JSON) -> None:
        """Send a DISPATCH (op 0) on the current session; kept for replay if its socket is gone."""
        session = self.current
        if session is None:
            return
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.log.append(frame)
        if session.conn is not None:
            session.conn.send(frame)

    async def drop(self, code: int | None = None) -> None:
        """Lose the current socket (abort, or close with `code`); the session stays resumable."""
        session = self.current
        if session is None or session.conn is None:
            return
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
        self.identify_count += 1
        if self.current is not None and self.current.conn is not None:
            stale, self.current.conn = self.current.conn, None
            await stale.close(4000)
        session = _Session(id=secrets.token_hex(16), conn=conn)
        self.sessions[session.id] = session
        self.current = session
        for event, event_data in self._ready_events(session.id, int(data.get("intents") or 0)):
            self.dispatch(event, event_data)

    async def _resume(self, conn: _Connection, data: JSON) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or not self._token_ok(str(data.get("token", ""))):
            conn.send({"op": 9, "s": None, "t": None, "d": False})
            return
        self.resume_count += 1
        if session.conn is not None and session.conn is not conn:
            await session.conn.close(4000)
        session.conn = conn
        self.current = session
        last_seen = int(data.get("seq") or 0)
        for frame in session.log:
            if frame["s"] > last_seen:
                conn.send(frame)
        self.dispatch("RESUMED", {})
