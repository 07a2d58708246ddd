"""/snippet and /reply on SimCord: staff only, the form, autocomplete, the preview and
Send into the real outbox (delivered by the real engine to FakeSellApp)."""

from __future__ import annotations

from tests.sim import STORE, Sim, said

NOT_STAFF = "Only staff can use snippets (ask an admin: /sellapp staff add)."


async def add_snippet(sim: Sim, name: str, text: str) -> None:
    shown = await sim.agent.slash(sim.lobby, "snippet add", name=name)
    assert shown.modal is not None
    done = await sim.agent.submit_modal(shown, {"text": text})
    assert said(done) == [
        f"Snippet `{name}` added. Send it in a ticket thread with /reply snippet:."
    ]


async def open_thread(sim: Sim, **ticket: object) -> tuple[int, object]:
    made = sim.sellapp.add_ticket(STORE, messages=["Where is my order?"], **ticket)
    await sim.agent.slash(sim.lobby, "ticket open", ticket_id=made["id"])
    return made["id"], sim.thread_named(f"#{made['id']} · ")


async def test_snippets_are_refused_to_a_member_without_a_staff_role(sim: Sim) -> None:
    await sim.link()
    result = await sim.stranger.slash(sim.lobby, "snippet add", name="refund")
    assert result.modal is None
    assert said(result) == [NOT_STAFF]
    assert await sim.store.replytools.snippets(sim.guild.id) == []


async def test_snippet_add_then_list_edit_and_remove(sim: Sim) -> None:
    await sim.link()
    await add_snippet(sim, "refund", "Hi {customer.email},\nyour refund is on its way.")

    listed = await sim.agent.slash(sim.lobby, "snippet list")
    [text] = said(listed)
    assert "`refund`" in text and "refund is on its way" in text

    shown = await sim.agent.slash(sim.lobby, "snippet edit", name="refund")
    assert shown.modal is not None
    await sim.agent.submit_modal(shown, {"text": "Refund sent, {customer.email}."})
    saved = await sim.store.replytools.snippet(sim.guild.id, "refund")
    assert saved is not None and saved.body == "Refund sent, {customer.email}."

    again = await sim.agent.slash(sim.lobby, "snippet add", name="refund")
    assert again.modal is None
    assert said(again) == ["There is a snippet `refund` already: /snippet edit."]

    gone = await sim.agent.slash(sim.lobby, "snippet remove", name="refund")
    assert said(gone) == ["Snippet `refund` removed."]
    assert await sim.store.replytools.snippets(sim.guild.id) == []


async def test_an_empty_snippet_is_refused_and_nothing_is_saved(sim: Sim) -> None:
    await sim.link()
    shown = await sim.agent.slash(sim.lobby, "snippet add", name="blank")
    done = await sim.agent.submit_modal(shown, {"text": "   \n  "})
    assert said(done) == ["A snippet needs some text. Nothing was saved."]
    assert await sim.store.replytools.snippets(sim.guild.id) == []


async def test_reply_autocompletes_names_previews_and_sends_once_through_the_outbox(
    sim: Sim,
) -> None:
    await sim.link()
    await add_snippet(sim, "refund", "Hi {customer.email}, refund for ticket {ticket.id}.")
    await add_snippet(sim, "shipping", "It shipped.")
    ticket_id, thread = await open_thread(sim, email="ann@example.com")

    choices = await sim.agent.autocomplete(thread, "reply", "snippet", "ref")
    assert [c["value"] for c in choices] == ["refund"]

    shown = await sim.agent.slash(thread, "reply", snippet="refund")
    assert shown.ephemeral
    preview = shown.response
    assert preview is not None
    assert "ann\\@example.com" in preview.content  # escaped: never a mention
    assert f"ticket {ticket_id}" in preview.content

    assert preview.components != []
    sent = await sim.agent.click(preview.message, label="Send")
    [post] = [m for m in thread.history() if "Reply from" in m.content]
    assert f"<@{sim.agent.id}>" in post.content
    entry = await sim.store.outbox.by_discord_message(post.id)
    assert entry is not None and entry.author_id == sim.agent.id
    assert entry.content == f"Hi ann@example.com, refund for ticket {ticket_id}."
    assert any("Posted snippet `refund`" in t for t in said(sent))

    await sim.outbound.engine.deliver_due()
    await sim.outbound.engine.flush_feedback()
    replies = [
        m["content"] for m in sim.sellapp.messages(STORE, ticket_id) if m["author"] == "STORE"
    ]
    assert replies == [entry.content]
    [shown_post] = [m for m in thread.history() if m.id == post.id]
    assert [str(r.emoji) for r in shown_post.reactions] == ["✅"]

    # The preview lost its button: it can't be sent a second time.
    after = shown.response
    assert after is not None and after.components == []
    assert len([m for m in thread.history() if "Reply from" in m.content]) == 1


