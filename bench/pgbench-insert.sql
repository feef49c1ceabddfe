-- The baseline: one plain single-row INSERT per transaction.
insert into bench_insert (id, payload, created_at) values (gen_random_uuid(), '{"order":42}', now());
