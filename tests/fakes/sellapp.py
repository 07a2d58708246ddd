"""A fake SellApp that speaks the documented ticket API over real HTTP on loopback.

It follows ``/work/shared/reference/sellapp-tickets-api.txt`` and the notes beside it:
Bearer keys that belong to a user who owns stores, ``X-STORE`` (absent -> the key's first
store; a store the key doesn't own -> 403), Laravel's list envelope and error bodies, and
ids that auto-increment across stores like one database would.

Knobs switch between the payload shapes the notes list, and faults (scoped to a
method + path regex and a count) produce latency, 5xx/429, malformed JSON, wrong shapes,
dropped connections and revoked keys on demand.

Guesses, flagged: replies longer than :data:`MAX_CONTENT` (10,000) characters get a 422,
and replying to a CLOSED ticket gets a 422 saying the ticket is closed; SellApp documents
neither. Run by hand with ``python -m tests.fakes.sellapp --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Self

import aiohttp
from aiohttp import web

from tests.fakes.sellapp_orders import OrdersFake

MAX_CONTENT = 10_000
DEFAULT_LIMIT = 15
MAX_LIMIT = 100

FaultKind = Literal[
    "latency",
    "status",
    "malformed_json",
    "wrong_shape",
    "cut_connection",
    "revoke",
    "hang_after",
]
ReferenceStyle = Literal["list", "null", "object", "empty_object", "missing"]
Shape = Literal["data_string", "missing_fields", "wrong_types"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


def _message(status: int, message: str, **extra: Any) -> web.Response:
    return _json({"message": message, **extra}, status=status)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received. ``headers`` keys are lower-case and unredacted."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    time: float

    @property
    def bearer(self) -> str | None:
        """The key from ``Authorization: Bearer ...``, if any."""
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else None

    def redacted_headers(self) -> dict[str, str]:
        """The headers with the Authorization value hidden, for printing."""
        return {k: ("Bearer ***" if k == "authorization" else v) for k, v in self.headers.items()}


@dataclass
class Fault:
    kind: FaultKind
    path: str
    method: str | None = None
    times: int | None = 1  # None: forever
    status: int = 503
    retry_after: float | str | None = None
    seconds: float = 0.0
    shape: Shape = "data_string"
    hits: int = 0
    """How many requests this fault was injected into (a test asserts it fired)."""

    def matches(self, request: web.Request) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method is not None and self.method.upper() != request.method:
            return False
        return re.search(self.path, request.path) is not None


@dataclass
class _Store:
    slug: str
    id: int
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    messages: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery the fake sent (or dropped): where, what, and the answer."""

    url: str
    body: bytes
    status: int | None  # None: dropped, or no answer
    time: float


