-- 0008: orders. Who may act on orders, the order card of each ticket thread, and every
-- action staff take on an order (resend, replace, refund), each exactly once at SellApp.

-- Roles whose members may act on orders (besides Manage Server), per guild.
CREATE TABLE IF NOT EXISTS order_roles (
    guild_id INTEGER NOT NULL,
    role_id  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, role_id)
);

-- The order card of a ticket's thread: which Discord message shows which order.
CREATE TABLE IF NOT EXISTS order_cards (
    guild_id    INTEGER NOT NULL,
    ticket_id   INTEGER NOT NULL,
    order_id    TEXT    NOT NULL,
    thread_id   INTEGER NOT NULL,
    message_id  INTEGER,                       -- NULL: intent recorded, not yet posted
    last_status TEXT,                          -- the order's status when last read
    updated_at  REAL    NOT NULL,
    PRIMARY KEY (guild_id, ticket_id)
);

-- One row per order action. The idempotency key and the exact body are committed BEFORE the
-- request, and a retry (timeout, 5xx, 409, a restart) sends the same key with the same body.
-- proposed: waiting for a staff member to confirm; sending: the request may have reached
-- SellApp (retry with the same key until it answers); done / refused: SellApp's final answer;
-- cancelled: never confirmed.
CREATE TABLE IF NOT EXISTS order_actions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id        INTEGER NOT NULL,
    ticket_id       INTEGER NOT NULL,
    thread_id       INTEGER NOT NULL,
    order_id        TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('resend', 'replace', 'refund')),
    route           TEXT    NOT NULL,          -- fulfillment-retries, replacements, ...
    body            TEXT    NOT NULL,          -- the exact JSON body, sent again on a retry
    idempotency_key TEXT    NOT NULL UNIQUE,
    summary         TEXT    NOT NULL,          -- e.g. "a refund of 5.00 EUR"
    actor_id        INTEGER NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'proposed'
        CHECK (state IN ('proposed', 'sending', 'done', 'refused', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL    NOT NULL DEFAULT 0,
    last_error      TEXT,
    outcome         TEXT,                      -- SellApp's answer, in words
    audit_message_id INTEGER,                  -- the public line in the thread
    created_at      REAL    NOT NULL,
    sent_at         REAL,
    finished_at     REAL
);
-- Two staff confirming at once, or a double click: one action of a kind per order in flight.
CREATE UNIQUE INDEX IF NOT EXISTS order_actions_one_in_flight
    ON order_actions (guild_id, order_id, kind) WHERE state = 'sending';
CREATE INDEX IF NOT EXISTS order_actions_by_ticket ON order_actions (guild_id, ticket_id, id);
