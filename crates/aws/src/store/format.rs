//! Every body the effectors lock in the evidence store, in one place. Each is read back years
//! later from a locked object, so each is frozen: `tests/stored.rs` holds one committed example
//! of each that must still read and write back byte for byte. (Log entries, outcomes and
//! changes are the core's, frozen the same way in `firebreak_core::record`.)
//!
//! Field order is the order of the bytes written: do not reorder fields.

use chrono::{DateTime, Utc};
use firebreak_core::record::release::OriginalGroups;
use firebreak_core::{ActionOutcome, IncidentId};
use serde::{Deserialize, Serialize};

/// Who collected evidence: a function ARN and request id, or the CLI caller's ARN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collector {
    /// Function ARN or caller identity ARN.
    pub identity: String,
    /// Lambda request id, when collected by a function.
    pub request_id: Option<String>,
}

/// One item in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Object key.
    pub key: String,
    /// What it is (`source-event`, `incident`, `resource-state`, `principal-activity`, `outcomes`).
    pub kind: String,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Who collected it.
    pub collected_by: Collector,
    /// When.
    pub collected_at: DateTime<Utc>,
    /// Object Lock retain-until date.
    pub retain_until: DateTime<Utc>,
    /// True when an identical item was already stored (a repeated delivery).
    pub already_stored: bool,
}

/// An item that could not be collected, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missing {
    /// What it would have been.
    pub kind: String,
    /// Why it is missing (`code: message`).
    pub error: String,
}

/// The chain-of-custody record of one preservation run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Incident.
    pub incident_id: IncidentId,
    /// When the manifest was written.
    pub written_at: DateTime<Utc>,
    /// Who wrote it.
    pub written_by: Collector,
    /// Items collected in this run.
    pub items: Vec<Item>,
    /// Items that could not be collected.
    pub missing: Vec<Missing>,
    /// The evidence bucket the items are in.
    pub bucket: String,
}

/// The body of an `outcomes/` record: what the contain stage (or a whole response) did, and
/// the groups isolation replaced, for a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomesRecord {
    /// Incident.
    pub incident_id: IncidentId,
    /// One outcome per action of the stage, in plan order.
    pub outcomes: Vec<ActionOutcome>,
    /// Every interface's groups before isolation.
    #[serde(default)]
    pub original_groups: Vec<OriginalGroups>,
}

/// The body of an approval or release claim: who claimed the step, and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimBody {
    /// Caller identity ARN.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The step (`approve action 3`, a release step id).
    pub step: String,
}

/// The body of a contain or preserve stage's claim (`steps/contain.json`, `steps/preserve.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageClaim {
    /// Key of the locked source event the stage acts on.
    pub event_key: String,
    /// The function that claimed it.
    pub claimed_by: Collector,
    /// When.
    pub claimed_at: DateTime<Utc>,
}

/// The body of a page's claim (`pages/<detail-type>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageClaim {
    /// The bus event the page is for.
    pub detail_type: String,
    /// Key of the locked source event.
    pub event_key: String,
    /// When.
    pub claimed_at: DateTime<Utc>,
}

/// The body of `<claim>.done`: the step behind the claim finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finished {
    /// When.
    pub finished_at: DateTime<Utc>,
}

/// The body of a clock mark (`clock/watch/<hour>/<incident-id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchMark {
    /// The incident the clock looks at next run.
    pub incident_id: IncidentId,
    /// When it was marked.
    pub marked_at: DateTime<Utc>,
}

/// The two groups Firebreak created for one incident in one VPC, as it recorded them in the
/// evidence store (`incidents/<id>/isolation/<vpc-id>.json`, written once). Only these ids are
/// ever used: a group's name, description and tags are chosen by whoever may create or tag
/// groups in the account, so they are information only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationGroups {
    /// Incident.
    pub incident_id: IncidentId,
    /// The VPC both groups are in.
    pub vpc_id: String,
    /// The group with no rule at all.
    pub isolation_group: String,
    /// The allow-all group ENIs pass through first.
    pub pass_through_group: String,
    /// When Firebreak created them.
    pub created_at: DateTime<Utc>,
}
