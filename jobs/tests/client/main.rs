//! The `jobs` command-line client, run as the real binary against a real
//! API on a random port: what it prints, as tables and as JSON, and the
//! exit status of every kind of ending.

#[path = "../../../client/tests/support/test_api.rs"]
mod test_api;

mod exit_status;
mod jobs;
mod resources;

use serde_json::Value;
use std::process::{Command, Stdio};
use test_api::TestApi;

const BINARY: &str = env!("CARGO_BIN_EXE_jobs");

/// How a run of the binary ended.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Its stdout as JSON, which `--json` promises.
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {self:?}"))
    }

    /// Asserts it exited 0, and returns it.
    fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "{self:?}");
        self
    }
}

/// Runs `jobs ARGS` with `env` (and no JOBS_API_* of the test's own
/// environment), off the test's runtime, which serves the API.
async fn run_with(env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = Command::new(BINARY);
    command
        .args(args)
        .env_remove("JOBS_API_URL")
        .env_remove("JOBS_API_KEY")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the run joins")
        .expect("the binary runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `jobs ARGS` against `api` with its key, from the environment.
async fn jobs(api: &TestApi, args: &[&str]) -> Run {
    run_with(
        &[("JOBS_API_URL", &api.url), ("JOBS_API_KEY", &api.key)],
        args,
    )
    .await
}
