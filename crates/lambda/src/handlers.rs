//! The handlers. Each reads its event, does its step at most once per incident (the
//! evidence bucket's conditional writes are the lock), and tells the next function through the
//! bus. A bus event only points at the locked source event; each function triages that again.

use chrono::Utc;
use firebreak_aws::store::evidence::{Once, StepClaim, Then};
use firebreak_aws::store::format::{PageClaim, StageClaim};
use firebreak_aws::store::log;
use firebreak_aws::{Collector, EvidenceStore};
use firebreak_core::lifecycle::forensic;
use firebreak_core::render::page;
use firebreak_core::{
    ActionOutcome, Decision, DetailType, Entry, Event, Incident, IncidentId, IncidentNotice, Mode,
    PageKind, Route, Stage, StageFinished,
};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{Context, FunctionError};

/// How long a claimed step may run before a later delivery takes it over. Longer than the
/// timeout of the functions in `infra/template.yaml` that wait for nothing (60 s).
pub const STALE_AFTER_SECONDS: i64 = 90;

/// The same for `preserve`, whose timeout is 900 s: it waits for an instance's memory.
pub const PRESERVE_STALE_AFTER_SECONDS: i64 = 960;

/// The same for `contain`, whose timeout is 720 s: it waits for preserve to take an instance's
/// evidence before changing the instance.
pub const CONTAIN_STALE_AFTER_SECONDS: i64 = 780;

/// How long the drill function waits for the pipeline to leave every stage's records (the
/// function's timeout in `infra/template.yaml` is 300 s).
pub const DRILL_WAIT_SECONDS: u64 = 240;

/// An event from Firebreak's bus, as the contain, preserve and page functions receive it.
#[derive(Debug, Deserialize)]
struct BusEvent {
    #[serde(default)]
    source: String,
    #[serde(rename = "detail-type", default)]
    detail_type: String,
    detail: Value,
}

/// `triage`: records the incident once and announces it; a forwarder's heartbeat is recorded
/// under `clock/heartbeats/` for the clock.
pub async fn triage(
    ctx: &Context,
    raw: &str,
    collector: Collector,
) -> Result<Value, FunctionError> {
    if let Some(heartbeat) = firebreak_core::lifecycle::heartbeat::parse(raw) {
        let h = heartbeat.map_err(FunctionError::BadInput)?;
        let body = json!({ "account": h.account, "region": h.region, "hour": h.hour });
        let store = ctx.evidence();
        let now = Utc::now();
        let recorded = store
            .put_if_new(
                &firebreak_core::lifecycle::heartbeat::key(&h),
                body.to_string().into_bytes(),
                now,
            )
            .await
            .map_err(|e| FunctionError::aws("recording a heartbeat", e))?;
        // Once per pair: from now on it is expected every hour.
        store
            .put_if_new(
                &firebreak_core::lifecycle::heartbeat::seen_key(&h),
                body.to_string().into_bytes(),
                now,
            )
            .await
            .map_err(|e| FunctionError::aws("recording a heartbeat's pair", e))?;
        return Ok(json!({
            "decision": "heartbeat",
            "account": h.account,
            "region": h.region,
            "hour": h.hour,
            "recorded": recorded,
        }));
    }
    if let Some(notification) = forensic::parse(raw) {
        return Box::pin(snapshot_notification(ctx, notification)).await;
    }
    let event = Event::parse(raw).map_err(|e| FunctionError::BadInput(e.to_string()))?;
    let incident = match ctx
        .triage
        .triage(&event)
        .map_err(|e| FunctionError::BadInput(e.to_string()))?
    {
        Decision::Ignored { reason } => {
            return Ok(json!({ "decision": "ignored", "reason": reason }));
        }
        Decision::Incident(incident) => incident,
    };
    // Boxed: the recording future is deep, and every function binary holds every handler.
    match Box::pin(record(ctx, &event, raw, &incident, &collector)).await {
        Ok(Recorded::Done(answer)) => Ok(answer),
        Ok(Recorded::Busy(why) | Recorded::Announced(why)) => Err(FunctionError::Retry(why)),
        // Nothing downstream runs until a retry records the incident: page what is known now,
        // straight to SNS, then fail so the event is retried for the evidence.
        Err(e) => {
            page_degraded(ctx, &incident, &e).await;
            Err(e)
        }
    }
}

