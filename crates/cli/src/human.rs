//! The commands of an incident's paperwork: `ack`, `confirm-breach`, `close`, `notice`, `report`,
//! `clock` and `drill`. Each reads the incident's log from the evidence bucket and appends to it
//! as the caller; the core renders, this module only reads, writes and prints.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use firebreak_aws::run::human::StepResult;
use firebreak_core::record::Record;
use firebreak_core::render::notice::{self, Notice};
use firebreak_core::render::report;
use firebreak_core::{Entry, Obligation, Triage};
use sha2::{Digest, Sha256};

use crate::aws::{AwsArgs, incident_id, responder, runtime, sdk};
use crate::{EXIT_FAILED, EXIT_OK};

/// A human step the log records.
pub enum Step {
    /// `firebreak ack`.
    Ack {
        obligation: Obligation,
        note: Option<String>,
    },
    /// `firebreak confirm-breach`.
    ConfirmBreach { note: Option<String> },
    /// `firebreak close`.
    Close { controls: String },
}

/// The obligation a human typed (`notify-amazon`, `notify_amazon`, `gdpr`, …).
pub fn obligation(text: &str) -> anyhow::Result<Obligation> {
    Obligation::parse(text).ok_or_else(|| {
        let names: Vec<&str> = Obligation::ALL.iter().map(|o| o.as_str()).collect();
        anyhow::anyhow!(
            "{text:?} is not an obligation (one of: {})",
            names.join(", ")
        )
    })
}

/// Runs a human step on incident `id` and prints the incident's deadlines after it.
pub fn step(
    triage: Triage,
    args: &AwsArgs,
    id: &str,
    step: Step,
    stdout: &mut dyn Write,
) -> anyhow::Result<u8> {
    let id = incident_id(id)?;
    runtime()?.block_on(async {
        let responder = responder(&triage, args).await?;
        let result: StepResult = match step {
            Step::Ack { obligation, note } => {
                firebreak_aws::run::human::acknowledge(&responder, &id, obligation, note).await
            }
            Step::ConfirmBreach { note } => {
                firebreak_aws::run::human::confirm_breach(&responder, &id, note).await
            }
            Step::Close { controls } => {
                firebreak_aws::run::human::close(&responder, &id, &controls).await
            }
        }
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let dry = if args.dry_run {
            " [DRY RUN: nothing appended]"
        } else {
            ""
        };
        match &result.appended {
            Some(key) => writeln!(
                stdout,
                "{id}: logged {key} (by {}){dry}",
                responder.collector.identity
            )?,
            None if args.dry_run => writeln!(stdout, "{id}:{dry}")?,
            None => writeln!(stdout, "{id}: already in the log; nothing appended")?,
        }
        for note in &result.notes {
            writeln!(stdout, "  {note}")?;
        }
        print_deadlines(&result.record, stdout)?;
        Ok(if result.failed { EXIT_FAILED } else { EXIT_OK })
    })
}

fn print_deadlines(record: &Record, stdout: &mut dyn Write) -> anyhow::Result<()> {
    let now = Utc::now();
    writeln!(stdout, "  deadlines:")?;
    for d in record.deadlines(now) {
        writeln!(
            stdout,
            "    {:<15} {}",
            d.obligation.as_str(),
            d.describe(now)
        )?;
    }
    Ok(())
}

fn write_out(text: &str, output: Option<&Path>, stdout: &mut dyn Write) -> anyhow::Result<()> {
    match output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display())),
        None => Ok(stdout.write_all(text.as_bytes())?),
    }
}

/// Appends `entry` to incident `id`'s log as the caller; an error names `what` was not logged.
async fn log_one(
    responder: &firebreak_aws::Responder,
    id: &firebreak_core::IncidentId,
    entry: Entry,
    what: &str,
) -> anyhow::Result<()> {
    firebreak_aws::store::log::append(
        &responder.evidence,
        id,
        &responder.collector.identity,
        vec![entry],
        Utc::now(),
    )
    .await
    .map(drop)
    .map_err(|e| anyhow::anyhow!("{what} was not logged: {e}"))
}

/// `firebreak notice`: a draft for a human to review and send; Firebreak sends nothing. The
/// draft's hash is logged, so the record shows which text was prepared and when.
pub fn notice(
    triage: Triage,
    args: &AwsArgs,
    id: &str,
    which: &str,
    output: Option<&Path>,
    stdout: &mut dyn Write,
) -> anyhow::Result<u8> {
    let id = incident_id(id)?;
    let which = Notice::parse(which).ok_or_else(|| {
        anyhow::anyhow!("{which:?} is not a notice (amazon, gdpr-authority, gdpr-subjects)")
    })?;
    runtime()?.block_on(async {
        let responder = responder(&triage, args).await?;
        let store = &responder.evidence;
        let record = firebreak_aws::store::log::record(store, &id)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let text = notice::draft(which, &record, Utc::now());
        write_out(&text, output, stdout)?;
        if !args.dry_run {
            let digest = Sha256::digest(text.as_bytes());
            let sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
            let entry = Entry::NoticeDrafted {
                notice: which.as_str().to_string(),
                sha256,
            };
            log_one(&responder, &id, entry, "the draft").await?;
        }
        Ok(EXIT_OK)
    })
}

