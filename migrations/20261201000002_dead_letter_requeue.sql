-- Why a failed job failed, and how often Pub/Sub dead-lettered a job since
-- an attempt last ran: a dead-letter requeues a job with attempts left, and
-- only one that keeps being dead-lettered without progress is failed.
alter table jobs add column failure_reason text
    constraint jobs_failure_reason_is_known
    check (failure_reason in ('permanent_error', 'attempts_exhausted', 'dead_lettered'));
alter table jobs add column dead_letters integer not null default 0
    constraint jobs_dead_letters_not_negative check (dead_letters >= 0);

update jobs set failure_reason = case
        when error like 'dead-lettered%' then 'dead_lettered'
        when attempts >= max_attempts then 'attempts_exhausted'
        else 'permanent_error' end
    where status = 'failed';

alter table jobs add constraint jobs_failure_reason_set_exactly_when_failed
    check ((status = 'failed') = (failure_reason is not null));
