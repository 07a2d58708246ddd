"""store.triage: claims (one owner of two racing claims), waiting state, settings, pings
recorded before they are sent (never twice, across restarts)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import Store
from bot.store.triage import Ping
from bot.triage.hours import parse_hours
from bot.triage.waiting import Waiting, WaitingFor

GUILD = 1
PING = Ping(700, "<@&5> New ticket #7.", None, 5)


@pytest.fixture
async def store(store_target: Path | str) -> AsyncIterator[Store]:
    async with await Store.open(store_target) as opened:
        await opened.tickets.record(
            GUILD, 7, status="OPEN", title="t", sellapp_updated_at=None, now=1.0
        )
        yield opened


async def test_two_claims_racing_make_exactly_one_owner_and_tell_the_other_who(
    store: Store,
) -> None:
    results = await asyncio.gather(
        *(store.triage.claim(GUILD, 7, member, now=5.0) for member in (100, 200, 300))
    )

    assert sum(r.taken for r in results) == 1
    owner = next(r.owner_id for r in results if r.taken)
    assert {r.owner_id for r in results} == {owner}
    record = await store.triage.get(GUILD, 7)
    assert record is not None and record.owner_id == owner


async def test_unclaim_and_transfer_change_the_owner_and_a_claim_survives_a_restart(
    store_target: Path | str, store: Store
) -> None:
    assert (await store.triage.claim(GUILD, 7, 100, now=5.0)).taken
    assert await store.triage.set_owner(GUILD, 7, 200, now=6.0) == 100
    assert await store.triage.set_owner(GUILD, 7, None, now=7.0) == 200
    assert (await store.triage.claim(GUILD, 7, 300, now=8.0)).taken
    await store.close()

    async with await Store.open(store_target) as again:
        record = await again.triage.get(GUILD, 7)
        assert record is not None and record.owner_id == 300


async def test_waiting_state_is_kept_per_ticket(store: Store) -> None:
    await store.triage.claim(GUILD, 7, 100, now=5.0)
    await store.triage.set_waiting(GUILD, 7, Waiting(WaitingFor.STAFF, 50.0))

    record = await store.triage.get(GUILD, 7)
    assert record is not None
    assert record.waiting == Waiting(WaitingFor.STAFF, 50.0)
    assert record.owner_id == 100  # the waiting state leaves the claim alone


async def test_a_ping_is_begun_once_even_after_a_restart(
    store_target: Path | str, store: Store
) -> None:
    assert await store.triage.begin_ping(GUILD, "alert", "7", PING, now=1.0)
    assert not await store.triage.begin_ping(GUILD, "alert", "7", PING, now=2.0)
    await store.close()

    async with await Store.open(store_target) as again:
        # The first attempt never confirmed it was sent (a crash): nobody may send it
        # blindly; it is pending, to be looked for in its channel first.
        assert not await again.triage.begin_ping(GUILD, "alert", "7", PING, now=3.0)
        [pending] = await again.triage.pending(GUILD, before=3.0)
        assert (pending.kind, pending.subject, pending.ping) == ("alert", "7", PING)
        await again.triage.ping_sent(GUILD, "alert", "7", 1234, now=4.0)
        assert await again.triage.pending(GUILD, before=5.0) == []


async def test_settings_round_trip(store: Store) -> None:
    hours = parse_hours("mon-fri", "09:00", "17:00", "Europe/Berlin")
    await store.triage.set_notify_role(GUILD, 55)
    await store.triage.set_hours(GUILD, hours)
    await store.triage.set_sla(GUILD, 30)
    await store.triage.set_digest(GUILD, 66, 9)

    settings = await store.triage.settings(GUILD)
    assert settings.notify_role_id == 55
    assert settings.hours == hours
    assert settings.sla_minutes == 30
    assert (settings.digest_channel_id, settings.digest_hour) == (66, 9)


async def test_forgetting_a_guilds_tickets_forgets_their_owners_and_pings(store: Store) -> None:
    await store.triage.claim(GUILD, 7, 100, now=5.0)
    await store.triage.begin_ping(GUILD, "alert", "7", PING, now=1.0)
    await store.links.upsert(GUILD, now=1.0, store_slug="s")

    await store.links.delete(GUILD, forget_tickets=True)

    assert await store.triage.get(GUILD, 7) is None
    assert await store.triage.begin_ping(GUILD, "alert", "7", PING, now=9.0)
