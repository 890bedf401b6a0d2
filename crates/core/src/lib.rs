//! Firebreak's pure core: an EventBridge event in, a classified incident and an ordered response
//! plan out. No I/O, no clock, no async runtime, no AWS SDK: the same input and configuration
//! always give the same decision, so every rule is testable without AWS.
//!
//! The path of an event: [`Event::parse`] (lenient serde types) → [`Triage::triage`] (rules,
//! severity, playbooks) → [`Decision`] (ignored with a reason, or an [`Incident`] with its plan).

pub mod approval;
pub mod bus;
pub mod cloudtrail;
pub mod config;
pub mod custody;
pub mod drill;
pub mod error;
pub mod event;
#[cfg(test)]
mod fixtures;
pub mod guardduty;
pub mod incident;
mod lenient;
pub mod log;
pub mod names;
pub mod notice;
pub mod outcome;
pub mod page;
pub mod plan;
pub mod principal;
pub mod record;
pub mod redact;
pub mod release;
pub mod report;
pub mod rules;
pub mod severity;
#[cfg(test)]
mod stored;
pub mod triage;
pub mod wiring;

pub use bus::{DetailType, IncidentNotice, Stage, StageFinished};
pub use config::{Config, LockMode, Mode, Protection};
pub use error::{ConfigError, Error, MAX_EVENT_BYTES};
pub use event::{Detail, Envelope, Event};
pub use incident::{Deadline, Decision, Incident, IncidentId, Obligation, Source};
pub use log::{Entry, LogEntry};
pub use outcome::{ActionOutcome, Status};
pub use page::{Page, PageKind};
pub use plan::{Action, PlannedAction, TagTarget};
pub use principal::Principal;
pub use rules::{IocRule, RuleSet};
pub use severity::{Route, Severity};
pub use triage::Triage;
