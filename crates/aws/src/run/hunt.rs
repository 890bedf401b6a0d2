//! A hunt fanned out over Step Functions: the worker (one batch of log files, run by the hunt
//! function for each item of the state machine's Distributed Map) and the driver of one round
//! (`firebreak hunt --remote`): the batches written as the Map's manifest, the execution
//! started and waited for, the workers' parts read back.

use std::time::Duration;

use chrono::{DateTime, Utc};
use firebreak_core::hunt::remote::{self, Batch, File, Item, Job, Task};
use firebreak_core::hunt::{Compiled, Pass, Query};

use crate::sdk::error::{AwsError, SdkResultExt};
use crate::service::trail::{self, Location, LogFile};
use crate::store::evidence::EvidenceStore;

/// Log files a worker reads at once: each may inflate to the scan's cap (256 MiB), and the
/// function has 1,769 MB.
const WORKER_DOWNLOADS: usize = 2;
/// Batch file lists the CLI writes at once.
const UPLOADS_IN_FLIGHT: usize = 16;

/// Runs one Map item: the round's job and the batch read from the evidence bucket (the task
/// only names them), checked against the configured trail, its files read and scanned, the
/// part written (once). Returns the small answer the Map collects. A file that cannot be read
/// is named in the part, not an error; an error is a task that must not run (`BadTask`), or
/// results that could not be stored (Step Functions retries it).
pub async fn work(
    trail_s3: &aws_sdk_s3::Client,
    logs: &Location,
    trail: &str,
    evidence: &EvidenceStore,
    raw: &str,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, AwsError> {
    let bad = |e: String| AwsError::new("BadTask", e);
    let task: Task = serde_json::from_str(raw).map_err(|e| bad(format!("not a hunt task: {e}")))?;
    let (job_key, batch_key, part_key) = task.keys().map_err(bad)?;
    let job: Job = read_json(evidence, &job_key).await?;
    let batch: Batch = read_json(evidence, &batch_key).await?;
    let query = remote::check(&task, &job, &batch, trail, &logs.prefix).map_err(bad)?;
    let files: Vec<LogFile> = batch
        .files
        .iter()
        .map(|f| LogFile {
            key: f.key.clone(),
            size: f.size,
        })
        .collect();
    let pass = trail::search(
        trail_s3,
        &logs.bucket,
        &files,
        std::sync::Arc::new(Compiled::new(query)),
        firebreak_core::hunt::scan::DEFAULT_INFLATE_CAP,
        WORKER_DOWNLOADS,
        &|_| {},
    )
    .await;
    let (body, answer) = remote::write_part(&task.folder, &task.part, pass)
        .map_err(|e| AwsError::new("Serialization", e))?;
    evidence.put_once(&part_key, body, now).await?;
    Ok(answer)
}

/// `value` as JSON bytes.
fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, AwsError> {
    serde_json::to_vec(value).map_err(|e| AwsError::new("Serialization", e.to_string()))
}

/// A JSON object of the evidence bucket; one that is missing or not the shape is a bad task.
async fn read_json<T: serde::de::DeserializeOwned>(
    evidence: &EvidenceStore,
    key: &str,
) -> Result<T, AwsError> {
    let bytes = evidence.read(key).await.map_err(|e| {
        if e.code == "NoSuchKey" {
            AwsError::new("BadTask", format!("{key} does not exist: {}", e.message))
        } else {
            e
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| AwsError::new("BadTask", format!("{key}: {e}")))
}

/// Where a fanned-out hunt runs: the state machine, and the evidence bucket its manifests and
/// parts live in.
#[derive(Debug, Clone)]
pub struct Remote {
    /// Step Functions.
    pub sfn: aws_sdk_sfn::Client,
    /// The evidence bucket.
    pub evidence: EvidenceStore,
    /// The hunt state machine's ARN.
    pub state_machine: String,
    /// How often an execution is looked at while it runs.
    pub poll: Duration,
}

/// One execution of a round: its batches, and its ARN once started.
#[derive(Debug, Clone)]
pub struct Execution {
    /// The execution's ARN.
    pub arn: String,
    /// The round it runs.
    pub job: Job,
    /// The batches it runs.
    pub batches: Vec<Batch>,
}

impl Remote {
    /// Writes the round's job, each batch's file list and each execution's manifest (the
    /// batches' names, at most [`remote::EXECUTION_BATCHES`]) and starts the executions; the
    /// workers read `files` of `trail` for `query` as round `round` of hunt `id`.
    pub async fn start(
        &self,
        id: &str,
        round: usize,
        trail: &str,
        files: &[LogFile],
        query: &Query,
        now: DateTime<Utc>,
    ) -> Result<Vec<Execution>, AwsError> {
        let job = Job::new(id, round, trail, query);
        self.evidence
            .put_once(&job.job_key(), to_json(&job)?, now)
            .await?;
        let files: Vec<File> = files
            .iter()
            .map(|f| File {
                key: f.key.clone(),
                size: f.size,
            })
            .collect();
        let all = remote::batches(&files);
        let mut uploads = tokio::task::JoinSet::new();
        for batch in &all {
            if uploads.len() >= UPLOADS_IN_FLIGHT
                && let Some(done) = uploads.join_next().await
            {
                done.map_err(|e| AwsError::new("UploadFailed", e.to_string()))??;
            }
            let (evidence, key, body) = (
                self.evidence.clone(),
                job.batch_key(&batch.part),
                to_json(batch)?,
            );
            uploads.spawn(async move { evidence.put_once(&key, body, now).await });
        }
        while let Some(done) = uploads.join_next().await {
            done.map_err(|e| AwsError::new("UploadFailed", e.to_string()))??;
        }
        let mut out = Vec::new();
        for (n, batches) in all.chunks(remote::EXECUTION_BATCHES).enumerate() {
            let key = job.manifest_key(n);
            let items: Vec<Item> = batches
                .iter()
                .map(|b| Item {
                    part: b.part.clone(),
                })
                .collect();
            self.evidence.put_once(&key, to_json(&items)?, now).await?;
            let input = serde_json::json!({ "manifest": key, "folder": job.folder() });
            let started = self
                .sfn
                .start_execution()
                .state_machine_arn(&self.state_machine)
                .name(format!("{id}-r{round:02}-{n:03}"))
                .input(input.to_string())
                .send()
                .await
                .aws()?;
            out.push(Execution {
                arn: started.execution_arn,
                job: job.clone(),
                batches: batches.to_vec(),
            });
        }
        Ok(out)
    }

    /// Waits for an execution to end; its output when it succeeded, why not otherwise.
    pub async fn wait(&self, execution: &Execution) -> Result<String, AwsError> {
        use aws_sdk_sfn::types::ExecutionStatus;
        loop {
            let d = self
                .sfn
                .describe_execution()
                .execution_arn(&execution.arn)
                .send()
                .await
                .aws()?;
            match d.status {
                ExecutionStatus::Running | ExecutionStatus::PendingRedrive => {
                    tokio::time::sleep(self.poll).await
                }
                ExecutionStatus::Succeeded => return Ok(d.output.unwrap_or_default()),
                other => {
                    return Err(AwsError::new(
                        "HuntFailed",
                        format!(
                            "execution {} ended {}: {} {}",
                            execution.arn,
                            other.as_str(),
                            d.error.unwrap_or_default(),
                            d.cause.unwrap_or_default()
                        ),
                    ));
                }
            }
        }
    }

    /// Stops an execution (a round being abandoned).
    pub async fn stop(&self, execution: &Execution, why: &str) -> Result<(), AwsError> {
        self.sfn
            .stop_execution()
            .execution_arn(&execution.arn)
            .cause(why)
            .send()
            .await
            .aws()
            .map(|_| ())
    }

    /// Reads every batch's part of a finished execution into one pass; a batch whose part is
    /// missing or unreadable has its files named as unread, never dropped.
    /// `trail_bucket` names the files.
    pub async fn collect(&self, execution: &Execution, trail_bucket: &str) -> Pass {
        let job = &execution.job;
        let mut pass = Pass::default();
        for batch in &execution.batches {
            let key = job.part_key(&batch.part);
            let read = match self.evidence.read(&key).await {
                Ok(bytes) => remote::read_part(&bytes, job, batch),
                Err(e) => Err(format!("no results ({}: {})", e.code, e.message)),
            };
            match read {
                Ok(part) => pass.merge(part),
                Err(why) => {
                    for f in &batch.files {
                        pass.files += 1;
                        pass.unreadable.push((
                            format!("s3://{trail_bucket}/{}", f.key),
                            format!(
                                "batch {} of s3://{}/{key}: {why}",
                                batch.part,
                                self.evidence.bucket()
                            ),
                        ));
                    }
                }
            }
        }
        pass
    }
}
