//! Snapshots handed to a forensic account (`evidence.forensic_account`): investigators work on
//! copies away from the account under attack. A snapshot can be shared only once it is
//! complete, so the trigger is EBS's own `EBS Snapshot Notification` (source `aws.ec2`, which no
//! caller can put): triage turns a completed one into `Snapshot Completed` on Firebreak's bus,
//! and the preserve function decides here what the snapshot gets.
//!
//! - An unencrypted snapshot is shared as it is (create-volume permission for that account).
//! - An encrypted one is first copied under `evidence.forensic_kms_key` (a snapshot under the
//!   default `aws/ebs` key cannot be shared, and another key's policy is not Firebreak's to
//!   change); the copy's own completion shares the copy.
//! - Only a snapshot Firebreak took for an incident is touched: its tag names the incident, but
//!   what counts is the mark Firebreak wrote under the incident's evidence when it took it
//!   ([`mark_name`]; tags can be written by anyone, the evidence bucket only by Firebreak), of
//!   an instance the incident's plan snapshots, in the incident's account and region. A copy
//!   is marked the same way the moment it is made, and only a marked copy is ever reused.
//!
//! Sharing is preservation: it is never dry, and a release leaves it (as it leaves snapshots).

use serde::{Deserialize, Serialize};

use crate::action::names::{self, BadName};
use crate::action::plan::QUARANTINE_TAG;
use crate::record::incident::IncidentId;

/// EBS's detail type for snapshot notifications.
pub const DETAIL_TYPE: &str = "EBS Snapshot Notification";

/// The tag naming the snapshot a copy was made from.
pub const COPY_OF_TAG: &str = "firebreak:copy-of";

/// The tag naming the instance a snapshot was taken of.
pub const INSTANCE_TAG: &str = "firebreak:instance";

/// A snapshot EBS reports complete, as put on Firebreak's bus (`Snapshot Completed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotCompleted {
    /// The account the snapshot is in.
    pub account: String,
    /// Its region.
    pub region: String,
    /// `snap-…`.
    pub snapshot_id: String,
    /// Whether it is a copy (`copySnapshot`) rather than a new snapshot (`createSnapshot`).
    pub copy: bool,
}

/// What an EBS snapshot notification is to Firebreak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// A snapshot (or copy) completed.
    Completed(SnapshotCompleted),
    /// Anything else EBS says (a failure, a share, a multi-volume set): nothing to do, and why.
    Other(String),
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    source: Option<&'a str>,
    #[serde(rename = "detail-type", borrow)]
    detail_type: Option<&'a str>,
    #[serde(borrow)]
    account: Option<&'a str>,
    #[serde(borrow)]
    region: Option<&'a str>,
    detail: Option<Detail>,
}

#[derive(Deserialize)]
struct Detail {
    event: Option<String>,
    result: Option<String>,
    snapshot_id: Option<String>,
}

/// The notification `raw` is: `None` when it is no `EBS Snapshot Notification` of `aws.ec2`; an
/// error when it is one that does not say what it must (account, region, the snapshot).
pub fn parse(raw: &str) -> Option<Result<Notification, String>> {
    let e: Envelope = serde_json::from_str(raw).ok()?;
    if e.source != Some("aws.ec2") || e.detail_type != Some(DETAIL_TYPE) {
        return None;
    }
    Some(judge(&e))
}

fn judge(e: &Envelope) -> Result<Notification, String> {
    let Some(detail) = &e.detail else {
        return Err("an EBS snapshot notification without a detail".into());
    };
    let event = detail.event.as_deref().unwrap_or_default();
    let copy = match event {
        "createSnapshot" => false,
        "copySnapshot" => true,
        other => {
            return Ok(Notification::Other(format!(
                "EBS event {other:?} is not a snapshot completing"
            )));
        }
    };
    let result = detail.result.as_deref().unwrap_or_default();
    if result != "succeeded" {
        return Ok(Notification::Other(format!(
            "{event} ended {result:?}, not succeeded"
        )));
    }
    let account = e.account.unwrap_or_default();
    names::account_id(account).map_err(|e| e.to_string())?;
    let region = e.region.unwrap_or_default();
    if !crate::config::region_name_ok(region) {
        return Err(format!("region {region:?} is not a region name"));
    }
    // `arn:aws:ec2::<region>:snapshot/snap-…` (EBS's own form) or a bare id.
    let arn = detail.snapshot_id.as_deref().unwrap_or_default();
    let id = arn.rsplit_once("snapshot/").map_or(arn, |(_, id)| id);
    snapshot_id(id).map_err(|e| format!("{arn:?} names no snapshot: {e}"))?;
    Ok(Notification::Completed(SnapshotCompleted {
        account: account.to_string(),
        region: region.to_string(),
        snapshot_id: id.to_string(),
        copy,
    }))
}

