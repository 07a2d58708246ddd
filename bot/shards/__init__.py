"""Shards and guild claims: which guilds this process works on (issue 18).

- :mod:`bot.shards.plan` (pure): the shard a guild belongs to, and the shards this
  process runs;
- :mod:`bot.shards.guard`: the guild claim engine. A process works on a guild only
  while the guild is on one of its shards *and* it holds the guild's claim
  (:class:`bot.store.claims.GuildClaims`), and only after the guild's after-crash
  recovery ran in this process.

Nothing here imports discord: the bot hands in the shard count and ids it runs.
"""
