-- Per-key concurrency limits (a job type's `concurrency`): at most `limit`
-- jobs of a type with the same key value are processing with a live lease.
--
-- concurrency_key: the job's key value, computed by the API at submit from
-- the type's `concurrency.key` (the empty string for a limit without a key);
-- null when the type had no limit, and such a job is claimed as before.
alter table jobs add column concurrency_key text
    constraint jobs_concurrency_key_at_most_200_bytes
    check (octet_length(concurrency_key) <= 200);

-- Deliveries that found the job's key at its limit since the job last ran (a
-- claim resets it; the delay before the job is published again doubles with
-- it), and when the last `deferred` event was recorded, so a job deferred
-- again and again writes one such event every few seconds, not one each time.
alter table jobs add column deferrals integer not null default 0
    constraint jobs_deferrals_not_negative check (deferrals >= 0);
alter table jobs add column deferred_event_at timestamptz;

-- The claim's count of a key's taken slots: processing jobs with a key, by
-- tenant, type and key value, with their lease to tell live from expired.
create index jobs_processing_concurrency_key
    on jobs (tenant_id, type, concurrency_key, lease_expires_at)
    where status = 'processing' and concurrency_key is not null;
