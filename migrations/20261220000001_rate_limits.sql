-- Job types' per-key rate limits. Each accepted job of a rate-limited type
-- takes a slot at a time (its acceptance, or with `delay` its run_at); a new
-- slot is allowed when fewer than `limit` slots of its key lie within the
-- window before it. Slots are kept apart from jobs so that retention, which
-- may delete a job sooner than its window ends, cannot free a slot early.
create table rate_limit_slots (
    tenant_id uuid not null references tenants (id) on delete cascade,
    job_type text not null,
    key text not null,
    slot_at timestamptz not null,
    -- The end of the slot's window, after which the slot counts for nothing.
    expires_at timestamptz not null,
    job_id uuid not null,
    constraint rate_limit_slots_expire_after_their_slot check (expires_at > slot_at),
    -- Also the index the admission reads: a key's slots, newest first.
    primary key (tenant_id, job_type, key, slot_at, job_id)
);

-- The reconciler's leader deletes expired slots without scanning the table.
create index rate_limit_slots_expires_at on rate_limit_slots (expires_at);
