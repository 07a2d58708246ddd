"""Reply tools against the real process: a snippet added, autocompleted, previewed and
sent once through the outbox (✅); a signature reaching SellApp; /sellapp stats with its
PNG chart and CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from bot.ops.commands import backup_database
from bot.replies.posts import post_text
from tests.e2e.checks import replies_at_sellapp
from tests.e2e.conftest import StartBot
from tests.e2e.harness import (
    DISCORD_TOKEN,
    SELLAPP_KEY,
    STORE,
    Answer,
    BotProcess,
    World,
    answer,
    assert_no_secrets,
    sub,
)
from tests.e2e.test_outbound import REPLY_PATH, open_ticket, store_replies, wait_reaction
from tests.e2e.test_restore import database, put_in_place
from tests.fakes.discord import Interaction, Message

SNIPPET = "Hi {customer.email}, your refund for ticket {ticket.id} is on its way.\nThanks!"


async def run(world: World, user: object, channel_id: int, name: str, options: Any) -> Answer:
    interaction = world.discord.run_command(world.guild, channel_id, user, name, options)  # type: ignore[arg-type]
    return await answer(world, interaction)


async def add_snippet(world: World, bot: BotProcess, name: str, text: str) -> Answer:
    shown = len([line for line in bot.lines if "snippet form shown" in line])
    options = [{"type": 1, "name": "add", "options": [{"name": "name", "type": 3, "value": name}]}]
    form = await run(world, world.staff, world.text_channel.id, "snippet", options)
    assert form.modal is not None, form
    await bot.wait_for_lines(r"snippet form shown", shown + 1)
    submitted = world.discord.submit_modal(
        world.guild,
        world.text_channel.id,
        world.staff,
        str(form.modal["custom_id"]),
        {"text": text},
    )
    return await answer(world, submitted)


async def choices(world: World, thread_id: int, typed: str) -> list[str]:
    asked = world.discord.autocomplete(
        world.guild,
        thread_id,
        world.staff,
        "reply",
        [{"type": 3, "name": "snippet", "value": typed, "focused": True}],
    )
    await world.discord.wait_for(lambda: asked.responses or None, timeout=20)
    response = asked.responses[0]
    assert response.type == 8
    return [str(c["value"]) for c in response.data["choices"]]


def preview_of(interaction: Interaction) -> Message | None:
    shown = interaction.followups[0] if interaction.followups else interaction.original
    return shown if shown is not None and shown.components else None


def send_button(message: Message) -> dict[str, Any]:
    [button] = [c for row in message.components for c in row["components"] if c["type"] == 2]
    assert button["label"] == "Send"
    return button


async def ask_reply(world: World, thread_id: int, name: str) -> Message:
    """Run /reply snippet:<name> in the thread; the preview it shows."""
    options = [{"type": 3, "name": "snippet", "value": name}]
    asked = world.discord.run_command(world.guild, thread_id, world.staff, "reply", options)
    return await world.discord.wait_for(lambda: preview_of(asked), timeout=20)


async def send_snippet(world: World, thread_id: int, name: str) -> Message:
    """/reply, then Send; the post once it shows ✅."""
    preview = await ask_reply(world, thread_id, name)
    world.discord.click_button(
        world.guild, preview, world.staff, str(send_button(preview)["custom_id"])
    )
    [post] = await world.discord.wait_for(lambda: snippet_posts(world, thread_id) or None, 20)
    await wait_reaction(world, post, "✅")
    return post


def snippet_posts(world: World, thread_id: int) -> list[Message]:
    return [
        m
        for m in world.discord.messages_in(thread_id)
        if m.author.id == world.discord.bot.id and "Reply from" in m.content
    ]


async def test_snippet_added_previewed_with_autocomplete_sent_and_delivered_once(
    world: World, start_bot: StartBot
) -> None:
    ticket, thread, bot = await open_ticket(world, start_bot)
    added = await add_snippet(world, bot, "refund", SNIPPET)
    assert "Snippet `refund` added" in added.text
    await add_snippet(world, bot, "shipping", "It shipped today.")

    assert await choices(world, thread.id, "ref") == ["refund"]
    assert await choices(world, thread.id, "") == ["refund", "shipping"]

    preview = await ask_reply(world, thread.id, "refund")
    assert preview.flags & 64  # only the staff member sees it
    email = "customer@example.com"  # the fake's default customer
    assert email.replace("@", "\\@") in preview.content.replace("\\.", ".")
    button = send_button(preview)
    assert not button.get("disabled")
    assert snippet_posts(world, thread.id) == []  # a preview sends nothing

    world.discord.click_button(world.guild, preview, world.staff, str(button["custom_id"]))
    [post] = await world.discord.wait_for(lambda: snippet_posts(world, thread.id) or None, 20)
    await wait_reaction(world, post, "✅")
    assert f"<@{world.staff.user.id}>" in post.content
    assert post.allowed_mentions == {"parse": []}  # naming the staff member never pings
    expected = SNIPPET.replace("{customer.email}", email).replace("{ticket.id}", str(ticket["id"]))
    assert store_replies(world, ticket) == [expected]
    assert len(world.sellapp.requests_to("POST", REPLY_PATH)) == 1

    # Restarted: the catch-up reads the bot's own post back (✅) and sends nothing again.
    await bot.terminate()
    again = await start_bot()
    await again.wait_for_line(r"poll done")
    polls = len([line for line in again.lines if "poll done" in line])
    await again.wait_for_lines(r"poll done", polls + 2)
    assert len(world.sellapp.requests_to("POST", REPLY_PATH)) == 1
    assert len(snippet_posts(world, thread.id)) == 1
    await again.terminate()
    assert_no_secrets(again.output + bot.output, DISCORD_TOKEN, SELLAPP_KEY, "refund for ticket")


async def test_signature_reaches_sellapp_as_configured(world: World, start_bot: StartBot) -> None:
    ticket, thread, _ = await open_ticket(world, start_bot)
    done = await run(
        world,
        world.admin,
        world.text_channel.id,
        "sellapp",
        sub("signature", template="— {staff.name}, {store} support"),
    )
    assert done.text.startswith("On: each relayed reply ends with")

    said = world.discord.member_says(thread.id, world.staff, "Your key is attached.")
    await wait_reaction(world, said, "✅")

    name = world.staff.nick or world.staff.user.global_name or world.staff.user.username
    assert store_replies(world, ticket) == [f"Your key is attached.\n\n— {name}, {STORE} support"]

    # The thread shows what the customer got: a note under the reply, after its ✅.
    def notes() -> list[Message] | None:
        found = [m for m in world.discord.messages_in(thread.id) if "signature" in m.content]
        return found or None

    [note] = await world.discord.wait_for(notes, timeout=20)
    assert name in note.content and "support" in note.content

    status = await run(world, world.admin, world.text_channel.id, "sellapp", sub("status"))
    assert status.fields["Signature"].startswith("On:")
    assert status.fields["Snippets"] == "0 saved (/snippet list)"


async def test_stats_answers_with_a_png_chart_and_the_csv(
    world: World, start_bot: StartBot
) -> None:
    _, thread, _ = await open_ticket(world, start_bot)
    said = world.discord.member_says(thread.id, world.staff, "Looking into it.")
    await wait_reaction(world, said, "✅")

    asked = world.discord.run_command(
        world.guild,
        world.text_channel.id,
        world.admin,
        "sellapp",
        sub("stats", days=30, export=True),
    )
    shown = await answer(world, asked)
    assert shown.ephemeral
    assert "**Last 30 days**" in shown.text
    assert "Tickets: **1** opened" in shown.text
    assert f"<@{world.staff.user.id}> 1" in shown.text
    message = asked.followups[0] if asked.followups else asked.original
    assert message is not None
    files = {a["filename"]: world.discord.uploads[int(a["id"])] for a in message.attachments}
    assert sorted(files) == ["stats-30d.csv", "stats-30d.png"]
    assert files["stats-30d.png"][:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.reader(io.StringIO(files["stats-30d.csv"].decode())))
    table = {(section, key): value for section, key, value in rows[1:]}
    assert table["tickets", "opened"] == "1"
    assert table["replies_per_staff", str(world.staff.user.id)] == "1"
    assert table["first_response", "count"] == "1"


async def test_snippet_reply_is_not_sent_again_after_a_restore_that_forgot_it(
    world: World, start_bot: StartBot, tmp_path: Path
) -> None:
    """The database is restored to before Send, and the post's ✅ is gone too (the bot died
    before showing it): the catch-up reads the bot's own post back as the staff member's
    reply, finds it at SellApp and adopts it (✅) instead of sending it twice."""
    ticket, thread, bot = await open_ticket(world, start_bot)
    await add_snippet(world, bot, "thanks", "Thanks for waiting, {customer.email}.")
    backup = tmp_path / "backup.sqlite3"
    backup_database(database(world), backup)
    post = await send_snippet(world, thread.id, "thanks")
    assert await bot.terminate() == 0
    post.reactions.remove("✅")

    put_in_place(database(world), backup)
    bot = await start_bot()
    await wait_reaction(world, post, "✅")
    assert replies_at_sellapp(world, ticket["id"]) == ["Thanks for waiting, customer@example.com."]
    assert len(world.sellapp.requests_to("POST", REPLY_PATH)) == 1


async def test_snippet_posted_but_never_queued_is_sent_once_at_start(
    world: World, start_bot: StartBot
) -> None:
    """The bot died right after posting a snippet reply, before queueing it: at the next
    start the catch-up finds the post, looks at SellApp (not there) and sends it once."""
    ticket, thread, bot = await open_ticket(world, start_bot)
    assert await bot.terminate() == 0
    text = post_text(world.staff.user.id, "refund", "Refund *sent* <@1> @everyone")
    post = world.discord.post(thread, world.discord.bot, content=text, dispatch=False)

    await start_bot()
    await wait_reaction(world, post, "✅")
    assert replies_at_sellapp(world, ticket["id"]) == ["Refund *sent* <@1> @everyone"]
    assert len(world.sellapp.requests_to("POST", REPLY_PATH)) == 1
