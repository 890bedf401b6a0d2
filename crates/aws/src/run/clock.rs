//! The deadline clock, run every hour: for each incident, the obligations due within six hours or
//! overdue and not acknowledged are paged again (once per incident and hour), and when no drill
//! has passed for six months the plan review is paged (once a day, on the run at
//! [`PLAN_REVIEW_HOUR`] UTC).
//!
//! It reads an index, not every log. The index is append-only, like everything in the locked
//! bucket:
//!
//! - `clock/watch/<yyyy-mm-ddThh>/<incident-id>`: written by [`crate::store::log::append`] after it
//!   appends an entry that can start a clock ([`record::wakes_the_clock`]: opened, breach
//!   confirmed, closed, a drill's verdict), in the hour of the append, and again when a retry
//!   finds the entry already there (so a crash between the two loses nothing).
//! - `clock/index/<yyyy-mm-ddThh>.json`: a [`Snapshot`] each run writes for its hour: the
//!   incidents still watched ([`Record::is_watched`]) and when the last drill passed.
//!
//! A run reads the newest snapshot of today or yesterday (two listings, however long the history),
//! lists the marks from the hour before that snapshot's onward (one listing that starts after a
//! key, so every hour since is covered, however many the clock missed, and an append whose
//! `now` was taken just before the snapshot is not lost), reads the logs of those incidents
//! only, pages as before and writes the next snapshot. Its cost follows the incidents that can
//! still fall due and those marked since the last run, never the settled ones. With no usable
//! snapshot (a new stack, an index lost, a run missed for two days, or a snapshot written before
//! its own hour began, which only a forger could do) it reads every log once
//! ([`tick_full_scan`]'s way), says so in [`Tick::scan`], and writes a snapshot.
//!
//! Given a [`Redrive`], a run also re-drives containment left unfinished: an incident whose
//! contain stage holds a stale claim without `.done` (a transient failure kept it open, or the
//! function died) is put on Firebreak's bus again as `Containment Retry`, once an hour (a
//! `clock/redrive/<hour>/<id>` claim), for [`REDRIVE_FOR`] after it opened, while it is
//! neither closed nor released in part. GuardDuty re-emits only on a new occurrence and a CloudTrail incident never
//! re-emits, so without this a containment that failed past Lambda's retries stays undone. Such
//! an incident stays in the index until its containment finishes.

use chrono::{DateTime, Duration, NaiveDateTime, Timelike, Utc};
use firebreak_core::lifecycle::drill;
use firebreak_core::record::{self, Record};
use firebreak_core::render::page;
use firebreak_core::{Entry, IncidentId, Obligation, Route};
use serde::{Deserialize, Serialize};

use firebreak_core::lifecycle::bus::{DetailType, IncidentNotice};

use crate::sdk::error::{AwsError, SdkResultExt};
use crate::service::eventbridge::Bus;
use crate::service::sns::Pager;
use crate::store::evidence::{Claim, EvidenceStore};
use crate::store::format::StageClaim;

/// The marks are written where an opening is logged (`crate::store::log`), the clock reads them.
pub use crate::store::log::{WATCH_DIR, mark, watch_key};

/// The hour (UTC) of the day's one plan-review page.
pub const PLAN_REVIEW_HOUR: u32 = 9;

/// Where the clock's snapshots are: `clock/index/<hour>.json`.
pub const INDEX_DIR: &str = "clock/index/";

/// Where the clock claims each hour's re-drive of an incident: `clock/redrive/<hour>/<id>`.
pub const REDRIVE_DIR: &str = "clock/redrive/";

/// The contain stage's claim under an incident.
pub const CONTAIN_STEP: &str = "steps/contain.json";

/// How long after an incident opened the clock re-drives its unfinished containment.
pub const REDRIVE_FOR: Duration = Duration::days(7);

/// What the clock needs to re-drive unfinished containment (the hourly function has it; a run
/// by hand does not re-drive).
#[derive(Clone, Copy)]
pub struct Redrive<'a> {
    /// Firebreak's bus, where `Containment Retry` goes.
    pub bus: &'a Bus,
    /// How old a contain claim without `.done` must be before it counts as abandoned (the
    /// contain function's own takeover age).
    pub stale_after: Duration,
}

/// What one run of the clock did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tick {
    /// Incidents read.
    pub incidents: usize,
    /// Reminders sent: incident, obligations, SNS message id.
    pub reminded: Vec<(IncidentId, Vec<Obligation>, String)>,
    /// Incidents whose reminder for this hour was already sent.
    pub already_reminded: Vec<IncidentId>,
    /// When the last drill passed.
    pub last_drill_passed: Option<DateTime<Utc>>,
    /// The plan-review page, when one was sent.
    pub plan_review: Option<String>,
    /// Incidents the clock could not read or remind, and why.
    pub errors: Vec<(IncidentId, String)>,
    /// What the run read: the index, or every log and why.
    pub scan: Scan,
    /// The snapshot this run wrote (none on a dry run, or when this hour's was already written).
    pub snapshot_written: Option<String>,
    /// Incidents whose unfinished containment was put on the bus again, with the bus event id.
    pub redriven: Vec<(IncidentId, String)>,
}