/// Triage's part of the forensic hand-over: a completed snapshot becomes `Snapshot Completed`
/// on Firebreak's bus for the preserve function, when a forensic account is configured.
async fn snapshot_notification(
    ctx: &Context,
    notification: Result<forensic::Notification, String>,
) -> Result<Value, FunctionError> {
    let completed = match notification.map_err(FunctionError::BadInput)? {
        forensic::Notification::Other(reason) => {
            return Ok(json!({ "decision": "ignored", "reason": reason }));
        }
        forensic::Notification::Completed(c) => c,
    };
    if ctx.settings.config.evidence.forensic_account.is_empty() {
        return Ok(json!({ "decision": "ignored", "reason": "no forensic account is configured" }));
    }
    ctx.bus
        .put(DetailType::SnapshotCompleted, &completed, &[])
        .await
        .map_err(|e| FunctionError::aws("putting the completed snapshot on the bus", e))?;
    Ok(json!({ "decision": "snapshot completed", "snapshot_id": completed.snapshot_id }))
}

/// Where recording an incident ended, when AWS did not fail.
enum Recorded {
    /// Recorded and announced on the bus (or found recorded before): triage's answer.
    Done(Value),
    /// Another delivery of the same event holds its claim.
    Busy(String),
    /// Announced on the bus (the stages run), but what follows (the log entry, the claim's
    /// `.done`) failed: retried, with no degraded page.
    Announced(String),
}

/// Sends the degraded page of an incident triage could not record; a page SNS refuses too is
/// logged, and the invocation fails either way.
async fn page_degraded(ctx: &Context, incident: &Incident, e: &FunctionError) {
    if incident.route == Route::Record || ctx.pager().topic(incident.route).is_none() {
        return;
    }
    let message = page::degraded(incident, &e.to_string());
    match ctx.pager().send(incident.route, &message).await {
        Ok(id) => {
            tracing::warn!(incident_id = %incident.id, message_id = %id, "degraded page sent")
        }
        Err(sent) => {
            tracing::error!(incident_id = %incident.id, error = %sent.code, "degraded page refused")
        }
    }
}

/// Records the incident of `event` once (the locked event, the opening, the log) and announces
/// it on Firebreak's bus.
async fn record(
    ctx: &Context,
    event: &Event<'_>,
    raw: &str,
    incident: &Incident,
    collector: &Collector,
) -> Result<Recorded, FunctionError> {
    let now = Utc::now();
    let id = &incident.id;
    // One record per delivered event, named by EventBridge's event id (kept across retries).
    let name = format!(
        "events/{}.json",
        event_name(event.envelope.id.as_deref(), raw)
    );
    let event_key = format!("{}{name}", EvidenceStore::prefix(id));
    let step = StepClaim {
        id,
        name: &name,
        body: raw.as_bytes().to_vec(),
        now,
        stale_after: ctx.stale_after,
    };
    let ran = ctx
        .evidence()
        .once(
            step,
            |e| FunctionError::aws("recording the event", e),
            async || {
                // The first event of an incident opens it; every later one updates it.
                let opened = json!({ "incident_id": id, "event_key": event_key, "opened_at": now });
                let first = ctx
                    .evidence()
                    .put_if_absent(
                        id,
                        "opened.json",
                        serde_json::to_vec(&opened).unwrap_or_default(),
                        now,
                    )
                    .await
                    .map_err(|e| FunctionError::aws("recording the incident", e))?;
                let opens = first || opened_by(ctx, id).await? == event_key;
                let detail_type = if opens {
                    DetailType::IncidentOpened
                } else {
                    DetailType::IncidentUpdated
                };
                let entry = if opens {
                    Entry::opened(incident, &event_key)
                } else {
                    Entry::Updated {
                        event_key: event_key.clone(),
                    }
                };
                let notice = IncidentNotice {
                    incident_id: id.clone(),
                    severity: incident.severity,
                    route: incident.route,
                    title: incident.title.clone(),
                    event_key: event_key.clone(),
                    event_sha256: Some(sha256_hex(raw.as_bytes())),
                    drill: incident.drill,
                    auto_containment: incident
                        .plan
                        .iter()
                        .any(|a| a.mode == Mode::Auto && Stage::Contain.owns(&a.action)),
                };
                // Containment first: the notice goes out as soon as the source event and the
                // opening are locked, and the log entry (and the clock's mark) follows. A failed
                // append fails the invocation before the claim is finished, so the retry puts the
                // notice again (each stage runs once behind its own claim) and appends again (the
                // entry's hash makes a repeat a no-op): the entry is never dropped.
                let event_id = ctx
                    .bus
                    .put(detail_type, &notice, &[])
                    .await
                    .map_err(|e| FunctionError::aws("putting the incident on the bus", e))?;
                // Announced: the stages are running, so a failure from here on is retried
                // without the degraded page (which tells responders nothing runs).
                match log::append(ctx.evidence(), id, &collector.identity, vec![entry], now).await {
                    Ok(_) => Ok(Then::Finish((detail_type, event_id, None))),
                    Err(e) => Ok(Then::KeepOpen((detail_type, event_id, Some(e)))),
                }
            },
        )
        .await?;
    let (detail_type, event_id) = match ran {
        Once::Duplicate => {
            return Ok(Recorded::Done(
                json!({ "decision": "duplicate", "incident_id": id, "event_key": event_key }),
            ));
        }
        Once::Busy => {
            return Ok(Recorded::Busy(format!(
                "another delivery of {event_key} is being processed"
            )));
        }
        Once::Ran {
            value: (detail_type, event_id, unlogged),
            finished,
        } => {
            let after = unlogged
                .map(|e| format!("appending to the incident log: {e}"))
                .or_else(|| {
                    finished
                        .err()
                        .map(|e| format!("closing the event record: {e}"))
                });
            if let Some(why) = after {
                return Ok(Recorded::Announced(format!(
                    "{id} is on the bus (bus event {event_id}) but {why}: retried"
                )));
            }
            (detail_type, event_id)
        }
    };
    Ok(Recorded::Done(json!({
        "decision": detail_type.as_str(),
        "incident_id": id,
        "severity": incident.severity,
        "event_key": event_key,
        "bus_event_id": event_id,
    })))
}

