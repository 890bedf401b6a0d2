//! The commands that talk to AWS: `respond`, `approve`, `release`, `verify` and `lockdown`. This is an
//! entry point: it reads the environment (through the SDK's default chain), builds the clients
//! once, and hands them down.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use firebreak_aws::{Clients, Collector, Responder};
use firebreak_core::{ActionOutcome, Config, Decision, IncidentId, Triage};
use serde::Serialize;

use crate::input::{events, sources};
use crate::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK};

/// Where and how to act.
#[derive(Args, Debug, Clone)]
pub struct AwsArgs {
    /// Send every AWS call to this endpoint (a local emulator, say).
    #[arg(long, global = true)]
    pub endpoint: Option<String>,
    /// Region of the security account (default: the SDK's usual lookup).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Make no mutating call at all; report what would be done.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Configuration file (TOML); its [stack] names the evidence bucket and topics.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// On an AWS failure, print the SDK's whole error besides the one-line reason.
    #[arg(long, global = true)]
    pub verbose: bool,
}

/// What to lock down.
#[derive(Subcommand, Debug, Clone)]
pub enum LockdownTarget {
    /// Stop self sign-up on a user pool and sign every user out.
    Cognito {
        /// User pool id.
        #[arg(long)]
        pool: String,
    },
    /// Revoke every session of a role issued before now.
    Role {
        /// Role name.
        #[arg(long)]
        role: String,
    },
}

/// Events to respond to.
pub enum EventSource {
    /// Files, directories, `-`.
    Files(Vec<PathBuf>),
    /// A GuardDuty finding fetched by id.
    Finding {
        id: String,
        detector: Option<String>,
    },
}

pub(crate) async fn sdk(args: &AwsArgs) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(endpoint) = &args.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(region) = &args.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    loader.load().await
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// An AWS failure as one line a responder can act on: what failed, why, and the fix where one
/// is known; with `verbose`, the SDK's whole error on the lines after it.
pub(crate) fn aws_failure(what: &str, e: &firebreak_aws::AwsError, verbose: bool) -> anyhow::Error {
    let mut text = format!("{what}: {} ({})", e.message, e.code);
    if let Some(fix) = e.fix() {
        text.push_str(&format!(". Fix: {fix}"));
    }
    if let (true, Some(detail)) = (verbose, &e.detail) {
        text.push_str(&format!("\n  {detail}"));
    }
    anyhow::anyhow!(text)
}

/// Who is running Firebreak: account and ARN.
async fn caller(clients: &Clients, verbose: bool) -> anyhow::Result<(String, String)> {
    let me = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            aws_failure(
                "cannot tell who is calling (sts:GetCallerIdentity)",
                &firebreak_aws::AwsError::from_sdk(e),
                verbose,
            )
        })?;
    Ok((
        me.account().unwrap_or_default().to_string(),
        me.arn().unwrap_or_default().to_string(),
    ))
}

#[derive(Serialize)]
struct RespondLine<'a> {
    file: &'a str,
    line: usize,
    incident_id: Option<&'a str>,
    ignored: bool,
    reason: Option<&'a str>,
    severity: Option<firebreak_core::Severity>,
    outcomes: &'a [ActionOutcome],
    evidence: Option<&'a str>,
    page_message_id: Option<&'a str>,
    error: Option<String>,
}

/// A responder acting as whoever runs the CLI (caller identity from STS).
pub(crate) async fn responder(triage: &Triage, args: &AwsArgs) -> anyhow::Result<Responder> {
    let clients = Clients::new(&sdk(args).await);
    let (account, arn) = caller(&clients, args.verbose).await?;
    if let Some(stack) = &triage.config().stack.name {
        same_as_deployed(&clients, stack, triage.config(), args).await?;
    }
    let collector = Collector {
        identity: arn.clone(),
        request_id: None,
    };
    let mut responder = Responder::new(
        clients,
        account,
        triage.config().clone(),
        collector,
        args.dry_run,
    )
    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    responder.self_arn = Some(arn);
    Ok(responder)
}

pub(crate) fn incident_id(text: &str) -> anyhow::Result<IncidentId> {
    IncidentId::parse(text).ok_or_else(|| {
        anyhow::anyhow!("{text:?} is not an incident id (FB- and 16 lower-case hex digits)")
    })
}

/// Prints what a run found and did not act on, its outcomes, a closing note and where its
/// records are; the exit code.
fn report(
    stdout: &mut dyn Write,
    run: &firebreak_aws::store::records::Run,
    note: Option<&str>,
) -> anyhow::Result<u8> {
    let (outcomes, location, manifest) = (&run.outcomes, &run.evidence_location, &run.manifest);
    for i in &run.ignored {
        writeln!(stdout, "  ignored: {i}")?;
    }
    for o in outcomes {
        writeln!(stdout, "  {o}")?;
    }
    if let Some(note) = note {
        writeln!(stdout, "  {note}")?;
    }
    match manifest {
        Some(m) => writeln!(stdout, "  records: {location} (manifest {})", m.key)?,
        None => writeln!(stdout, "  records: none written")?,
    }
    Ok(if outcomes.iter().any(|o| o.status.is_failure()) {
        EXIT_FAILED
    } else {
        EXIT_OK
    })
}

