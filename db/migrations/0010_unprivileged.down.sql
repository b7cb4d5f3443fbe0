ALTER TABLE containers
    DROP CONSTRAINT containers_unprivileged_have_idmap,
    DROP CONSTRAINT containers_idmap_base_range,
    DROP CONSTRAINT containers_idmap_base_key,
    DROP COLUMN privileged,
    DROP COLUMN idmap_base;
