//! What the core's unit tests share: a clock, one incident (deploy-bot's key used from a
//! malicious IP), and builders for the entries of its log.

use chrono::{DateTime, Duration, Utc};

use crate::lifecycle::drill::Check;
use crate::record::approval::ApprovalRecord;
use crate::record::incident::{Deadline, IncidentId, Obligation, Source};
use crate::record::log::{Entry, LogEntry};
use crate::record::outcome::{ActionOutcome, Status};
use crate::record::release::{Change, ReleaseRecord};
use crate::render::page::PageKind;
use crate::severity::Route;
use crate::severity::Severity;

/// The incident's account.
pub const ACCOUNT: &str = "111122223333";
/// The incident's region.
pub const REGION: &str = "us-east-1";
/// The access key used from a malicious IP.
pub const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
/// The IAM user that owns [`KEY`].
pub const USER: &str = "arn:aws:iam::111122223333:user/deploy-bot";
/// The human who approves and releases.
pub const RESPONDER: &str = "arn:aws:sts::111122223333:assumed-role/IncidentResponder/alice";
/// The function that writes the automatic entries.
pub const CONTAIN: &str = "arn:aws:lambda:us-east-1:111122223333:function:firebreak-contain";

/// `rfc3339` as a time in UTC.
pub fn time(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{rfc3339:?}: {e}"))
}

/// `minutes` after the incident was detected, 2026-11-23 03:14 UTC.
pub fn t(minutes: i64) -> DateTime<Utc> {
    time("2026-11-23T03:14:00Z") + Duration::minutes(minutes)
}

/// The incident.
pub fn id() -> IncidentId {
    IncidentId::derive("guardduty:111122223333:us-east-1:4ec8b6a7")
}

/// What became of plan step `index`, `at` minutes after detection.
pub fn outcome(index: usize, kind: &str, target: &str, status: Status, at: i64) -> ActionOutcome {
    ActionOutcome {
        index,
        kind: kind.into(),
        target: target.into(),
        status,
        at: t(at),
        changes: Vec::new(),
    }
}

/// A step done, with `detail`.
pub fn done(detail: &str) -> Status {
    Status::Done {
        detail: detail.into(),
    }
}

/// Step 2, denying deploy-bot, failed with `AccessDenied` three minutes after detection.
pub fn deny_failed(message: &str) -> Entry {
    Entry::Action {
        outcome: outcome(
            2,
            "deny_user",
            "deploy-bot",
            Status::Failed {
                code: "AccessDenied".into(),
                message: message.into(),
            },
            3,
        ),
    }
}

/// The deadlines an S1 opens with: Amazon's notice due at `amazon`, the root-cause analysis and
/// the retrospective not started.
pub fn s1_deadlines(amazon: DateTime<Utc>) -> Vec<Deadline> {
    vec![
        Deadline {
            obligation: Obligation::NotifyAmazon,
            due: Some(amazon),
        },
        Deadline {
            obligation: Obligation::RootCauseAnalysis,
            due: None,
        },
        Deadline {
            obligation: Obligation::Retrospective,
            due: None,
        },
    ]
}

/// The opening of the incident: a GuardDuty finding on [`USER`] detected at `t(0)`, with the
/// deadlines of an S1.
pub fn opened(severity: Severity, title: &str) -> Entry {
    Entry::Opened {
        source: Source::GuardDuty {
            finding_id: "4ec8b6a7d2f1".into(),
            finding_type: "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom".into(),
            guardduty_severity: 8.0,
            detector_id: Some("12abc34d567e8fa901bc2d34eexample".into()),
            count: 1,
            updated_at: None,
        },
        title: title.into(),
        severity,
        detected_at: t(0),
        event_key: "incidents/FB-x/events/7f1c.json".into(),
        account: ACCOUNT.into(),
        region: REGION.into(),
        severity_reason: "known-malicious IP used a long-term key".into(),
        principal: Some(USER.into()),
        deadlines: s1_deadlines(t(24 * 60)),
        human_steps: vec!["Rotate the user's credentials.".into()],
        drill: false,
    }
}

/// The evidence manifest, locked for a year.
pub fn manifest() -> Entry {
    Entry::Evidence {
        key: "incidents/FB-x/manifest.json".into(),
        item_kind: "manifest".into(),
        sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        size: 2048,
        retain_until: t(365 * 24 * 60),
    }
}

