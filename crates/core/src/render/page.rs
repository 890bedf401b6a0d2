//! The page: what responders read on their phone at 3 a.m. Pure text from an incident and its
//! outcomes; the pager effector only sends it.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::config::Mode;
use crate::record::approval;
use crate::record::incident::Incident;
use crate::record::outcome::ActionOutcome;

/// Why a page is sent: a stored type, kept with the log entries that record it.
pub use crate::record::log::PageKind;

/// SNS refuses subjects of 100 characters or more.
pub const MAX_SUBJECT: usize = 99;

/// A message ready to publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// Subject line (ASCII, ≤ 99 characters, one line).
    pub subject: String,
    /// Body text.
    pub body: String,
    /// Message attributes (`severity`, `incident_id`, `kind`) for subscription filters.
    pub attributes: Vec<(String, String)>,
}

/// Composes the page for an incident and what was done about it.
pub fn compose(
    incident: &Incident,
    outcomes: &[ActionOutcome],
    kind: PageKind,
    evidence: &str,
) -> Page {
    let prefix = if incident.drill || kind == PageKind::Drill {
        "[DRILL] "
    } else {
        ""
    };
    let subject = subject_line(&format!(
        "{prefix}[{}] {} {}",
        incident.severity, incident.id, incident.title
    ));
    let mut body = heading(prefix, incident);
    what_happened(&mut body, incident);
    if incident.occurrence > 1 {
        let _ = writeln!(
            body,
            "  GuardDuty has seen this {} times",
            incident.occurrence
        );
    }
    if let Some(owner) = &incident.owner {
        let _ = writeln!(body, "  owner (notification tag): {owner}");
    }
    let _ = writeln!(body, "\nWHAT FIREBREAK DID");
    if outcomes.is_empty() {
        for (i, a) in incident.plan.iter().enumerate() {
            let approve = if a.mode == Mode::Approve && a.action.is_containment() {
                format!(" — approve with --action {i}")
            } else {
                String::new()
            };
            let _ = writeln!(
                body,
                "  planned ({}) {} {}{approve}",
                a.mode.as_str(),
                a.action.kind(),
                a.target
            );
        }
    }
    for o in outcomes.iter().filter(|o| o.kind != "page") {
        let _ = writeln!(body, "  {o}");
    }
    for note in &incident.notes {
        let _ = writeln!(body, "  note: {note}");
    }
    let waiting = approval::awaiting(&incident.plan, outcomes);
    let failed = outcomes.iter().filter(|o| o.status.is_failure()).count();
    let _ = writeln!(body, "\nWHAT A HUMAN MUST DO NEXT");
    let mut n = 0;
    let mut step = |body: &mut String, text: &str| {
        n += 1;
        let _ = writeln!(body, "  {n}. {text}");
    };
    if failed > 0 {
        step(
            &mut body,
            &format!(
                "{failed} action(s) FAILED: do them by hand or fix the cause; they are not done."
            ),
        );
    }
    if !waiting.is_empty() {
        let numbers: Vec<String> = waiting.iter().map(usize::to_string).collect();
        step(
            &mut body,
            &format!(
                "{} action(s) await approval (action {}): review them, then approve all with \
                 `firebreak approve {id}` or one with `firebreak approve {id} --action N`. \
                 Not approving leaves them undone.",
                waiting.len(),
                numbers.join(", "),
                id = incident.id
            ),
        );
    }
    for s in &incident.human_steps {
        step(&mut body, s);
    }
    step(
        &mut body,
        "Decide whether this is a breach; record the decision in the incident log.",
    );
    let _ = writeln!(body, "\nDEADLINES");
    for d in &incident.deadlines {
        match d.due {
            Some(due) => {
                let _ = writeln!(
                    body,
                    "  {:?}: by {} ({})",
                    d.obligation,
                    due.format("%Y-%m-%d %H:%M UTC"),
                    d.obligation.describe()
                );
            }
            None => {
                let _ = writeln!(body, "  {:?}: {}", d.obligation, d.obligation.describe());
            }
        }
    }
    let _ = writeln!(body, "\nEVIDENCE\n  {evidence}");
    Page {
        subject,
        body,
        attributes: vec![
            ("severity".into(), incident.severity.to_string()),
            ("incident_id".into(), incident.id.to_string()),
            (
                "kind".into(),
                if incident.drill {
                    PageKind::Drill
                } else {
                    kind
                }
                .as_str()
                .into(),
            ),
        ],
    }
}

