//! An incident read back from the evidence store: the locked source event its plan is triaged
//! from again, and every outcome locked for it (the responder's and the approvals'). This is
//! what `approve` and `release` act on; nothing they do rests on a caller's say-so.
//!
//! Every object is read at its original (oldest) version, the one Firebreak's conditional create
//! wrote. An `outcomes/` or `approval-record/` record is acted on only when a manifest Firebreak
//! wrote lists its SHA-256; anything else found there is ignored and said so. A manifest with a
//! second version stops the run: the chain of custody itself was written over.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use firebreak_core::record::approval::ApprovalRecord;
use firebreak_core::{ActionOutcome, Decision, Incident, IncidentId, Triage};

use crate::sdk::error::AwsError;
use sha2::{Digest, Sha256};

use crate::store::evidence::{
    Claim, Collector, EvidenceStore, Item, Manifest, Missing, Versions, hex,
};
use crate::store::format::{ClaimBody, OutcomesRecord};

/// Where a run's records go, and as whom: the responder's store and collector, and whether it
/// is a dry run (which writes nothing).
#[derive(Clone, Copy)]
pub struct Writer<'a> {
    /// The evidence store.
    pub store: &'a EvidenceStore,
    /// Who writes.
    pub collector: &'a Collector,
    /// A dry run appends nothing to the log.
    pub dry_run: bool,
}

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
    /// What was found in the evidence store and not acted on, and why (see [`Locked::ignored`]).
    pub ignored: Vec<String>,
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
            ignored: Vec::new(),
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
        writer: Writer<'_>,
        failed: impl Fn(&AwsError) -> ActionOutcome,
    ) {
        let now = Utc::now();
        let manifest = Manifest {
            incident_id: self.incident.id.clone(),
            written_at: now,
            written_by: writer.collector.clone(),
            items: self.records.clone(),
            missing: Vec::<Missing>::new(),
            bucket: writer.store.bucket().to_string(),
        };
        match writer
            .store
            .put_manifest(&manifest, writer.collector, now)
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
        writer: Writer<'_>,
        mut log: Vec<firebreak_core::Entry>,
        failed: impl Fn(&AwsError) -> ActionOutcome,
    ) {
        if writer.dry_run || log.is_empty() {
            return;
        }
        log.extend(self.records.iter().map(crate::store::log::evidence));
        log.extend(self.manifest.iter().map(crate::store::log::evidence));
        match crate::store::log::append(
            writer.store,
            &self.incident.id,
            &writer.collector.identity,
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
    /// What was found and not used, one line each: records no Firebreak manifest lists, and
    /// versions written over a locked key (the original is what is used).
    pub ignored: Vec<String>,
}

impl Locked {
    /// The responder's outcomes and the approved actions' outcomes together.
    pub fn all_outcomes(&self) -> Vec<ActionOutcome> {
        let mut all = self.outcomes.clone();
        all.extend(self.approvals.iter().map(|a| a.outcome.clone()));
        all
    }
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

/// Reads incident `id` back from `store`: one listing of its versions, then each object read
/// needs. Fails with `EvidenceTampered` when a manifest has a second version.
pub async fn load(store: &EvidenceStore, id: &IncidentId) -> Result<Locked, AwsError> {
    let versions = store.versions_under(id, "").await?;
    let keys = versions.keys();
    if keys.is_empty() {
        return Err(AwsError::new(
            "NoSuchIncident",
            format!("incident {id} has no evidence under {}", store.location(id)),
        ));
    }
    let mut ignored = Vec::new();
    let listed = manifested(store, id, &versions, &keys, &mut ignored).await?;
    let event_key = source_event_key(store, id, &versions, &keys).await?;
    let source_event = String::from_utf8(store.read_original(&versions, &event_key).await?)
        .map_err(|_| AwsError::new("BadRecord", format!("{event_key} is not UTF-8")))?;
    let prefix = EvidenceStore::prefix(id);
    for key in [format!("{prefix}opened.json"), event_key.clone()] {
        note_rewritten(&versions, &key, &mut ignored);
    }
    let mut outcomes = Vec::new();
    for key in under(&keys, format!("{prefix}outcomes/")) {
        if let Some(bytes) = vouched(store, &versions, &listed, key, &mut ignored).await? {
            let record: OutcomesRecord = parse(key, &bytes)?;
            outcomes.extend(record.outcomes);
        }
    }
    let mut approvals = Vec::new();
    for key in under(&keys, format!("{prefix}approval-record/")) {
        if let Some(bytes) = vouched(store, &versions, &listed, key, &mut ignored).await? {
            approvals.push(parse(key, &bytes)?);
        }
    }
    Ok(Locked {
        event_key,
        source_event,
        outcomes,
        approvals,
        ignored,
    })
}

/// What the manifests Firebreak wrote list: each key with the SHA-256s recorded for it. Each
/// manifest is read at its original version; one with a second version is a tamper and stops
/// the run. A manifest that does not parse, or names another incident or bucket, is no manifest
/// of Firebreak's: it is ignored (and said so).
async fn manifested(
    store: &EvidenceStore,
    id: &IncidentId,
    versions: &Versions,
    keys: &[String],
    ignored: &mut Vec<String>,
) -> Result<BTreeMap<String, BTreeSet<String>>, AwsError> {
    let prefix = EvidenceStore::prefix(id);
    let mut listed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for key in keys.iter().filter(|k| is_manifest(&prefix, k)) {
        let n = versions.count(key);
        if n > 1 {
            return Err(AwsError::new(
                "EvidenceTampered",
                format!(
                    "{key} has {n} versions: something wrote over a locked manifest, so the \
                     records it vouches for cannot be trusted; nothing was done. Run `firebreak \
                     verify {id}` and investigate who wrote it"
                ),
            ));
        }
        let bytes = store.read_original(versions, key).await?;
        let manifest: Manifest = match serde_json::from_slice(&bytes) {
            Ok(m) => m,
            Err(e) => {
                ignored.push(format!("{key}: not a manifest ({e}); ignored"));
                continue;
            }
        };
        if manifest.incident_id != *id || manifest.bucket != store.bucket() {
            ignored.push(format!(
                "{key}: a manifest of {} in {}, not of {id} in {}; ignored",
                manifest.incident_id,
                manifest.bucket,
                store.bucket()
            ));
            continue;
        }
        for item in manifest.items {
            listed.entry(item.key).or_default().insert(item.sha256);
        }
    }
    Ok(listed)
}

/// The original bytes of record `key` when a manifest lists their SHA-256; `None` (and a line
/// in `ignored`) when none does.
async fn vouched(
    store: &EvidenceStore,
    versions: &Versions,
    listed: &BTreeMap<String, BTreeSet<String>>,
    key: &str,
    ignored: &mut Vec<String>,
) -> Result<Option<Vec<u8>>, AwsError> {
    let bytes = store.read_original(versions, key).await?;
    let sha256 = hex(&Sha256::digest(&bytes));
    if !listed.get(key).is_some_and(|s| s.contains(&sha256)) {
        ignored.push(format!(
            "{key}: no manifest Firebreak wrote lists it (sha256 {sha256}); ignored, not acted on"
        ));
        return Ok(None);
    }
    note_rewritten(versions, key, ignored);
    Ok(Some(bytes))
}

/// Says so in `ignored` when `key` was written over: its original version is the one used.
fn note_rewritten(versions: &Versions, key: &str, ignored: &mut Vec<String>) {
    let n = versions.count(key);
    if n > 1 {
        ignored.push(format!(
            "{key}: written over ({n} versions); the original Firebreak locked is used, every \
             later version ignored"
        ));
    }
}

fn is_manifest(prefix: &str, key: &str) -> bool {
    key.strip_prefix(prefix)
        .is_some_and(|n| n.starts_with("manifest") && n.ends_with(".json") && !n.contains('/'))
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
    versions: &Versions,
    keys: &[String],
) -> Result<String, AwsError> {
    let prefix = EvidenceStore::prefix(id);
    let opened = format!("{prefix}opened.json");
    if keys.contains(&opened) {
        let record: serde_json::Value =
            parse(&opened, &store.read_original(versions, &opened).await?)?;
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
        let manifest: Manifest = parse(
            &first_manifest,
            &store.read_original(versions, &first_manifest).await?,
        )?;
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

fn parse<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, AwsError> {
    serde_json::from_slice(bytes).map_err(|e| AwsError::new("BadRecord", format!("{key}: {e}")))
}