/// `contain`: the incident's automatic containment, once.
pub async fn contain(
    ctx: &Context,
    raw: &str,
    collector: Collector,
) -> Result<Value, FunctionError> {
    opened_stage(ctx, raw, Stage::Contain, collector).await
}

/// `preserve`: protection, snapshots and locked evidence, once.
pub async fn preserve(
    ctx: &Context,
    raw: &str,
    collector: Collector,
) -> Result<Value, FunctionError> {
    if parse_bus(raw).is_ok_and(|e| e.detail_type == DetailType::SnapshotCompleted.as_str()) {
        return Box::pin(hand_over_snapshot(ctx, raw, collector)).await;
    }
    opened_stage(ctx, raw, Stage::Preserve, collector).await
}

/// The preserve function's part of the forensic hand-over: the snapshot `Snapshot Completed`
/// names is read where it is; only one tagged with an incident that exists, of an instance that
/// incident snapshots, in its account and region, is shared (or copied under the forensic key
/// first). The bus event is a pointer: every fact is read again.
async fn hand_over_snapshot(
    ctx: &Context,
    raw: &str,
    collector: Collector,
) -> Result<Value, FunctionError> {
    let notice: forensic::SnapshotCompleted = bus_detail(raw, &[DetailType::SnapshotCompleted])?;
    let snapshot_id = notice.snapshot_id.clone();
    forensic::snapshot_id(&snapshot_id).map_err(|e| FunctionError::BadInput(e.to_string()))?;
    let skipped = |reason: String| {
        Ok(json!({ "snapshot_id": snapshot_id, "outcome": "skipped", "reason": reason }))
    };
    if ctx.settings.config.evidence.forensic_account.is_empty() {
        return skipped("no forensic account is configured".into());
    }
    // Preservation never runs dry (as snapshots themselves).
    let responder = ctx.responder(collector, false);
    let (clients, snapshot) = Box::pin(firebreak_aws::run::forensic::read(&responder, &notice))
        .await
        .map_err(|e| FunctionError::aws("reading the snapshot", e))?;
    let Some(snapshot) = snapshot else {
        return skipped(format!(
            "{snapshot_id} is no snapshot of {}",
            notice.account
        ));
    };
    let Some(id) = snapshot.incident() else {
        return skipped(format!("{snapshot_id} is tagged with no incident"));
    };
    // The tag names the incident; only Firebreak's mark under it says the snapshot is its own.
    let marked = ctx
        .evidence()
        .snapshot_marked(&id, &snapshot.id)
        .await
        .map_err(|e| FunctionError::aws("reading the snapshot's mark", e))?;
    if !marked {
        return skipped(format!(
            "{snapshot_id} is no snapshot Firebreak took for {id}"
        ));
    }
    let event_key = opened_by(ctx, &id).await?;
    let (incident, _) = Box::pin(load(ctx, &id, &event_key, None)).await?;
    let snapshotted = incident
        .plan
        .iter()
        .filter_map(|p| match &p.action {
            firebreak_core::Action::SnapshotVolumes { instance_id } => Some(instance_id.as_str()),
            _ => None,
        })
        .collect();
    let facts = forensic::IncidentFacts {
        marked,
        account: &incident.account,
        region: &incident.region,
        snapshotted,
    };
    let outcome = Box::pin(firebreak_aws::run::forensic::hand_over(
        &responder,
        &clients,
        &notice,
        &snapshot,
        &id,
        &facts,
        Utc::now(),
    ))
    .await
    .map_err(|e| FunctionError::aws("handing the snapshot to the forensic account", e))?;
    tracing::info!(incident_id = %id, snapshot_id, outcome = ?outcome, "forensic hand-over");
    Ok(json!({ "incident_id": id, "snapshot_id": snapshot_id, "result": outcome }))
}

