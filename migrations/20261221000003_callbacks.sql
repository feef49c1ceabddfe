-- Completion callbacks: a job may name a URL that is told when it ends. The
-- service POSTs the finished job there as a job of its own, of the internal
-- type `callback`, signed with the tenant's callback secret (sealed with
-- JOB_TYPE_SECRETS_KEY, shown once when created or rotated).
alter table jobs add column callback_url text
    constraint jobs_callback_url_is_bounded check (length(callback_url) between 1 and 2048);

create table callback_secrets (
    tenant_id uuid primary key references tenants (id) on delete cascade,
    sealed_secret bytea not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
