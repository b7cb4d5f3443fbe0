ALTER TABLE backups DROP COLUMN source_id_base;