/// Runs `stage` for the incident an `Incident Opened` event names.
async fn opened_stage(
    ctx: &Context,
    raw: &str,
    stage: Stage,
    collector: Collector,
) -> Result<Value, FunctionError> {
    // The clock's retry of an unfinished containment reaches the contain function only.
    let accepted: &[DetailType] = match stage {
        Stage::Contain => &[DetailType::IncidentOpened, DetailType::ContainmentRetry],
        _ => &[DetailType::IncidentOpened],
    };
    let notice: IncidentNotice = bus_detail(raw, accepted)?;
    let (incident, source) = load(
        ctx,
        &notice.incident_id,
        &notice.event_key,
        notice.event_sha256.as_deref(),
    )
    .await?;
    run_stage(ctx, &incident, &source, &notice.event_key, stage, collector).await
}

async fn run_stage(
    ctx: &Context,
    incident: &Incident,
    source: &str,
    event_key: &str,
    stage: Stage,
    collector: Collector,
) -> Result<Value, FunctionError> {
    let now = Utc::now();
    let id = &incident.id;
    let (step, finished) = match stage {
        Stage::Contain => ("steps/contain.json", DetailType::ContainmentFinished),
        _ => ("steps/preserve.json", DetailType::EvidencePreserved),
    };
    let claim = StageClaim {
        event_key: event_key.to_string(),
        claimed_by: collector.clone(),
        claimed_at: now,
    };
    let claimed = StepClaim {
        id,
        name: step,
        body: serde_json::to_vec(&claim).unwrap_or_default(),
        now,
        stale_after: ctx.stale_after,
    };
    let ran = ctx
        .evidence()
        .once(
            claimed,
            |e| FunctionError::aws("claiming the step", e),
            async || {
                // Containment honours the deployment's dry-run; preservation never runs dry.
                let dry_run = stage == Stage::Contain && ctx.settings.dry_run;
                let response = ctx
                    .responder(collector, dry_run)
                    .respond_stage(incident, source, stage)
                    .await;
                if let Some(e) = &response.record_error {
                    // The outcomes are not locked: fail before announcing, so the stage runs again.
                    return Err(FunctionError::aws(
                        "locking the containment outcomes",
                        e.clone(),
                    ));
                }
                if let Some(e) = &response.log_error {
                    // Never drop a log entry: the stage runs again and the append is idempotent.
                    return Err(FunctionError::aws(
                        "appending to the incident log",
                        e.clone(),
                    ));
                }
                let detail = StageFinished {
                    incident_id: id.clone(),
                    severity: incident.severity,
                    event_key: event_key.to_string(),
                    outcomes: response.outcomes.clone(),
                    evidence_location: response.evidence_location.clone(),
                    manifest_key: response.manifest.as_ref().map(|m| m.key.clone()),
                };
                ctx.bus
                    .put(finished, &detail, &[])
                    .await
                    .map_err(|e| FunctionError::aws("putting the outcomes on the bus", e))?;
                // A containment that failed on a transient error (after the SDK's retries) leaves
                // the step open: the invocation fails below, and Lambda's retry or a redelivery
                // runs the stage again once the claim is stale.
                if failed_containment(incident, &response.outcomes).is_empty() {
                    Ok(Then::Finish((response, detail.manifest_key)))
                } else {
                    Ok(Then::KeepOpen((response, detail.manifest_key)))
                }
            },
        )
        .await?;
    let (response, manifest_key) = match ran {
        Once::Duplicate => {
            return Ok(json!({ "incident_id": id, "step": step, "duplicate": true }));
        }
        Once::Busy => {
            return Err(FunctionError::Retry(format!(
                "{step} of {id} is being done by another delivery"
            )));
        }
        Once::Ran { value, finished } => {
            finished.map_err(|e| FunctionError::aws("closing the step", e))?;
            value
        }
    };
    let failed = response.any_failed();
    let unfinished = failed_containment(incident, &response.outcomes);
    if !unfinished.is_empty() {
        return Err(FunctionError::Retry(format!(
            "{} containment action(s) of {id} failed on a transient error ({}): their outcomes \
             are locked and paged; the stage runs again on a retry",
            unfinished.len(),
            unfinished.join(", ")
        )));
    }
    Ok(json!({
        "incident_id": id,
        "step": step,
        "outcomes": response.outcomes,
        "any_failed": failed,
        "manifest_key": manifest_key,
    }))
}

