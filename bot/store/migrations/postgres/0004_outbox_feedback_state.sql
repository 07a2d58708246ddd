-- 0004 on PostgreSQL: the columns and index of the SQLite 0004. Its data step (moving
-- the relay's old `meta` rows onto the outbox) is left out: those rows predate
-- PostgreSQL support, and a database moved here by `sellapp-bridge migrate-to` was
-- already migrated on SQLite.
ALTER TABLE outbox ADD COLUMN edit_warned_at DOUBLE PRECISION;
ALTER TABLE outbox ADD COLUMN feedback_owed BIGINT NOT NULL DEFAULT 0
    CHECK (feedback_owed IN (0, 1));
CREATE INDEX IF NOT EXISTS outbox_feedback_owed ON outbox (id) WHERE feedback_owed = 1;
