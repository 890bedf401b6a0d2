//! An incident read back from the evidence store: the locked source event its plan is triaged
//! from again, and every outcome locked for it (the responder's and the approvals'). This is
//! what `approve` and `release` act on; nothing they do rests on a caller's say-so.

use chrono::{DateTime, Utc};
use firebreak_core::approval::ApprovalRecord;
use firebreak_core::{ActionOutcome, Decision, Incident, IncidentId, Triage};
use serde::{Deserialize, Serialize};

use crate::error::AwsError;
use crate::evidence::{Claim, EvidenceStore, Item, Manifest, Missing};
use crate::respond::Responder;

/// What a run a human starts (`approve`, `release`) did, and what it locked about itself.
#[derive(Debug, Clone)]
pub struct Run {
    /// The incident, triaged again from its locked source event.
    pub incident: Incident,
    /// One outcome per action or step, plus any record that could not be locked.
    pub outcomes: Vec<ActionOutcome>,
    /// Records locked in this run.
    pub records: Vec<Item>,
    /// The manifest listing them.
    pub manifest: Option<Item>,
    /// `s3://bucket/incidents/<id>/`.
    pub evidence_location: String,
    /// Incident log entries appended.
    pub logged: Vec<String>,
}

impl Run {
    /// A run on `incident` that has done nothing yet.
    pub fn new(incident: Incident, evidence_location: String) -> Run {
        Run {
            incident,
            outcomes: Vec::new(),
            records: Vec::new(),
            manifest: None,
            evidence_location,
            logged: Vec::new(),
        }
    }

    /// True when an action or step (or its record) failed.
    pub fn any_failed(&self) -> bool {
        self.outcomes.iter().any(|o| o.status.is_failure())
    }

    /// Locks a manifest of this run's records: their chain of custody. A failure becomes the
    /// outcome `failed` makes of it.
    pub async fn lock_manifest(
        &mut self,
        responder: &Responder,
        failed: impl Fn(&AwsError) -> ActionOutcome,
    ) {
        let now = Utc::now();
        let manifest = Manifest {
            incident_id: self.incident.id.clone(),
            written_at: now,
            written_by: responder.collector.clone(),
            items: self.records.clone(),
            missing: Vec::<Missing>::new(),
            bucket: responder.evidence.bucket().to_string(),
        };
        match responder
            .evidence
            .put_manifest(&manifest, &responder.collector, now)
            .await
        {
            Ok(item) => self.manifest = Some(item),
            Err(e) => self.outcomes.push(failed(&e)),
        }
    }

    /// Appends `log`, then this run's records and manifest as evidence entries, to the incident
    /// log (nothing on a dry run or an empty log). A failure becomes the outcome `failed` makes.
    pub async fn append_log(
        &mut self,
        responder: &Responder,
        mut log: Vec<firebreak_core::Entry>,
        failed: impl Fn(&AwsError) -> ActionOutcome,
    ) {
        if responder.dry_run || log.is_empty() {
            return;
        }
        log.extend(self.records.iter().map(crate::log::evidence));
        log.extend(self.manifest.iter().map(crate::log::evidence));
        match crate::log::append(
            &responder.evidence,
            &self.incident.id,
            &responder.collector.identity,
            log,
            Utc::now(),
        )
        .await
        {
            Ok(keys) => self.logged = keys,
            Err(e) => self.outcomes.push(failed(&e)),
        }
    }
}

/// What the evidence store holds about one incident.
#[derive(Debug, Clone)]
pub struct Locked {
    /// Key of the locked source event the incident is triaged from.
    pub event_key: String,
    /// Its text.
    pub source_event: String,
    /// The responder's outcomes, from every `outcomes/` record.
    pub outcomes: Vec<ActionOutcome>,
    /// Every approval record.
    pub approvals: Vec<ApprovalRecord>,
}

impl Locked {
    /// The responder's outcomes and the approved actions' outcomes together.
    pub fn all_outcomes(&self) -> Vec<ActionOutcome> {
        let mut all = self.outcomes.clone();
        all.extend(self.approvals.iter().map(|a| a.outcome.clone()));
        all
    }
}

/// The body of an `outcomes/` record (written by `Responder::close_evidence`).
#[derive(Deserialize)]
struct OutcomesRecord {
    outcomes: Vec<ActionOutcome>,
}

/// The body of an approval or release claim: who claimed the step, and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ClaimBody {
    /// Caller identity ARN.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The step (`approve action 3`, a release step id).
    pub step: String,
}

impl ClaimBody {
    /// `by <arn> at <time>`, or what is known of an unreadable claim.
    pub fn describe(body: &[u8]) -> String {
        match serde_json::from_slice::<ClaimBody>(body) {
            Ok(c) => format!("by {} at {}", c.by, c.at.format("%Y-%m-%d %H:%M:%S UTC")),
            Err(_) => "(the claim record is unreadable)".into(),
        }
    }
}

