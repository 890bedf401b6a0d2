//! What humans read: the page, the notice drafts, the incident report, and log lines with
//! personal data fingerprinted. Pure text from the stored records below.

pub mod notice;
pub mod page;
pub mod redact;
pub mod report;
