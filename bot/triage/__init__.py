"""Triage: who owns a ticket, who it waits for, and when to nudge (issue 16).

Pure rules only (no I/O, no discord): :mod:`bot.triage.waiting` (the waiting state),
:mod:`bot.triage.hours` (the support-hours clock), :mod:`bot.triage.reminders` (when a
reminder is due and whom it pings) and :mod:`bot.triage.queue` (the lists' order).
"""
