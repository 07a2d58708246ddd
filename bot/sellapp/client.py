"""The SellApp client: the only module that speaks HTTP to SellApp.

It returns :mod:`bot.sellapp.models` and raises :mod:`bot.errors`, nothing else. One
:class:`SellAppClient` serves one linked store; many of them share one
``httpx.AsyncClient`` (see :func:`make_http_client`), so every request carries its own
absolute URL and headers and the shared client holds no credentials.

Retries, in short:

* GET, and PATCH with an idempotency key: 5xx, timeouts and transport errors are retried
  with bounded, jittered exponential waits (:class:`RetryPolicy`), then
  :class:`~bot.errors.SellAppUnavailable`.
* POST (a reply) is **never** retried once it may have reached SellApp: a timeout or a 5xx
  can come after the message was stored, and a retry would post it twice to the customer.
  It raises :class:`~bot.errors.SellAppUnavailable` and the caller decides (the outbox
  can check the ticket's messages before trying again). Only a 429 is retried, because a
  429 is SellApp saying it refused the request and did nothing.
* 429 on any method: wait ``Retry-After`` (capped), a bounded number of times, then
  :class:`~bot.errors.SellAppRateLimited`.

The API key is sent only in the ``Authorization`` header; it is never logged, never put
in an exception message, and not shown by ``repr(client)``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from importlib import metadata
from typing import Any, Final

import httpx
from pydantic import SecretStr, TypeAdapter

from bot.errors import (
    SellAppAuthError,
    SellAppBadRequest,
    SellAppError,
    SellAppInProgress,
    SellAppNotFound,
    SellAppProtocolError,
    SellAppRateLimited,
    SellAppUnavailable,
    SellAppValidationError,
    WebhooksForbidden,
    WebhookUrlRefused,
)
from bot.sellapp._http import (
    RetryPolicy,
    error_fields,
    error_message,
    parse_item,
    parse_page,
    parse_retry_after,
)
from bot.sellapp.models import (
    ItemProblem,
    Listing,
    Page,
    Ticket,
    TicketMessage,
    TicketStatus,
    WebhookChannel,
)
from bot.sellapp.orders import ActionAnswer, CustomerProfile, Deliverable, Order

__all__ = ["MAX_LIMIT", "Observe", "RetryPolicy", "SellAppClient", "make_http_client"]

log = logging.getLogger(__name__)

MAX_LIMIT: Final = 100
"""SellApp's largest page size (pagination guide)."""

Sleep = Callable[[float], Awaitable[None]]


def _version() -> str:
    try:
        return metadata.version("sellapp-discord-bridge")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


DEFAULT_USER_AGENT: Final = f"sellapp-discord-bridge/{_version()}"


Observe = Callable[[str, int | str, float], None]
"""``observe(endpoint, status, seconds)``: one HTTP attempt finished. ``endpoint`` is a
template such as ``GET /v1/tickets/{id}``; ``status`` the HTTP status, or ``"timeout"`` /
``"error"`` when no answer came."""

ENDPOINT_EXTENSION: Final = "sellapp_endpoint"
"""The request extension in which :class:`SellAppClient` names the endpoint template."""

_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10)


class _ObservingTransport(httpx.AsyncBaseTransport):
    """Times every attempt (to the response headers) and reports it to ``observe``."""

    def __init__(self, inner: httpx.AsyncBaseTransport, observe: Observe) -> None:
        self._inner = inner
        self._observe = observe

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        endpoint = str(request.extensions.get(ENDPOINT_EXTENSION) or request.method)
        started = time.monotonic()
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TimeoutException:
            self._observe(endpoint, "timeout", time.monotonic() - started)
            raise
        except httpx.TransportError:
            self._observe(endpoint, "error", time.monotonic() - started)
            raise
        self._observe(endpoint, response.status_code, time.monotonic() - started)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def make_http_client(timeout: float = 15.0, observe: Observe | None = None) -> httpx.AsyncClient:
    """The one ``httpx.AsyncClient`` that every store's :class:`SellAppClient` shares.

    It carries no base URL and no credentials: each client adds its own per request.
    With ``observe``, every attempt (retries included) is reported to it (see :data:`Observe`).
    """
    transport = None
    if observe is not None:
        transport = _ObservingTransport(httpx.AsyncHTTPTransport(limits=_LIMITS), observe)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        limits=_LIMITS,
        transport=transport,
    )


_TICKET = TypeAdapter(Ticket)
_MESSAGE = TypeAdapter(TicketMessage)
_CHANNEL = TypeAdapter(WebhookChannel)
_DELIVERABLES = TypeAdapter(list[Deliverable])