async def test_reply_with_an_unknown_variable_shows_it_and_cannot_be_sent(sim: Sim) -> None:
    await sim.link()
    await add_snippet(sim, "typo", "Hi {custmer.email}")
    _, thread = await open_thread(sim)

    shown = await sim.agent.slash(thread, "reply", snippet="typo")
    preview = shown.response
    assert preview is not None
    assert "Unknown variable(s): `{custmer.email}`" in preview.content
    [button] = [
        c for row in preview.components for c in row.get("components", []) if c.get("label")
    ]
    assert button["label"] == "Send" and button.get("disabled") is True
    assert await sim.store.outbox.in_state("queued") == []


async def test_product_names_the_products_of_the_tickets_order(sim: Sim) -> None:
    """{product} always came out with no value, so a snippet naming it could never be
    sent: it now reads the ticket's order at SellApp."""
    await sim.link()
    await add_snippet(sim, "which", "About your {product}.")
    order = sim.sellapp.add_order(
        STORE, items=[("Game key", "Steam", 1, 1999), ("DLC", None, 1, 500)]
    )
    _, thread = await open_thread(sim, reference=order.id)

    shown = await sim.agent.slash(thread, "reply", snippet="which")
    preview = shown.response
    assert preview is not None
    assert "About your Game key \\(Steam\\), DLC." in preview.content  # escaped for Discord
    [button] = [
        c for row in preview.components for c in row.get("components", []) if c.get("label")
    ]
    assert button["label"] == "Send" and not button.get("disabled")


async def test_product_without_an_order_has_no_value_and_cannot_be_sent(sim: Sim) -> None:
    await sim.link()
    await add_snippet(sim, "which", "About your {product}.")
    _, thread = await open_thread(sim)
    shown = await sim.agent.slash(thread, "reply", snippet="which")
    preview = shown.response
    assert preview is not None
    [button] = [
        c for row in preview.components for c in row.get("components", []) if c.get("label")
    ]
    assert button.get("disabled") is True


async def test_reply_outside_a_ticket_thread_says_where_to_use_it(sim: Sim) -> None:
    await sim.link()
    await add_snippet(sim, "refund", "Refund sent.")
    result = await sim.agent.slash(sim.lobby, "reply", snippet="refund")
    assert said(result) == ["This isn't a ticket thread. Use /reply inside a ticket's thread."]


async def test_signature_set_shown_in_status_and_off_again(sim: Sim) -> None:
    await sim.link()
    done = await sim.admin.slash(sim.lobby, "sellapp signature", template="— {staff.name}, {store}")
    [text] = said(done)
    assert text.startswith("On: each relayed reply ends with")
    assert await sim.store.replytools.signature(sim.guild.id) == "— {staff.name}, {store}"

    status = await sim.admin.slash(sim.lobby, "sellapp status")
    assert status.response is not None
    [embed] = status.response.embeds
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Signature"] is not None and fields["Signature"].startswith("On:")

    refused = await sim.admin.slash(sim.lobby, "sellapp signature", template="{customer.email}")
    [why] = said(refused)
    assert "can't use {customer.email}" in why
    assert await sim.store.replytools.signature(sim.guild.id) == "— {staff.name}, {store}"

    off = await sim.admin.slash(sim.lobby, "sellapp signature", template="off")
    assert said(off) == ["Off: replies go out in the store's voice, unsigned."]
    assert await sim.store.replytools.signature(sim.guild.id) is None


async def test_stats_answers_with_a_png_chart_and_the_csv_on_export(sim: Sim) -> None:
    await sim.link()
    await open_thread(sim)

    result = await sim.admin.slash(sim.lobby, "sellapp stats", days=30, export=True)

    assert result.ephemeral
    answer = result.response
    assert answer is not None
    assert answer.content.startswith("**Last 30 days**")
    assert "Tickets: **1** opened, **0** closed" in answer.content
    names = sorted(a.filename for a in answer.attachments)
    assert names == ["stats-30d.csv", "stats-30d.png"]
    png = next(a for a in answer.attachments if a.filename.endswith(".png"))
    assert (await png.read())[:8] == b"\x89PNG\r\n\x1a\n"
    table = await next(a for a in answer.attachments if a.filename.endswith(".csv")).read()
    assert b"tickets,opened,1" in table

    plain = await sim.admin.slash(sim.lobby, "sellapp stats")
    assert plain.response is not None
    assert [a.filename for a in plain.response.attachments] == ["stats-7d.png"]
