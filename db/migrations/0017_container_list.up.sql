-- The container list served page by page: each container's latest
-- resource figures, written by the sampler, so that the list sorts and
-- shows CPU, memory and disk without asking liblxc for every row.
-- cpu_ms is the cpu row's counter (milliseconds of CPU time) at `at`; the
-- next sample's cpu_percent is its growth over the time between them, in
-- percent of one CPU. NULL limits are unlimited; NULL disk figures are a
-- container with no disk of its own.
CREATE TABLE container_stats (
    ct_id            integer PRIMARY KEY REFERENCES containers (ct_id) ON DELETE CASCADE,
    at               timestamptz NOT NULL,
    cpu_ms           bigint NOT NULL DEFAULT 0,
    cpu_percent      real NOT NULL DEFAULT 0,
    nproc            bigint NOT NULL DEFAULT 0,
    mem_bytes        bigint NOT NULL DEFAULT 0,
    mem_limit_bytes  bigint,
    disk_bytes       bigint,
    disk_limit_bytes bigint
);

-- Filters and sorts the list offers.
CREATE INDEX containers_plan_idx ON containers (plan_id);
CREATE INDEX containers_hostname_idx ON containers (hostname, ct_id);
CREATE INDEX containers_created_idx ON containers (created_at, ct_id);

-- Each container's traffic (in + out) this month, kept beside
-- traffic_hourly by the same statement, so that the list sorts by it
-- without summing every hour of the month for every container. A row of
-- an earlier month counts as 0 and restarts at the next fold.
CREATE TABLE traffic_month (
    ct_id integer PRIMARY KEY REFERENCES containers (ct_id) ON DELETE CASCADE,
    month timestamptz NOT NULL,
    bytes bigint NOT NULL DEFAULT 0
);
INSERT INTO traffic_month (ct_id, month, bytes)
SELECT ct_id, date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', sum(in_bytes + out_bytes)
FROM traffic_hourly WHERE hour >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
GROUP BY ct_id;
