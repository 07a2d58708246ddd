"""The webhook listener: ``POST /sellapp/webhook/{token}`` on ``WEBHOOK_HOST:WEBHOOK_PORT``.

aiohttp in the bot's own loop (like :mod:`bot.ops.health`). It answers every delivery at
once, before any SellApp or Discord request: an unknown token 404, a bad body 4xx, a
good one 202 (the read happens in the background, see :mod:`bot.push.hub`). The token
is a secret: it is never logged (aiohttp's access log is off).
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.ops import metrics
from bot.ops.web import AppServer
from bot.push.engine import MAX_BODY, WEBHOOK_ROUTE
from bot.push.hub import PushHub

log = logging.getLogger(__name__)


class WebhookListener(AppServer):
    def __init__(self, hub: PushHub, host: str, port: int) -> None:
        super().__init__(host, port)
        self._hub = hub

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(WEBHOOK_ROUTE, self._deliver)
        await self.serve(app)
        log.info("webhook listener on %s port %d", self._host, self.port)

    async def _deliver(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if not await self._hub.knows(token):
            return web.json_response({"message": "no such webhook"}, status=404)
        if (request.content_length or 0) > MAX_BODY:
            return _too_large()
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _too_large()
        answer = await self._hub.accept(token, body, request.headers.get("Signature"))
        return web.json_response({"message": answer.text}, status=answer.status)


def _too_large() -> web.Response:
    metrics.push_hints.labels(outcome="rejected").inc()
    return web.json_response({"message": "body over 64 KiB"}, status=413)
