-- 0009: reply tools (issue 17): snippets, signatures, and what stats need.
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

-- Stats (/sellapp stats): when SellApp says the ticket was opened (its created_at, unix
-- seconds; NULL: recorded before 0008), and every close and reopen the bridge saw, kept
-- by triggers so every writer of tickets.status records them without knowing.
ALTER TABLE tickets ADD COLUMN opened_at REAL;
CREATE TABLE IF NOT EXISTS ticket_events (
    guild_id   INTEGER NOT NULL,
    ticket_id  INTEGER NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('closed', 'reopened')),
    at         REAL    NOT NULL  -- SellApp's updated_at (whole seconds) when it can be read, else ours
);
CREATE INDEX IF NOT EXISTS ticket_events_by_guild ON ticket_events (guild_id, at);
CREATE TRIGGER IF NOT EXISTS tickets_seen_closed AFTER INSERT ON tickets
WHEN upper(NEW.status) = 'CLOSED'
BEGIN
    INSERT INTO ticket_events (guild_id, ticket_id, kind, at) VALUES (NEW.guild_id,
        NEW.ticket_id, 'closed',
        coalesce(CAST(strftime('%s', NEW.sellapp_updated_at) AS REAL), NEW.updated_at));
END;
CREATE TRIGGER IF NOT EXISTS tickets_status_moved AFTER UPDATE OF status ON tickets
WHEN (upper(OLD.status) = 'CLOSED') <> (upper(NEW.status) = 'CLOSED')
BEGIN
    INSERT INTO ticket_events (guild_id, ticket_id, kind, at) VALUES (NEW.guild_id,
        NEW.ticket_id, CASE WHEN upper(NEW.status) = 'CLOSED' THEN 'closed' ELSE 'reopened' END,
        coalesce(CAST(strftime('%s', NEW.sellapp_updated_at) AS REAL), NEW.updated_at));
END;
CREATE TRIGGER IF NOT EXISTS tickets_forgotten AFTER DELETE ON tickets
BEGIN
    DELETE FROM ticket_events WHERE guild_id = OLD.guild_id AND ticket_id = OLD.ticket_id;
END;
