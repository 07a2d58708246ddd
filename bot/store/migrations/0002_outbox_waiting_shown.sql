-- Whether the bridge has put ⏳ on an outbox entry's Discord message. Set (and committed)
-- before the reaction is added, read when the final outcome is shown: ⏳ is removed only
-- where it was added, also after a restart.
ALTER TABLE outbox ADD COLUMN waiting_shown INTEGER NOT NULL DEFAULT 0;
