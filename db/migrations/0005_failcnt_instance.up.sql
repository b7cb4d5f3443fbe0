-- Which instance of a container (its init's start time, in milliseconds
-- since the epoch; 0 when unknown) the stored raw failcnt was read from. A
-- reading of a later instance means the kernel's counters began again; a
-- reading of an earlier one is stale and changes nothing.
ALTER TABLE bc_failcnt ADD COLUMN instance bigint NOT NULL DEFAULT 0;
