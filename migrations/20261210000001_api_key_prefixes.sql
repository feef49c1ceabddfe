-- A key is revoked by its prefix (`api keys revoke`), so a prefix must name
-- one key. The 7 characters stored so far (`jk_` and 4 of the secret, 24
-- bits) are shared by two keys among a few thousand; keys from now on store
-- `jk_` and 12 (72 bits), and no two such prefixes may be equal. Older keys
-- keep their 7 characters: only the key itself can tell them apart.
create unique index api_keys_prefix_unique_when_15_chars on api_keys (prefix)
    where length(prefix) = 15;

alter table api_keys add constraint api_keys_prefix_starts_a_key
    check (starts_with(prefix, 'jk_') and length(prefix) in (7, 15));