/// How a run found the incidents to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scan {
    /// The snapshot `snapshot` and the incidents marked since.
    Index {
        /// The snapshot's key.
        snapshot: String,
        /// Incidents it watched.
        watched: usize,
        /// Marks listed since it.
        marked: usize,
    },
    /// Every incident's log, and why.
    Full {
        /// Why the index was not used.
        why: String,
    },
}

impl Default for Scan {
    fn default() -> Self {
        Scan::Full {
            why: "a full scan was asked for".into(),
        }
    }
}

impl Scan {
    /// One line for humans.
    pub fn describe(&self) -> String {
        match self {
            Scan::Index {
                snapshot,
                watched,
                marked,
            } => format!("index {snapshot}: {watched} watched, {marked} marked since"),
            Scan::Full { why } => format!("full scan of every log ({why})"),
        }
    }
}

/// One snapshot of the clock's index: what a run left for the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The hour it was written for (`2026-11-24T07`), as in its key.
    pub hour: String,
    /// The run's `now`.
    pub written_at: DateTime<Utc>,
    /// Incidents the next run must read: some obligation runs unacknowledged, or the run could
    /// not read them.
    pub watched: Vec<IncidentId>,
    /// When the last drill passed, over every incident ever read.
    pub last_drill_passed: Option<DateTime<Utc>>,
}

/// `clock/index/<hour>.json`.
pub fn snapshot_key(hour: &str) -> String {
    format!("{INDEX_DIR}{hour}.json")
}

/// What a dry run reports instead of an SNS message id.
pub const NOT_SENT: &str = "(dry run: not sent)";

