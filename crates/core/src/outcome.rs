//! What happened to each planned action. Effectors produce these; records and pages read them.
//! An action is `done` only when AWS said so.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::release::Change;

/// The state an action ended in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// AWS accepted every call; `detail` says what changed.
    Done {
        /// What changed, for humans.
        detail: String,
    },
    /// Nothing needed doing, or doing it was not safe; `why` says which.
    Skipped {
        /// Reason.
        why: String,
    },
    /// AWS refused or could not be reached; the action did not take effect (or only in part).
    Failed {
        /// AWS error code (`AccessDenied`, `NoSuchEntity`, …) or `Transport`.
        code: String,
        /// AWS's message.
        message: String,
    },
    /// Planned in `approve` mode: waits for a human.
    AwaitingApproval,
    /// Planned in `off` mode: recorded, never executed.
    Off,
    /// Dry run: what would have been done.
    DryRun {
        /// The calls that would have been made.
        would: String,
    },
}

impl Status {
    /// Short word for tables and pages.
    pub fn word(&self) -> &'static str {
        match self {
            Status::Done { .. } => "done",
            Status::Skipped { .. } => "skipped",
            Status::Failed { .. } => "failed",
            Status::AwaitingApproval => "awaiting approval",
            Status::Off => "off",
            Status::DryRun { .. } => "dry-run",
        }
    }

    /// True when the action must be retried or looked at.
    pub fn is_failure(&self) -> bool {
        matches!(self, Status::Failed { .. })
    }
}

/// The outcome of one action of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionOutcome {
    /// Position in the plan (0-based).
    pub index: usize,
    /// Action kind.
    pub kind: String,
    /// Action target.
    pub target: String,
    /// What happened.
    #[serde(flatten)]
    pub status: Status,
    /// When it ended.
    pub at: DateTime<Utc>,
    /// What it changed, as a release must undo it (also when it failed part-way).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
}

impl fmt::Display for ActionOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<18} {:<34} {}",
            self.status.word(),
            self.kind,
            self.target
        )?;
        match &self.status {
            Status::Done { detail } => write!(f, " — {detail}"),
            Status::Skipped { why } => write!(f, " — {why}"),
            Status::Failed { code, message } => write!(f, " — {code}: {message}"),
            Status::DryRun { would } => write!(f, " — would {would}"),
            Status::AwaitingApproval => write!(f, " — approve with --action {}", self.index),
            Status::Off => Ok(()),
        }
    }
}
