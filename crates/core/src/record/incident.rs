//! The incident: what happened, how bad, what Firebreak will do, and the clocks it starts.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::action::plan::PlannedAction;
use crate::event::principal::Principal;
use crate::severity::{Route, Severity};

/// Incident id, `FB-` and 16 hex digits; also the ticket id and the quarantine tag value.
///
/// Derived from the source (GuardDuty finding id, CloudTrail event id) so that every delivery
/// and every re-emit of the same finding maps to the same incident.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncidentId(String);

impl IncidentId {
    /// The id of the incident a source key (`guardduty:<account>:<region>:<finding-id>`) opens.
    pub fn derive(source_key: &str) -> IncidentId {
        let digest = Sha256::digest(source_key.as_bytes());
        let mut id = String::with_capacity(19);
        id.push_str("FB-");
        for b in &digest[..8] {
            id.push(char::from(HEX[usize::from(b >> 4)]));
            id.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        IncidentId(id)
    }

    /// An id a human typed, when it has the shape of one (`FB-` and 16 lower-case hex digits);
    /// only such ids become evidence keys, so a typed id cannot point outside its prefix.
    pub fn parse(text: &str) -> Option<IncidentId> {
        let hex = text.strip_prefix("FB-")?;
        let ok = hex.len() == 16 && hex.bytes().all(|b| HEX.contains(&b));
        ok.then(|| IncidentId(text.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value of the `incident-response` tag on quarantined resources.
    pub fn quarantine_tag(&self) -> String {
        format!("quarantine:{}", self.0)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the incident came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// A GuardDuty finding.
    GuardDuty {
        /// Finding id.
        finding_id: String,
        /// Finding type.
        finding_type: String,
        /// GuardDuty severity number.
        guardduty_severity: f64,
        /// Detector id, needed to archive the finding later.
        detector_id: Option<String>,
        /// GuardDuty's occurrence count (1 on first emit).
        count: u64,
        /// Last update time of this emit.
        updated_at: Option<String>,
    },
    /// A CloudTrail record.
    CloudTrail {
        /// Event id.
        event_id: String,
        /// Service endpoint.
        event_source: String,
        /// API name.
        event_name: String,
        /// Refusal, when AWS refused the call.
        error_code: Option<String>,
    },
}

/// A deadline an incident starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Obligation {
    /// Tell Amazon within 24 hours of detection (accounts holding Amazon data).
    NotifyAmazon,
    /// Tell the supervisory authority within 72 hours of confirming a personal-data breach.
    GdprAuthority,
    /// Hold a retrospective within 14 days of closing.
    Retrospective,
    /// Write a root-cause analysis (every S1).
    RootCauseAnalysis,
}

/// An obligation and when it falls due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// What must be done.
    pub obligation: Obligation,
    /// When, if the clock has started.
    pub due: Option<DateTime<Utc>>,
}

impl Obligation {
    /// Every obligation, in the order reports list them.
    pub const ALL: [Obligation; 4] = [
        Obligation::NotifyAmazon,
        Obligation::GdprAuthority,
        Obligation::RootCauseAnalysis,
        Obligation::Retrospective,
    ];

    /// Its name on the command line and in pages (`notify-amazon`).
    pub fn as_str(self) -> &'static str {
        match self {
            Obligation::NotifyAmazon => "notify-amazon",
            Obligation::GdprAuthority => "gdpr-authority",
            Obligation::Retrospective => "retrospective",
            Obligation::RootCauseAnalysis => "rca",
        }
    }

    /// The obligation a human typed: its name, with `_` or `-`, in any case.
    pub fn parse(text: &str) -> Option<Obligation> {
        let norm = text.trim().to_ascii_lowercase().replace('_', "-");
        let alias = match norm.as_str() {
            "amazon" => "notify-amazon",
            "gdpr" => "gdpr-authority",
            "root-cause-analysis" => "rca",
            other => other,
        };
        Obligation::ALL.into_iter().find(|o| o.as_str() == alias)
    }

    /// What starts or satisfies the clock, for humans.
    pub fn describe(&self) -> &'static str {
        match self {
            Obligation::NotifyAmazon => {
                "24 hours from detection (Amazon data-protection policy); Firebreak drafts, a human sends"
            }
            Obligation::GdprAuthority => "72 hours from a human confirming a personal-data breach",
            Obligation::Retrospective => "14 days from closing the incident",
            Obligation::RootCauseAnalysis => {
                "every S1 gets a root-cause analysis, due with the retrospective"
            }
        }
    }
}

/// A classified incident and its plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Deterministic id.
    pub id: IncidentId,
    /// GuardDuty finding or CloudTrail record.
    pub source: Source,
    /// Account the incident happened in.
    pub account: String,
    /// Region it happened in.
    pub region: String,
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
    /// When it was detected (event time).
    pub detected_at: DateTime<Utc>,
    /// One line for a page subject.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Why that severity.
    pub severity_reason: String,
    /// Routing by severity.
    pub route: Route,
    /// Indicators matched (`guardduty:<type>` for findings).
    pub iocs: Vec<String>,
    /// Who acted, when known.
    pub principal: Option<Principal>,
    /// The access key the principal used, when the event names one (`AKIA…` or `ASIA…`).
    pub access_key_id: Option<String>,
    /// Owner from the resource's `notification` tag.
    pub owner: Option<String>,
    /// The response plan, in order.
    pub plan: Vec<PlannedAction>,
    /// What the plan left out and why (protected principal, uncontainable root, …).
    pub notes: Vec<String>,
    /// Steps only a human can take.
    pub human_steps: Vec<String>,
    /// Clocks started.
    pub deadlines: Vec<Deadline>,
    /// GuardDuty's count; > 1 means this event updates an incident opened before.
    pub occurrence: u64,
    /// A drill (sample finding with drills enabled): containment must run dry.
    pub drill: bool,
}

