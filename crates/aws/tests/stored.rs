//! The effectors' stored formats are frozen (see `firebreak_aws::store::format`): each body
//! Firebreak locks in the evidence store has one committed example under `tests/stored/`, which
//! must still deserialise and serialise again, the way the store writes it, byte for byte. A
//! missing or different example fails, and today's bytes are left in
//! `target/stored-candidates/aws/`: copying them over the committed ones is a change of a
//! stored format, and needs a reader for the old one.

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use firebreak_aws::store::format::{
    ClaimBody, Collector, Finished, IsolationGroups, Item, Manifest, Missing, OutcomesRecord,
    PageClaim, StageClaim, WatchMark,
};
use firebreak_core::record::release::{Change, OriginalGroups};
use firebreak_core::{ActionOutcome, IncidentId, Status};
use serde::Serialize;
use serde::de::DeserializeOwned;

const INCIDENT: &str = "gd-9ab3c1f0e2d4";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/stored")
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 3, minute, 0)
        .single()
        .expect("a time")
}

fn id() -> IncidentId {
    serde_json::from_value(serde_json::json!(INCIDENT)).expect("an incident id")
}

fn collector() -> Collector {
    Collector {
        identity: "arn:aws:lambda:us-east-1:111122223333:function:firebreak-preserve".into(),
        request_id: Some("5f0c2a8e-1b7d-4c3e-9a61-0d2f4e6b8a10".into()),
    }
}

fn groups() -> OriginalGroups {
    OriginalGroups {
        network_interface_id: "eni-0a1b2c3d".into(),
        groups: vec!["sg-0web".into()],
        isolation_group: "sg-0isolate".into(),
        pass_through_group: "sg-0pass".into(),
    }
}

/// How the store writes a body: manifests and records indented, claims and marks compact.
#[derive(Clone, Copy)]
enum Written {
    Pretty,
    Compact,
}

fn bytes<T: Serialize>(value: &T, written: Written) -> Vec<u8> {
    match written {
        Written::Pretty => serde_json::to_vec_pretty(value),
        Written::Compact => serde_json::to_vec(value),
    }
    .expect("serialise")
}

/// Checks one example; returns what is wrong with it, or nothing.
fn frozen<T: Serialize + DeserializeOwned>(name: &str, example: &T, written: Written) -> String {
    let path = dir().join(format!("{name}.json"));
    let today = bytes(example, written);
    let stored = std::fs::read(&path).ok();
    if stored.as_deref() != Some(today.as_slice()) {
        let candidates = dir().join("../../../../target/stored-candidates/aws");
        let _ = std::fs::create_dir_all(&candidates)
            .and_then(|()| std::fs::write(candidates.join(format!("{name}.json")), &today));
    }
    let Some(stored) = stored else {
        return format!("{name}: missing (target/stored-candidates/aws/ has today's bytes)");
    };
    match serde_json::from_slice::<T>(&stored) {
        Err(e) => format!("{name}: the stored example no longer reads: {e}"),
        Ok(read) if bytes(&read, written) != stored => {
            format!("{name}: reads back but writes different bytes")
        }
        Ok(_) if today != stored => format!("{name}: the example now writes other bytes"),
        Ok(_) => String::new(),
    }
}

#[test]
fn every_stored_body_reads_and_writes_back_byte_for_byte() {
    let item = Item {
        key: format!("incidents/{INCIDENT}/source-event/3f1a9c2e.json"),
        kind: "source-event".into(),
        sha256: "3f1a9c2e".repeat(8),
        size: 2_481,
        collected_by: collector(),
        collected_at: at(1),
        retain_until: at(1) + chrono::Duration::days(90),
        already_stored: false,
    };
    let outcome = ActionOutcome {
        index: 1,
        kind: "isolate_instance".into(),
        target: "i-0abc123def4567890".into(),
        status: Status::Done {
            detail: "1 interface isolated".into(),
        },
        at: at(1),
        changes: vec![Change::InstanceIsolated {
            instance_id: "i-0abc123def4567890".into(),
            interfaces: vec![groups()],
        }],
    };
    let problems: Vec<String> = [
        frozen(
            "manifest",
            &Manifest {
                incident_id: id(),
                written_at: at(2),
                written_by: collector(),
                items: vec![item],
                missing: vec![Missing {
                    kind: "principal-activity".into(),
                    error: "InternalFailure: LookupEvents answered 500".into(),
                }],
                bucket: "firebreak-evidence-111122223333".into(),
            },
            Written::Pretty,
        ),
        frozen(
            "outcomes-record",
            &OutcomesRecord {
                incident_id: id(),
                outcomes: vec![outcome],
                original_groups: vec![groups()],
            },
            Written::Pretty,
        ),
        frozen(
            "isolation-groups",
            &IsolationGroups {
                incident_id: id(),
                vpc_id: "vpc-0a1b2c3d".into(),
                isolation_group: "sg-0isolate".into(),
                pass_through_group: "sg-0pass".into(),
                created_at: at(1),
            },
            Written::Pretty,
        ),
        frozen(
            "claim-approval",
            &ClaimBody {
                by: "arn:aws:iam::111122223333:user/oncall".into(),
                at: at(30),
                step: "approve action 3".into(),
            },
            Written::Compact,
        ),
        frozen(
            "claim-stage",
            &StageClaim {
                event_key: format!("incidents/{INCIDENT}/source-event/3f1a9c2e.json"),
                claimed_by: collector(),
                claimed_at: at(1),
            },
            Written::Compact,
        ),
        frozen(
            "claim-page",
            &PageClaim {
                detail_type: "Containment Finished".into(),
                event_key: format!("incidents/{INCIDENT}/source-event/3f1a9c2e.json"),
                claimed_at: at(2),
            },
            Written::Compact,
        ),
        frozen(
            "claim-finished",
            &Finished { finished_at: at(2) },
            Written::Compact,
        ),
        frozen(
            "watch-mark",
            &WatchMark {
                incident_id: id(),
                marked_at: at(1),
            },
            Written::Compact,
        ),
    ]
    .into_iter()
    .filter(|p| !p.is_empty())
    .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(
        std::fs::read_dir(dir()).expect("tests/stored").count(),
        8,
        "every file in tests/stored is one of the examples above"
    );
}
