"""Running the bot process: open the resources, run until a signal, close in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

import discord
import yarl

from bot.app import BridgeBot
from bot.config import Settings
from bot.errors import ConfigError, DatabaseBusy
from bot.ops import metrics
from bot.ops.health import GatewayWatch, HealthChecks, HealthServer
from bot.ops.logs import SecretRegistry, setup_logging
from bot.push.hub import PushHub
from bot.push.listener import WebhookListener
from bot.services import open_services, secret_registry
from bot.store import Store

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2  # a setting to fix (DATABASE_PATH included): systemd does not restart
# After SIGTERM: how long the cogs get to stop (pollers cancel, deliveries finish or stay
# queued in the outbox) before the process exits anyway. Docker waits 10 s, systemd 90 s.
SHUTDOWN_SECONDS = 5.0


def point_discord_at(settings: Settings) -> None:
    """Aim discord.py's REST and gateway somewhere else (a proxy, or the test fakes).

    Both are class attributes, so this must run before login."""
    if settings.discord_api_base_url is not None:
        discord.http.Route.BASE = str(settings.discord_api_base_url).rstrip("/")
    if settings.discord_gateway_url is not None:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def run_bot(settings: Settings) -> int:
    secrets = secret_registry(settings)
    setup_logging(settings.log_level, settings.log_format, secrets)
    try:
        return asyncio.run(_serve(settings, secrets))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return EXIT_OK
    except CannotRun as exc:
        # Printed after everything is closed, so it is the last line the user sees.
        print(f"sellapp-bridge: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ConfigError as exc:  # e.g. DATABASE_PATH/URL can't be used (bot.store.Store.open)
        print(f"sellapp-bridge: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except DatabaseBusy as exc:  # another process holds it: worth a restart, not a setting
        print(f"sellapp-bridge: {exc}", file=sys.stderr)
        return EXIT_FAILED


class CannotRun(Exception):
    """The bot stopped for a reason the user must fix; the message says what."""


async def _serve(settings: Settings, secrets: SecretRegistry) -> int:
    assert settings.discord_token is not None  # checked by __main__
    point_discord_at(settings)
    store = await Store.open(settings.database_target)
    # Once, which backend (a URL's password masked); after the open, so a database that
    # can't be used still ends the run with its one line.
    log.info("database: %s %s", settings.database_kind, settings.database_shown)
    try:
        async with open_services(
            settings, store, secrets, observe=metrics.observe_sellapp
        ) as services:
            bot = BridgeBot(services)
            gateway = GatewayWatch()
            gateway.attach(bot)
            health = await _start_health(
                settings,
                HealthChecks(gateway=gateway, store=store, links=services.links, guard=bot.guard),
            )
            listener: WebhookListener | None = None
            try:
                listener = await _start_listener(settings, services.push)
                return await _run_until_signal(bot, settings.discord_token.get_secret_value())
            finally:
                if listener is not None:
                    await listener.stop()
                if health is not None:
                    await health.stop()
    finally:
        await store.close()
        log.info("stopped")


async def _start_health(settings: Settings, checks: HealthChecks) -> HealthServer | None:
    if settings.health_port is None:
        return None
    server = HealthServer(checks, settings.health_port)
    try:
        await server.start()
    except OSError as exc:
        raise CannotRun(
            f"could not serve health checks on HEALTH_PORT {settings.health_port}: "
            f"{exc.strerror or exc}. Pick a free port or leave HEALTH_PORT blank."
        ) from None
    return server


async def _start_listener(settings: Settings, push: PushHub | None) -> WebhookListener | None:
    if push is None:
        return None
    await push.load()
    listener = WebhookListener(push, settings.webhook_host, settings.webhook_port)
    try:
        await listener.start()
    except OSError as exc:
        raise CannotRun(
            f"could not listen for SellApp webhooks on WEBHOOK_PORT {settings.webhook_port}: "
            f"{exc.strerror or exc}. Pick a free port or leave PUBLIC_URL blank."
        ) from None
    return listener


async def _run_until_signal(bot: BridgeBot, token: str) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = asyncio.create_task(bot.start(token), name="discord-client")
    stopper = asyncio.create_task(stop.wait(), name="signal-wait")
    try:
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            log.info("signal received: shutting down")
            await _close_within(bot, runner, SHUTDOWN_SECONDS)
            return EXIT_OK
        return _outcome(runner)
    finally:
        stopper.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if not bot.is_closed():
            await _close_within(bot, runner, SHUTDOWN_SECONDS)


async def _close_within(bot: BridgeBot, runner: asyncio.Task[None], seconds: float) -> None:
    """Close the bot: unload the cogs (their loops stop, deliveries finish or stay in the
    outbox), then the gateway. Past ``seconds`` stop waiting: what is unfinished is either
    still queued in the database or will be reconciled at the next start."""
    try:
        async with asyncio.timeout(seconds):
            await bot.close()
            await asyncio.wait({runner})  # its outcome, if any, is read by _outcome
    except TimeoutError:
        log.warning("shutdown took longer than %g s; stopping anyway", seconds)
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner


def _outcome(runner: asyncio.Task[None]) -> int:
    """The client stopped by itself: explain why in one line."""
    try:
        runner.result()
    except discord.LoginFailure:
        raise CannotRun(
            "Discord refused the token in DISCORD_TOKEN. Copy it again from the developer "
            "portal (Bot -> Reset Token)."
        ) from None
    except discord.PrivilegedIntentsRequired:
        raise CannotRun(
            "Discord refused the connection: switch on the Message Content intent "
            "(developer portal -> Bot -> Privileged Gateway Intents)."
        ) from None
    except discord.ConnectionClosed as exc:
        if exc.code == 4010:
            raise CannotRun(
                "Discord refused a shard: check SHARD_COUNT and SHARD_IDS (each id from 0 "
                "to SHARD_COUNT-1, the same SHARD_COUNT in every process)."
            ) from None
        if exc.code == 4011:
            raise CannotRun(
                "Discord requires more shards for this many servers: raise SHARD_COUNT, "
                "or leave it blank to use Discord's recommended count."
            ) from None
        raise CannotRun(f"could not stay connected to Discord: {type(exc).__name__}") from None
    except (discord.GatewayNotFound, OSError) as exc:
        raise CannotRun(f"could not stay connected to Discord: {type(exc).__name__}") from None
    return EXIT_OK
