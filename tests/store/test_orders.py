"""store.orders on both backends (an SQLite file, a PostgreSQL database): roles, cards,
and the action rows' life."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import Store
from bot.store import orders as orders_module
from bot.store.orders import OrderAction, RecentlyDone

GUILD = 1


@pytest.fixture
async def store(store_target: Path | str) -> AsyncIterator[Store]:
    async with await Store.open(store_target) as opened:
        yield opened


async def test_orders_roles_add_remove_list_per_guild(store: Store) -> None:
    assert await store.orders.add_role(GUILD, 5)
    assert not await store.orders.add_role(GUILD, 5)
    await store.orders.add_role(2, 6)
    assert await store.orders.roles(GUILD) == {5}
    assert await store.orders.remove_role(GUILD, 5)
    assert not await store.orders.remove_role(GUILD, 5)
    assert await store.orders.roles(GUILD) == set()


async def test_a_card_intent_keeps_its_message_once_posted(store: Store) -> None:
    await store.orders.record_card(
        GUILD, 7, order_id="42", thread_id=70, message_id=None, status=None, now=1.0
    )
    posted = await store.orders.record_card(
        GUILD, 7, order_id="42", thread_id=70, message_id=700, status="PAID", now=2.0
    )
    again = await store.orders.record_card(
        GUILD, 7, order_id="42", thread_id=70, message_id=None, status=None, now=3.0
    )
    assert posted.message_id == again.message_id == 700
    assert again.last_status == "PAID"


async def test_unreadable_cards_of_open_tickets_come_due_sooner(store: Store) -> None:
    for ticket_id, status in ((7, "OPEN"), (8, "OPEN"), (9, "CLOSED")):
        await store.tickets.record(
            GUILD, ticket_id, status=status, title="t", sellapp_updated_at=None, now=0.0
        )
    await store.orders.record_card(
        GUILD, 7, order_id="42", thread_id=70, message_id=1, status=None, now=100.0
    )
    await store.orders.record_card(
        GUILD, 8, order_id="43", thread_id=80, message_id=2, status="PAID", now=100.0
    )
    await store.orders.record_card(
        GUILD, 9, order_id="44", thread_id=90, message_id=3, status=None, now=100.0
    )
    soon = await store.orders.cards_due(now=140.0, readable_after=300, unreadable_after=30)
    assert [c.order_id for c in soon] == ["42"]
    later = await store.orders.cards_due(now=500.0, readable_after=300, unreadable_after=30)
    assert sorted(c.order_id for c in later) == ["42", "43"]


async def test_a_proposal_never_confirmed_is_never_sent(store: Store) -> None:
    action = await store.orders.propose(
        GUILD,
        7,
        thread_id=70,
        order_id="42",
        kind="refund",
        route="refunds",
        body={"amount": "5.00"},
        summary="a refund of 5.00 EUR",
        actor_id=3,
        now=1.0,
    )
    assert await store.orders.cancel(action.id, now=2.0)
    assert await store.orders.claim(action.id, actor_id=3, now=3.0) is None
    assert await store.orders.due(now=10.0) == []
    assert await store.orders.for_ticket(GUILD, 7) == []


async def test_each_proposal_gets_its_own_key_and_keeps_its_exact_body(store: Store) -> None:
    kwargs = dict(
        thread_id=70,
        order_id="42",
        kind="refund",
        route="refunds",
        summary="s",
        actor_id=3,
        now=1.0,
    )
    one = await store.orders.propose(GUILD, 7, body={"amount": "5.00"}, **kwargs)  # type: ignore[arg-type]
    two = await store.orders.propose(GUILD, 7, body={}, **kwargs)  # type: ignore[arg-type]
    assert one.idempotency_key != two.idempotency_key
    assert one.payload == {"amount": "5.00"} and two.payload == {}


async def test_a_second_click_after_the_first_finished_is_not_a_second_action(
    store: Store,
) -> None:
    async def propose() -> OrderAction:
        return await store.orders.propose(
            GUILD,
            7,
            thread_id=70,
            order_id="42",
            kind="resend",
            route="fulfillment-notifications",
            body={},
            summary="resent",
            actor_id=3,
            now=1.0,
        )

    first = await propose()
    second = await propose()
    assert await store.orders.claim(first.id, actor_id=3, now=2.0, done_since=0.0)
    await store.orders.finish(first.id, "done", "1 notification(s) sent", now=3.0)
    with pytest.raises(RecentlyDone):
        await store.orders.claim(second.id, actor_id=4, now=4.0, done_since=0.0)


async def test_done_lists_only_actions_sellapp_carried_out_for_stats(store: Store) -> None:
    """/sellapp stats counts order actions: only those that reached 'done', per guild."""

    async def propose(guild_id: int, kind: str, route: str) -> OrderAction:
        return await store.orders.propose(
            guild_id,
            7,
            thread_id=70,
            order_id="42",
            kind=kind,  # type: ignore[arg-type]
            route=route,
            body={},
            summary=kind,
            actor_id=3,
            now=1.0,
        )

    refund = await propose(GUILD, "refund", "refunds")
    resend = await propose(GUILD, "resend", "fulfillment-notifications")
    refused = await propose(GUILD, "replace", "replacements")
    elsewhere = await propose(GUILD + 1, "refund", "refunds")
    await propose(GUILD, "refund", "refunds")  # proposed, never confirmed
    for action in (refund, resend, refused, elsewhere):
        assert await store.orders.claim(action.id, actor_id=3, now=2.0, done_since=0.0)
    await store.orders.finish(refund.id, "done", "refund pending", now=3.0)
    await store.orders.finish(resend.id, "done", "1 notification(s) sent", now=4.0)
    await store.orders.finish(refused.id, "refused", "SellApp said no", now=5.0)
    await store.orders.finish(elsewhere.id, "done", "refund pending", now=6.0)

    done = await store.orders.done(GUILD)
    assert [(a.kind, a.finished_at) for a in done] == [("refund", 3.0), ("resend", 4.0)]


async def test_a_cards_product_is_kept_for_stats_and_not_lost_by_a_later_write(
    store: Store,
) -> None:
    """/sellapp stats counts tickets per product from what the order card read."""
    await store.orders.record_card(
        GUILD, 7, order_id="42", thread_id=70, message_id=None, status=None, now=1.0
    )
    assert await store.orders.products(GUILD) == {}  # not read yet
    await store.orders.record_card(
        GUILD,
        7,
        order_id="42",
        thread_id=70,
        message_id=700,
        status="PAID",
        now=2.0,
        product="Game key",
    )
    await store.orders.record_card(  # SellApp couldn't be read this time: keep the product
        GUILD, 7, order_id="42", thread_id=70, message_id=700, status=None, now=3.0
    )
    await store.orders.record_card(
        GUILD + 1,
        8,
        order_id="43",
        thread_id=80,
        message_id=800,
        status="PAID",
        now=2.0,
        product="Gift card",
    )
    assert await store.orders.products(GUILD) == {7: "Game key"}


async def test_card_refresh_limit_is_taken_before_the_works_on_filter(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten older cards of a guild another process holds must not crowd out this
    process's card: the limit is taken among the guilds asked for, also when their ids
    are bound in several queries."""
    theirs, ours, also_ours = 11, 22, 33
    cards = [*((theirs, t, 1.0 + t) for t in range(10)), (ours, 1, 50.0), (also_ours, 2, 40.0)]
    for guild, ticket, at in cards:
        await store.tickets.record(
            guild, ticket, status="OPEN", title="t", sellapp_updated_at=None, now=1.0
        )
        await store.orders.record_card(
            guild,
            ticket,
            order_id=f"o{guild}-{ticket}",
            thread_id=ticket,
            message_id=5,
            status="PAID",
            now=at,
        )
    due = {"now": 10_000.0, "readable_after": 300.0, "unreadable_after": 60.0}
    everyone = await store.orders.cards_due(**due)
    assert {c.guild_id for c in everyone} == {theirs}  # the ten oldest, all theirs

    mine = await store.orders.cards_due(**due, guild_ids={ours, also_ours})
    assert [(c.guild_id, c.order_id) for c in mine] == [(also_ours, "o33-2"), (ours, "o22-1")]
    monkeypatch.setattr(orders_module, "_IDS_PER_QUERY", 1)  # one query per guild
    again = await store.orders.cards_due(**due, guild_ids=[ours, also_ours], limit=1)
    assert [c.order_id for c in again] == ["o33-2"]  # the oldest of all, after merging
    assert await store.orders.cards_due(**due, guild_ids=()) == []
