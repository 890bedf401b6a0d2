//! The evidence store: every item written once under `incidents/<incident-id>/`, with Object Lock
//! retention, an S3-verified SHA-256 checksum and the quarantine tag, and listed in a manifest
//! that records who collected it and when — the chain of custody.
//!
//! Items are content-addressed (`<kind>/<sha256-prefix>.<ext>`) and written with
//! `If-None-Match: *`: a second delivery of the same event finds its item already there, with the
//! same checksum, and writes nothing; a locked version is never overwritten.
//!
//! Object Lock protects versions, not keys: anyone allowed `PutObject` can stack a second
//! version on a locked key. So every read pins a version: the oldest one of the key (the one the
//! conditional create wrote), found with `ListObjectVersions`; a later version is a tamper that
//! `verify` reports and no reader believes.

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ObjectLockMode};
use chrono::{DateTime, Duration, Utc};
use firebreak_core::IncidentId;
use sha2::{Digest, Sha256};

use firebreak_core::action::plan::QUARANTINE_TAG;

use crate::sdk::clients::Lazy;
use crate::sdk::error::{AwsError, SdkResultExt};
pub use crate::store::format::{Collector, Finished, Item, Manifest, Missing};

/// Where a step that must happen once per key stands, as its claim object says.
///
/// A step claims `<key>` with `If-None-Match: *` and, when it has finished, writes
/// `<key>.done`. A claim without a `.done` is either in flight (`Busy`: retry later) or was
/// abandoned by an attempt that died (`Resume`: older than the longest an attempt can run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// This attempt made the claim: do the step.
    First,
    /// An earlier attempt claimed it and never finished: do the step again.
    Resume,
    /// The step is done: a repeated delivery, nothing to do.
    Duplicate,
    /// Another attempt is doing it now: fail so the event is retried later.
    Busy,
}

/// A step that must happen once per incident: the claim it is run behind (see
/// [`EvidenceStore::once`]).
#[derive(Debug, Clone)]
pub struct StepClaim<'a> {
    /// The incident.
    pub id: &'a IncidentId,
    /// The claim's name under the incident (`steps/contain.json`, `approvals/3.json`, …).
    pub name: &'a str,
    /// What the claim object says: who claimed it, when, for what.
    pub body: Vec<u8>,
    /// Now.
    pub now: DateTime<Utc>,
    /// How old an unfinished claim must be before another run takes it over.
    pub stale_after: Duration,
}

/// What a step's work says of its claim.
#[derive(Debug)]
pub enum Then<T> {
    /// Done: mark the claim finished, so no repeat runs it.
    Finish(T),
    /// Leave it claimed but unfinished, so a later run (once the claim is stale) tries again.
    KeepOpen(T),
}

/// What became of a step run behind its claim.
#[derive(Debug)]
pub enum Once<T> {
    /// It was finished before: nothing ran.
    Duplicate,
    /// Another run holds a fresh claim on it: nothing ran.
    Busy,
    /// It ran (first, or taking over a stale claim). `finished` is an error only when the work
    /// said [`Then::Finish`] and marking the claim finished failed.
    Ran {
        /// What the work returned.
        value: T,
        /// Marking the claim finished, where the work asked for it.
        finished: Result<(), AwsError>,
    },
}

/// What a claim object says of a step, read without taking it (see [`Turn`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Nobody claimed the step.
    Free,
    /// Claimed, with this body, and not finished.
    Open(Vec<u8>),
    /// Claimed, with this body, and finished.
    Done(Vec<u8>),
}

/// One version of a key, as `ListObjectVersions` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The version id (`null` in a bucket that never had versioning).
    pub version_id: String,
    /// When it was written.
    pub last_modified: Option<DateTime<Utc>>,
    /// True for a delete marker (no bytes: a `DeleteObject` without a version id).
    pub delete_marker: bool,
}

/// Every version of every key under a prefix, each key's versions oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Versions {
    keys: BTreeMap<String, Vec<Version>>,
}

