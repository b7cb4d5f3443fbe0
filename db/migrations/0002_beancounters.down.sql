DROP TABLE alerts;
DROP TABLE bc_snapshot_rows;
DROP TABLE bc_snapshots;
DROP TABLE bc_samples;
DROP TABLE bc_failcnt;
ALTER TABLE containers DROP COLUMN limits;
