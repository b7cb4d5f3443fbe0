-- One open alert per container and resource. A failcnt that grows while
-- the pair has an open (unacknowledged) alert updates it: count, last_seen,
-- new_failcnt. at is the alert's first_seen.
--
-- A plan can hold a resource's alerts back until enough failures come
-- within a window (plans.alert_thresholds): the row exists from the first
-- growth (so it carries the count), and raised_at says when it crossed the
-- threshold and became an alert people see and are notified of (NULL: not
-- yet). raised_count is the count it was raised at, so the statement that
-- raises it can tell it did (count = raised_count).
ALTER TABLE alerts
    ADD COLUMN last_seen timestamptz,
    ADD COLUMN count integer NOT NULL DEFAULT 1,
    ADD COLUMN raised_at timestamptz,
    ADD COLUMN raised_count integer,
    ADD COLUMN window_start timestamptz,
    ADD COLUMN window_failures bigint NOT NULL DEFAULT 0;

UPDATE alerts SET last_seen = at, raised_at = at, raised_count = 1, window_start = at,
    window_failures = GREATEST(new_failcnt - old_failcnt, 0);

-- Open duplicates merge into the earliest open row of their pair: it keeps
-- its id (and so whether its webhook went out), spans from the first
-- failcnt to the last, and counts every row merged.
WITH groups AS (
    SELECT ct_id, resource, min(id) AS keep, count(*) AS n, min(old_failcnt) AS old_failcnt,
        max(new_failcnt) AS new_failcnt, min(at) AS first_seen, max(at) AS last_seen
    FROM alerts WHERE acknowledged_at IS NULL
    GROUP BY ct_id, resource HAVING count(*) > 1
), merged AS (
    UPDATE alerts a SET count = g.n, old_failcnt = g.old_failcnt, new_failcnt = g.new_failcnt,
        at = g.first_seen, last_seen = g.last_seen, raised_at = g.first_seen,
        window_failures = g.new_failcnt - g.old_failcnt
    FROM groups g WHERE a.id = g.keep
    RETURNING a.id
)
DELETE FROM alerts a USING groups g
WHERE a.acknowledged_at IS NULL AND a.ct_id = g.ct_id AND a.resource = g.resource AND a.id <> g.keep;

ALTER TABLE alerts
    ALTER COLUMN last_seen SET NOT NULL,
    ALTER COLUMN last_seen SET DEFAULT now(),
    ALTER COLUMN window_start SET NOT NULL,
    ALTER COLUMN window_start SET DEFAULT now();

CREATE UNIQUE INDEX alerts_one_open_idx ON alerts (ct_id, resource) WHERE acknowledged_at IS NULL;

-- The outbox looks only at raised alerts, by when they were raised.
DROP INDEX alerts_unsent_idx;
CREATE INDEX alerts_unsent_idx ON alerts (raised_at) WHERE events_sent_at IS NULL AND raised_at IS NOT NULL;

-- Per resource: {"failures": N, "window_seconds": S} or "none" (see
-- ubc.AlertThresholds); a resource not named alerts on any growth.
ALTER TABLE plans ADD COLUMN alert_thresholds jsonb NOT NULL DEFAULT '{}';
