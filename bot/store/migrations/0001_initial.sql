-- 0001: the bridge's first schema.
-- Timestamps are REAL unix seconds; SellApp's own timestamps are kept as the text it sent.
-- Applied by bot.store inside one transaction together with `PRAGMA user_version = 1`.

-- One row per Discord guild linked to a SellApp store.
CREATE TABLE IF NOT EXISTS guild_links (
    guild_id       INTEGER PRIMARY KEY,
    store_slug     TEXT,
    api_key_sealed TEXT,                          -- Fernet token (bot.sealing), never the raw key
    channel_id     INTEGER,
    staff_role_ids TEXT    NOT NULL DEFAULT '[]', -- JSON list of ints
    poll_interval  REAL,                          -- NULL: use the default
    paused         INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    note_prefix    TEXT,
    created_at     REAL    NOT NULL,
    updated_at     REAL    NOT NULL
);

-- Every SellApp ticket we know of. No foreign key to guild_links: unlinking a guild may keep them.
CREATE TABLE IF NOT EXISTS tickets (
    guild_id           INTEGER NOT NULL,
    ticket_id          INTEGER NOT NULL,
    thread_id          INTEGER UNIQUE,            -- NULL: no thread (e.g. closed when first seen)
    status             TEXT    NOT NULL,
    title              TEXT    NOT NULL DEFAULT '',
    sellapp_updated_at TEXT,
    last_message_id    INTEGER NOT NULL DEFAULT 0, -- highest SellApp message id handled
    messages_page      INTEGER NOT NULL DEFAULT 1, -- page holding the first unseen message
    next_check_at      REAL    NOT NULL DEFAULT 0,
    quiet_checks       INTEGER NOT NULL DEFAULT 0, -- checks in a row that found nothing (backoff)
    created_at         REAL    NOT NULL,
    updated_at         REAL    NOT NULL,
    PRIMARY KEY (guild_id, ticket_id)
);
CREATE INDEX IF NOT EXISTS tickets_due ON tickets (guild_id, next_check_at);

-- SellApp message <-> Discord message(s). 'pending' = intent recorded, not yet confirmed posted.
CREATE TABLE IF NOT EXISTS messages (
    guild_id            INTEGER NOT NULL,
    sellapp_message_id  INTEGER NOT NULL,
    ticket_id           INTEGER NOT NULL,
    direction           TEXT    NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    state               TEXT    NOT NULL CHECK (state IN ('pending', 'posted')),
    discord_message_ids TEXT    NOT NULL DEFAULT '[]', -- JSON list: long messages are split
    created_at          REAL    NOT NULL,
    posted_at           REAL,
    PRIMARY KEY (guild_id, sellapp_message_id),
    FOREIGN KEY (guild_id, ticket_id) REFERENCES tickets (guild_id, ticket_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS messages_by_ticket ON messages (guild_id, ticket_id);
CREATE INDEX IF NOT EXISTS messages_pending ON messages (guild_id) WHERE state = 'pending';

-- Staff replies typed in Discord, to deliver to SellApp in order per ticket, exactly once.
CREATE TABLE IF NOT EXISTS outbox (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id           INTEGER NOT NULL,
    ticket_id          INTEGER NOT NULL,
    channel_id         INTEGER NOT NULL,          -- the thread
    discord_message_id INTEGER NOT NULL UNIQUE,   -- never queue the same Discord message twice
    author_id          INTEGER NOT NULL,
    content            TEXT    NOT NULL,
    state              TEXT    NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'sending', 'waiting', 'delivered', 'refused')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT,
    next_attempt_at    REAL    NOT NULL DEFAULT 0,
    sellapp_message_id INTEGER,
    created_at         REAL    NOT NULL,
    sent_at            REAL,                      -- last time a POST may have reached SellApp
    delivered_at       REAL,
    FOREIGN KEY (guild_id, ticket_id) REFERENCES tickets (guild_id, ticket_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS outbox_by_ticket ON outbox (guild_id, ticket_id, id);
CREATE INDEX IF NOT EXISTS outbox_open ON outbox (state, next_attempt_at)
    WHERE state IN ('queued', 'sending', 'waiting');

-- Health of the poller, per guild.
CREATE TABLE IF NOT EXISTS poll_state (
    guild_id             INTEGER PRIMARY KEY,
    last_poll_at         REAL,
    last_success_at      REAL,
    last_error           TEXT,                    -- plain words, safe to show staff
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_response_ms     REAL
);

-- The last Discord message handled per thread (to catch up on replies typed while down).
CREATE TABLE IF NOT EXISTS thread_progress (
    thread_id       INTEGER PRIMARY KEY,
    last_message_id INTEGER NOT NULL
);

-- Small key/value facts (e.g. the health check's heartbeat).
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
