//! The deadline clock's world on the emulator, and the incidents it reads seeded straight into
//! the evidence bucket (PutObject of the log entries `firebreak_core::record::log` defines, the clock's
//! marks and snapshots), so thousands of incidents need not go through the functions.

use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Duration, Utc};
use firebreak_aws::run::clock::{self, Snapshot};
use firebreak_aws::{Clients, EvidenceStore, Pager};
use firebreak_core::record::incident::Deadline;
use firebreak_core::record::log::{Entry, LOG_DIR, LogEntry};
use firebreak_core::{IncidentId, Obligation, Severity, Source};
use tokio::task::JoinSet;

/// Who the seeded entries say appended them.
pub const SEEDER: &str = "arn:aws:sts::111122223333:assumed-role/firebreak-triage/seed";

/// The shared world (emulator, stack) with the store and the pager the clock uses.
pub struct ClockWorld {
    /// The emulator and Firebreak's stack on it.
    pub base: crate::world::World,
    /// Clients of the home account.
    pub home: Clients,
    /// The evidence store.
    pub store: EvidenceStore,
    /// The pager.
    pub pager: Pager,
}

impl std::ops::Deref for ClockWorld {
    type Target = crate::world::World;

    fn deref(&self) -> &crate::world::World {
        &self.base
    }
}

impl ClockWorld {
    /// A fresh emulator and stack.
    pub async fn new() -> ClockWorld {
        let base = crate::world::World::new().await;
        let home = Clients::new(&base.sdk);
        let store = EvidenceStore::new(home.s3.clone(), &base.stack.bucket, 90, false);
        let pager = Pager::new(
            home.sns.clone(),
            &base.stack.pager_topic,
            &base.stack.ticket_topic,
        );
        ClockWorld {
            base,
            home,
            store,
            pager,
        }
    }

    /// Stores `body` under `key` with a plain PutObject (the seeding, not Firebreak's writer).
    pub async fn put(&self, key: &str, body: Vec<u8>) {
        put(&self.home.s3, &self.stack.bucket, key, body).await;
    }

    /// Pages the subscribed queue received since the last call: (kind attribute, subject).
    pub async fn pages(&self) -> Vec<(String, String)> {
        let sqs = aws_sdk_sqs::Client::new(&self.moto.sdk().await);
        crate::eventbridge::drain_queue(&sqs, &self.stack.queue_url)
            .await
            .into_iter()
            .map(|body| {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let kind = v["MessageAttributes"]["kind"]["Value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                (kind, v["Subject"].as_str().unwrap_or_default().to_string())
            })
            .collect()
    }
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap_or_else(|e| panic!("seeding {key}: {e:?}"));
}

/// The `n`th seeded incident's id.
pub fn id(n: usize) -> IncidentId {
    IncidentId::derive(&format!("seeded:{n}"))
}

/// An `opened` entry: a refused CloudTrail call, detected at `detected_at`, carrying `deadlines`.
pub fn opened(severity: Severity, detected_at: DateTime<Utc>, deadlines: Vec<Deadline>) -> Entry {
    Entry::Opened {
        source: Source::CloudTrail {
            event_id: format!("{}", detected_at.timestamp_micros()),
            event_source: "s3.amazonaws.com".into(),
            event_name: "GetObject".into(),
            error_code: Some("AccessDenied".into()),
        },
        title: "A refused call".into(),
        severity,
        detected_at,
        event_key: "incidents/seeded/events/0.json".into(),
        account: "111122223333".into(),
        region: "us-east-1".into(),
        severity_reason: "seeded".into(),
        principal: Some("arn:aws:iam::111122223333:user/someone".into()),
        deadlines,
        human_steps: Vec::new(),
        drill: false,
    }
}

/// An S4 opened at `at` (only a retrospective, which never starts while nobody closes it): what
/// a flood of refused calls leaves behind. Nothing can fall due.
pub fn settled(at: DateTime<Utc>) -> Vec<Entry> {
    vec![opened(
        Severity::S4,
        at,
        vec![Deadline {
            obligation: Obligation::Retrospective,
            due: None,
        }],
    )]
}

/// An S2 detected at `detected_at`: its Amazon notice is due 24 hours later, unacknowledged.
pub fn open(detected_at: DateTime<Utc>) -> Vec<Entry> {
    vec![opened(
        Severity::S2,
        detected_at,
        vec![
            Deadline {
                obligation: Obligation::NotifyAmazon,
                due: Some(detected_at + Duration::hours(24)),
            },
            Deadline {
                obligation: Obligation::Retrospective,
                due: None,
            },
        ],
    )]
}

/// The objects of incident `id`'s log, `entries` appended at `at`: (key, body).
pub fn log_objects(
    id: &IncidentId,
    entries: Vec<Entry>,
    at: DateTime<Utc>,
) -> Vec<(String, Vec<u8>)> {
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            let seq = i as u32 + 1;
            let key = format!(
                "{}{LOG_DIR}{}",
                EvidenceStore::prefix(id),
                entry.name(id, seq)
            );
            let body = serde_json::to_vec_pretty(&LogEntry {
                incident_id: id.clone(),
                seq,
                at,
                by: SEEDER.into(),
                entry,
            })
            .expect("serialize");
            (key, body)
        })
        .collect()
}

/// The clock's mark of incident `id` in the hour of `at`: (key, body).
pub fn mark_object(id: &IncidentId, at: DateTime<Utc>) -> (String, Vec<u8>) {
    let body = serde_json::json!({ "incident_id": id, "marked_at": at });
    (clock::watch_key(id, at), body.to_string().into_bytes())
}

/// A snapshot of the clock's index for the hour of `at`, watching `watched`: (key, body).
pub fn snapshot_object(at: DateTime<Utc>, watched: Vec<IncidentId>) -> (String, Vec<u8>) {
    let hour = firebreak_core::record::reminder_hour(at);
    let snapshot = Snapshot {
        hour: hour.clone(),
        written_at: at,
        watched,
        last_drill_passed: None,
    };
    (
        clock::snapshot_key(&hour),
        serde_json::to_vec(&snapshot).expect("serialize"),
    )
}

/// Stores every object, `concurrency` at a time.
pub async fn put_all(world: &ClockWorld, objects: Vec<(String, Vec<u8>)>, concurrency: usize) {
    let objects = Arc::new(std::sync::Mutex::new(objects));
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let objects = Arc::clone(&objects);
        let s3 = world.home.s3.clone();
        let bucket = world.stack.bucket.clone();
        tasks.spawn(async move {
            loop {
                let next = objects.lock().map(|mut o| o.pop()).ok().flatten();
                let Some((key, body)) = next else { break };
                put(&s3, &bucket, &key, body).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a seeding task");
    }
}
