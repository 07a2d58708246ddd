"""Hand-written fakes for the inbound engine: an in-memory Discord of threads, a store that
can be made to crash, a controllable clock, and the crash injector they share.

A :class:`Crash` is a ``BaseException``: like a SIGKILL, nothing in the engine catches it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.errors import ChannelUnusable, ThreadGone, ThreadUnusable
from bot.inbound.render import Marker, Post, read_marker
from bot.store import Store

When = Literal["before", "after"]


class Crash(BaseException):
    """The process died here. Not an ``Exception``, so nothing catches it on the way out."""


class Clock:
    """A clock that only moves when told to."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Injector:
    """Counts the engine's side-effecting calls (store writes and Discord calls) in one
    sequence and raises :class:`Crash` at a chosen one, before it acts or right after
    (for a post: applied in Discord, but the engine never hears back)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._target: tuple[str | None, int, When] | None = None
        self._seen = 0

    def crash_at(self, n: int, when: When = "before", *, method: str | None = None) -> None:
        """Crash at the ``n``-th call (1-based, counted from now) of ``method`` (any if None)."""
        self._target = (method, n, when)
        self._seen = 0

    def before(self, method: str) -> None:
        self.calls.append(method)
        if self._target is not None and self._target[0] in (None, method):
            self._seen += 1
        self._check(method, "before")

    def after(self, method: str) -> None:
        self._check(method, "after")

    def _check(self, method: str, when: When) -> None:
        if self._target is None:
            return
        name, n, at = self._target
        if name in (None, method) and self._seen == n and at == when:
            self._target = None
            raise Crash(f"crash {when} {method} (call {n} of {name or 'any'})")


def _crashing(injector: Injector, label: str, method: Any) -> Any:
    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        injector.before(label)
        result = await method(*args, **kwargs)
        injector.after(label)
        return result

    return wrapped


# The engine's writes, by table: each goes through the injector under ``store.<table>.<name>``.
CRASHING_WRITES = {
    "tickets": ("record", "set_thread", "reset_thread", "record_check"),
    "messages": ("record_post_intent", "record_posted"),
    "state": ("set_meta",),
}


class CrashingStore(Store):
    """The real SQLite store; every write the engine makes goes through the injector."""

    injector: Injector

    @classmethod
    async def open_with(cls, path: Any, injector: Injector) -> CrashingStore:
        store = await cls.open(path)
        store.injector = injector
        for table_name, methods in CRASHING_WRITES.items():
            table = getattr(store, table_name)
            for name in methods:
                label = f"store.{table_name}.{name}"
                # An instance attribute shadows the method, so calls the table makes to
                # itself (mark_first_link_done -> set_meta) are counted too.
                setattr(table, name, _crashing(injector, label, getattr(table, name)))
        return store


@dataclass
class FakeThread:
    id: int
    channel_id: int
    name: str
    starter: Post
    posts: list[tuple[int, Post]] = field(default_factory=list)
    archived: bool = False
    locked: bool = False
    deleted: bool = False

    def markers(self) -> list[Marker]:
        """Our markers, in the order the thread shows them."""
        found = (read_marker(list(post.embeds)) for _, post in self.posts)
        return [m for m in found if m is not None]


class FakeThreads:
    """An in-memory Discord of threads that implements :class:`bot.inbound.engine.ThreadPort`."""

    def __init__(self, injector: Injector | None = None) -> None:
        self.injector = injector or Injector()
        self.threads: dict[int, FakeThread] = {}
        self.set_closed_calls: list[tuple[int, bool]] = []
        self.unusable: set[int] = set()
        self.refused: set[int] = set()
        self.refused_closing: set[int] = set()
        self.posts_into_locked = 0
        self._ids = itertools.count(5_000)

    # --- test hooks ---

    def delete_thread(self, thread_id: int) -> None:
        self.threads[thread_id].deleted = True

    def make_unusable(self, channel_id: int) -> None:
        self.unusable.add(channel_id)

    def refuse_thread(self, thread_id: int) -> None:
        """The bot may not write in this one thread (its channel is fine)."""
        self.refused.add(thread_id)

    def refuse_closing(self, thread_id: int) -> None:
        """Discord refuses to archive/lock this thread (a host that asks Manage Channels)."""
        self.refused_closing.add(thread_id)

    def archive_for_inactivity(self, thread_id: int) -> None:
        self.threads[thread_id].archived = True

    def live(self, channel_id: int | None = None) -> list[FakeThread]:
        return [
            t
            for t in self.threads.values()
            if not t.deleted and (channel_id is None or t.channel_id == channel_id)
        ]

    def thread_of(self, ticket_id: int) -> FakeThread:
        found = [t for t in self.live() if t.name.startswith(f"#{ticket_id} · ")]
        assert len(found) == 1, f"ticket {ticket_id} has {len(found)} live threads"
        return found[0]

    def has_thread(self, ticket_id: int) -> bool:
        return any(t.name.startswith(f"#{ticket_id} · ") for t in self.live())

    # --- ThreadPort ---

    def _usable(self, channel_id: int) -> None:
        if channel_id in self.unusable:
            raise ChannelUnusable(channel_id, "the bot may not send messages there")

    def _thread(self, thread_id: int) -> FakeThread:
        thread = self.threads.get(thread_id)
        if thread is None or thread.deleted:
            raise ThreadGone(thread_id)
        return thread

    async def find_thread(self, channel_id: int, ticket_id: int) -> int | None:
        self.injector.before("discord.find_thread")
        self._usable(channel_id)
        prefix = f"#{ticket_id} · "
        found = next((t.id for t in self.live(channel_id) if t.name.startswith(prefix)), None)
        self.injector.after("discord.find_thread")
        return found

    async def create_thread(self, channel_id: int, name: str, starter: Post) -> int:
        self.injector.before("discord.create_thread")
        self._usable(channel_id)
        thread = FakeThread(next(self._ids), channel_id, name, starter)
        self.threads[thread.id] = thread
        self.injector.after("discord.create_thread")
        return thread.id

    async def post(self, thread_id: int, post: Post) -> int:
        self.injector.before("discord.post")
        thread = self._thread(thread_id)
        self._usable(thread.channel_id)
        if thread_id in self.refused:
            raise ThreadUnusable(thread_id, "the bot may not write in this ticket's thread")
        if thread.locked:
            self.posts_into_locked += 1
        # Discord unarchives an unlocked thread that gets a message.
        thread.archived = thread.archived and thread.locked
        message_id = next(self._ids)
        thread.posts.append((message_id, post))
        self.injector.after("discord.post")
        return message_id

    async def set_closed(self, thread_id: int, *, closed: bool) -> None:
        self.injector.before("discord.set_closed")
        thread = self._thread(thread_id)
        self.set_closed_calls.append((thread_id, closed))
        if closed and thread_id in self.refused_closing:
            raise ThreadUnusable(
                thread_id, "Discord refused to archive its thread: Missing Permissions"
            )
        thread.archived = thread.locked = closed
        self.injector.after("discord.set_closed")

    async def recent_markers(self, thread_id: int, limit: int) -> dict[tuple[int, int], int]:
        thread = self._thread(thread_id)
        found: dict[tuple[int, int], int] = {}
        for message_id, post in reversed(thread.posts[-limit:]):
            marker = read_marker(list(post.embeds))
            if marker is not None:
                found.setdefault((marker.message_id, marker.part), message_id)
        return found
