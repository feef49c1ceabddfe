//! What each command does: its calls of the API, and what it prints.

use super::args::{
    BatchArgs, CallbackSecretCommand, Cli, Command, ListArgs, PutScheduleArgs, RetryArgs,
    SchedulesCommand, SubmitArgs, TypesCommand,
};
use super::input::{Json, parse_batch, read_source};
use super::output::{self, Output, listing};
use super::wait::{Show, WaitError, wait_for};
use super::{Ended, Failure};
use jobs_client::{
    Client, Job, JobEvent, JobQuery, JobStatus, JobTemplate, JobType, JobTypeDefinition, NewJob,
    RetryFailed, Schedule, ScheduleDefinition,
};
use serde::Serialize;

/// The most jobs one batch request stores (the API's limit).
const BATCH_SIZE: usize = 500;
/// The most failed jobs one bulk retry sends back (the API's limit).
const RETRY_SIZE: u64 = 1000;
/// The page size of `list --all`.
const ALL_PAGE_SIZE: u32 = 100;

/// Runs the command `cli` names.
pub async fn run(cli: Cli) -> Result<Ended, Failure> {
    let key = cli
        .connection
        .api_key
        .filter(|key| !key.is_empty())
        .ok_or_else(|| {
            Failure::Usage(
                "no API key: set JOBS_API_KEY or pass --api-key (`api keys create --tenant NAME` makes one)"
                    .to_owned(),
            )
        })?;
    let client = Client::new(&cli.connection.api_url, &key)?;
    let out = Output::new(cli.json);
    match cli.command {
        Command::Submit(args) => submit(&client, &out, args).await,
        Command::Get { id } => {
            let job = client.get_job(id).await?;
            out.print(&job, || output::job(&job))?;
            Ok(Ended::Done)
        }
        Command::List(args) => list(&client, &out, args).await,
        Command::Stats => {
            let stats = client.stats().await?;
            out.print(&stats, || output::stats(&stats))?;
            Ok(Ended::Done)
        }
        Command::Events { id } => {
            let events = client.job_events(id).await?;
            out.print(&Events { events: &events }, || output::events(&events))?;
            Ok(Ended::Done)
        }
        Command::Wait(args) => {
            let show = Show::for_stdout(out.is_json());
            let jobs = wait_for(&client, &args.ids, args.interval, show).await?;
            let failed = jobs
                .iter()
                .filter(|job| job.status != JobStatus::Completed)
                .count();
            if out.is_json() {
                out.print(&Jobs { jobs: &jobs }, String::new)?;
            } else if show == Show::Bar {
                out.line(&format!(
                    "{} ended: {} completed, {failed} failed or cancelled",
                    jobs.len(),
                    jobs.len() - failed
                ))?;
            }
            Ok(if failed > 0 {
                Ended::JobFailed
            } else {
                Ended::Done
            })
        }
        Command::Cancel { id } => {
            let job = client.cancel_job(id).await?;
            out.print(&job, || output::job(&job))?;
            Ok(Ended::Done)
        }
        Command::Retry(args) => retry(&client, &out, args).await,
        Command::Batch(args) => batch(&client, &out, args).await,
        Command::Types(command) => types(&client, &out, command).await,
        Command::Schedules(command) => schedules(&client, &out, command).await,
        Command::CallbackSecret(CallbackSecretCommand::Create) => {
            let saved = client.create_callback_secret().await?;
            let secret = &saved.value.secret;
            out.print(&saved.value, || {
                let done = if saved.created { "created" } else { "rotated" };
                format!(
                    "{done} the callback secret; it signs every callback from now on\n{}",
                    secret_listing(secret)
                )
            })?;
            Ok(Ended::Done)
        }
    }
}

/// The JSON of a list of jobs, as the API answers a batch.
#[derive(Serialize)]
struct Jobs<'a> {
    jobs: &'a [Job],
}

/// The JSON of a job's history, as the API answers it.
#[derive(Serialize)]
struct Events<'a> {
    events: &'a [JobEvent],
}

/// The JSON of the job types, as the API answers them.
#[derive(Serialize)]
struct JobTypes<'a> {
    job_types: &'a [JobType],
}

/// The JSON of the schedules, as the API answers them.
#[derive(Serialize)]
struct Schedules<'a> {
    schedules: &'a [Schedule],
}

/// The JSON of a deletion (the API answers 204, no body).
#[derive(Serialize)]
struct Deleted<'a> {
    name: &'a str,
    deleted: bool,
}

