//! An incident as its log tells it: the current state is never stored, it is read off the
//! entries. This is what the clock, `ack`, `close`, the notices and the report all stand on.

pub mod approval;
pub mod custody;
#[cfg(test)]
mod golden;
pub mod incident;
pub mod log;
pub mod outcome;
pub mod release;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::record::incident::{IncidentId, Obligation, Source};
use crate::record::log::{Entry, LogEntry};
use crate::severity::Severity;

/// The clock pages about an obligation from this long before it is due.
pub const DUE_SOON: Duration = Duration::hours(6);
/// The GDPR clock: 72 hours from a confirmed personal-data breach.
pub const GDPR_WINDOW: Duration = Duration::hours(72);
/// The retrospective (and every S1's root-cause analysis) is due 14 days after closing.
pub const RETROSPECTIVE_WINDOW: Duration = Duration::days(14);

/// What the `opened` entry said.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Opening {
    /// Where it came from.
    pub source: Source,
    /// One line.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Why that severity.
    pub severity_reason: String,
    /// Detected (the event's time).
    pub detected_at: DateTime<Utc>,
    /// Account.
    pub account: String,
    /// Region.
    pub region: String,
    /// Who acted, when known.
    pub principal: Option<String>,
    /// Steps only a human can take.
    pub human_steps: Vec<String>,
    /// A drill.
    pub drill: bool,
    /// Who opened it (the function or caller that appended the entry).
    pub by: String,
    /// The locked source event.
    pub event_key: String,
    /// The obligations detection started.
    pub obligations: Vec<Obligation>,
    /// When the Amazon notice is due, if that clock runs.
    pub amazon_due: Option<DateTime<Utc>>,
}

/// A human step, with who and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// When.
    pub at: DateTime<Utc>,
    /// Who (caller ARN).
    pub by: String,
    /// What they said.
    pub note: Option<String>,
}

/// Where an obligation stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeadlineState {
    /// Its clock has not started (no breach confirmed, not closed yet).
    NotStarted,
    /// Running, due later than [`DUE_SOON`].
    Running,
    /// Due within [`DUE_SOON`].
    DueSoon,
    /// Past due and not acknowledged.
    Overdue,
    /// A human acknowledged it.
    Acknowledged(Step),
}

/// One obligation of an incident, as of a moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadlineStatus {
    /// What.
    pub obligation: Obligation,
    /// When it is due, once its clock runs.
    pub due: Option<DateTime<Utc>>,
    /// Where it stands.
    pub state: DeadlineState,
}

impl DeadlineStatus {
    /// True when the clock must page about it: due within [`DUE_SOON`] or overdue, and not
    /// acknowledged.
    pub fn needs_reminder(&self) -> bool {
        matches!(self.state, DeadlineState::DueSoon | DeadlineState::Overdue)
    }

    /// `due in 5h 12m`, `overdue by 2h 3m`, `acknowledged by … at …`, `not started`.
    pub fn describe(&self, now: DateTime<Utc>) -> String {
        let when = span;
        let due = self
            .due
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        match (&self.state, self.due) {
            (DeadlineState::Acknowledged(s), _) => format!(
                "acknowledged by {} at {}",
                s.by,
                s.at.format("%Y-%m-%d %H:%M UTC")
            ),
            (DeadlineState::NotStarted, _) | (_, None) => {
                format!("not started: {}", self.obligation.describe())
            }
            (DeadlineState::Overdue, Some(d)) => {
                format!("OVERDUE by {} (due {due})", when(now - d))
            }
            (DeadlineState::DueSoon, Some(d)) => format!("due in {} ({due})", when(d - now)),
            (DeadlineState::Running, Some(d)) => format!("due in {} ({due})", when(d - now)),
        }
    }
}

