"""The command tree's one error handler (bot/tree.py), seen from Discord.

A known error becomes its plain sentence, ephemeral; anything else is logged with its
traceback under a short reference, and the member gets only that reference.
"""

from __future__ import annotations

import logging
import re

import pytest

from tests.sim import KEY, STORE, Sim, said


async def test_a_known_error_after_deferring_is_its_plain_sentence(sim: Sim) -> None:
    await sim.link()
    ticket = sim.sellapp.add_ticket(STORE)
    await sim.agent.slash(sim.lobby, "ticket open", ticket_id=ticket["id"])
    thread = sim.thread_named(f"#{ticket['id']} · ")
    sim.sellapp.revoke_key(KEY)

    result = await sim.agent.slash(thread, "ticket info")

    assert result.ephemeral
    assert said(result) == [
        "SellApp refused the API key (it may have been revoked or lack access to "
        "this store). An admin can reconnect with /sellapp connect."
    ]


async def test_a_refusal_before_answering_is_one_ephemeral_sentence(sim: Sim) -> None:
    result = await sim.admin.slash(sim.lobby, "sellapp poll")

    assert result.ephemeral
    assert not result.deferred
    assert said(result) == ["Can't poll: no SellApp store is connected."]


async def test_an_unknown_error_is_logged_with_its_traceback_and_the_member_gets_a_reference(
    sim: Sim, caplog: pytest.LogCaptureFixture
) -> None:
    await sim.link()
    # The database goes away under the running bot: not one of our errors.
    await sim.store.close()
    sim.unknown_errors = 1

    with caplog.at_level(logging.ERROR, logger="bot.tree"):
        result = await sim.admin.slash(sim.lobby, "sellapp status")

    assert result.ephemeral
    [text] = said(result)
    found = re.fullmatch(
        r"Something went wrong on our side \(reference ([0-9a-f]{8}); "
        r"the bot's log has details\)\.",
        text,
    )
    assert found, text
    assert "Traceback" not in text
    assert KEY not in text
    [record] = [r for r in caplog.records if r.name == "bot.tree"]
    assert record.getMessage() == f"command failed (reference {found.group(1)})"
    assert record.exc_info is not None
    assert "Traceback" in caplog.text


def test_an_unknown_error_carrying_a_secret_never_puts_it_in_the_reply(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.tree import describe

    with caplog.at_level(logging.ERROR, logger="bot.tree"):
        text = describe(RuntimeError(f"upstream said: bad key {KEY}"))

    assert KEY not in text
    assert text.startswith("Something went wrong on our side (reference ")
    assert caplog.records[0].exc_info is not None