/// The containment actions of `incident` that `outcomes` report failed in a way a later
/// attempt can get past (throttled, AWS's error, no answer), as `kind target`. A refusal is
/// paged as it is: running the stage again would get the same answer.
fn failed_containment(incident: &Incident, outcomes: &[ActionOutcome]) -> Vec<String> {
    outcomes
        .iter()
        .filter(|o| o.status.is_transient_failure())
        .filter(|o| {
            incident
                .plan
                .get(o.index)
                .is_some_and(|p| p.action.is_containment() && p.action.kind() == o.kind)
        })
        .map(|o| format!("{} {}", o.kind, o.target))
        .collect()
}

/// `page`: the first page at once, follow-ups with the outcomes; each at most once.
pub async fn page(ctx: &Context, raw: &str, collector: Collector) -> Result<Value, FunctionError> {
    let event: BusEvent = parse_bus(raw)?;
    let detail_type = DetailType::parse(&event.detail_type).ok_or_else(|| {
        FunctionError::BadInput(format!("not a Firebreak event: {:?}", event.detail_type))
    })?;
    let (incident_id, event_key, event_sha256, outcomes, name, kind) = match detail_type {
        DetailType::IncidentOpened | DetailType::IncidentUpdated => {
            let n: IncidentNotice = detail(event.detail)?;
            let (name, kind) = if detail_type == DetailType::IncidentOpened {
                ("pages/opened.json".to_string(), PageKind::Opened)
            } else {
                (
                    format!("pages/updated-{}.json", short(&n.event_key)),
                    PageKind::Updated,
                )
            };
            (
                n.incident_id,
                n.event_key,
                n.event_sha256,
                Vec::new(),
                name,
                kind,
            )
        }
        DetailType::ContainmentFinished | DetailType::EvidencePreserved => {
            let f: StageFinished = detail(event.detail)?;
            let name = if detail_type == DetailType::ContainmentFinished {
                // One page per distinct result: a containment run again (after a transient
                // failure) that ends otherwise is paged again; a repeat of the same is not.
                let statuses: Vec<String> = f
                    .outcomes
                    .iter()
                    .map(|o| format!("{} {} {}", o.index, o.kind, o.status.word()))
                    .collect();
                format!("pages/contained-{}.json", short(&statuses.join("\n")))
            } else {
                "pages/preserved.json".to_string()
            };
            (
                f.incident_id,
                f.event_key,
                None,
                f.outcomes,
                name,
                PageKind::Updated,
            )
        }
        DetailType::ContainmentRetry | DetailType::SnapshotCompleted => {
            return Err(FunctionError::BadInput(format!(
                "{:?} is for another function, not the page function",
                detail_type.as_str()
            )));
        }
    };
    let (incident, _) = load(ctx, &incident_id, &event_key, event_sha256.as_deref()).await?;
    let kind = if incident.drill {
        PageKind::Drill
    } else {
        kind
    };
    let route = incident.route;
    if route == Route::Record || ctx.pager().topic(route).is_none() {
        return Ok(json!({ "incident_id": incident.id, "paged": false, "route": route }));
    }
    let now = Utc::now();
    let claim = PageClaim {
        detail_type: detail_type.as_str().to_string(),
        event_key: event_key.to_string(),
        claimed_at: now,
    };
    let step = StepClaim {
        id: &incident.id,
        name: &name,
        body: serde_json::to_vec(&claim).unwrap_or_default(),
        now,
        stale_after: ctx.stale_after,
    };
    let ran = ctx
        .evidence()
        .once(
            step,
            |e| FunctionError::aws("claiming the page", e),
            async || {
                let message = page::compose(
                    &incident,
                    &outcomes,
                    kind,
                    &ctx.evidence().location(&incident.id),
                );
                // Logged before `.done`: a failed append leaves the page claimed, so a retry
                // resumes it (and may page again: pages are at-least-once) rather than drop the
                // entry.
                let sent = log::page_and_log(
                    ctx.evidence(),
                    &incident.id,
                    &collector.identity,
                    Box::pin(ctx.pager().send(route, &message)),
                    |message_id| {
                        Some(Entry::Page {
                            page_kind: kind,
                            route,
                            message_id,
                            about: name.clone(),
                        })
                    },
                    now,
                )
                .await
                .map_err(|e| FunctionError::aws("publishing and logging the page", e))?;
                let message_id = sent.message_id;
                Ok(Then::Finish((message, message_id)))
            },
        )
        .await?;
    let (message, message_id) = match ran {
        Once::Duplicate => {
            return Ok(json!({ "incident_id": incident.id, "paged": false, "duplicate": true }));
        }
        Once::Busy => {
            return Err(FunctionError::Retry(format!(
                "{name} of {} is being sent",
                incident.id
            )));
        }
        Once::Ran { value, finished } => {
            finished.map_err(|e| FunctionError::aws("closing the page record", e))?;
            value
        }
    };
    Ok(json!({
        "incident_id": incident.id,
        "paged": true,
        "route": route,
        "subject": message.subject,
        "message_id": message_id,
    }))
}

