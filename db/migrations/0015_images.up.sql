-- Images as first-class objects: an OS template gains what it is
-- (distribution, release, architecture, variant) and where it came from,
-- and keeps several versions of its root file system, each a file of the
-- image store with its sha256. A template without versions is the older
-- single-file kind (an upload under its source name, or liblxc's busybox).
ALTER TABLE os_templates
    ADD COLUMN distribution text NOT NULL DEFAULT '',
    ADD COLUMN release      text NOT NULL DEFAULT '',
    ADD COLUMN arch         text NOT NULL DEFAULT '',
    ADD COLUMN variant      text NOT NULL DEFAULT '',
    ADD COLUMN origin       text NOT NULL DEFAULT 'uploaded'
        CHECK (origin IN ('lxc', 'uploaded', 'built', 'imported'));
UPDATE os_templates SET origin = 'lxc', distribution = 'busybox' WHERE kind = 'lxc';

CREATE TABLE image_versions (
    template   text NOT NULL REFERENCES os_templates (name) ON DELETE CASCADE,
    version    text NOT NULL,
    file       text NOT NULL,
    sha256     text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes bigint NOT NULL,
    origin     text NOT NULL CHECK (origin IN ('uploaded', 'built', 'imported')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template, version)
);

-- Builds and imports of images: staff tasks with progress, run by the
-- panel; one left running by a crash is failed at the next start.
CREATE TABLE image_tasks (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind         text NOT NULL CHECK (kind IN ('build', 'import')),
    template     text NOT NULL,
    params       jsonb NOT NULL DEFAULT '{}',
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    progress     text NOT NULL DEFAULT '',
    error        text NOT NULL DEFAULT '',
    version      text,
    requested_by text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX image_tasks_created_idx ON image_tasks (created_at DESC);

-- The image version a container was made from (NULL: a template without
-- versions), and the guest the panel found in it at first boot: its
-- os-release and the network backend whose files the panel writes ('' for
-- a guest the panel writes no network files into: liblxc configures its
-- interface).
ALTER TABLE containers
    ADD COLUMN image_version text,
    ADD COLUMN guest_os      text NOT NULL DEFAULT '',
    ADD COLUMN guest_network text NOT NULL DEFAULT '';

-- What an operation wants its reader to know beside success or failure
-- (an image of unknown distribution got no network files).
ALTER TABLE operations ADD COLUMN note text NOT NULL DEFAULT '';
