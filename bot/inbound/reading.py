"""Reading a ticket's new messages from SellApp at the least cost, whatever the order.

The rule (also in :mod:`bot.inbound.engine`): start at the page that held the newest message last
time (``messages_page``), not page 1; if that page starts past the last message handled,
read the previous page too; if a page comes back newest-first (ids descending), walk
from page 1 in that order instead; and if ``meta.total`` counts more messages than were
found plus those already handled, read every page. The result is in ascending id.

A message SellApp sent in a shape the bridge can't read is left out (by the client) and
named in :attr:`Found.problems`; on a page read it counts towards ``meta.total`` like a
found one, so it doesn't make every read of the ticket read every page. One on a page
not read leaves ``meta.total`` short, so that ticket is read whole (and the problem seen
again, not taken for cleared).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.sellapp.models import ItemProblem, Page, TicketMessage
from bot.store.records import Ticket as TicketRecord

MESSAGES_PER_PAGE = 100

ListMessages = Callable[[int, int, int], Awaitable[Page[TicketMessage]]]


@dataclass(slots=True)
class Found:
    messages: list[TicketMessage]
    """New (or still pending) messages, ascending id."""
    page_hint: int
    """The page to start at next time."""
    problems: list[ItemProblem] = field(default_factory=list)
    """Messages on the pages read that could not be read, left out."""


def _is_descending(ids: list[int]) -> bool:
    return len(ids) >= 2 and all(a > b for a, b in itertools.pairwise(ids))


async def read_new_messages(
    list_messages: ListMessages,
    record: TicketRecord,
    *,
    handled: set[int],
    pending: set[int],
) -> Found:
    """Messages past ``record``'s cursor that are not handled yet, or still pending.

    ``handled``: every SellApp message id of the ticket the store knows (posted by us,
    or our own replies); ``pending``: those whose post is not confirmed yet."""
    ticket_id = record.ticket_id
    pages: dict[int, Page[TicketMessage]] = {}

    async def page(number: int) -> Page[TicketMessage]:
        if number not in pages:
            pages[number] = await list_messages(ticket_id, number, MESSAGES_PER_PAGE)
        return pages[number]

    def wanted(m: TicketMessage) -> bool:
        return m.id > record.last_message_id or m.id in pending

    def unhandled(m: TicketMessage) -> bool:
        # Our own replies sit past the cursor without ever being posted by us: handled.
        return m.id not in handled or m.id in pending

    number = max(1, record.messages_page)
    found: dict[int, TicketMessage] = {}
    total: int | None = None
    newest_first = False
    while True:
        current = await page(number)
        total = current.total if current.total is not None else total
        ids = [m.id for m in current.items]
        if _is_descending(ids):
            newest_first = True
            break
        if (
            number > 1
            and (not ids or min(ids) > record.last_message_id)
            and number - 1 not in pages
        ):
            number -= 1  # the first unseen message may sit on an earlier page
            continue
        found.update((m.id, m) for m in current.items if wanted(m))
        if _empty(current) or current.current_page >= current.last_page:
            break
        number = current.current_page + 1
    hint = number
    if newest_first:
        found, hint = await _walk_newest_first(page, wanted), 1
    found = {i: m for i, m in found.items() if unhandled(m)}
    unreadable = _problems(pages)
    counted = len(handled - pending) + len(found) + len(unreadable)
    if not newest_first and total is not None and total > counted:
        # Fewer found than SellApp counts: the order is not what we assumed. Read all.
        found, hint = await _read_all(page, unhandled)
        unreadable = _problems(pages)
    return Found(sorted(found.values(), key=lambda m: m.id), hint, unreadable)


def _empty(page: Page[TicketMessage]) -> bool:
    """No message at all on the page (an unreadable one still counts as one)."""
    return not page.items and not page.problems


def _problems(pages: dict[int, Page[TicketMessage]]) -> list[ItemProblem]:
    unique = {(p.item_id, p.reason): p for n in sorted(pages) for p in pages[n].problems}
    return list(unique.values())


async def _walk_newest_first(
    page: Callable[[int], Awaitable[Page[TicketMessage]]],
    wanted: Callable[[TicketMessage], bool],
) -> dict[int, TicketMessage]:
    found: dict[int, TicketMessage] = {}
    number = 1
    while True:
        current = await page(number)
        items = list(current.items)
        found.update((m.id, m) for m in items if wanted(m))
        if _empty(current) or not all(wanted(m) for m in items):
            break
        if current.current_page >= current.last_page:
            break
        number = current.current_page + 1
    return found


async def _read_all(
    page: Callable[[int], Awaitable[Page[TicketMessage]]],
    keep: Callable[[TicketMessage], bool],
) -> tuple[dict[int, TicketMessage], int]:
    found: dict[int, TicketMessage] = {}
    number = 1
    while True:
        current = await page(number)
        found.update((m.id, m) for m in current.items if keep(m))
        if _empty(current) or current.current_page >= current.last_page:
            return found, number
        number = current.current_page + 1
