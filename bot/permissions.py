"""What the bot needs in a tickets channel (see README, "Permissions").

One list, read by ``/sellapp channel`` (refuse a channel that lacks any), by
``sellapp-bridge check`` (say which are missing) and by ``invite-url`` (ask for them).
"""

from __future__ import annotations

from typing import Final

import discord

REQUIRED_PERMISSIONS: Final[tuple[tuple[str, str], ...]] = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("send_messages_in_threads", "Send Messages in Threads"),
    ("create_public_threads", "Create Public Threads"),
    ("manage_threads", "Manage Threads"),
    ("embed_links", "Embed Links"),
    ("read_message_history", "Read Message History"),
    ("add_reactions", "Add Reactions"),
)
"""``(discord.Permissions attribute, the name Discord's settings show)``."""


def missing_permissions(perms: discord.Permissions) -> list[str]:
    """The required permissions ``perms`` lacks, by the names Discord shows."""
    return [label for attr, label in REQUIRED_PERMISSIONS if not getattr(perms, attr)]


def required_permissions() -> discord.Permissions:
    """Every required permission, as one value (for the invite link)."""
    return discord.Permissions(**dict.fromkeys((attr for attr, _ in REQUIRED_PERMISSIONS), True))
