"""The fake SellApp's orders: orders, deliverables, customers and the four order actions.

A mixin of :class:`tests.fakes.sellapp.FakeSellApp`, kept in its own module so that the
ticket fake and this one change independently. It follows
``sellapp-orders-and-webhooks.md``:

* Idempotency keys, for real: the same key with the same body answers the first outcome
  (and changes nothing again); the same key with another body, or while the first request
  is still being worked on, answers 409.
* State rules answer 422: retries only for PAID/PARTIAL, notifications only for
  COMPLETED, refunds no more than the remaining balance, replacements no more than bought
  and once per delivery.
* :attr:`OrdersFake.actions` logs every action that really happened (replays excluded),
  so a test can count what reached a customer.

Each deliverable carries a ``deliverable`` secret (``SECRET-...``): tests check that it
never reaches Discord.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web


@dataclass
class FakeOrder:
    store: str
    id: str
    status: str
    email: str
    customer_id: str
    currency: str
    line_items: list[dict[str, Any]]
    country: str = "NL"
    method: str = "STRIPE"
    refunded_cents: int = 0
    replaced: set[str] = field(default_factory=set)
    secrets: list[str] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return sum(int(i["total_cents"]) for i in self.line_items)


@dataclass(frozen=True)
class DoneAction:
    """An order action that really happened at the fake (a replay is not one)."""

    order_id: str
    action: str
    body: Any
    key: str


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def _refuse(status: int, message: str) -> web.Response:
    return _json({"message": message, "errors": {"order": [message]}}, status)


class OrdersFake:
    """Mixin: state and routes. The host class provides ``_auth`` (the store of a request)."""

    def _init_orders(self) -> None:
        self.orders: dict[str, FakeOrder] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.actions: list[DoneAction] = []
        self.refund_status = "pending"
        self.action_seconds = 0.0
        """How long an action takes: a second request with its key meanwhile gets 409."""
        self._order_ids = itertools.count(9001)
        self._action_keys: dict[str, tuple[str, int, Any]] = {}
        self._running_keys: set[str] = set()

    def _order_routes(self, app: web.Application) -> None:
        app.router.add_get(r"/api/v2/orders/{oid}", self._get_order)
        app.router.add_get(r"/api/v2/orders/{oid}/deliverables", self._get_deliverables)
        app.router.add_get(r"/api/v2/customers/{cid}", self._get_customer)
        app.router.add_post(r"/api/v2/orders/{oid}/{action}", self._order_action)

    # ------------------------------------------------------------ test state

    def add_order(
        self,
        store: str,
        *,
        status: str = "COMPLETED",
        email: str = "customer@example.com",
        currency: str = "EUR",
        items: list[tuple[str, str | None, int, int]] | None = None,
        orders_count: int = 3,
        revenue_usd_cents: int = 12_345,
    ) -> FakeOrder:
        """An order of ``items`` = (product, variant, quantity, total_cents)."""
        items = items or [("Game key", "Steam", 1, 1999)]
        order_id = str(next(self._order_ids))
        customer_id = str(uuid.uuid4())
        line_items = [
            {
                "id": f"{order_id}-{n}",
                "product_id": str(100 + n),
                "product_variant_id": f"v{order_id}{n}",
                "product_title": product,
                "variant_title": variant,
                "quantity": quantity,
                "status": "COMPLETED" if status == "COMPLETED" else "PENDING",
                "currency": currency,
                "total_cents": cents,
                "created_at": "2026-11-30T10:00:00.000000Z",
            }
            for n, (product, variant, quantity, cents) in enumerate(items, start=1)
        ]
        order = FakeOrder(store, order_id, status, email, customer_id, currency, line_items)
        order.secrets = [f"SECRET-{uuid.uuid4().hex[:12]}" for _ in line_items]
        self.orders[order_id] = order
        self.customers[customer_id] = {
            "email": email,
            "name": "A Customer",
            "locale": "en",
            "metadata": [],
            "insights": {
                "orders_count": orders_count,
                "revenue_usd_cents": revenue_usd_cents,
                "first_purchase_at": "2025-01-02T03:04:05.000000Z",
                "last_purchase_at": "2026-11-30T10:00:00.000000Z",
                "favorite_payment_method": "STRIPE",
            },
        }
        return order

    def dispute_order(self, order_id: str, *, shape: str = "id") -> None:
        """A chargeback opens: the order turns DISPUTING and ``order.disputed`` goes to the
        store's channels subscribed to it. ``shape`` is where the id is: ``id`` (the order
        itself as ``data``), ``order_id`` or ``order`` (``data.order.id``)."""
        order = self.orders[order_id]
        order.status = "DISPUTING"
        whole = self._order_json(order)
        data = {"id": whole, "order_id": {"order_id": whole["id"]}, "order": {"order": whole}}[
            shape
        ]
        self._send_event(order.store, "order.disputed", data)  # type: ignore[attr-defined]

    def actions_on(self, order_id: str, action: str | None = None) -> list[DoneAction]:
        return [a for a in self.actions if a.order_id == order_id and action in (None, a.action)]

    # -------------------------------------------------------------- payloads

    def _order_json(self, order: FakeOrder) -> dict[str, Any]:
        return {
            "id": int(order.id),
            "status": order.status,
            "timeline": [],
            "customer": {
                "id": order.customer_id,
                "email": order.email,
                "country": order.country,
                "location": "Amsterdam",
                "proxied": False,
            },
            "payment": {
                "method": order.method,
                "transaction_id": "txn_" + order.id,
                "paid_at": "2026-11-30T10:00:05.000000Z",
            },
            "totals": {
                "currency": order.currency,
                "subtotal_cents": order.total_cents,
                "total_cents": order.total_cents,
                "total_usd_cents": order.total_cents,
                "refunded_cents": order.refunded_cents,
            },
            "coupon_id": None,
            "line_items": order.line_items,
            "created_at": "2026-11-30T10:00:00.000000Z",
            "updated_at": "2026-11-30T10:00:05.000000Z",
        }

    def _order_or_error(self, request: web.Request) -> FakeOrder | web.Response:
        st = self._auth(request)  # type: ignore[attr-defined]
        if isinstance(st, web.Response):
            return st
        order = self.orders.get(request.match_info["oid"])
        if order is None or order.store != st.slug:
            return _json({"message": "No query results for model [App\\Models\\Order]"}, 404)
        return order

    # -------------------------------------------------------------- routes

    async def _get_order(self, request: web.Request) -> web.Response:
        order = self._order_or_error(request)
        if isinstance(order, web.Response):
            return order
        return _json({"data": self._order_json(order)})

    async def _get_deliverables(self, request: web.Request) -> web.Response:
        order = self._order_or_error(request)
        if isinstance(order, web.Response):
            return order
        delivered = order.status == "COMPLETED"
        records = [
            {
                "line_item_id": item["id"],
                "type": "SERIAL",
                "status": "delivered" if delivered else "pending",
                "quantity": item["quantity"],
                "deliverable": secret,
                "additional_information": [f"file https://files.example/{secret}"],
            }
            for item, secret in zip(order.line_items, order.secrets, strict=True)
        ]
        return _json({"data": records})

    async def _get_customer(self, request: web.Request) -> web.Response:
        st = self._auth(request)  # type: ignore[attr-defined]
        if isinstance(st, web.Response):
            return st
        customer = self.customers.get(request.match_info["cid"])
        if customer is None:
            return _json({"message": "No query results for model [App\\Models\\Customer]"}, 404)
        return _json({"data": customer})

    async def _order_action(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        known = ("fulfillment-retries", "fulfillment-notifications", "refunds", "replacements")
        if action not in known:
            return _json({"message": "Not Found"}, 404)
        order = self._order_or_error(request)
        if isinstance(order, web.Response):
            return order
        key = request.headers.get("Idempotency-Key")
        if not key:
            return _json({"message": "The Idempotency-Key header is required."}, 400)
        try:
            body = await request.json()
        except ValueError:
            body = {}
        fingerprint = json.dumps([order.id, action, body], sort_keys=True)
        if key in self._running_keys:
            return _json({"message": "A request with this key is in progress."}, 409)
        if key in self._action_keys:
            first, status, answer = self._action_keys[key]
            if first != fingerprint:
                return _json({"message": "The key was used with another request."}, 409)
            return _json(answer, status)
        self._running_keys.add(key)
        try:
            if self.action_seconds:
                await asyncio.sleep(self.action_seconds)
            status, answer = self._apply(order, action, body if isinstance(body, dict) else {})
            if status < 300:
                self.actions.append(DoneAction(order.id, action, body, key))
            self._action_keys[key] = (fingerprint, status, answer)
        finally:
            self._running_keys.discard(key)
        return _json(answer, status)

    def _apply(self, order: FakeOrder, action: str, body: dict[str, Any]) -> tuple[int, Any]:
        if action == "fulfillment-retries":
            if order.status not in ("PAID", "PARTIAL"):
                return 422, {"message": f"Only PAID or PARTIAL orders; this one is {order.status}"}
            order.status = "COMPLETED"
            return 200, {"data": self._order_json(order)}
        if action == "fulfillment-notifications":
            if order.status != "COMPLETED":
                return 422, {"message": f"Only COMPLETED orders; this one is {order.status}"}
            return 200, {"data": self._order_json(order), "meta": {"notifications_sent": 1}}
        if action == "refunds":
            return self._refund(order, body)
        return self._replace(order, body)

    def _refund(self, order: FakeOrder, body: dict[str, Any]) -> tuple[int, Any]:
        if order.status not in ("PAID", "COMPLETED", "PARTIAL"):
            return 422, {"message": f"This order can't be refunded: it is {order.status}"}
        remaining = order.total_cents - order.refunded_cents
        raw = body.get("amount")
        if raw in (None, ""):
            cents = remaining
        else:
            try:
                cents = int(Decimal(str(raw)) * 100)
            except InvalidOperation:
                return 422, {"message": "The amount must be a decimal string."}
        if cents <= 0 or cents > remaining:
            return 422, {"message": "The amount exceeds the remaining balance."}
        order.refunded_cents += cents
        if order.refunded_cents >= order.total_cents:
            order.status = "REFUNDED"
        amount = f"{Decimal(cents) / 100:.2f}"
        refund = {"status": self.refund_status, "amount": amount, "currency": order.currency}
        return 200, {"data": {**self._order_json(order), "refund": refund}}

    def _replace(self, order: FakeOrder, body: dict[str, Any]) -> tuple[int, Any]:
        wanted = body.get("product_variants")
        if not isinstance(wanted, dict) or not wanted:
            return 422, {"message": "product_variants is required."}
        bought = {i["product_variant_id"]: int(i["quantity"]) for i in order.line_items}
        for variant, quantity in wanted.items():
            if variant not in bought:
                return 422, {"message": f"Variant {variant} is not part of this order."}
            if quantity is not None and int(quantity) > bought[variant]:
                return 422, {"message": "The quantity exceeds what was bought."}
            if variant in order.replaced:
                return 422, {"message": "This delivery was already replaced once."}
        order.replaced.update(wanted)
        new_id = str(next(self._order_ids))
        return 201, {"data": {"id": int(new_id), "type": "replacement", "status": "COMPLETED"}}