/// The JSON of a secret shown once, as the API answers it.
#[derive(Serialize)]
struct Secret<'a> {
    secret: &'a str,
}

/// The JSON of a bulk retry: every call's `requeued`, summed.
#[derive(Serialize)]
struct Requeued {
    requeued: u64,
}

fn secret_listing(secret: &str) -> String {
    listing(&[("secret", format!("{secret}  (shown this once: keep it)"))])
}

async fn submit(client: &Client, out: &Output, args: SubmitArgs) -> Result<Ended, Failure> {
    let delay_seconds = match args.delay {
        Some(delay) if delay.subsec_nanos() != 0 => {
            return Err(Failure::Usage(
                "--delay takes whole seconds, such as 30s or 5m".to_owned(),
            ));
        }
        delay => delay.map(|delay| delay.as_secs()),
    };
    let job = NewJob {
        job_type: args.job_type,
        payload: args.payload.0,
        idempotency_key: args.idempotency_key,
        max_attempts: args.max_attempts,
        timeout_seconds: args.timeout_seconds,
        run_at: args.run_at,
        delay_seconds,
        callback_url: args.callback_url,
    };
    let saved = client.submit(&job).await?;
    if !saved.created && !out.is_json() {
        output::note("note: an earlier submit with this idempotency key stored this job");
    }
    if !args.wait {
        out.print(&saved.value, || output::job(&saved.value))?;
        return Ok(Ended::Done);
    }
    // The job as it ended is the answer: stdout gets nothing else.
    let ended = wait_for(client, &[saved.value.id], args.interval, Show::Quiet).await?;
    let job = ended.first().unwrap_or(&saved.value);
    out.print(job, || output::job(job))?;
    Ok(match job.status {
        JobStatus::Completed => Ended::Done,
        _ => Ended::JobFailed,
    })
}

impl From<WaitError> for Failure {
    fn from(err: WaitError) -> Failure {
        match err {
            WaitError::Api(err) => Failure::Api(err),
            WaitError::Io(err) => Failure::Output(err),
        }
    }
}

async fn list(client: &Client, out: &Output, args: ListArgs) -> Result<Ended, Failure> {
    let mut query = JobQuery {
        status: args.status,
        job_type: args.job_type,
        failure_reason: args.failure_reason,
        finished_after: args.finished_after,
        finished_before: args.finished_before,
        schedule: args.schedule,
        idempotency_key: args.idempotency_key,
        limit: args.limit.or(args.all.then_some(ALL_PAGE_SIZE)),
        page_token: args.page_token,
    };
    if !args.all {
        let page = client.list_jobs(&query).await?;
        out.print(&page, || output::jobs(&page.jobs))?;
        if let Some(token) = &page.next_page_token
            && !out.is_json()
        {
            output::note(&format!(
                "more jobs: add --page-token {token} (or list them all with --all)"
            ));
        }
        return Ok(Ended::Done);
    }
    let mut jobs = Vec::new();
    loop {
        let page = client.list_jobs(&query).await?;
        jobs.extend(page.jobs);
        match page.next_page_token {
            Some(token) => query.page_token = Some(token),
            None => break,
        }
    }
    out.print(&Jobs { jobs: &jobs }, || output::jobs(&jobs))?;
    Ok(Ended::Done)
}

async fn retry(client: &Client, out: &Output, args: RetryArgs) -> Result<Ended, Failure> {
    if let (Some(id), false) = (args.id, args.failed) {
        let job = client.retry_job(id).await?;
        out.print(&job, || output::job(&job))?;
        return Ok(Ended::Done);
    }
    let mut filter = RetryFailed {
        job_type: args.job_type,
        failure_reason: args.failure_reason,
        finished_after: args.finished_after,
        finished_before: args.finished_before,
        ..RetryFailed::default()
    };
    let mut requeued = 0;
    loop {
        let left = args
            .limit
            .map_or(RETRY_SIZE, |limit| limit.saturating_sub(requeued));
        if left == 0 {
            break;
        }
        filter.limit = u32::try_from(left.min(RETRY_SIZE)).ok();
        let answer = client.retry_failed(&filter).await?;
        requeued += answer.requeued;
        match answer.next_page_token {
            Some(token) => filter.page_token = Some(token),
            None => break,
        }
    }
    out.print(&Requeued { requeued }, || {
        format!("{requeued} failed jobs are pending again\n")
    })?;
    Ok(Ended::Done)
}

