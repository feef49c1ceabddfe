-- The references' tables: a plain row for the single-row INSERT, and a
-- minimal queue (status, attempts, timings, a partial index on what is
-- pending) for the lifecycle.
create table bench_insert (id uuid primary key, payload jsonb not null, created_at timestamptz not null);
create table bench_lifecycle (
  id bigint generated always as identity primary key,
  status text not null default 'pending',
  payload jsonb not null,
  attempts int not null default 0,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz
);
create index bench_lifecycle_pending on bench_lifecycle (id) where status = 'pending';
