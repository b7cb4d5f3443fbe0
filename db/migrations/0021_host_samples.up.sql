-- The host's figures over time for the farm overview's charts: one row a
-- minute (CPU in percent of all CPUs over that minute, load, memory and
-- the disk holding the containers), kept as long as beancounter history.
CREATE TABLE host_samples (
    at          timestamptz PRIMARY KEY,
    cpu_percent real NOT NULL,
    load1       real NOT NULL,
    mem_used    bigint NOT NULL,
    mem_total   bigint NOT NULL,
    disk_used   bigint NOT NULL,
    disk_size   bigint NOT NULL
);
