"""Which shard a guild belongs to, and which shards this process runs (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ShardPlan", "shard_of"]


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard Discord sends ``guild_id``'s events to: ``(guild_id >> 22) % shard_count``."""
    if shard_count < 1:
        raise ValueError("shard_count must be at least 1")
    return (guild_id >> 22) % shard_count


@dataclass(frozen=True, slots=True)
class ShardPlan:
    """``count`` shards in all, of which this process runs ``ids``."""

    count: int
    ids: frozenset[int]

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("a plan has at least one shard")
        if any(i < 0 or i >= self.count for i in self.ids):
            raise ValueError(f"shard ids must be 0 to {self.count - 1}")

    @classmethod
    def of(cls, count: int, ids: Iterable[int] | None = None) -> ShardPlan:
        """``ids`` None (or empty): every shard."""
        chosen = frozenset(ids) if ids else frozenset(range(count))
        return cls(count, chosen)

    @classmethod
    def single(cls) -> ShardPlan:
        """One shard, run here: every guild is ours (the default before the gateway says)."""
        return cls(1, frozenset({0}))

    def serves(self, guild_id: int) -> bool:
        """Whether ``guild_id`` is on one of this process's shards."""
        return shard_of(guild_id, self.count) in self.ids

    def describe(self) -> str:
        """For logs: "shards 0, 1 of 2"."""
        ids = ", ".join(str(i) for i in sorted(self.ids))
        return f"shard{'s' if len(self.ids) != 1 else ''} {ids} of {self.count}"