/// Reads the locked source event at `event_key` and triages it again: the incident a bus event
/// names must be the one its evidence describes. With the SHA-256 triage gave of the bytes it
/// locked there, one read of the key's current version is enough when it hashes to that (the
/// bucket admits no second version on AWS, and a second version could not hash to it);
/// otherwise, or without it, the key's first version is read, as every reader does.
async fn load(
    ctx: &Context,
    id: &IncidentId,
    event_key: &str,
    sha256: Option<&str>,
) -> Result<(Incident, String), FunctionError> {
    let prefix = format!("{}events/", EvidenceStore::prefix(id));
    if !event_key.starts_with(&prefix) || event_key.contains("..") {
        return Err(FunctionError::BadInput(format!(
            "event_key {event_key:?} is not an event of incident {id}"
        )));
    }
    let current = match sha256 {
        Some(expected) => match ctx.evidence().read_expecting(event_key, expected).await {
            Ok(Some(bytes)) => Some(bytes),
            // On AWS the bucket admits no second version: a notice whose hash is not the
            // key's is forged or garbled, and said so; its first version is what counts.
            Ok(None) => {
                tracing::warn!(incident_id = %id, event_key, "the notice's hash is not the source event's: reading its first version");
                None
            }
            Err(e) => {
                tracing::warn!(incident_id = %id, event_key, error = %e.code, "reading the source event's current version failed: reading its first");
                None
            }
        },
        None => None,
    };
    let read = match current {
        Some(bytes) => Ok(bytes),
        None => ctx.evidence().read(event_key).await,
    };
    let bytes = match read {
        Ok(b) => b,
        Err(e) if e.code == "NoSuchKey" => {
            return Err(FunctionError::BadInput(format!(
                "{event_key} does not exist"
            )));
        }
        Err(e) => return Err(FunctionError::aws("reading the source event", e)),
    };
    let source = String::from_utf8(bytes)
        .map_err(|_| FunctionError::BadInput(format!("{event_key} is not UTF-8")))?;
    match ctx.triage.triage_json(&source) {
        Ok(Decision::Incident(incident)) if incident.id == *id => Ok((*incident, source)),
        Ok(Decision::Incident(incident)) => Err(FunctionError::BadInput(format!(
            "{event_key} describes incident {}, not {id}",
            incident.id
        ))),
        Ok(Decision::Ignored { reason }) => Err(FunctionError::BadInput(format!(
            "{event_key} is no longer an incident under this configuration: {reason}"
        ))),
        Err(e) => Err(FunctionError::BadInput(format!("{event_key}: {e}"))),
    }
}

/// The event key recorded in `opened.json`.
async fn opened_by(ctx: &Context, id: &IncidentId) -> Result<String, FunctionError> {
    let key = format!("{}opened.json", EvidenceStore::prefix(id));
    let bytes = ctx
        .evidence()
        .read(&key)
        .await
        .map_err(|e| FunctionError::aws("reading the incident record", e))?;
    let record: Value = serde_json::from_slice(&bytes)
        .map_err(|e| FunctionError::Retry(format!("{key} is not JSON: {e}")))?;
    Ok(record["event_key"].as_str().unwrap_or_default().to_string())
}

fn parse_bus(raw: &str) -> Result<BusEvent, FunctionError> {
    let event: BusEvent = serde_json::from_str(raw)
        .map_err(|e| FunctionError::BadInput(format!("not an EventBridge event: {e}")))?;
    if event.source != firebreak_core::lifecycle::bus::SOURCE {
        return Err(FunctionError::BadInput(format!(
            "source {:?} is not {:?}",
            event.source,
            firebreak_core::lifecycle::bus::SOURCE
        )));
    }
    Ok(event)
}

