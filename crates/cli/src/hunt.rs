//! `firebreak hunt`: every record of a principal in CloudTrail log files (local, or a trail's
//! S3 bucket), the sessions it minted followed, each record judged by the rules. Files are
//! read and scanned on every core; a worker holds one file (or, past the inflate cap, one
//! record) at a time.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use firebreak_aws::service::trail::{self, Location, LogFile, Scope};
use firebreak_core::Triage;
use firebreak_core::action::names::printable_line;
use firebreak_core::hunt::query::Light;
use firebreak_core::hunt::scan::{DEFAULT_INFLATE_CAP, scan};
use firebreak_core::hunt::summary::{lines, render_summary, render_timeline, summarise};
use firebreak_core::hunt::{
    Compiled, FOLLOW_ROUNDS, FileScan, Follow, Hit, Pass, Query, ScanError, Who, conflicts,
};

use crate::{EXIT_FAILED, EXIT_OK};

/// How long before the window a session used in it may have been minted: GetSessionToken and
/// GetFederationToken give up to 36 hours.
const MINTED_BEFORE: chrono::Duration = chrono::Duration::hours(36);
/// Objects downloaded at once from S3.
const DOWNLOADS_IN_FLIGHT: usize = 16;

/// `firebreak hunt`'s arguments.
#[derive(Args, Debug, Clone)]
pub struct HuntArgs {
    /// Where the logs are: `s3://bucket[/trail-prefix]`, or local files and directories
    /// (`.json.gz` or `.json` CloudTrail log files).
    #[arg(required = true)]
    pub sources: Vec<String>,
    /// Whose records: an access key id, an IAM user or role ARN, an assumed-role session ARN,
    /// a root ARN, or `root`. Repeatable; none means everyone's.
    #[arg(long)]
    pub principal: Vec<String>,
    /// Records at or after this time (RFC 3339, or YYYY-MM-DD). Default: 90 days before
    /// --until.
    #[arg(long)]
    pub since: Option<String>,
    /// Records before this time (RFC 3339, or YYYY-MM-DD). Default: now.
    #[arg(long)]
    pub until: Option<String>,
    /// Only these calls (`eventName`) are shown; sessions minted by others are still followed.
    /// Repeatable.
    #[arg(long)]
    pub event: Vec<String>,
    /// Only calls from these addresses. Repeatable.
    #[arg(long)]
    pub source_ip: Vec<String>,
    /// Only these accounts: only their records are searched (S3: only their folders are
    /// listed), so a session minted in another account is not followed. Repeatable.
    #[arg(long)]
    pub account: Vec<String>,
    /// Only these regions, searched as --account is. Repeatable.
    #[arg(long)]
    pub region: Vec<String>,
    /// One NDJSON line per matching record on standard output (the summary goes to standard
    /// error).
    #[arg(long)]
    pub json: bool,
    /// Do not follow the sessions a hunted key minted.
    #[arg(long)]
    pub no_follow: bool,
    /// Worker threads (default: every core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// S3 endpoint (a local emulator, say).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// The trail bucket's region (default: the SDK's usual lookup).
    #[arg(long)]
    pub bucket_region: Option<String>,
    /// Configuration file (TOML) the indicator rules are judged under.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Fan the files out over the stack's hunt state machine (a Lambda worker per batch)
    /// instead of reading them here: an S3 source only; the batches and results are kept under
    /// `hunts/<id>/` in the evidence bucket (`[stack] evidence_bucket`).
    #[arg(long)]
    pub remote: bool,
    /// The hunt state machine's ARN (default: `[trail] hunt_state_machine`).
    #[arg(long)]
    pub state_machine: Option<String>,
}

/// Where the files come from.
enum Files {
    Local(Vec<PathBuf>),
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
        files: Vec<LogFile>,
    },
}

impl Files {
    fn len(&self) -> usize {
        match self {
            Files::Local(paths) => paths.len(),
            Files::S3 { files, .. } => files.len(),
        }
    }
}

/// Counters the progress line reads.
#[derive(Default)]
struct Progress {
    files: AtomicU64,
    bytes: AtomicU64,
    records: AtomicU64,
    matches: AtomicU64,
}

