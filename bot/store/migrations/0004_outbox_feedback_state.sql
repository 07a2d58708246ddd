-- 0004: the relay's feedback state moves from ad-hoc `meta` rows onto the outbox rows it
-- is about, so it lives exactly as long as the reply (deleted with it, e.g. when a
-- guild's tickets are forgotten). Before: `relay.edit_warned.<discord message id>` rows
-- that were never deleted, and one JSON list `relay.feedback_owed` of outbox ids.

-- When the staff member was told (once) that editing/deleting a relayed message changes
-- nothing for the customer. NULL: not told yet.
ALTER TABLE outbox ADD COLUMN edit_warned_at REAL;
-- 1 from just before the final state (delivered/refused) is written until its reaction
-- was shown; a crash in between shows it at the next start.
ALTER TABLE outbox ADD COLUMN feedback_owed INTEGER NOT NULL DEFAULT 0
    CHECK (feedback_owed IN (0, 1));
CREATE INDEX IF NOT EXISTS outbox_feedback_owed ON outbox (id) WHERE feedback_owed = 1;

-- Carry over what the old rows said (the time of a warning was not kept: 0), then drop them.
UPDATE outbox SET edit_warned_at = 0 WHERE discord_message_id IN (
    SELECT CAST(substr(key, length('relay.edit_warned.') + 1) AS INTEGER)
    FROM meta WHERE key LIKE 'relay.edit\_warned.%' ESCAPE '\'
);
DELETE FROM meta WHERE key LIKE 'relay.edit\_warned.%' ESCAPE '\';
UPDATE outbox SET feedback_owed = 1 WHERE id IN (
    SELECT value FROM json_each((
        SELECT CASE WHEN json_valid(value) THEN value ELSE '[]' END
        FROM meta WHERE key = 'relay.feedback_owed'
    ))
);
DELETE FROM meta WHERE key = 'relay.feedback_owed';
