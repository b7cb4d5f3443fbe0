-- Merged alerts stay merged (their count is lost); rows below a threshold
-- that never became alerts are dropped.
ALTER TABLE plans DROP COLUMN alert_thresholds;
DROP INDEX alerts_unsent_idx;
DROP INDEX alerts_one_open_idx;
DELETE FROM alerts WHERE raised_at IS NULL;
ALTER TABLE alerts
    DROP COLUMN last_seen,
    DROP COLUMN count,
    DROP COLUMN raised_at,
    DROP COLUMN raised_count,
    DROP COLUMN window_start,
    DROP COLUMN window_failures;
CREATE INDEX alerts_unsent_idx ON alerts (at) WHERE events_sent_at IS NULL;
