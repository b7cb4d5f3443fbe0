-- Two-factor sign-in to the web panel with TOTP (RFC 6238). One row per
-- user who has started setting it up: enabled only once they confirmed a
-- code. last_step is the time step of the last code accepted, so a code
-- is never accepted twice (nor an older one).
CREATE TABLE user_totp (
    user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     text NOT NULL,
    enabled    boolean NOT NULL DEFAULT false,
    enabled_at timestamptz,
    last_step  bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One-time recovery codes: only a hash of each is kept.
CREATE TABLE totp_recovery_codes (
    id        bigserial PRIMARY KEY,
    user_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    used_at   timestamptz,
    UNIQUE (user_id, code_hash)
);

-- A sign-in half done: the password was right, the second factor is
-- still to come. Only a hash of the browser cookie's secret is kept; it
-- grants nothing but the right to enter a code, a few times, briefly.
CREATE TABLE login_challenges (
    id_hash    bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    next       text NOT NULL DEFAULT '/',
    attempts   integer NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_challenges_user_idx ON login_challenges (user_id);
CREATE INDEX login_challenges_expires_idx ON login_challenges (expires_at);

-- The panel's sign-in policy: one row.
CREATE TABLE auth_settings (
    id                 boolean PRIMARY KEY DEFAULT true CHECK (id),
    require_staff_totp boolean NOT NULL DEFAULT false,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    updated_by         text NOT NULL DEFAULT ''
);
INSERT INTO auth_settings DEFAULT VALUES;
