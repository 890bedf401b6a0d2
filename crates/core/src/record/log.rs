//! The incident log: every incident is an append-only sequence of entries, each one locked object
//! `incidents/<id>/log/<seq:06>-<kind>-<hash8>.json`. This module is what an entry says, its key,
//! and when two entries are the same fact; the effector crate writes them.
//!
//! Appends are idempotent: `hash8` is a digest of the entry's *identity* (the incident, the kind,
//! and the fields that make it the same fact, never `seq`, `at` or `by`), so a retried delivery
//! finds its entry already listed and writes nothing. Entries are never rewritten.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::record::approval::ApprovalRecord;
use crate::record::incident::{Deadline, Incident, IncidentId, Obligation, Source};
use crate::record::outcome::ActionOutcome;
use crate::record::release::ReleaseRecord;
use crate::severity::{Route, Severity};

/// The folder of the log under the incident's prefix.
pub const LOG_DIR: &str = "log/";

/// One locked entry of an incident's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The incident.
    pub incident_id: IncidentId,
    /// Position in the log, from 1.
    pub seq: u32,
    /// When it was appended.
    pub at: DateTime<Utc>,
    /// Who appended it: a function ARN or the CLI caller's ARN (the collector identity).
    pub by: String,
    /// What it records.
    pub entry: Entry,
}

/// What a log entry records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// The incident was opened: what discovered it (the source), what, when.
    Opened {
        /// The GuardDuty finding or CloudTrail record that opened it.
        source: Source,
        /// One line.
        title: String,
        /// Severity.
        severity: Severity,
        /// When it was detected (the event's time).
        detected_at: DateTime<Utc>,
        /// The locked source event.
        event_key: String,
        /// Account it happened in.
        #[serde(default)]
        account: String,
        /// Region it happened in.
        #[serde(default)]
        region: String,
        /// Why that severity.
        #[serde(default)]
        severity_reason: String,
        /// Who acted, when known (an ARN or a name).
        #[serde(default)]
        principal: Option<String>,
        /// The clocks detection started.
        #[serde(default)]
        deadlines: Vec<Deadline>,
        /// Steps only a human can take.
        #[serde(default)]
        human_steps: Vec<String>,
        /// A drill: containment ran dry.
        #[serde(default)]
        drill: bool,
    },
    /// A later event (a re-emit) of an open incident.
    Updated {
        /// The locked source event.
        event_key: String,
    },
    /// What became of one action of the plan.
    Action {
        /// The outcome, as the responder locked it.
        outcome: ActionOutcome,
    },
    /// One evidence object written.
    Evidence {
        /// Object key.
        key: String,
        /// What it is (`source-event`, `manifest`, …).
        item_kind: String,
        /// Hex SHA-256 of its bytes.
        sha256: String,
        /// Size in bytes.
        size: u64,
        /// Object Lock retain-until date.
        retain_until: DateTime<Utc>,
    },
    /// A page sent.
    Page {
        /// Why it was sent.
        page_kind: PageKind,
        /// The route (topic) it went to.
        route: Route,
        /// SNS message id.
        message_id: String,
        /// The step that sent it (`pages/opened.json`, `respond <event key>`): one entry each.
        about: String,
    },
    /// A human approved an action.
    Approval {
        /// The locked approval record.
        record: ApprovalRecord,
    },
    /// A release step.
    Release {
        /// The locked release record.
        record: ReleaseRecord,
    },
    /// Evidence was read: which items, by whom (the entry's `by`), why.
    Custody {
        /// The keys read.
        keys: Vec<String>,
        /// Why (`verify`).
        purpose: String,
        /// When the reading started (each reading is its own entry).
        read_at: DateTime<Utc>,
    },
    /// A human acknowledged an obligation (`firebreak ack`): it is met, and the clock stops
    /// paging about it.
    Acknowledged {
        /// The obligation.
        obligation: Obligation,
        /// What the human said (a ticket, "sent to Amazon security").
        #[serde(default)]
        note: Option<String>,
    },
    /// A human confirmed a personal-data breach (`firebreak confirm-breach`): the GDPR 72-hour
    /// clock starts at the entry's `at`.
    BreachConfirmed {
        /// What the human said about it.
        #[serde(default)]
        note: Option<String>,
    },
    /// A notice draft was rendered for a human to send (`firebreak notice`); Firebreak sends none.
    NoticeDrafted {
        /// Which notice (`amazon`, `gdpr-authority`, `gdpr-subjects`).
        notice: String,
        /// Hex SHA-256 of the draft's text.
        sha256: String,
    },
    /// The incident was closed (`firebreak close`): the retrospective clock starts.
    Closed {
        /// Corrective controls put in place.
        controls: String,
        /// The GuardDuty finding archived, when the incident came from one.
        #[serde(default)]
        archived_finding: Option<String>,
    },
    /// A drill's verdict: what each stage left in this (drill) incident's log.
    Drill {
        /// Every check passed.
        passed: bool,
        /// Stage by stage.
        checks: Vec<Check>,
        /// SNS message id of the `[DRILL]` summary page, when one was sent.
        message_id: Option<String>,
    },
    /// A reminder page the clock sent about obligations due soon or overdue.
    Reminder {
        /// The obligations it named.
        obligations: Vec<Obligation>,
        /// The hour it was sent for (`2026-11-24T07`): one reminder per hour.
        hour: String,
        /// SNS message id.
        message_id: String,
    },
    /// An S1 page the clock sent because Firebreak's own wiring drifted from the stack (logged
    /// under `wiring::log_id`).
    Wiring {
        /// One line per drift: what, where, the fix.
        drifts: Vec<String>,
        /// The hour it was sent for (`2026-11-24T07`): one page per hour while drift lasts.
        hour: String,
        /// SNS message id.
        message_id: String,
    },
}

