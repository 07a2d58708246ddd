"""The ticket-problems gauge, read from a real store at scrape time."""

from __future__ import annotations

from pathlib import Path

from bot.inbound.problems import Seen, settle
from bot.ops import metrics
from bot.store import Store


def gauge(kind: str) -> float | None:
    return metrics.REGISTRY.get_sample_value("sellapp_bridge_ticket_problems", {"kind": kind})


async def test_ticket_problems_are_counted_by_kind_over_every_guild(tmp_path: Path) -> None:
    seen = {
        1: [Seen(7, "discord_refused", "Discord refused to archive its thread: x")],
        2: [
            Seen(8, "discord_refused", "Discord refused to archive its thread: x"),
            Seen(9, "unknown_status", "SellApp sent a status the bridge doesn't know: PENDING"),
        ],
    }
    async with await Store.open(tmp_path / "bridge.sqlite3") as store:
        for guild_id, problems in seen.items():
            plan = settle(guild_id, [], problems, examined=lambda *_: True, now=1.0, interval=5.0)
            await store.problems.save(guild_id, upsert=plan.new)
        await metrics.refresh_from_store(store, [1, 2])
        assert (gauge("discord_refused"), gauge("unknown_status")) == (2, 1)
        assert gauge("unreadable_ticket") == 0

        [problem] = await store.problems.all(1)
        await store.problems.save(1, clear=[problem])
        await metrics.refresh_from_store(store, [1, 2])
        assert gauge("discord_refused") == 1
