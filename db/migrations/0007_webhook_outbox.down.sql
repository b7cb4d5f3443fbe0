DROP INDEX IF EXISTS alerts_unsent_idx;
ALTER TABLE alerts DROP COLUMN IF EXISTS events_sent_at;
DROP INDEX IF EXISTS operations_unsent_idx;
ALTER TABLE operations DROP COLUMN IF EXISTS events_sent_at;
