-- The River job that runs a queued operation (NULL for one a request
-- started at once). Start-up reconciliation asks River, through its API,
-- what became of each unfinished operation's job, instead of reading or
-- writing River's tables.
ALTER TABLE operations ADD COLUMN job_id bigint;

-- Unfinished operations queued before this column existed get their job
-- from River's table, read once here (on a fresh database River's schema
-- is made after ctpanel's, so there is nothing to read).
DO $$
BEGIN
	IF to_regclass('river_job') IS NOT NULL THEN
		UPDATE operations o SET job_id = j.id
		FROM river_job j
		WHERE j.kind = 'container_operation' AND j.args->>'operation_id' = o.id::text
			AND o.status IN ('pending', 'running');
	END IF;
END
$$;
