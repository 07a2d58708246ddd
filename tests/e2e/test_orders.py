"""Orders from the thread, against the real process: the card, the actions, exactly once."""

from __future__ import annotations

import asyncio
import json

from tests.e2e.conftest import StartBot
from tests.e2e.harness import (
    STORE,
    Answer,
    World,
    answer,
    group_sub,
    posted_ids,
    role,
    sub,
    ticket_thread,
)
from tests.e2e.leaks import find_leaks
from tests.fakes.discord import Channel, Interaction, Message
from tests.fakes.sellapp_orders import FakeOrder


def card_of(world: World, thread: Channel, order_id: str) -> Message | None:
    for message in world.discord.messages_in(thread.id):
        for embed in message.embeds:
            footer = str((embed.get("footer") or {}).get("text", ""))  # type: ignore[union-attr]
            if footer.startswith(f"SellApp order {order_id}"):
                return message
    return None


def cards_in(world: World, thread: Channel, order_id: str) -> list[Message]:
    return [
        m
        for m in world.discord.messages_in(thread.id)
        if any(
            str((e.get("footer") or {}).get("text", "")).startswith(f"SellApp order {order_id}")  # type: ignore[union-attr]
            for e in m.embeds
        )
    ]


def lines_in(world: World, thread: Channel, needle: str) -> list[str]:
    return [
        m.content
        for m in world.discord.messages_in(thread.id)
        if m.author.id == world.discord.bot.id and needle in m.content
    ]


async def order_ticket(
    world: World, start_bot: StartBot, **order: object
) -> tuple[FakeOrder, Channel, Message]:
    made = world.sellapp.add_order(STORE, **order)  # type: ignore[arg-type]
    ticket = world.sellapp.add_ticket(STORE, reference=made.id, messages=["I paid, no key"])
    await start_bot()
    thread = await world.discord.wait_for(
        lambda: ticket_thread(world, world.forum_channel, ticket["id"]), timeout=20
    )
    card = await world.discord.wait_for(lambda: card_of(world, thread, made.id), timeout=20)
    return made, thread, card


async def allow_staff(world: World, thread: Channel) -> None:
    added = world.discord.run_command(
        world.guild,
        thread.id,
        world.admin,
        "sellapp",
        group_sub("orders", "add", role=role(world.staff_role.id)),
    )
    assert "can now" in (await answer(world, added)).text


async def run_in(
    world: World, thread: Channel, user: object, name: str, **options: object
) -> Answer:
    interaction = world.discord.run_command(
        world.guild,
        thread.id,
        user,
        "ticket",
        sub(name, **options),  # type: ignore[arg-type]
    )
    return await answer(world, interaction)


def confirmation(world: World, interaction: Interaction) -> Message:
    assert interaction.followups, "no confirmation was shown"
    return interaction.followups[0]


async def test_order_card_shows_the_order_and_never_a_deliverables_secret(
    world: World, start_bot: StartBot
) -> None:
    made, _, card = await order_ticket(
        world, start_bot, items=[("Game key", "Steam", 2, 3998), ("DLC", None, 1, 500)]
    )
    shown = json.dumps(card.embeds, ensure_ascii=False)
    for text in (
        "COMPLETED",
        "Game key",
        "Steam",
        "× 2",
        "39.98 EUR",
        "44.98 EUR",
        "STRIPE",
        "NL",
        "delivered",
        "3 order(s)",
        "123.45 USD lifetime",
        "first purchase",
        f"orders/{made.id}",
    ):
        assert text in shown, text
    labels = [c.get("label") for row in card.components for c in row["components"]]
    assert labels == ["Resend delivery", "Replace…", "Refund…"]
    requests = json.dumps([r.json for r in world.discord.requests])
    assert find_leaks(world, secrets=made.secrets) == []
    assert not any(secret in requests for secret in made.secrets)


async def test_resend_by_an_orders_role_member_happens_once_with_an_audit_line(
    world: World, start_bot: StartBot
) -> None:
    made, thread, card = await order_ticket(world, start_bot)
    await allow_staff(world, thread)
    clicked = world.discord.click_button(world.guild, card, world.staff, "orders:resend")
    reply = await answer(world, clicked)
    assert reply.ephemeral and "1 notification(s) sent" in reply.text
    assert len(world.sellapp.actions_on(made.id, "fulfillment-notifications")) == 1
    line = await world.discord.wait_for(
        lambda: lines_in(world, thread, "resent the delivery email") or None, timeout=10
    )
    assert f"<@{world.staff.id}>" in line[0] and "1 notification(s) sent" in line[0]
    again = world.discord.click_button(world.guild, card, world.staff, "orders:resend")
    assert "just resent" in (await answer(world, again)).text
    assert len(world.sellapp.actions_on(made.id)) == 1