/// Runs a hunt; exit 1 when a file could not be read (the rest are searched and reported).
pub fn run(
    triage: &Triage,
    args: &HuntArgs,
    now: DateTime<Utc>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    let until = match &args.until {
        Some(t) => firebreak_core::hunt::query::parse_time(t).map_err(anyhow::Error::msg)?,
        None => now,
    };
    let since = match &args.since {
        Some(t) => firebreak_core::hunt::query::parse_time(t).map_err(anyhow::Error::msg)?,
        None => until - chrono::Duration::days(90),
    };
    anyhow::ensure!(since < until, "--since must be before --until");
    let named = args
        .principal
        .iter()
        .map(|p| Who::parse(p).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<Who>>>()?;
    let base = Query {
        principals: Vec::new(),
        since: Some(since),
        until: Some(until),
        events: args.event.clone(),
        source_ips: args.source_ip.clone(),
        accounts: args.account.clone(),
        regions: args.region.clone(),
    };
    for account in &base.accounts {
        anyhow::ensure!(
            account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()),
            "--account {account:?}: an account id is 12 digits"
        );
    }
    for region in &base.regions {
        anyhow::ensure!(
            trail::is_region(region),
            "--region {region:?} is not a region name (us-east-1, eu-west-2 …)"
        );
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let runtime = crate::aws::runtime()?;
    let files = runtime.block_on(files(args, &base, !named.is_empty()))?;
    anyhow::ensure!(
        files.len() > 0,
        "no CloudTrail log files under {} for these days, accounts and regions: check the \
         location (the folder above AWSLogs/), --account and --region",
        args.sources.join(", ")
    );
    let show_progress = std::io::stderr().is_terminal();

    // The files are searched wider than what is shown, so that a session minted just before
    // the window, or by a call the filters leave out, is still followed: from MINTED_BEFORE
    // earlier (the longest a minted session lives), in every region read (the global STS
    // endpoint records AssumeRole in us-east-1). --event, --source-ip, --region and the window
    // then narrow what is shown.
    let scope = if named.is_empty() {
        base.clone()
    } else {
        Query {
            since: Some(since - MINTED_BEFORE),
            events: Vec::new(),
            source_ips: Vec::new(),
            regions: Vec::new(),
            ..base.clone()
        }
    };
    let remote = if args.remote {
        Some(fan_out(&runtime, triage, args, &files, now)?)
    } else {
        None
    };
    let mut follow = Follow::new(&named, !args.no_follow);
    let mut round = 0;
    while let Some(query) = follow.next_query(&scope) {
        let pass = match &remote {
            Some(fan) => runtime.block_on(fan.round(round, &query, now))?,
            None => scan_all(&runtime, &files, &query, jobs, show_progress)?,
        };
        follow.absorb(pass);
        round += 1;
    }
    let unfollowed = follow.unfollowed().to_vec();
    let (hunted, hits, all) = follow.finish();
    let conflicting = conflicts(&hits);
    let shown = Compiled::new(Query {
        principals: hunted.iter().map(|h| h.who.clone()).collect(),
        ..base
    });
    // Reading the hits again (the filters shown, each judged by the rules) is spread over the
    // workers too: a busy principal has tens of thousands.
    let keep: Vec<bool> = on_every_core(&hits, jobs, |chunk| {
        chunk
            .iter()
            .map(|hit| {
                serde_json::from_str::<Light>(&hit.raw).is_ok_and(|l| shown.matches(&l).is_some())
            })
            .collect()
    });
    let hits: Vec<Hit> = hits
        .into_iter()
        .zip(keep)
        .filter_map(|(hit, keep)| keep.then_some(hit))
        .collect();
    let timeline = on_every_core(&hits, jobs, |chunk| lines(chunk, triage));
    let summary = summarise(&timeline, &hunted);
    if args.json {
        for hit in &hits {
            writeln!(stdout, "{}", hit.raw)?;
        }
    } else {
        stdout.write_all(render_timeline(&timeline, &hunted).as_bytes())?;
        writeln!(stdout)?;
    }
    let summary_out: &mut dyn Write = if args.json { stderr } else { stdout };
    writeln!(
        summary_out,
        "Searched {} files, {:.1} MB of JSON, {} records.",
        files.len(),
        all.json_bytes as f64 / 1e6,
        all.records
    )?;
    summary_out.write_all(render_summary(&summary).as_bytes())?;
    if let Some(fan) = &remote {
        writeln!(
            summary_out,
            "Fanned out over {} in {round} round(s); the batches and every match are kept in s3://{}/{}{}/",
            fan.remote.state_machine,
            fan.remote.evidence.bucket(),
            firebreak_core::hunt::remote::PREFIX,
            fan.id
        )?;
    }
    let mut code = EXIT_OK;
    for m in &unfollowed {
        writeln!(
            stderr,
            "firebreak hunt: not followed (a chain of over {FOLLOW_ROUNDS} rounds): {} ({})",
            m.who,
            printable_line(&m.origin)
        )?;
        code = EXIT_FAILED;
    }
    for id in &conflicting {
        writeln!(
            stderr,
            "firebreak hunt: event {} is in the files twice with different contents: somebody \
             wrote to the trail's bucket; both copies are shown",
            printable_line(id)
        )?;
        code = EXIT_FAILED;
    }
    if all.unreadable.is_empty() {
        return Ok(code);
    }
    for (name, why) in &all.unreadable {
        writeln!(
            stderr,
            "firebreak hunt: skipped {}: {}",
            printable_line(name),
            printable_line(why)
        )?;
    }
    writeln!(
        stderr,
        "firebreak hunt: {} files could not be read; their records were not searched",
        all.unreadable.len()
    )?;
    Ok(EXIT_FAILED)
}

/// `f` over `items` in `jobs` contiguous chunks at once, the results in the items' order.
fn on_every_core<T: Sync, U: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&[T]) -> Vec<U> + Sync,
) -> Vec<U> {
    let size = items.len().div_ceil(jobs.max(1)).max(1);
    std::thread::scope(|threads| {
        let parts: Vec<_> = items
            .chunks(size)
            .map(|chunk| threads.spawn(|| f(chunk)))
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// The files to read: listed from S3 by the trail's layout, or walked locally.
async fn files(args: &HuntArgs, q: &Query, following: bool) -> anyhow::Result<Files> {
    let s3: Vec<&String> = args
        .sources
        .iter()
        .filter(|s| s.starts_with("s3://"))
        .collect();
    if s3.is_empty() {
        let mut paths = Vec::new();
        for source in &args.sources {
            walk(Path::new(source), &mut paths)?;
        }
        paths.sort();
        return Ok(Files::Local(paths));
    }
    anyhow::ensure!(
        s3.len() == 1 && args.sources.len() == 1,
        "hunt one S3 location at a time, without local files"
    );
    let at = Location::parse(s3[0]).context("an S3 location is s3://bucket[/trail-prefix]")?;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(endpoint) = &args.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(region) = &args.bucket_region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let sdk = loader.load().await;
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let mut regions = q.regions.clone();
    if following && !regions.is_empty() && !regions.iter().any(|r| r == "us-east-1") {
        regions.push("us-east-1".into());
    }
    let since = q
        .since
        .map(|t| if following { t - MINTED_BEFORE } else { t });
    let scope = Scope {
        accounts: q.accounts.clone(),
        regions,
        first_day: since.map(|t| t.date_naive()),
        last_day: q
            .until
            .map(|t| (t - chrono::Duration::nanoseconds(1)).date_naive()),
    };
    let files = trail::list(&client, &at, &scope)
        .await
        .map_err(|e| crate::aws::aws_failure("listing the trail's log files", &e, false))?;
    Ok(Files::S3 {
        client,
        bucket: at.bucket,
        files,
    })
}

/// Log files under `path` (itself, when a file), depth first.
fn walk(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(path).with_context(|| format!("{}", path.display()))? {
        let entry = entry?;
        let p = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&p, out)?;
        } else {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.ends_with(".json.gz") || name.ends_with(".json") {
                out.push(p);
            }
        }
    }
    Ok(())
}

/// A local file's bytes, refused unread when larger than any log file can be.
fn read_capped(path: &Path) -> Result<Vec<u8>, ScanError> {
    let size = std::fs::metadata(path)
        .map_err(|e| ScanError::Read(e.to_string()))?
        .len();
    if size > DEFAULT_INFLATE_CAP as u64 {
        return Err(ScanError::TooLarge(DEFAULT_INFLATE_CAP));
    }
    std::fs::read(path).map_err(|e| ScanError::Read(e.to_string()))
}

/// One pass: every file scanned for `query` by `jobs` workers.
fn scan_all(
    runtime: &tokio::runtime::Runtime,
    files: &Files,
    query: &Compiled,
    jobs: usize,
    show_progress: bool,
) -> anyhow::Result<Pass> {
    let progress = Progress::default();
    let pass = Mutex::new(Pass::default());
    let done = AtomicBool::new(false);
    let total = files.len() as u64;
    let record = |name: &str, result: Result<FileScan, ScanError>| {
        progress.files.fetch_add(1, Ordering::Relaxed);
        if let Ok(scan) = &result {
            progress.bytes.fetch_add(scan.json_bytes, Ordering::Relaxed);
            progress.records.fetch_add(scan.records, Ordering::Relaxed);
            let hits = scan.hits.len() as u64;
            progress.matches.fetch_add(hits, Ordering::Relaxed);
        }
        pass.lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(name, result);
    };
    let next = AtomicU64::new(0);
    std::thread::scope(|outer| {
        if show_progress {
            outer.spawn(|| draw_progress(&progress, total, &done));
        }
        std::thread::scope(|threads| match files {
            Files::Local(paths) => {
                for _ in 0..jobs {
                    threads.spawn(|| {
                        let mut buffer = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                            let Some(path) = paths.get(i) else { break };
                            let name = path.display().to_string();
                            let result = read_capped(path).and_then(|data| {
                                scan(&data, query, DEFAULT_INFLATE_CAP, &mut buffer)
                            });
                            record(&name, result);
                        }
                    });
                }
            }
            Files::S3 {
                client,
                bucket,
                files,
                ..
            } => {
                let on_file = |result: &Result<FileScan, ScanError>| {
                    progress.files.fetch_add(1, Ordering::Relaxed);
                    if let Ok(scan) = result {
                        progress.bytes.fetch_add(scan.json_bytes, Ordering::Relaxed);
                        progress.records.fetch_add(scan.records, Ordering::Relaxed);
                        let hits = scan.hits.len() as u64;
                        progress.matches.fetch_add(hits, Ordering::Relaxed);
                    }
                };
                let query = std::sync::Arc::new(query.clone());
                let found = runtime.block_on(trail::search(
                    client,
                    bucket,
                    files,
                    query,
                    DEFAULT_INFLATE_CAP,
                    DOWNLOADS_IN_FLIGHT.max(jobs),
                    &on_file,
                ));
                *pass.lock().unwrap_or_else(|e| e.into_inner()) = found;
            }
        });
        done.store(true, Ordering::Relaxed);
    });
    if show_progress {
        eprint!("\r\x1b[K");
    }
    Ok(pass.into_inner().unwrap_or_else(|e| e.into_inner()))
}

