-- One-time links that let a user (a billing system's customer) set their
-- own web panel password. Only a hash of the link's secret is kept.
CREATE TABLE password_links (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_by  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_links_user_idx ON password_links (user_id);
