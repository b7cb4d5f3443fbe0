-- A token can be narrowed beyond its role: read-only (GET and read-only
-- terminal views only), and to one customer's containers.
ALTER TABLE api_tokens
    ADD COLUMN read_only boolean NOT NULL DEFAULT false,
    ADD COLUMN scope_owner_id bigint REFERENCES users (id) ON DELETE CASCADE;