/// One run of the clock at `now`, appending as `by`, reading the index (see the module's text).
/// A `dry_run` decides the same and reports it, but pages nobody and appends nothing (the
/// message ids are [`NOT_SENT`], and no snapshot is written).
pub async fn tick(
    store: &EvidenceStore,
    pager: &Pager,
    redrive: Option<Redrive<'_>>,
    by: &str,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Tick, AwsError> {
    let mut tick = Tick::default();
    let ids = match newest_snapshot(store, now).await? {
        Ok((key, snapshot)) => {
            let since = hour_start(&snapshot.hour).unwrap_or(now) - Duration::hours(1);
            let marked = marked_since(store, since).await?;
            tick.scan = Scan::Index {
                snapshot: key,
                watched: snapshot.watched.len(),
                marked: marked.len(),
            };
            tick.last_drill_passed = snapshot.last_drill_passed;
            let mut ids = snapshot.watched;
            ids.extend(marked);
            ids.sort();
            ids.dedup();
            ids
        }
        Err(why) => {
            tick.scan = Scan::Full { why };
            store.incident_ids().await?
        }
    };
    let watched = check(store, pager, redrive, by, now, dry_run, ids, &mut tick).await;
    if !dry_run {
        let hour = record::reminder_hour(now);
        let snapshot = Snapshot {
            hour: hour.clone(),
            written_at: now,
            watched,
            last_drill_passed: tick.last_drill_passed,
        };
        let body = serde_json::to_vec(&snapshot)
            .map_err(|e| AwsError::new("Serialization", e.to_string()))?;
        let key = snapshot_key(&hour);
        if store.create_unowned(&key, body, now).await? {
            tick.snapshot_written = Some(key);
        }
    }
    plan_review(pager, now, dry_run, &mut tick).await?;
    Ok(tick)
}

/// One run of the clock at `now` that reads every incident's log and neither reads nor writes
/// the index: what the clock did before it had one, kept as the baseline the index is measured
/// against (`bench/clock.sh`) and as the full scan [`tick`] falls back to.
pub async fn tick_full_scan(
    store: &EvidenceStore,
    pager: &Pager,
    by: &str,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Tick, AwsError> {
    let mut tick = Tick::default();
    let ids = store.incident_ids().await?;
    check(store, pager, None, by, now, dry_run, ids, &mut tick).await;
    plan_review(pager, now, dry_run, &mut tick).await?;
    Ok(tick)
}

/// Reads and reminds each of `ids` (and re-drives its unfinished containment); the ones the
/// next run must read again.
#[allow(clippy::too_many_arguments)]
async fn check(
    store: &EvidenceStore,
    pager: &Pager,
    redrive: Option<Redrive<'_>>,
    by: &str,
    now: DateTime<Utc>,
    dry_run: bool,
    ids: Vec<IncidentId>,
    tick: &mut Tick,
) -> Vec<IncidentId> {
    let mut watched = Vec::new();
    for id in ids {
        let record = match crate::store::log::record(store, &id).await {
            Ok(r) => r,
            // Evidence without a log (written before logs existed), or a mark naming no
            // incident: nothing to remind.
            Err(e) if e.code == "NoSuchIncident" => continue,
            Err(e) => {
                tick.errors.push((id.clone(), e.to_string()));
                watched.push(id);
                continue;
            }
        };
        tick.incidents += 1;
        if let Some(at) = drill::passed_at(&record) {
            tick.last_drill_passed = tick.last_drill_passed.max(Some(at));
        }
        if let Err(e) = remind(store, pager, by, &record, now, dry_run, tick).await {
            tick.errors.push((id.clone(), e.to_string()));
            watched.push(id);
            continue;
        }
        let unfinished = match redrive {
            Some(r) => match containment(store, r, &record, now, dry_run, tick).await {
                Ok(unfinished) => unfinished,
                Err(e) => {
                    tick.errors.push((id.clone(), e.to_string()));
                    true
                }
            },
            None => false,
        };
        if unfinished || record.is_watched() {
            watched.push(id);
        }
    }
    watched
}

/// Re-drives `record`'s containment when its contain stage was left unfinished and its claim is
/// stale; true while the clock must look again (not finished yet, or not started within the
/// hour after opening, when the contain function may still be on its way).
async fn containment(
    store: &EvidenceStore,
    redrive: Redrive<'_>,
    record: &Record,
    now: DateTime<Utc>,
    dry_run: bool,
    tick: &mut Tick,
) -> Result<bool, AwsError> {
    let Some(opening) = &record.opening else {
        return Ok(false);
    };
    let opened_at = record
        .entries
        .iter()
        .find(|e| matches!(e.entry, Entry::Opened { .. }))
        .map_or(now, |e| e.at);
    // A release (of any step) means a human took the incident over: containment is theirs.
    let released = record
        .entries
        .iter()
        .any(|e| matches!(e.entry, Entry::Release { .. }));
    if record.is_closed() || released || now - opened_at > REDRIVE_FOR {
        return Ok(false);
    }
    let claimed_at = match store.claim(&record.id, CONTAIN_STEP).await? {
        Claim::Done(_) => return Ok(false),
        // No containment yet: the contain function may still be on its way (or the plan has
        // none, which its rule filters out); looked at again within the hour after opening.
        Claim::Free => return Ok(now - opened_at < Duration::hours(1)),
        // A claim only the contain function writes; an unreadable one counts as abandoned.
        Claim::Open(body) => serde_json::from_slice::<StageClaim>(&body)
            .map(|c| c.claimed_at)
            .ok(),
    };
    if claimed_at.is_some_and(|at| now - at <= redrive.stale_after) {
        return Ok(true);
    }
    if dry_run {
        tick.redriven
            .push((record.id.clone(), NOT_SENT.to_string()));
        return Ok(true);
    }
    // Once an hour: a retried clock run must not start a second containment beside the first.
    let key = format!("{REDRIVE_DIR}{}/{}", record::reminder_hour(now), record.id);
    let body = serde_json::to_vec(&serde_json::json!({
        "incident_id": record.id,
        "redriven_at": now,
    }))
    .map_err(|e| AwsError::new("Serialization", e.to_string()))?;
    if !store.create_unowned(&key, body, now).await? {
        return Ok(true);
    }
    let notice = IncidentNotice {
        incident_id: record.id.clone(),
        severity: opening.severity,
        route: opening.severity.route(),
        title: opening.title.clone(),
        event_key: opening.event_key.clone(),
        event_sha256: None,
        drill: opening.drill,
        auto_containment: true,
    };
    let event_id = redrive
        .bus
        .put(DetailType::ContainmentRetry, &notice, &[])
        .await?;
    tick.redriven.push((record.id.clone(), event_id));
    Ok(true)
}

async fn plan_review(
    pager: &Pager,
    now: DateTime<Utc>,
    dry_run: bool,
    tick: &mut Tick,
) -> Result<(), AwsError> {
    if now.hour() == PLAN_REVIEW_HOUR && drill::plan_review_due(tick.last_drill_passed, now) {
        tick.plan_review = Some(if dry_run {
            NOT_SENT.to_string()
        } else {
            let message = page::plan_review(tick.last_drill_passed, now);
            pager.send(Route::Ticket, &message).await?
        });
    }
    Ok(())
}

/// The start of hour `hour` (`2026-11-24T07`).
fn hour_start(hour: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(&format!("{hour}:00:00"), "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

/// The newest usable snapshot of today or yesterday at or before `now`'s hour, with its key;
/// or why there is none. A snapshot written before its own hour began (S3's time, which no
/// writer chooses) was not written by a run of that hour: it is passed over.
async fn newest_snapshot(
    store: &EvidenceStore,
    now: DateTime<Utc>,
) -> Result<Result<(String, Snapshot), String>, AwsError> {
    let this_hour = record::reminder_hour(now);
    let mut found = Vec::new();
    for day in [now - Duration::days(1), now] {
        let prefix = format!("{INDEX_DIR}{}T", day.format("%Y-%m-%d"));
        found.extend(list(store, &prefix, None).await?);
    }
    let mut candidates: Vec<(String, String, Option<DateTime<Utc>>)> = found
        .into_iter()
        .filter_map(|(key, written)| {
            let hour = key
                .strip_prefix(INDEX_DIR)?
                .strip_suffix(".json")?
                .to_string();
            (hour <= this_hour && hour_start(&hour).is_some()).then_some((hour, key, written))
        })
        .collect();
    candidates.sort();
    let mut passed_over = Vec::new();
    while let Some((hour, key, written)) = candidates.pop() {
        let start = hour_start(&hour).unwrap_or(now);
        if written.is_none_or(|w| w < start) {
            passed_over.push(format!("{key} was written before its hour"));
            continue;
        }
        let snapshot = store.read(&key).await.and_then(|bytes| {
            serde_json::from_slice::<Snapshot>(&bytes)
                .map_err(|e| AwsError::new("BadRecord", format!("{key}: {e}")))
        });
        match snapshot {
            Ok(s) if s.hour == hour => return Ok(Ok((key, s))),
            Ok(s) => passed_over.push(format!("{key} names hour {}", s.hour)),
            Err(e) => passed_over.push(format!("{key} is unreadable: {e}")),
        }
    }
    let mut why = format!(
        "no snapshot of the clock's index from {} up to {this_hour}",
        (now - Duration::days(1)).format("%Y-%m-%d")
    );
    if !passed_over.is_empty() {
        why.push_str("; passed over: ");
        why.push_str(&passed_over.join("; "));
    }
    Ok(Err(why))
}

/// The incidents marked from hour `since` onward (every later hour, to the end of the listing).
async fn marked_since(
    store: &EvidenceStore,
    since: DateTime<Utc>,
) -> Result<Vec<IncidentId>, AwsError> {
    let after = format!("{WATCH_DIR}{}", record::reminder_hour(since));
    let keys = list(store, WATCH_DIR, Some(after)).await?;
    let mut ids: Vec<IncidentId> = keys
        .iter()
        .filter_map(|(k, _)| k.rsplit('/').next())
        .filter_map(IncidentId::parse)
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Every key under `prefix` (after `start_after`, when given), with S3's last-modified time.
async fn list(
    store: &EvidenceStore,
    prefix: &str,
    start_after: Option<String>,
) -> Result<Vec<(String, Option<DateTime<Utc>>)>, AwsError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = store
            .s3()
            .list_objects_v2()
            .bucket(store.bucket())
            .prefix(prefix)
            .set_start_after(start_after.clone())
            .set_continuation_token(token.take())
            .send()
            .await
            .aws()?;
        out.extend(page.contents().iter().filter_map(|o| {
            let written = o
                .last_modified()
                .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()));
            Some((o.key()?.to_string(), written))
        }));
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(out)
}

async fn remind(
    store: &EvidenceStore,
    pager: &Pager,
    by: &str,
    record: &Record,
    now: DateTime<Utc>,
    dry_run: bool,
    tick: &mut Tick,
) -> Result<(), AwsError> {
    let due = record.reminders(now);
    if due.is_empty() {
        return Ok(());
    }
    let hour = record::reminder_hour(now);
    let sent = record
        .entries
        .iter()
        .any(|e| matches!(&e.entry, Entry::Reminder { hour: h, .. } if *h == hour));
    if sent {
        tick.already_reminded.push(record.id.clone());
        return Ok(());
    }
    // An obligation must reach a human: an incident routed to the record only is reminded by
    // ticket.
    let route = match record.opening.as_ref().map(|o| o.severity.route()) {
        Some(Route::Pager) => Route::Pager,
        _ => Route::Ticket,
    };
    let obligations: Vec<Obligation> = due.iter().map(|d| d.obligation).collect();
    if dry_run {
        tick.reminded
            .push((record.id.clone(), obligations, NOT_SENT.to_string()));
        return Ok(());
    }
    let message = page::reminder(record, &due, now);
    let sent = crate::store::log::page_and_log(
        store,
        &record.id,
        by,
        Box::pin(pager.send(route, &message)),
        |message_id| {
            Some(Entry::Reminder {
                obligations: obligations.clone(),
                hour,
                message_id,
            })
        },
        now,
    )
    .await?;
    let message_id = sent.message_id;
    tick.reminded
        .push((record.id.clone(), obligations, message_id));
    Ok(())
}
