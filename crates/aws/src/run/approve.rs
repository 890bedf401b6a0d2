//! Approval by a human: executes the actions of an incident that wait for approval, each at most
//! once (`approvals/<index>.json` is claimed first), and locks who approved which action, when,
//! and what became of it (`approval-record/`, listed in a manifest of its own).

use chrono::{Duration, Utc};
use firebreak_core::record::approval::{self, ApprovalRecord};
use firebreak_core::{ActionOutcome, Entry, Incident, IncidentId, Status, Triage};

use crate::effect::Responder;
use crate::sdk::error::AwsError;
use crate::store::evidence::{Item, Once, StepClaim, Then};
use crate::store::format::ClaimBody;
use crate::store::records;

/// How long an unfinished approval blocks another of the same action: longer than one action
/// takes with the SDK's retries. An approval that failed can be run again after this.
pub const APPROVAL_STALE_SECONDS: i64 = 60;

/// What an approval run did: one outcome per action approved (or found approved already).
pub type Approval = records::Run;

/// Approves action `only`, or every action that waits, of incident `id`, as the responder's
/// collector. Fails without acting when the incident or the action does not exist, or the action
/// does not wait for approval.
pub async fn approve(
    responder: &Responder,
    triage: &Triage,
    id: &IncidentId,
    only: Option<usize>,
) -> Result<Approval, AwsError> {
    let store = &responder.evidence;
    let locked = records::load(store, id).await?;
    let incident = records::incident(triage, id, &locked)?;
    let waiting = approval::awaiting(&incident.plan, &locked.outcomes);
    let indices = match only {
        Some(index) => vec![index],
        None if waiting.is_empty() => {
            return Err(AwsError::new(
                "NotApprovable",
                format!("no action of {id} awaits approval"),
            ));
        }
        None => waiting.clone(),
    };
    let mut run = Approval::new(incident, store.location(id));
    run.ignored = locked.ignored.clone();
    let mut log = Vec::new();
    for index in indices {
        let claim = claim_name(index);
        if let Some(by) = records::finished_by(store, id, &claim).await? {
            run.outcomes.push(already(
                &run.incident,
                index,
                format!("already approved {by}"),
            ));
            continue;
        }
        approval::check(&run.incident.plan, &locked.outcomes, index).map_err(|e| {
            AwsError::new("NotApprovable", format!("{e}; {}", waiting_hint(&waiting)))
        })?;
        approve_one(responder, &locked.event_key, index, &mut run, &mut log).await?;
    }
    if !run.records.is_empty() {
        run.lock_manifest(responder.writer(), |e| record_failed(0, "manifest", e))
            .await;
    }
    run.append_log(responder.writer(), log, |e| {
        record_failed(0, "incident_log", e)
    })
    .await;
    Ok(run)
}

/// Claims, executes and records one approved action.
async fn approve_one(
    responder: &Responder,
    event_key: &str,
    index: usize,
    run: &mut Approval,
    log: &mut Vec<Entry>,
) -> Result<(), AwsError> {
    let store = &responder.evidence;
    let id = run.incident.id.clone();
    let approver = responder.collector.identity.clone();
    if responder.dry_run {
        if let Some(o) = responder.execute_approved(&run.incident, index).await {
            run.outcomes.push(o);
        }
        return Ok(());
    }
    let now = Utc::now();
    let name = claim_name(index);
    let claim = ClaimBody {
        by: approver.clone(),
        at: now,
        step: format!("approve action {index}"),
    };
    let body = serde_json::to_vec(&claim).unwrap_or_default();
    let stale = Duration::seconds(APPROVAL_STALE_SECONDS);
    let step = StepClaim {
        id: &id,
        name: &name,
        body,
        now,
        stale_after: stale,
    };
    let incident = run.incident.clone();
    let ran = store
        .once(
            step,
            |e| e,
            async || {
                let Some(outcome) = responder.execute_approved(&incident, index).await else {
                    return Err(AwsError::new(
                        "NotApprovable",
                        format!("the plan has no action {index}"),
                    ));
                };
                let record = ApprovalRecord {
                    incident_id: id.clone(),
                    event_key: event_key.to_string(),
                    index,
                    kind: outcome.kind.clone(),
                    target: outcome.target.clone(),
                    approved_by: approver.clone(),
                    approved_at: now,
                    outcome: outcome.clone(),
                };
                let failed = outcome.status.is_failure();
                let body = serde_json::to_vec_pretty(&record).unwrap_or_default();
                let locked = store
                    .put(
                        &id,
                        "approval-record",
                        "json",
                        body,
                        &responder.collector,
                        now,
                    )
                    .await;
                let done = Done {
                    outcome,
                    record,
                    locked,
                };
                // A failed action, or one whose record is not locked, stays claimed but unfinished,
                // so it can be approved again.
                Ok(if failed || done.locked.is_err() {
                    Then::KeepOpen(done)
                } else {
                    Then::Finish(done)
                })
            },
        )
        .await?;
    match ran {
        Once::Duplicate => {
            let by = records::finished_by(store, &id, &name)
                .await?
                .unwrap_or_default();
            run.outcomes.push(already(
                &run.incident,
                index,
                format!("already approved {by}"),
            ));
        }
        Once::Busy => {
            let mut o = already(&run.incident, index, String::new());
            o.status = Status::Failed {
                code: "ApprovalInProgress".into(),
                message: format!(
                    "another approval of action {index} started less than {APPROVAL_STALE_SECONDS} s \
                     ago and has not finished; if it failed, run approve again after that"
                ),
            };
            run.outcomes.push(o);
        }
        Once::Ran { value, finished } => {
            run.outcomes.push(value.outcome);
            log.push(Entry::Approval {
                record: value.record,
            });
            let unfinished = match value.locked {
                Ok(item) => {
                    run.records.push(item);
                    finished.err()
                }
                Err(e) => Some(e),
            };
            if let Some(e) = unfinished {
                run.outcomes
                    .push(record_failed(index, "approval_record", &e));
            }
        }
    }
    Ok(())
}

/// What approving one action did: its outcome, its record and where the record is locked.
struct Done {
    outcome: ActionOutcome,
    record: ApprovalRecord,
    locked: Result<Item, AwsError>,
}

/// `approvals/<index>.json`: the claim that makes an approval happen once.
pub fn claim_name(index: usize) -> String {
    format!("approvals/{index}.json")
}

fn already(incident: &Incident, index: usize, why: String) -> ActionOutcome {
    let planned = incident.plan.get(index);
    ActionOutcome {
        index,
        kind: planned.map(|p| p.action.kind()).unwrap_or("action").into(),
        target: planned.map(|p| p.target.clone()).unwrap_or_default(),
        status: Status::Skipped { why },
        at: Utc::now(),
        changes: Vec::new(),
    }
}

fn record_failed(index: usize, kind: &str, e: &AwsError) -> ActionOutcome {
    ActionOutcome {
        index,
        kind: kind.into(),
        target: "evidence store".into(),
        status: Status::Failed {
            code: e.code.clone(),
            message: format!("not locked: {}", e.message),
        },
        at: Utc::now(),
        changes: Vec::new(),
    }
}

fn waiting_hint(waiting: &[usize]) -> String {
    if waiting.is_empty() {
        return "no action of this incident awaits approval".into();
    }
    let list: Vec<String> = waiting.iter().map(usize::to_string).collect();
    format!("action(s) awaiting approval: {}", list.join(", "))
}
