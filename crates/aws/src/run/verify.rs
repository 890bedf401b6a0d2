//! The chain-of-custody check behind `firebreak verify`: every object under the incident's
//! prefix and every item of every manifest is read back, hashed again and compared with the
//! manifests and with S3's stored checksum, and its retention is checked. Keys are listed with
//! their versions: each is judged by its original (oldest) version, and a key with a second
//! version (or a delete marker) is reported as rewritten. The verdicts are
//! `firebreak_core::record::custody`'s; this module only reads.

use std::collections::BTreeMap;

use aws_sdk_s3::types::ChecksumMode;
use chrono::{DateTime, Utc};
use firebreak_core::record::custody::{self, Listed, Observed, Verdict};
use firebreak_core::{Entry, IncidentId};
use sha2::{Digest, Sha256};

use crate::sdk::error::{AwsError, SdkResultExt};
use crate::store::evidence::{EvidenceStore, Manifest, Versions, hex};

/// The verdict on one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Object key.
    pub key: String,
    /// What the check found.
    pub verdict: Verdict,
}

/// What a verification found.
#[derive(Debug, Clone)]
pub struct Verification {
    /// The incident.
    pub incident_id: IncidentId,
    /// `s3://bucket/incidents/<id>/`.
    pub location: String,
    /// The manifests read.
    pub manifests: Vec<String>,
    /// One verdict per object, in key order.
    pub checked: Vec<Checked>,
    /// The keys whose bytes were read (for the custody entry).
    pub read: Vec<String>,
    /// When the check started (the "now" retention is judged against).
    pub checked_at: DateTime<Utc>,
}

impl Verification {
    /// True when every verdict is `ok`.
    pub fn all_ok(&self) -> bool {
        self.checked.iter().all(|c| c.verdict.is_ok())
    }
}

/// Verifies incident `id`'s evidence at `now`. Fails with `NoSuchIncident` when nothing is
/// stored under its prefix.
pub async fn verify(
    store: &EvidenceStore,
    id: &IncidentId,
    now: DateTime<Utc>,
) -> Result<Verification, AwsError> {
    let versions = store.versions_under(id, "").await?;
    let keys = versions.keys();
    if keys.is_empty() {
        return Err(AwsError::new(
            "NoSuchIncident",
            format!("incident {id} has no evidence under {}", store.location(id)),
        ));
    }
    let prefix = EvidenceStore::prefix(id);
    let name = |key: &str| key.strip_prefix(&prefix).unwrap_or(key).to_string();
    let manifests: Vec<String> = keys
        .iter()
        .filter(|k| {
            let n = name(k);
            n.starts_with("manifest") && n.ends_with(".json") && !n.contains('/')
        })
        .cloned()
        .collect();
    let mut listed: BTreeMap<String, Vec<Listed>> = BTreeMap::new();
    for key in &manifests {
        // The manifest's original version: what Firebreak listed, whatever was written over it.
        let bytes = store.read_original(&versions, key).await?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| AwsError::new("BadRecord", format!("{key} is not a manifest: {e}")))?;
        for item in manifest.items {
            // A manifest lists itself nowhere; an item of another incident is not ours to judge.
            if item.key.starts_with(&prefix) {
                listed.entry(item.key).or_default().push(Listed {
                    manifest: key.clone(),
                    sha256: item.sha256,
                });
            }
        }
    }
    let mut all: Vec<String> = keys.clone();
    all.extend(listed.keys().filter(|k| !keys.contains(k)).cloned());
    all.sort();
    let mut checked = Vec::with_capacity(all.len());
    let mut read = Vec::new();
    for key in all {
        let observed = if keys.contains(&key) {
            let o = observe(store, &versions, &key).await?;
            if o.is_some() {
                read.push(key.clone());
            }
            o
        } else {
            None
        };
        let on = listed.get(&key).map(Vec::as_slice).unwrap_or_default();
        let verdict = custody::judge(&name(&key), observed.as_ref(), on, now);
        checked.push(Checked { key, verdict });
    }
    Ok(Verification {
        incident_id: id.clone(),
        location: store.location(id),
        manifests,
        checked,
        read,
        checked_at: now,
    })
}

/// Appends the `custody` entry of verification `v` (its reading, for `purpose`) to the
/// incident log as `by`; the key written.
pub async fn record_custody(
    store: &EvidenceStore,
    v: &Verification,
    by: &str,
    purpose: &str,
) -> Result<Vec<String>, AwsError> {
    let entry = custody_entry(&v.read, purpose, v.checked_at);
    crate::store::log::append(store, &v.incident_id, by, vec![entry], Utc::now()).await
}

/// The current time, for callers that hold no clock of their own.
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

/// The `custody` entry of a reading of `keys` for `purpose`, started at `read_at`.
pub fn custody_entry(keys: &[String], purpose: &str, read_at: DateTime<Utc>) -> Entry {
    Entry::Custody {
        keys: keys.to_vec(),
        purpose: purpose.to_string(),
        read_at,
    }
}

/// Reads `key`'s original version back: its bytes' hash, S3's stored checksum and its retention
/// (from HeadObject: the SDK cannot read every store's GetObjectRetention answer), and how many
/// versions the key has. `None` when it is gone.
async fn observe(
    store: &EvidenceStore,
    versions: &Versions,
    key: &str,
) -> Result<Option<Observed>, AwsError> {
    let Some(original) = versions.original(key) else {
        return Ok(None);
    };
    let version = Some(original.version_id.clone()).filter(|v| v != "null");
    let bytes = match store.read_original(versions, key).await {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    let head = store
        .s3()
        .head_object()
        .bucket(store.bucket())
        .key(key)
        .set_version_id(version)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .aws()?;
    let stored_sha256 = head
        .checksum_sha256()
        // A multipart object's checksum is `<base64>-<parts>`: not the bytes' hash.
        .and_then(|b64| aws_smithy_types::base64::decode(b64).ok())
        .map(|raw| hex(&raw));
    let retain_until = match head.object_lock_mode() {
        Some(_) => head
            .object_lock_retain_until_date()
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())),
        None => None,
    };
    Ok(Some(Observed {
        sha256: hex(&Sha256::digest(&bytes)),
        stored_sha256,
        retain_until,
        versions: versions.count(key),
    }))
}
