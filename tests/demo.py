"""``make demo``: the bridge at work with no token, against both fakes on loopback.

Starts a fake SellApp and a fake Discord, runs the real bot process against them, plays
a short story and prints what each side saw."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from bot.inbound.render import read_marker
from tests.e2e.harness import DISCORD_TOKEN, STORE, BotProcess, World, build_world, ticket_thread
from tests.fakes.discord import FakeDiscord
from tests.fakes.sellapp import FakeSellApp
from tests.markdown import unescape_markdown


def say(side: str, text: str) -> None:
    print(f"  {side:<9}| {text}", flush=True)


def discord_view(world: World, thread_id: int) -> list[str]:
    lines = []
    for message in world.discord.messages_in(thread_id):
        who = message.author.username
        if message.embeds:
            embed = message.embeds[0]
            marker = read_marker(message.embeds)
            if marker is None:
                text = (
                    f"[{embed.get('title', '')}] {unescape_markdown(embed.get('description', ''))}"
                )
            else:
                author = embed.get("author", {}).get("name", "")
                text = f"{author}: {unescape_markdown(embed.get('description', ''))}"
        else:
            text = message.content
        reactions = " ".join(message.reactions)
        lines.append(f"{who}: {text} {reactions}".rstrip())
    return lines


async def story(tmp: Path) -> int:
    async with FakeDiscord(bot_token=DISCORD_TOKEN) as discord, FakeSellApp() as sellapp:
        world = build_world(discord, sellapp, tmp)

        def shows(thread_id: int, text: str) -> bool | None:
            """Whether a message in the thread shows ``text`` (content or embed)."""
            return (
                any(text in str(m.content) + str(m.embeds) for m in discord.messages_in(thread_id))
                or None
            )

        print("Starting the bot against a fake Discord and a fake SellApp (loopback only)...")
        bot = BotProcess(env=world.env(), cwd=tmp / "cwd")
        await bot.start()
        try:
            await bot.wait_ready()
            print("\n1. A customer opens a ticket on SellApp:")
            order = sellapp.add_order(STORE, status="PAID", email="sam@example.com")
            ticket = sellapp.add_ticket(
                STORE,
                title="Key not received",
                email="sam@example.com",
                reference=order.id,
                messages=[f"Hi! I paid for order {order.id} but got no license key."],
            )
            say("SellApp", f"ticket #{ticket['id']} from sam@example.com: Key not received")
            thread = await discord.wait_for(
                lambda: ticket_thread(world, world.forum_channel, ticket["id"]), timeout=30
            )
            await discord.wait_for(lambda: shows(thread.id, "got no license key"), timeout=30)
            print(f"\n2. The bridge opens a post in #{world.forum_channel.name}: {thread.name}")
            print("\n3. Staff member alice answers in the thread:")
            answer = "Sorry Sam! Your key is ABCD-1234; it's also in your inbox now."
            said = discord.member_says(thread.id, world.staff, answer)
            say("Discord", f"alice: {answer}")
            await discord.wait_for(lambda: "✅" in said.reactions or None, timeout=30)
            print("\n4. Sam replies on SellApp:")
            sellapp.add_customer_message(STORE, ticket["id"], "Got it, thank you!")
            say("SellApp", "sam@example.com: Got it, thank you!")
            await discord.wait_for(lambda: shows(thread.id, "Got it, thank you!"), timeout=30)
            print("\n--- What staff see in Discord ---")
            for line in discord_view(world, thread.id):
                say("Discord", line)
            print("\n--- What the customer sees on SellApp ---")
            for message in sellapp.messages(STORE, ticket["id"]):
                who = "sam" if message["author"] == "CUSTOMER" else "store"
                say("SellApp", f"{who}: {message['content']}")
            code = await bot.terminate()
            print(f"\nThe bot stopped cleanly (exit {code}).")
            return 0
        except Exception:
            print("\nThe demo did not finish; the bot said:\n" + "\n".join(bot.lines[-20:]))
            raise
        finally:
            await bot.close()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bridge-demo-") as tmp:
        return asyncio.run(story(Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
