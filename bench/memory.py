"""Peak RSS of the real process with ``tickets`` tracked tickets, next to the same process
with none.

The database is seeded before start through :class:`bot.store.Store` (every ticket
recorded as SellApp lists it, 1% open, each mapped to a thread), and the fake SellApp
lists the same tickets, so the bot's cycles are idle cycles over all of them. After
``cycles`` polls, ``VmHWM`` of ``/proc/<pid>/status`` is the peak resident set.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import bot_process, fakes, scratch_folder, wait_until
from bot.sellapp.models import Ticket
from bot.store import Store
from tests.e2e.harness import STORE


async def seed(
    path: Path, guild_id: int, listed: list[dict[str, object]], threads: list[int]
) -> None:
    async with await Store.open(path) as store:
        for item, thread_id in zip(listed, threads, strict=True):
            ticket = Ticket.model_validate(item)
            await store.tickets.record(
                guild_id,
                ticket.id,
                status=ticket.status.value,
                title=ticket.title,
                sellapp_updated_at=ticket.updated_at.isoformat(),
                now=0.0,
            )
            await store.tickets.set_thread(guild_id, ticket.id, thread_id, now=0.0)


async def peak_kib(*, tickets: int, cycles: int = 3) -> int:
    """VmHWM in KiB after ``cycles`` polls with ``tickets`` tracked tickets."""
    with tempfile.TemporaryDirectory(dir=scratch_folder()) as folder:
        async with fakes(Path(folder)) as (world, discord, sellapp):
            listed = []
            threads = []
            for n in range(tickets):
                is_open = n % 100 == 0
                listed.append(
                    sellapp.add_ticket(STORE, title=f"t{n}", status="OPEN" if is_open else "CLOSED")
                )
                name = f"#{listed[-1]['id']} · t{n}"
                thread = discord.add_thread(world.forum_channel, name, archived=not is_open)
                threads.append(thread.id)
            env = world.env(POLL_INTERVAL_SECONDS="1")
            await seed(Path(env["DATABASE_PATH"]), world.guild.id, listed, threads)
            async with bot_process(world, **{"POLL_INTERVAL_SECONDS": "1"}) as bot:
                await wait_until(
                    lambda: sum(len(r) for r in bot.polls().values()) >= cycles,
                    60 + tickets / 100,
                    f"{cycles} polls",
                    step=0.1,
                )
                assert not discord.marker_times, "a seeded cycle was not idle"
                return bot.vm_hwm_kib()
