"""A database older than Discord, through the real process: restored from a backup, or
lost. A reply the bridge already delivered is never sent again, after a restart or a new
gateway session; a reply typed while the bot was down is still sent, once."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.ops.commands import backup_database
from tests.e2e.checks import replies_at_sellapp
from tests.e2e.conftest import StartBot
from tests.e2e.harness import BotProcess, World
from tests.e2e.test_outbound import open_ticket, wait_reaction


def database(world: World) -> Path:
    return Path(world.env()["DATABASE_PATH"])


def put_in_place(db: Path, backup: Path | None) -> None:
    """What the README tells a host to do: the copy over the file, no -wal or -shm left."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    if backup is not None:
        shutil.copyfile(backup, db)


async def new_session_caught_up(world: World, bot: BotProcess) -> None:
    """Force a new gateway session and wait until its catch-up has read the thread."""
    identified, caught_up = world.discord.identify_count, bot.output.count("caught up on")
    await world.discord.end_session()
    await world.discord.wait_for(
        lambda: world.discord.identify_count > identified or None, timeout=20
    )
    await bot.wait_for_lines(r"caught up on", caught_up + 1)


async def test_restored_backup_sends_no_reply_twice(
    world: World, start_bot: StartBot, tmp_path: Path
) -> None:
    ticket, thread, bot = await open_ticket(world, start_bot)
    first = world.discord.member_says(thread.id, world.staff, "First answer.")
    await wait_reaction(world, first, "✅")
    backup = tmp_path / "backup.sqlite3"
    backup_database(database(world), backup)  # what `sellapp-bridge backup` runs
    second = world.discord.member_says(thread.id, world.staff, "Second answer.")
    third = world.discord.member_says(thread.id, world.staff, "Third answer.")
    for said in (second, third):
        await wait_reaction(world, said, "✅")
    assert await bot.terminate() == 0
    third.reactions.remove("✅")  # as if the bot died before showing it: no sign in Discord

    put_in_place(database(world), backup)
    down = world.discord.member_says(thread.id, world.staff, "Typed while down.")
    bot = await start_bot()
    await wait_reaction(world, down, "✅")
    assert "✅" in third.reactions  # found among SellApp's messages: adopted, not sent
    await new_session_caught_up(world, bot)
    after = world.discord.member_says(thread.id, world.staff, "After the new session.")
    await wait_reaction(world, after, "✅")  # replies go in order: nothing is left before it

    assert replies_at_sellapp(world, ticket["id"]) == [
        "First answer.",
        "Second answer.",
        "Third answer.",
        "Typed while down.",
        "After the new session.",
    ]


async def test_empty_database_sends_no_reply_twice(world: World, start_bot: StartBot) -> None:
    ticket, thread, bot = await open_ticket(world, start_bot)
    said = [world.discord.member_says(thread.id, world.staff, f"answer {i}") for i in range(2)]
    for message in said:
        await wait_reaction(world, message, "✅")
    assert await bot.terminate() == 0

    put_in_place(database(world), None)
    down = world.discord.member_says(thread.id, world.staff, "Typed while down.")
    bot = await start_bot()
    # The poller finds the thread again by name; the thread is then read whole, and the
    # reply typed while down goes out without waiting for a new gateway session.
    await wait_reaction(world, down, "✅")
    await new_session_caught_up(world, bot)
    after = world.discord.member_says(thread.id, world.staff, "After the new session.")
    await wait_reaction(world, after, "✅")

    assert replies_at_sellapp(world, ticket["id"]) == [
        "answer 0",
        "answer 1",
        "Typed while down.",
        "After the new session.",
    ]
    assert len(world.discord.threads_in(world.forum_channel.id)) == 1
