//! The state machine: the design table pair by pair, and invariants under random events.

use jobs_domain::{Cause, Job, JobEvent, JobId, JobState, JobStatus, Outcome, Transition};
use proptest::prelude::*;

fn state(status: JobStatus, attempts: i32, max_attempts: i32) -> JobState {
    JobState {
        status,
        attempts,
        max_attempts,
    }
}

/// The whole table, for a job with attempts left (1 of 3 used).
fn expected_with_attempts_left(status: JobStatus, event: JobEvent) -> Option<JobState> {
    use JobEvent as E;
    use JobStatus as S;
    match (status, event) {
        (S::Pending, E::Claimed) => Some(state(S::Processing, 2, 3)),
        (S::Pending, E::Cancelled) => Some(state(S::Cancelled, 1, 3)),
        (S::Pending | S::Processing, E::DeadLettered) => Some(state(S::Failed, 1, 3)),
        (S::Processing, E::LeaseExpired) => Some(state(S::Processing, 2, 3)),
        (S::Processing, E::Succeeded) => Some(state(S::Completed, 1, 3)),
        (S::Processing, E::FailedRetryable) => Some(state(S::Pending, 1, 3)),
        (S::Processing, E::FailedPermanent) => Some(state(S::Failed, 1, 3)),
        (S::Failed | S::Cancelled, E::Retried) => Some(state(S::Pending, 1, 3)),
        _ => None,
    }
}

#[test]
fn every_status_and_event_pair_with_attempts_left_matches_the_design_table() {
    for status in JobStatus::ALL {
        for event in JobEvent::ALL {
            let result = state(status, 1, 3).apply(event);
            match expected_with_attempts_left(status, event) {
                Some(next) => assert_eq!(result, Ok(next), "{status} + {event}"),
                None => {
                    let err = result.expect_err(&format!("{status} + {event} must be refused"));
                    assert_eq!((err.from, err.event), (status, event));
                }
            }
        }
    }
}

#[test]
fn a_retryable_error_on_the_last_attempt_fails_the_job() {
    let next = state(JobStatus::Processing, 3, 3).apply(JobEvent::FailedRetryable);
    assert_eq!(next, Ok(state(JobStatus::Failed, 3, 3)));
}

#[test]
fn a_lease_that_expires_on_the_last_attempt_fails_the_job() {
    let next = state(JobStatus::Processing, 3, 3).apply(JobEvent::LeaseExpired);
    assert_eq!(next, Ok(state(JobStatus::Failed, 3, 3)));
}

#[test]
fn a_pending_job_without_attempts_left_cannot_be_claimed() {
    assert!(
        state(JobStatus::Pending, 3, 3)
            .apply(JobEvent::Claimed)
            .is_err()
    );
}

#[test]
fn retrying_an_exhausted_job_grants_one_more_attempt() {
    let next = state(JobStatus::Failed, 3, 3).apply(JobEvent::Retried);
    assert_eq!(next, Ok(state(JobStatus::Pending, 3, 4)));
}

#[test]
fn completed_is_final() {
    for event in JobEvent::ALL {
        assert!(state(JobStatus::Completed, 1, 3).apply(event).is_err());
    }
}

fn any_event() -> impl Strategy<Value = JobEvent> {
    proptest::sample::select(JobEvent::ALL.to_vec())
}

proptest! {
    #[test]
    fn random_event_sequences_keep_every_invariant(
        max_attempts in 1..8i32,
        events in proptest::collection::vec(any_event(), 0..60),
    ) {
        let mut current = JobState::submitted(max_attempts);
        for event in events {
            let before = current;
            match before.apply(event) {
                Ok(next) => {
                    prop_assert!(next.attempts >= before.attempts, "attempts decreased on {event}");
                    prop_assert!(next.attempts <= next.max_attempts, "over max on {event}");
                    prop_assert!(next.max_attempts >= before.max_attempts);
                    prop_assert!(before.status != JobStatus::Completed, "left completed on {event}");
                    if next.status == JobStatus::Pending {
                        prop_assert!(next.attempts < next.max_attempts, "pending without attempts left");
                    }
                    if next.attempts > before.attempts {
                        prop_assert_eq!(next.status, JobStatus::Processing);
                        prop_assert_eq!(next.attempts, before.attempts + 1);
                    }
                    current = next;
                }
                Err(err) => {
                    prop_assert_eq!(err.from, before.status);
                    prop_assert_eq!(err.event, event);
                }
            }
        }
    }

}

fn job_in(state: JobState, error: Option<&str>) -> Job {
    let now = chrono::Utc::now();
    Job {
        id: JobId::new(),
        job_type: "noop".into(),
        status: state.status,
        payload: serde_json::json!({}),
        result: None,
        error: error.map(str::to_owned),
        attempts: state.attempts,
        max_attempts: state.max_attempts,
        timeout_seconds: 30,
        run_at: now,
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
        idempotency_key: None,
    }
}

#[test]
fn a_decided_transition_goes_where_apply_goes_and_is_guarded_by_the_state_it_saw() {
    let causes = [
        Cause::Outcome(Outcome::Succeeded(serde_json::json!({"ok": 1}))),
        Cause::Outcome(Outcome::Retryable("503".into())),
        Cause::Outcome(Outcome::Permanent("404".into())),
        Cause::LeaseExpired,
        Cause::DeadLettered("dead-lettered after 5 delivery attempts".into()),
        Cause::Cancelled,
        Cause::Retried,
    ];
    for status in JobStatus::ALL {
        for cause in &causes {
            let from = state(status, 1, 3);
            let decided = Transition::decide(&job_in(from, None), cause.clone());
            let applied = from.apply(cause.event());
            assert_eq!(
                decided.as_ref().map(|t| t.to),
                applied.as_ref().copied(),
                "{status} {cause:?}"
            );
            if let Ok(transition) = decided {
                assert_eq!(transition.from, from);
                assert_eq!(transition.finishes(), transition.to.status.is_terminal());
                assert_eq!(transition.republish, cause.event() == JobEvent::Retried);
            }
        }
    }
}

#[test]
fn a_dead_letter_keeps_the_handlers_last_error_and_an_error_outcome_replaces_it() {
    let processing = state(JobStatus::Processing, 1, 3);
    let job = job_in(processing, Some("HTTP 500"));
    let dead =
        Transition::decide(&job, Cause::DeadLettered("dead-lettered".into())).expect("allowed");
    assert_eq!(
        dead.error.as_deref(),
        Some("dead-lettered; last error: HTTP 500")
    );
    assert_eq!(dead.detail.as_deref(), Some("dead-lettered"));
    let retry = Transition::decide(&job, Cause::Outcome(Outcome::Retryable("HTTP 503".into())))
        .expect("allowed");
    assert_eq!(retry.error.as_deref(), Some("HTTP 503"));
    let done = Transition::decide(
        &job,
        Cause::Outcome(Outcome::Succeeded(serde_json::json!(7))),
    )
    .expect("allowed");
    assert_eq!(
        (done.error, done.result),
        (None, Some(serde_json::json!(7)))
    );
}
