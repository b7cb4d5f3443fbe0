DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
DROP TABLE idempotency_keys;
ALTER TABLE containers DROP COLUMN suspended_at, DROP COLUMN suspend_mode, DROP COLUMN suspend_reason;
