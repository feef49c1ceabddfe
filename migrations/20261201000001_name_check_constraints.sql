-- Name every CHECK constraint after the rule it keeps, so a violation reads
-- as a sentence ("violates check constraint jobs_finished_at_set_exactly_when_final").
alter table tenants rename constraint tenants_name_check to tenants_name_1_to_200_chars;

alter table jobs rename constraint jobs_attempts_check to jobs_attempts_not_negative;
alter table jobs rename constraint jobs_check to jobs_attempts_at_most_max_attempts;
alter table jobs rename constraint jobs_check1 to jobs_finished_at_set_exactly_when_final;
alter table jobs rename constraint jobs_check2 to jobs_lease_set_exactly_while_processing;
alter table jobs rename constraint jobs_check3 to jobs_pending_has_an_attempt_left;
alter table jobs rename constraint jobs_check4 to jobs_idempotency_key_has_a_request_hash;
alter table jobs rename constraint jobs_idempotency_key_check to jobs_idempotency_key_1_to_255_chars;
alter table jobs rename constraint jobs_max_attempts_check to jobs_max_attempts_1_to_1000;
alter table jobs rename constraint jobs_status_check to jobs_status_is_known;
alter table jobs rename constraint jobs_timeout_seconds_check to jobs_timeout_1_to_3600_seconds;
alter table jobs rename constraint jobs_type_check to jobs_type_1_to_100_chars;