impl Versions {
    /// Every key whose original version holds bytes, in key order.
    pub fn keys(&self) -> Vec<String> {
        self.keys
            .iter()
            .filter(|(_, v)| v.first().is_some_and(|v| !v.delete_marker))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The original version of `key`: the oldest, the one the conditional create wrote. `None`
    /// when the key does not exist (or began as a delete marker).
    pub fn original(&self, key: &str) -> Option<&Version> {
        self.keys
            .get(key)
            .and_then(|v| v.first())
            .filter(|v| !v.delete_marker)
    }

    /// How many versions (delete markers included) `key` has: 1 for a key never written over.
    pub fn count(&self, key: &str) -> usize {
        self.keys.get(key).map_or(0, Vec::len)
    }

    /// Every key with more than one version, and how many it has.
    pub fn rewritten(&self) -> Vec<(String, usize)> {
        self.keys
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(k, v)| (k.clone(), v.len()))
            .collect()
    }

    /// Adds one version, in the listing's order (S3 lists a key's versions newest first).
    fn add(&mut self, key: String, version: Version) {
        self.keys.entry(key).or_default().push(version);
    }

    /// Orders each key's versions oldest first: by time, and within one timestamp by the
    /// listing's order reversed (newest first is how S3 lists them).
    fn settle(&mut self) {
        for versions in self.keys.values_mut() {
            versions.reverse();
            versions.sort_by_key(|v| v.last_modified);
        }
    }
}

/// A PUT signed for one memory image ([`EvidenceStore::presign_memory`]).
#[derive(Debug, Clone)]
pub struct SignedPut {
    /// Where it creates the image.
    pub key: String,
    /// The URL, signature included.
    pub url: String,
    /// The headers the request must carry exactly.
    pub headers: Vec<(String, String)>,
    /// When it was signed: nothing it created can be older.
    pub signed_at: DateTime<Utc>,
    /// The lock it sets.
    pub retain_until: DateTime<Utc>,
}

/// What a listing shows at one key ([`EvidenceStore::listed`]).
#[derive(Debug, Clone, Default)]
pub struct Listed {
    /// Each version's size and creation, as listed.
    pub versions: Vec<(Option<i64>, Option<DateTime<Utc>>)>,
    /// A delete marker is among them.
    pub delete_marker: bool,
    /// The listing went on beyond what was read.
    pub more: bool,
}

impl Listed {
    /// Nothing is there.
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty() && !self.delete_marker
    }

    /// A version was created a whole second or more before `t` (S3 lists whole seconds).
    pub fn created_before(&self, t: DateTime<Utc>) -> bool {
        self.versions
            .iter()
            .any(|(_, created)| created.is_some_and(|c| c + Duration::seconds(1) <= t))
    }
}

/// Writes evidence into the locked bucket.
#[derive(Debug, Clone)]
pub struct EvidenceStore {
    s3: Lazy<aws_sdk_s3::Client>,
    bucket: String,
    retention: Duration,
    mode: ObjectLockMode,
}

