"""The pure push rules: what a delivery means, which hints may cost a read, the status line."""

from __future__ import annotations

import hashlib
import hmac
import json

from bot.push.engine import (
    MAX_BODY,
    Accepted,
    Admission,
    Coalescer,
    HintCounter,
    OrderHint,
    Rejected,
    check_delivery,
    push_state,
    push_state_off,
    webhook_url,
)

SECRET = "store-wide-signing-secret"


def body(ticket_id: object = 42, **data: object) -> bytes:
    return json.dumps(
        {"event": "ticket_message.created", "data": {"ticket_id": ticket_id, **data}}
    ).encode()


def sign(raw: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def test_a_good_delivery_names_its_ticket_and_nothing_else() -> None:
    assert check_delivery(body(42, content="ignored"), secret=None, signature=None) == Accepted(42)
    assert check_delivery(body("42"), secret=None, signature=None) == Accepted(42)


def test_bad_bodies_are_refused_with_a_4xx() -> None:
    cases = {
        b"x" * (MAX_BODY + 1): 413,
        b"not json": 400,
        b"\xff\xfe": 400,
        b"[]": 422,
        json.dumps({"data": {}}).encode(): 422,
        body(None): 422,
        body(True): 422,
        body(-3): 422,
        body("12a"): 422,
        body(2**70): 422,
    }
    for raw, status in cases.items():
        verdict = check_delivery(raw, secret=None, signature=None)
        assert isinstance(verdict, Rejected) and verdict.status == status, raw[:20]


def test_with_a_secret_only_a_matching_signature_passes() -> None:
    raw = body(7)
    assert check_delivery(raw, secret=SECRET, signature=sign(raw)) == Accepted(7)
    assert check_delivery(raw, secret=SECRET, signature=sign(raw).upper()) == Accepted(7)
    for signature in (None, "", "0" * 64, sign(raw, "another-secret"), sign(body(8))):
        verdict = check_delivery(raw, secret=SECRET, signature=signature)
        assert verdict == Rejected(401, "bad or missing Signature")


def disputed(data: object) -> bytes:
    return json.dumps({"event": "order.disputed", "data": data, "store": 3}).encode()


def test_an_order_disputed_names_its_order_wherever_the_id_is() -> None:
    for data in (
        {"id": 9001, "status": "COMPLETED", "customer": {"id": "c-1"}},
        {"id": "9001"},
        {"order_id": 9001, "id": None},
        {"order": {"id": 9001, "status": "DISPUTING"}},
        {"id": True, "order": {"id": "9001"}},  # a bool is no id: the nested one is
    ):
        assert check_delivery(disputed(data), secret=None, signature=None) == OrderHint("9001")
    assert check_delivery(disputed({"id": "ord_AB-12"}), secret=None, signature=None) == (
        OrderHint("ord_AB-12")
    )


def test_an_order_disputed_without_a_usable_order_id_is_refused() -> None:
    for data in (
        {},
        [],
        None,
        {"id": None},
        {"id": -1},
        {"id": 2**70},
        {"id": "../tickets/1"},
        {"id": "9001?x=1"},
        {"id": "x" * 65},
        {"order": "9001"},
        {"ticket_id": 42},  # a ticket id is not an order id
    ):
        verdict = check_delivery(disputed(data), secret=None, signature=None)
        assert verdict == Rejected(422, "no order id"), data


def test_an_order_disputed_needs_the_same_signature_as_a_ticket_hint() -> None:
    raw = disputed({"id": 9001})
    assert check_delivery(raw, secret=SECRET, signature=sign(raw)) == OrderHint("9001")
    for signature in (None, "0" * 64, sign(raw, "another-secret")):
        verdict = check_delivery(raw, secret=SECRET, signature=signature)
        assert verdict == Rejected(401, "bad or missing Signature")
    big = disputed({"id": 9001, "pad": "x" * MAX_BODY})
    assert check_delivery(big, secret=None, signature=None) == Rejected(413, "body over 64 KiB")


def test_an_order_hint_and_a_ticket_hint_with_the_same_number_are_read_apart() -> None:
    hints = Coalescer()
    assert hints.admit(1, 42, now=0) is Admission.READ
    assert hints.admit(1, OrderHint("42"), now=0) is Admission.READ
    assert hints.admit(1, OrderHint("42"), now=0) is Admission.FOLDED


def test_one_read_in_flight_per_ticket_and_one_more_after_it() -> None:
    hints = Coalescer()
    assert hints.admit(1, 42, now=0) is Admission.READ
    assert hints.admit(1, 42, now=0) is Admission.FOLDED
    assert hints.admit(1, 42, now=0) is Admission.FOLDED
    assert hints.admit(1, 43, now=0) is Admission.READ  # another ticket is not held up
    assert hints.finished(1, 42) is True  # hints came during the read: read once more
    assert hints.finished(1, 42) is False
    assert hints.admit(1, 42, now=0) is Admission.READ


def test_a_flood_of_hints_is_held_to_the_guilds_budget() -> None:
    hints = Coalescer(burst=5, per_second=1.0)
    started = [hints.admit(1, t, now=100.0) for t in range(50)]
    assert started.count(Admission.READ) == 5
    assert hints.admit(2, 1, now=100.0) is Admission.READ  # other guilds keep theirs
    assert hints.admit(1, 999, now=101.0) is Admission.READ  # one more per second
    assert hints.admit(1, 998, now=101.0) is Admission.OVER_BUDGET


def test_a_cancelled_read_does_not_block_the_ticket_for_ever() -> None:
    hints = Coalescer()
    hints.admit(1, 42, now=0)
    hints.drop(1, 42)
    assert hints.admit(1, 42, now=0) is Admission.READ


def test_status_words() -> None:
    assert push_state_off().state == "off"
    failing = push_state(
        enabled=True,
        channel_id=None,
        last_error="SellApp says this API key may not manage webhooks",
        last_hint_at=None,
        hints_today=0,
        now=10,
    )
    assert failing.state == "failing" and "may not manage webhooks" in failing.words
    live = push_state(
        enabled=True, channel_id="uuid", last_error=None, last_hint_at=4, hints_today=3, now=10
    )
    assert live.words == "live (last hint 6 s ago, 3 today)"


def test_hints_today_start_again_at_midnight_utc() -> None:
    counter = HintCounter()
    midnight = 1_700_006_400.0  # 2023-11-15 00:00 UTC
    counter.add(midnight - 1)
    counter.add(midnight - 1)
    assert counter.count_today(midnight - 1) == 2
    assert counter.count_today(midnight) == 0
    counter.add(midnight + 5)
    assert counter.count_today(midnight + 5) == 1


def test_the_url_is_the_public_base_plus_the_token() -> None:
    assert (
        webhook_url("https://b.example.com/", "tok") == "https://b.example.com/sellapp/webhook/tok"
    )
    assert (
        webhook_url("https://b.example.com/x", "tok")
        == "https://b.example.com/x/sellapp/webhook/tok"
    )
