"""Filling snippet and signature templates (pure), and the snippet post read back."""

from __future__ import annotations

from bot.replies.facts import ticket_facts
from bot.replies.posts import post_text, read_post
from bot.replies.signature import check_signature
from bot.replies.template import Facts, fill, for_discord, from_discord
from bot.sellapp.models import Ticket

FACTS = Facts(
    customer_email="ann@example.com",
    ticket_id=42,
    ticket_title="Late order",
    order_id="ord_9",
    product="Gift card",
    staff_name="Alex",
    store="main-store",
)


def test_every_variable_is_filled() -> None:
    template = (
        "{customer.email} {ticket.id} {ticket.title} {order.id} {product} {staff.name} {store}"
    )
    filled = fill(template, FACTS)
    assert filled.text == "ann@example.com 42 Late order ord_9 Gift card Alex main-store"
    assert filled.complete


def test_missing_order_is_named_and_left_as_written() -> None:
    filled = fill("Order {order.id} for {customer.email}", Facts(customer_email="a@b.c"))
    assert filled.text == "Order {order.id} for a@b.c"
    assert filled.missing == ("order.id",)
    assert not filled.complete


def test_unknown_variable_is_named_not_dropped() -> None:
    filled = fill("Hi {custmer.email}, {custmer.email}!", FACTS)
    assert filled.text == "Hi {custmer.email}, {custmer.email}!"
    assert filled.unknown == ("custmer.email",)
    assert not filled.complete


def test_markdown_and_mentions_in_values_never_ping_or_format_in_discord() -> None:
    facts = Facts(ticket_title="@everyone **free** <@123> <@&9> `x`", staff_name="__Al__")
    filled = fill("{ticket.title} by {staff.name}", facts)
    assert filled.text == "@everyone **free** <@123> <@&9> `x` by __Al__"  # SellApp: plain
    shown = for_discord(filled.text)
    assert "@everyone" not in shown.replace("\\@", "")
    assert "<@" not in shown and "**" not in shown and "__" not in shown
    assert from_discord(shown) == filled.text


def test_escaping_round_trips_backslashes_and_every_special_character() -> None:
    text = "a\\b *c* _d_ ~e~ |f| > g # h - [i](j) :k: @l <m>"
    assert from_discord(for_discord(text)) == text


def test_snippet_post_reads_back_its_staff_member_and_plain_text() -> None:
    text = "Line one\n**Line** two <@1> @here"
    post = read_post(post_text(555, "refund (long)", text))
    assert post is not None
    assert (post.staff_id, post.snippet, post.text) == (555, "refund (long)", text)
    assert read_post("just a message from the bot") is None
    assert read_post(text) is None


def test_signature_may_use_only_what_the_bridge_knows() -> None:
    assert check_signature("— {staff.name}, {store} support") is None
    problem = check_signature("— {customer.email}")
    assert problem is not None and "{customer.email}" in problem
    unknown = check_signature("{staf.name}")
    assert unknown is not None and "{staf.name}" in unknown
    assert check_signature("   ") is not None


def test_ticket_facts_take_the_order_from_the_reference_and_never_invent_one() -> None:
    base = {
        "id": 9,
        "title": "Late",
        "status": "OPEN",
        "customer": {"id": "c1", "email": "ann@example.com"},
        "created_at": "2026-03-01T10:00:00Z",
        "updated_at": "2026-03-01T10:00:00Z",
    }
    with_order = Ticket.model_validate({**base, "reference": {"id": 77, "type": "order"}})
    facts = ticket_facts(with_order, staff_name="Alex", store="shop")
    assert fill("{order.id} {ticket.id} {customer.email}", facts).text == "77 9 ann@example.com"

    about_a_product = Ticket.model_validate({**base, "reference": {"id": 5, "type": "product"}})
    missing = fill("Order {order.id}", ticket_facts(about_a_product, staff_name="A", store=None))
    assert missing.missing == ("order.id",)
    no_customer = Ticket.model_validate({**base, "customer": []})
    assert fill("{customer.email}", ticket_facts(no_customer, staff_name="A", store=None)).missing
