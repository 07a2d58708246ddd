"""Orders, done: read what the card shows, and send a claimed action exactly once.

No discord here. :func:`read_order` gathers the order, its deliverables' statuses and the
customer's history, and turns a failure into a one-line reason instead of an exception.
:func:`send_action` sends a ``sending`` row with its own key and body and records
SellApp's answer; a timeout, a 5xx or a 409 keep the row ``sending`` for a later try with
the same key, so SellApp answers the first outcome and nothing happens twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.errors import (
    SellAppAuthError,
    SellAppError,
    SellAppInProgress,
    SellAppNotFound,
    SellAppValidationError,
)
from bot.explain import explain
from bot.orders.engine import outcome_words
from bot.sellapp.client import SellAppClient
from bot.sellapp.orders import CustomerProfile, Deliverable, Order
from bot.store.orders import OrderAction, OrderTable

log = logging.getLogger(__name__)

IN_PROGRESS_WAITS = (0.5, 1.0, 2.0, 4.0)
"""How a 409 (the key still running at SellApp) is waited out before trying later."""
RETRY_LATER = 30.0
"""When an action SellApp didn't answer is sent again (same key, same body)."""

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class OrderView:
    """What the card shows. ``order`` None: ``reason`` says in one line why."""

    order_id: str
    order: Order | None
    deliverables: tuple[Deliverable, ...] = ()
    profile: CustomerProfile | None = None
    reason: str | None = None


def unreadable_reason(exc: BaseException) -> str:
    if isinstance(exc, SellAppNotFound):
        return "SellApp doesn't know this order (404): it may belong to another store."
    if isinstance(exc, SellAppAuthError):
        return "The store's API key may not read orders (403)."
    if isinstance(exc, ValueError):
        return "The ticket names an order id SellApp can't have."
    return explain(exc)


async def read_order(client: SellAppClient, order_id: str) -> OrderView:
    """The order as SellApp has it now; deliverables and history where available."""
    try:
        order = await client.get_order(order_id)
    except (SellAppError, ValueError) as exc:
        return OrderView(order_id, None, reason=unreadable_reason(exc))
    deliverables: tuple[Deliverable, ...] = ()
    profile = None
    try:
        deliverables = await client.get_deliverables(order_id)
    except SellAppError as exc:
        log.info("order %s: deliverables unreadable: %s", order_id, exc)
    customer_id = order.customer.id if order.customer else None
    if customer_id:
        try:
            profile = await client.get_customer(customer_id)
        except (SellAppError, ValueError) as exc:
            log.info("order %s: customer history unreadable: %s", order_id, exc)
    return OrderView(order_id, order, deliverables, profile)


def _refusal(exc: SellAppError) -> str:
    if isinstance(exc, SellAppValidationError):
        return f"SellApp refused: {exc.reason}"
    if isinstance(exc, SellAppAuthError):
        return "SellApp refused: the store's API key may not do this (403)."
    if isinstance(exc, SellAppNotFound):
        return "SellApp refused: it doesn't know this order (404)."
    return f"SellApp refused: {exc.message}"


async def send_action(
    table: OrderTable,
    client: SellAppClient,
    action: OrderAction,
    *,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.time,
) -> OrderAction:
    """Send a ``sending`` row (its key, its body) and record the answer; return the row."""
    waits = iter(IN_PROGRESS_WAITS)
    while True:
        await table.note_attempt(action.id, now=clock())
        try:
            answer = await client.order_action(
                action.order_id,
                action.route,
                action.payload,
                idempotency_key=action.idempotency_key,
            )
        except SellAppInProgress as exc:
            wait = next(waits, None)
            if wait is not None:
                await sleep(wait)
                continue
            await table.retry_later(action.id, explain(exc), next_attempt_at=clock() + RETRY_LATER)
            break
        except SellAppError as exc:
            if exc.retryable or exc.status is None or exc.status >= 500:
                await table.retry_later(
                    action.id, explain(exc), next_attempt_at=clock() + RETRY_LATER
                )
                break
            await table.finish(action.id, "refused", _refusal(exc), now=clock())
            break
        except ValueError as exc:
            await table.finish(action.id, "refused", f"Not sent: {exc}", now=clock())
            break
        await table.finish(action.id, "done", outcome_words(action.kind, answer), now=clock())
        break
    latest = await table.get(action.id)
    assert latest is not None
    log.info("order action %s (%s): %s", action.id, action.route, latest.state)
    return latest
