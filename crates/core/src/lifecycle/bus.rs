//! The events Firebreak puts on its own EventBridge bus between its functions. A bus event is
//! a pointer, never an authority: each function reads the locked source event it names from the
//! evidence bucket and triages it again, so whoever can put events on the bus cannot make
//! Firebreak contain anything the evidence does not support.

use serde::{Deserialize, Serialize};

use crate::record::incident::IncidentId;
use crate::record::outcome::ActionOutcome;
use crate::severity::{Route, Severity};

/// `source` of every event Firebreak puts.
pub const SOURCE: &str = "firebreak";

/// `detail-type` of Firebreak's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DetailType {
    /// A new incident: the first event of its kind.
    #[serde(rename = "Incident Opened")]
    IncidentOpened,
    /// A later event of an open incident (e.g. a re-emitted finding).
    #[serde(rename = "Incident Updated")]
    IncidentUpdated,
    /// The contain function executed the incident's containment.
    #[serde(rename = "Containment Finished")]
    ContainmentFinished,
    /// The preserve function locked the incident's evidence.
    #[serde(rename = "Evidence Preserved")]
    EvidencePreserved,
    /// The clock asks the contain function to run an incident's containment again: the stage
    /// was left unfinished (a transient failure, a crash) and its claim is stale. Only the
    /// contain function's rule matches it.
    #[serde(rename = "Containment Retry")]
    ContainmentRetry,
    /// Triage saw EBS report a snapshot complete (a forensic account is configured): the
    /// preserve function hands it over if it is an incident's. Only its rule matches it.
    #[serde(rename = "Snapshot Completed")]
    SnapshotCompleted,
}

impl DetailType {
    /// Every detail type.
    pub const ALL: [DetailType; 6] = [
        DetailType::IncidentOpened,
        DetailType::IncidentUpdated,
        DetailType::ContainmentFinished,
        DetailType::EvidencePreserved,
        DetailType::ContainmentRetry,
        DetailType::SnapshotCompleted,
    ];

    /// The `detail-type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            DetailType::IncidentOpened => "Incident Opened",
            DetailType::IncidentUpdated => "Incident Updated",
            DetailType::ContainmentFinished => "Containment Finished",
            DetailType::EvidencePreserved => "Evidence Preserved",
            DetailType::ContainmentRetry => "Containment Retry",
            DetailType::SnapshotCompleted => "Snapshot Completed",
        }
    }

    /// The detail type named `s`.
    pub fn parse(s: &str) -> Option<DetailType> {
        DetailType::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// `detail` of `Incident Opened`, `Incident Updated` and `Containment Retry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentNotice {
    /// The incident.
    pub incident_id: IncidentId,
    /// Its severity.
    pub severity: Severity,
    /// Where its pages go.
    pub route: Route,
    /// One line.
    pub title: String,
    /// Key of the locked source event in the evidence bucket.
    pub event_key: String,
    /// The SHA-256 (hex) of the bytes triage locked there: a stage whose read of the key's
    /// current version hashes to it has read them, without listing the key's versions first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_sha256: Option<String>,
    /// A drill: containment runs dry.
    pub drill: bool,
    /// The plan has containment to execute at once (the contain function's rule matches this).
    pub auto_containment: bool,
}

/// `detail` of `Containment Finished` and `Evidence Preserved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageFinished {
    /// The incident.
    pub incident_id: IncidentId,
    /// Its severity.
    pub severity: Severity,
    /// Key of the locked source event the stage acted on.
    pub event_key: String,
    /// One outcome per action the stage owns, in plan order.
    pub outcomes: Vec<ActionOutcome>,
    /// `s3://bucket/incidents/<id>/`.
    pub evidence_location: String,
    /// The manifest the stage wrote, if any.
    pub manifest_key: Option<String>,
}

/// Where an action runs once the pipeline is split into functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Every action in one process (the CLI's `respond`).
    All,
    /// Credentials, sessions, Cognito, isolation, public access and quarantine tags.
    Contain,
    /// Termination protection, snapshots and the evidence itself.
    Preserve,
}

impl Stage {
    /// True when `action` belongs to this stage. Pages belong to `All` and to the page function.
    pub fn owns(self, action: &crate::action::plan::Action) -> bool {
        use crate::action::plan::Runs;
        match (self, action.facts().runs) {
            (Stage::All, _) => true,
            (Stage::Preserve, runs) => runs == Runs::Preserve,
            (Stage::Contain, runs) => runs == Runs::Contain,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::plan::{Action, TagTarget};

    #[test]
    fn detail_types_round_trip() {
        for d in DetailType::ALL {
            assert_eq!(DetailType::parse(d.as_str()), Some(d));
            let json = serde_json::to_string(&d).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", d.as_str()));
        }
        assert_eq!(DetailType::parse("Incident opened"), None);
    }

    #[test]
    fn every_action_has_exactly_one_function() {
        let actions = [
            Action::ProtectInstance {
                instance_id: "i-1".into(),
            },
            Action::CaptureMemory {
                instance_id: "i-1".into(),
            },
            Action::SnapshotVolumes {
                instance_id: "i-1".into(),
            },
            Action::PreserveEvidence,
            Action::DeactivateAccessKey {
                user_name: "u".into(),
                access_key_id: "AKIA".into(),
            },
            Action::IsolateInstance {
                instance_id: "i-1".into(),
            },
            Action::BlockPublicAccess { bucket: "b".into() },
            Action::TagQuarantine {
                resource: TagTarget::Bucket("b".into()),
            },
        ];
        for a in &actions {
            assert!(Stage::All.owns(a));
            assert!(Stage::Contain.owns(a) != Stage::Preserve.owns(a), "{a:?}");
        }
        let page = Action::Page {
            route: Route::Pager,
        };
        assert!(!Stage::Contain.owns(&page) && !Stage::Preserve.owns(&page));
    }
}
