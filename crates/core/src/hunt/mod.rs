//! Hunting through CloudTrail log files: everything a principal did, and every session it
//! minted. Pure: the shell hands in each file's bytes and gets back its matching records; the
//! summary judges each record with triage's own rules.
//!
//! [`query`] (what to look for, compiled to byte needles) → [`scan`] (one file's bytes to its
//! hits) → [`summary`] (minted sessions to follow, the timeline, the summary).

pub mod query;
pub mod scan;
pub mod summary;

pub use query::{Compiled, Query, Who};
pub use scan::{FileScan, Hit, ScanError};
pub use summary::{Hunted, Summary};

/// Sorts hits by time, then event id, and drops a record seen twice (an organisation trail
/// and an account trail both deliver it; a session's record matches its user and its key).
pub fn ordered(mut hits: Vec<Hit>) -> Vec<Hit> {
    hits.sort_by(|a, b| {
        (a.time.as_str(), a.event_id.as_str(), a.principal).cmp(&(
            b.time.as_str(),
            b.event_id.as_str(),
            b.principal,
        ))
    });
    hits.dedup_by(|later, earlier| {
        !later.event_id.is_empty()
            && later.event_id == earlier.event_id
            && later.time == earlier.time
    });
    hits
}
