-- IP pools and the addresses given from them (issue: networking).
-- A pool is an IPv4 range or an IPv6 prefix; one container's share of it
-- is one IPv4 address (/32) or an IPv6 /128 or routed /64. Pools never
-- overlap and shares never overlap (exclusion constraints), so an address
-- is never given twice. A share is on a container, or reserved for a
-- customer, or both; a destroyed container's shares go back to the pool
-- unless reserved.
CREATE TABLE ip_pools (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    cidr         cidr NOT NULL,
    mode         text NOT NULL DEFAULT 'routed' CHECK (mode IN ('routed', 'bridged')),
    bridge       text NOT NULL DEFAULT '',
    gateway      inet,
    nameservers  inet[] NOT NULL DEFAULT '{}',
    share_prefix smallint NOT NULL,
    is_default   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ip_pools_no_overlap EXCLUDE USING gist (cidr inet_ops WITH &&),
    CONSTRAINT ip_pools_share CHECK (
        (family(cidr) = 4 AND share_prefix = 32) OR
        (family(cidr) = 6 AND share_prefix IN (64, 128) AND share_prefix >= masklen(cidr))),
    CONSTRAINT ip_pools_bridge CHECK (mode <> 'bridged' OR bridge <> ''),
    CONSTRAINT ip_pools_gateway CHECK (gateway IS NULL OR (family(gateway) = family(cidr) AND gateway << cidr))
);
-- One default pool per family.
CREATE UNIQUE INDEX ip_pools_one_default ON ip_pools (family(cidr)) WHERE is_default;

CREATE TABLE ip_addresses (
    id          bigserial PRIMARY KEY,
    pool_id     bigint NOT NULL REFERENCES ip_pools (id) ON DELETE RESTRICT,
    share       cidr NOT NULL,
    ct_id       integer REFERENCES containers (ct_id) ON DELETE SET NULL,
    customer_id bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ip_addresses_share_key UNIQUE (share),
    CONSTRAINT ip_addresses_no_overlap EXCLUDE USING gist (share inet_ops WITH &&),
    CONSTRAINT ip_addresses_held CHECK (ct_id IS NOT NULL OR customer_id IS NOT NULL)
);
CREATE INDEX ip_addresses_ct_idx ON ip_addresses (ct_id);
CREATE INDEX ip_addresses_pool_idx ON ip_addresses (pool_id);

-- A container's shares go back to the pool when its row goes, but for
-- those reserved for its customer, which stay reserved.
CREATE FUNCTION ip_addresses_release_container() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM ip_addresses WHERE ct_id = OLD.ct_id AND customer_id IS NULL;
    UPDATE ip_addresses SET ct_id = NULL WHERE ct_id = OLD.ct_id;
    RETURN OLD;
END $$;
CREATE TRIGGER ip_addresses_release_container BEFORE DELETE ON containers
    FOR EACH ROW EXECUTE FUNCTION ip_addresses_release_container();

CREATE FUNCTION ip_addresses_release_customer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM ip_addresses WHERE customer_id = OLD.id AND ct_id IS NULL;
    UPDATE ip_addresses SET customer_id = NULL WHERE customer_id = OLD.id;
    RETURN OLD;
END $$;
CREATE TRIGGER ip_addresses_release_customer BEFORE DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION ip_addresses_release_customer();

-- How many addresses a plan's customer may put on one container.
ALTER TABLE plans ADD COLUMN ip_addresses integer CHECK (ip_addresses IS NULL OR ip_addresses >= 0);