impl Entry {
    /// The `opened` entry of `incident`, whose source event is locked at `event_key`.
    pub fn opened(incident: &Incident, event_key: &str) -> Entry {
        Entry::Opened {
            source: incident.source.clone(),
            title: incident.title.clone(),
            severity: incident.severity,
            detected_at: incident.detected_at,
            event_key: event_key.to_string(),
            account: incident.account.clone(),
            region: incident.region.clone(),
            severity_reason: incident.severity_reason.clone(),
            principal: incident
                .principal
                .as_ref()
                .map(|p| p.arn().map_or_else(|| format!("{p:?}"), str::to_string)),
            deadlines: incident.deadlines.clone(),
            human_steps: incident.human_steps.clone(),
            drill: incident.drill,
        }
    }

    /// Its `kind`, as in the JSON and the key.
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::Opened { .. } => "opened",
            Entry::Updated { .. } => "updated",
            Entry::Action { .. } => "action",
            Entry::Evidence { .. } => "evidence",
            Entry::Page { .. } => "page",
            Entry::Approval { .. } => "approval",
            Entry::Release { .. } => "release",
            Entry::Custody { .. } => "custody",
            Entry::Acknowledged { .. } => "acknowledged",
            Entry::BreachConfirmed { .. } => "breach_confirmed",
            Entry::NoticeDrafted { .. } => "notice_drafted",
            Entry::Closed { .. } => "closed",
            Entry::Reminder { .. } => "reminder",
            Entry::Drill { .. } => "drill",
            Entry::Wiring { .. } => "wiring",
        }
    }

    /// What makes two entries the same fact. An incident opens once; an action is logged the
    /// first time it ends and the first time it fails (a repeat that ends the same way, such as
    /// a key found already Inactive by a retried step, adds nothing); an evidence object once
    /// per key and hash; a page once per step that sends it. Records and custody readings are
    /// distinct by their times.
    fn identity(&self) -> Value {
        match self {
            Entry::Opened { .. } => json!({}),
            Entry::Updated { event_key } => json!({ "event_key": event_key }),
            Entry::Action { outcome } => json!({
                "index": outcome.index,
                "kind": outcome.kind,
                "target": outcome.target,
                "failed": outcome.status.is_failure(),
            }),
            Entry::Evidence { key, sha256, .. } => json!({ "key": key, "sha256": sha256 }),
            Entry::Page {
                page_kind,
                route,
                about,
                ..
            } => json!({ "page_kind": page_kind, "route": route, "about": about }),
            // One acknowledgement per obligation, one confirmation, one closing, one reminder
            // an hour: a repeated command adds nothing.
            Entry::Acknowledged { obligation, .. } => json!({ "obligation": obligation }),
            Entry::BreachConfirmed { .. } | Entry::Closed { .. } | Entry::Drill { .. } => {
                json!({})
            }
            Entry::Reminder { hour, .. } | Entry::Wiring { hour, .. } => json!({ "hour": hour }),
            other => serde_json::to_value(other).unwrap_or(Value::Null),
        }
    }

    /// 8 hex digits of the SHA-256 of the entry's identity within incident `id`.
    pub fn hash8(&self, id: &IncidentId) -> String {
        let text = json!({ "incident_id": id, "kind": self.kind(), "identity": self.identity() });
        let digest = Sha256::digest(text.to_string().as_bytes());
        digest[..4].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The entry's name under the log folder: `<seq:06>-<kind>-<hash8>.json`.
    pub fn name(&self, id: &IncidentId, seq: u32) -> String {
        format!("{seq:06}-{}-{}.json", self.kind(), self.hash8(id))
    }
}

