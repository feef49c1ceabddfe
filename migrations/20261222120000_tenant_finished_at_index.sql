-- The dashboard's throughput (`JobStore::stats`): a tenant's jobs finished in
-- the last hour, per minute, read by range without touching older jobs.
-- `status` is included so the count is an index-only scan.
create index jobs_tenant_finished_at on jobs (tenant_id, finished_at) include (status)
    where finished_at is not null;
