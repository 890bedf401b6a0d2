//! Firebreak end to end, in one test binary: the events/ corpus through the CLI, and every
//! effector, function and use case against the local AWS emulator. Each module starts the
//! world it needs from `firebreak_testbed` (the emulator on a free port, the seeded stack, a
//! responder, the deployed functions' handlers, the CLI), so modules share no state and run in
//! parallel. `cargo test -p firebreak-tests <module>::` runs one module.

mod adversary;
mod cli_aws;
mod corpus;
mod degraded;
mod deployed;
mod doctor;
mod exactly_once;
mod faults;
mod faults_proxy;
mod forensic;
mod forwarding;
mod hunt;
mod lambda;
mod lifecycle;
mod loud_failures;
mod memory;
mod patterns;
mod release;
mod report_browser;
mod respond;
mod undo_exposure;
mod verify;
