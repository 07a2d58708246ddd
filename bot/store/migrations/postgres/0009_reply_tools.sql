-- 0009 on PostgreSQL: the same tables and columns as the SQLite 0009; its triggers in
-- PL/pgSQL (PostgreSQL 14 or later: CREATE OR REPLACE TRIGGER).
CREATE TABLE IF NOT EXISTS snippets (
    guild_id    BIGINT NOT NULL,
    name        TEXT   NOT NULL,
    body        TEXT   NOT NULL,
    updated_by  BIGINT NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (guild_id, name)
);
CREATE TABLE IF NOT EXISTS signatures (
    guild_id    BIGINT PRIMARY KEY,
    template    TEXT   NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL
);
ALTER TABLE outbox ADD COLUMN signature TEXT;

ALTER TABLE tickets ADD COLUMN opened_at DOUBLE PRECISION;
CREATE TABLE IF NOT EXISTS ticket_events (
    guild_id   BIGINT NOT NULL,
    ticket_id  BIGINT NOT NULL,
    kind       TEXT   NOT NULL CHECK (kind IN ('closed', 'reopened')),
    at         DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS ticket_events_by_guild ON ticket_events (guild_id, at);

-- SQLite's CAST(strftime('%s', stamp) AS REAL): whole unix seconds, NULL if unreadable.
-- A stamp without a zone is UTC, as in SQLite.
CREATE OR REPLACE FUNCTION bridge_unix_seconds(stamp TEXT) RETURNS DOUBLE PRECISION
LANGUAGE plpgsql STABLE SET timezone = 'UTC' AS $$
BEGIN
    RETURN floor(extract(epoch FROM stamp::timestamptz));
EXCEPTION WHEN others THEN
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION bridge_ticket_status_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ticket_events (guild_id, ticket_id, kind, at) VALUES (NEW.guild_id,
        NEW.ticket_id, CASE WHEN upper(NEW.status) = 'CLOSED' THEN 'closed' ELSE 'reopened' END,
        coalesce(bridge_unix_seconds(NEW.sellapp_updated_at), NEW.updated_at));
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION bridge_ticket_forgotten() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM ticket_events WHERE guild_id = OLD.guild_id AND ticket_id = OLD.ticket_id;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER tickets_seen_closed AFTER INSERT ON tickets
FOR EACH ROW WHEN (upper(NEW.status) = 'CLOSED')
EXECUTE FUNCTION bridge_ticket_status_event();

CREATE OR REPLACE TRIGGER tickets_status_moved AFTER UPDATE OF status ON tickets
FOR EACH ROW WHEN ((upper(OLD.status) = 'CLOSED') <> (upper(NEW.status) = 'CLOSED'))
EXECUTE FUNCTION bridge_ticket_status_event();

CREATE OR REPLACE TRIGGER tickets_forgotten AFTER DELETE ON tickets
FOR EACH ROW EXECUTE FUNCTION bridge_ticket_forgotten();