/// [`RESPONDER`] approves step `index`, revoking deploy-bot's sessions, `at` minutes after
/// detection; it is done with `detail`.
pub fn approval(index: usize, at: i64, detail: &str) -> Entry {
    Entry::Approval {
        record: ApprovalRecord {
            incident_id: id(),
            event_key: "incidents/FB-x/events/7f1c.json".into(),
            index,
            kind: "revoke_user_sessions".into(),
            target: "deploy-bot".into(),
            approved_by: RESPONDER.into(),
            approved_at: t(at),
            outcome: outcome(
                index,
                "revoke_user_sessions",
                "deploy-bot",
                done(detail),
                at,
            ),
        },
    }
}

/// [`RESPONDER`] reactivates [`KEY`] ten hours after detection, undoing `change`.
pub fn release(change: Option<Change>, outcome: ActionOutcome) -> Entry {
    Entry::Release {
        record: ReleaseRecord {
            incident_id: id(),
            step: "reactivate_access_key".into(),
            target: KEY.into(),
            change,
            released_by: RESPONDER.into(),
            released_at: t(600),
            outcome,
        },
    }
}

/// `entry` as the incident's log entry `seq`, appended `at` by `by`.
pub fn log_entry(seq: u32, at: DateTime<Utc>, by: &str, entry: Entry) -> LogEntry {
    LogEntry {
        incident_id: id(),
        seq,
        at,
        by: by.into(),
        entry,
    }
}

/// `entries` as the incident's log, numbered from 1: entry `seq` appended `seq * every` minutes
/// after detection, by `by(seq)`.
pub fn numbered(
    entries: Vec<Entry>,
    every: i64,
    by: impl Fn(u32) -> &'static str,
) -> Vec<LogEntry> {
    entries
        .into_iter()
        .zip(1u32..)
        .map(|(entry, seq)| log_entry(seq, t(i64::from(seq) * every), by(seq), entry))
        .collect()
}

/// A log with one entry of every kind.
pub fn every_kind(severity: Severity, title: &str) -> Vec<LogEntry> {
    let key_outcome = outcome(1, "deactivate_access_key", KEY, done("key set Inactive"), 2);
    let entries = vec![
        opened(severity, title),
        Entry::Updated {
            event_key: "incidents/FB-x/events/8a2d.json".into(),
        },
        Entry::Action {
            outcome: key_outcome.clone(),
        },
        deny_failed("not authorized | to PutUserPolicy"),
        manifest(),
        Entry::Page {
            page_kind: PageKind::Opened,
            route: Route::Pager,
            message_id: "5b1f0f5e-msg".into(),
            about: "pages/opened.json".into(),
        },
        approval(3, 30, "sessions before 03:44 denied"),
        release(
            Some(Change::AccessKeyDeactivated {
                user_name: "deploy-bot".into(),
                access_key_id: KEY.into(),
            }),
            key_outcome,
        ),
        Entry::Custody {
            keys: vec!["incidents/FB-x/manifest.json".into()],
            purpose: "verify".into(),
            read_at: t(40),
        },
        Entry::Acknowledged {
            obligation: Obligation::Retrospective,
            note: Some("held on Monday".into()),
        },
        Entry::BreachConfirmed {
            note: Some("customer e-mails exported".into()),
        },
        Entry::NoticeDrafted {
            notice: "amazon".into(),
            sha256: "a".repeat(64),
        },
        Entry::Closed {
            controls: "SCP denies long-term keys\nMFA on every user".into(),
            archived_finding: Some("4ec8b6a7d2f1".into()),
        },
        Entry::Reminder {
            obligations: vec![Obligation::NotifyAmazon],
            hour: "2026-11-24T01".into(),
            message_id: "77aa-msg".into(),
        },
        Entry::Drill {
            passed: false,
            checks: vec![
                Check {
                    stage: "triage".into(),
                    expects: "opened as a drill".into(),
                    passed: true,
                },
                Check {
                    stage: "contain".into(),
                    expects: "every containment action dry".into(),
                    passed: false,
                },
            ],
            message_id: Some("90be-msg".into()),
        },
    ];
    numbered(entries, 5, |seq| if seq < 7 { CONTAIN } else { RESPONDER })
}