async def test_a_member_without_an_orders_role_is_refused_and_nothing_reaches_sellapp(
    world: World, start_bot: StartBot
) -> None:
    _, thread, card = await order_ticket(world, start_bot)
    clicked = world.discord.click_button(world.guild, card, world.staff, "orders:resend")
    reply = await answer(world, clicked)
    assert reply.ephemeral and "orders role" in reply.text
    refund = await run_in(world, thread, world.staff, "refund", amount="5")
    assert refund.ephemeral and "orders role" in refund.text
    assert world.sellapp.requests_to("POST", r"/orders/") == []


async def test_refund_asks_to_confirm_and_two_clicks_at_once_refund_once(
    world: World, start_bot: StartBot
) -> None:
    made, thread, _ = await order_ticket(world, start_bot)
    asked = world.discord.run_command(
        world.guild, thread.id, world.admin, "ticket", sub("refund", amount="5")
    )
    reply = await answer(world, asked)
    assert f"#{made.id}" in reply.text and made.email in reply.text and "5.00 EUR" in reply.text
    assert world.sellapp.requests_to("POST", r"/orders/") == []  # nothing before confirming
    prompt = confirmation(world, asked)
    button = next(
        c["custom_id"]
        for row in prompt.components
        for c in row["components"]
        if c.get("label") == "Confirm"
    )
    first = world.discord.click_button(world.guild, prompt, world.admin, str(button))
    second = world.discord.click_button(world.guild, prompt, world.admin, str(button))
    answers = await asyncio.gather(answer(world, first), answer(world, second))
    texts = sorted(a.text for a in answers)
    assert any("pending" in t for t in texts) and any("already confirmed" in t for t in texts)
    assert len(world.sellapp.actions_on(made.id, "refunds")) == 1
    assert made.refunded_cents == 500
    line = await world.discord.wait_for(
        lambda: lines_in(world, thread, "a refund of 5.00 EUR") or None, timeout=10
    )
    assert "pending" in line[0] and "not yet effective" in line[0]
    info = await run_in(world, thread, world.admin, "info")
    assert "a refund of 5.00 EUR" in info.fields.get("Order actions", "")


async def test_kill_after_the_refund_reached_sellapp_then_restart_refunds_once(
    world: World, start_bot: StartBot
) -> None:
    made = world.sellapp.add_order(STORE)
    ticket = world.sellapp.add_ticket(STORE, reference=made.id, messages=["refund please"])
    bot = await start_bot()
    thread = await world.discord.wait_for(
        lambda: ticket_thread(world, world.forum_channel, ticket["id"]), timeout=20
    )
    await world.discord.wait_for(lambda: card_of(world, thread, made.id), timeout=20)
    world.sellapp.hang_after(5.0, path=r"/refunds$")
    asked = world.discord.run_command(world.guild, thread.id, world.admin, "ticket", sub("refund"))
    await answer(world, asked)
    prompt = confirmation(world, asked)
    button = next(
        c["custom_id"]
        for row in prompt.components
        for c in row["components"]
        if c.get("label") == "Confirm"
    )
    world.discord.click_button(world.guild, prompt, world.admin, str(button))
    await world.discord.wait_for(lambda: world.sellapp.hanging or None, timeout=10)
    await bot.kill()  # the refund happened at SellApp; its answer never reached the bot
    assert len(world.sellapp.actions_on(made.id, "refunds")) == 1
    await start_bot()
    await world.discord.wait_for(
        lambda: lines_in(world, thread, "a refund of the full balance") or None, timeout=30
    )
    sent = world.sellapp.requests_to("POST", r"/refunds$")
    assert len(sent) >= 2 and len({r.headers["idempotency-key"] for r in sent}) == 1
    assert len({json.dumps(r.json) for r in sent}) == 1
    assert len(world.sellapp.actions_on(made.id, "refunds")) == 1
    assert made.status == "REFUNDED" and made.refunded_cents == made.total_cents


