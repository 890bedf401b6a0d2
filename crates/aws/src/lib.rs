//! Firebreak's effectors: every planned action executed through the AWS SDK for Rust, evidence
//! locked in S3 with a chain of custody, pages through SNS. Each client is built from one
//! `SdkConfig` the first time it is used; nothing here reads the environment.
//!
//! The modules are layered, each importing only the layers before it (`make check-invariants`
//! fails on a cycle or an import upward): `sdk/` (clients, member accounts, errors) →
//! `service/` (one module per AWS service) → `store/` (evidence, claims, log, manifests) →
//! `effect/` (each action's guard, execution, state and undo, dispatched from one place) →
//! `run/` (the use cases).

pub mod effect;
pub mod run;
pub mod sdk;
pub mod service;
pub mod store;

pub use effect::Responder;
pub use run::respond::Response;
pub use sdk::clients::{Clients, Lazy};
pub use sdk::error::AwsError;
pub use service::eventbridge::Bus;
pub use service::sns::Pager;
pub use store::evidence::{Collector, EvidenceStore};
