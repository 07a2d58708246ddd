"""The triage loop's pass on a real store with a fake clock and a fake Discord port:
reminders fire once per waiting period (also after a restart), none after a reply or for
closed tickets; the thread shows owner and waiting state; the digest goes out once a day."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.errors import GuildNotHeld
from bot.inbound.render import Post
from bot.store import Store
from bot.store.triage import Ping, reminder_subject
from bot.triage.engine import TriageEngine
from bot.triage.hours import parse_hours
from bot.triage.waiting import Waiting, WaitingFor
from tests.inbound.fakes import Clock, Crash

GUILD = 1
ROLE = 55
OWNER = 77
DIGEST_CHANNEL = 99
BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp()


class FakePort:
    def __init__(self) -> None:
        self.posts: list[tuple[int, Post]] = []
        self.shown: list[tuple[int, int | None, WaitingFor | None]] = []

    async def show(
        self, thread_id: int, ticket_id: int, owner_id: int | None, waiting: WaitingFor | None
    ) -> None:
        self.shown.append((thread_id, owner_id, waiting))

    async def post(self, channel_id: int, post: Post) -> int:
        self.posts.append((channel_id, post))
        return 10_000 + len(self.posts)

    async def find_post(self, channel_id: int, content: str) -> int | None:
        found = [
            10_001 + i
            for i, (c, p) in enumerate(self.posts)
            if c == channel_id and p.content == content
        ]
        return found[0] if found else None


class World:
    def __init__(self, path: Path | str) -> None:
        self.path = path
        self.port = FakePort()
        self.clock = Clock(at("2026-03-02T10:00"))  # a Monday
        self.store: Store
        self.engine: TriageEngine

    async def start(self) -> None:
        self.store = await Store.open(self.path)
        self.engine = TriageEngine(self.store, self.port, clock=self.clock)

    async def restart(self) -> None:
        await self.store.close()
        await self.start()

    async def ticket(self, ticket_id: int, *, status: str = "OPEN") -> None:
        await self.store.tickets.record(
            GUILD, ticket_id, status=status, title="t", sellapp_updated_at=None, now=1.0
        )
        await self.store.tickets.set_thread(GUILD, ticket_id, ticket_id * 100, now=1.0)

    def reminders(self) -> list[Post]:
        return [p for channel, p in self.port.posts if channel != DIGEST_CHANNEL]


@pytest.fixture
async def world(store_target: Path | str) -> AsyncIterator[World]:
    w = World(store_target)
    await w.start()
    await w.store.triage.set_notify_role(GUILD, ROLE)
    await w.store.triage.set_sla(GUILD, 30)
    await w.store.triage.set_hours(GUILD, parse_hours("mon-fri", "09:00", "17:00", "Europe/Berlin"))
    yield w
    await w.store.close()


async def test_a_reminder_fires_once_at_the_sla_and_not_again_after_a_restart(
    world: World,
) -> None:
    await world.ticket(1)
    await world.store.triage.set_waiting(GUILD, 1, Waiting(WaitingFor.STAFF, world.clock()))

    world.clock.advance(29 * 60)
    await world.engine.run_guild(GUILD)
    assert world.reminders() == []

    world.clock.advance(60)
    await world.engine.run_guild(GUILD)
    await world.restart()
    await world.engine.run_guild(GUILD)
    world.clock.advance(60)
    await world.engine.run_guild(GUILD)

    [reminder] = world.reminders()
    assert reminder.ping_role == ROLE and reminder.ping_user is None
    assert f"<@&{ROLE}>" in reminder.content


async def test_the_first_reminder_pings_the_owner_the_second_the_role(world: World) -> None:
    await world.ticket(1)
    await world.store.triage.claim(GUILD, 1, OWNER, now=world.clock())
    await world.store.triage.set_waiting(GUILD, 1, Waiting(WaitingFor.STAFF, world.clock()))

    world.clock.advance(30 * 60)
    await world.engine.run_guild(GUILD)
    world.clock.advance(30 * 60)
    await world.engine.run_guild(GUILD)
    await world.engine.run_guild(GUILD)

    assert [(p.ping_user, p.ping_role) for p in world.reminders()] == [(OWNER, None), (None, ROLE)]


async def test_no_reminder_after_a_reply_or_for_a_closed_ticket(world: World) -> None:
    await world.ticket(1)
    await world.ticket(2, status="CLOSED")
    await world.store.triage.set_waiting(GUILD, 1, Waiting(WaitingFor.STAFF, world.clock()))
    await world.store.triage.set_waiting(GUILD, 2, Waiting(WaitingFor.STAFF, world.clock()))
    world.clock.advance(10 * 60)
    await world.store.triage.set_waiting(GUILD, 1, Waiting(WaitingFor.CUSTOMER, world.clock()))

    world.clock.advance(3 * 3600)
    await world.engine.run_guild(GUILD)

    assert world.reminders() == []


async def test_minutes_outside_support_hours_do_not_count(world: World) -> None:
    world.clock.now = at("2026-03-06T16:50")  # Friday, ten minutes before closing
    await world.ticket(1)
    await world.store.triage.set_waiting(GUILD, 1, Waiting(WaitingFor.STAFF, world.clock()))

    world.clock.now = at("2026-03-09T09:19")  # Monday: 29 support minutes
    await world.engine.run_guild(GUILD)
    assert world.reminders() == []
    world.clock.now = at("2026-03-09T09:20")
    await world.engine.run_guild(GUILD)
    assert len(world.reminders()) == 1


async def test_the_thread_shows_owner_and_waiting_state_once_per_change(world: World) -> None:
    await world.ticket(1)
    await world.engine.run_guild(GUILD)
    await world.store.triage.claim(GUILD, 1, OWNER, now=world.clock())
    await world.engine.run_guild(GUILD)
    await world.restart()
    await world.engine.run_guild(GUILD)
    await world.store.triage.set_waiting(GUILD, 1, Waiting(WaitingFor.CUSTOMER, world.clock()))
    await world.engine.run_guild(GUILD)

    assert world.port.shown == [
        (100, None, None),
        (100, OWNER, None),
        (100, OWNER, WaitingFor.CUSTOMER),
    ]


async def test_the_digest_goes_out_once_a_day_at_its_hour_with_the_queue(world: World) -> None:
    await world.store.triage.set_digest(GUILD, DIGEST_CHANNEL, 9)
    await world.store.triage.set_sla(GUILD, None)
    await world.ticket(1)
    await world.ticket(2)
    await world.ticket(3, status="CLOSED")
    await world.store.triage.claim(GUILD, 2, OWNER, now=1.0)
    await world.store.triage.set_waiting(
        GUILD, 1, Waiting(WaitingFor.STAFF, at("2026-03-01T12:00"))
    )

    world.clock.now = at("2026-03-02T08:59")
    await world.engine.run_guild(GUILD)
    world.clock.now = at("2026-03-02T09:00")
    await world.engine.run_guild(GUILD)
    await world.restart()
    await world.engine.run_guild(GUILD)

    [(channel, digest)] = world.port.posts
    assert channel == DIGEST_CHANNEL
    assert digest.ping_role is None and digest.ping_user is None
    assert "Open: 2 · Awaiting staff: 1 · Unclaimed: 1" in digest.content
    assert f"<#100>: awaiting staff since <t:{int(at('2026-03-01T12:00'))}:R>" in digest.content

    world.clock.now = at("2026-03-03T09:05")
    await world.engine.run_guild(GUILD)
    assert len(world.port.posts) == 2


async def test_a_reminder_a_crash_left_unconfirmed_is_posted_after_the_restart_only_if_missing(
    world: World,
) -> None:
    await world.ticket(1)
    await world.ticket(2)
    since = world.clock()
    for tid in (1, 2):
        await world.store.triage.set_waiting(GUILD, tid, Waiting(WaitingFor.STAFF, since))
    world.clock.advance(30 * 60)
    # Crash 1: ticket 1's reminder was posted, the process died before marking it sent.
    real_post = world.port.post

    async def post_then_die(channel_id: int, post: Post) -> int:
        await real_post(channel_id, post)
        raise Crash

    world.port.post = post_then_die  # type: ignore[method-assign]
    with pytest.raises(Crash):
        await world.engine.run_guild(GUILD)
    # Crash 2: ticket 2's reminder row is written, the process died before posting.
    reminder = next(p for c, p in world.port.posts if c == 100)
    subject2 = reminder_subject(2, since, 1)
    text2 = reminder.content.replace("#1", "#2")
    assert await world.store.triage.begin_ping(
        GUILD, "reminder", subject2, Ping(200, text2, None, ROLE), now=world.clock()
    )
    world.port.post = real_post  # type: ignore[method-assign]

    world.clock.advance(1)
    await world.restart()
    await world.engine.run_guild(GUILD)
    await world.engine.run_guild(GUILD)

    assert [c for c, _ in world.port.posts] == [100, 200]
    assert [p.ping_role for _, p in world.port.posts] == [ROLE, ROLE]


async def test_triage_recovers_pings_a_dead_process_left_after_this_one_started(
    world: World,
) -> None:
    """This process started, then another process (holding the guild) recorded an alert
    and was killed before posting it. Taking the guild's claim settles it: posted once,
    not pending forever (and begin_ping would refuse to record it again)."""
    world.clock.advance(500)  # the other process records its ping after this one started
    alert = Ping(4200, f"<@&{ROLE}> New ticket #42.", None, ROLE)
    assert await world.store.triage.begin_ping(GUILD, "alert", "42", alert, now=world.clock())
    world.clock.advance(500)

    await world.engine.recover(GUILD)  # the guard took the guild's claim here
    await world.engine.run_guild(GUILD)
    await world.engine.run_guild(GUILD)

    assert [(c, p.content) for c, p in world.port.posts] == [(4200, alert.content)]
    assert await world.store.triage.pending(GUILD, before=world.clock() + 1) == []


async def test_a_ping_this_process_has_in_flight_is_not_sent_again_by_its_pass(
    world: World,
) -> None:
    """Rows recorded after this process took the guild are its own (an inbound alert being
    posted right now): a triage pass leaves them to their poster."""
    await world.engine.recover(GUILD)
    world.clock.advance(10)
    alert = Ping(4300, f"<@&{ROLE}> New ticket #43.", None, ROLE)
    assert await world.store.triage.begin_ping(GUILD, "alert", "43", alert, now=world.clock())
    await world.engine.run_guild(GUILD)
    assert world.port.posts == []


async def test_a_ping_is_not_posted_once_the_guild_was_lost(store_target: Path | str) -> None:
    held = [True]
    world = World(store_target)
    world.store = await Store.open(store_target)
    try:
        world.engine = TriageEngine(
            world.store, world.port, clock=world.clock, works_on=lambda g: held[0]
        )
        await world.store.triage.set_notify_role(GUILD, ROLE)
        await world.store.triage.set_sla(GUILD, 30)
        await world.store.triage.set_hours(
            GUILD, parse_hours("mon-fri", "09:00", "17:00", "Europe/Berlin")
        )
        await world.ticket(1)
        await world.store.triage.set_waiting(GUILD, 1, Waiting(WaitingFor.STAFF, world.clock()))
        world.clock.advance(30 * 60)
        held[0] = False  # the claim went while the pass ran
        with pytest.raises(GuildNotHeld):
            await world.engine.run_guild(GUILD)
        assert world.port.posts == []
        held[0] = True  # the next holder's claim recovery posts it, once
        await world.engine.recover(GUILD)
        await world.engine.run_guild(GUILD)
        assert len(world.reminders()) == 1
    finally:
        await world.store.close()
