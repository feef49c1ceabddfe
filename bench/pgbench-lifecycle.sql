-- The reference for a job's life: insert, claim, complete, as three
-- autocommit statements per job (what a minimal PostgreSQL queue does). A
-- claim that finds every pending row locked by other clients claims none
-- (0) this time; the row it left is claimed by a later one.
insert into bench_lifecycle (payload) values ('{"order":42}');
with claimed as (
  update bench_lifecycle set status = 'processing', attempts = attempts + 1, started_at = now()
  where id = (select id from bench_lifecycle where status = 'pending'
              order by id limit 1 for update skip locked)
  returning id
)
select coalesce((select id from claimed), 0) as claimed \gset
update bench_lifecycle set status = 'completed', finished_at = now() where id = :claimed;
