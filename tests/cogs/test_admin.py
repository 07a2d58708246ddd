"""/sellapp on SimCord: who may use it, and what a few of its commands do."""

from __future__ import annotations

import discord

from tests.sim import KEY, STORE, Sim, said

MANAGE_SERVER_ONLY = "Only members with Manage Server can change the bridge's settings."


async def test_sellapp_is_hidden_from_members_without_manage_server(sim: Sim) -> None:
    assert "sellapp status" in sim.admin.available_commands(sim.lobby)
    assert not any(c.startswith("sellapp") for c in sim.agent.available_commands(sim.lobby))
    assert not any(c.startswith("sellapp") for c in sim.stranger.available_commands(sim.lobby))


async def test_sellapp_refuses_a_member_when_a_server_override_exposes_it(sim: Sim) -> None:
    command = next(c for c in await sim.bot.tree.fetch_commands() if c.name == "sellapp")
    sim.guild.set_command_permissions(command, {sim.guild.default_role: True})
    assert "sellapp disconnect" in sim.stranger.available_commands(sim.lobby)
    await sim.link()

    result = await sim.stranger.slash(sim.lobby, "sellapp disconnect", forget_tickets=True)

    assert result.ephemeral
    assert result.response is not None
    assert result.response.content == MANAGE_SERVER_ONLY
    assert await sim.store.links.get(sim.guild.id) is not None  # nothing was disconnected


async def test_connect_form_checks_the_key_and_stores_it_sealed(sim: Sim) -> None:
    shown = await sim.admin.slash(sim.lobby, "sellapp connect")
    assert shown.modal is not None

    done = await sim.admin.submit_modal(shown, {"api_key": f"  {KEY} ", "store": STORE})

    assert done.ephemeral
    [text] = said(done)
    assert text.startswith(f"Connected to SellApp store **{STORE}**: 0 ticket(s), 0 open.")
    assert "Next: choose where tickets go with /sellapp channel." in text
    assert KEY not in text
    row = await sim.store.links.get(sim.guild.id)
    assert row is not None
    assert row.store_slug == STORE
    assert row.api_key_sealed is not None
    assert KEY not in row.api_key_sealed
    assert sim.sealer.open(row.api_key_sealed).get_secret_value() == KEY


async def test_connect_form_with_a_key_sellapp_refuses_saves_nothing(sim: Sim) -> None:
    shown = await sim.admin.slash(sim.lobby, "sellapp connect")
    wrong = "sk_live_not_a_real_key_987654321"

    done = await sim.admin.submit_modal(shown, {"api_key": wrong, "store": STORE})

    replies = said(done)
    assert len(replies) == 1, replies
    assert "SellApp" in replies[0]
    assert wrong not in replies[0]
    assert await sim.store.links.get(sim.guild.id) is None


async def test_connect_form_with_spaces_in_the_key_says_so(sim: Sim) -> None:
    shown = await sim.admin.slash(sim.lobby, "sellapp connect")

    done = await sim.admin.submit_modal(shown, {"api_key": "two words", "store": ""})

    assert done.ephemeral
    assert done.response is not None
    assert done.response.content == (
        "That API key can't be right: it is empty or has spaces in it."
    )
    assert await sim.store.links.get(sim.guild.id) is None


# ConnectModal.interaction_check (another admin submitting the form) has no test here:
# SimCord, like the Discord client, only lets the member a form was shown to submit it.


async def test_channel_names_the_permissions_the_bot_is_missing(sim: Sim) -> None:
    bot_member = sim.guild.me
    assert bot_member is not None
    closed = sim.guild.create_text_channel(
        "closed",
        overwrites={
            bot_member: discord.PermissionOverwrite(add_reactions=False, embed_links=False)
        },
    )

    result = await sim.admin.slash(sim.lobby, "sellapp channel", channel=closed)

    assert result.response is not None
    assert result.response.content == (
        f"The bot is missing these permissions in {closed.mention}: Embed Links, "
        "Add Reactions. Grant them and run this again; nothing was changed."
    )
    assert await sim.store.links.get(sim.guild.id) is None


async def test_channel_saves_the_forum_and_warns_when_everyone_sees_it(sim: Sim) -> None:
    result = await sim.admin.slash(sim.lobby, "sellapp channel", channel=sim.forum)

    assert result.response is not None
    assert result.response.content.startswith(f"Tickets will get threads in {sim.forum.mention}.")
    assert "Everyone in this server can see that channel" in result.response.content
    row = await sim.store.links.get(sim.guild.id)
    assert row is not None
    assert row.channel_id == sim.forum.id


async def test_staff_add_then_list_shows_the_role(sim: Sim) -> None:
    added = await sim.admin.slash(sim.lobby, "sellapp staff add", role=sim.staff_role)
    listed = await sim.admin.slash(sim.lobby, "sellapp staff list")

    assert added.response is not None
    assert added.response.content == f"{sim.staff_role.mention} can now answer tickets."
    assert listed.response is not None
    assert listed.response.content == (
        f"Staff roles: {sim.staff_role.mention}. Members with Manage Server can always answer."
    )


async def test_staff_add_refuses_everyone(sim: Sim) -> None:
    result = await sim.admin.slash(sim.lobby, "sellapp staff add", role=sim.guild.default_role)

    assert result.response is not None
    assert result.response.content == "Pick a role of this server other than @everyone."


async def test_status_of_an_unlinked_server_points_at_connect(sim: Sim) -> None:
    result = await sim.admin.slash(sim.lobby, "sellapp status")

    assert result.ephemeral
    assert result.response is not None
    assert result.response.content == (
        "This server isn't linked to a SellApp store yet. Start with /sellapp connect."
    )
