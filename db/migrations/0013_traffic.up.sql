-- Rate limits per plan, and traffic accounting (issue: networking).
-- A plan's rates shape each of its containers' traffic, Mbit/s, NULL
-- unshaped.
ALTER TABLE plans
    ADD COLUMN rate_in_mbit integer CHECK (rate_in_mbit IS NULL OR rate_in_mbit > 0),
    ADD COLUMN rate_out_mbit integer CHECK (rate_out_mbit IS NULL OR rate_out_mbit > 0);

-- The last reading of each share's counters that was folded in: the next
-- fold adds what the counters grew since (or all they hold, when the host
-- rebooted or the counter began again). A fold that fails leaves the
-- reading as it was, so the next one counts the same bytes again.
CREATE TABLE traffic_readings (
    ct_id       integer NOT NULL REFERENCES containers (ct_id) ON DELETE CASCADE,
    share       cidr NOT NULL,
    boot_id     text NOT NULL,
    in_bytes    bigint NOT NULL,
    in_packets  bigint NOT NULL,
    out_bytes   bigint NOT NULL,
    out_packets bigint NOT NULL,
    read_at     timestamptz NOT NULL,
    PRIMARY KEY (ct_id, share)
);

-- Each container's traffic per hour, what billing reads.
CREATE TABLE traffic_hourly (
    ct_id       integer NOT NULL REFERENCES containers (ct_id) ON DELETE CASCADE,
    hour        timestamptz NOT NULL,
    in_bytes    bigint NOT NULL DEFAULT 0,
    in_packets  bigint NOT NULL DEFAULT 0,
    out_bytes   bigint NOT NULL DEFAULT 0,
    out_packets bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (ct_id, hour)
);
