"""/sellapp connect, decided: the form, the probe, "another store", the reply."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from bot.errors import InputRefused, SellAppAuthError
from bot.links import LinkConfig
from bot.links.connect import (
    BAD_KEY,
    BAD_SLUG,
    ConnectForm,
    ConnectPlan,
    StoreProbe,
    connected_words,
    plan_connect,
    probe_store,
    read_form,
    switches_store,
)
from bot.links.sealing import Sealer
from bot.sellapp.client import SellAppClient, make_http_client
from tests.fakes.sellapp import FakeSellApp

KEY = "sk_live_connect_test_0123456789SECRET"
SECRET = "a host secret of more than thirty-two characters"
GUILD = 42


def linked(store_slug: str | None, *, key: str | None = "old-key") -> LinkConfig:
    return LinkConfig(
        guild_id=GUILD,
        store_slug=store_slug,
        api_key=SecretStr(key) if key else None,
        channel_id=7,
        staff_role_ids=frozenset(),
        poll_interval=30.0,
        paused=False,
        note_prefix="//",
    )


# --- the form ---------------------------------------------------------------------------


def test_form_is_trimmed_and_a_blank_store_means_the_keys_first() -> None:
    assert read_form("  sk_1  ", "  my-store ") == ConnectForm("sk_1", "my-store")
    assert read_form("sk_1", "   ") == ConnectForm("sk_1", None)
    assert read_form("sk_1", "a.b_c-9") == ConnectForm("sk_1", "a.b_c-9")


@pytest.mark.parametrize("key", ["", "   ", "sk 1", "sk_1\nsk_2", "sk\t1"])
def test_a_key_empty_or_with_spaces_is_refused(key: str) -> None:
    with pytest.raises(InputRefused) as refused:
        read_form(key, "my-store")
    assert str(refused.value) == BAD_KEY


@pytest.mark.parametrize("slug", ["my store", "store!", "a/b", "x" * 101, "<@1>"])
def test_a_slug_outside_letters_digits_and_dashes_is_refused(slug: str) -> None:
    with pytest.raises(InputRefused) as refused:
        read_form("sk_1", slug)
    assert str(refused.value) == BAD_SLUG


def test_a_refusal_never_repeats_the_key() -> None:
    with pytest.raises(InputRefused) as refused:
        read_form("sk_live_SECRET with space", "")
    assert "SECRET" not in str(refused.value)


# --- another store? ---------------------------------------------------------------------


def test_another_store_is_a_different_slug_of_a_link_that_had_a_key() -> None:
    assert switches_store(linked("old-store"), "new-store")
    assert switches_store(linked("old-store"), None)  # the key's first store may be another
    assert switches_store(linked(None), "new-store")
    assert not switches_store(linked("same"), "same")
    assert not switches_store(linked(None), None)
    assert not switches_store(None, "new-store")  # never linked
    assert not switches_store(linked("old-store", key=None), "new-store")  # no store yet


def test_plan_seals_the_key_and_forgets_tickets_only_when_switching() -> None:
    sealer = Sealer(SECRET)
    plan = plan_connect(GUILD, ConnectForm(KEY, "new"), linked("old"), sealer)
    assert plan.forget_tickets
    assert (plan.guild_id, plan.store_slug) == (GUILD, "new")
    assert KEY not in plan.api_key_sealed
    assert sealer.open(plan.api_key_sealed).get_secret_value() == KEY
    assert not plan_connect(GUILD, ConnectForm(KEY, "old"), linked("old"), sealer).forget_tickets


# --- the reply --------------------------------------------------------------------------


def test_reply_names_the_store_counts_and_what_is_next() -> None:
    plan = ConnectPlan(GUILD, "shop", "sealed", forget_tickets=False)
    text = connected_words(plan, StoreProbe(tickets=5, open_tickets=2), channel_set=False)
    assert text == (
        "Connected to SellApp store **shop**: 5 ticket(s), 2 open. The key is stored sealed."
        "\nNext: choose where tickets go with /sellapp channel."
    )


def test_reply_after_switching_says_the_old_threads_are_no_longer_followed() -> None:
    plan = ConnectPlan(GUILD, None, "sealed", forget_tickets=True)
    text = connected_words(plan, StoreProbe(tickets=0, open_tickets=0), channel_set=True)
    assert "**the key’s first store**" in text
    assert "linked to another store before" in text
    assert "/sellapp channel" not in text


# --- the probe, against the fake SellApp on loopback ------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeSellApp]:
    async with FakeSellApp() as server:
        server.add_account(KEY, ["shop", "other"])
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with make_http_client() as client:
        yield client


async def test_probe_counts_the_stores_tickets_and_open_ones(
    fake: FakeSellApp, http: httpx.AsyncClient
) -> None:
    for status in ("OPEN", "OPEN", "CLOSED"):
        fake.add_ticket("shop", status=status)
    fake.add_ticket("other")
    client = SellAppClient(http, base_url=fake.url, api_key=SecretStr(KEY), store="shop")
    assert await probe_store(client) == StoreProbe(tickets=3, open_tickets=2)


async def test_probe_with_a_wrong_key_raises_before_anything_is_saved(
    fake: FakeSellApp, http: httpx.AsyncClient
) -> None:
    client = SellAppClient(http, base_url=fake.url, api_key=SecretStr("sk_wrong"), store="shop")
    with pytest.raises(SellAppAuthError):
        await probe_store(client)
