-- Heartbeat leases and cancelling a running job.
--
-- A worker now extends a job's lease while its handler runs (a few heartbeats
-- ahead), so `lease_expires_at` no longer outlives the whole timeout; no
-- column changes for that.
--
-- `cancel_requested_at`: when a client asked to cancel the job while it ran.
-- The job stays `processing` until the worker running it stops the handler;
-- a retry clears it. Only a job that started can have one.
alter table jobs add column cancel_requested_at timestamptz,
    add constraint jobs_cancel_requested_only_once_started
        check (cancel_requested_at is null or started_at is not null);

-- Every worker listens on `job_cancel_requested` and stops the job named by
-- the payload (its id) if it runs it. A trigger, so every way a cancel is
-- requested notifies, once, when the request commits.
create function jobs_notify_cancel_requested() returns trigger
    language plpgsql as $$
begin
    perform pg_notify('job_cancel_requested', new.id::text);
    return null;
end
$$;

create trigger jobs_notify_cancel_requested after update of cancel_requested_at on jobs
    for each row when (old.cancel_requested_at is null and new.cancel_requested_at is not null)
    execute function jobs_notify_cancel_requested();
