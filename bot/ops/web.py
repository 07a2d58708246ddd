"""One small aiohttp server in the bot's own loop: bind, report the port, stop.

Shared by the health/metrics endpoint (:mod:`bot.ops.health`) and the webhook listener
(:mod:`bot.push.listener`), so both start and stop the same way: a failed bind leaves
nothing running, and the caller turns its ``OSError`` into a plain sentence.
"""

from __future__ import annotations

from aiohttp import web


class AppServer:
    """Serves ``app`` on ``host:port`` from :meth:`serve` until :meth:`stop`."""

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._runner is None or not self._runner.addresses:
            return self._port
        return int(self._runner.addresses[0][1])

    async def serve(self, app: web.Application) -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
