"""Nobody who shouldn't can use the bridge, through the real process.

Already proved elsewhere, not repeated: /sellapp refused to a member without Manage
Server for status, pause and staff add (test_commands), a key connected by command is
sealed (test_commands), two guilds can't reach each other's store (test_isolation).
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.checks import parts_expected, parts_shown, replies_at_sellapp
from tests.e2e.conftest import StartBot
from tests.e2e.harness import (
    DISCORD_TOKEN,
    SELLAPP_KEY,
    STORE,
    World,
    answer,
    channel,
    group_sub,
    role,
    sub,
    ticket_thread,
)
from tests.e2e.leaks import SECRET_KEY, assert_nothing_leaked
from tests.e2e.test_commands import connect
from tests.fakes.discord import Member, Message, Perm
from tests.markdown import unescape_markdown

NEW_KEY = "sk_live_security_connect_0123456789SECRET"


def files_holding(folder: Path, *secrets: str) -> list[str]:
    """Files under ``folder`` (the SQLite file, its WAL and journal too) holding a secret."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found.extend(
                f"{path.name} holds secret #{i}"
                for i, s in enumerate(secrets)
                if s.encode() in data
            )
    return found


async def test_non_staff_cannot_get_anything_sent_to_a_customer(
    world: World, start_bot: StartBot
) -> None:
    fake = world.discord
    ticket = world.sellapp.add_ticket(STORE, messages=["help"])
    bot = await start_bot()
    thread = await fake.wait_for(
        lambda: ticket_thread(world, world.forum_channel, ticket["id"]), timeout=20
    )
    outsider = world.customer_like
    other_bot = fake.add_member(world.guild, "another-bot", roles=[world.staff_role], bot=True)
    # A role named like the staff role, and a role with every permission but Manage Server.
    lookalike = fake.add_role(world.guild, "Staff")
    mighty = fake.add_role(world.guild, "Mods", Perm.ALL & ~Perm.MANAGE_GUILD & ~Perm.ADMINISTRATOR)
    impostor = fake.add_member(world.guild, "impostor", roles=[lookalike, mighty])
    tries: list[Message] = [
        fake.member_says(thread.id, outsider, "refund granted, here is a key"),
        fake.member_says(
            thread.id, outsider, "", attachments=[{"filename": "evil.exe", "size": 10}]
        ),
        fake.member_says(thread.id, other_bot, "I am a bot with the staff role"),
        fake.member_says(thread.id, impostor, "I have a role called Staff"),
        fake.post(thread, outsider.user, content="via a webhook", webhook_id=fake.ids.next()),
    ]
    for options in (sub("close"), sub("reopen"), sub("resync")):
        reply = await answer(
            world, fake.run_command(world.guild, thread.id, outsider, "ticket", options)
        )
        assert "Only staff" in reply.text and reply.ephemeral
    await bot.terminate()
    # Typed while the bot was down: the catch-up at start applies the same rule.
    tries.append(fake.member_says(thread.id, outsider, "typed while the bot was down"))
    bot = await start_bot()
    said = fake.member_says(thread.id, world.staff, "the real answer")
    await fake.wait_for(lambda: "✅" in said.reactions or None, timeout=20)
    await bot.wait_for_lines(r"poll done", 2)
    assert replies_at_sellapp(world, ticket["id"]) == ["the real answer"]
    assert world.sellapp.requests_to("PATCH", r".*") == []
    assert all(m.reactions == [] for m in tries)
    await bot.terminate()


async def test_sellapp_commands_refused_without_manage_server_even_when_exposed(
    world: World, start_bot: StartBot
) -> None:
    """The fake delivers every command to everyone, as a server override would."""
    fake = world.discord
    bot = await start_bot()
    member: Member = world.customer_like
    commands = [
        sub("status"),
        sub("pause"),
        sub("resume"),
        sub("poll"),
        sub("interval", seconds=3600),
        sub("notes", prefix="!"),
        sub("channel", channel=channel(world.text_channel.id)),
        sub("disconnect", forget_tickets=True),
        sub("connect"),
        group_sub("staff", "add", role=role(world.guild.id)),
        group_sub("staff", "remove", role=role(world.staff_role.id)),
        group_sub("staff", "list"),
    ]
    for options in commands:
        reply = await answer(
            world, fake.run_command(world.guild, world.text_channel.id, member, "sellapp", options)
        )
        assert reply.modal is None, options
        assert reply.ephemeral and "Only members with Manage Server" in reply.text, options
    # Submitting the connect form without having been shown it changes nothing either.
    world.sellapp.add_account(NEW_KEY, ["attacker-store"])
    fake.submit_modal(
        world.guild,
        world.text_channel.id,
        member,
        "sellapp-connect",
        {"api_key": NEW_KEY, "store": "attacker-store"},
    )
    status = await answer(
        world,
        fake.run_command(world.guild, world.text_channel.id, world.admin, "sellapp", sub("status")),
    )
    assert status.fields["Store"] == STORE
    assert "running" in status.fields["State"]
    assert not any(r.bearer == NEW_KEY for r in world.sellapp.requests)
    # The staff role is still there: staff still answer.
    ticket = world.sellapp.add_ticket(STORE, messages=["still linked?"])
    thread = await fake.wait_for(
        lambda: ticket_thread(world, world.forum_channel, ticket["id"]), timeout=20
    )
    said = fake.member_says(thread.id, world.staff, "yes")
    await fake.wait_for(lambda: "✅" in said.reactions or None, timeout=20)
    assert await bot.terminate() == 0


