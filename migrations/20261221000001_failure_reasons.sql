-- Two more reasons a job fails: its last attempt ran out of time
-- (`timed_out`: the handler's timeout, or a lease that expired without an
-- outcome), and nothing could run it (`type_deleted`).
alter table jobs drop constraint jobs_failure_reason_is_known;
alter table jobs add constraint jobs_failure_reason_is_known
    check (failure_reason in ('permanent_error', 'attempts_exhausted', 'timed_out',
                              'dead_lettered', 'type_deleted'));

-- Finished jobs are listed and replayed by reason and finish time.
create index jobs_failed_by_reason on jobs (tenant_id, failure_reason, finished_at)
    where status = 'failed';
