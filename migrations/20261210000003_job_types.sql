-- Job types each tenant defines over the API: a handler (a built-in one or an
-- HTTP target), a payload schema, defaults and a retry schedule, kept as the
-- JSON the API validated. The HMAC secret, when the type has one, is sealed
-- with JOB_TYPE_SECRETS_KEY and never returned.
create table job_types (
    tenant_id uuid not null references tenants (id) on delete cascade,
    name text not null constraint job_types_name_is_valid
        check (name ~ '^[a-z][a-z0-9._-]{0,99}$'),
    definition jsonb not null,
    sealed_secret bytea,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, name)
);
