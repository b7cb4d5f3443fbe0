-- Every container runs unprivileged with a block of 65536 host ids of its
-- own (issue: isolation). idmap_base is the block's first host id, unique
-- across the farm, allocated with the row and freed with it. Containers
-- made before stay privileged until staff convert them.
ALTER TABLE containers
    ADD COLUMN idmap_base bigint,
    ADD COLUMN privileged boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT containers_idmap_base_key UNIQUE (idmap_base),
    ADD CONSTRAINT containers_idmap_base_range CHECK (idmap_base IS NULL OR
        (idmap_base >= 65536 AND idmap_base + 65536 <= 4294967295));
UPDATE containers SET privileged = true;
ALTER TABLE containers ADD CONSTRAINT containers_unprivileged_have_idmap
    CHECK (privileged OR idmap_base IS NOT NULL);
