-- The Pub/Sub message id of the last dead-letter counted against the job: a
-- redelivery of that same dead-letter (its answer was lost or late) must not
-- count again, or a job with attempts left could end failed.
alter table jobs add column dead_letter_message_id text;
alter table jobs add constraint jobs_dead_letter_message_id_1_to_200_chars
    check (length(dead_letter_message_id) between 1 and 200);
