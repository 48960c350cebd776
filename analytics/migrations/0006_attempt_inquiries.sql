-- 0006: in-doubt episodes settled within an attempt.
--
-- An attempt left in doubt (a timeout after the request was sent) is
-- followed by status inquiries at the same PSP; when one settles it, the
-- attempt is recorded once, with the outcome the inquiry found, and until
-- now nothing in its row said it had been in doubt: the in_doubt query saw
-- only the episodes the inquiries never settled. AttemptRecorded now
-- carries inquiries (status inquiries made) and in_doubt_ms (how long the
-- attempt was in doubt); rows loaded before this migration read 0 for both.
--
-- 18.16 has no ADD COLUMN IF NOT EXISTS; the migration runner skips an
-- "ALTER TABLE db.t ADD COLUMN c ..." statement whose column exists, so the
-- statement stays idempotent on every version (see runStatement).

ALTER TABLE {{.Database}}.attempts ADD COLUMN inquiries UInt32 DEFAULT 0 AFTER finished_at_ms;
ALTER TABLE {{.Database}}.attempts ADD COLUMN in_doubt_ms UInt64 DEFAULT 0 AFTER inquiries