async fn batch(client: &Client, out: &Output, args: BatchArgs) -> Result<Ended, Failure> {
    let file = args.file.display().to_string();
    let text = read_source(&args.file).map_err(Failure::Usage)?;
    let jobs = parse_batch(&text).map_err(|err| Failure::Usage(format!("{file}: {err}")))?;
    if jobs.is_empty() {
        return Err(Failure::Usage(format!("{file}: no jobs in it")));
    }
    let mut stored = Vec::with_capacity(jobs.len());
    for chunk in jobs.chunks(BATCH_SIZE) {
        match client.submit_batch(chunk).await {
            Ok(answer) => stored.extend(answer),
            Err(err) => {
                if !stored.is_empty() {
                    output::note(&format!(
                        "note: the first {} jobs of {file} were stored; the next {} were not",
                        stored.len(),
                        chunk.len()
                    ));
                }
                return Err(err.into());
            }
        }
    }
    out.print(&Jobs { jobs: &stored }, || output::jobs(&stored))?;
    Ok(Ended::Done)
}

/// Reads `value` as `T`, or says what `flag` lacks.
fn from_json<T: serde::de::DeserializeOwned>(flag: &str, value: Json) -> Result<T, Failure> {
    serde_json::from_value(value.0).map_err(|err| Failure::Usage(format!("{flag}: {err}")))
}

async fn types(client: &Client, out: &Output, command: TypesCommand) -> Result<Ended, Failure> {
    match command {
        TypesCommand::List => {
            let job_types = client.list_job_types().await?;
            out.print(
                &JobTypes {
                    job_types: &job_types,
                },
                || output::job_types(&job_types),
            )?;
        }
        TypesCommand::Get { name } => {
            let job_type = client.get_job_type(&name).await?;
            out.print(&job_type, || output::job_type(&job_type, None))?;
        }
        TypesCommand::Put { name, definition } => {
            let definition: JobTypeDefinition = from_json("--definition", definition)?;
            let saved = client.put_job_type(&name, &definition).await?;
            let answer = &saved.value;
            out.print(answer, || {
                let done = if saved.created { "defined" } else { "replaced" };
                format!(
                    "{done} job type {name}\n{}",
                    output::job_type(&answer.job_type, answer.secret.as_deref())
                )
            })?;
        }
        TypesCommand::Delete { name } => {
            client.delete_job_type(&name).await?;
            let deleted = Deleted {
                name: &name,
                deleted: true,
            };
            out.print(&deleted, || format!("deleted job type {name}\n"))?;
        }
        TypesCommand::RotateSecret { name } => {
            let secret = client.rotate_job_type_secret(&name).await?;
            out.print(&Secret { secret: &secret }, || secret_listing(&secret))?;
        }
    }
    Ok(Ended::Done)
}

async fn schedules(
    client: &Client,
    out: &Output,
    command: SchedulesCommand,
) -> Result<Ended, Failure> {
    let schedule = match command {
        SchedulesCommand::List => {
            let schedules = client.list_schedules().await?;
            out.print(
                &Schedules {
                    schedules: &schedules,
                },
                || output::schedules(&schedules),
            )?;
            return Ok(Ended::Done);
        }
        SchedulesCommand::Delete { name } => {
            client.delete_schedule(&name).await?;
            let deleted = Deleted {
                name: &name,
                deleted: true,
            };
            out.print(&deleted, || format!("deleted schedule {name}\n"))?;
            return Ok(Ended::Done);
        }
        SchedulesCommand::Put(args) => {
            let name = args.name.clone();
            let saved = client
                .put_schedule(&name, &schedule_definition(args))
                .await?;
            let done = if saved.created { "created" } else { "replaced" };
            out.line(&format!("{done} schedule {name}"))?;
            saved.value
        }
        SchedulesCommand::Get { name } => client.get_schedule(&name).await?,
        SchedulesCommand::Pause { name } => client.pause_schedule(&name).await?,
        SchedulesCommand::Resume { name } => client.resume_schedule(&name).await?,
    };
    out.print(&schedule, || output::schedule(&schedule))?;
    Ok(Ended::Done)
}

fn schedule_definition(args: PutScheduleArgs) -> ScheduleDefinition {
    ScheduleDefinition {
        cron: args.cron,
        timezone: args.timezone,
        job: JobTemplate {
            job_type: args.job_type,
            payload: args.payload.0,
            max_attempts: args.max_attempts,
            timeout_seconds: args.timeout_seconds,
        },
        paused: args.paused,
    }
}
