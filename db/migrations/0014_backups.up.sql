-- Backups (issue: snapshots, backups and restore). A target is where a
-- restic repository lives (a folder, or a folder on an SFTP server); its password is the
-- panel's, generated when the target is made. A backup is one restic
-- snapshot of one container, with what it was recorded beside it. Backups
-- outlive their container (no foreign key on ct_id): the owner column
-- keeps them the customer's.
CREATE TABLE backup_targets (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    kind          text NOT NULL CHECK (kind IN ('dir', 'sftp')),
    path          text NOT NULL,
    -- SFTP: the server, the login and its private key, and the server's
    -- host key (the known_hosts line; nothing else is trusted).
    host          text NOT NULL DEFAULT '',
    port          integer NOT NULL DEFAULT 22 CHECK (port BETWEEN 1 AND 65535),
    username      text NOT NULL DEFAULT '',
    private_key   text NOT NULL DEFAULT '',
    host_key      text NOT NULL DEFAULT '',
    repo_password text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE backups (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    ct_id       integer NOT NULL,
    owner_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    target_id   bigint NOT NULL REFERENCES backup_targets (id) ON DELETE RESTRICT,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
    -- A snapshot is a named backup kept on this host, for a quick undo.
    kind        text NOT NULL DEFAULT 'backup' CHECK (kind IN ('backup', 'snapshot')),
    name        text,
    snapshot_id text NOT NULL DEFAULT '',
    -- Where the root filesystem was on the host (its path in the snapshot).
    source_path text NOT NULL DEFAULT '',
    -- The container as it was: template, hostname, limits, plan, addresses.
    manifest    jsonb NOT NULL DEFAULT '{}',
    size_bytes  bigint,
    added_bytes bigint,
    freeze_ms   integer,
    error       text NOT NULL DEFAULT '',
    -- While it runs: how far restic is (0 to 100) and what it has read.
    progress    real NOT NULL DEFAULT 0,
    bytes_done  bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX backups_ct_idx ON backups (ct_id, created_at DESC);
CREATE INDEX backups_owner_idx ON backups (owner_id);
CREATE UNIQUE INDEX backups_snapshot_name ON backups (ct_id, name) WHERE kind = 'snapshot';

-- A protected backup is never removed by retention or rotation.
ALTER TABLE backups ADD COLUMN protected boolean NOT NULL DEFAULT false;

-- A plan's backups: how many a container keeps at most, what happens
-- when it is full (refuse a new one, or rotate the oldest out), and the
-- retention applied after each backup (keep-last/hourly/daily/weekly/
-- monthly/yearly, as restic and Proxmox apply them).
ALTER TABLE plans ADD COLUMN backup_policy jsonb NOT NULL DEFAULT '{}';

-- A container's backup schedule: daily at minute_of_day (host time), to
-- a target. next_run_at is when it is due; a panel that was down runs a
-- missed one once, then moves on to the next day's.
CREATE TABLE backup_schedules (
    ct_id         integer PRIMARY KEY REFERENCES containers (ct_id) ON DELETE CASCADE,
    target_id     bigint NOT NULL REFERENCES backup_targets (id) ON DELETE RESTRICT,
    minute_of_day integer NOT NULL CHECK (minute_of_day BETWEEN 0 AND 1439),
    next_run_at   timestamptz NOT NULL,
    last_run_at   timestamptz,
    last_backup   uuid,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX backup_schedules_due_idx ON backup_schedules (next_run_at);
