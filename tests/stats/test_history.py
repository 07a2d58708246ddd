"""What /sellapp stats reads from the store: opened_at, and closes and reopens recorded by
the triggers of migration 0008 whoever writes tickets.status."""

from __future__ import annotations

from pathlib import Path

from bot.store import Store

GUILD = 7


async def test_closes_and_reopens_are_recorded_whoever_writes_the_status(
    store_target: Path | str,
) -> None:
    async with await Store.open(store_target) as store:
        t = store.tickets
        await t.record(
            GUILD, 1, status="OPEN", title="a", sellapp_updated_at=None, now=100.0, opened_at=50.0
        )
        await t.record(
            GUILD,
            1,
            status="CLOSED",
            title="a",
            sellapp_updated_at="1970-01-01T00:05:00+00:00",
            now=400.0,
        )
        await t.record(GUILD, 1, status="CLOSED", title="a", sellapp_updated_at=None, now=450.0)
        await t.record(
            GUILD, 1, status="OPEN", title="a", sellapp_updated_at=None, now=500.0, opened_at=999.0
        )
        await t.record(GUILD, 2, status="CLOSED", title="b", sellapp_updated_at=None, now=600.0)

        history = await store.stats.history(GUILD)

        assert [(e.ticket_id, e.kind, e.at) for e in history.events] == [
            (1, "closed", 300.0),  # SellApp's updated_at when it can be read
            (1, "reopened", 500.0),
            (2, "closed", 600.0),  # first seen closed
        ]
        assert [(x.ticket_id, x.opened_at) for x in history.tickets] == [(1, 50.0), (2, None)]
        assert history.records_start == 100.0


async def test_forgetting_a_guilds_tickets_forgets_their_events(store_target: Path | str) -> None:
    async with await Store.open(store_target) as store:
        await store.tickets.record(
            GUILD, 1, status="CLOSED", title="a", sellapp_updated_at=None, now=1.0
        )
        await store.links.upsert(GUILD, now=1.0)
        await store.links.delete(GUILD, forget_tickets=True)
        history = await store.stats.history(GUILD)
        assert history.events == () and history.tickets == () and history.records_start is None
