//! The state machine: the design table pair by pair, and invariants under random events.

use jobs_domain::{
    Cause, DeadLetter, Deferral, DeferralPolicy, ErrorUpdate, FailureReason, Job, JobEvent, JobId,
    JobState, JobStatus, Outcome, RequeuePolicy, TenantId, Transition,
};
use proptest::prelude::*;
use std::time::Duration;

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
        (S::Pending | S::Processing, E::Cancelled) => Some(state(S::Cancelled, 1, 3)),
        (S::Processing, E::CancelRequested) => Some(state(S::Processing, 1, 3)),
        (S::Pending | S::Processing, E::DeadLettered) => Some(state(S::Failed, 1, 3)),
        (S::Pending | S::Processing, E::Requeued) => Some(state(S::Pending, 1, 3)),
        (S::Pending | S::Processing, E::Deferred) => Some(state(S::Pending, 1, 3)),
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
fn an_exhausted_event_needs_the_last_attempt_and_a_requeue_an_attempt_left() {
    let last = state(JobStatus::Processing, 3, 3);
    assert_eq!(
        last.apply(JobEvent::AttemptsExhausted),
        Ok(state(JobStatus::Failed, 3, 3))
    );
    assert!(last.apply(JobEvent::Requeued).is_err());
    assert!(
        state(JobStatus::Processing, 1, 3)
            .apply(JobEvent::AttemptsExhausted)
            .is_err()
    );
}

#[test]
fn a_job_at_the_most_attempts_any_job_may_have_cannot_be_retried() {
    let most = JobState::MAX_ATTEMPTS;
    let spent = state(JobStatus::Failed, most, most);
    assert!(spent.apply(JobEvent::Retried).is_err());
    let almost = state(JobStatus::Failed, most - 1, most - 1);
    assert_eq!(
        almost.apply(JobEvent::Retried),
        Ok(state(JobStatus::Pending, most - 1, most))
    );
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
        tenant: TenantId(uuid::Uuid::nil()),
        job_type: "noop".into(),
        status: state.status,
        payload: serde_json::json!({}),
        result: None,
        error: error.map(str::to_owned),
        failure_reason: None,
        attempts: state.attempts,
        max_attempts: state.max_attempts,
        timeout_seconds: 30,
        run_at: now,
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
        idempotency_key: None,
        callback_url: None,
        schedule: None,
        cancel_requested_at: None,
    }
}

/// Requeues twice, 10 s then 20 s, capped at 15 s.
const POLICY: RequeuePolicy = RequeuePolicy {
    limit: 2,
    delay: Duration::from_secs(10),
    max_delay: Duration::from_secs(15),
};

fn dead_letter(without_progress: i32) -> Cause {
    Cause::DeadLettered(DeadLetter {
        detail: "dead-lettered after 5 delivery attempts".into(),
        without_progress,
        policy: POLICY,
    })
}

#[test]
fn a_decided_transition_goes_where_apply_goes_and_is_guarded_by_the_state_it_saw() {
    let causes = [
        Cause::Outcome(Outcome::Succeeded(serde_json::json!({"ok": 1}))),
        Cause::Outcome(Outcome::Retryable("503".into())),
        Cause::Outcome(Outcome::Permanent("404".into())),
        Cause::LeaseExpired,
        dead_letter(0),
        dead_letter(POLICY.limit),
        Cause::Cancelled,
        Cause::CancelRequested,
        Cause::Outcome(Outcome::Cancelled),
        Cause::Retried,
    ];
    for status in JobStatus::ALL {
        for attempts in [1, 3] {
            for cause in &causes {
                let from = state(status, attempts, 3);
                let case = format!("{status} {attempts}/3 {cause:?}");
                match Transition::decide(&job_in(from, None), 0, cause.clone()) {
                    Ok(transition) => {
                        assert_eq!(transition.from, from, "{case}");
                        let recorded = from.apply(transition.event);
                        let applied = from.apply(cause.event());
                        // The recorded event is the one whose move was made, or
                        // the name of a failure that left no attempt.
                        assert!(
                            recorded == Ok(transition.to) || applied == Ok(transition.to),
                            "{case}: {transition:?}"
                        );
                        assert_eq!(transition.finishes(), transition.to.status.is_terminal());
                        assert_eq!(
                            transition.failure_reason.is_some(),
                            transition.to.status == JobStatus::Failed,
                            "{case}"
                        );
                        assert_eq!(
                            transition.republish,
                            matches!(transition.event, JobEvent::Retried | JobEvent::Requeued),
                            "{case}"
                        );
                    }
                    Err(err) => {
                        assert!(from.apply(cause.event()).is_err(), "{case}: {err}");
                    }
                }
            }
        }
    }
}

