//! The HTML incident report in a real browser: headless Chromium lays out every section, the
//! timeline lists every log entry, and a screenshot is left in `target/artefacts/` for a human
//! to look at.

use chrono::{DateTime, Duration, Utc};
use firebreak_core::lifecycle::drill::Check;
use firebreak_core::record::Record;
use firebreak_core::record::approval::ApprovalRecord;
use firebreak_core::record::incident::Deadline;
use firebreak_core::record::release::{Change, ReleaseRecord};
use firebreak_core::render::report;
use firebreak_core::{
    ActionOutcome, Entry, IncidentId, LogEntry, Obligation, PageKind, Route, Severity, Source,
    Status, TagTarget,
};
use firebreak_testbed::browser;

const ACCOUNT: &str = "493827105164";
const TRIAGE: &str = "arn:aws:lambda:eu-west-1:493827105164:function:firebreak-triage";
const CONTAIN: &str = "arn:aws:lambda:eu-west-1:493827105164:function:firebreak-contain";
const PRESERVE: &str = "arn:aws:lambda:eu-west-1:493827105164:function:firebreak-preserve";
const PAGE: &str = "arn:aws:lambda:eu-west-1:493827105164:function:firebreak-page";
const CLOCK: &str = "arn:aws:lambda:eu-west-1:493827105164:function:firebreak-clock";
const ALICE: &str = "arn:aws:sts::493827105164:assumed-role/IncidentResponder/alice.martin";
const BOB: &str = "arn:aws:sts::493827105164:assumed-role/SecurityAuditor/bob.okafor";
const KEY: &str = "AKIAXDQ4NWPL7HZ2R5KM";
const USER: &str = "ci-deploy";

fn detected() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T02:47:13Z")
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

fn at(minutes: i64) -> DateTime<Utc> {
    detected() + Duration::minutes(minutes)
}

fn id() -> IncidentId {
    IncidentId::derive(&format!(
        "guardduty:{ACCOUNT}:eu-west-1:b8c6f2a91d7e4c03a5f18e2d9b6c7a41"
    ))
}

fn outcome(index: usize, kind: &str, target: &str, status: Status, minutes: i64) -> ActionOutcome {
    ActionOutcome {
        index,
        kind: kind.into(),
        target: target.into(),
        status,
        at: at(minutes),
        changes: Vec::new(),
    }
}

fn done(detail: &str) -> Status {
    Status::Done {
        detail: detail.into(),
    }
}

fn evidence(kind: &str, name: &str, sha256: &str, size: u64, minutes: i64) -> Entry {
    Entry::Evidence {
        key: format!("incidents/{}/{name}", id()),
        item_kind: kind.into(),
        sha256: sha256.into(),
        size,
        retain_until: at(minutes) + Duration::days(365),
    }
}