/// An incident read off its log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// The incident.
    pub id: IncidentId,
    /// The opening, when the log has one (a log of only custody readings has none).
    pub opening: Option<Opening>,
    /// A confirmed personal-data breach.
    pub breach_confirmed: Option<Step>,
    /// Closing: when, by whom, and the corrective controls.
    pub closed: Option<(Step, String)>,
    /// Obligations acknowledged, first acknowledgement each.
    pub acknowledged: Vec<(Obligation, Step)>,
    /// Every entry, in order.
    pub entries: Vec<LogEntry>,
}

impl Record {
    /// Reads incident `id`'s state off its `entries` (any order).
    pub fn from_log(id: IncidentId, entries: Vec<LogEntry>) -> Record {
        let entries = crate::record::log::in_order(entries);
        let mut record = Record {
            id,
            opening: None,
            breach_confirmed: None,
            closed: None,
            acknowledged: Vec::new(),
            entries: Vec::new(),
        };
        for e in &entries {
            let step = |note: &Option<String>| Step {
                at: e.at,
                by: e.by.clone(),
                note: note.clone(),
            };
            match &e.entry {
                Entry::Opened {
                    source,
                    title,
                    severity,
                    detected_at,
                    event_key,
                    account,
                    region,
                    severity_reason,
                    principal,
                    deadlines,
                    human_steps,
                    drill,
                } if record.opening.is_none() => {
                    record.opening = Some(Opening {
                        source: source.clone(),
                        title: title.clone(),
                        severity: *severity,
                        severity_reason: severity_reason.clone(),
                        detected_at: *detected_at,
                        account: account.clone(),
                        region: region.clone(),
                        principal: principal.clone(),
                        human_steps: human_steps.clone(),
                        drill: *drill,
                        by: e.by.clone(),
                        event_key: event_key.clone(),
                        obligations: deadlines.iter().map(|d| d.obligation).collect(),
                        amazon_due: deadlines
                            .iter()
                            .find(|d| d.obligation == Obligation::NotifyAmazon)
                            .and_then(|d| d.due),
                    });
                }
                Entry::BreachConfirmed { note } if record.breach_confirmed.is_none() => {
                    record.breach_confirmed = Some(step(note));
                }
                Entry::Closed { controls, .. } if record.closed.is_none() => {
                    record.closed = Some((step(&None), controls.clone()));
                }
                Entry::Acknowledged { obligation, note }
                    if !record.acknowledged.iter().any(|(o, _)| o == obligation) =>
                {
                    record.acknowledged.push((*obligation, step(note)));
                }
                _ => {}
            }
        }
        record.entries = entries;
        record
    }

    /// True once a human closed it.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// True for a drill.
    pub fn is_drill(&self) -> bool {
        self.opening.as_ref().is_some_and(|o| o.drill)
    }

    /// The obligations this incident carries: those detection started, plus the GDPR notice
    /// once a breach is confirmed (a confirmed breach starts that clock whatever the severity).
    pub fn obligations(&self) -> Vec<Obligation> {
        let mut out: Vec<Obligation> = self
            .opening
            .as_ref()
            .map(|o| o.obligations.clone())
            .unwrap_or_else(|| vec![Obligation::Retrospective]);
        if self.breach_confirmed.is_some() {
            out.push(Obligation::GdprAuthority);
        }
        Obligation::ALL
            .into_iter()
            .filter(|o| out.contains(o))
            .collect()
    }

    /// When `obligation` is due, once its clock runs.
    pub fn due(&self, obligation: Obligation) -> Option<DateTime<Utc>> {
        match obligation {
            Obligation::NotifyAmazon => self.opening.as_ref().and_then(|o| o.amazon_due),
            Obligation::GdprAuthority => self.breach_confirmed.as_ref().map(|s| s.at + GDPR_WINDOW),
            Obligation::Retrospective | Obligation::RootCauseAnalysis => self
                .closed
                .as_ref()
                .map(|(s, _)| s.at + RETROSPECTIVE_WINDOW),
        }
    }

