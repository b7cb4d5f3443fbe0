-- Beancounters: limits on containers, cumulative failcnt, sampled history,
-- failcnt snapshots (ubc_faildiff) and alerts.

ALTER TABLE containers ADD COLUMN limits jsonb NOT NULL DEFAULT '{}';

-- The kernel resets failcnt when a container restarts; base carries what
-- earlier runs counted, so total = base + raw never goes down.
CREATE TABLE bc_failcnt (
    ct_id      integer NOT NULL REFERENCES containers (ct_id) ON DELETE CASCADE,
    resource   text NOT NULL,
    raw        bigint NOT NULL DEFAULT 0,
    base       bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ct_id, resource)
);

-- resolution is 0 for raw samples and the bucket width in seconds for
-- downsampled ones. failcnt is the cumulative total.
CREATE TABLE bc_samples (
    ct_id      integer NOT NULL,
    at         timestamptz NOT NULL,
    resolution integer NOT NULL DEFAULT 0,
    resource   text NOT NULL,
    held       bigint NOT NULL,
    maxheld    bigint NOT NULL,
    barrier    bigint NOT NULL,
    lim        bigint NOT NULL,
    failcnt    bigint NOT NULL
);
CREATE INDEX bc_samples_ct_at_idx ON bc_samples (ct_id, resource, at);
CREATE INDEX bc_samples_at_idx ON bc_samples (resolution, at);

CREATE TABLE bc_snapshots (
    id         bigserial PRIMARY KEY,
    label      text NOT NULL DEFAULT '',
    created_by text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE bc_snapshot_rows (
    snapshot_id bigint NOT NULL REFERENCES bc_snapshots (id) ON DELETE CASCADE,
    ct_id       integer NOT NULL,
    resource    text NOT NULL,
    failcnt     bigint NOT NULL,
    PRIMARY KEY (snapshot_id, ct_id, resource)
);

CREATE TABLE alerts (
    id              bigserial PRIMARY KEY,
    ct_id           integer NOT NULL,
    resource        text NOT NULL,
    old_failcnt     bigint NOT NULL,
    new_failcnt     bigint NOT NULL,
    at              timestamptz NOT NULL DEFAULT now(),
    acknowledged_at timestamptz,
    acknowledged_by text
);
CREATE INDEX alerts_open_idx ON alerts (at) WHERE acknowledged_at IS NULL;
CREATE INDEX alerts_ct_idx ON alerts (ct_id, at);
