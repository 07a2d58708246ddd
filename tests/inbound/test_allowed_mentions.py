"""What a post may ping on Discord: nobody, or exactly the one user or role triage names."""

from __future__ import annotations

from bot.inbound.discord_edge import allowed_mentions
from bot.inbound.render import Post


def test_an_ordinary_post_pings_nobody() -> None:
    payload = allowed_mentions(Post(content="<@1> <@&2> @everyone")).to_dict()
    assert payload == {"parse": []}


def test_the_alert_may_ping_only_its_role() -> None:
    payload = allowed_mentions(Post(content="<@&2>", ping_role=2)).to_dict()
    assert payload["parse"] == []
    assert payload["roles"] == [2]
    assert "users" not in payload or payload["users"] == []


def test_the_owner_ping_may_ping_only_that_user() -> None:
    payload = allowed_mentions(Post(content="<@1>", ping_user=1)).to_dict()
    assert payload["parse"] == []
    assert payload["users"] == [1]
    assert "roles" not in payload or payload["roles"] == []
