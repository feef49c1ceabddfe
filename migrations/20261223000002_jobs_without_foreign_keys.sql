-- Foreign keys on the two hottest tables cost a lookup and a row lock per
-- inserted row: one per submit (jobs -> tenants) and one per history entry
-- (job_events -> jobs, three per completed job). Together about a fifth of
-- PostgreSQL's time in a batched submit (pgbench, 32-row inserts, same run).
-- What they guarded holds by construction: a job is inserted only for the
-- tenant of a verified API key, and tenants are never deleted; an event is
-- inserted by the same statement that inserts or changes its job, and
-- retention deletes a job's events in the statement that deletes the job.
alter table jobs drop constraint jobs_tenant_id_fkey;
alter table job_events drop constraint job_events_job_id_fkey;