pub fn approve(
    triage: Triage,
    args: &AwsArgs,
    id: &str,
    action: Option<usize>,
    stdout: &mut dyn Write,
) -> anyhow::Result<u8> {
    let id = incident_id(id)?;
    runtime()?.block_on(async {
        let responder = responder(&triage, args).await?;
        let approval = firebreak_aws::run::approve::approve(&responder, &triage, &id, action)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let dry = if args.dry_run { " [DRY RUN]" } else { "" };
        let incident = &approval.incident;
        writeln!(
            stdout,
            "{} {} {}: approved by {}{dry}",
            incident.id, incident.severity, incident.title, responder.collector.identity
        )?;
        report(stdout, &approval, None)
    })
}

pub fn release(
    triage: Triage,
    args: &AwsArgs,
    id: &str,
    options: firebreak_core::record::release::Options,
    stdout: &mut dyn Write,
) -> anyhow::Result<u8> {
    let id = incident_id(id)?;
    runtime()?.block_on(async {
        let responder = responder(&triage, args).await?;
        let release = firebreak_aws::run::release::release(&responder, &triage, &id, options)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let dry = if args.dry_run { " [DRY RUN]" } else { "" };
        let incident = &release.incident;
        writeln!(
            stdout,
            "{} {} {}: released by {}{dry}",
            incident.id, incident.severity, incident.title, responder.collector.identity
        )?;
        if release.outcomes.is_empty() {
            writeln!(
                stdout,
                "  nothing Firebreak changed is recorded for this incident"
            )?;
        }
        report(
            stdout,
            &release,
            Some(
                "nothing was stopped or terminated; the locked evidence, termination protection \
                 and snapshots stay",
            ),
        )
    })
}

/// How `respond` prints and how many incidents it runs at once.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// One JSON object per event.
    pub json: bool,
    /// Incidents responded to at once.
    pub jobs: u16,
}

/// One event of a `respond` run, triaged.
enum Item<'a> {
    Bad(String),
    Ignored(String),
    Incident(Box<firebreak_core::Incident>, &'a str),
}

