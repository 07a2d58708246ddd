-- 0005: per-ticket problems (an unreadable item, an unknown status, a step Discord or
-- SellApp keeps refusing), so each is logged once, shown in /sellapp status, counted by
-- a metric, and a failing step backs off. See bot.inbound.problems.
CREATE TABLE IF NOT EXISTS ticket_problems (
    guild_id      INTEGER NOT NULL,
    ticket_id     INTEGER NOT NULL,               -- 0: a listed item without a readable id
    kind          TEXT    NOT NULL,
    detail        TEXT    NOT NULL,               -- plain words, safe to show staff
    first_seen_at REAL    NOT NULL,
    last_seen_at  REAL    NOT NULL,
    repeats       INTEGER NOT NULL DEFAULT 0,
    retry_at      REAL    NOT NULL DEFAULT 0,     -- when a failed step is tried again
    PRIMARY KEY (guild_id, ticket_id, kind)
);
