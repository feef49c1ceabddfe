-- The reconciler deletes finished jobs past their retention oldest first; this
-- index gives it the oldest finished jobs without scanning the table.
create index jobs_finished_at on jobs (finished_at) where finished_at is not null;