/// `firebreak respond`: every event triaged in turn, then the incidents responded to, up to
/// `out.jobs` at once (the events of one incident one after another, in their order); printed
/// in the input's order.
pub fn respond(
    triage: Triage,
    args: &AwsArgs,
    source: EventSource,
    out: Output,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    use futures::StreamExt;
    let json = out.json;
    runtime()?.block_on(async {
        let responder = responder(&triage, args).await?;
        let inputs: Vec<(String, String)> = match source {
            EventSource::Finding { id, detector } => {
                let text = firebreak_aws::service::guardduty::fetch_finding_event(
                    &responder.home.guardduty,
                    detector.as_deref(),
                    &id,
                )
                .await
                .with_context(|| format!("fetching GuardDuty finding {id}"))?;
                vec![(format!("guardduty:{id}"), text)]
            }
            EventSource::Files(files) => {
                let mut out = Vec::new();
                for s in sources(&files, stdin) {
                    match s {
                        Ok(s) => out.push((s.name, s.text)),
                        Err((name, why)) => anyhow::bail!("{name}: {why}"),
                    }
                }
                out
            }
        };
        // Triage first: pure, in order.
        let mut items: Vec<(&str, usize, Item)> = Vec::new();
        for (name, text) in &inputs {
            for event in events(text) {
                let item = match triage.triage_json(event.text) {
                    Err(e) => Item::Bad(e.to_string()),
                    Ok(Decision::Ignored { reason }) => Item::Ignored(reason),
                    Ok(Decision::Incident(incident)) => Item::Incident(incident, event.text),
                };
                items.push((name.as_str(), event.line, item));
            }
        }
        // Each incident's events in order; incidents side by side, a bounded number at once.
        let mut chains: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, (_, _, item)) in items.iter().enumerate() {
            if let Item::Incident(incident, _) = item {
                match chains
                    .iter_mut()
                    .find(|(id, _)| id.as_str() == incident.id.as_str())
                {
                    Some((_, chain)) => chain.push(i),
                    None => chains.push((incident.id.to_string(), vec![i])),
                }
            }
        }
        let (responder, items_ref) = (&responder, &items);
        let mut responses: Vec<Option<firebreak_aws::Response>> =
            (0..items.len()).map(|_| None).collect();
        let done: Vec<Vec<(usize, firebreak_aws::Response)>> = futures::stream::iter(chains)
            .map(|(_, chain)| async move {
                let mut out = Vec::new();
                for i in chain {
                    if let (_, _, Item::Incident(incident, text)) = &items_ref[i] {
                        out.push((i, responder.respond(incident, text).await));
                    }
                }
                out
            })
            .buffer_unordered(usize::from(out.jobs.max(1)))
            .collect()
            .await;
        for (i, r) in done.into_iter().flatten() {
            responses[i] = Some(r);
        }

        let mut code = EXIT_OK;
        for ((name, line, item), response) in items.iter().zip(&responses) {
            let (name, line) = (*name, *line);
            match item {
                Item::Bad(e) => {
                    writeln!(stderr, "firebreak: {name}:{line}: {e}")?;
                    code = code.max(EXIT_BAD_INPUT);
                }
                Item::Ignored(reason) => {
                    if json {
                        let line = RespondLine {
                            file: name,
                            line,
                            incident_id: None,
                            ignored: true,
                            reason: Some(reason),
                            severity: None,
                            outcomes: &[],
                            evidence: None,
                            page_message_id: None,
                            error: None,
                        };
                        serde_json::to_writer(&mut *stdout, &line)?;
                        writeln!(stdout)?;
                    } else {
                        writeln!(stdout, "{name}: ignored: {reason}\n")?;
                    }
                }
                Item::Incident(incident, _) => {
                    let Some(r) = response else {
                        anyhow::bail!("{name}:{line}: {} was not responded to", incident.id);
                    };
                    if r.any_failed() {
                        code = code.max(EXIT_FAILED);
                    }
                    if let Some(e) = &r.log_error {
                        writeln!(
                            stderr,
                            "firebreak: {name}: {}: the incident log was not appended to: {e}",
                            incident.id
                        )?;
                        code = code.max(EXIT_FAILED);
                    }
                    if json {
                        let line = RespondLine {
                            file: name,
                            line,
                            incident_id: Some(incident.id.as_str()),
                            ignored: false,
                            reason: Some(&incident.severity_reason),
                            severity: Some(incident.severity),
                            outcomes: &r.outcomes,
                            evidence: Some(&r.evidence_location),
                            page_message_id: r.page_message_id.as_deref(),
                            error: None,
                        };
                        serde_json::to_writer(&mut *stdout, &line)?;
                        writeln!(stdout)?;
                    } else {
                        let dry = if args.dry_run { " [DRY RUN]" } else { "" };
                        writeln!(
                            stdout,
                            "{name}: {} {} {}{dry}",
                            incident.id, incident.severity, incident.title
                        )?;
                        for o in &r.outcomes {
                            writeln!(stdout, "  {o}")?;
                        }
                        writeln!(stdout, "  evidence: {}\n", r.evidence_location)?;
                    }
                }
            }
        }
        Ok(code)
    })
}

/// `firebreak verify`: one verdict per evidence object, then a custody entry naming the caller.
pub fn verify(
    triage: Triage,
    args: &AwsArgs,
    id: &str,
    stdout: &mut dyn Write,
) -> anyhow::Result<u8> {
    let id = incident_id(id)?;
    runtime()?.block_on(async {
        let responder = responder(&triage, args).await?;
        let store = &responder.evidence;
        let v = firebreak_aws::run::verify::verify(store, &id, firebreak_aws::run::verify::now())
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let mut code = print_verification(&v, stdout)?;
        if args.dry_run {
            writeln!(stdout, "  custody: not recorded (dry run)")?;
            return Ok(code);
        }
        let by = &responder.collector.identity;
        match firebreak_aws::run::verify::record_custody(store, &v, by, "verify").await {
            Ok(keys) => {
                for k in keys {
                    writeln!(stdout, "  custody: {k} (read by {by})")?;
                }
            }
            Err(e) => {
                writeln!(stdout, "  custody: NOT RECORDED: {e}")?;
                code = EXIT_FAILED;
            }
        }
        Ok(code)
    })
}

/// Prints one verdict per object and a summary; `EXIT_OK` when every verdict is ok.
pub fn print_verification(
    v: &firebreak_aws::run::verify::Verification,
    stdout: &mut dyn Write,
) -> anyhow::Result<u8> {
    writeln!(
        stdout,
        "{}: {} object(s) under {}, {} manifest(s)",
        v.incident_id,
        v.checked.len(),
        v.location,
        v.manifests.len()
    )?;
    for c in &v.checked {
        writeln!(stdout, "  {}: {}", c.key, c.verdict)?;
    }
    let bad = v.checked.iter().filter(|c| !c.verdict.is_ok()).count();
    writeln!(stdout, "  {} ok, {bad} not ok", v.checked.len() - bad)?;
    Ok(if bad == 0 { EXIT_OK } else { EXIT_FAILED })
}