/// An S1 incident's log from detection to closing and release, with one entry or more of every
/// kind (a real log holds a drill verdict only in a drill incident; here it keeps the report
/// checked against every kind there is).
fn log() -> Vec<(i64, &'static str, Entry)> {
    let tag = Change::Tagged {
        resource: TagTarget::IamUser(USER.into()),
        volumes: Vec::new(),
    };
    let mut tagged = outcome(
        4,
        "tag_quarantine",
        &format!("user/{USER}"),
        done("tagged incident-response=quarantine"),
        1,
    );
    tagged.changes.push(tag.clone());
    let mut deactivated = outcome(1, "deactivate_access_key", KEY, done("key set Inactive"), 1);
    deactivated.changes.push(Change::AccessKeyDeactivated {
        user_name: USER.into(),
        access_key_id: KEY.into(),
    });
    vec![
        (
            0,
            TRIAGE,
            Entry::Opened {
                source: Source::GuardDuty {
                    finding_id: "b8c6f2a91d7e4c03a5f18e2d9b6c7a41".into(),
                    finding_type: "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom".into(),
                    guardduty_severity: 8.0,
                    detector_id: Some("4cb1e6a0f5d3b2c8e9a7f6d5c4b3a291".into()),
                    count: 1,
                    updated_at: Some("2026-11-23T02:47:09.412Z".into()),
                },
                title: format!(
                    "API GetCallerIdentity was invoked from an IP address on a custom threat list by IAM user {USER}"
                ),
                severity: Severity::S1,
                detected_at: detected(),
                event_key: format!("incidents/{}/events/6f0d3c1e-2b9a-4e57-8c41-d2a7f9e05b13.json", id()),
                account: ACCOUNT.into(),
                region: "eu-west-1".into(),
                severity_reason: "GuardDuty 8.0, raised to S1: a long-term access key used from a listed malicious IP".into(),
                principal: Some(format!("arn:aws:iam::{ACCOUNT}:user/{USER}")),
                deadlines: vec![
                    Deadline {
                        obligation: Obligation::NotifyAmazon,
                        due: Some(detected() + Duration::hours(24)),
                    },
                    Deadline {
                        obligation: Obligation::GdprAuthority,
                        due: None,
                    },
                    Deadline {
                        obligation: Obligation::RootCauseAnalysis,
                        due: None,
                    },
                    Deadline {
                        obligation: Obligation::Retrospective,
                        due: None,
                    },
                ],
                human_steps: vec![
                    format!("Rotate every access key of {USER} and update the CI secret store."),
                    "Review CloudTrail for everything the key did since 2026-11-22 (the first call from the listed IP).".into(),
                    "Decide with legal whether personal data was read: the key could list the customer-exports bucket.".into(),
                ],
                drill: false,
            },
        ),
        (
            0,
            PAGE,
            Entry::Page {
                page_kind: PageKind::Opened,
                route: Route::Pager,
                message_id: "5f3a9c2e-7d41-5b8e-9a06-3c1f8e2d4b77".into(),
                about: "pages/opened.json".into(),
            },
        ),
        (1, CONTAIN, Entry::Action { outcome: deactivated.clone() }),
        (
            1,
            CONTAIN,
            Entry::Action {
                outcome: outcome(2, "revoke_user_sessions", USER, Status::AwaitingApproval, 1),
            },
        ),
        (
            1,
            CONTAIN,
            Entry::Action {
                outcome: outcome(
                    3,
                    "deny_user",
                    USER,
                    Status::Failed {
                        code: "AccessDenied".into(),
                        message: format!(
                            "User: arn:aws:sts::{ACCOUNT}:assumed-role/firebreak-contain/firebreak-contain is not authorized to perform: iam:PutUserPolicy on resource: user {USER} with an explicit deny in a service control policy"
                        ),
                    },
                    1,
                ),
            },
        ),
        (1, CONTAIN, Entry::Action { outcome: tagged.clone() }),
        (
            2,
            PRESERVE,
            evidence(
                "source-event",
                "source-event/3b5e0c7a91f24d68b2e1c9a7f05d3e8b46a1c2d9e7f0b3a5c8d1e4f7a2b6c9d0.json",
                "3b5e0c7a91f24d68b2e1c9a7f05d3e8b46a1c2d9e7f0b3a5c8d1e4f7a2b6c9d0",
                4_187,
                2,
            ),
        ),
        (
            2,
            PRESERVE,
            evidence(
                "resource-state",
                "resource-state/8e1f4a7c2d9b6e3f0a5c8d1b4e7f2a9c6d3b0e5f8a1c4d7b2e9f6a3c0d5b8e1f.json",
                "8e1f4a7c2d9b6e3f0a5c8d1b4e7f2a9c6d3b0e5f8a1c4d7b2e9f6a3c0d5b8e1f",
                23_906,
                2,
            ),
        ),
        (
            2,
            PRESERVE,
            evidence(
                "manifest",
                "manifest.json",
                "c47a1e9d3f6b2a8c5e0d7f4b1a9c6e3d8f2b5a7c0e4d1f9b6a3c8e5d2f7b0a4c",
                1_342,
                2,
            ),
        ),
        (
            2,
            PRESERVE,
            Entry::Action {
                outcome: outcome(
                    0,
                    "preserve_evidence",
                    "evidence store",
                    done("3 items locked (COMPLIANCE mode) with manifest.json"),
                    2,
                ),
            },
        ),
        (
            14,
            TRIAGE,
            Entry::Updated {
                event_key: format!("incidents/{}/events/9a2c4e6f-1b3d-4f58-a7c9-e0b2d4f6a8c1.json", id()),
            },
        ),
        (
            31,
            ALICE,
            Entry::Approval {
                record: ApprovalRecord {
                    incident_id: id(),
                    event_key: format!(
                        "incidents/{}/events/6f0d3c1e-2b9a-4e57-8c41-d2a7f9e05b13.json",
                        id()
                    ),
                    index: 2,
                    kind: "revoke_user_sessions".into(),
                    target: USER.into(),
                    approved_by: ALICE.into(),
                    approved_at: at(31),
                    outcome: outcome(
                        2,
                        "revoke_user_sessions",
                        USER,
                        done("sessions issued before 2026-11-23T03:18:13Z denied"),
                        31,
                    ),
                },
            },
        ),
        (
            122,
            BOB,
            Entry::Custody {
                keys: vec![
                    format!("incidents/{}/manifest.json", id()),
                    format!(
                        "incidents/{}/source-event/3b5e0c7a91f24d68b2e1c9a7f05d3e8b46a1c2d9e7f0b3a5c8d1e4f7a2b6c9d0.json",
                        id()
                    ),
                ],
                purpose: "verify".into(),
                read_at: at(121),
            },
        ),
        (
            305,
            ALICE,
            Entry::BreachConfirmed {
                note: Some("the key listed and read s3://acme-customer-exports/2026-11/ (names and e-mail addresses)".into()),
            },
        ),
        (
            362,
            ALICE,
            Entry::NoticeDrafted {
                notice: "amazon".into(),
                sha256: "e3a1f9c7b5d2e8a4f6c0b9d7e5a3c1f8b6d4e2a0c9f7b5d3e1a8c6f4b2d0e9a7".into(),
            },
        ),
        (
            1_093,
            CLOCK,
            Entry::Reminder {
                obligations: vec![Obligation::NotifyAmazon],
                hour: "2026-11-23T21".into(),
                message_id: "0c7e2a4f-9b1d-5e63-8f27-4a9c1e6b3d05".into(),
            },
        ),
        (
            1_560,
            ALICE,
            Entry::Acknowledged {
                obligation: Obligation::GdprAuthority,
                note: Some("notified the Data Protection Commission, case DPC-BN-2026-11873".into()),
            },
        ),
        (
            1_690,
            ALICE,
            Entry::Closed {
                controls: format!(
                    "SCP denies iam:CreateAccessKey outside the break-glass role.\nCI moved from {USER}'s long-term key to GitHub OIDC federation.\nGuardDuty threat list refreshed hourly."
                ),
                archived_finding: Some("b8c6f2a91d7e4c03a5f18e2d9b6c7a41".into()),
            },
        ),
        (
            1_702,
            ALICE,
            Entry::Release {
                record: ReleaseRecord {
                    incident_id: id(),
                    step: tag.undo_kind().into(),
                    target: tag.target(),
                    change: Some(tag.clone()),
                    released_by: ALICE.into(),
                    released_at: at(1_702),
                    outcome: outcome(
                        0,
                        "remove_quarantine_tag",
                        USER,
                        done("incident-response tag removed"),
                        1_702,
                    ),
                },
            },
        ),
        (
            1_703,
            ALICE,
            Entry::Drill {
                passed: true,
                checks: ["triage", "contain", "preserve", "page"]
                    .into_iter()
                    .map(|stage| Check {
                        stage: stage.into(),
                        expects: format!("{stage} left its record"),
                        passed: true,
                    })
                    .collect(),
                message_id: Some("7d1b3f5a-2c4e-5a69-b08d-e1f3a5c7b9d2".into()),
            },
        ),
        (
            1_704,
            ALICE,
            Entry::Wiring {
                drifts: vec![
                    "rule fb-Page on bus firebreak is DISABLED: its events reach no Firebreak function. Fix: aws events enable-rule --name fb-Page --event-bus-name firebreak".into(),
                ],
                hour: "2026-12-01T09".into(),
                message_id: "0b4f6a8c-1d3e-4f5a-9b7c-2e4a6c8e0f13".into(),
            },
        ),
    ]
}

