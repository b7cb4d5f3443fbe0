DROP TABLE IF EXISTS host_samples;
