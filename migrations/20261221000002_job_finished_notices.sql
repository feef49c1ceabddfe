-- `GET /v1/jobs/{id}?wait_seconds=N` answers as soon as the job is final.
-- Each API process listens on `jobs_finished` on one connection and wakes
-- the requests waiting for the job whose id a notice carries; none of them
-- holds a connection while it waits.
--
-- The trigger's `when` clause keeps every other update free: a claim, a
-- retry's requeue, a publish confirmation or a lease change never calls the
-- function. The notice is sent at commit, so a waiter that reads the job
-- after hearing it sees the final row.
create function jobs_notify_finished() returns trigger
    language plpgsql as $$
begin
    perform pg_notify('jobs_finished', new.id::text);
    return null;
end
$$;

create trigger jobs_notify_finished after update of status on jobs
    for each row
    when (old.status is distinct from new.status
          and new.status in ('completed', 'failed', 'cancelled'))
    execute function jobs_notify_finished();
