-- Each API process caches the keys it has verified, and listens on
-- `api_keys_revoked` to forget one the moment it is revoked or deleted,
-- however that happens (`api keys revoke`, plain SQL, a deleted tenant). The
-- payload is the key's SHA-256 in hex, which is what the caches are keyed by.
create function api_keys_notify_revoked() returns trigger
    language plpgsql as $$
begin
    perform pg_notify('api_keys_revoked', encode(old.key_hash, 'hex'));
    return null;
end
$$;

create trigger api_keys_notify_revoked after update of revoked_at on api_keys
    for each row when (old.revoked_at is null and new.revoked_at is not null)
    execute function api_keys_notify_revoked();

create trigger api_keys_notify_deleted after delete on api_keys
    for each row execute function api_keys_notify_revoked();
