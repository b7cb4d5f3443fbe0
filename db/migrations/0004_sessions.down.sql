DROP INDEX IF EXISTS audit_log_at_idx;
DROP TABLE IF EXISTS sessions;
