-- 0008: reply tools (issue 17): snippets, signatures, and what stats need.
-- A guild's saved replies, by name (names are unique per guild, compared as typed).
CREATE TABLE IF NOT EXISTS snippets (
    guild_id    INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    updated_by  INTEGER NOT NULL,
    created_at  REAL    NOT NULL,
    updated_at  REAL    NOT NULL,
    PRIMARY KEY (guild_id, name)
);
-- A guild's reply signature; no row: off (replies go out in the store's voice).
CREATE TABLE IF NOT EXISTS signatures (
    guild_id    INTEGER PRIMARY KEY,
    template    TEXT    NOT NULL,
    updated_at  REAL    NOT NULL
);
-- The filled-in signature appended to this entry's content at enqueue time (NULL: none),
-- so the thread can show it and a retry sends the identical body.
ALTER TABLE outbox ADD COLUMN signature TEXT;
