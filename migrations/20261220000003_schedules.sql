-- Periodic schedules: a cron pattern read in an IANA time zone, and the job
-- each occurrence enqueues (its type, payload and limits, as validated and
-- resolved by the API). The reconciler's leader enqueues due occurrences; a
-- job's idempotency key is its occurrence's slot, so each is enqueued once.
create table schedules (
    tenant_id uuid not null references tenants (id) on delete cascade,
    name text not null constraint schedules_name_is_valid
        check (name ~ '^[a-z][a-z0-9._-]{0,99}$'),
    cron text not null constraint schedules_cron_1_to_200_chars
        check (length(cron) between 1 and 200),
    timezone text not null constraint schedules_timezone_1_to_100_chars
        check (length(timezone) between 1 and 100),
    job_type text not null constraint schedules_job_type_1_to_100_chars
        check (length(job_type) between 1 and 100),
    payload jsonb not null,
    max_attempts integer not null constraint schedules_max_attempts_1_to_1000
        check (max_attempts between 1 and 1000),
    timeout_seconds integer not null constraint schedules_timeout_1_to_3600_seconds
        check (timeout_seconds between 1 and 3600),
    paused boolean not null default false,
    next_run_at timestamptz,
    last_run_at timestamptz,
    -- No foreign key: retention deletes finished jobs, and the schedule keeps their id.
    last_job_id uuid,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, name),
    constraint schedules_next_run_at_set_exactly_while_active
        check (paused = (next_run_at is null))
);

-- The leader's scan: unpaused schedules by their next occurrence (the due
-- ones, and the earliest one to wake up for).
create index schedules_due on schedules (next_run_at) where not paused;

-- The schedule that enqueued a job. Nullable: submitted jobs have none. The
-- check is `not valid` because every existing row is null: validating would
-- only scan the table under this statement's lock; new rows are checked.
alter table jobs add column schedule text;
alter table jobs add constraint jobs_schedule_name_is_valid
    check (schedule ~ '^[a-z][a-z0-9._-]{0,99}$') not valid;

-- `GET /v1/jobs?schedule=NAME`, newest first.
create index jobs_tenant_schedule on jobs (tenant_id, schedule, id desc)
    where schedule is not null;