#[test]
fn a_dead_letter_requeues_a_job_with_attempts_left_with_a_growing_delay() {
    let pending = job_in(state(JobStatus::Pending, 1, 3), Some("HTTP 500"));
    let first = Transition::decide(&pending, 0, dead_letter(0)).expect("allowed");
    assert_eq!(first.event, JobEvent::Requeued);
    assert_eq!(first.to, state(JobStatus::Pending, 1, 3));
    assert_eq!(first.run_in, Some(Duration::from_secs(10)));
    assert_eq!((first.dead_letters, first.republish), (1, true));
    assert_eq!(first.error, ErrorUpdate::Keep);
    let second = Transition::decide(&pending, 1, dead_letter(1)).expect("allowed");
    assert_eq!(second.run_in, Some(Duration::from_secs(15)), "capped");
    assert_eq!(POLICY.delay_of(2), Duration::from_secs(15));
}

#[test]
fn a_job_dead_lettered_too_often_without_progress_or_with_no_attempt_left_fails() {
    let pending = job_in(state(JobStatus::Pending, 1, 3), Some("HTTP 500"));
    let failed =
        Transition::decide(&pending, POLICY.limit, dead_letter(POLICY.limit)).expect("allowed");
    assert_eq!(failed.event, JobEvent::DeadLettered);
    assert_eq!(failed.to.status, JobStatus::Failed);
    assert_eq!(failed.failure_reason, Some(FailureReason::DeadLettered));
    assert_eq!(
        failed.error,
        ErrorUpdate::Set("dead-lettered after 5 delivery attempts; last error: HTTP 500".into())
    );
    let spent = job_in(state(JobStatus::Processing, 3, 3), None);
    let failed = Transition::decide(&spent, 0, dead_letter(0)).expect("allowed");
    assert_eq!(failed.failure_reason, Some(FailureReason::DeadLettered));
}

#[test]
fn a_retryable_error_on_the_last_attempt_is_recorded_as_attempts_exhausted() {
    let last = job_in(state(JobStatus::Processing, 3, 3), None);
    let exhausted = Transition::decide(&last, 0, Cause::Outcome(Outcome::Retryable("503".into())))
        .expect("allowed");
    assert_eq!(exhausted.event, JobEvent::AttemptsExhausted);
    assert_eq!(
        exhausted.failure_reason,
        Some(FailureReason::AttemptsExhausted)
    );
    let expired = Transition::decide(&last, 0, Cause::LeaseExpired).expect("allowed");
    assert_eq!(expired.event, JobEvent::AttemptsExhausted);
    assert_eq!(expired.failure_reason, Some(FailureReason::TimedOut));
}

#[test]
fn a_last_attempt_that_ran_out_of_time_fails_as_timed_out_and_an_earlier_one_is_retried() {
    let timed_out = |retry_in| {
        Cause::Outcome(Outcome::TimedOut {
            error: "timed out after 30 s".into(),
            retry_in,
        })
    };
    let last = job_in(state(JobStatus::Processing, 3, 3), None);
    let failed = Transition::decide(&last, 0, timed_out(None)).expect("allowed");
    assert_eq!(failed.to.status, JobStatus::Failed);
    assert_eq!(failed.failure_reason, Some(FailureReason::TimedOut));
    let earlier = job_in(state(JobStatus::Processing, 1, 3), None);
    let retried =
        Transition::decide(&earlier, 0, timed_out(Some(Duration::from_secs(4)))).expect("allowed");
    assert_eq!(retried.to.status, JobStatus::Pending);
    assert_eq!(retried.run_in, Some(Duration::from_secs(4)));
    assert_eq!(retried.failure_reason, None);
}

#[test]
fn a_job_nothing_can_run_fails_at_once_as_type_deleted() {
    let first = job_in(state(JobStatus::Processing, 1, 3), None);
    let failed = Transition::decide(
        &first,
        0,
        Cause::Outcome(Outcome::NoHandler(
            "no handler is registered for job type `gone`".into(),
        )),
    )
    .expect("allowed");
    assert_eq!(failed.event, JobEvent::FailedPermanent);
    assert_eq!(failed.failure_reason, Some(FailureReason::TypeDeleted));
}

#[test]
fn a_retry_clears_the_old_error_and_runs_now() {
    let failed = job_in(state(JobStatus::Failed, 3, 3), Some("HTTP 404"));
    let retried = Transition::decide(&failed, 0, Cause::Retried).expect("allowed");
    assert_eq!(retried.error, ErrorUpdate::Clear);
    assert_eq!(retried.run_in, Some(Duration::ZERO));
    assert_eq!(retried.failure_reason, None);
}

