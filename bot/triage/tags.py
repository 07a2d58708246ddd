"""The forum tags triage uses. The inbound Discord edge creates them together with *Open*
and *Closed* (one request, when the bot has Manage Channels); the triage edge applies them."""

from __future__ import annotations

CLAIMED_TAG = "Claimed"
AWAITING_STAFF_TAG = "Awaiting staff"
AWAITING_CUSTOMER_TAG = "Awaiting customer"
TRIAGE_TAGS = (CLAIMED_TAG, AWAITING_STAFF_TAG, AWAITING_CUSTOMER_TAG)
