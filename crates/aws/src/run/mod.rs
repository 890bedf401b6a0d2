//! The use cases, each an entry point's whole job: respond to an incident, approve an action,
//! release containment, verify the evidence, run the hourly clock, drill, hand a snapshot to
//! the forensic account, record a human step, lock Firebreak's own wiring down, and check that
//! wiring.

pub mod approve;
pub mod clock;
pub mod doctor;
pub mod drill;
pub mod forensic;
pub mod human;
pub mod hunt;
pub mod lockdown;
pub mod release;
pub mod respond;
pub mod verify;
pub mod wiring;