/// Reads incident `id` back from `store`.
pub async fn load(store: &EvidenceStore, id: &IncidentId) -> Result<Locked, AwsError> {
    let keys = store.list(id).await?;
    if keys.is_empty() {
        return Err(AwsError::new(
            "NoSuchIncident",
            format!("incident {id} has no evidence under {}", store.location(id)),
        ));
    }
    let event_key = source_event_key(store, id, &keys).await?;
    let source_event = String::from_utf8(store.read(&event_key).await?)
        .map_err(|_| AwsError::new("BadRecord", format!("{event_key} is not UTF-8")))?;
    let prefix = EvidenceStore::prefix(id);
    let mut outcomes = Vec::new();
    for key in under(&keys, format!("{prefix}outcomes/")) {
        let record: OutcomesRecord = read_json(store, key).await?;
        outcomes.extend(record.outcomes);
    }
    let mut approvals = Vec::new();
    for key in under(&keys, format!("{prefix}approval-record/")) {
        approvals.push(read_json(store, key).await?);
    }
    Ok(Locked {
        event_key,
        source_event,
        outcomes,
        approvals,
    })
}

/// Triages the locked source event again: the incident must be the one named.
pub fn incident(triage: &Triage, id: &IncidentId, locked: &Locked) -> Result<Incident, AwsError> {
    let key = &locked.event_key;
    match triage.triage_json(&locked.source_event) {
        Ok(Decision::Incident(incident)) if incident.id == *id => Ok(*incident),
        Ok(Decision::Incident(incident)) => Err(AwsError::new(
            "BadRecord",
            format!("{key} describes incident {}, not {id}", incident.id),
        )),
        Ok(Decision::Ignored { reason }) => Err(AwsError::new(
            "NotAnIncident",
            format!("{key} is no longer an incident under this configuration: {reason}"),
        )),
        Err(e) => Err(AwsError::new("BadRecord", format!("{key}: {e}"))),
    }
}

/// Whether a step was claimed and finished: `Some("by … at …")` when it was.
pub async fn finished_by(
    store: &EvidenceStore,
    id: &IncidentId,
    name: &str,
) -> Result<Option<String>, AwsError> {
    Ok(match store.claim(id, name).await? {
        Claim::Done(body) => Some(ClaimBody::describe(&body)),
        Claim::Free | Claim::Open(_) => None,
    })
}

/// The source event: the one `opened.json` names (the functions), else the one the first
/// manifest lists (`firebreak respond`), else the only one there is.
async fn source_event_key(
    store: &EvidenceStore,
    id: &IncidentId,
    keys: &[String],
) -> Result<String, AwsError> {
    let prefix = EvidenceStore::prefix(id);
    let opened = format!("{prefix}opened.json");
    if keys.contains(&opened) {
        let record: serde_json::Value = read_json(store, &opened).await?;
        let key = record["event_key"].as_str().unwrap_or_default();
        if !key.starts_with(&format!("{prefix}events/")) || key.contains("..") {
            return Err(AwsError::new(
                "BadRecord",
                format!("{opened} names {key:?}, not an event of incident {id}"),
            ));
        }
        return Ok(key.to_string());
    }
    let sources: Vec<&String> = under(keys, format!("{prefix}source-event/")).collect();
    let first_manifest = format!("{prefix}manifest.json");
    if sources.len() > 1 && keys.contains(&first_manifest) {
        let manifest: Manifest = read_json(store, &first_manifest).await?;
        if let Some(item) = manifest.items.iter().find(|i| i.kind == "source-event") {
            return Ok(item.key.clone());
        }
    }
    if let Some(key) = sources.first() {
        return Ok(key.to_string());
    }
    under(keys, format!("{prefix}events/"))
        .find(|k| !k.ends_with(".done"))
        .cloned()
        .ok_or_else(|| {
            AwsError::new(
                "NoSourceEvent",
                format!("incident {id} has evidence but no locked source event"),
            )
        })
}

/// The `.json` keys under `prefix`.
fn under(keys: &[String], prefix: String) -> impl Iterator<Item = &String> {
    keys.iter()
        .filter(move |k| k.starts_with(&prefix) && k.ends_with(".json"))
}

async fn read_json<T: serde::de::DeserializeOwned>(
    store: &EvidenceStore,
    key: &str,
) -> Result<T, AwsError> {
    let bytes = store.read(key).await?;
    serde_json::from_slice(&bytes).map_err(|e| AwsError::new("BadRecord", format!("{key}: {e}")))
}