/// What a log key says: its sequence number, kind and identity hash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogKey {
    /// Sequence number.
    pub seq: u32,
    /// Entry kind.
    pub kind: String,
    /// Identity hash (8 hex digits).
    pub hash: String,
}

impl LogKey {
    /// Reads `<seq>-<kind>-<hash8>.json` (the part of a key after `log/`); `None` for any other
    /// name.
    pub fn parse(name: &str) -> Option<LogKey> {
        let stem = name.strip_suffix(".json")?;
        let (seq, rest) = stem.split_once('-')?;
        let (kind, hash) = rest.rsplit_once('-')?;
        let ok = !seq.is_empty()
            && seq.bytes().all(|b| b.is_ascii_digit())
            && !kind.is_empty()
            && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            && hash.len() == 8
            && hash.bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            return None;
        }
        Some(LogKey {
            seq: seq.parse().ok()?,
            kind: kind.to_string(),
            hash: hash.to_string(),
        })
    }
}

/// The log keys among `names` (names under `log/`), in sequence order.
pub fn keys<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<LogKey> {
    let mut out: Vec<LogKey> = names.into_iter().filter_map(LogKey::parse).collect();
    out.sort();
    out
}

/// The next sequence number after `keys`: 1 + the highest there is.
pub fn next_seq(keys: &[LogKey]) -> u32 {
    keys.iter()
        .map(|k| k.seq)
        .max()
        .unwrap_or(0)
        .saturating_add(1)
}

/// True when `keys` already hold an entry with `entry`'s identity.
pub fn contains(keys: &[LogKey], id: &IncidentId, entry: &Entry) -> bool {
    let hash = entry.hash8(id);
    keys.iter()
        .any(|k| k.hash == hash && k.kind == entry.kind())
}

/// `entries` in log order (by sequence number, then time).
pub fn in_order(mut entries: Vec<LogEntry>) -> Vec<LogEntry> {
    entries.sort_by(|a, b| a.seq.cmp(&b.seq).then(a.at.cmp(&b.at)));
    entries
}

/// Why a page is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PageKind {
    /// First page of a new incident.
    Opened,
    /// A re-emit or a follow-up with outcomes.
    Updated,
    /// A drill.
    Drill,
    /// The clock: an obligation is due soon or overdue.
    Reminder,
}

impl PageKind {
    /// The `kind` message attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            PageKind::Opened => "opened",
            PageKind::Updated => "updated",
            PageKind::Drill => "drill",
            PageKind::Reminder => "reminder",
        }
    }
}

