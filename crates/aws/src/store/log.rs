//! The incident log in the evidence bucket: each entry one locked object
//! `incidents/<id>/log/<seq:06>-<kind>-<hash8>.json` (see `firebreak_core::record::log`), written with
//! the store's conditional create (`If-None-Match: *`, Object Lock, SHA-256 checksum).
//!
//! The next `seq` is 1 + the highest listed; a write that loses the race for a `seq` lists again
//! and takes the next one (bounded). An entry whose identity hash is already listed is not
//! written again, so a retried step appends nothing twice. Two appenders of the same fact that
//! list at the same moment and still pick different `seq`s can both write it; the conditional
//! create only makes each key unique.

use chrono::{DateTime, Utc};
use firebreak_core::IncidentId;
use firebreak_core::record::Record;
use firebreak_core::record::log::{self, Entry, LOG_DIR, LogEntry, LogKey};

use crate::sdk::error::AwsError;
use crate::store::evidence::{EvidenceStore, Item};

/// How many times an append lists again after losing a `seq` to another writer.
pub const MAX_ATTEMPTS: usize = 32;

/// `incidents/<id>/log/`.
pub fn prefix(id: &IncidentId) -> String {
    format!("{}{LOG_DIR}", EvidenceStore::prefix(id))
}

/// The `evidence` entry of an item written to the store.
pub fn evidence(item: &Item) -> Entry {
    Entry::Evidence {
        key: item.key.clone(),
        item_kind: item.kind.clone(),
        sha256: item.sha256.clone(),
        size: item.size,
        retain_until: item.retain_until,
    }
}

/// A page that was sent, and where its log entry went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// SNS message id.
    pub message_id: String,
    /// The log key of the entry; `None` when there was no entry to log, or it was logged before.
    pub logged: Option<String>,
}

/// A page being sent: resolves to SNS's message id.
pub type Sending<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<String, AwsError>> + Send + 'a>>;

/// Sends a page and logs it: awaits `send` (the message published, giving SNS's message id),
/// then appends `entry(message_id)` to incident `id`'s log. The one way a page is logged after
/// triage (the page function, the clock's reminders, a drill's verdict, the wiring check); a
/// response logs its page in the same append as the outcomes the page reports.
///
/// Nothing is logged for a page SNS refused. A page that was sent and whose entry could not be
/// appended is an error: the caller fails so it is retried (pages are at-least-once).
pub async fn page_and_log(
    store: &EvidenceStore,
    id: &IncidentId,
    by: &str,
    send: Sending<'_>,
    entry: impl FnOnce(String) -> Option<Entry>,
    now: DateTime<Utc>,
) -> Result<Sent, AwsError> {
    let message_id = send.await?;
    let logged = match entry(message_id.clone()) {
        // Boxed, as `send` is: the callers' futures stay small (the SDK's are large).
        Some(entry) => Box::pin(append(store, id, by, vec![entry], now))
            .await?
            .into_iter()
            .next(),
        None => None,
    };
    Ok(Sent { message_id, logged })
}

/// Appends `entries`, in order, to incident `id`'s log as `by`; the keys written (entries
/// already in the log are skipped).
pub async fn append(
    store: &EvidenceStore,
    id: &IncidentId,
    by: &str,
    entries: Vec<Entry>,
    now: DateTime<Utc>,
) -> Result<Vec<String>, AwsError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let wakes = entries.iter().any(firebreak_core::record::wakes_the_clock);
    let prefix = prefix(id);
    let mut keys = listed(store, id, &prefix).await?;
    let mut written = Vec::new();
    'entries: for entry in entries {
        for _ in 0..MAX_ATTEMPTS {
            if log::contains(&keys, id, &entry) {
                continue 'entries;
            }
            let seq = log::next_seq(&keys);
            let name = entry.name(id, seq);
            let record = LogEntry {
                incident_id: id.clone(),
                seq,
                at: now,
                by: by.to_string(),
                entry: entry.clone(),
            };
            let body = serde_json::to_vec_pretty(&record)
                .map_err(|e| AwsError::new("Serialization", e.to_string()))?;
            let key = format!("{prefix}{name}");
            if store.create_key(id, &key, body, now).await? {
                keys.extend(LogKey::parse(&name));
                written.push(key);
                continue 'entries;
            }
            // Another writer took this seq: see what it wrote and take the next.
            keys = listed(store, id, &prefix).await?;
        }
        return Err(AwsError::new(
            "LogConflict",
            format!(
                "could not append a {} entry to {prefix} after {MAX_ATTEMPTS} attempts",
                entry.kind()
            ),
        ));
    }
    // After the entry is in the log, and again on a retry that finds it there: the clock reads
    // the incidents marked since its last run (see `crate::run::clock`).
    if wakes {
        mark(store, id, now).await?;
    }
    Ok(written)
}

/// Every entry of incident `id`'s log, in order: each key's original version (the entry as it
/// was appended), never one written over it (`verify` reports those).
pub async fn read(store: &EvidenceStore, id: &IncidentId) -> Result<Vec<LogEntry>, AwsError> {
    let versions = store.versions_under(id, LOG_DIR).await?;
    let mut entries = Vec::new();
    for key in versions.keys() {
        let bytes = store.read_original(&versions, &key).await?;
        let entry: LogEntry = serde_json::from_slice(&bytes)
            .map_err(|e| AwsError::new("BadRecord", format!("{key}: {e}")))?;
        entries.push(entry);
    }
    Ok(log::in_order(entries))
}

/// Incident `id` as its log tells it; `NoSuchIncident` when it has no log.
pub async fn record(store: &EvidenceStore, id: &IncidentId) -> Result<Record, AwsError> {
    let entries = read(store, id).await?;
    if entries.is_empty() {
        return Err(AwsError::new(
            "NoSuchIncident",
            format!("incident {id} has no log under {}", store.location(id)),
        ));
    }
    Ok(Record::from_log(id.clone(), entries))
}

async fn listed(
    store: &EvidenceStore,
    id: &IncidentId,
    prefix: &str,
) -> Result<Vec<LogKey>, AwsError> {
    let keys = store.list_under(id, LOG_DIR).await?;
    Ok(log::keys(
        keys.iter().filter_map(|k| k.strip_prefix(prefix)),
    ))
}
/// Where incidents are marked for the clock: `clock/watch/<hour>/<incident-id>`. An opening
/// marks its incident in the hour it is logged; the clock reads the marks since its last
/// snapshot (see `crate::run::clock`).
pub const WATCH_DIR: &str = "clock/watch/";

/// `clock/watch/<hour>/<id>`.
pub fn watch_key(id: &IncidentId, now: DateTime<Utc>) -> String {
    format!(
        "{WATCH_DIR}{}/{id}",
        firebreak_core::record::reminder_hour(now)
    )
}

/// Marks incident `id` for the clock's next run (see `crate::run::clock`); idempotent.
pub async fn mark(
    store: &EvidenceStore,
    id: &IncidentId,
    now: DateTime<Utc>,
) -> Result<(), AwsError> {
    let body = serde_json::to_vec(&crate::store::format::WatchMark {
        incident_id: id.clone(),
        marked_at: now,
    })
    .map_err(|e| AwsError::new("Serialization", e.to_string()))?;
    store
        .create_key(id, &watch_key(id, now), body, now)
        .await
        .map(|_| ())
}