impl Incident {
    /// True when this event re-emits a finding already seen (GuardDuty count above 1).
    pub fn is_update(&self) -> bool {
        self.occurrence > 1
    }
}

/// The outcome of triage for one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Not an incident, and why.
    Ignored {
        /// Human reason.
        reason: String,
    },
    /// An incident to respond to.
    Incident(Box<Incident>),
}

/// The deadlines an incident starts at detection.
pub(crate) fn deadlines(
    severity: Severity,
    detected_at: DateTime<Utc>,
    obligations: &crate::config::Obligations,
) -> Vec<Deadline> {
    let mut out = Vec::new();
    let serious = matches!(severity, Severity::S1 | Severity::S2);
    if obligations.handles_amazon_data && serious {
        out.push(Deadline {
            obligation: Obligation::NotifyAmazon,
            due: Some(detected_at + Duration::hours(24)),
        });
    }
    if obligations.gdpr_applies && serious {
        out.push(Deadline {
            obligation: Obligation::GdprAuthority,
            due: None,
        });
    }
    if severity == Severity::S1 {
        out.push(Deadline {
            obligation: Obligation::RootCauseAnalysis,
            due: None,
        });
    }
    out.push(Deadline {
        obligation: Obligation::Retrospective,
        due: None,
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let a = IncidentId::derive("guardduty:1:us-east-1:abc");
        assert_eq!(a, IncidentId::derive("guardduty:1:us-east-1:abc"));
        assert_ne!(a, IncidentId::derive("guardduty:1:us-east-1:abd"));
        assert_eq!(a.as_str().len(), 19);
        assert!(
            a.as_str()[3..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert!(a.quarantine_tag().starts_with("quarantine:FB-"));
        assert_eq!(IncidentId::parse(a.as_str()), Some(a));
    }

    #[test]
    fn only_well_formed_ids_parse() {
        for bad in [
            "",
            "FB-",
            "fb-0123456789abcdef",
            "FB-0123456789ABCDEF",
            "FB-0123456789abcde",
            "FB-0123456789abcdef0",
            "FB-../../0123456789",
            "FB-0123456789abcdeg",
        ] {
            assert_eq!(IncidentId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn amazon_clock_only_when_configured_and_serious() {
        let t = DateTime::parse_from_rfc3339("2026-11-23T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let on = crate::config::Obligations {
            handles_amazon_data: true,
            gdpr_applies: false,
        };
        let d = deadlines(Severity::S1, t, &on);
        assert_eq!(d[0].obligation, Obligation::NotifyAmazon);
        assert_eq!(d[0].due, Some(t + Duration::hours(24)));
        assert!(
            d.iter()
                .any(|d| d.obligation == Obligation::RootCauseAnalysis)
        );
        assert!(
            !deadlines(Severity::S3, t, &on)
                .iter()
                .any(|d| d.obligation == Obligation::NotifyAmazon)
        );
        let off = crate::config::Obligations::default();
        assert!(
            !deadlines(Severity::S1, t, &off)
                .iter()
                .any(|d| d.obligation == Obligation::NotifyAmazon)
        );
    }
}
