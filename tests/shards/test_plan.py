"""Which shard a guild is on, with ids whose shard Discord's formula gives by hand."""

from __future__ import annotations

import pytest

from bot.shards.plan import ShardPlan, shard_of

# A real-looking snowflake: (id >> 22) is its millisecond timestamp since 2015.
GUILD = 81384788765712384  # >> 22 == 19403645698
EVEN = 2 << 22  # (id >> 22) == 2
ODD = (3 << 22) | 12345  # the low 22 bits (worker, process, increment) never matter


def test_shard_of_follows_discords_formula() -> None:
    assert GUILD >> 22 == 19403645698
    assert shard_of(GUILD, 1) == 0
    assert shard_of(GUILD, 2) == 0
    assert shard_of(GUILD, 3) == 19403645698 % 3 == 1
    assert shard_of(GUILD, 16) == 19403645698 % 16 == 2
    assert shard_of(EVEN, 2) == 0
    assert shard_of(ODD, 2) == 1
    assert shard_of(ODD, 4) == 3


def test_shard_of_refuses_no_shards() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        shard_of(GUILD, 0)


def test_a_plan_serves_only_the_guilds_of_its_shards() -> None:
    first = ShardPlan.of(2, [0])
    second = ShardPlan.of(2, [1])
    assert first.serves(EVEN) and not first.serves(ODD)
    assert second.serves(ODD) and not second.serves(EVEN)
    both = ShardPlan.of(2)
    assert both.ids == {0, 1} and both.serves(EVEN) and both.serves(ODD)
    assert ShardPlan.single().serves(EVEN) and ShardPlan.single().serves(ODD)


def test_every_guild_is_served_by_exactly_one_of_the_plans_that_split_the_shards() -> None:
    plans = [ShardPlan.of(3, [0]), ShardPlan.of(3, [1, 2])]
    for guild_id in (GUILD, EVEN, ODD, 1, (7 << 22), (1 << 60) + 5):
        assert sum(p.serves(guild_id) for p in plans) == 1


def test_a_plan_refuses_ids_outside_its_count() -> None:
    with pytest.raises(ValueError, match="0 to 1"):
        ShardPlan.of(2, [2])
    assert ShardPlan.of(4, [3, 1]).describe() == "shards 1, 3 of 4"
    assert ShardPlan.of(2, [1]).describe() == "shard 1 of 2"