fn bus_detail<T: serde::de::DeserializeOwned>(
    raw: &str,
    accepted: &[DetailType],
) -> Result<T, FunctionError> {
    let event = parse_bus(raw)?;
    match DetailType::parse(&event.detail_type) {
        Some(d) if accepted.contains(&d) => detail(event.detail),
        _ => Err(FunctionError::BadInput(format!(
            "detail-type {:?} is not one this function handles",
            event.detail_type
        ))),
    }
}

fn detail<T: serde::de::DeserializeOwned>(detail: Value) -> Result<T, FunctionError> {
    serde_json::from_value(detail).map_err(|e| FunctionError::BadInput(format!("detail: {e}")))
}

/// A key-safe name for an event: EventBridge's id when it is one, else the bytes' hash.
pub fn event_name(id: Option<&str>, raw: &str) -> String {
    match id {
        Some(id)
            if !id.is_empty()
                && id.len() <= 64
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
        {
            id.to_string()
        }
        _ => short(raw),
    }
}

fn short(text: &str) -> String {
    sha256_hex(text.as_bytes())[..16].to_string()
}

/// Lower-case hex of the SHA-256 of `bytes`, as the evidence store writes hashes.
fn sha256_hex(bytes: &[u8]) -> String {
    firebreak_aws::store::evidence::hex(&Sha256::digest(bytes))
}

/// A scheduled event (the clock's and the drill's): only that it is one is checked.
fn scheduled(raw: &str) -> Result<(), FunctionError> {
    let event: Value = serde_json::from_str(raw)
        .map_err(|e| FunctionError::BadInput(format!("not an EventBridge event: {e}")))?;
    match event.get("detail-type").and_then(Value::as_str) {
        Some("Scheduled Event") | None => Ok(()),
        Some(other) => Err(FunctionError::BadInput(format!(
            "detail-type {other:?} is not a scheduled event"
        ))),
    }
}

/// `clock`: pages again every obligation due within six hours or overdue and not acknowledged
/// (once per incident and hour), and the plan review when no drill has passed for six months.
/// It reads the clock's index (the incidents still watched and those marked since its last
/// run), and says in `scan` when it had to read every log instead, and why. An incident it
/// could not read fails the run, so Lambda retries; reminders already sent this hour are not
/// sent twice.
pub async fn clock(ctx: &Context, raw: &str, collector: Collector) -> Result<Value, FunctionError> {
    scheduled(raw)?;
    let redrive = firebreak_aws::run::clock::Redrive {
        bus: &ctx.bus,
        stale_after: ctx.stale_after,
    };
    let tick = firebreak_aws::run::clock::tick(
        ctx.evidence(),
        ctx.pager(),
        Some(redrive),
        &collector.identity,
        Utc::now(),
        false,
    )
    .await
    .map_err(|e| FunctionError::aws("running the clock", e))?;
    let wiring = check_wiring(ctx, &collector).await?;
    if let Some((id, why)) = tick.errors.first() {
        return Err(FunctionError::Retry(format!(
            "the clock could not check {} incident(s), first {id}: {why}",
            tick.errors.len()
        )));
    }
    Ok(json!({
        "incidents": tick.incidents,
        "reminders": tick.reminded.len(),
        "reminded": tick.reminded,
        "plan_review": tick.plan_review,
        "scan": tick.scan,
        "snapshot_written": tick.snapshot_written,
        "redriven": tick.redriven,
        "wiring_drifts": wiring.as_ref().map(|w| w.drifts.len()),
        "wiring": wiring,
    }))
}

/// The clock's self-check: Firebreak's own wiring (rules, functions, topics, the evidence
/// bucket) against what the stack deployed and, with `FIREBREAK_HOURLY_DOCTOR`, the doctor's
/// checks of what Firebreak can see; paged S1 once an hour while anything is wrong. Nothing to
/// check when the function was given no wiring. A page or log append that fails is retried.
async fn check_wiring(
    ctx: &Context,
    collector: &Collector,
) -> Result<Option<firebreak_aws::run::wiring::Check>, FunctionError> {
    let Some(expected) = &ctx.settings.wiring else {
        return Ok(None);
    };
    let observer = firebreak_aws::run::wiring::Observer::new(&ctx.responder.home.sdk);
    let blind = if ctx.settings.hourly_doctor {
        let stack = &ctx.settings.config.stack;
        let topics: Vec<String> = [&stack.pager_topic_arn, &stack.ticket_topic_arn]
            .into_iter()
            .filter(|t| !t.is_empty())
            .cloned()
            .collect();
        // Bounded: a slow region must not keep the wiring check from paging.
        let checks = firebreak_aws::run::doctor::blind(
            &ctx.responder.home,
            ctx.evidence(),
            &ctx.settings.failure_queues,
            &topics,
        );
        tokio::time::timeout(std::time::Duration::from_secs(90), checks)
            .await
            .unwrap_or_else(|_| {
                vec![firebreak_core::lifecycle::wiring::Drift::Blind {
                    check: "doctor".into(),
                    problem: "the doctor's checks did not finish in 90 s: what Firebreak can see \
                              was not checked this hour"
                        .into(),
                    fix: "run firebreak doctor by hand; look for a region or service that hangs"
                        .into(),
                }]
            })
    } else {
        Vec::new()
    };
    firebreak_aws::run::wiring::check(
        &observer,
        expected,
        blind,
        ctx.evidence(),
        ctx.pager(),
        &collector.identity,
        Utc::now(),
        false,
    )
    .await
    .map(Some)
    .map_err(|e| FunctionError::aws("checking Firebreak's wiring", e))
}

