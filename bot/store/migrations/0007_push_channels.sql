-- 0007: push (SellApp webhook channels), one row per guild that registered or tried to.
-- `token` is the unguessable path segment of the guild's webhook URL (never logged).
CREATE TABLE IF NOT EXISTS push_channels (
    guild_id       INTEGER PRIMARY KEY,
    token          TEXT    NOT NULL UNIQUE,
    url            TEXT,                         -- the URL registered at SellApp
    channel_id     TEXT,                         -- SellApp's webhook channel uuid; NULL: not registered
    last_error     TEXT,                         -- why registration failed, in plain words
    secret_sealed  TEXT,                         -- the store's signing secret (sealed), if given
    updated_at     REAL    NOT NULL
);