    /// Every obligation and where it stands at `now`.
    pub fn deadlines(&self, now: DateTime<Utc>) -> Vec<DeadlineStatus> {
        self.obligations()
            .into_iter()
            .map(|obligation| {
                let due = self.due(obligation);
                let acked = self
                    .acknowledged
                    .iter()
                    .find(|(o, _)| *o == obligation)
                    .map(|(_, s)| s.clone());
                let state = match (acked, due) {
                    (Some(step), _) => DeadlineState::Acknowledged(step),
                    (None, None) => DeadlineState::NotStarted,
                    (None, Some(d)) if d <= now => DeadlineState::Overdue,
                    (None, Some(d)) if d - now <= DUE_SOON => DeadlineState::DueSoon,
                    (None, Some(_)) => DeadlineState::Running,
                };
                DeadlineStatus {
                    obligation,
                    due,
                    state,
                }
            })
            .collect()
    }

    /// The obligations the clock must page about at `now`. Drills carry none.
    pub fn reminders(&self, now: DateTime<Utc>) -> Vec<DeadlineStatus> {
        if self.is_drill() {
            return Vec::new();
        }
        self.deadlines(now)
            .into_iter()
            .filter(DeadlineStatus::needs_reminder)
            .collect()
    }

    /// True while the clock must keep reading this incident: some obligation's clock runs
    /// (it has a due date) and no human has acknowledged it. A drill never is (it carries no
    /// reminders). An obligation whose clock has not started (the retrospective before closing,
    /// the GDPR notice before a confirmed breach) does not keep it watched: the entry that
    /// starts it also wakes the clock ([`wakes_the_clock`]), which reads the incident again.
    /// So an incident nobody will ever close (an S4, a refused call) leaves the clock's index
    /// as soon as it is read, instead of staying there for ever.
    pub fn is_watched(&self) -> bool {
        !self.is_drill()
            && self
                .obligations()
                .into_iter()
                .any(|o| self.due(o).is_some() && !self.acknowledged.iter().any(|(a, _)| *a == o))
    }

    /// True when nothing is left for the clock to watch: closed, and every obligation
    /// acknowledged.
    pub fn is_settled(&self) -> bool {
        self.is_closed()
            && self
                .obligations()
                .iter()
                .all(|o| self.acknowledged.iter().any(|(a, _)| a == o))
    }
}

/// A duration for humans, either sign: `5h 07m` under two days, `3d 4h` from there.
pub fn span(d: Duration) -> String {
    let m = d.num_minutes().abs();
    if m >= 48 * 60 {
        format!("{}d {}h", m / (24 * 60), m % (24 * 60) / 60)
    } else {
        format!("{}h {:02}m", m / 60, m % 60)
    }
}

/// True when appending `entry` can start an obligation's clock or change what the clock
/// reports: the opening (the Amazon notice runs from detection), a confirmed breach (GDPR), the
/// closing (retrospective, RCA) and a drill's verdict (the plan review). The log marks the
/// incident for the clock when it appends one, so the clock need only read the incidents it
/// still watches ([`Record::is_watched`]) and those marked since its last run.
pub fn wakes_the_clock(entry: &Entry) -> bool {
    matches!(
        entry,
        Entry::Opened { .. }
            | Entry::BreachConfirmed { .. }
            | Entry::Closed { .. }
            | Entry::Drill { .. }
    )
}

