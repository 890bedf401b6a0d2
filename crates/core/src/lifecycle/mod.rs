//! What happens to an incident after triage, as pure decisions: the stages on Firebreak's bus,
//! drills and their checks, and the wiring the hourly clock holds the account against.

pub mod bus;
pub mod doctor;
pub mod drill;
pub mod forensic;
pub mod heartbeat;
pub mod wiring;