async def test_ticket_order_shows_a_disputed_order_and_tells_the_thread_once(
    world: World, start_bot: StartBot
) -> None:
    made, thread, card = await order_ticket(world, start_bot)
    made.status = "DISPUTING"  # a chargeback opened at SellApp
    shown = await run_in(world, thread, world.staff, "order")
    assert shown.ephemeral and "DISPUTING" in shown.text
    assert "DISPUTED" in str(card_of(world, thread, made.id).embeds[0]["title"])  # type: ignore[union-attr]
    await world.discord.wait_for(lambda: lines_in(world, thread, "is DISPUTED") or None)
    await run_in(world, thread, world.staff, "order")
    assert len(lines_in(world, thread, "is DISPUTED")) == 1
    assert [m.id for m in cards_in(world, thread, made.id)] == [card.id]


async def test_an_unreadable_order_leaves_a_reason_and_fills_in_once_sellapp_answers(
    world: World, start_bot: StartBot
) -> None:
    made = world.sellapp.add_order(STORE)
    world.sellapp.fail(path=rf"/api/v2/orders/{made.id}$", status=503, times=None)
    ticket = world.sellapp.add_ticket(STORE, reference=made.id, messages=["where is my key"])
    await start_bot()
    thread = await world.discord.wait_for(
        lambda: ticket_thread(world, world.forum_channel, ticket["id"]), timeout=20
    )
    card = await world.discord.wait_for(lambda: card_of(world, thread, made.id), timeout=20)
    assert "can't be reached" in str(card.embeds[0].get("description"))
    # The ticket's own messages are posted as usual.
    await world.discord.wait_for(lambda: posted_ids(world, thread) or None, timeout=20)
    world.sellapp.clear_faults()

    def filled() -> bool | None:
        shown = card_of(world, thread, made.id)
        return True if shown and "COMPLETED" in str(shown.embeds[0].get("title")) else None

    await world.discord.wait_for(filled, timeout=60)
    assert [m.id for m in cards_in(world, thread, made.id)] == [card.id]


async def test_replace_and_refund_forms_from_the_card_buttons(
    world: World, start_bot: StartBot
) -> None:
    made, thread, card = await order_ticket(
        world, start_bot, items=[("Game key", "Steam", 2, 3998), ("DLC", None, 1, 500)]
    )
    await allow_staff(world, thread)
    clicked = world.discord.click_button(world.guild, card, world.staff, "orders:replace")
    form = await answer(world, clicked)
    assert form.modal is not None and form.modal["custom_id"] == "orders:replace-form"
    submitted = world.discord.submit_modal(
        world.guild, thread.id, world.staff, "orders:replace-form", {"items": "1x1"}
    )
    asked = await answer(world, submitted)
    assert "1× Game key" in asked.text and f"#{made.id}" in asked.text and made.email in asked.text
    prompt = confirmation(world, submitted)
    confirm = next(
        c["custom_id"]
        for row in prompt.components
        for c in row["components"]
        if c.get("label") == "Confirm"
    )
    done = world.discord.click_button(world.guild, prompt, world.staff, str(confirm))
    assert "replacement order #" in (await answer(world, done)).text
    replaced = world.sellapp.actions_on(made.id, "replacements")
    assert len(replaced) == 1 and replaced[0].body == {
        "product_variants": {made.line_items[0]["product_variant_id"]: 1}
    }
    await world.discord.wait_for(
        lambda: lines_in(world, thread, "a replacement of 1× Game key") or None, timeout=10
    )
    # A refund form with an amount over the balance: a clear message, nothing sent.
    clicked = world.discord.click_button(world.guild, card, world.staff, "orders:refund")
    form = await answer(world, clicked)
    assert form.modal is not None and "44.98 EUR" in json.dumps(form.modal, ensure_ascii=False)
    submitted = world.discord.submit_modal(
        world.guild, thread.id, world.staff, "orders:refund-form", {"amount": "99"}
    )
    refused = await answer(world, submitted)
    assert refused.ephemeral and "more than the remaining balance, 44.98 EUR" in refused.text
    assert world.sellapp.actions_on(made.id, "refunds") == []


async def test_two_staff_clicking_resend_at_once_make_one_action(
    world: World, start_bot: StartBot
) -> None:
    made, thread, card = await order_ticket(world, start_bot, status="PAID")
    await allow_staff(world, thread)
    first = world.discord.click_button(world.guild, card, world.staff, "orders:resend")
    second = world.discord.click_button(world.guild, card, world.admin, "orders:resend")
    replies = await asyncio.gather(answer(world, first), answer(world, second))
    assert sum("delivery retried" in r.text for r in replies) == 1, [r.text for r in replies]
    assert len(world.sellapp.actions_on(made.id, "fulfillment-retries")) == 1
    await world.discord.wait_for(
        lambda: lines_in(world, thread, "retried the delivery") or None, timeout=10
    )
    assert len(lines_in(world, thread, "retried the delivery")) == 1
