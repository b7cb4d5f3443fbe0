-- Billing integration: suspension, idempotency keys, webhooks.

ALTER TABLE containers
    ADD COLUMN suspended_at   timestamptz,
    ADD COLUMN suspend_mode   text CHECK (suspend_mode IN ('stop', 'freeze')),
    ADD COLUMN suspend_reason text NOT NULL DEFAULT '';

-- A POST's answer, kept so a retry with the same Idempotency-Key replays it.
CREATE TABLE idempotency_keys (
    token_id   bigint NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    key        text NOT NULL,
    method     text NOT NULL,
    path       text NOT NULL,
    body_hash  bytea NOT NULL,
    done       boolean NOT NULL DEFAULT false,
    status     integer NOT NULL DEFAULT 0,
    location   text NOT NULL DEFAULT '',
    response   bytea NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (token_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

CREATE TABLE webhooks (
    id         bigserial PRIMARY KEY,
    url        text NOT NULL,
    secret     text NOT NULL,
    events     text[] NOT NULL,
    created_by text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id           bigserial PRIMARY KEY,
    webhook_id   bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event        text NOT NULL,
    payload      jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    last_status  integer NOT NULL DEFAULT 0,
    last_error   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
);
CREATE INDEX webhook_deliveries_hook_idx ON webhook_deliveries (webhook_id, id);
