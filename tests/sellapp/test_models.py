"""The models read every payload shape the SellApp notes list, and refuse broken ones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from bot.sellapp.models import (
    Author,
    Customer,
    OrderReference,
    Ticket,
    TicketMessage,
    TicketStatus,
)

STAMP = "2022-12-12T12:12:12.000000Z"


def ticket_payload(**changes: Any) -> dict[str, Any]:
    """The ticket page's own example, with ``changes`` applied."""
    payload: dict[str, Any] = {
        "id": 1,
        "title": "acquisition.",
        "status": "OPEN",
        "customer": {"id": "cfbbf27a-0595-3234-953d-5f6629fccc9d", "email": "e@x.com"},
        "reference": [],
        "created_at": STAMP,
        "updated_at": STAMP,
        "store_id": 1,
        "read_by": 1,
        "archived": 0,
    }
    payload.update(changes)
    return payload


def message_payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": 2,
        "author": "STORE",
        "sender": None,
        "content": "Hey thanks for reaching out but we do not accept doge.",
        "created_at": STAMP,
        "updated_at": STAMP,
        "ticket_id": 1,
    }
    payload.update(changes)
    return payload


def test_documented_ticket_example_parses() -> None:
    ticket = Ticket.model_validate(ticket_payload())
    assert ticket.id == 1
    assert ticket.status is TicketStatus.OPEN
    assert ticket.customer == Customer(id="cfbbf27a-0595-3234-953d-5f6629fccc9d", email="e@x.com")
    assert ticket.reference is None
    assert ticket.created_at == datetime(2022, 12, 12, 12, 12, 12, tzinfo=UTC)
    assert ticket.store_id == 1
    assert ticket.read_by == 1
    assert ticket.archived is False


@pytest.mark.parametrize("status", ["OPEN", "open", "Open", " open "])
def test_status_any_case(status: str) -> None:
    assert Ticket.model_validate(ticket_payload(status=status)).status is TicketStatus.OPEN


@pytest.mark.parametrize("status", ["PENDING", "on-hold", " Awaiting  reply "])
def test_an_unknown_status_is_open_and_kept_to_show(status: str) -> None:
    ticket = Ticket.model_validate(ticket_payload(status=status))
    assert ticket.status is TicketStatus.OPEN
    assert ticket.unknown_status == " ".join(status.split())


def test_a_known_status_has_no_unknown_status_even_if_sellapp_sends_that_field() -> None:
    ticket = Ticket.model_validate(ticket_payload(status="closed", unknown_status="x"))
    assert (ticket.status, ticket.unknown_status) == (TicketStatus.CLOSED, None)


def test_closed_status() -> None:
    assert Ticket.model_validate(ticket_payload(status="closed")).status is TicketStatus.CLOSED


def test_customer_id_as_int_is_kept_as_text() -> None:
    ticket = Ticket.model_validate(ticket_payload(customer={"id": 42, "email": None}))
    assert ticket.customer == Customer(id="42", email=None)


@pytest.mark.parametrize("customer", [None, [], {}])
def test_missing_customer(customer: Any) -> None:
    assert Ticket.model_validate(ticket_payload(customer=customer)).customer is None


@pytest.mark.parametrize("reference", [[], {}, None])
def test_empty_reference_is_none(reference: Any) -> None:
    assert Ticket.model_validate(ticket_payload(reference=reference)).reference is None


def test_absent_optional_fields_default() -> None:
    payload = ticket_payload()
    for name in ("customer", "reference", "store_id", "read_by", "archived"):
        del payload[name]
    ticket = Ticket.model_validate(payload)
    assert (ticket.customer, ticket.reference, ticket.store_id, ticket.read_by) == (None,) * 4
    assert ticket.archived is False


@pytest.mark.parametrize("ref_id", [12, "ord_12"])
def test_reference_object(ref_id: int | str) -> None:
    ticket = Ticket.model_validate(ticket_payload(reference={"id": ref_id, "type": "order"}))
    assert ticket.reference == OrderReference(id=str(ref_id), type="order")


@pytest.mark.parametrize(
    ("raw", "expected"), [(0, False), (1, True), (False, False), (True, True), (None, False)]
)
def test_archived_int_or_bool(raw: Any, expected: bool) -> None:
    assert Ticket.model_validate(ticket_payload(archived=raw)).archived is expected


def test_v2_extras_and_unknown_fields() -> None:
    ticket = Ticket.model_validate(
        ticket_payload(
            archived=True,
            read_status="UNREAD",
            order_id=77,
            reason="refund",
            message_count=3,
            brand_new_field={"x": 1},
        )
    )
    assert (ticket.read_status, ticket.order_id, ticket.reason, ticket.message_count) == (
        "UNREAD",
        77,
        "refund",
        3,
    )
    assert ticket.archived is True
    assert not hasattr(ticket, "brand_new_field")


def test_models_are_frozen() -> None:
    ticket = Ticket.model_validate(ticket_payload())
    with pytest.raises(ValidationError):
        ticket.title = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    "change",
    [
        {"id": "not-a-number"},
        {"status": 3},
        {"status": ""},
        {"created_at": "yesterday"},
        {"archived": 2},
        {"reference": {"type": "order"}},
        {"customer": {"id": True}},
        {"title": None},
    ],
)
def test_bad_ticket_payloads_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Ticket.model_validate(ticket_payload(**change))


@pytest.mark.parametrize("missing", ["id", "title", "status", "created_at", "updated_at"])
def test_required_ticket_fields(missing: str) -> None:
    payload = ticket_payload()
    del payload[missing]
    with pytest.raises(ValidationError):
        Ticket.model_validate(payload)


def test_documented_message_example_parses() -> None:
    message = TicketMessage.model_validate(message_payload())
    assert message.author is Author.STORE
    assert message.sender is None
    assert message.ticket_id == 1
    assert message.content.startswith("Hey thanks")


def test_customer_message_any_case_and_null_content() -> None:
    message = TicketMessage.model_validate(
        message_payload(author="customer", sender="e@x.com", content=None)
    )
    assert message.author is Author.CUSTOMER
    assert message.sender == "e@x.com"
    assert message.content == ""


@pytest.mark.parametrize(
    "change", [{"author": "ADMIN"}, {"ticket_id": None}, {"id": [1]}, {"updated_at": 5.5j}]
)
def test_bad_message_payloads_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TicketMessage.model_validate(message_payload(**change))
