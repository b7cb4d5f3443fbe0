DROP TABLE traffic_hourly;
DROP TABLE traffic_readings;
ALTER TABLE plans DROP COLUMN rate_out_mbit, DROP COLUMN rate_in_mbit;