impl EvidenceStore {
    /// A store on `bucket`, retaining items for `retention_days` in `mode`.
    pub fn new(
        s3: impl Into<Lazy<aws_sdk_s3::Client>>,
        bucket: impl Into<String>,
        retention_days: u32,
        governance: bool,
    ) -> Self {
        EvidenceStore {
            s3: s3.into(),
            bucket: bucket.into(),
            retention: Duration::days(i64::from(retention_days)),
            mode: if governance {
                ObjectLockMode::Governance
            } else {
                ObjectLockMode::Compliance
            },
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// `incidents/<id>/`.
    pub fn prefix(id: &IncidentId) -> String {
        format!("incidents/{id}/")
    }

    /// `s3://bucket/incidents/<id>/`.
    pub fn location(&self, id: &IncidentId) -> String {
        format!("s3://{}/{}", self.bucket, Self::prefix(id))
    }

    /// Stores one content-addressed item: `incidents/<id>/<kind>/<sha256[..16]>.<ext>`.
    pub async fn put(
        &self,
        id: &IncidentId,
        kind: &str,
        ext: &str,
        body: Vec<u8>,
        collector: &Collector,
        now: DateTime<Utc>,
    ) -> Result<Item, AwsError> {
        let digest = Sha256::digest(&body);
        let key = format!("{}{kind}/{}.{ext}", Self::prefix(id), &hex(&digest)[..16]);
        self.put_at(id, &key, kind, body, &digest, collector, now)
            .await
    }

    /// Stores the manifest as `manifest.json`, or `manifest-<n>.json` when earlier runs wrote one.
    pub async fn put_manifest(
        &self,
        manifest: &Manifest,
        collector: &Collector,
        now: DateTime<Utc>,
    ) -> Result<Item, AwsError> {
        let body = serde_json::to_vec_pretty(manifest)
            .map_err(|e| AwsError::new("Serialization", e.to_string()))?;
        let digest = Sha256::digest(&body);
        let id = &manifest.incident_id;
        for n in 1..=1000u32 {
            let name = if n == 1 {
                "manifest.json".to_string()
            } else {
                format!("manifest-{n}.json")
            };
            let key = format!("{}{name}", Self::prefix(id));
            match self
                .put_at(id, &key, "manifest", body.clone(), &digest, collector, now)
                .await
            {
                Err(e) if e.code == "EvidenceConflict" => continue,
                other => return other,
            }
        }
        Err(AwsError::new(
            "EvidenceConflict",
            "a thousand manifests already exist for this incident",
        ))
    }

    /// A GET of `key` that anyone holding the URL may make until `expires` from now, signed by
    /// whoever runs Firebreak (the memory tool, fetched by the instance).
    pub async fn presign_get(
        &self,
        key: &str,
        expires: std::time::Duration,
    ) -> Result<String, AwsError> {
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(expires)
            .map_err(|e| AwsError::new("Presigning", e.to_string()))?;
        let signed = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .aws()?;
        Ok(signed.uri().to_string())
    }

    /// A PUT that creates `incidents/<id>/memory/<sha256[..16]>.lime` only with `size` bytes
    /// whose SHA-256 is `sha256_hex`, locked and tagged like every item, and only if the key is
    /// free, signed at `signed_at` (now) and valid for `expires`.
    pub async fn presign_memory(
        &self,
        id: &IncidentId,
        sha256_hex: &str,
        size: u64,
        signed_at: DateTime<Utc>,
        expires: std::time::Duration,
    ) -> Result<SignedPut, AwsError> {
        let digest =
            unhex(sha256_hex).ok_or_else(|| AwsError::new("BadInput", "not a SHA-256 in hex"))?;
        let key = format!("{}memory/{}.lime", Self::prefix(id), &sha256_hex[..16]);
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(expires)
            .map_err(|e| AwsError::new("Presigning", e.to_string()))?;
        // Whole seconds, as the header carries it: the date recorded is the date S3 applies.
        let retain_until = DateTime::<Utc>::from_timestamp(
            (signed_at + self.retention + self.retention_margin(expires)).timestamp(),
            0,
        )
        .unwrap_or(signed_at + self.retention);
        let signed = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/octet-stream")
            .content_length(i64::try_from(size).unwrap_or(i64::MAX))
            // Both, as S3 documents for a bucket with default retention.
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(aws_smithy_types::base64::encode(digest))
            .object_lock_mode(self.mode.clone())
            .object_lock_retain_until_date(aws_smithy_types::DateTime::from_secs(
                retain_until.timestamp(),
            ))
            .tagging(format!("{QUARANTINE_TAG}=quarantine%3A{id}"))
            .if_none_match("*")
            .presigned(config)
            .await
            .aws()?;
        let headers = signed
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(SignedPut {
            key,
            url: signed.uri().to_string(),
            headers,
            signed_at,
            retain_until,
        })
    }

    /// What S3 lists at exactly `key`, never its bytes: one listing call.
    pub async fn listed(&self, key: &str) -> Result<Listed, AwsError> {
        let page = self
            .s3
            .list_object_versions()
            .bucket(&self.bucket)
            .prefix(key)
            .max_keys(10)
            .send()
            .await
            .aws()?;
        let time = |t: Option<&aws_smithy_types::DateTime>| {
            t.and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), 0))
        };
        // `key` sorts before every longer key it prefixes: its own entries come first, and the
        // listing goes on past them only if its last entry is still `key`'s.
        let more = page.is_truncated() == Some(true)
            && page.versions().last().and_then(|v| v.key()) == Some(key);
        Ok(Listed {
            versions: page
                .versions()
                .iter()
                .filter(|v| v.key() == Some(key))
                .map(|v| (v.size(), time(v.last_modified())))
                .collect(),
            delete_marker: page.delete_markers().iter().any(|m| m.key() == Some(key)),
            more,
        })
    }

    /// The memory image that an instance uploaded through `put` ([`Self::presign_memory`]),
    /// adopted without reading it: no Firebreak role may read a memory image (the boundary
    /// denies it), so whoever holds one cannot have an instance's memory captured and fetch it.
    /// What makes the listing enough: S3 stores that PUT's bytes only if their SHA-256 is the
    /// signed one, `If-None-Match: *` lets it create the key only while it is free, and the
    /// bucket policy lets nobody but Firebreak's roles and the named responders write here. So
    /// the key must hold exactly one version, of exactly `size` bytes, created after the PUT was
    /// signed; anything else is a conflict, never adopted. Its lock is the one the PUT carried.
    pub async fn adopt_unread(
        &self,
        put: &SignedPut,
        kind: &str,
        sha256_hex: &str,
        size: u64,
        collector: &Collector,
        now: DateTime<Utc>,
    ) -> Result<Item, AwsError> {
        let key = &put.key;
        let listed = self.listed(key).await?;
        let conflict = |why: String| Err(AwsError::new("EvidenceConflict", format!("{key} {why}")));
        if listed.delete_marker {
            return conflict("holds a delete marker".to_string());
        }
        let (stored, created) = match listed.versions.as_slice() {
            [] => return conflict("was never uploaded".to_string()),
            [one] if !listed.more => *one,
            _ => return conflict("holds more than one version, not one upload".to_string()),
        };
        if listed.created_before(put.signed_at) {
            return conflict(format!(
                "was created at {} (before Firebreak signed its upload)",
                created.map(|t| t.to_rfc3339()).unwrap_or_default()
            ));
        }
        match stored.and_then(|s| u64::try_from(s).ok()) {
            Some(stored) if stored == size => {}
            Some(stored) => {
                return conflict(format!("holds {stored} bytes, not the {size} reported"));
            }
            None => return conflict("is listed without a size".to_string()),
        }
        Ok(Item {
            key: key.to_string(),
            kind: kind.to_string(),
            sha256: sha256_hex.to_string(),
            size,
            collected_by: collector.clone(),
            collected_at: now,
            retain_until: put.retain_until,
            already_stored: false,
        })
    }

    /// `key`'s latest version as S3 holds it, with the SHA-256 S3 checked on upload.
    async fn head_with_checksum(
        &self,
        key: &str,
    ) -> Result<aws_sdk_s3::operation::head_object::HeadObjectOutput, AwsError> {
        self.s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .aws()
    }

    /// A PUT signed now may arrive up to `expires` later: its lock is counted from then.
    fn retention_margin(&self, expires: std::time::Duration) -> Duration {
        Duration::seconds(expires.as_secs() as i64)
    }

    /// Claims `incidents/<id>/<name>` with `body` for a step that must happen once; see [`Turn`].
    pub async fn begin(
        &self,
        id: &IncidentId,
        name: &str,
        body: Vec<u8>,
        now: DateTime<Utc>,
        stale_after: Duration,
    ) -> Result<Turn, AwsError> {
        let key = format!("{}{name}", Self::prefix(id));
        let checksum = checksum_of(&body);
        if self.create(Some(id), &key, body, &checksum, now).await? {
            return Ok(Turn::First);
        }
        if self.exists(&format!("{key}.done")).await? {
            return Ok(Turn::Duplicate);
        }
        // Listed, not HEAD (see `object`): a claim another writer has in flight (S3's 409) is
        // not there yet.
        let Some(claim) = self.object(&key).await? else {
            return Ok(Turn::Busy);
        };
        let claimed = claim
            .last_modified()
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), 0))
            .unwrap_or(now);
        Ok(if now - claimed > stale_after {
            Turn::Resume
        } else {
            Turn::Busy
        })
    }

    /// The claim sequence, written once for every step that must happen once (recording an
    /// event, a stage, a page, an approval, a release step): claim `step`; a finished claim is a
    /// [`Once::Duplicate`] and a fresh one a [`Once::Busy`], and nothing runs; otherwise `work`
    /// runs, and the claim is marked finished when it says [`Then::Finish`]. A failure to claim
    /// becomes the caller's error through `claim_failed`; an error of `work` leaves the claim
    /// open.
    pub async fn once<T, E>(
        &self,
        step: StepClaim<'_>,
        claim_failed: impl FnOnce(AwsError) -> E,
        work: impl AsyncFnOnce() -> Result<Then<T>, E>,
    ) -> Result<Once<T>, E> {
        let StepClaim {
            id,
            name,
            body,
            now,
            stale_after,
        } = step;
        match self.begin(id, name, body, now, stale_after).await {
            Err(e) => return Err(claim_failed(e)),
            Ok(Turn::Duplicate) => return Ok(Once::Duplicate),
            Ok(Turn::Busy) => return Ok(Once::Busy),
            Ok(Turn::First | Turn::Resume) => {}
        }
        let (value, finished) = match work().await? {
            Then::Finish(value) => (value, self.finish(id, name, now).await),
            Then::KeepOpen(value) => (value, Ok(())),
        };
        Ok(Once::Ran { value, finished })
    }

    /// Marks the step claimed as `incidents/<id>/<name>` done.
    pub async fn finish(
        &self,
        id: &IncidentId,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AwsError> {
        let key = format!("{}{name}.done", Self::prefix(id));
        let body = serde_json::to_vec(&Finished { finished_at: now })
            .map_err(|e| AwsError::new("Serialization", e.to_string()))?;
        let checksum = checksum_of(&body);
        self.create(Some(id), &key, body, &checksum, now)
            .await
            .map(|_| ())
    }

    /// Claims `incidents/<id>/<name>` for whoever writes it first; false when it already exists.
    pub async fn put_if_absent(
        &self,
        id: &IncidentId,
        name: &str,
        body: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<bool, AwsError> {
        let key = format!("{}{name}", Self::prefix(id));
        let checksum = checksum_of(&body);
        self.create(Some(id), &key, body, &checksum, now).await
    }

    /// Writes `body` under `key` (of incident `id`), locked and checksummed, only if nothing is
    /// there yet; false when something was.
    pub(crate) async fn create_key(
        &self,
        id: &IncidentId,
        key: &str,
        body: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<bool, AwsError> {
        let checksum = checksum_of(&body);
        self.create(Some(id), key, body, &checksum, now).await
    }

    /// Writes `body` under `key`, a key outside every incident (the clock's index), locked and
    /// checksummed like evidence but with no quarantine tag, only if nothing is there yet; false
    /// when something was.
    pub(crate) async fn create_unowned(
        &self,
        key: &str,
        body: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<bool, AwsError> {
        let checksum = checksum_of(&body);
        self.create(None, key, body, &checksum, now).await
    }

    /// Writes `body` under `key` (outside every incident: a hunt's results), locked and
    /// checksummed, once: a retry that finds the same bytes there succeeds; different bytes
    /// are an `EvidenceConflict`.
    pub async fn put_once(
        &self,
        key: &str,
        body: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<(), AwsError> {
        if self.create_unowned(key, body.clone(), now).await? {
            return Ok(());
        }
        if self.read(key).await? == body {
            return Ok(());
        }
        Err(AwsError::new(
            "EvidenceConflict",
            format!("{key} already holds other contents; nothing was overwritten"),
        ))
    }

    /// Writes `body` under `key` (outside every incident) locked, unless the key exists: true
    /// when this call created it. What is there is not read.
    pub async fn put_if_new(
        &self,
        key: &str,
        body: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<bool, AwsError> {
        self.create_unowned(key, body, now).await
    }

    /// Marks `snapshot` as taken (or copied) by Firebreak for incident `id`, with `about` it:
    /// the forensic hand-over trusts this mark, never a snapshot's tags.
    pub async fn mark_snapshot(
        &self,
        id: &IncidentId,
        snapshot: &str,
        about: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), AwsError> {
        let body = serde_json::json!({ "snapshot_id": snapshot, "incident_id": id, "about": about, "at": now });
        self.put_if_new(
            &Self::mark_key(id, snapshot),
            serde_json::to_vec_pretty(&body).unwrap_or_default(),
            now,
        )
        .await?;
        Ok(())
    }

    /// Whether Firebreak marked `snapshot` for incident `id`.
    pub async fn snapshot_marked(&self, id: &IncidentId, snapshot: &str) -> Result<bool, AwsError> {
        self.exists(&Self::mark_key(id, snapshot)).await
    }

    /// The snapshots Firebreak marked for incident `id`, in one listing.
    pub async fn marked_snapshots(&self, id: &IncidentId) -> Result<Vec<String>, AwsError> {
        let folder = firebreak_core::lifecycle::forensic::MARKS;
        let prefix = format!("{}{folder}", Self::prefix(id));
        Ok(self
            .list_under(id, folder)
            .await?
            .iter()
            .filter_map(|k| k.strip_prefix(&prefix)?.strip_suffix(".json"))
            .map(str::to_string)
            .collect())
    }

    fn mark_key(id: &IncidentId, snapshot: &str) -> String {
        format!(
            "{}{}",
            Self::prefix(id),
            firebreak_core::lifecycle::forensic::mark_name(snapshot)
        )
    }

    /// Every key under `prefix` after `start_after`, in key order.
    pub async fn keys_after(
        &self,
        prefix: &str,
        start_after: &str,
    ) -> Result<Vec<String>, AwsError> {
        Ok(self.list_from(prefix, None, Some(start_after)).await?.0)
    }

    /// The retain-until date of an object written at `now`.
    pub fn retain_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + self.retention
    }

    /// The S3 client (the security account's).
    pub(crate) fn s3(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    /// Where the step claimed as `incidents/<id>/<name>` stands, without claiming it.
    pub async fn claim(&self, id: &IncidentId, name: &str) -> Result<Claim, AwsError> {
        let key = format!("{}{name}", Self::prefix(id));
        let body = match self.read(&key).await {
            Ok(body) => body,
            Err(e) if e.is_not_found() => return Ok(Claim::Free),
            Err(e) => return Err(e),
        };
        Ok(if self.exists(&format!("{key}.done")).await? {
            Claim::Done(body)
        } else {
            Claim::Open(body)
        })
    }

    /// Every incident with evidence in the bucket (the folders under `incidents/`).
    pub async fn incident_ids(&self) -> Result<Vec<IncidentId>, AwsError> {
        let (_, folders) = self.list_prefix("incidents/", Some("/")).await?;
        let mut ids: Vec<IncidentId> = folders
            .iter()
            .filter_map(|p| p.strip_prefix("incidents/")?.strip_suffix('/'))
            .filter_map(IncidentId::parse)
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Every key under `incidents/<id>/`, in key order.
    pub async fn list(&self, id: &IncidentId) -> Result<Vec<String>, AwsError> {
        self.list_under(id, "").await
    }

    /// Every key under `incidents/<id>/<folder>`, in key order.
    pub async fn list_under(&self, id: &IncidentId, folder: &str) -> Result<Vec<String>, AwsError> {
        let (mut keys, _) = self
            .list_prefix(&format!("{}{folder}", Self::prefix(id)), None)
            .await?;
        keys.sort();
        Ok(keys)
    }

    /// Every page of ListObjectsV2 under `prefix`: the keys, and with a `delimiter` the common
    /// prefixes ("folders").
    async fn list_prefix(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
    ) -> Result<(Vec<String>, Vec<String>), AwsError> {
        self.list_from(prefix, delimiter, None).await
    }

    /// [`Self::list_prefix`] from after `start_after`.
    async fn list_from(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        start_after: Option<&str>,
    ) -> Result<(Vec<String>, Vec<String>), AwsError> {
        let (mut keys, mut folders) = (Vec::new(), Vec::new());
        let mut token: Option<String> = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_delimiter(delimiter.map(str::to_string))
                .set_start_after(start_after.map(str::to_string))
                .set_continuation_token(token.take())
                .send()
                .await
                .aws()?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .map(str::to_string),
            );
            folders.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix())
                    .map(str::to_string),
            );
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok((keys, folders))
    }

    /// Every version of every key under incident `id`'s `folder` (`""`: the whole incident).
    pub async fn versions_under(
        &self,
        id: &IncidentId,
        folder: &str,
    ) -> Result<Versions, AwsError> {
        self.versions(&format!("{}{folder}", Self::prefix(id)))
            .await
    }

    /// Every version of every key under `prefix`: one `ListObjectVersions` per 1000 versions.
    pub async fn versions(&self, prefix: &str) -> Result<Versions, AwsError> {
        let mut versions = Versions::default();
        let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
        loop {
            let page = self
                .s3
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .aws()?;
            let time = |t: Option<&aws_smithy_types::DateTime>| {
                t.and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()))
            };
            // Objects and delete markers come in two lists; merged, each key's entries are put
            // back in time order by `settle`.
            for v in page.versions() {
                if let Some(key) = v.key() {
                    let version = Version {
                        version_id: v.version_id().unwrap_or("null").to_string(),
                        last_modified: time(v.last_modified()),
                        delete_marker: false,
                    };
                    versions.add(key.to_string(), version);
                }
            }
            for m in page.delete_markers() {
                if let Some(key) = m.key() {
                    let version = Version {
                        version_id: m.version_id().unwrap_or("null").to_string(),
                        last_modified: time(m.last_modified()),
                        delete_marker: true,
                    };
                    versions.add(key.to_string(), version);
                }
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
            if key_marker.is_none() {
                break;
            }
        }
        versions.settle();
        Ok(versions)
    }

    /// The bytes of `key`'s original version as `versions` (a listing of its prefix) knows it;
    /// `NoSuchKey` when the listing has no such key.
    pub async fn read_original(&self, versions: &Versions, key: &str) -> Result<Vec<u8>, AwsError> {
        match versions.original(key) {
            Some(v) => self.read_version(key, &v.version_id).await,
            None => Err(AwsError::new(
                "NoSuchKey",
                format!("{key} does not exist in {}", self.bucket),
            )),
        }
    }

    /// The bytes of `key`'s current version, read in one call, when their SHA-256 is
    /// `sha256_hex` (lower-case hex): `None` when it is not (a reader then takes
    /// [`Self::read`]'s original version).
    pub async fn read_expecting(
        &self,
        key: &str,
        sha256_hex: &str,
    ) -> Result<Option<Vec<u8>>, AwsError> {
        let bytes = self.read_version(key, "null").await?;
        Ok((hex(&Sha256::digest(&bytes)) == sha256_hex).then_some(bytes))
    }

    /// The bytes stored under `key` (a key of this bucket, e.g. from a bus event): its original
    /// version, whatever was written over it since.
    pub async fn read(&self, key: &str) -> Result<Vec<u8>, AwsError> {
        let versions = self.versions(key).await?;
        self.read_original(&versions, key).await
    }

    /// The bytes of one version of `key`.
    pub async fn read_version(&self, key: &str, version_id: &str) -> Result<Vec<u8>, AwsError> {
        let version = Some(version_id).filter(|v| *v != "null");
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .send()
            .await
            .aws()?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| AwsError::new("ReadError", format!("{key}: {e}")))?;
        Ok(bytes.into_bytes().to_vec())
    }

    /// True when `key` exists (by listing: see `object`).
    pub(crate) async fn exists(&self, key: &str) -> Result<bool, AwsError> {
        Ok(self.object(key).await?.is_some())
    }

    /// `key`'s current object as a listing of exactly that prefix shows it, not a HEAD: S3
    /// answers a HEAD of a missing key with 404 only to whoever may list the bucket, and the
    /// functions may list only under a prefix (a condition a HEAD does not carry), so they
    /// would get 403. `key` sorts first among the keys it prefixes.
    async fn object(&self, key: &str) -> Result<Option<aws_sdk_s3::types::Object>, AwsError> {
        let page = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(key)
            .max_keys(1)
            .send()
            .await
            .aws()?;
        Ok(page
            .contents()
            .first()
            .filter(|o| o.key() == Some(key))
            .cloned())
    }

    /// Writes `body` under `key`, locked, checksummed and tagged, only if nothing is there yet;
    /// false when something was.
    async fn create(
        &self,
        id: Option<&IncidentId>,
        key: &str,
        body: Vec<u8>,
        checksum: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AwsError> {
        let retain_until = now + self.retention;
        let content_type = if key.ends_with(".json") {
            "application/json"
        } else {
            "application/octet-stream"
        };
        let put = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .content_type(content_type)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(checksum)
            .object_lock_mode(self.mode.clone())
            .object_lock_retain_until_date(aws_smithy_types::DateTime::from_secs(
                retain_until.timestamp(),
            ))
            .set_tagging(id.map(|id| format!("{QUARANTINE_TAG}=quarantine%3A{id}")))
            .if_none_match("*")
            .send()
            .await
            .aws();
        match put {
            Ok(_) => Ok(true),
            Err(e) if e.code == "PreconditionFailed" || e.code == "ConditionalRequestConflict" => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn put_at(
        &self,
        id: &IncidentId,
        key: &str,
        kind: &str,
        body: Vec<u8>,
        digest: &[u8],
        collector: &Collector,
        now: DateTime<Utc>,
    ) -> Result<Item, AwsError> {
        let size = body.len() as u64;
        let retain_until = now + self.retention;
        let checksum = aws_smithy_types::base64::encode(digest);
        let already_stored = match self.create(Some(id), key, body, &checksum, now).await? {
            true => false,
            false => {
                // Something is there already: the same bytes (a repeated delivery) or not.
                let head = self.head_with_checksum(key).await?;
                if head.checksum_sha256() != Some(checksum.as_str()) {
                    return Err(AwsError::new(
                        "EvidenceConflict",
                        format!("{key} already holds other bytes; the locked version is kept"),
                    ));
                }
                true
            }
        };
        Ok(Item {
            key: key.to_string(),
            kind: kind.to_string(),
            sha256: hex(digest),
            size,
            collected_by: collector.clone(),
            collected_at: now,
            retain_until,
            already_stored,
        })
    }
}

/// S3's `x-amz-checksum-sha256` of `body` (base64 of its SHA-256).
fn checksum_of(body: &[u8]) -> String {
    aws_smithy_types::base64::encode(Sha256::digest(body))
}

/// The 32 bytes of a SHA-256 written as 64 hex digits.
fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    (0..32)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}
