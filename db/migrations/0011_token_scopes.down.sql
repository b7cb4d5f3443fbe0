ALTER TABLE api_tokens
    DROP COLUMN scope_owner_id,
    DROP COLUMN read_only;
