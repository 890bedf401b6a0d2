//! Release: undoes exactly what Firebreak changed for an incident, as its locked outcomes and
//! approval records say, and nothing else. Each undo step happens once
//! (`releases/<step-id>.json` is claimed first); every step, kept ones included, is locked as a
//! `release-record` with who, when and what became of it. Nothing is stopped or terminated, and
//! termination protection and snapshots stay: they are evidence.

use chrono::{Duration, Utc};
use firebreak_core::record::release::{self, Change, Options, ReleaseRecord, Step};
use firebreak_core::{ActionOutcome, Entry, IncidentId, Status, Triage};

use crate::effect::Responder;
use crate::effect::undo::undo;
use crate::sdk::clients::Clients;
use crate::sdk::error::AwsError;
use crate::store::evidence::{Once, StepClaim, Then};
use crate::store::format::ClaimBody;
use crate::store::records;

/// How long an unfinished release step blocks another attempt at it.
pub const RELEASE_STALE_SECONDS: i64 = 60;

pub use crate::sdk::error::Undone;

/// What a release run did: one outcome per step, in order.
pub type Release = records::Run;

/// Releases incident `id` as the responder's collector: every recorded change undone once,
/// access keys and Cognito users only when `options` say so.
pub async fn release(
    responder: &Responder,
    triage: &Triage,
    id: &IncidentId,
    options: Options,
) -> Result<Release, AwsError> {
    let store = &responder.evidence;
    let locked = records::load(store, id).await?;
    let incident = records::incident(triage, id, &locked)?;
    let steps = release::steps(&locked.all_outcomes(), options);
    let target = responder.target_clients(&incident).await;
    let mut run = Release::new(incident, store.location(id));
    run.ignored = locked.ignored.clone();
    let mut log = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        let status = match step {
            Step::Keep { why, .. } => Status::Skipped {
                why: format!("kept: {why}"),
            },
            Step::Undo(change) => {
                undo_step(responder, &run.incident, target.as_ref(), id, change).await?
            }
        };
        let outcome = ActionOutcome {
            index: n,
            kind: step.kind().to_string(),
            target: step.target(),
            status,
            at: Utc::now(),
            changes: Vec::new(),
        };
        tracing::info!(incident_id = %id, step = step.kind(), outcome = outcome.status.word(), "release");
        if !responder.dry_run && !is_repeat(&outcome) {
            lock_record(responder, id, step, &outcome, &mut run, &mut log).await;
        }
        run.outcomes.push(outcome);
    }
    if !run.records.is_empty() {
        run.lock_manifest(responder.writer(), record_failed).await;
    }
    run.append_log(responder.writer(), log, record_failed).await;
    Ok(run)
}

/// The status of one undo step: claimed, done and finished once; `Skipped` with who released
/// it when it was released before.
async fn undo_step(
    responder: &Responder,
    incident: &firebreak_core::Incident,
    target: Result<&Clients, &AwsError>,
    id: &IncidentId,
    change: &Change,
) -> Result<Status, AwsError> {
    let store = &responder.evidence;
    let name = claim_name(change);
    if let Some(by) = records::finished_by(store, id, &name).await? {
        return Ok(already(&by));
    }
    if responder.dry_run {
        return Ok(Status::DryRun {
            would: change.would(id),
        });
    }
    let now = Utc::now();
    let claim = ClaimBody {
        by: responder.collector.identity.clone(),
        at: now,
        step: change.id(),
    };
    let body = serde_json::to_vec(&claim).unwrap_or_default();
    let step = StepClaim {
        id,
        name: &name,
        body,
        now,
        stale_after: Duration::seconds(RELEASE_STALE_SECONDS),
    };
    let ran = store
        .once(
            step,
            |e| e,
            async || {
                // A change made in Identity Center is undone where it was made.
                let ic = match change {
                    Change::PermissionSetDenied {
                        account, region, ..
                    }
                    | Change::AccountAssignmentRemoved {
                        account, region, ..
                    } => Some(
                        responder
                            .identity_center_at(incident, account, region)
                            .await,
                    ),
                    _ => None,
                };
                let target = match (&ic, target) {
                    (Some(Err(e)), _) => Err(e),
                    (_, t) => t,
                };
                let ic = ic.as_ref().and_then(|r| r.as_ref().ok());
                let status = match target {
                    Ok(c) => {
                        match undo(c, ic, id, change, &responder.config.accounts.deny_policy).await
                        {
                            Ok(Undone::Changed(detail)) => Status::Done { detail },
                            Ok(Undone::Unchanged(why)) => Status::Skipped { why },
                            Err(e) => Status::Failed {
                                code: e.code,
                                message: e.message,
                            },
                        }
                    }
                    Err(e) => Status::Failed {
                        code: e.code.clone(),
                        message: e.message.clone(),
                    },
                };
                // A failed step stays claimed but unfinished, so a later release tries it again.
                Ok(if status.is_failure() {
                    Then::KeepOpen(status)
                } else {
                    Then::Finish(status)
                })
            },
        )
        .await?;
    Ok(match ran {
        Once::Duplicate => {
            let by = records::finished_by(store, id, &name)
                .await?
                .unwrap_or_default();
            already(&by)
        }
        Once::Busy => Status::Failed {
            code: "ReleaseInProgress".into(),
            message: format!(
                "another release of this step started less than {RELEASE_STALE_SECONDS} s ago \
                 and has not finished; if it failed, run release again after that"
            ),
        },
        Once::Ran { value, finished } => match finished {
            Ok(()) => value,
            Err(e) => Status::Failed {
                code: e.code,
                message: format!(
                    "the step ran ({}) but could not be marked finished: {}",
                    value.word(),
                    e.message
                ),
            },
        },
    })
}

/// `releases/<step-id>.json`: the claim that makes a release step happen once.
pub fn claim_name(change: &Change) -> String {
    format!("releases/{}.json", change.id())
}

fn already(by: &str) -> Status {
    Status::Skipped {
        why: format!("already released {by}"),
    }
}

/// A step released before writes no record of its own: the first release's record stands.
fn is_repeat(outcome: &ActionOutcome) -> bool {
    matches!(&outcome.status, Status::Skipped { why } if why.starts_with("already released"))
}

async fn lock_record(
    responder: &Responder,
    id: &IncidentId,
    step: &Step,
    outcome: &ActionOutcome,
    run: &mut Release,
    log: &mut Vec<Entry>,
) {
    let record = ReleaseRecord {
        incident_id: id.clone(),
        step: step.kind().to_string(),
        target: step.target(),
        change: match step {
            Step::Undo(change) => Some(change.clone()),
            Step::Keep { .. } => None,
        },
        released_by: responder.collector.identity.clone(),
        released_at: outcome.at,
        outcome: outcome.clone(),
    };
    let body = serde_json::to_vec_pretty(&record).unwrap_or_default();
    log.push(Entry::Release {
        record: record.clone(),
    });
    match responder
        .evidence
        .put(
            id,
            "release-record",
            "json",
            body,
            &responder.collector,
            outcome.at,
        )
        .await
    {
        Ok(item) => run.records.push(item),
        Err(e) => run.outcomes.push(record_failed(&e)),
    }
}

fn record_failed(e: &AwsError) -> ActionOutcome {
    ActionOutcome {
        index: 0,
        kind: "release_record".into(),
        target: "evidence store".into(),
        status: Status::Failed {
            code: e.code.clone(),
            message: format!("not locked: {}", e.message),
        },
        at: Utc::now(),
        changes: Vec::new(),
    }
}
