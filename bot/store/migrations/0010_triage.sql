-- 0010: triage (issue 16). Per guild: the notify role, support hours, SLA and digest.
-- Per ticket: its owner and whom it waits for since when. And every ping the bridge sends
-- (new-ticket alert, owner ping, reminder, digest), keyed so that none is sent twice:
-- the row is committed before the post ('pending') and marked 'sent' after it; a row a
-- crash left pending is looked for in its channel and posted only if it isn't there.
CREATE TABLE IF NOT EXISTS triage_settings (
    guild_id          INTEGER PRIMARY KEY,
    notify_role_id    INTEGER,
    hours_days        TEXT,                       -- e.g. 'mon,tue,wed,thu,fri'; NULL: always
    hours_start       TEXT,                       -- 'HH:MM'
    hours_end         TEXT,
    timezone          TEXT,                       -- IANA name
    sla_minutes       INTEGER CHECK (sla_minutes IS NULL OR sla_minutes >= 1),
    digest_channel_id INTEGER,
    digest_hour       INTEGER CHECK (digest_hour IS NULL OR digest_hour BETWEEN 0 AND 23),
    updated_at        REAL    NOT NULL
);

CREATE TABLE IF NOT EXISTS ticket_triage (
    guild_id      INTEGER NOT NULL,
    ticket_id     INTEGER NOT NULL,
    owner_id      INTEGER,                        -- NULL: unclaimed
    claimed_at    REAL,
    waiting_for   TEXT CHECK (waiting_for IS NULL OR waiting_for IN ('staff', 'customer')),
    waiting_since REAL,
    shown         TEXT,                           -- what the thread shows ('owner|waiting')
    PRIMARY KEY (guild_id, ticket_id),
    FOREIGN KEY (guild_id, ticket_id) REFERENCES tickets (guild_id, ticket_id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS triage_pings (
    guild_id           INTEGER NOT NULL,
    kind               TEXT    NOT NULL CHECK (kind IN ('alert', 'owner', 'reminder', 'digest')),
    subject            TEXT    NOT NULL,          -- alert: ticket; owner: SellApp message;
                                                  -- reminder: ticket:period start:level;
                                                  -- digest: the local date
    state              TEXT    NOT NULL CHECK (state IN ('pending', 'sent')),
    channel_id         INTEGER NOT NULL,          -- where it is posted (a thread, the digest's channel)
    content            TEXT    NOT NULL,          -- what it says: found again after a crash
    ping_user          INTEGER,                   -- the one user it may ping
    ping_role          INTEGER,                   -- the one role it may ping
    discord_message_id INTEGER,
    created_at         REAL    NOT NULL,
    sent_at            REAL,
    PRIMARY KEY (guild_id, kind, subject)
);