fn record() -> Record {
    let entries = log()
        .into_iter()
        .zip(1u32..)
        .map(|((minutes, by, entry), seq)| LogEntry {
            incident_id: id(),
            seq,
            at: at(minutes) + Duration::seconds(i64::from(seq) * 3),
            by: by.into(),
            entry,
        })
        .collect();
    Record::from_log(id(), entries)
}

/// Every kind of entry, so a new kind fails to compile here until the report covers it.
fn kind_number(entry: &Entry) -> usize {
    match entry {
        Entry::Opened { .. } => 0,
        Entry::Updated { .. } => 1,
        Entry::Action { .. } => 2,
        Entry::Evidence { .. } => 3,
        Entry::Page { .. } => 4,
        Entry::Approval { .. } => 5,
        Entry::Release { .. } => 6,
        Entry::Custody { .. } => 7,
        Entry::Acknowledged { .. } => 8,
        Entry::BreachConfirmed { .. } => 9,
        Entry::NoticeDrafted { .. } => 10,
        Entry::Closed { .. } => 11,
        Entry::Reminder { .. } => 12,
        Entry::Drill { .. } => 13,
        Entry::Wiring { .. } => 14,
    }
}

/// The numbers in the timeline's `Seq` cells of a dumped DOM.
fn timeline_seqs(dom: &str) -> Vec<u32> {
    let start = dom
        .find("<section id=\"timeline\">")
        .unwrap_or_else(|| panic!("no timeline section in the dumped DOM"));
    let timeline = &dom[start..];
    let timeline = &timeline[..timeline.find("</section>").unwrap_or(timeline.len())];
    timeline
        .split("<td class=\"c-seq\">")
        .skip(1)
        .filter_map(|cell| cell.split('<').next()?.trim().parse().ok())
        .collect()
}