/// `firebreak report`: the incident log rendered as Markdown or one self-contained HTML file.
/// Reading the log is a custody entry of its own (after the report, so the report does not list
/// its own reading).
pub fn report(
    triage: Triage,
    args: &AwsArgs,
    id: &str,
    html: bool,
    output: Option<&Path>,
    stdout: &mut dyn Write,
) -> anyhow::Result<u8> {
    let id = incident_id(id)?;
    runtime()?.block_on(async {
        let responder = responder(&triage, args).await?;
        let store = &responder.evidence;
        let read_at = Utc::now();
        let record = firebreak_aws::store::log::record(store, &id)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let text = if html {
            report::html(&record, read_at)
        } else {
            report::markdown(&record, read_at)
        };
        write_out(&text, output, stdout)?;
        if !args.dry_run {
            let entry = Entry::Custody {
                keys: vec![firebreak_aws::store::log::prefix(&id)],
                purpose: "report".into(),
                read_at,
            };
            log_one(&responder, &id, entry, "custody of the reading").await?;
        }
        Ok(EXIT_OK)
    })
}

/// `firebreak clock`: one run of the deadline clock now (the function does this hourly). With
/// `--dry-run`, the same decisions, but nobody is paged and nothing is logged. With
/// `wiring_from` (the deployed clock function), also the clock's self-check: every drift of
/// Firebreak's own wiring is printed with its fix and paged S1 (once per hour).
pub fn clock(
    triage: Triage,
    args: &AwsArgs,
    wiring_from: Option<&str>,
    stdout: &mut dyn Write,
) -> anyhow::Result<u8> {
    runtime()?.block_on(async {
        let responder = responder(&triage, args).await?;
        let store = &responder.evidence;
        let now = Utc::now();
        let tick = firebreak_aws::run::clock::tick(
            store,
            &responder.pager,
            None,
            &responder.collector.identity,
            now,
            args.dry_run,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let paged = if args.dry_run { "would page" } else { "paged" };
        writeln!(
            stdout,
            "clock: {} incident(s) read; {}",
            tick.incidents,
            tick.scan.describe()
        )?;
        for (id, obligations, message_id) in &tick.reminded {
            let names: Vec<&str> = obligations.iter().map(|o| o.as_str()).collect();
            writeln!(
                stdout,
                "  {id}: {paged} {} (message {message_id})",
                names.join(", ")
            )?;
        }
        for id in &tick.already_reminded {
            writeln!(stdout, "  {id}: already reminded this hour")?;
        }
        if let Some(m) = &tick.plan_review {
            writeln!(stdout, "  plan review due: {paged} (message {m})")?;
        }
        for (id, e) in &tick.errors {
            writeln!(stdout, "  {id}: NOT CHECKED: {e}")?;
        }
        let drifted = match wiring_from {
            Some(function) => wiring(&responder, args, function, now, stdout).await?,
            None => false,
        };
        Ok(if tick.errors.is_empty() && !drifted {
            EXIT_OK
        } else {
            EXIT_FAILED
        })
    })
}

/// The clock's self-check from the command line: the wiring the deployed clock `function`'s
/// environment describes (and the clock function itself), checked and printed; true on drift.
async fn wiring(
    responder: &firebreak_aws::Responder,
    args: &AwsArgs,
    function: &str,
    now: chrono::DateTime<Utc>,
    stdout: &mut dyn Write,
) -> anyhow::Result<bool> {
    let (checked, check, _) =
        firebreak_aws::run::wiring::check_deployed(responder, function, now, args.dry_run)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    if check.drifts.is_empty() {
        writeln!(stdout, "wiring: {checked} part(s) checked, no drift")?;
        return Ok(false);
    }
    writeln!(
        stdout,
        "wiring: {checked} part(s) checked, {} DRIFT(S)",
        check.drifts.len()
    )?;
    for line in check.lines() {
        writeln!(stdout, "  - {line}")?;
    }
    match (&check.paged, check.already_paged) {
        (Some(m), _) if args.dry_run => writeln!(stdout, "  S1: would page (message {m})")?,
        (Some(m), _) => writeln!(stdout, "  S1: paged (message {m})")?,
        (None, true) => writeln!(stdout, "  S1: already paged this hour")?,
        (None, false) => {}
    }
    Ok(true)
}

/// `firebreak drill`: a synthetic finding through the deployed pipeline, containment dry; waits
/// up to `wait` for every stage's records, pages the `[DRILL]` summary and logs the verdict.
pub fn drill(
    triage: Triage,
    args: &AwsArgs,
    bus: Option<&str>,
    wait: Duration,
    stdout: &mut dyn Write,
) -> anyhow::Result<u8> {
    // Drills go on Firebreak's own bus, whose policy admits only Firebreak's roles and the
    // responder roles: a drill on the default bus reaches no rule.
    let bus = bus
        .map(str::to_string)
        .unwrap_or_else(|| triage.config().stack.bus.clone());
    if bus.is_empty() {
        anyhow::bail!(
            "no bus to put the drill on: set stack.bus in the configuration (the stack's EventBusName output) or pass --bus"
        );
    }
    runtime()?.block_on(async {
        let sdk = sdk(args).await;
        let responder = responder(&triage, args).await?;
        let region = sdk
            .region()
            .map(|r| r.as_ref().to_string())
            .unwrap_or_else(|| "us-east-1".into());
        let now = Utc::now();
        if args.dry_run {
            let run = now.format("%Y%m%dT%H%M%S").to_string();
            writeln!(stdout, "would put on bus {bus}:")?;
            writeln!(
                stdout,
                "{}",
                firebreak_core::lifecycle::drill::event(
                    &run,
                    &responder.home_account,
                    &region,
                    now
                )
            )?;
            return Ok(EXIT_OK);
        }
        let on = firebreak_aws::Bus::new(aws_sdk_eventbridge::Client::new(&sdk), bus.as_str());
        let started =
            firebreak_aws::run::drill::start(&on, &triage, &responder.home_account, &region, now)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        writeln!(
            stdout,
            "[DRILL] {}: event {} on bus {bus}; waiting up to {} s for the pipeline",
            started.incident_id,
            started.event_id,
            wait.as_secs()
        )?;
        let verdict = firebreak_aws::run::drill::finish(
            &responder.evidence,
            &responder.pager,
            &responder.collector.identity,
            &started.incident_id,
            wait,
            Duration::from_secs(2),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        print_verdict(&verdict, stdout)
    })
}

/// Prints a drill's checks; `EXIT_OK` when it passed.
pub fn print_verdict(
    verdict: &firebreak_aws::run::drill::Verdict,
    stdout: &mut dyn Write,
) -> anyhow::Result<u8> {
    for c in &verdict.checks {
        let mark = if c.passed { "ok  " } else { "FAIL" };
        writeln!(stdout, "  {mark} {:<9} {}", c.stage, c.expects)?;
    }
    let word = if verdict.passed { "passed" } else { "FAILED" };
    writeln!(
        stdout,
        "[DRILL] {} {word}; summary paged{}",
        verdict.incident_id,
        verdict
            .message_id
            .as_deref()
            .map(|m| format!(" (message {m})"))
            .unwrap_or_default()
    )?;
    Ok(if verdict.passed { EXIT_OK } else { EXIT_FAILED })
}

/// `firebreak doctor`: everything that would leave Firebreak blind or toothless in this account
/// and region, each problem with its fix; exit 1 on any. Reads only: the wiring check runs dry.
/// The member accounts `doctor` checks, and the read-only role it enters them through.
pub struct Members {
    /// Account ids.
    pub accounts: Vec<String>,
    /// The audit role's name.
    pub role: String,
}

pub fn doctor(
    triage: Triage,
    args: &AwsArgs,
    clock_function: &str,
    members: &Members,
    json: bool,
    stdout: &mut dyn Write,
) -> anyhow::Result<u8> {
    for account in &members.accounts {
        firebreak_core::action::names::account_id(account)
            .map_err(|e| anyhow::anyhow!("--accounts: {e}"))?;
    }
    runtime()?.block_on(async {
        let responder = responder(&triage, args).await?;
        let now = Utc::now();
        let (observed, mut diagnosis) =
            firebreak_aws::run::doctor::examine(&responder, clock_function, now).await;
        if !members.accounts.is_empty() {
            diagnosis.checked.push("member");
        }
        let partition = responder
            .self_arn
            .as_deref()
            .and_then(|a| a.split(':').nth(1))
            .unwrap_or("aws")
            .to_string();
        for account in &members.accounts {
            diagnosis.problems.extend(
                firebreak_aws::run::doctor::examine_member(
                    &responder.home,
                    &partition,
                    account,
                    &members.role,
                )
                .await,
            );
        }
        if json {
            writeln!(stdout, "{}", serde_json::to_string(&diagnosis)?)?;
        } else {
            writeln!(
                stdout,
                "doctor: {} in {}: {} problem(s)",
                diagnosis.checked.join(", "),
                observed.region,
                diagnosis.problems.len()
            )?;
            for p in &diagnosis.problems {
                writeln!(
                    stdout,
                    "  - [{}] {}\n    Fix: {}",
                    p.check, p.problem, p.fix
                )?;
            }
        }
        Ok(if diagnosis.problems.is_empty() {
            EXIT_OK
        } else {
            EXIT_FAILED
        })
    })
}
