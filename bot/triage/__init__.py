"""Triage: who owns a ticket, who it waits for, and when to nudge (issue 16).

Pure rules (no I/O, no discord): :mod:`~bot.triage.waiting` (the waiting state),
:mod:`~bot.triage.hours` (the support-hours clock), :mod:`~bot.triage.reminders` (when a
reminder is due and whom it pings), :mod:`~bot.triage.queue` (``/ticket list``),
:mod:`~bot.triage.find` (``/ticket find``), :mod:`~bot.triage.digest`,
:mod:`~bot.triage.claims` and :mod:`~bot.triage.settings_words` (what members read),
:mod:`~bot.triage.tags` (the forum tags' names).

Acting: :mod:`~bot.triage.posts` (each ping sent once: its row before the post),
:mod:`~bot.triage.engine` (the loop's pass for one guild, through a port; never imports
discord) and :mod:`~bot.triage.discord_edge` (that port on discord.py: the first
message, the Claim button, the forum tags). The owners, waiting state, settings and ping
rows live in :mod:`bot.store.triage`.
"""
