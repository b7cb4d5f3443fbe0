-- The host id that owns a backed-up tree's root files: 0 when the files
-- carry the owners the container sees (a directory rootfs), the
-- container's first host id when they were read from its own disk,
-- where they are stored shifted. A restore moves them to its target's.
ALTER TABLE backups ADD COLUMN source_id_base bigint NOT NULL DEFAULT 0;
