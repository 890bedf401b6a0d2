//! Severity S1–S4 and the routing each one gets.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Incident severity. `S1` is the most severe; `Ord` sorts S1 first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    /// Critical: active exploitation, danger to people.
    S1,
    /// High: exploitation likely, not proven.
    S2,
    /// Medium: suspicion.
    S3,
    /// Low: suspicion, recorded for review.
    S4,
}

/// Who hears of an incident of a given severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Page responders at once.
    Pager,
    /// Open a ticket and mail the manager with a link.
    Ticket,
    /// Record only.
    Record,
}

impl Severity {
    /// The more severe of two.
    pub fn worst(self, other: Severity) -> Severity {
        self.min(other)
    }

    /// At most as severe as `cap` (used for refused calls: an attempt is at most a suspicion).
    pub fn capped_at(self, cap: Severity) -> Severity {
        self.max(cap)
    }

    /// Routing per the severity policy: S1 pages, S2 tickets, S3/S4 record.
    pub fn route(self) -> Route {
        match self {
            Severity::S1 => Route::Pager,
            Severity::S2 => Route::Ticket,
            Severity::S3 | Severity::S4 => Route::Record,
        }
    }

    /// All severities, most severe first.
    pub const ALL: [Severity; 4] = [Severity::S1, Severity::S2, Severity::S3, Severity::S4];

    /// GuardDuty's own band for a severity number, before any playbook raises it.
    pub fn from_guardduty(score: f64) -> Severity {
        if score >= 9.0 {
            Severity::S1
        } else if score >= 7.0 {
            Severity::S2
        } else if score >= 4.0 {
            Severity::S3
        } else {
            Severity::S4
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::S1 => "S1",
            Severity::S2 => "S2",
            Severity::S3 => "S3",
            Severity::S4 => "S4",
        })
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Route::Pager => "pager",
            Route::Ticket => "ticket",
            Route::Record => "record",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_prefers_s1_and_cap_lowers() {
        assert_eq!(Severity::S3.worst(Severity::S1), Severity::S1);
        assert_eq!(Severity::S1.capped_at(Severity::S3), Severity::S3);
        assert_eq!(Severity::S4.capped_at(Severity::S3), Severity::S4);
    }

    #[test]
    fn guardduty_bands() {
        assert_eq!(Severity::from_guardduty(2.0), Severity::S4);
        assert_eq!(Severity::from_guardduty(4.0), Severity::S3);
        assert_eq!(Severity::from_guardduty(6.9), Severity::S3);
        assert_eq!(Severity::from_guardduty(7.0), Severity::S2);
        assert_eq!(Severity::from_guardduty(9.5), Severity::S1);
    }

    #[test]
    fn routing() {
        assert_eq!(Severity::S1.route(), Route::Pager);
        assert_eq!(Severity::S2.route(), Route::Ticket);
        assert_eq!(Severity::S4.route(), Route::Record);
    }
}
