"""The order card's buttons and forms: what staff click and fill in, nothing more.

Fixed custom ids (``orders:resend`` ...) so that :class:`cogs.orders.Orders` can route a
click from the id alone, also after a restart. The forms hand what was typed to
``Proposer.propose``; every check of who may act happens there, at run time.
"""

from __future__ import annotations

from typing import Protocol

import discord

from bot.orders.engine import format_money
from bot.sellapp.orders import Order
from bot.tree import reply_error

PREFIX = "orders:"


class Proposer(Protocol):
    async def propose(
        self, interaction: discord.Interaction, kind: str, text: str | None
    ) -> None: ...


def may_act(interaction: discord.Interaction, roles: set[int]) -> bool:
    """An orders role of this guild, or Manage Server."""
    if interaction.permissions.manage_guild or interaction.permissions.administrator:
        return True
    member = interaction.user
    if not isinstance(member, discord.Member):
        return False
    return any(role.id in roles for role in member.roles)


def card_buttons() -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for label, key, style in (
        ("Resend delivery", "resend", discord.ButtonStyle.primary),
        ("Replace…", "replace", discord.ButtonStyle.secondary),
        ("Refund…", "refund", discord.ButtonStyle.danger),
    ):
        view.add_item(discord.ui.Button(label=label, custom_id=PREFIX + key, style=style))
    return view


def confirm_buttons(action_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(
        discord.ui.Button(
            label="Confirm",
            custom_id=f"{PREFIX}confirm:{action_id}",
            style=discord.ButtonStyle.danger,
        )
    )
    view.add_item(
        discord.ui.Button(
            label="Cancel",
            custom_id=f"{PREFIX}cancel:{action_id}",
            style=discord.ButtonStyle.secondary,
        )
    )
    return view


class AmountModal(discord.ui.Modal):
    def __init__(self, cog: Proposer, order: Order) -> None:
        super().__init__(title=f"Refund order #{order.id}"[:45], custom_id=f"{PREFIX}refund-form")
        remaining = format_money(order.totals.remaining_cents, order.totals.currency)
        self.cog = cog
        self.amount: discord.ui.TextInput[AmountModal] = discord.ui.TextInput(
            label=f"Amount in {order.totals.currency} (remaining {remaining})"[:45],
            custom_id="amount",
            placeholder=f"blank: the full remaining balance, {remaining}"[:100],
            required=False,
            max_length=20,
        )
        self.add_item(self.amount)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.cog.propose(interaction, "refund", self.amount.value)

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception
    ) -> None:
        await reply_error(interaction, error)


class ReplaceModal(discord.ui.Modal):
    def __init__(self, cog: Proposer, order: Order) -> None:
        super().__init__(
            title=f"Replace on order #{order.id}"[:45], custom_id=f"{PREFIX}replace-form"
        )
        self.cog = cog
        lines = ", ".join(
            f"{n}: {item.product_title} ×{item.quantity}"
            for n, item in enumerate(order.line_items, start=1)
        )
        self.items: discord.ui.TextInput[ReplaceModal] = discord.ui.TextInput(
            label="Lines and quantities, e.g. 1, 2x3",
            custom_id="items",
            placeholder=f"blank: every line in full. {lines}"[:100],
            required=False,
            max_length=100,
        )
        self.add_item(self.items)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.cog.propose(interaction, "replace", self.items.value)

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception
    ) -> None:
        await reply_error(interaction, error)
