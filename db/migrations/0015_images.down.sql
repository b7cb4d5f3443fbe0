ALTER TABLE operations DROP COLUMN note;
ALTER TABLE containers DROP COLUMN image_version, DROP COLUMN guest_os, DROP COLUMN guest_network;
DROP TABLE image_tasks;
DROP TABLE image_versions;
ALTER TABLE os_templates DROP COLUMN distribution, DROP COLUMN release, DROP COLUMN arch,
    DROP COLUMN variant, DROP COLUMN origin;