/// One printable-ASCII line of at most [`MAX_SUBJECT`] characters.
/// The clock's page about an incident's obligations due within six hours or overdue.
pub fn reminder(
    record: &crate::record::Record,
    due: &[crate::record::DeadlineStatus],
    now: chrono::DateTime<chrono::Utc>,
) -> Page {
    let (title, severity) = record
        .opening
        .as_ref()
        .map(|o| (o.title.as_str(), o.severity.to_string()))
        .unwrap_or(("(no opening entry)", String::from("S?")));
    let overdue = due
        .iter()
        .any(|d| d.state == crate::record::DeadlineState::Overdue);
    let word = if overdue { "OVERDUE" } else { "due soon" };
    let names: Vec<&str> = due.iter().map(|d| d.obligation.as_str()).collect();
    let subject = subject_line(&format!(
        "[{severity}] {} {word}: {}",
        record.id,
        names.join(", ")
    ));
    let mut body = String::new();
    let _ = writeln!(
        body,
        "Firebreak deadline clock - incident {} ({severity})",
        record.id
    );
    let _ = writeln!(body, "  {title}\n");
    for d in due {
        let _ = writeln!(
            body,
            "  {}: {}\n    {}",
            d.obligation.as_str(),
            d.describe(now),
            d.obligation.describe()
        );
    }
    let _ = writeln!(body, "\nWHEN IT IS DONE");
    for d in due {
        let _ = writeln!(
            body,
            "  firebreak ack {} {} --note \"…\"",
            record.id,
            d.obligation.as_str()
        );
    }
    let _ = writeln!(
        body,
        "  Drafts: firebreak notice {} amazon|gdpr-authority|gdpr-subjects",
        record.id
    );
    let _ = writeln!(
        body,
        "  Report: firebreak report {} --format html",
        record.id
    );
    let _ = writeln!(
        body,
        "\nThis page repeats every hour until each obligation is acknowledged."
    );
    Page {
        subject,
        body,
        attributes: vec![
            ("severity".into(), severity),
            ("incident_id".into(), record.id.to_string()),
            ("kind".into(), PageKind::Reminder.as_str().into()),
        ],
    }
}

/// The `[DRILL]` summary: what each stage of the drill left in its log.
pub fn drill_summary(record: &crate::record::Record, checks: &[crate::record::log::Check]) -> Page {
    let passed = crate::record::log::passed(checks);
    let verdict = if passed { "passed" } else { "FAILED" };
    let subject = subject_line(&format!("[DRILL] Firebreak drill {verdict}: {}", record.id));
    let mut body = String::new();
    let _ = writeln!(
        body,
        "[DRILL] Firebreak drill {verdict} - incident {}. Containment ran dry; nothing was changed.\n",
        record.id
    );
    for c in checks {
        let mark = if c.passed { "ok  " } else { "FAIL" };
        let _ = writeln!(body, "  {mark} {:<9} {}", c.stage, c.expects);
    }
    let _ = writeln!(
        body,
        "\n{}",
        if passed {
            "This drill counts as the six-monthly review of the response plan."
        } else {
            "A stage left no record: the pipeline would not respond in full. Look at the functions' logs and the on-failure queue."
        }
    );
    let _ = writeln!(body, "Report: firebreak report {} --format html", record.id);
    Page {
        subject,
        body,
        attributes: vec![
            ("severity".into(), "S4".into()),
            ("incident_id".into(), record.id.to_string()),
            ("kind".into(), PageKind::Drill.as_str().into()),
        ],
    }
}