pub fn lockdown(
    triage: Triage,
    args: &AwsArgs,
    what: LockdownTarget,
    stdout: &mut dyn Write,
) -> anyhow::Result<u8> {
    runtime()?.block_on(async {
        let clients = Clients::new(&sdk(args).await);
        let outcomes = match &what {
            LockdownTarget::Cognito { pool } => {
                firebreak_aws::run::lockdown::cognito_pool(&clients, pool, args.dry_run).await
            }
            LockdownTarget::Role { role } => {
                let (account, arn) = caller(&clients, args.verbose).await?;
                let partition = arn.split(':').nth(1).unwrap_or("aws").to_string();
                firebreak_aws::run::lockdown::role(
                    &clients,
                    triage.config(),
                    &account,
                    &partition,
                    role,
                    args.dry_run,
                )
                .await
            }
        };
        for o in &outcomes {
            writeln!(stdout, "{o}")?;
        }
        Ok(if outcomes.iter().any(|o| o.status.is_failure()) {
            EXIT_FAILED
        } else {
            EXIT_OK
        })
    })
}

/// The configuration the deployed stack's functions triage under: the triage function's
/// environment (`<stack>-triage`), read as the functions read it; and the function's ARN.
async fn deployed(
    clients: &Clients,
    stack: &str,
    verbose: bool,
) -> anyhow::Result<(Config, String)> {
    let name = format!("{stack}-triage");
    let out = clients
        .lambda
        .get_function_configuration()
        .function_name(&name)
        .send()
        .await
        .map_err(|e| {
            let e = firebreak_aws::AwsError::from_sdk(e);
            aws_failure(
                &format!("reading the deployed function {name}"),
                &e,
                verbose,
            )
        })?;
    let env: std::collections::HashMap<String, String> = out
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default();
    let settings = firebreak_lambda::Settings::from_lookup(|k| env.get(k).cloned())
        .map_err(|e| anyhow::anyhow!("the deployed function {name}'s settings: {e}"))?;
    let mut config = settings.config;
    config.stack.name = Some(stack.to_string());
    let arn = out.function_arn().unwrap_or_default().to_string();
    Ok((config, arn))
}

/// Refuses to act under a configuration that disagrees with the deployed stack's: the CLI
/// would triage the same events otherwise than the functions do.
async fn same_as_deployed(
    clients: &Clients,
    stack: &str,
    local: &Config,
    args: &AwsArgs,
) -> anyhow::Result<()> {
    let (mut deployed, _) = deployed(clients, stack, args.verbose).await?;
    // Not in the functions' environment: the CLI's own.
    deployed.trail.hunt_state_machine = local.trail.hunt_state_machine.clone();
    let differ = local.differences(&deployed);
    anyhow::ensure!(
        differ.is_empty(),
        "the configuration{} disagrees with the deployed stack {stack} in {}: this command \
         would triage otherwise than its functions do. Fix: `firebreak init --stack {stack} \
         --force` to take the deployed one, or change the stack's parameters",
        args.config
            .as_ref()
            .map(|p| format!(" {}", p.display()))
            .unwrap_or_default(),
        differ.join(", ")
    );
    Ok(())
}

/// `firebreak init`: the CLI's configuration written from the deployed stack (its triage
/// function's settings, and the hunt state machine beside it), so the CLI triages as the
/// functions do.
pub fn init(
    args: &AwsArgs,
    stack: &str,
    out: &std::path::Path,
    force: bool,
    stdout: &mut dyn Write,
) -> anyhow::Result<u8> {
    anyhow::ensure!(
        force || !out.exists(),
        "{} exists: --force replaces it",
        out.display()
    );
    let runtime = runtime()?;
    let (mut config, arn) = runtime.block_on(async {
        let clients = Clients::new(&sdk(args).await);
        deployed(&clients, stack, args.verbose).await
    })?;
    // arn:<partition>:lambda:<region>:<account>:function:<stack>-triage
    let parts: Vec<&str> = arn.split(':').collect();
    if let [_, partition, _, region, account, ..] = parts[..] {
        config.trail.hunt_state_machine = Some(format!(
            "arn:{partition}:states:{region}:{account}:stateMachine:{stack}-hunt"
        ));
    }
    let text = format!(
        "# Written by `firebreak init --stack {stack}` from the deployed triage function's \
         settings.\n# Change the stack's parameters and run it again; commands that act refuse \
         to run while\n# this file and the deployed stack disagree.\n\n{}",
        config.to_toml().map_err(|e| anyhow::anyhow!("{e}"))?
    );
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    writeln!(
        stdout,
        "Wrote {} from stack {stack} ({arn}): pass it with --config.",
        out.display()
    )?;
    Ok(crate::EXIT_OK)
}
