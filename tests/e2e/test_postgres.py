"""The real process on PostgreSQL (DATABASE_URL): it says which database it uses (the
password masked), relays both ways, and a restart — kill -9 included — doubles nothing."""

from __future__ import annotations

from tests.e2e.conftest import StartBot
from tests.e2e.harness import (
    DISCORD_TOKEN,
    SELLAPP_KEY,
    STORE,
    World,
    assert_no_secrets,
    posted_ids,
    ticket_thread,
)

PASSWORD = "pg-e2e-SECRET-password"
REPLY_PATH = r"/api/v1/tickets/\d+/messages$"


async def test_the_bridge_runs_on_postgres_and_a_killed_process_doubles_nothing(
    world: World, start_bot: StartBot, postgres_url: str
) -> None:
    url = postgres_url.replace("postgres@", f"postgres:{PASSWORD}@")
    # DATABASE_PATH points at nothing usable: the URL wins, no SQLite file is made.
    env = {"DATABASE_URL": url, "DATABASE_PATH": str(world.tmp / "never" / "x.sqlite3")}
    ticket = world.sellapp.add_ticket(STORE, messages=["Where is my order?", "Still waiting"])
    bot = await start_bot(**env)
    await bot.wait_for_line(r"database: PostgreSQL postgresql://postgres:\*\*\*@127\.0\.0\.1")
    thread = await world.discord.wait_for(
        lambda: ticket_thread(world, world.forum_channel, ticket["id"]), timeout=20
    )
    await world.discord.wait_for(
        lambda: ids if len(ids := posted_ids(world, thread)) >= 2 else None, timeout=20
    )
    said = world.discord.member_says(thread.id, world.staff, "It ships today!")
    await world.discord.wait_for(lambda: "✅" in said.reactions or None, timeout=20)

    assert await bot.kill() != 0  # kill -9, mid-whatever it was doing
    world.sellapp.add_customer_message(STORE, ticket["id"], "Thanks!")
    again = await start_bot(**env)
    await world.discord.wait_for(
        lambda: ids if len(ids := posted_ids(world, thread)) >= 3 else None, timeout=20
    )
    polls = len([line for line in again.lines if "poll done" in line])
    await again.wait_for_lines(r"poll done", polls + 2)

    customer = [
        m["id"] for m in world.sellapp.messages(STORE, ticket["id"]) if m["author"] != "STORE"
    ]
    assert posted_ids(world, thread) == customer  # each customer message once, in order
    assert len(world.sellapp.requests_to("POST", REPLY_PATH)) == 1  # the reply once
    assert not (world.tmp / "never").exists()
    await again.terminate()
    for process in (bot, again):
        assert_no_secrets(process.output, DISCORD_TOKEN, SELLAPP_KEY, PASSWORD)