/// The clock's page when the response plan has gone six months without a passing drill.
pub fn plan_review(
    last_pass: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Page {
    let since = match last_pass {
        Some(at) => format!(
            "the last passing drill was on {} ({} days ago)",
            at.format("%Y-%m-%d"),
            (now - at).num_days()
        ),
        None => "no passing drill is on record".into(),
    };
    Page {
        subject: subject_line("Firebreak: the response plan is due for review (run a drill)"),
        body: format!(
            "Firebreak deadline clock - plan review\n\n  The response plan must be tested every six months; {since}.\n\n  Run: firebreak drill\n  A passing drill satisfies the review; this page repeats daily until one passes.\n"
        ),
        attributes: vec![
            ("severity".into(), "S3".into()),
            ("kind".into(), PageKind::Reminder.as_str().into()),
        ],
    }
}

/// The page triage sends itself when it could not record the incident (the evidence bucket or
/// Firebreak's bus failed): nothing downstream will run until a retry gets through, so the
/// humans hear of the incident now, with what is known from the event alone. Retries of the same
/// event may send it again.
pub fn degraded(incident: &Incident, problem: &str) -> Page {
    let prefix = if incident.drill { "[DRILL] " } else { "" };
    let subject = subject_line(&format!(
        "{prefix}[{}] DEGRADED {} {}",
        incident.severity, incident.id, incident.title
    ));
    let mut body = heading(prefix, incident);
    let _ = writeln!(
        body,
        "\nFIREBREAK IS DEGRADED\n  It could not finish recording this incident: {}\n  Containment, evidence and the regular page may not have run. The event is retried; if\n  the retries fail it waits in the failure queue. Contain by hand if it cannot wait.",
        crate::action::names::printable_line(problem)
    );
    what_happened(&mut body, incident);
    let _ = writeln!(body, "\nWHAT FIREBREAK WOULD DO");
    for a in &incident.plan {
        let _ = writeln!(body, "  - {}", a.action.would());
    }
    Page {
        subject,
        body,
        attributes: vec![
            ("severity".into(), incident.severity.to_string()),
            ("incident_id".into(), incident.id.to_string()),
            ("kind".into(), "degraded".into()),
        ],
    }
}

/// The first line of every incident page: prefix, incident, severity and why.
fn heading(prefix: &str, incident: &Incident) -> String {
    format!(
        "{prefix}Firebreak incident {} - {} ({})\n",
        incident.id, incident.severity, incident.severity_reason
    )
}

/// WHAT HAPPENED: the title, where and when, who, and the indicators.
fn what_happened(body: &mut String, incident: &Incident) {
    let _ = writeln!(body, "\nWHAT HAPPENED\n  {}", incident.title);
    let _ = writeln!(
        body,
        "  account {} · {} · detected {}",
        incident.account,
        incident.region,
        incident.detected_at.format("%Y-%m-%d %H:%M UTC")
    );
    if let Some(p) = &incident.principal {
        let _ = writeln!(body, "  principal: {}", p.describe());
    }
    let _ = writeln!(body, "  indicators: {}", incident.iocs.join(", "));
}

fn subject_line(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if out.len() > MAX_SUBJECT {
        out.truncate(MAX_SUBJECT - 3);
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::plan::{Action, PlannedAction};
    use crate::record::incident::{IncidentId, Source};
    use crate::record::outcome::Status;
    use crate::severity::{Route, Severity};

    fn incident() -> Incident {
        let planned = |action: Action, mode| PlannedAction {
            target: action.target(),
            action,
            mode,
            reason: "r".into(),
        };
        Incident {
            id: IncidentId::derive("test"),
            source: Source::CloudTrail {
                event_id: "e".into(),
                event_source: "s".into(),
                event_name: "n".into(),
                error_code: None,
            },
            account: "111122223333".into(),
            region: "us-east-1".into(),
            partition: "aws".into(),
            detected_at: chrono::DateTime::default(),
            title: "t".into(),
            severity: Severity::S2,
            severity_reason: "r".into(),
            route: Route::Ticket,
            iocs: vec![],
            principal: None,
            access_key_id: None,
            owner: None,
            plan: vec![
                planned(Action::PreserveEvidence, Mode::Auto),
                planned(
                    Action::IsolateInstance {
                        instance_id: "i-1".into(),
                    },
                    Mode::Approve,
                ),
                planned(
                    Action::Page {
                        route: Route::Ticket,
                    },
                    Mode::Auto,
                ),
            ],
            notes: vec![],
            human_steps: vec![],
            deadlines: vec![],
            occurrence: 1,
            drill: false,
        }
    }

    #[test]
    fn the_page_says_how_to_approve_each_waiting_action() {
        let i = incident();
        let id = i.id.clone();
        let first = compose(&i, &[], PageKind::Opened, "s3://b/");
        assert!(
            first
                .body
                .contains("isolate_instance i-1 — approve with --action 1"),
            "{}",
            first.body
        );
        let waiting = ActionOutcome {
            index: 1,
            kind: "isolate_instance".into(),
            target: "i-1".into(),
            status: Status::AwaitingApproval,
            at: chrono::DateTime::default(),
            changes: vec![],
        };
        let later = compose(
            &i,
            std::slice::from_ref(&waiting),
            PageKind::Updated,
            "s3://b/",
        );
        for body in [&first.body, &later.body] {
            assert!(
                body.contains("1 action(s) await approval (action 1)")
                    && body.contains(&format!("`firebreak approve {id}`"))
                    && body.contains(&format!("`firebreak approve {id} --action N`")),
                "{body}"
            );
        }
        assert!(
            later.body.contains("— approve with --action 1"),
            "{}",
            later.body
        );
        let done = ActionOutcome {
            status: Status::Done { detail: "d".into() },
            ..waiting
        };
        assert!(
            !compose(&i, &[done], PageKind::Updated, "s3://b/")
                .body
                .contains("await approval")
        );
    }

    #[test]
    fn subject_is_short_ascii_one_line() {
        let s = subject_line(&format!(
            "[S1] FB-0123456789abcdef Rôot\nsign-in {}",
            "x".repeat(200)
        ));
        assert!(s.len() <= MAX_SUBJECT);
        assert!(s.chars().all(|c| c.is_ascii_graphic() || c == ' '));
        assert!(s.starts_with("[S1] FB-0123456789abcdef R?ot?sign-in"));
        assert!(s.ends_with("..."));
    }
}
