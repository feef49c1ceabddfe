-- A job's history is only ever read by its job (`where job_id = $1 order by
-- id`), so the primary key becomes (job_id, id) and serves that read: every
-- event then writes one index entry instead of two (the old key on id alone
-- and the job_events_job_id index), a third of a job's index writes to its
-- history. The key is rebuilt once here.
alter table job_events drop constraint job_events_pkey;
alter table job_events add constraint job_events_pkey primary key (job_id, id);
drop index job_events_job_id;
