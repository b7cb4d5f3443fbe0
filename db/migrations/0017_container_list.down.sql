DROP TABLE IF EXISTS traffic_month;
DROP INDEX IF EXISTS containers_created_idx;
DROP INDEX IF EXISTS containers_hostname_idx;
DROP INDEX IF EXISTS containers_plan_idx;
DROP TABLE IF EXISTS container_stats;
