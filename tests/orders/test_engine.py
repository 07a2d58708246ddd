"""The orders engine and card, with plain data: routes, amounts, words, what is never shown."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.orders.desk import OrderView
from bot.orders.engine import (
    OrderActionRefused,
    TicketSubject,
    confirmation_text,
    main_product,
    outcome_words,
    parse_amount,
    parse_selection,
    plan_refund,
    plan_replace,
    plan_resend,
    subject_of,
)
from bot.orders.render import audit_line, order_card, product_card
from bot.sellapp.models import Ticket
from bot.sellapp.orders import ActionAnswer, CustomerProfile, Deliverable, Order
from bot.store.orders import OrderAction


def order(status: str = "COMPLETED", **extra: Any) -> Order:
    body: dict[str, Any] = {
        "id": 42,
        "status": status,
        "customer": {"id": "c-1", "email": "buyer@example.com", "country": "DE"},
        "payment": {"method": "PAYPAL", "paid_at": "2026-11-30T10:00:05Z"},
        "totals": {"currency": "eur", "total_cents": 2500, "refunded_cents": 0},
        "line_items": [
            {
                "id": "li-1",
                "product_variant_id": "v1",
                "product_title": "Game key",
                "variant_title": "Steam",
                "quantity": 2,
                "total_cents": 2000,
            },
            {"id": "li-2", "product_variant_id": "v2", "product_title": "DLC", "total_cents": 500},
        ],
    }
    body.update(extra)
    return Order.model_validate(body)


def ticket(**extra: Any) -> Ticket:
    body: dict[str, Any] = {
        "id": 7,
        "title": "No key",
        "status": "OPEN",
        "created_at": "2026-11-30T10:00:00Z",
        "updated_at": "2026-11-30T10:00:00Z",
        "reference": [],
    }
    body.update(extra)
    return Ticket.model_validate(body)


# --- what a ticket is about ----------------------------------------------------------------


def test_order_reference_or_order_id_names_an_order() -> None:
    assert subject_of(ticket(reference={"id": 12, "type": "order"})) == TicketSubject("order", "12")
    assert subject_of(ticket(order_id=99)) == TicketSubject("order", "99")


def test_product_reference_is_a_product_and_none_is_nothing() -> None:
    assert subject_of(ticket(reference={"id": "p9", "type": "product"})) == TicketSubject(
        "product", "p9"
    )
    assert subject_of(ticket()) is None


# --- resend ----------------------------------------------------------------------------------


def test_resend_of_completed_order_sends_notifications() -> None:
    assert plan_resend(order("COMPLETED")).route == "fulfillment-notifications"


@pytest.mark.parametrize("status", ["PAID", "PARTIAL"])
def test_resend_of_paid_or_partial_order_retries_delivery(status: str) -> None:
    assert plan_resend(order(status)).route == "fulfillment-retries"


def test_resend_of_refunded_order_is_refused_in_plain_words() -> None:
    with pytest.raises(OrderActionRefused, match="this one is REFUNDED"):
        plan_resend(order("REFUNDED"))


# --- refund ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cents"),
    [("5", 500), ("5.5", 550), ("5.00", 500), ("5,25", 525), ("5 EUR", 500), ("25.00", 2500)],
)
def test_amounts_staff_type_are_read_as_minor_units(text: str, cents: int) -> None:
    assert parse_amount(text, currency="EUR", remaining_cents=2500) == cents


def test_blank_amount_is_the_full_remaining_balance() -> None:
    plan = plan_refund(
        order(totals={"currency": "EUR", "total_cents": 2500, "refunded_cents": 500}), " "
    )
    assert plan.body == {} and "20.00 EUR" in plan.summary


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("25.01", "more than the remaining balance, 25.00 EUR"),
        ("0", "more than zero"),
        ("-3", "isn't an amount"),
        ("5.001", "isn't an amount"),
        ("five", "isn't an amount"),
    ],
)
def test_bad_amounts_get_a_clear_message_with_the_balance(text: str, words: str) -> None:
    with pytest.raises(OrderActionRefused, match=words):
        plan_refund(order(), text)


def test_refund_body_is_a_decimal_string_in_the_orders_currency() -> None:
    plan = plan_refund(order(), "7.5")
    assert plan.body == {"amount": "7.50"} and "7.50 EUR" in plan.summary


def test_refund_confirmation_names_order_customer_and_amount() -> None:
    text = confirmation_text(order(), plan_refund(order(), "7.5"))
    assert "#42" in text and "buyer@example.com" in text and "7.50 EUR" in text


def test_a_pending_refund_is_not_called_done() -> None:
    words = outcome_words(
        "refund", ActionAnswer.from_body({"data": {"refund": {"status": "pending"}}})
    )
    assert "pending" in words and "not yet effective" in words


# --- replace ---------------------------------------------------------------------------------


def test_replace_selection_picks_lines_and_quantities() -> None:
    o = order()
    assert parse_selection("", o) == {1: 2, 2: 1}
    assert parse_selection("1x1", o) == {1: 1}
    plan = plan_replace(o, parse_selection("1x1, 2", o))
    assert plan.body == {"product_variants": {"v1": 1, "v2": 1}}


@pytest.mark.parametrize(
    ("text", "words"), [("1x3", "1 to 2"), ("3", "lines 1 to 2"), ("a", "isn't a line")]
)
def test_replace_more_than_bought_is_refused(text: str, words: str) -> None:
    with pytest.raises(OrderActionRefused, match=words):
        parse_selection(text, order())


# --- the card --------------------------------------------------------------------------------


def test_card_shows_lines_totals_payment_country_delivery_history() -> None:
    view = OrderView(
        "42",
        order(),
        (
            Deliverable.model_validate({"line_item_id": "li-1", "status": "delivered"}),
            Deliverable.model_validate({"line_item_id": "li-2", "status": "pending"}),
        ),
        CustomerProfile.model_validate(
            {
                "insights": {
                    "orders_count": 4,
                    "revenue_usd_cents": 9900,
                    "first_purchase_at": "2025-01-01T00:00:00Z",
                }
            }
        ),
    )
    card = json.dumps(order_card(view), ensure_ascii=False)
    for shown in (
        "Order #42",
        "COMPLETED",
        "Game key",
        "Steam",
        "× 2",
        "20.00 EUR",
        "delivered",
        "pending",
        "25.00 EUR",
        "PAYPAL",
        "DE",
        "4 order(s)",
        "99.00 USD lifetime",
        "first purchase",
        "dashboard",
    ):
        assert shown in card, shown


def test_a_deliverables_secret_never_reaches_the_card() -> None:
    secret = "SECRET-LICENCE-KEY-1234"
    record = Deliverable.model_validate(
        {
            "line_item_id": "li-1",
            "status": "delivered",
            "deliverable": secret,
            "additional_information": [f"https://files.example/{secret}"],
        }
    )
    assert secret not in json.dumps(order_card(OrderView("42", order(), (record,))))


def test_an_unreadable_order_leaves_a_one_line_reason() -> None:
    card = order_card(OrderView("42", None, reason="SellApp doesn't know this order (404)."))
    assert "404" in card["description"] and "fills in once SellApp answers" in card["description"]


def test_a_disputed_order_is_marked_on_the_card() -> None:
    assert "DISPUTED" in order_card(OrderView("42", order("DISPUTING")))["title"]


def test_audit_line_says_who_what_and_sellapps_answer() -> None:
    action = OrderAction(
        1,
        1,
        7,
        5,
        "42",
        "refund",
        "refunds",
        "{}",
        "k",
        "a refund of 7.50 EUR",
        555,
        "done",
        1,
        0.0,
        None,
        "refund pending at SellApp (not yet effective)",
        None,
        datetime(2026, 1, 1, tzinfo=UTC).timestamp(),
        None,
        None,
    )
    line = audit_line(action)
    assert "<@555>" in line and "7.50 EUR" in line and "pending" in line and "#42" in line


def test_a_product_ticket_shows_the_product_not_an_order() -> None:
    card = product_card("p9")
    assert "Product p9" in card["title"] and "not an order" in card["description"]


def test_a_refused_action_is_not_called_done_in_its_line() -> None:
    action = OrderAction(
        2,
        1,
        7,
        5,
        "42",
        "resend",
        "fulfillment-retries",
        "{}",
        "k2",
        "retried the delivery",
        555,
        "refused",
        1,
        0.0,
        None,
        "SellApp refused: Only PAID or PARTIAL orders",
        None,
        0.0,
        None,
        None,
    )
    line = audit_line(action)
    assert "not done" in line and "SellApp refused" in line


def test_the_main_product_is_the_first_line_items() -> None:
    order = Order.model_validate(
        {
            "id": 1,
            "status": "PAID",
            "line_items": [
                {"product_title": "Game key", "variant_title": "Steam", "quantity": 1},
                {"product_title": "DLC", "quantity": 1},
            ],
        }
    )
    assert main_product(order) == "Game key"
    assert main_product(Order.model_validate({"id": 2, "status": "PAID"})) is None
    assert main_product(None) is None