#[test]
fn a_result_with_nul_is_kept_with_the_nul_escaped() {
    let processing = job_in(state(JobStatus::Processing, 1, 3), None);
    let result = serde_json::json!({"body": "a\0b", "k\0": ["\0"]});
    let done = Transition::decide(&processing, 0, Cause::Outcome(Outcome::Succeeded(result)))
        .expect("allowed");
    assert_eq!(
        done.result,
        Some(serde_json::json!({"body": "a\\u0000b", "k\\u0000": ["\\u0000"]}))
    );
}

#[test]
fn an_error_outcome_replaces_the_error_and_a_success_stores_its_result() {
    let processing = state(JobStatus::Processing, 1, 3);
    let job = job_in(processing, Some("HTTP 500"));
    let retry = Transition::decide(
        &job,
        0,
        Cause::Outcome(Outcome::Retryable("HTTP 503".into())),
    )
    .expect("allowed");
    assert_eq!(retry.error, ErrorUpdate::Set("HTTP 503".into()));
    let done = Transition::decide(
        &job,
        0,
        Cause::Outcome(Outcome::Succeeded(serde_json::json!(7))),
    )
    .expect("allowed");
    assert_eq!(
        (done.error, done.result),
        (ErrorUpdate::Keep, Some(serde_json::json!(7)))
    );
}

fn deferral(deferrals: i32, since_event: Option<Duration>) -> Cause {
    Cause::Deferred(Deferral {
        limit: 1,
        deferrals,
        since_event,
        policy: DeferralPolicy::DEFAULT,
    })
}

#[test]
fn a_decided_deferral_goes_where_apply_goes_for_every_status() {
    for status in JobStatus::ALL {
        for attempts in [1, 3] {
            let from = state(status, attempts, 3);
            let case = format!("{status} {attempts}/3");
            match Transition::decide(&job_in(from, None), 0, deferral(0, None)) {
                Ok(transition) => {
                    assert_eq!(from.apply(JobEvent::Deferred), Ok(transition.to), "{case}");
                    assert_eq!(transition.event, JobEvent::Deferred, "{case}");
                    assert_eq!(transition.to.status, JobStatus::Pending, "{case}");
                    assert_eq!(transition.to.attempts, attempts, "{case}: no attempt spent");
                    assert!(transition.republish, "{case}: published again when due");
                    assert_eq!(transition.failure_reason, None, "{case}");
                }
                Err(err) => {
                    assert!(from.apply(JobEvent::Deferred).is_err(), "{case}: {err}");
                    assert!(
                        !matches!(status, JobStatus::Pending | JobStatus::Processing)
                            || attempts == 3,
                        "{case}: refused with an attempt left"
                    );
                }
            }
        }
    }
}

#[test]
fn a_deferral_keeps_the_job_pending_and_waits_from_one_second_doubling_up_to_ten() {
    let pending = job_in(state(JobStatus::Pending, 0, 3), None);
    let delays: Vec<Option<Duration>> = (0..7)
        .map(|before| {
            let transition =
                Transition::decide(&pending, 0, deferral(before, None)).expect("allowed");
            assert_eq!(transition.deferrals, Some(before + 1));
            assert_eq!(transition.to, state(JobStatus::Pending, 0, 3));
            assert_eq!(transition.error, ErrorUpdate::Keep);
            assert_eq!(transition.dead_letters, 0, "a deferral is no dead-letter");
            transition.run_in
        })
        .collect();
    let seconds = |s: u64| Some(Duration::from_secs(s));
    assert_eq!(
        delays,
        [
            seconds(1),
            seconds(2),
            seconds(4),
            seconds(8),
            seconds(10),
            seconds(10),
            seconds(10)
        ]
    );
}

#[test]
fn a_deferral_is_recorded_only_when_the_last_recorded_one_is_a_few_seconds_old() {
    let pending = job_in(state(JobStatus::Pending, 0, 3), None);
    let recorded = |since: Option<Duration>| {
        Transition::decide(&pending, 0, deferral(3, since))
            .expect("allowed")
            .recorded
    };
    assert!(recorded(None), "the first deferral is recorded");
    assert!(!recorded(Some(Duration::ZERO)));
    assert!(!recorded(Some(Duration::from_millis(4_999))));
    assert!(recorded(Some(DeferralPolicy::DEFAULT.event_every)));
    assert!(recorded(Some(Duration::from_secs(60))));
    // Every other change is recorded.
    let retried = Transition::decide(
        &job_in(state(JobStatus::Failed, 3, 3), None),
        0,
        Cause::Retried,
    )
    .expect("allowed");
    assert!(retried.recorded);
}

