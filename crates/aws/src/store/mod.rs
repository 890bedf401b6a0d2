//! The evidence store: locked, checksummed objects under `incidents/<id>/`, the manifests that
//! are the chain of custody, the step claims that make each stage run once, the incident log,
//! and an incident read back from all of them.

pub mod evidence;
pub mod format;
pub mod log;
pub mod records;
