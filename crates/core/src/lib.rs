//! Firebreak's pure core: an EventBridge event in, a classified incident and an ordered response
//! plan out. No I/O, no clock, no async runtime, no AWS SDK: the same input and configuration
//! always give the same decision, so every rule is testable without AWS.
//!
//! The path of an event: [`Event::parse`] (lenient serde types) → [`Triage::triage`] (rules,
//! severity, playbooks) → [`Decision`] (ignored with a reason, or an [`Incident`] with its plan).

//! The modules are layered, each folder importing only the ones before it (`make
//! check-invariants` fails on a cycle or an import upward): `error`, `severity` → `event/` (the
//! input) → `config` → `action/` (what may be done) → `record/` (every stored type: incidents,
//! outcomes, the log) → `render/` (what humans read) → `lifecycle/` (bus stages, drills, wiring)
//! → `triage/` (rules and the decision) → `hunt/` (CloudTrail log files, judged by triage).

pub mod action;
pub mod config;
pub mod error;
pub mod event;
#[cfg(test)]
mod fixtures;
pub mod hunt;
pub mod lifecycle;
pub mod record;
pub mod render;
pub mod severity;
pub mod triage;

pub use action::plan::{Action, PlannedAction, TagTarget};
pub use config::{Config, LockMode, Mode, Protection};
pub use error::{ConfigError, Error, MAX_EVENT_BYTES};
pub use event::principal::Principal;
pub use event::{Detail, Envelope, Event};
pub use lifecycle::bus::{DetailType, IncidentNotice, Stage, StageFinished};
pub use record::incident::{Deadline, Decision, Incident, IncidentId, Obligation, Source};
pub use record::log::{Entry, LogEntry};
pub use record::outcome::{ActionOutcome, Status};
pub use render::page::{Page, PageKind};
pub use severity::{Route, Severity};
pub use triage::Triage;
pub use triage::rules::{IocRule, RuleSet};
