-- ctpanel's base schema: one node, users and tokens, plans, OS templates,
-- containers, operations and the audit log.

CREATE TABLE nodes (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO nodes (name) VALUES ('local');

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    email         text NOT NULL DEFAULT '',
    full_name     text NOT NULL DEFAULT '',
    role          text NOT NULL CHECK (role IN ('admin', 'staff', 'customer')),
    password_hash text NOT NULL DEFAULT '',
    external_id   text UNIQUE,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('admin', 'staff', 'billing', 'customer')),
    user_id      bigint REFERENCES users (id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (role <> 'customer' OR user_id IS NOT NULL)
);

CREATE TABLE plans (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    limits      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- kind 'lxc' runs a liblxc template script named by source; kind 'tarball'
-- unpacks source (a .tar.gz file name in the template cache dir).
CREATE TABLE os_templates (
    name        text PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('lxc', 'tarball')),
    source      text NOT NULL,
    description text NOT NULL DEFAULT '',
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO os_templates (name, kind, source, description)
VALUES ('busybox', 'lxc', 'busybox', 'BusyBox from the liblxc busybox template');

-- phase is ctpanel's own view of a container's life: creating (its create or
-- clone operation has not finished), ready, deleting (its destroy operation
-- has not finished) or missing (gone from liblxc behind ctpanel's back).
-- The run state comes from liblxc; last_state caches it for reconciliation.
CREATE TABLE containers (
    ct_id        integer PRIMARY KEY CHECK (ct_id >= 101),
    name        text UNIQUE,
    node_id     bigint NOT NULL REFERENCES nodes (id),
    owner_id    bigint REFERENCES users (id) ON DELETE RESTRICT,
    plan_id     bigint REFERENCES plans (id) ON DELETE RESTRICT,
    template    text NOT NULL,
    origin_ctid integer,
    snapshot    boolean NOT NULL DEFAULT false,
    hostname    text NOT NULL DEFAULT '',
    nameservers text[] NOT NULL DEFAULT '{}',
    onboot      boolean NOT NULL DEFAULT false,
    description text NOT NULL DEFAULT '',
    phase       text NOT NULL DEFAULT 'creating'
                CHECK (phase IN ('creating', 'ready', 'deleting', 'missing')),
    last_state  text NOT NULL DEFAULT 'stopped',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX containers_owner_idx ON containers (owner_id);

-- Operations outlive their container (a destroy's record stays), so ct_id is
-- not a foreign key. seq orders the operations on one container.
CREATE TABLE operations (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq          bigserial NOT NULL UNIQUE,
    ct_id         integer NOT NULL,
    action       text NOT NULL,
    params       jsonb NOT NULL DEFAULT '{}',
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
    error        text NOT NULL DEFAULT '',
    requested_by text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz
);
CREATE INDEX operations_ctid_idx ON operations (ct_id, seq);
CREATE INDEX operations_unfinished_idx ON operations (ct_id, seq)
    WHERE status IN ('pending', 'running');

CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    actor_role text NOT NULL DEFAULT '',
    action     text NOT NULL,
    ct_id       integer,
    details    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_ctid_idx ON audit_log (ct_id, at);
