-- Tenants own API keys and jobs; no tenant ever sees another's rows.
create table tenants (
    id uuid primary key,
    name text not null unique check (length(name) between 1 and 200),
    created_at timestamptz not null default now()
);

-- Only a SHA-256 of each key is kept; the key itself is shown once, at creation.
create table api_keys (
    id uuid primary key,
    tenant_id uuid not null references tenants (id) on delete cascade,
    key_hash bytea not null unique,
    prefix text not null,
    created_at timestamptz not null default now(),
    revoked_at timestamptz
);

create table jobs (
    id uuid primary key,
    tenant_id uuid not null references tenants (id),
    type text not null check (length(type) between 1 and 100),
    status text not null check (status in ('pending', 'processing', 'completed', 'failed', 'cancelled')),
    payload jsonb not null,
    result jsonb,
    error text,
    attempts integer not null default 0 check (attempts >= 0),
    max_attempts integer not null check (max_attempts between 1 and 1000),
    timeout_seconds integer not null check (timeout_seconds between 1 and 3600),
    run_at timestamptz not null,
    lease_expires_at timestamptz,
    idempotency_key text check (length(idempotency_key) between 1 and 255),
    -- Fingerprint of the submitted request, so a replay under the same key can be told from a conflict.
    request_hash bytea,
    published_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz,
    -- The state invariants live here too, so no code path can break them.
    check (attempts <= max_attempts),
    check ((status in ('completed', 'failed', 'cancelled')) = (finished_at is not null)),
    check ((status = 'processing') = (lease_expires_at is not null)),
    check (status <> 'pending' or attempts < max_attempts),
    check ((idempotency_key is null) = (request_hash is null))
);

create unique index jobs_tenant_idempotency_key on jobs (tenant_id, idempotency_key)
    where idempotency_key is not null;
create index jobs_tenant_id on jobs (tenant_id, id desc);
create index jobs_tenant_status on jobs (tenant_id, status, id desc);
create index jobs_tenant_type on jobs (tenant_id, type, id desc);
-- The reconciler's scans: due or unpublished pending jobs, and expired leases.
create index jobs_pending_run_at on jobs (run_at) where status = 'pending';
create index jobs_processing_lease on jobs (lease_expires_at) where status = 'processing';

create table job_events (
    id bigint generated always as identity primary key,
    job_id uuid not null references jobs (id) on delete cascade,
    from_status text,
    to_status text not null,
    event text not null,
    attempt integer not null,
    detail text,
    created_at timestamptz not null default now()
);

create index job_events_job_id on job_events (job_id, id);
