ALTER TABLE plans DROP COLUMN ip_addresses;
DROP TRIGGER ip_addresses_release_customer ON users;
DROP FUNCTION ip_addresses_release_customer();
DROP TRIGGER ip_addresses_release_container ON containers;
DROP FUNCTION ip_addresses_release_container();
DROP TABLE ip_addresses;
DROP TABLE ip_pools;