class FakeSellApp(OrdersFake):
    """The fake. ``async with FakeSellApp() as fake: fake.url`` -> ``http://127.0.0.1:PORT/api``."""

    def __init__(self) -> None:
        self.reply_shape: Literal["bare", "wrapped"] = "bare"
        self.reply_status: Literal[200, 201] = 201
        self.customer_id_as_int = False
        self.reference_style: ReferenceStyle = "list"
        self.archived_as_bool = False
        self.newest_first = False
        self.pin_current_page: int | None = None  # a broken server that never moves on
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.hanging = 0
        """How many requests a ``hang_after`` fault has handled and is holding the answer of."""
        self._accounts: dict[str, list[str]] = {}
        self._revoked: set[str] = set()
        self._stores: dict[str, _Store] = {}
        self._ids = itertools.count(1)
        self._store_ids = itertools.count(1)
        self._idempotent: dict[str, tuple[int, Any]] = {}
        self._runner: web.AppRunner | None = None
        self.url = ""
        # Webhooks (push): switches for lost and repeated deliveries, and signing.
        self.drop_deliveries = False
        self.deliver_twice = False
        self.webhook_secret: str | None = None
        self.refuse_webhooks: int | None = None  # 403 or 422 on webhook-channel routes
        self.deliveries: list[Delivery] = []
        self.created_at: dict[int, float] = {}
        """SellApp message id -> time.monotonic() when it was added (for latency)."""
        self._session: aiohttp.ClientSession | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._init_orders()  # orders, deliverables, customers, actions: sellapp_orders.py

    # ------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(middlewares=[self._middleware])
        for version in ("v1", "v2"):
            base = f"/api/{version}/tickets"
            app.router.add_get(base, self._list_tickets)
            app.router.add_get(base + r"/{id:\d+}", self._get_ticket)
            app.router.add_get(base + r"/{id:\d+}/messages", self._list_messages)
            app.router.add_post(base + r"/{id:\d+}/messages", self._reply)
            app.router.add_get(base + r"/{id:\d+}/messages/{mid:\d+}", self._get_message)
        app.router.add_patch(r"/api/v2/tickets/{id:\d+}", self._patch_ticket)
        app.router.add_get("/api/v2/webhook-channels", self._list_webhooks)
        app.router.add_post("/api/v2/webhook-channels", self._create_webhook)
        app.router.add_delete("/api/v2/webhook-channels/{uuid}", self._delete_webhook)
        app.router.add_patch("/api/v2/webhook-channels/{uuid}", self._update_webhook)
        self._order_routes(app)
        app.router.add_post("/_fake/tickets", self._control_ticket)
        app.router.add_post(r"/_fake/tickets/{id:\d+}/messages", self._control_message)
        app.router.add_get("/_fake/state", self._control_state)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.url = f"http://{bound[0]}:{bound[1]}/api"
        return self.url

    async def stop(self) -> None:
        for task in list(self._sending):
            task.cancel()
        for task in list(self._sending):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------ test state

    def add_account(self, api_key: str, stores: Sequence[str]) -> None:
        """A user with ``api_key`` who owns ``stores`` (the first is the default store)."""
        self._accounts[api_key] = list(stores)
        for slug in stores:
            if slug not in self._stores:
                self._stores[slug] = _Store(slug, next(self._store_ids))

    def revoke_key(self, api_key: str) -> None:
        self._revoked.add(api_key)

    def add_ticket(
        self,
        store: str,
        *,
        title: str = "Need help with my order",
        email: str = "customer@example.com",
        status: str = "OPEN",
        reference: int | str | None = None,
        messages: Sequence[str] = (),
    ) -> dict[str, Any]:
        """A ticket opened by a customer, with their ``messages``; returns it as v1 serves it."""
        st = self._store(store)
        now = _now()
        ticket: dict[str, Any] = {
            "id": next(self._ids),
            "title": title,
            "status": status.upper(),
            "email": email,
            "customer_uuid": str(uuid.uuid4()),
            "customer_int": next(self._ids),
            "reference": None if reference is None else {"id": reference, "type": "order"},
            "created_at": now,
            "updated_at": now,
            "read_by": None,
            "archived": False,
        }
        st.tickets[ticket["id"]] = ticket
        st.messages[ticket["id"]] = []
        for content in messages:
            self.add_customer_message(store, ticket["id"], content)
        return self._ticket_json(st, ticket, "v1")

    def add_customer_message(self, store: str, ticket_id: int, content: str) -> dict[str, Any]:
        ticket = self._store(store).tickets[ticket_id]
        return self._add_message(store, ticket_id, "CUSTOMER", ticket["email"], content)

    def add_store_message(self, store: str, ticket_id: int, content: str) -> dict[str, Any]:
        """A reply typed in SellApp's dashboard (not through the API)."""
        return self._add_message(store, ticket_id, "STORE", "staff-member", content)

    def set_ticket_status(self, store: str, ticket_id: int, status: str) -> None:
        ticket = self._store(store).tickets[ticket_id]
        ticket["status"] = status.upper()
        ticket["updated_at"] = _now()

    def serve_ticket_as(
        self, store: str, ticket_id: int, *, drop: Sequence[str] = (), **fields: Any
    ) -> None:
        """From now on, list and show this ticket with ``fields`` changed and ``drop`` left
        out, as a SellApp with a new status or a broken row would (its state is kept)."""
        ticket = self._store(store).tickets[ticket_id]
        ticket["served_as"] = (tuple(drop), dict(fields))
        ticket["updated_at"] = _now()

    def serve_message_as(
        self,
        store: str,
        ticket_id: int,
        message_id: int,
        *,
        drop: Sequence[str] = (),
        **fields: Any,
    ) -> None:
        """Change a stored message as SellApp would serve it (``drop`` removes fields)."""
        for message in self._store(store).messages[ticket_id]:
            if message["id"] == message_id:
                message.update(fields)
                for name in drop:
                    message.pop(name, None)

    def tickets(self, store: str) -> list[dict[str, Any]]:
        st = self._store(store)
        return [self._ticket_json(st, t, "v1") for t in st.tickets.values()]

    def messages(self, store: str, ticket_id: int) -> list[dict[str, Any]]:
        return [dict(m) for m in self._store(store).messages[ticket_id]]

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """Recorded requests whose method matches and whose path matches the regex."""
        return [r for r in self.requests if r.method == method.upper() and re.search(path, r.path)]

    # ---------------------------------------------------------------- faults

    def fail(
        self,
        *,
        path: str,
        status: int = 503,
        times: int | None = 1,
        method: str | None = None,
        retry_after: float | str | None = None,
    ) -> Fault:
        """Answer ``status`` (503, or 429 with ``retry_after``) ``times`` times; None: always."""
        return self._add(
            Fault("status", path, method, times, status=status, retry_after=retry_after)
        )

    def latency(
        self, seconds: float, *, path: str, times: int | None = 1, method: str | None = None
    ) -> Fault:
        return self._add(Fault("latency", path, method, times, seconds=seconds))

    def malformed_json(
        self, *, path: str, times: int | None = 1, method: str | None = None
    ) -> Fault:
        return self._add(Fault("malformed_json", path, method, times))

    def wrong_shape(
        self,
        *,
        path: str,
        shape: Shape = "data_string",
        times: int | None = 1,
        method: str | None = None,
    ) -> Fault:
        return self._add(Fault("wrong_shape", path, method, times, shape=shape))

    def cut_connection(
        self, *, path: str, times: int | None = 1, method: str | None = None
    ) -> Fault:
        """Close the socket without answering."""
        return self._add(Fault("cut_connection", path, method, times))

    def hang_after(
        self, seconds: float, *, path: str, times: int | None = 1, method: str | None = None
    ) -> Fault:
        """Do the request (a reply is stored), then wait ``seconds`` before answering: the
        window in which a client may die after its POST reached SellApp."""
        return self._add(Fault("hang_after", path, method, times, seconds=seconds))

    def revoke(self, *, path: str, times: int | None = 1, method: str | None = None) -> Fault:
        """Revoke the presented key when a matching request arrives (it then gets 401)."""
        return self._add(Fault("revoke", path, method, times))

    def clear_faults(self) -> None:
        self.faults.clear()

    def _add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    # ------------------------------------------------------------ plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/_fake/"):
            body: Any = None
            if request.can_read_body:
                try:
                    body = await request.json()
                except ValueError:
                    body = None
            self.requests.append(
                RecordedRequest(
                    request.method,
                    request.path,
                    dict(request.query),
                    {k.lower(): v for k, v in request.headers.items()},
                    body,
                    time.monotonic(),
                )
            )
            fault = next((f for f in self.faults if f.matches(request)), None)
            if fault is not None:
                if fault.times is not None:
                    fault.times -= 1
                fault.hits += 1
                early = await self._apply_fault(fault, request)
                if early is not None:
                    return early
                if fault.kind == "wrong_shape":
                    return self._reshape(await self._call(handler, request), fault.shape)
                if fault.kind == "hang_after":
                    response = await self._call(handler, request)
                    self.hanging += 1
                    await asyncio.sleep(fault.seconds)
                    return response
        return await self._call(handler, request)

    async def _call(self, handler: Handler, request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:  # router 404/405: answer JSON like Laravel does
            return _message(exc.status, exc.reason)

    async def _apply_fault(self, fault: Fault, request: web.Request) -> web.StreamResponse | None:
        if fault.kind == "latency":
            await asyncio.sleep(fault.seconds)
        elif fault.kind == "status":
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            text = "Too Many Attempts." if fault.status == 429 else "Server Error"
            return _json({"message": text}, status=fault.status, headers=headers)
        elif fault.kind == "malformed_json":
            return web.Response(
                text='{"data": [{"id": 1,', status=200, content_type="application/json"
            )
        elif fault.kind == "cut_connection":
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=204)  # never sent: the socket is gone
        elif fault.kind == "revoke":
            key = request.headers.get("Authorization", "")[7:]
            self._revoked.add(key)
        return None

    @staticmethod
    def _reshape(response: web.StreamResponse, shape: Shape) -> web.StreamResponse:
        assert isinstance(response, web.Response) and response.body is not None
        body = json.loads(bytes(response.body))  # type: ignore[arg-type]
        if "data" not in body:  # a bare answer (the reply, shown bare on the ticket page)
            body = {"data": body} if shape == "data_string" else body
        if shape == "data_string":
            body["data"] = "unexpected"
        else:
            data = body.get("data", body)
            items = data if isinstance(data, list) else [data]
            for item in items:
                if shape == "missing_fields":
                    item.pop("id", None)
                    item.pop("created_at", None)
                else:
                    item["id"] = "not-a-number"
        return _json(body, status=response.status)

    def _store(self, slug: str) -> _Store:
        return self._stores[slug]

    def _auth(self, request: web.Request) -> _Store | web.Response:
        """The store this request acts on, or the error answer."""
        auth = request.headers.get("Authorization", "")
        key = auth[7:] if auth.startswith("Bearer ") else ""
        if key not in self._accounts or key in self._revoked:
            return _message(401, "Unauthenticated.")
        owned = self._accounts[key]
        slug = request.headers.get("X-STORE")
        if slug is None:
            if not owned:
                return _message(400, "missing-store")
            slug = owned[0]
        if slug not in owned:
            return _message(403, "This action is unauthorized.")
        return self._stores[slug]

    def _ticket_or_404(self, st: _Store, request: web.Request) -> dict[str, Any] | web.Response:
        ticket_id = int(request.match_info["id"])
        ticket = st.tickets.get(ticket_id)
        if ticket is None:
            return _message(404, f"No query results for model [App\\Models\\Ticket] {ticket_id}")
        return ticket

    def _ticket_json(self, st: _Store, t: dict[str, Any], version: str) -> dict[str, Any]:
        customer_id: int | str = (
            t["customer_int"] if self.customer_id_as_int else t["customer_uuid"]
        )
        out: dict[str, Any] = {
            "id": t["id"],
            "title": t["title"],
            "status": t["status"],
            "customer": {"id": customer_id, "email": t["email"]},
        }
        ref = t["reference"]
        style = self.reference_style
        if ref is not None or style == "object":
            out["reference"] = ref
        elif style != "missing":
            out["reference"] = {"list": [], "null": None, "empty_object": {}}.get(style, [])
        out.update(
            created_at=t["created_at"],
            updated_at=t["updated_at"],
            store_id=st.id,
            read_by=t["read_by"],
        )
        if version == "v2":
            msgs = st.messages[t["id"]]
            out.update(archived=t["archived"], read_status="UNREAD", order_id=None)
            out.update(reason=None, message_count=len(msgs))
        else:
            out["archived"] = t["archived"] if self.archived_as_bool else int(t["archived"])
        drop, fields = t.get("served_as", ((), {}))
        out.update(fields)
        for name in drop:
            out.pop(name, None)
        return out

    def _add_message(
        self, store: str, ticket_id: int, author: str, sender: str | None, content: str
    ) -> dict[str, Any]:
        st = self._store(store)
        now = _now()
        msg = {
            "id": next(self._ids),
            "author": author,
            "sender": sender,
            "content": content,
            "created_at": now,
            "updated_at": now,
            "ticket_id": ticket_id,
        }
        st.messages[ticket_id].append(msg)
        self.created_at[msg["id"]] = time.monotonic()
        self._push(st, msg)
        return dict(msg)

    # ------------------------------------------------------------- webhooks

    def webhook_channels(self, store: str) -> list[dict[str, Any]]:
        return [dict(c) for c in self._store(store).webhooks.values()]

    def _push(self, st: _Store, msg: dict[str, Any]) -> None:
        """Deliver ``ticket_message.created`` to every channel of the store, in the background."""
        data = {k: msg[k] for k in ("author", "sender", "content", "ticket_id", "updated_at")}
        self._send_event(st.slug, "ticket_message.created", data)

    def _send_event(self, store: str, event: str, data: dict[str, Any]) -> None:
        """Deliver ``event`` to every channel of ``store`` subscribed to it, in the background."""
        st = self._store(store)
        targets = [c["url"] for c in st.webhooks.values() if event in c["allowed_notifications"]]
        if not targets:
            return
        body = json.dumps({"event": event, "data": data, "store": st.id}).encode()
        for url in targets:
            for _ in range(2 if self.deliver_twice else 1):
                task = asyncio.get_running_loop().create_task(self._deliver(url, body))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)

    async def _deliver(self, url: str, body: bytes) -> None:
        if self.drop_deliveries:
            self.deliveries.append(Delivery(url, body, None, time.monotonic()))
            return
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {"Content-Type": "application/json"}
        if self.webhook_secret is not None:
            digest = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
            headers["Signature"] = digest
        status: int | None = None
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                status = response.status
        except aiohttp.ClientError:
            status = None
        self.deliveries.append(Delivery(url, body, status, time.monotonic()))

    def _webhooks_refused(self) -> web.Response | None:
        if self.refuse_webhooks == 403:
            return _message(403, "This action is unauthorized.")
        if self.refuse_webhooks == 422:
            text = "The url must be a publicly reachable URL."
            return _message(422, text, errors={"url": [text]})
        return None

    async def _list_webhooks(self, request: web.Request) -> web.Response:
        st = self._auth(request)
        if isinstance(st, web.Response):
            return st
        refused = self._webhooks_refused()
        if refused is not None:
            return refused
        return self._paginate(request, [dict(c) for c in st.webhooks.values()])

    async def _create_webhook(self, request: web.Request) -> web.Response:
        st = self._auth(request)
        if isinstance(st, web.Response):
            return st
        refused = self._webhooks_refused()
        if refused is not None:
            return refused
        body = await self._body(request)
        url = body.get("url")
        notifications = body.get("allowed_notifications")
        if not isinstance(url, str) or not re.match(r"^https?://", url) or len(url) > 2048:
            text = "The url field must be a valid URL."
            return _message(422, text, errors={"url": [text]})
        if any(c["url"] == url for c in st.webhooks.values()):  # like SellApp: once per store
            text = "The url has already been taken."
            return _message(422, text, errors={"url": [text]})
        if not isinstance(notifications, list) or not notifications:
            text = "The allowed notifications field is required."
            return _message(422, text, errors={"allowed_notifications": [text]})
        channel = {
            "id": str(uuid.uuid4()),
            "url": url,
            "name": body.get("name"),
            "allowed_notifications": [str(n) for n in notifications],
            "created_at": _now(),
        }
        st.webhooks[channel["id"]] = channel
        return _json({"data": channel}, 201)

    async def _update_webhook(self, request: web.Request) -> web.Response:
        st = self._auth(request)
        if isinstance(st, web.Response):
            return st
        refused = self._webhooks_refused()
        if refused is not None:
            return refused
        channel = st.webhooks.get(request.match_info["uuid"])
        if channel is None:
            return _message(404, "No query results for model [App\\Models\\WebhookChannel]")
        notifications = (await self._body(request)).get("allowed_notifications")
        if notifications is not None:
            if not isinstance(notifications, list) or not notifications:
                text = "The allowed notifications field must be a non-empty list."
                return _message(422, text, errors={"allowed_notifications": [text]})
            channel["allowed_notifications"] = [str(n) for n in notifications]
        return _json({"data": dict(channel)})

    async def _delete_webhook(self, request: web.Request) -> web.Response:
        st = self._auth(request)
        if isinstance(st, web.Response):
            return st
        refused = self._webhooks_refused()
        if refused is not None:
            return refused
        if st.webhooks.pop(request.match_info["uuid"], None) is None:
            return _message(404, "No query results for model [App\\Models\\WebhookChannel]")
        return web.Response(status=204)

    def _paginate(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        def number(name: str, default: int) -> int:
            try:
                return max(1, int(request.query.get(name, default)))
            except ValueError:
                return default

        page, limit = number("page", 1), min(number("limit", DEFAULT_LIMIT), MAX_LIMIT)
        if self.newest_first:
            items = sorted(items, key=lambda i: i["id"], reverse=True)
        total = len(items)
        last = max(1, math.ceil(total / limit))
        chunk = items[(page - 1) * limit : page * limit]
        path = f"{request.url.origin()}{request.path}"

        def link(n: int | None) -> str | None:
            return None if n is None else f"{path}?page={n}"

        first_index = (page - 1) * limit + 1
        return _json(
            {
                "data": chunk,
                "links": {
                    "first": link(1),
                    "last": link(last),
                    "prev": link(page - 1) if page > 1 else None,
                    "next": link(page + 1) if page < last else None,
                },
                "meta": {
                    "current_page": self.pin_current_page or page,
                    "from": first_index if chunk else None,
                    "last_page": last,
                    "links": [{"url": None, "label": "&laquo; Previous", "active": False}],
                    "path": path,
                    "per_page": limit,
                    "to": first_index + len(chunk) - 1 if chunk else None,
                    "total": total,
                },
            }
        )

    # -------------------------------------------------------------- routes

    @staticmethod
    def _version(request: web.Request) -> str:
        return "v2" if request.path.startswith("/api/v2/") else "v1"

    async def _list_tickets(self, request: web.Request) -> web.Response:
        st = self._auth(request)
        if isinstance(st, web.Response):
            return st
        v = self._version(request)
        return self._paginate(request, [self._ticket_json(st, t, v) for t in st.tickets.values()])

    async def _get_ticket(self, request: web.Request) -> web.Response:
        st = self._auth(request)
        if isinstance(st, web.Response):
            return st
        t = self._ticket_or_404(st, request)
        if isinstance(t, web.Response):
            return t
        return _json({"data": self._ticket_json(st, t, self._version(request))})

    async def _list_messages(self, request: web.Request) -> web.Response:
        st = self._auth(request)
        if isinstance(st, web.Response):
            return st
        t = self._ticket_or_404(st, request)
        if isinstance(t, web.Response):
            return t
        return self._paginate(request, [dict(m) for m in st.messages[t["id"]]])

    async def _get_message(self, request: web.Request) -> web.Response:
        st = self._auth(request)
        if isinstance(st, web.Response):
            return st
        t = self._ticket_or_404(st, request)
        if isinstance(t, web.Response):
            return t
        mid = int(request.match_info["mid"])
        found = [m for m in st.messages[t["id"]] if m["id"] == mid]
        if not found:
            return _message(404, f"No query results for model [App\\Models\\TicketMessage] {mid}")
        return _json({"data": dict(found[0])})

    async def _reply(self, request: web.Request) -> web.Response:
        st = self._auth(request)
        if isinstance(st, web.Response):
            return st
        t = self._ticket_or_404(st, request)
        if isinstance(t, web.Response):
            return t
        body = await self._body(request)
        content = body.get("content")
        if not isinstance(content, str) or not content.strip():
            text = "The content field is required."
            return _message(422, text, errors={"content": [text]})
        if len(content) > MAX_CONTENT:
            text = f"The content field must not be greater than {MAX_CONTENT} characters."
            return _message(422, text, errors={"content": [text]})
        if t["status"] == "CLOSED":  # a guess: SellApp doesn't document this case
            text = "This ticket is closed."
            return _message(422, text, errors={"ticket": [text]})
        msg = self._add_message(st.slug, t["id"], "STORE", None, content)
        t["updated_at"] = msg["created_at"]
        return _json(msg if self.reply_shape == "bare" else {"data": msg}, self.reply_status)

    async def _patch_ticket(self, request: web.Request) -> web.Response:
        st = self._auth(request)
        if isinstance(st, web.Response):
            return st
        t = self._ticket_or_404(st, request)
        if isinstance(t, web.Response):
            return t
        key = request.headers.get("Idempotency-Key")
        if key and key in self._idempotent:
            code, saved = self._idempotent[key]
            return _json(saved, code)
        body = await self._body(request)
        status = body.get("status")
        archived = body.get("archived")
        if status is not None and status not in ("OPEN", "CLOSED"):
            text = "The selected status is invalid."
            return _message(422, text, errors={"status": [text]})
        if archived is not None and not isinstance(archived, bool):
            text = "The archived field must be true or false."
            return _message(422, text, errors={"archived": [text]})
        if status is not None:
            t["status"] = status
        if archived is not None:
            t["archived"] = archived
        t["updated_at"] = _now()
        answer = {"data": self._ticket_json(st, t, "v2")}
        if key:
            self._idempotent[key] = (200, answer)
        return _json(answer)

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    # ----------------------------------------------------- /_fake/ controls

    def _control_store(self, slug: Any) -> str:
        if isinstance(slug, str) and slug in self._stores:
            return slug
        return next(iter(self._stores))

    async def _control_ticket(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        store = self._control_store(body.get("store"))
        message = body.get("message")
        ticket = self.add_ticket(
            store,
            title=str(body.get("title") or "Help, please"),
            email=str(body.get("email") or "customer@example.com"),
            messages=[str(message)] if message else [],
        )
        return _json({"data": ticket, "store": store}, 201)

    async def _control_message(self, request: web.Request) -> web.Response:
        ticket_id = int(request.match_info["id"])
        store = next((s.slug for s in self._stores.values() if ticket_id in s.tickets), None)
        if store is None:
            return _message(404, f"No ticket {ticket_id}")
        content = (await self._body(request)).get("content")
        if not isinstance(content, str) or not content:
            return _message(422, "content is required")
        return _json({"data": self.add_customer_message(store, ticket_id, content)}, 201)

    async def _control_state(self, request: web.Request) -> web.Response:
        state = {
            slug: [
                {**self._ticket_json(st, t, "v1"), "messages": st.messages[t["id"]]}
                for t in st.tickets.values()
            ]
            for slug, st in self._stores.items()
        }
        return _json({"stores": state, "requests": len(self.requests)})


def _parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.sellapp",
        description="Serve a fake SellApp ticket API on loopback until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--key", default="fake-sellapp-key", help="the API key to accept")
    parser.add_argument("--store", default="demo-store", help="the store slug the key owns")
    parser.add_argument("--seed", type=int, default=3, help="tickets to create at start")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeSellApp()
    fake.add_account(args.key, [args.store])
    for n in range(1, args.seed + 1):
        fake.add_ticket(
            args.store,
            title=f"Question #{n}",
            email=f"customer{n}@example.com",
            messages=[f"Hello, this is customer {n}.", "Could you help me with my order?"],
        )
    await fake.start(args.host, args.port)
    print(f"Fake SellApp at {fake.url}\n  key:   {args.key}\n  store: {args.store}", flush=True)
    print(f"  try:   curl -s {fake.url.removesuffix('/api')}/_fake/state", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
