//! Waiting for jobs to end. The API has no way to wait for a job, so each
//! job that has not ended is read (`GET /v1/jobs/{id}`) once a round, a few
//! at a time, with a pause between rounds; a 429 or 503 lengthens the pause
//! to its `Retry-After`. On a terminal a progress bar counts the jobs that
//! ended; elsewhere each prints a line as it ends.

use super::output::one_line;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jobs_client::{Client, Error, Job, JobStatus, Uuid};
use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::time::Duration;

/// Jobs read at once in a round.
const READS_AT_ONCE: usize = 8;

/// How the wait shows itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// A progress bar, with a line above it per job that ended (people at a terminal).
    Bar,
    /// A line `ID STATUS` per job as it ends (stdout is a pipe or a file).
    Lines,
    /// A bar on stderr when that is a terminal, nothing on stdout (JSON,
    /// or a submit that prints the job as it ended).
    Quiet,
}

impl Show {
    /// What suits stdout: with `json` nothing may go there but the JSON.
    pub fn for_stdout(json: bool) -> Show {
        if json {
            Show::Quiet
        } else if io::stdout().is_terminal() {
            Show::Bar
        } else {
            Show::Lines
        }
    }
}

/// The progress of a wait, as `show` says to show it.
struct Progress {
    show: Show,
    bar: ProgressBar,
}

impl Progress {
    fn new(show: Show, jobs: usize) -> Progress {
        let target = match show {
            Show::Bar => ProgressDrawTarget::stdout(),
            Show::Quiet if io::stderr().is_terminal() => ProgressDrawTarget::stderr(),
            Show::Quiet | Show::Lines => ProgressDrawTarget::hidden(),
        };
        let bar = ProgressBar::with_draw_target(Some(jobs as u64), target);
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} ended {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.tick();
        Progress { show, bar }
    }

    fn ended(&self, job: &Job, failed: u64) -> io::Result<()> {
        let line = line(job);
        match self.show {
            Show::Bar => self.bar.println(line),
            Show::Lines => writeln!(io::stdout().lock(), "{line}")?,
            Show::Quiet => {}
        }
        self.bar.inc(1);
        if failed > 0 {
            self.bar
                .set_message(format!("({failed} failed or cancelled)"));
        }
        Ok(())
    }

    fn done(&self) {
        self.bar.finish_and_clear();
    }
}

/// `ID STATUS`, and why it failed.
fn line(job: &Job) -> String {
    let mut line = format!("{} {}", job.id, job.status);
    if let Some(reason) = job.failure_reason {
        line.push_str(&format!(" ({reason})"));
    }
    if let Some(error) = &job.error
        && job.status != JobStatus::Completed
    {
        line.push_str(&format!(": {}", one_line(error)));
    }
    line
}

/// Why a wait stopped before every job ended.
#[derive(Debug)]
pub enum WaitError {
    /// Reading a job failed for good.
    Api(Error),
    /// Printing failed (stdout closed).
    Io(io::Error),
}

/// Waits until every job of `ids` has ended; answers them as they ended,
/// in the order of `ids` (each once).
pub async fn wait_for(
    client: &Client,
    ids: &[Uuid],
    interval: Duration,
    show: Show,
) -> Result<Vec<Job>, WaitError> {
    let mut order: Vec<Uuid> = Vec::with_capacity(ids.len());
    for id in ids {
        if !order.contains(id) {
            order.push(*id);
        }
    }
    let mut waiting = order.clone();
    let progress = Progress::new(show, waiting.len());
    let mut ended: HashMap<Uuid, Job> = HashMap::new();
    let mut failed = 0;
    let outcome = loop {
        let reads: Vec<(Uuid, Result<Job, Error>)> = futures::stream::iter(waiting.clone())
            .map(|id| async move { (id, client.get_job_waiting(id, interval).await) })
            .buffer_unordered(READS_AT_ONCE)
            .collect()
            .await;
        // Each read already waited on the server; only a refusal pauses.
        let mut pause = Duration::ZERO;
        let mut stop = None;
        for (id, read) in reads {
            match read {
                Ok(job) if job.status.is_final() => {
                    if job.status != JobStatus::Completed {
                        failed += 1;
                    }
                    if let Err(err) = progress.ended(&job, failed) {
                        stop = Some(WaitError::Io(err));
                    }
                    ended.insert(id, job);
                }
                Ok(_) => {}
                Err(err) if err.is_transient() => {
                    pause = pause.max(err.retry_after().unwrap_or(interval));
                }
                Err(err) => stop = Some(WaitError::Api(err)),
            }
        }
        if let Some(err) = stop {
            break Err(err);
        }
        waiting.retain(|id| !ended.contains_key(id));
        if waiting.is_empty() {
            break Ok(());
        }
        tokio::time::sleep(pause).await;
    };
    progress.done();
    outcome?;
    Ok(order.iter().filter_map(|id| ended.remove(id)).collect())
}