/// An EBS snapshot id (`snap-` and 8 or 17 hex digits).
pub fn snapshot_id(id: &str) -> Result<(), BadName> {
    names::ec2_id("EBS snapshot id", "snap", id)
}

/// The incident a snapshot's quarantine tag names (`quarantine:<incident>`).
pub fn incident_of(tag_value: &str) -> Option<IncidentId> {
    IncidentId::parse(tag_value.strip_prefix("quarantine:")?)
}

/// What the preserve function read of a snapshot (DescribeSnapshots, owner self).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotFacts {
    /// `snap-…`.
    pub id: String,
    /// `pending`, `completed`, `error`, …
    pub state: String,
    /// Whether it is encrypted.
    pub encrypted: bool,
    /// The KMS key it is encrypted under (an ARN), if any.
    pub kms_key_id: Option<String>,
    /// Its tags, as (key, value).
    pub tags: Vec<(String, String)>,
}

impl SnapshotFacts {
    /// The value of tag `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The incident its quarantine tag names.
    pub fn incident(&self) -> Option<IncidentId> {
        incident_of(self.tag(QUARANTINE_TAG)?)
    }
}

/// What the incident says about the snapshot's place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentFacts<'a> {
    /// Whether Firebreak marked taking (or copying) this snapshot under the incident's evidence.
    pub marked: bool,
    /// The incident's account.
    pub account: &'a str,
    /// Its region.
    pub region: &'a str,
    /// The instances its plan snapshots.
    pub snapshotted: Vec<&'a str>,
}

/// What a completed snapshot gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Shared with the forensic account as it is.
    Share {
        /// The account.
        account: String,
    },
    /// Copied under the forensic key; the copy is shared when it completes.
    Copy {
        /// The key (ARN).
        kms_key: String,
    },
    /// Nothing, and why.
    Skip(String),
    /// Not yet (EBS said complete, EC2 does not say so yet): asked again later.
    NotYet(String),
}

/// What `snapshot`, reported complete in `notice`, gets under `config` (the forensic account
/// and key) in `incident`.
pub fn decide(
    forensic_account: &str,
    forensic_kms_key: &str,
    notice: &SnapshotCompleted,
    snapshot: &SnapshotFacts,
    incident: &IncidentFacts,
) -> Step {
    if forensic_account.is_empty() {
        return Step::Skip("no forensic account is configured".into());
    }
    if forensic_account == notice.account {
        return Step::Skip(format!(
            "the forensic account {forensic_account} is the snapshot's own"
        ));
    }
    if !incident.marked {
        return Step::Skip(format!(
            "{} is no snapshot Firebreak took for the incident",
            snapshot.id
        ));
    }
    if (incident.account, incident.region) != (notice.account.as_str(), notice.region.as_str()) {
        return Step::Skip(format!(
            "the snapshot is in {}/{}, the incident in {}/{}",
            notice.account, notice.region, incident.account, incident.region
        ));
    }
    if snapshot.state != "completed" {
        return Step::NotYet(format!(
            "{} is {:?}, not completed",
            snapshot.id, snapshot.state
        ));
    }
    let instance = snapshot.tag(INSTANCE_TAG).unwrap_or_default();
    if !incident.snapshotted.contains(&instance) {
        return Step::Skip(format!(
            "{} is not of an instance the incident snapshots ({instance:?})",
            snapshot.id
        ));
    }
    if !snapshot.encrypted {
        return Step::Share {
            account: forensic_account.to_string(),
        };
    }
    if forensic_kms_key.is_empty() {
        return Step::Skip(format!(
            "{} is encrypted and no forensic key is configured to copy it under",
            snapshot.id
        ));
    }
    if snapshot
        .kms_key_id
        .as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case(forensic_kms_key))
    {
        // The copy (or a snapshot already under the key the forensic account may use).
        return Step::Share {
            account: forensic_account.to_string(),
        };
    }
    if snapshot.tag(COPY_OF_TAG).is_some() {
        // A copy under another key would be copied again, and again: never.
        return Step::Skip(format!(
            "{} is a copy, but not under the forensic key",
            snapshot.id
        ));
    }
    if crate::config::kms_key_region(forensic_kms_key) != Some(notice.region.as_str()) {
        return Step::Skip(format!(
            "the forensic key is not in {}, where {} is (a copy is made in its own region)",
            notice.region, snapshot.id
        ));
    }
    Step::Copy {
        kms_key: forensic_kms_key.to_string(),
    }
}

