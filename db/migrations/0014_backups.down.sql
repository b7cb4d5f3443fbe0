DROP TABLE backup_schedules;
ALTER TABLE plans DROP COLUMN backup_policy;
DROP TABLE backups;
DROP TABLE backup_targets;