/// The hour a reminder is sent for: one reminder per incident per hour.
pub fn reminder_hour(now: DateTime<Utc>) -> String {
    now.format("%Y-%m-%dT%H").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, ACCOUNT, REGION, RESPONDER, id, log_entry, s1_deadlines};
    use crate::record::incident::Deadline;

    fn t(hours: i64) -> DateTime<Utc> {
        fixtures::time("2026-11-23T03:00:00Z") + Duration::hours(hours)
    }

    fn entry(seq: u32, at: DateTime<Utc>, entry: Entry) -> LogEntry {
        log_entry(seq, at, RESPONDER, entry)
    }

    fn opened(severity: Severity, deadlines: Vec<Deadline>, drill: bool) -> Entry {
        Entry::Opened {
            source: Source::CloudTrail {
                event_id: "e".into(),
                event_source: "iam.amazonaws.com".into(),
                event_name: "CreateUser".into(),
                error_code: None,
            },
            title: "t".into(),
            severity,
            detected_at: t(0),
            event_key: "k".into(),
            account: ACCOUNT.into(),
            region: REGION.into(),
            severity_reason: "r".into(),
            principal: None,
            deadlines,
            human_steps: Vec::new(),
            drill,
        }
    }

    fn s1() -> Vec<LogEntry> {
        vec![entry(
            1,
            t(0),
            opened(Severity::S1, s1_deadlines(t(24)), false),
        )]
    }

    fn states(r: &Record, now: DateTime<Utc>) -> Vec<(Obligation, DeadlineState)> {
        r.deadlines(now)
            .into_iter()
            .map(|d| (d.obligation, d.state))
            .collect()
    }

    #[test]
    fn the_amazon_clock_runs_from_detection_and_pages_from_six_hours_before() {
        let r = Record::from_log(id(), s1());
        assert_eq!(
            states(&r, t(1)),
            [
                (Obligation::NotifyAmazon, DeadlineState::Running),
                (Obligation::RootCauseAnalysis, DeadlineState::NotStarted),
                (Obligation::Retrospective, DeadlineState::NotStarted),
            ]
        );
        assert!(r.reminders(t(17)).is_empty());
        assert_eq!(r.reminders(t(18))[0].state, DeadlineState::DueSoon);
        assert_eq!(r.reminders(t(30))[0].state, DeadlineState::Overdue);
        assert!(
            r.reminders(t(30))[0]
                .describe(t(30))
                .starts_with("OVERDUE by 6h 00m")
        );
        assert!(!r.is_closed() && !r.is_settled());
    }

    #[test]
    fn acknowledging_stops_the_reminders_and_the_first_acknowledgement_counts() {
        let mut log = s1();
        let ack = |note: &str| Entry::Acknowledged {
            obligation: Obligation::NotifyAmazon,
            note: Some(note.into()),
        };
        log.push(entry(2, t(20), ack("sent")));
        log.push(entry(3, t(21), ack("again")));
        let r = Record::from_log(id(), log);
        assert!(r.reminders(t(30)).is_empty());
        let DeadlineState::Acknowledged(step) = &r.deadlines(t(30))[0].state else {
            panic!("not acknowledged");
        };
        assert_eq!((step.at, step.note.as_deref()), (t(20), Some("sent")));
    }

    #[test]
    fn a_confirmed_breach_starts_gdpr_and_closing_starts_the_retrospective() {
        let mut log = s1();
        log.push(entry(
            2,
            t(2),
            Entry::BreachConfirmed {
                note: Some("customer e-mails exported".into()),
            },
        ));
        log.push(entry(
            3,
            t(10),
            Entry::Closed {
                controls: "MFA on every user".into(),
                archived_finding: None,
            },
        ));
        let r = Record::from_log(id(), log);
        assert_eq!(
            r.obligations(),
            [
                Obligation::NotifyAmazon,
                Obligation::GdprAuthority,
                Obligation::RootCauseAnalysis,
                Obligation::Retrospective
            ]
        );
        assert_eq!(r.due(Obligation::GdprAuthority), Some(t(74)));
        assert_eq!(r.due(Obligation::Retrospective), Some(t(10 + 14 * 24)));
        assert_eq!(r.due(Obligation::RootCauseAnalysis), Some(t(10 + 14 * 24)));
        assert_eq!(
            r.closed.as_ref().map(|(_, c)| c.as_str()),
            Some("MFA on every user")
        );
        let at_70: Vec<_> = r
            .reminders(t(70))
            .into_iter()
            .map(|d| d.obligation)
            .collect();
        assert_eq!(at_70, [Obligation::NotifyAmazon, Obligation::GdprAuthority]);
        assert!(!r.is_settled());
    }

    #[test]
    fn drills_carry_no_reminders_and_names_parse() {
        let deadlines = vec![Deadline {
            obligation: Obligation::NotifyAmazon,
            due: Some(t(24)),
        }];
        let r = Record::from_log(
            id(),
            vec![entry(1, t(0), opened(Severity::S2, deadlines, true))],
        );
        assert!(r.is_drill() && r.reminders(t(30)).is_empty());
        for o in Obligation::ALL {
            assert_eq!(Obligation::parse(o.as_str()), Some(o));
        }
        assert_eq!(
            Obligation::parse("NOTIFY_AMAZON"),
            Some(Obligation::NotifyAmazon)
        );
        assert_eq!(Obligation::parse("gdpr"), Some(Obligation::GdprAuthority));
        assert_eq!(Obligation::parse("lunch"), None);
        assert_eq!(reminder_hour(t(4) + Duration::minutes(59)), "2026-11-23T07");
    }

    #[test]
    fn the_clock_watches_only_what_can_still_fall_due() {
        // An S1: the Amazon notice runs from detection, so it is watched until acknowledged.
        let mut log = s1();
        assert!(Record::from_log(id(), log.clone()).is_watched());
        log.push(entry(
            2,
            t(20),
            Entry::Acknowledged {
                obligation: Obligation::NotifyAmazon,
                note: None,
            },
        ));
        // Nothing runs now: the RCA and the retrospective start at closing, which wakes it.
        let r = Record::from_log(id(), log.clone());
        assert!(!r.is_watched() && !r.is_settled());
        let closed = Entry::Closed {
            controls: "c".into(),
            archived_finding: None,
        };
        assert!(wakes_the_clock(&closed));
        log.push(entry(3, t(30), closed));
        let r = Record::from_log(id(), log.clone());
        assert!(r.is_watched());
        for (seq, o) in [
            (4, Obligation::RootCauseAnalysis),
            (5, Obligation::Retrospective),
        ] {
            log.push(entry(
                seq,
                t(40),
                Entry::Acknowledged {
                    obligation: o,
                    note: None,
                },
            ));
        }
        let r = Record::from_log(id(), log.clone());
        assert!(!r.is_watched() && r.is_settled());
        // A breach confirmed even after that starts GDPR: it wakes the clock and is watched.
        let breach = Entry::BreachConfirmed { note: None };
        assert!(wakes_the_clock(&breach));
        log.push(entry(6, t(50), breach));
        assert!(Record::from_log(id(), log).is_watched());

        // An S4 nobody closes carries only the retrospective, not started: not watched.
        let s4 = vec![entry(
            1,
            t(0),
            opened(
                Severity::S4,
                vec![Deadline {
                    obligation: Obligation::Retrospective,
                    due: None,
                }],
                false,
            ),
        )];
        assert!(!Record::from_log(id(), s4).is_watched());
        // A drill never is, even with an Amazon clock in its opening; its verdict wakes the clock.
        let drill = vec![entry(
            1,
            t(0),
            opened(Severity::S2, s1_deadlines(t(24)), true),
        )];
        assert!(!Record::from_log(id(), drill).is_watched());
        assert!(wakes_the_clock(&Entry::Drill {
            passed: true,
            checks: Vec::new(),
            message_id: None,
        }));
        // What only reports or acknowledges never wakes it.
        assert!(!wakes_the_clock(&Entry::Acknowledged {
            obligation: Obligation::NotifyAmazon,
            note: None,
        }));
        assert!(!wakes_the_clock(&Entry::Reminder {
            obligations: vec![Obligation::NotifyAmazon],
            hour: "2026-11-24T07".into(),
            message_id: "m".into(),
        }));
    }
}
