"""Rendering: every character kept, every Discord limit respected, nothing can ping."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.inbound.render import (
    EMBED_DESCRIPTION_LIMIT,
    EMPTY_MESSAGE,
    THREAD_NAME_LIMIT,
    escape_markdown,
    message_posts,
    read_marker,
    split_text,
    thread_name,
    ticket_embed,
    ticket_info_embed,
    utf16_len,
)
from bot.sellapp.models import Author, Customer, OrderReference, Ticket, TicketMessage, TicketStatus
from tests.markdown import unescape_markdown

WHEN = datetime(2022, 12, 12, 12, 12, 12, tzinfo=UTC)
NASTY = st.lists(
    st.one_of(
        st.text(st.characters(codec="utf-8")),
        st.sampled_from(["@everyone", "<@&1>", "<@1>", "\u200b", "\u202e", "**", "\\", "`", "\n"]),
        st.sampled_from(["https://x.y/a_b", "[t](https://e.vil)", "# h", "> q", "||s||"]),
    )
).map("".join)


def make_ticket(title: str = "Help", email: str | None = "e@x.com", **kw: Any) -> Ticket:
    return Ticket(
        id=kw.pop("id", 7),
        title=title,
        status=kw.pop("status", TicketStatus.OPEN),
        customer=Customer(id="c1", email=email),
        created_at=WHEN,
        updated_at=WHEN,
        **kw,
    )


def make_message(content: str, author: Author = Author.CUSTOMER, mid: int = 99) -> TicketMessage:
    return TicketMessage(
        id=mid,
        author=author,
        sender="e@x.com",
        content=content,
        created_at=WHEN,
        updated_at=WHEN,
        ticket_id=7,
    )


def shown_text(posts: list[Any]) -> str:
    return unescape_markdown("".join(p.embeds[0]["description"] for p in posts))


def embed_size(embed: dict[str, Any]) -> int:
    size = utf16_len(embed.get("title", "")) + utf16_len(embed.get("description", ""))
    size += utf16_len(embed.get("footer", {}).get("text", ""))
    size += utf16_len(embed.get("author", {}).get("name", ""))
    for f in embed.get("fields", []):
        size += utf16_len(f["name"]) + utf16_len(f["value"])
    return size


def test_thread_name_format() -> None:
    assert thread_name(make_ticket("Where is my order?", id=42)) == "#42 · Where is my order?"


def test_thread_name_cut_to_100() -> None:
    name = thread_name(make_ticket("x" * 300, id=42))
    assert len(name) == THREAD_NAME_LIMIT
    assert name.startswith("#42 · xxx")
    assert name.endswith("…")


def test_thread_name_one_line_and_never_empty() -> None:
    assert thread_name(make_ticket("a\nb\r\n\tc", id=1)) == "#1 · a b c"
    assert thread_name(make_ticket("   ", id=1)) == "#1 · (no title)"


def test_ticket_embed_shows_what_staff_need() -> None:
    ticket = make_ticket("Refund", reference=OrderReference(id="555", type="order"))
    embed = ticket_embed(ticket)
    values = {f["name"]: f["value"] for f in embed["fields"]}
    assert embed["title"] == "Ticket #7"
    assert values["Status"] == "Open"
    assert values["Customer"] == "e@x\\.com" or unescape_markdown(values["Customer"]) == "e@x.com"
    assert values["Order"] == "order 555"
    assert str(int(WHEN.timestamp())) in values["Opened"]


def test_ticket_embed_without_order_or_email() -> None:
    ticket = Ticket(id=1, title="t", status=TicketStatus.CLOSED, created_at=WHEN, updated_at=WHEN)
    values = {f["name"]: f["value"] for f in ticket_embed(ticket)["fields"]}
    assert values["Order"] == "none"
    assert values["Customer"] == "unknown"
    assert values["Status"] == "Closed"


def test_ticket_info_is_the_thread_embed_plus_updated_and_message_count() -> None:
    ticket = make_ticket(
        "Refund", message_count=4, reference=OrderReference(id="5_5*", type="order")
    )
    info = ticket_info_embed(ticket)
    first = ticket_embed(ticket)
    assert info["fields"][: len(first["fields"])] == first["fields"]
    assert (info["title"], info["description"]) == (first["title"], first["description"])
    values = {f["name"]: f["value"] for f in info["fields"]}
    assert values["Updated"] == f"<t:{int(WHEN.timestamp())}:R>"
    assert values["Messages"] == "4"
    assert "Messages" not in {f["name"] for f in ticket_info_embed(make_ticket())["fields"]}


def test_ticket_info_escapes_the_order_reference() -> None:
    """/ticket info used its own embed, which showed an order reference unescaped."""
    ticket = make_ticket(reference=OrderReference(id="**bold** <@1>", type="order"))
    values = {f["name"]: f["value"] for f in ticket_info_embed(ticket)["fields"]}
    assert values["Order"] == escape_markdown("order **bold** <@1>")
    assert unescape_markdown(values["Order"]) == "order **bold** <@1>"


def test_five_thousand_characters_arrive_whole() -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(5000))
    posts = message_posts(make_message(text))
    assert len(posts) == 2
    assert shown_text(posts) == text
    markers = [read_marker(list(p.embeds)) for p in posts]
    assert [(m.part, m.parts) for m in markers if m] == [(1, 2), (2, 2)]


def test_empty_content_shows_as_such() -> None:
    for content in ("", "   \n "):
        posts = message_posts(make_message(content))
        assert len(posts) == 1
        assert posts[0].embeds[0]["description"] == EMPTY_MESSAGE


def test_mentions_are_inert() -> None:
    posts = message_posts(make_message("@everyone <@&123> <@456> hi"))
    assert posts[0].content == ""  # content (the only part that could ping) stays empty
    # Every "<" is escaped, so no mention markup survives even inside the embed.
    assert re.search(r"(?<!\\)<@", posts[0].embeds[0]["description"]) is None


def test_store_messages_are_shown_distinctly() -> None:
    customer = message_posts(make_message("hi"))[0].embeds[0]
    store = message_posts(make_message("hello", Author.STORE))[0].embeds[0]
    assert customer["color"] != store["color"]
    assert "Store" in store["author"]["name"]
    assert "e@x.com" in customer["author"]["name"]


def test_marker_round_trip() -> None:
    posts = message_posts(make_message("x", mid=123456))
    marker = read_marker(list(posts[0].embeds))
    assert marker is not None
    assert (marker.message_id, marker.part, marker.parts) == (123456, 1, 1)
    assert read_marker([{"footer": {"text": "something else"}}]) is None


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(NASTY, st.text(min_size=4000, max_size=12000)))
def test_split_keeps_every_character(text: str) -> None:
    parts = split_text(escape_markdown(text))
    assert unescape_markdown("".join(parts)) == text
    for part in parts:
        assert utf16_len(part) <= EMBED_DESCRIPTION_LIMIT


@settings(max_examples=150, deadline=None)
@given(NASTY, NASTY, st.one_of(st.none(), NASTY))
def test_any_message_renders_within_limits(content: str, title: str, email: str | None) -> None:
    ticket = make_ticket(title, email=email)
    posts = message_posts(make_message(content), ticket)
    if content.strip():
        assert shown_text(posts) == content
    for post in posts:
        assert post.content == ""
        assert len(post.embeds) <= 10
        for embed in post.embeds:
            assert utf16_len(embed["description"]) <= EMBED_DESCRIPTION_LIMIT
            assert embed_size(embed) <= 6000
    name = thread_name(ticket)
    assert 1 <= utf16_len(name) <= THREAD_NAME_LIMIT
    assert "\n" not in name
    embed = ticket_embed(ticket)
    assert embed_size(embed) <= 6000
    assert all(utf16_len(f["value"]) <= 1024 for f in embed["fields"])


def test_hundred_thousand_characters() -> None:
    text = "🙂" * 50_000  # 100,000 UTF-16 units
    posts = message_posts(make_message(text))
    assert shown_text(posts) == text
    assert all(utf16_len(p.embeds[0]["description"]) <= 4096 for p in posts)
