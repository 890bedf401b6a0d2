//! Handing an incident's completed snapshot to the forensic account (what and why:
//! `firebreak_core::lifecycle::forensic`). Preserve marks each snapshot it takes under the
//! incident's evidence (`EvidenceStore::mark_snapshot`); when one completes, the preserve
//! function reads it ([`read`]), learns its incident from its tag, checks the mark
//! (`EvidenceStore::snapshot_marked`) and loads the incident, then
//! [`hand_over`] shares it or copies it under the forensic key (marking the copy), and records
//! what it did under `incidents/<id>/forensic/<snapshot>.json` (written once: a second
//! delivery finds it).

use chrono::{DateTime, Utc};
use serde::Serialize;

use firebreak_core::lifecycle::forensic::{
    self, IncidentFacts, SnapshotCompleted, SnapshotFacts, Step,
};
use firebreak_core::record::incident::IncidentId;

use crate::effect::Responder;
use crate::sdk::clients::Clients;
use crate::sdk::error::AwsError;
use crate::service::ec2;
use crate::store::evidence::EvidenceStore;

/// What became of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    /// Shared with the forensic account.
    Shared {
        /// The account.
        account: String,
    },
    /// Copied under the forensic key; the copy is shared when it completes.
    Copied {
        /// The copy.
        copy: String,
        /// The key.
        kms_key: String,
    },
    /// Done by an earlier delivery (its record is there).
    AlreadyRecorded,
    /// Nothing done, and why.
    Skipped {
        /// Why.
        reason: String,
    },
}

/// The record of a hand-over.
#[derive(Debug, Serialize)]
struct Record<'a> {
    snapshot_id: &'a str,
    incident_id: &'a IncidentId,
    account: &'a str,
    region: &'a str,
    #[serde(flatten)]
    outcome: &'a Outcome,
    collector: &'a crate::store::evidence::Collector,
    at: DateTime<Utc>,
}

/// The clients of the snapshot's account and region, and the snapshot (`None`: no snapshot of
/// that id in that account).
pub async fn read(
    responder: &Responder,
    notice: &SnapshotCompleted,
) -> Result<(Clients, Option<SnapshotFacts>), AwsError> {
    let session = format!("forensic-{}", notice.snapshot_id);
    let clients = responder
        .preserve_clients_in(&notice.account, &notice.region, &session)
        .await?;
    let facts = ec2::snapshot_facts(&clients.ec2, &notice.snapshot_id).await?;
    Ok((clients, facts))
}

/// Shares or copies `snapshot` of incident `id` as [`forensic::decide`] says, and records it.
pub async fn hand_over(
    responder: &Responder,
    clients: &Clients,
    notice: &SnapshotCompleted,
    snapshot: &SnapshotFacts,
    id: &IncidentId,
    incident: &IncidentFacts<'_>,
    now: DateTime<Utc>,
) -> Result<Outcome, AwsError> {
    let evidence = &responder.evidence;
    let key = format!(
        "{}{}",
        EvidenceStore::prefix(id),
        forensic::record_name(&snapshot.id)
    );
    if evidence.exists(&key).await? {
        return Ok(Outcome::AlreadyRecorded);
    }
    let config = &responder.config.evidence;
    let outcome = match forensic::decide(
        &config.forensic_account,
        &config.forensic_kms_key,
        notice,
        snapshot,
        incident,
    ) {
        Step::Skip(reason) => return Ok(Outcome::Skipped { reason }),
        Step::NotYet(reason) => return Err(AwsError::new("SnapshotNotComplete", reason)),
        Step::Share { account } => {
            ec2::share_snapshot(&clients.ec2, &snapshot.id, &account).await?;
            Outcome::Shared { account }
        }
        Step::Copy { kms_key } => {
            // A copy an earlier delivery made and marked (then failed to record) is not made
            // again; a snapshot anyone else tagged as a copy is never taken for one.
            // The marks are listed once, however many snapshots anyone tagged as copies.
            let candidates = ec2::copies_of(&clients.ec2, &snapshot.id).await?;
            let copy = if candidates.is_empty() {
                None
            } else {
                let marked = evidence.marked_snapshots(id).await?;
                candidates.into_iter().find(|c| marked.contains(c))
            };
            let copy = match copy {
                Some(copy) => copy,
                None => {
                    let copy = ec2::copy_snapshot(&clients.ec2, snapshot, &notice.region, &kms_key)
                        .await?;
                    let about = serde_json::json!({ "copy_of": snapshot.id, "kms_key": kms_key });
                    evidence.mark_snapshot(id, &copy, about, now).await?;
                    copy
                }
            };
            Outcome::Copied { copy, kms_key }
        }
    };
    let record = Record {
        snapshot_id: &snapshot.id,
        incident_id: id,
        account: &notice.account,
        region: &notice.region,
        outcome: &outcome,
        collector: &responder.collector,
        at: now,
    };
    let body = serde_json::to_vec_pretty(&record).unwrap_or_default();
    evidence.put_if_new(&key, body, now).await?;
    Ok(outcome)
}