async def test_keys_are_sealed_and_no_secret_is_in_any_file_or_output(
    world: World, start_bot: StartBot
) -> None:
    world.sellapp.add_account(NEW_KEY, ["second-store"])
    world.sellapp.add_ticket(STORE, messages=["a"])
    bot = await start_bot()
    fake = world.discord
    b = fake.add_guild("Second")
    world_b = World(
        fake,
        world.sellapp,
        b,
        world.staff_role,
        world.staff,
        world.staff,
        fake.add_text_channel(b, "t"),
        world.forum_channel,
        world.tmp,
    )
    assert "second-store" in (await connect(world_b, bot, NEW_KEY, "second-store")).text
    # A wrong key: the error reply names no key.
    bad = await connect(world_b, bot, NEW_KEY[:-3] + "XYZ", "second-store")
    assert "SellApp refused the API key" in bad.text
    assert NEW_KEY[:-3] not in bad.text
    await bot.wait_for_lines(r"poll done", 2)
    # While running (the WAL holds fresh pages) and after a clean stop.
    secrets = (SELLAPP_KEY, NEW_KEY, DISCORD_TOKEN, SECRET_KEY)
    assert files_holding(world.tmp, *secrets) == []
    assert await bot.terminate() == 0
    assert files_holding(world.tmp, *secrets) == []
    assert_nothing_leaked(world, [bot], secrets=(NEW_KEY, NEW_KEY[:-3]))


async def test_customer_cannot_make_the_bot_post_outside_its_thread_or_ping(
    world: World, start_bot: StartBot
) -> None:
    fake = world.discord
    victim = world.sellapp.add_ticket(STORE, title="An honest question", messages=["hi"])
    crafted_titles = [
        f"x\n#{victim['id']} · An honest question",  # a second line that looks like a name
        f"#{victim['id']} · An honest question",
        "\u202e\u200b@everyone <@&1> <#1>" + "\u200f" * 300,
        "",
    ]
    crafted_messages = [
        f"<#{world.text_channel.id}> @everyone @here <@{world.staff.id}> <@&{world.staff_role.id}>",
        "[click](https://e.vil) ```\nSellApp message 1\n``` ||spoiler|| # heading",
        "SellApp message 1 · part 1 of 1",
        "\u200b\u202e\u2066 rtl \u2069" * 50 + "x" * 9_000,
    ]
    attackers = [
        world.sellapp.add_ticket(
            STORE, title=title, email="@everyone\u202e@e.vil", messages=crafted_messages
        )
        for title in crafted_titles
    ]
    bot = await start_bot()
    tickets = [victim, *attackers]
    await fake.wait_for(
        lambda: all(
            (t := ticket_thread(world, world.forum_channel, x["id"])) is not None
            and parts_shown(world, t) == parts_expected(world, x["id"])
            for x in tickets
        ),
        timeout=30,
    )
    threads = fake.threads_in(world.forum_channel.id)
    assert len(threads) == len(tickets)
    own = {x["id"]: ticket_thread(world, world.forum_channel, x["id"]) for x in tickets}
    for ticket_id, thread in own.items():
        assert thread is not None
        assert thread.name.startswith(f"#{ticket_id} · ")
        assert "\n" not in thread.name
    # Where the bot posted: only in the tickets' own threads; never in a channel.
    thread_ids = {t.id for t in own.values() if t is not None}
    for request in fake.requests_to("POST", r"/channels/\d+/messages"):
        assert int(request.path.split("/")[2]) in thread_ids, request.path
    assert fake.messages_in(world.text_channel.id) == []
    # Each message shows as typed, in its own ticket's thread, and pings nobody.
    victim_thread = own[victim["id"]]
    assert victim_thread is not None
    assert parts_shown(world, victim_thread) == parts_expected(world, victim["id"])
    for attacker in attackers:
        thread = own[attacker["id"]]
        assert thread is not None
        texts = [
            unescape_markdown(m.embeds[0]["description"])
            for m in fake.messages_in(thread.id)
            if m.author.id == fake.bot.id
            and m.embeds
            and m.embeds[0].get("footer", {}).get("text", "").startswith("SellApp message")
        ]
        assert "".join(texts) == "".join(crafted_messages)
    for request in fake.requests:
        body = request.json if isinstance(request.json, dict) else {}
        body = body.get("message", body)
        if request.method == "POST" and ("embeds" in body or "content" in body):
            assert body.get("allowed_mentions") == {"parse": []}, request.path
    assert await bot.terminate() == 0
    assert_nothing_leaked(world, [bot])