#[test]
fn chromium_shows_every_section_and_every_entry_of_the_report() {
    if let Err(e) = browser::chromium() {
        if browser::skip_requested() {
            eprintln!("skipped (FIREBREAK_SKIP_BROWSER=1): {e}");
            return;
        }
        panic!("{e}");
    }
    let record = record();
    let mut kinds: Vec<usize> = record
        .entries
        .iter()
        .map(|e| kind_number(&e.entry))
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds, (0..=14).collect::<Vec<_>>(), "the log misses a kind");
    // A day and a half after detection: the Amazon notice is overdue.
    let now = detected() + Duration::hours(30);
    let html = report::html(&record, now);
    assert!(!html.contains("<script"), "the report itself runs nothing");

    let visible =
        browser::visible_sections(&html, &report::SECTIONS).unwrap_or_else(|e| panic!("{e}"));
    let want: Vec<(String, bool)> = report::SECTIONS
        .iter()
        .map(|s| (s.to_string(), true))
        .collect();
    assert_eq!(visible, want, "sections Chromium does not show");

    let dom = browser::dump_dom(&html).unwrap_or_else(|e| panic!("{e}"));
    let seqs = timeline_seqs(&dom);
    let want: Vec<u32> = record.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, want, "the timeline Chromium shows");
    assert!(
        dom.contains(">OVERDUE<") && dom.contains("by 6h 00m"),
        "the Amazon notice shows overdue"
    );

    let dir = browser::artefacts_dir();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let (page, png) = (dir.join("report.html"), dir.join("report.png"));
    std::fs::write(&page, &html).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
    // The whole page, so the screenshot shows every section.
    let height = browser::page_height(&html, 1280).unwrap_or_else(|e| panic!("{e}"));
    assert!(height > 900, "the report is {height} px tall");
    browser::screenshot(&page, &png, 1280, height.min(16_000)).unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        png.display()
    );
    assert!(
        bytes.len() > 8 * 1024,
        "{} is only {} bytes: a blank page?",
        png.display(),
        bytes.len()
    );
    eprintln!("report: {}\nscreenshot: {}", page.display(), png.display());
}
