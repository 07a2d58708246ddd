-- 0006: replies that must be looked for at SellApp before their first send.
-- A database restored from a backup (or lost) knows less than Discord and SellApp do: a
-- reply read back from a thread's history, or left undelivered across a restart, may
-- already be at SellApp. Such an entry is settled like one whose outcome was unknown.
ALTER TABLE outbox ADD COLUMN look_first INTEGER NOT NULL DEFAULT 0 CHECK (look_first IN (0, 1));
-- When the staff message was typed (Discord's clock); NULL: the same as created_at.
ALTER TABLE outbox ADD COLUMN typed_at REAL;