/// One stage's check in a drill's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The stage (`triage`, `contain`, `preserve`, `page`).
    pub stage: String,
    /// What its record must show.
    pub expects: String,
    /// Whether the log shows it.
    pub passed: bool,
}

/// True when every check passed.
pub fn passed(checks: &[Check]) -> bool {
    !checks.is_empty() && checks.iter().all(|c| c.passed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::outcome::Status;
    use chrono::TimeZone;

    fn id() -> IncidentId {
        IncidentId::derive("guardduty:1:us-east-1:abc")
    }

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
    }

    fn action(status: Status, secs: i64) -> Entry {
        Entry::Action {
            outcome: ActionOutcome {
                index: 1,
                kind: "deactivate_access_key".into(),
                target: "AKIA1".into(),
                status,
                at: t(secs),
                changes: Vec::new(),
            },
        }
    }

    #[test]
    fn names_parse_back_and_sort_by_seq() {
        let e = Entry::Updated {
            event_key: "k".into(),
        };
        let name = e.name(&id(), 7);
        assert!(name.starts_with("000007-updated-"), "{name}");
        let key = LogKey::parse(&name).unwrap();
        assert_eq!((key.seq, key.kind.as_str()), (7, "updated"));
        assert_eq!(key.hash, e.hash8(&id()));
        let b = Entry::BreachConfirmed { note: None }.name(&id(), 1_000_000);
        assert_eq!(LogKey::parse(&b).unwrap().kind, "breach_confirmed");
        let sorted = keys([name.as_str(), "000002-opened-0123abcd.json", b.as_str()]);
        assert_eq!(
            sorted.iter().map(|k| k.seq).collect::<Vec<_>>(),
            [2, 7, 1_000_000]
        );
        assert_eq!(next_seq(&sorted), 1_000_001);
        assert_eq!(next_seq(&[]), 1);
        for bad in [
            "",
            "000001-opened.json",
            "x-opened-0123abcd.json",
            "000001-opened-0123abcd.txt",
            "000001-Opened-0123abcd.json",
            "000001-opened-0123abc.json",
            "000001-opened-0123abcg.json",
        ] {
            assert_eq!(LogKey::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn identity_ignores_times_and_details_but_not_failure() {
        let done = action(Status::Done { detail: "a".into() }, 1);
        let again = action(
            Status::Skipped {
                why: "already Inactive".into(),
            },
            9,
        );
        assert_eq!(done.hash8(&id()), again.hash8(&id()));
        let failed = action(
            Status::Failed {
                code: "Throttling".into(),
                message: "m".into(),
            },
            2,
        );
        assert_ne!(done.hash8(&id()), failed.hash8(&id()));
        let other = IncidentId::derive("guardduty:1:us-east-1:abd");
        assert_ne!(done.hash8(&id()), done.hash8(&other));
        // Kinds never collide even on equal identity.
        let keys = keys([done.name(&id(), 1).as_str()]);
        assert!(contains(&keys, &id(), &again));
        assert!(!contains(&keys, &id(), &failed));
    }

    #[test]
    fn custody_readings_are_distinct_and_the_json_is_tagged() {
        let read = |secs| Entry::Custody {
            keys: vec!["k".into()],
            purpose: "verify".into(),
            read_at: t(secs),
        };
        assert_ne!(read(1).hash8(&id()), read(2).hash8(&id()));
        let entry = LogEntry {
            incident_id: id(),
            seq: 3,
            at: t(5),
            by: "arn:aws:sts::1:assumed-role/r/s".into(),
            entry: read(1),
        };
        let v = serde_json::to_value(&entry).unwrap();
        assert_eq!(v["entry"]["kind"], "custody");
        let back: LogEntry = serde_json::from_value(v).unwrap();
        assert_eq!(back, entry);
        let mut later = entry.clone();
        later.seq = 1;
        later.at = t(9);
        let order = in_order(vec![entry, later]);
        assert_eq!(order.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 3]);
    }
}
