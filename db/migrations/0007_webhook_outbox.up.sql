-- When the webhook deliveries of a finished operation or of a failcnt
-- alert were recorded (NULL: not yet). Start-up dispatches what a crash
-- left unrecorded, so no event is lost between the two.
ALTER TABLE operations ADD COLUMN events_sent_at timestamptz;
UPDATE operations SET events_sent_at = COALESCE(finished_at, now()) WHERE status IN ('succeeded', 'failed');
CREATE INDEX operations_unsent_idx ON operations (finished_at)
    WHERE events_sent_at IS NULL AND status IN ('succeeded', 'failed');
ALTER TABLE alerts ADD COLUMN events_sent_at timestamptz;
UPDATE alerts SET events_sent_at = at;
CREATE INDEX alerts_unsent_idx ON alerts (at) WHERE events_sent_at IS NULL;