/// `hunt`: one item of the hunt state machine's Distributed Map: a round's folder and a batch's
/// name, whose job and file list it reads from the evidence bucket; the batch's files scanned
/// for the round's principals, the matches written beside them. A job for another trail, a
/// batch naming files outside the configured trail, or a task when no trail is configured is
/// refused (bad input, not retried); a failed read or write is retried.
pub async fn hunt(ctx: &Context, raw: &str, _collector: Collector) -> Result<Value, FunctionError> {
    let Some(logs) = ctx.settings.config.trail.logs.as_deref() else {
        return Err(FunctionError::BadInput(
            "no trail is configured (FIREBREAK_TRAIL_LOGS): nothing to hunt".into(),
        ));
    };
    let at = firebreak_aws::service::trail::Location::parse(logs).ok_or_else(|| {
        FunctionError::BadInput(format!(
            "FIREBREAK_TRAIL_LOGS {logs:?} is not s3://bucket[/prefix]"
        ))
    })?;
    firebreak_aws::run::hunt::work(
        &ctx.responder.home.s3,
        &at,
        &at.url(),
        ctx.evidence(),
        raw,
        Utc::now(),
    )
    .await
    .map_err(|e| {
        if e.code == "BadTask" {
            FunctionError::BadInput(e.message)
        } else {
            FunctionError::aws("hunting one batch", e)
        }
    })
}

/// `drill`: puts a drill finding on Firebreak's bus, waits for the pipeline, checks each
/// stage's records, pages the `[DRILL]` summary and logs the verdict. A failed drill is an
/// answer, not an error: retrying would start another drill.
pub async fn drill(ctx: &Context, raw: &str, collector: Collector) -> Result<Value, FunctionError> {
    scheduled(raw)?;
    let started = firebreak_aws::run::drill::start(
        &ctx.bus,
        &ctx.triage,
        &ctx.settings.home_account,
        &ctx.region,
        Utc::now(),
    )
    .await
    .map_err(|e| FunctionError::aws("starting the drill", e))?;
    let verdict = firebreak_aws::run::drill::finish(
        ctx.evidence(),
        ctx.pager(),
        &collector.identity,
        &started.incident_id,
        ctx.drill_wait,
        std::time::Duration::from_secs(5),
    )
    .await
    .map_err(|e| FunctionError::aws("checking the drill", e))?;
    Ok(json!({
        "incident_id": verdict.incident_id,
        "passed": verdict.passed,
        "checks": verdict.checks,
        "message_id": verdict.message_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_are_safe_keys() {
        assert_eq!(
            event_name(Some("7bf73129-1428-4cd3-a780-95db273d1602"), "{}"),
            "7bf73129-1428-4cd3-a780-95db273d1602"
        );
        for bad in [None, Some(""), Some("../../x"), Some("a/b")] {
            let name = event_name(bad, "{\"x\":1}");
            assert_eq!(name.len(), 16);
            assert!(name.chars().all(|c| c.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn bus_events_from_elsewhere_are_refused() {
        let forged = r#"{"source":"aws.guardduty","detail-type":"Incident Opened","detail":{}}"#;
        assert!(matches!(parse_bus(forged), Err(FunctionError::BadInput(_))));
        let wrong = r#"{"source":"firebreak","detail-type":"Evidence Preserved","detail":{}}"#;
        let r: Result<IncidentNotice, _> = bus_detail(wrong, &[DetailType::IncidentOpened]);
        assert!(matches!(r, Err(FunctionError::BadInput(_))));
        assert!(matches!(
            parse_bus("not json"),
            Err(FunctionError::BadInput(_))
        ));
    }
}