ORDER_ACTIONS: Final = frozenset(
    {"fulfillment-retries", "fulfillment-notifications", "replacements", "refunds"}
)
"""The four ``POST /v2/orders/{id}/<action>`` routes, each needing an ``Idempotency-Key``."""


_ERRORS: Final[dict[int, tuple[type[SellAppError], str]]] = {
    400: (SellAppBadRequest, "SellApp refused the request"),
    401: (SellAppAuthError, "SellApp refused the API key"),
    403: (SellAppAuthError, "The API key has no access to this store"),
    404: (SellAppNotFound, "Not found"),
}


def _segment(value: str) -> str:
    """An id as one URL path segment: no slashes, dots or queries can sneak in."""
    text = str(value).strip()
    if not text or not all(c.isalnum() or c in "-_" for c in text):
        raise ValueError(f"{value!r} is not a SellApp id")
    return text


def _clamp_limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_LIMIT))


class SellAppClient:
    """Talks to SellApp for one store. Cheap to build; share one ``httpx.AsyncClient``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: SecretStr,
        store: str | None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so sharing it is safe
        sleep: Sleep = asyncio.sleep,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.store = store
        self._retry = retry
        self._sleep = sleep
        self._user_agent = user_agent
        self.last_response_ms: float | None = None

    def __repr__(self) -> str:
        return f"SellAppClient(base_url={self.base_url!r}, store={self.store!r})"

    # ----------------------------------------------------------------- tickets

    async def list_tickets(self, page: int = 1, limit: int = MAX_LIMIT) -> Page[Ticket]:
        """One page of the store's tickets (``GET /v1/tickets``)."""
        body = await self._request(
            "GET",
            "/v1/tickets",
            "/v1/tickets",
            params={"page": page, "limit": _clamp_limit(limit)},
        )
        return parse_page(body, _TICKET, "GET /v1/tickets")

    async def list_all_tickets(self, limit: int = MAX_LIMIT) -> Listing[Ticket]:
        """Every ticket, each id once, and every listed item that could not be read."""
        tickets: list[Ticket] = []
        problems: dict[tuple[int | None, str], ItemProblem] = {}
        seen: set[int] = set()
        pages = self._walk_pages(
            lambda page: self.list_tickets(page, limit), endpoint="GET /v1/tickets"
        )
        async for page in pages:
            for ticket in page.items:
                if ticket.id not in seen:
                    seen.add(ticket.id)
                    tickets.append(ticket)
            problems.update(((p.item_id, p.reason), p) for p in page.problems)
        return Listing(tuple(tickets), tuple(problems.values()))

    async def iter_tickets(self, limit: int = MAX_LIMIT) -> AsyncIterator[Ticket]:
        """Every ticket that can be read, page by page, each id once (an unreadable item
        is left out: :meth:`list_all_tickets` says which)."""
        pages = self._iter_pages(
            lambda page: self.list_tickets(page, limit), endpoint="GET /v1/tickets"
        )
        async for ticket in pages:
            yield ticket

    async def get_ticket(self, ticket_id: int) -> Ticket:
        """One ticket (``GET /v1/tickets/{id}``)."""
        endpoint = "GET /v1/tickets/{id}"
        body = await self._request("GET", "/v1/tickets/{id}", f"/v1/tickets/{int(ticket_id)}")
        return parse_item(body, Ticket, endpoint)

    async def set_status(
        self,
        ticket_id: int,
        status: TicketStatus | None = None,
        archived: bool | None = None,
        idempotency_key: str | None = None,
    ) -> Ticket:
        """Open/close and/or (un)archive a ticket (``PATCH /v2/tickets/{id}``).

        With an ``idempotency_key`` SellApp treats a repeat as the same change, so the
        request is retried like a GET; without one it is sent once.
        """
        payload: dict[str, Any] = {}
        if status is not None:
            payload["status"] = TicketStatus(status).value
        if archived is not None:
            payload["archived"] = bool(archived)
        if not payload:
            raise ValueError("set_status needs a status, archived, or both")
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        body = await self._request(
            "PATCH",
            "/v2/tickets/{id}",
            f"/v2/tickets/{int(ticket_id)}",
            json=payload,
            headers=headers,
            retry_safe=idempotency_key is not None,
        )
        return parse_item(body, Ticket, "PATCH /v2/tickets/{id}")

    # ---------------------------------------------------------------- messages

    async def list_messages(
        self, ticket_id: int, page: int = 1, limit: int = MAX_LIMIT
    ) -> Page[TicketMessage]:
        """One page of a ticket's messages (``GET /v1/tickets/{id}/messages``)."""
        template = "/v1/tickets/{id}/messages"
        body = await self._request(
            "GET",
            template,
            f"/v1/tickets/{int(ticket_id)}/messages",
            params={"page": page, "limit": _clamp_limit(limit)},
        )
        return parse_page(body, _MESSAGE, f"GET {template}")

    async def iter_messages(
        self, ticket_id: int, limit: int = MAX_LIMIT, start_page: int = 1
    ) -> AsyncIterator[TicketMessage]:
        """Every message of a ticket from ``start_page`` on, each id once."""
        pages = self._iter_pages(
            lambda page: self.list_messages(ticket_id, page, limit),
            endpoint="GET /v1/tickets/{id}/messages",
            start_page=start_page,
        )
        async for message in pages:
            yield message

    async def list_all_messages(
        self, ticket_id: int, limit: int = MAX_LIMIT
    ) -> Listing[TicketMessage]:
        """Every message of a ticket, each id once, and every one that could not be read."""
        messages: list[TicketMessage] = []
        problems: dict[tuple[int | None, str], ItemProblem] = {}
        seen: set[int] = set()
        pages = self._walk_pages(
            lambda page: self.list_messages(ticket_id, page, limit),
            endpoint="GET /v1/tickets/{id}/messages",
        )
        async for page in pages:
            for message in page.items:
                if message.id not in seen:
                    seen.add(message.id)
                    messages.append(message)
            problems.update(((p.item_id, p.reason), p) for p in page.problems)
        return Listing(tuple(messages), tuple(problems.values()))

    async def reply(self, ticket_id: int, content: str) -> TicketMessage:
        """Post a store reply (``POST /v1/tickets/{id}/messages``). Never retried but on 429."""
        template = "/v1/tickets/{id}/messages"
        body = await self._request(
            "POST",
            template,
            f"/v1/tickets/{int(ticket_id)}/messages",
            json={"content": content},
            retry_safe=False,
            ok=(200, 201),
        )
        return parse_item(body, TicketMessage, f"POST {template}")

    # ---------------------------------------------------------- webhook channels

    async def list_webhook_channels(self) -> list[WebhookChannel]:
        """Every webhook channel of the store (``GET /v2/webhook-channels``, all pages)."""
        endpoint = "GET /v2/webhook-channels"
        found: list[WebhookChannel] = []
        page_no = 1
        while True:
            body = await self._webhooks(
                "GET", "/v2/webhook-channels", params={"page": page_no, "limit": MAX_LIMIT}
            )
            page = parse_page(body, _CHANNEL, endpoint)
            if page.problems:
                # A channel we can't read may be ours: creating another would double
                # every delivery. Better to say so and keep polling.
                why = page.problems[0].reason
                raise SellAppProtocolError(
                    f"SellApp sent a webhook channel the bridge can't read ({why})",
                    endpoint=endpoint,
                )
            found.extend(page.items)
            if not page.items or page.current_page >= page.last_page or page_no >= 100:
                return found
            page_no = page.current_page + 1

    async def create_webhook_channel(
        self, url: str, notifications: tuple[str, ...], name: str
    ) -> WebhookChannel:
        """``POST /v2/webhook-channels``. Sent once (never retried but on 429)."""
        body = await self._webhooks(
            "POST",
            "/v2/webhook-channels",
            json={"url": url, "allowed_notifications": list(notifications), "name": name},
            retry_safe=False,
            ok=(200, 201),
        )
        return parse_item(body, WebhookChannel, "POST /v2/webhook-channels")

    async def update_webhook_channel(
        self, channel_id: str, notifications: tuple[str, ...]
    ) -> WebhookChannel | None:
        """``PATCH /v2/webhook-channels/{uuid}`` with new ``allowed_notifications`` (setting
        them twice is harmless, so it is retried like a GET). None: the channel is gone."""
        template = "/v2/webhook-channels/{uuid}"
        try:
            body = await self._webhooks(
                "PATCH",
                template,
                path=f"/v2/webhook-channels/{_segment(channel_id)}",
                json={"allowed_notifications": list(notifications)},
                ok=(200, 202, 204),
            )
        except SellAppNotFound:
            return None
        if body is None:  # 204: done, nothing to read back
            return WebhookChannel(id=channel_id, allowed_notifications=notifications)
        return parse_item(body, WebhookChannel, f"PATCH {template}")

    async def delete_webhook_channel(self, channel_id: str) -> None:
        """``DELETE /v2/webhook-channels/{uuid}``; one already gone counts as deleted."""
        try:
            await self._webhooks(
                "DELETE",
                "/v2/webhook-channels/{uuid}",
                path=f"/v2/webhook-channels/{_segment(channel_id)}",
                ok=(200, 202, 204),
            )
        except SellAppNotFound:
            return

    async def _webhooks(
        self, method: str, template: str, *, path: str | None = None, **kwargs: Any
    ) -> Any:
        """A webhook-channel request, its refusals turned into what they mean here."""
        try:
            return await self._request(method, template, path or template, **kwargs)
        except SellAppAuthError as exc:
            if exc.status != 403:
                raise
            raise WebhooksForbidden(
                "The SellApp API key may not manage webhooks",
                endpoint=exc.endpoint,
                status=403,
                request_id=exc.request_id,
            ) from None
        except SellAppValidationError as exc:
            raise WebhookUrlRefused(
                f"SellApp refused the webhook URL (it must be public https): {exc.reason}",
                endpoint=exc.endpoint,
                errors=exc.errors,
                request_id=exc.request_id,
            ) from None

    # ------------------------------------------------------------------ orders

    async def get_order(self, order_id: str) -> Order:
        """One order (``GET /v2/orders/{id}``); another store's order answers 404."""
        body = await self._request("GET", "/v2/orders/{id}", f"/v2/orders/{_segment(order_id)}")
        return parse_item(body, Order, "GET /v2/orders/{id}")

    async def get_deliverables(self, order_id: str) -> tuple[Deliverable, ...]:
        """An order's fulfilment records (``GET /v2/orders/{id}/deliverables``), no content."""
        template = "/v2/orders/{id}/deliverables"
        body = await self._request("GET", template, f"/v2/orders/{_segment(order_id)}/deliverables")
        data = body.get("data") if isinstance(body, dict) else body
        try:
            return tuple(_DELIVERABLES.validate_python(data if data is not None else []))
        except ValueError:
            raise SellAppProtocolError(
                "SellApp sent deliverables of an unexpected shape", endpoint=f"GET {template}"
            ) from None

    async def get_customer(self, customer_id: str) -> CustomerProfile:
        """A customer and their insights (``GET /v2/customers/{id}``)."""
        body = await self._request(
            "GET", "/v2/customers/{id}", f"/v2/customers/{_segment(customer_id)}"
        )
        return parse_item(body, CustomerProfile, "GET /v2/customers/{id}")

    async def order_action(
        self, order_id: str, action: str, body: Mapping[str, Any], *, idempotency_key: str
    ) -> ActionAnswer:
        """``POST /v2/orders/{id}/<action>`` with ``Idempotency-Key``.

        The same key with the same body returns SellApp's first outcome, so timeouts and 5xx
        are retried like a GET. A 409 (the key still running) raises
        :class:`~bot.errors.SellAppInProgress`: the caller waits and sends the same again.
        """
        if action not in ORDER_ACTIONS:
            raise ValueError(f"unknown order action {action!r}")
        if not idempotency_key:
            raise ValueError("an order action needs an idempotency key")
        template = f"/v2/orders/{{id}}/{action}"
        try:
            answer = await self._request(
                "POST",
                template,
                f"/v2/orders/{_segment(order_id)}/{action}",
                json=dict(body),
                headers={"Idempotency-Key": idempotency_key},
                retry_safe=True,
                ok=(200, 201, 202),
            )
        except SellAppBadRequest as exc:
            # 409 means "in progress" only under an idempotency key; elsewhere (a reply
            # POST) it stays a refusal, as SellApp documents nothing else for it.
            if exc.status != 409:
                raise
            raise SellAppInProgress(
                "SellApp is still working on this request",
                endpoint=exc.endpoint,
                status=409,
                request_id=exc.request_id,
            ) from None
        return ActionAnswer.from_body(answer)

    # --------------------------------------------------------------- internals

    async def _iter_pages(
        self,
        fetch: Callable[[int], Awaitable[Page[Any]]],
        *,
        endpoint: str,
        start_page: int = 1,
    ) -> AsyncIterator[Any]:
        """The items of :meth:`_walk_pages`. Ids already yielded are skipped: a newest-first
        list shifts by one when a ticket arrives mid-walk."""
        seen: set[int] = set()
        async for page in self._walk_pages(fetch, endpoint=endpoint, start_page=start_page):
            if page.problems:
                log.debug("%s: %d unreadable item(s) left out", endpoint, len(page.problems))
            for item in page.items:
                if item.id not in seen:
                    seen.add(item.id)
                    yield item

    async def _walk_pages(
        self,
        fetch: Callable[[int], Awaitable[Page[Any]]],
        *,
        endpoint: str,
        start_page: int = 1,
    ) -> AsyncIterator[Page[Any]]:
        """Follow ``meta.current_page``/``last_page``; stop on an empty or last page.

        A server whose ``current_page`` doesn't move forward would loop us forever, so
        that is a :class:`SellAppProtocolError`. A page whose items were all unreadable is
        not empty: the walk goes on past it."""
        page_no = max(1, start_page)
        previous: int | None = None
        while True:
            page = await fetch(page_no)
            if previous is not None and page.current_page <= previous:
                raise SellAppProtocolError(
                    f"SellApp sent page {page.current_page} again after page {previous}",
                    endpoint=endpoint,
                )
            yield page
            if (not page.items and not page.problems) or page.current_page >= page.last_page:
                return
            previous = page.current_page
            page_no = page.current_page + 1

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self._api_key.get_secret_value()}",
            "Accept": "application/json",
            "User-Agent": self._user_agent,
        }
        if self.store:
            headers["X-STORE"] = self.store
        if extra:
            headers.update(extra)
        return headers

    async def _request(
        self,
        method: str,
        template: str,
        path: str,
        *,
        params: Mapping[str, int] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_safe: bool = True,
        ok: tuple[int, ...] = (200,),
    ) -> Any:
        """Send one logical request with the retry rules above; return the decoded JSON."""
        endpoint = f"{method} {template}"
        url = self.base_url + path
        failures = 0
        rate_limited = 0
        while True:
            started = time.monotonic()
            try:
                response = await self._http.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers=self._headers(headers),
                    extensions={ENDPOINT_EXTENSION: endpoint},
                )
            except httpx.TransportError as exc:
                self.last_response_ms = (time.monotonic() - started) * 1000
                kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
                log.debug("%s %s %s after %.0f ms", method, path, kind, self.last_response_ms)
                if retry_safe and failures + 1 < self._retry.attempts:
                    await self._sleep(self._retry.backoff(failures))
                    failures += 1
                    continue
                raise SellAppUnavailable(
                    f"SellApp could not be reached: the request {kind} ({type(exc).__name__})",
                    endpoint=endpoint,
                ) from None
            self.last_response_ms = (time.monotonic() - started) * 1000
            status = response.status_code
            log.debug("%s %s -> %d in %.0f ms", method, path, status, self.last_response_ms)
            if status in ok:
                if status == 204:
                    return None  # e.g. a DELETE: nothing to decode
                return self._json(response, endpoint)
            if status == 429 and rate_limited < self._retry.rate_limit_retries:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                await self._sleep(self._retry.rate_limit_wait(retry_after))
                rate_limited += 1
                continue
            if status >= 500 and retry_safe and failures + 1 < self._retry.attempts:
                await self._sleep(self._retry.backoff(failures))
                failures += 1
                continue
            raise self._error(response, endpoint)

    def _json(self, response: httpx.Response, endpoint: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise SellAppProtocolError(
                "SellApp answered with malformed JSON",
                endpoint=endpoint,
                status=response.status_code,
                request_id=response.headers.get("X-Request-ID"),
            ) from None

    def _error(self, response: httpx.Response, endpoint: str) -> SellAppError:
        """The error for a non-success answer, in SellApp's words where it gave some."""
        status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        request_id = response.headers.get("X-Request-ID")
        if (
            request_id is None
            and isinstance(body, dict)
            and isinstance(body.get("request_id"), str)
        ):
            request_id = body["request_id"]

        def said(fallback: str) -> str:
            return self._scrub(error_message(body, fallback))

        if status == 422:
            fields = {
                key: [self._scrub(m) for m in msgs] for key, msgs in error_fields(body).items()
            }
            return SellAppValidationError(
                said("SellApp refused the request"),
                endpoint=endpoint,
                errors=fields,
                request_id=request_id,
            )
        if status == 429:
            return SellAppRateLimited(
                said("SellApp is rate limiting us"),
                endpoint=endpoint,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                request_id=request_id,
            )
        cls, fallback = _ERRORS.get(status) or (
            (SellAppUnavailable, "SellApp had an internal error")
            if status >= 500
            else (SellAppBadRequest, "SellApp refused the request")
            if status >= 400
            else (SellAppProtocolError, f"SellApp answered with unexpected HTTP status {status}")
        )
        return cls(said(fallback), endpoint=endpoint, status=status, request_id=request_id)

    def _scrub(self, text: str) -> str:
        """Belt and braces: never let the key through, even if SellApp echoed it."""
        key = self._api_key.get_secret_value()
        return text.replace(key, "***") if key else text