/// Where the handing over of `snapshot` is recorded, under the incident's prefix.
pub fn record_name(snapshot: &str) -> String {
    format!("forensic/{snapshot}.json")
}

/// The folder, under an incident's prefix, of Firebreak's marks on the snapshots it took.
pub const MARKS: &str = "snapshots/";

/// Where Firebreak marks a snapshot it took (or copied) for an incident, under its prefix.
pub fn mark_name(snapshot: &str) -> String {
    format!("{MARKS}{snapshot}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:eu-west-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn event(event: &str, result: &str, snapshot: &str) -> String {
        serde_json::json!({
            "version": "0", "id": "e1", "detail-type": DETAIL_TYPE, "source": "aws.ec2",
            "account": "111122223333", "time": "2026-12-07T10:00:00Z", "region": "eu-west-1",
            "resources": [snapshot],
            "detail": { "event": event, "result": result, "cause": "", "request-id": "",
                        "snapshot_id": snapshot, "source": "arn:aws:ec2::eu-west-1:volume/vol-01234567",
                        "startTime": "", "endTime": "" }
        })
        .to_string()
    }

    fn facts(encrypted: bool, key: Option<&str>, tags: &[(&str, &str)]) -> SnapshotFacts {
        SnapshotFacts {
            id: "snap-0123456789abcdef0".into(),
            state: "completed".into(),
            encrypted,
            kms_key_id: key.map(str::to_string),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn notice() -> SnapshotCompleted {
        SnapshotCompleted {
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            snapshot_id: "snap-0123456789abcdef0".into(),
            copy: false,
        }
    }

    fn incident() -> IncidentFacts<'static> {
        IncidentFacts {
            marked: true,
            account: "111122223333",
            region: "eu-west-1",
            snapshotted: vec!["i-0abc"],
        }
    }

    #[test]
    fn a_completed_snapshot_is_read_from_ebs_own_form() {
        let raw = event(
            "createSnapshot",
            "succeeded",
            "arn:aws:ec2::eu-west-1:snapshot/snap-0123456789abcdef0",
        );
        assert_eq!(parse(&raw), Some(Ok(Notification::Completed(notice()))));
        let raw = event(
            "copySnapshot",
            "succeeded",
            "arn:aws:ec2::eu-west-1:snapshot/snap-01234567",
        );
        let Some(Ok(Notification::Completed(n))) = parse(&raw) else {
            panic!("{raw}")
        };
        assert!(n.copy);
        assert_eq!(n.snapshot_id, "snap-01234567");
    }

    #[test]
    fn failures_and_other_events_are_nothing_to_do_and_garbage_is_an_error() {
        assert!(matches!(
            parse(&event("createSnapshot", "failed", "snap-01234567")),
            Some(Ok(Notification::Other(_)))
        ));
        assert!(matches!(
            parse(&event("shareSnapshot", "succeeded", "snap-01234567")),
            Some(Ok(Notification::Other(_)))
        ));
        assert!(matches!(
            parse(&event("createSnapshot", "succeeded", "snap-../../x")),
            Some(Err(_))
        ));
        assert!(matches!(
            parse(&event(
                "createSnapshot",
                "succeeded",
                "arn:aws:ec2::r:snapshot/vol-01234567"
            )),
            Some(Err(_))
        ));
        assert_eq!(
            parse(r#"{"source":"aws.guardduty","detail-type":"GuardDuty Finding"}"#),
            None
        );
        assert_eq!(parse("not json"), None);
        let forged = event("createSnapshot", "succeeded", "snap-01234567")
            .replace("\"aws.ec2\"", "\"custom.ec2\"");
        assert_eq!(parse(&forged), None);
    }

    #[test]
    fn unencrypted_snapshots_are_shared_and_encrypted_ones_copied_under_the_forensic_key_first() {
        let id = IncidentId::derive("x");
        let quarantine = format!("quarantine:{id}");
        let tags = vec![
            (QUARANTINE_TAG, quarantine.as_str()),
            (INSTANCE_TAG, "i-0abc"),
        ];
        let plain = facts(false, None, &tags);
        assert_eq!(plain.incident(), Some(id));
        let share = Step::Share {
            account: "999999999999".into(),
        };
        assert_eq!(
            decide("999999999999", "", &notice(), &plain, &incident()),
            share
        );
        let default_key = facts(
            true,
            Some("arn:aws:kms:eu-west-1:111122223333:key/aws-ebs-default"),
            &tags,
        );
        assert!(matches!(
            decide("999999999999", "", &notice(), &default_key, &incident()),
            Step::Skip(_)
        ));
        assert_eq!(
            decide("999999999999", KEY, &notice(), &default_key, &incident()),
            Step::Copy {
                kms_key: KEY.into()
            }
        );
        let mut copy_tags = tags.clone();
        copy_tags.push((COPY_OF_TAG, "snap-0123456789abcdef1"));
        let copy = facts(true, Some(KEY), &copy_tags);
        assert_eq!(
            decide("999999999999", KEY, &notice(), &copy, &incident()),
            share
        );
        // A copy under any other key is never copied again.
        let odd = facts(
            true,
            Some("arn:aws:kms:eu-west-1:111122223333:key/other"),
            &copy_tags,
        );
        assert!(matches!(
            decide("999999999999", KEY, &notice(), &odd, &incident()),
            Step::Skip(_)
        ));
    }

    #[test]
    fn a_snapshot_outside_the_incident_or_not_complete_is_left_alone() {
        let id = IncidentId::derive("x");
        let q = format!("quarantine:{id}");
        let other = facts(
            false,
            None,
            &[(QUARANTINE_TAG, &q), (INSTANCE_TAG, "i-0other")],
        );
        assert!(matches!(
            decide("999999999999", "", &notice(), &other, &incident()),
            Step::Skip(_)
        ));
        let untagged = facts(false, None, &[(QUARANTINE_TAG, &q)]);
        assert!(matches!(
            decide("999999999999", "", &notice(), &untagged, &incident()),
            Step::Skip(_)
        ));
        let mut pending = facts(
            false,
            None,
            &[(QUARANTINE_TAG, &q), (INSTANCE_TAG, "i-0abc")],
        );
        pending.state = "pending".into();
        assert!(matches!(
            decide("999999999999", "", &notice(), &pending, &incident()),
            Step::NotYet(_)
        ));
        let ours = facts(
            false,
            None,
            &[(QUARANTINE_TAG, &q), (INSTANCE_TAG, "i-0abc")],
        );
        let elsewhere = IncidentFacts {
            account: "444455556666",
            ..incident()
        };
        // Tags are anyone's to write: without Firebreak's mark, nothing is handed over.
        let unmarked = IncidentFacts {
            marked: false,
            ..incident()
        };
        assert!(matches!(
            decide("999999999999", "", &notice(), &ours, &unmarked),
            Step::Skip(_)
        ));
        assert!(matches!(
            decide("999999999999", "", &notice(), &ours, &elsewhere),
            Step::Skip(_)
        ));
        assert!(matches!(
            decide("", "", &notice(), &ours, &incident()),
            Step::Skip(_)
        ));
        assert!(matches!(
            decide("111122223333", "", &notice(), &ours, &incident()),
            Step::Skip(_)
        ));
        // The key must be in the snapshot's region: a copy is made where the snapshot is.
        let enc = facts(
            true,
            None,
            &[(QUARANTINE_TAG, &q), (INSTANCE_TAG, "i-0abc")],
        );
        let far = "arn:aws:kms:us-east-1:999999999999:key/1234abcd";
        assert!(matches!(
            decide("999999999999", far, &notice(), &enc, &incident()),
            Step::Skip(_)
        ));
        assert_eq!(incident_of("quarantine:nope"), None);
    }

    #[test]
    fn key_arns_are_checked() {
        assert_eq!(crate::config::kms_key_region(KEY), Some("eu-west-1"));
        assert_eq!(crate::config::kms_key_region("alias/aws/ebs"), None);
        assert_eq!(
            crate::config::kms_key_region("arn:aws:kms:eu-west-1:999999999999:alias/forensic"),
            None
        );
        assert_eq!(
            crate::config::kms_key_region("arn:aws:kms:eu-west-1:99:key/x"),
            None
        );
    }
}