#[test]
fn a_deferred_expired_lease_goes_back_to_pending_with_its_attempt_spent() {
    let expired = job_in(state(JobStatus::Processing, 2, 3), None);
    let deferred = Transition::decide(&expired, 0, deferral(0, None)).expect("allowed");
    assert_eq!(deferred.to, state(JobStatus::Pending, 2, 3));
    assert_eq!(
        deferred.error,
        ErrorUpdate::Set("lease expired without an outcome".into())
    );
    let last = job_in(state(JobStatus::Processing, 3, 3), None);
    assert!(
        Transition::decide(&last, 0, deferral(0, None)).is_err(),
        "the last attempt's expired lease fails the job instead"
    );
}

#[test]
fn a_retry_starts_the_deferrals_afresh_and_other_changes_leave_them() {
    let failed = job_in(state(JobStatus::Failed, 3, 3), None);
    let retried = Transition::decide(&failed, 0, Cause::Retried).expect("allowed");
    assert_eq!(retried.deferrals, Some(0));
    let processing = job_in(state(JobStatus::Processing, 1, 3), None);
    let done = Transition::decide(
        &processing,
        0,
        Cause::Outcome(Outcome::Succeeded(serde_json::json!(1))),
    )
    .expect("allowed");
    assert_eq!(done.deferrals, None);
}

proptest! {
    #[test]
    fn deferrals_never_spend_an_attempt_and_their_delays_grow_within_bounds(
        attempts in 0..5i32,
        before in 0..2000i32,
        since_ms in proptest::option::of(0..20_000u64),
    ) {
        let policy = DeferralPolicy::DEFAULT;
        let job = job_in(state(JobStatus::Pending, attempts, 5), None);
        let since = since_ms.map(Duration::from_millis);
        let transition = Transition::decide(&job, 0, deferral(before, since)).expect("allowed");
        let delay = transition.run_in.expect("a delay");
        prop_assert_eq!(transition.to.attempts, attempts);
        prop_assert!(delay >= policy.delay && delay <= policy.max_delay, "{:?}", delay);
        prop_assert!(policy.delay_of(before + 2) >= delay, "delays never shrink");
        prop_assert_eq!(transition.recorded, since.is_none_or(|s| s >= policy.event_every));
    }
}

#[test]
fn a_running_job_is_cancelled_in_two_steps_the_request_and_its_workers_stop() {
    let running = job_in(state(JobStatus::Processing, 1, 3), None);
    let request = Transition::decide(&running, 0, Cause::CancelRequested).expect("allowed");
    assert_eq!(request.event, JobEvent::CancelRequested);
    assert_eq!(request.to, state(JobStatus::Processing, 1, 3), "it runs on");
    assert!(!request.finishes());
    assert!(!request.republish);
    assert_eq!(
        (request.error.clone(), request.detail.clone()),
        (ErrorUpdate::Keep, None)
    );

    let requested = Job {
        cancel_requested_at: Some(chrono::Utc::now()),
        ..running
    };
    let stopped =
        Transition::decide(&requested, 0, Cause::Outcome(Outcome::Cancelled)).expect("allowed");
    assert_eq!(stopped.event, JobEvent::Cancelled);
    assert_eq!(stopped.to, state(JobStatus::Cancelled, 1, 3));
    assert!(stopped.finishes());
    assert_eq!(stopped.failure_reason, None);
    assert_eq!(
        stopped.detail.as_deref(),
        Some("cancelled while running: the worker stopped attempt 1")
    );
    assert_eq!(Outcome::Cancelled.label(), "cancelled");

    for status in [
        JobStatus::Pending,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ] {
        let other = job_in(state(status, 1, 3), None);
        assert!(
            Transition::decide(&other, 0, Cause::CancelRequested).is_err(),
            "{status}: only a running job's cancel is requested"
        );
    }
    let done = job_in(state(JobStatus::Completed, 1, 3), None);
    assert!(Transition::decide(&done, 0, Cause::Outcome(Outcome::Cancelled)).is_err());
}

#[test]
fn a_job_whose_cancel_was_requested_and_that_nothing_runs_is_cancelled_saying_why() {
    let requested_at = Some(chrono::Utc::now());
    for status in [JobStatus::Pending, JobStatus::Processing] {
        let job = Job {
            cancel_requested_at: requested_at,
            ..job_in(state(status, 1, 3), None)
        };
        let cancelled = Transition::decide(&job, 0, Cause::Cancelled).expect("allowed");
        assert_eq!(cancelled.to.status, JobStatus::Cancelled);
        assert_eq!(
            cancelled.detail.as_deref(),
            Some("cancel requested while running; cancelled instead of running again"),
            "{status}"
        );
    }
    let pending = job_in(state(JobStatus::Pending, 0, 3), None);
    let cancelled = Transition::decide(&pending, 0, Cause::Cancelled).expect("allowed");
    assert_eq!(
        cancelled.detail, None,
        "a plain cancel of a pending job, as before"
    );
}
