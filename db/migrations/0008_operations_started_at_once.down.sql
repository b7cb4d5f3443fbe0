ALTER TABLE operations DROP COLUMN IF EXISTS started_at_once;