/// The progress line on a terminal: files, MB, records, matches, ETA; redrawn five times a
/// second. Only numbers are printed, so it writes to the terminal directly.
fn draw_progress(p: &Progress, total: u64, done: &AtomicBool) {
    let start = Instant::now();
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        let files = p.files.load(Ordering::Relaxed);
        if files >= total {
            break;
        }
        let elapsed = start.elapsed().as_secs_f64();
        let eta = if files > 0 {
            format!("{:.0}s", elapsed / files as f64 * (total - files) as f64)
        } else {
            "?".into()
        };
        eprint!(
            "\r\x1b[Kfiles {files}/{total}  {:.1} MB  {} records  {} matches  ETA {eta}",
            p.bytes.load(Ordering::Relaxed) as f64 / 1e6,
            p.records.load(Ordering::Relaxed),
            p.matches.load(Ordering::Relaxed),
        );
    }
}

/// A hunt fanned out over the stack's state machine.
struct FanOut {
    remote: firebreak_aws::run::hunt::Remote,
    id: String,
    trail: String,
    trail_bucket: String,
    files: Vec<LogFile>,
}

/// The state machine and evidence bucket a `--remote` hunt uses, and its id.
fn fan_out(
    runtime: &tokio::runtime::Runtime,
    triage: &Triage,
    args: &HuntArgs,
    files: &Files,
    now: DateTime<Utc>,
) -> anyhow::Result<FanOut> {
    let Files::S3 { bucket, files, .. } = files else {
        anyhow::bail!(
            "--remote hunts an S3 location (s3://bucket[/trail-prefix]), not local files"
        );
    };
    let config = triage.config();
    let state_machine = args
        .state_machine
        .clone()
        .or_else(|| config.trail.hunt_state_machine.clone())
        .context(
            "--remote needs the hunt state machine: --state-machine ARN, or [trail] \
             hunt_state_machine (the stack's HuntStateMachineArn output)",
        )?;
    anyhow::ensure!(
        !config.stack.evidence_bucket.is_empty(),
        "--remote keeps its batches and results in the evidence bucket: set [stack] evidence_bucket"
    );
    // The workers read only the stack's trail: the same location must be hunted. Both are
    // named in one spelling (the job carries it; the worker compares it with its own).
    let trail = Location::parse(&args.sources[0])
        .context("an S3 location is s3://bucket[/trail-prefix]")?
        .url();
    if let Some(configured) = &config.trail.logs {
        let same = Location::parse(configured).map(|l| l.url()) == Some(trail.clone());
        anyhow::ensure!(
            same,
            "--remote hunts the stack's trail ([trail] logs = {configured}), not {trail}"
        );
    }
    // Step Functions and the evidence bucket in the state machine's region (the trail's
    // bucket may be elsewhere).
    let region = state_machine
        .split(':')
        .nth(3)
        .filter(|r| trail::is_region(r))
        .with_context(|| format!("{state_machine:?} is not a state machine ARN"))?
        .to_string();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region));
    if let Some(endpoint) = &args.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    let sdk = runtime.block_on(loader.load());
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let evidence = firebreak_aws::EvidenceStore::new(
        s3,
        config.stack.evidence_bucket.clone(),
        config.evidence.retention_days,
        config.evidence.lock_mode == firebreak_core::config::LockMode::Governance,
    );
    let salt = u64::from(std::process::id()) << 32 ^ u64::from(now.timestamp_subsec_nanos());
    Ok(FanOut {
        remote: firebreak_aws::run::hunt::Remote {
            sfn: aws_sdk_sfn::Client::new(&sdk),
            evidence,
            state_machine,
            poll: Duration::from_secs(2),
        },
        id: format!("{}-{salt:x}", now.format("%Y%m%dt%H%M%S")),
        trail,
        trail_bucket: bucket.clone(),
        files: files.clone(),
    })
}

impl FanOut {
    /// One round: its executions started, waited for, and their parts read into one pass.
    async fn round(
        &self,
        round: usize,
        query: &Compiled,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Pass> {
        let executions = self
            .remote
            .start(
                &self.id,
                round,
                &self.trail,
                &self.files,
                query.query(),
                now,
            )
            .await
            .map_err(|e| crate::aws::aws_failure("starting the hunt's executions", &e, false))?;
        let mut pass = Pass::default();
        for (n, execution) in executions.iter().enumerate() {
            if let Err(e) = self.remote.wait(execution).await {
                // The round is abandoned: its other executions would read on for nobody.
                for other in &executions[n + 1..] {
                    let _ = self
                        .remote
                        .stop(other, "another execution of the round failed")
                        .await;
                }
                return Err(crate::aws::aws_failure("waiting for the hunt", &e, false));
            }
            pass.merge(self.remote.collect(execution, &self.trail_bucket).await);
        }
        Ok(pass)
    }
}
