//! Notice drafts: the Amazon security notice and the two GDPR notices (to the supervisory
//! authority, Art. 33; to the people affected, Art. 34), written from an incident's log for a
//! human to complete, review and send. Firebreak never sends one.
//!
//! A draft claims only what the log shows: an action is listed as taken only when AWS said it
//! was done, and everything else is listed as not done. What Firebreak cannot know (whether
//! Amazon data was touched, how many people, whom to contact) is a [`TO_FILL`] marker.

use std::fmt::{self, Write as _};

use chrono::{DateTime, Utc};

use crate::record::incident::{Obligation, Source};
use crate::record::log::Entry;
use crate::record::outcome::{ActionOutcome, Status};
use crate::record::{DeadlineState, Record};
// Log text goes in on one line: a note or title cannot start a heading or a line of its own.
use crate::render::report::{joined_lines, minute, one_line};

/// How every field a human must complete starts: `[TO FILL: what is needed]`.
pub const TO_FILL: &str = "[TO FILL:";

/// Where Amazon wants security incidents reported.
pub const AMAZON_SECURITY: &str = "security@amazon.com";

/// Which notice to draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Notice {
    /// To Amazon security, for accounts that handle Amazon data (24 hours from detection).
    Amazon,
    /// To the supervisory authority, or to the controller when we process for one (GDPR Art. 33).
    GdprAuthority,
    /// To the people whose personal data is affected, in plain language (GDPR Art. 34).
    GdprSubjects,
}

impl Notice {
    /// Every notice, in the order `firebreak notice` lists them.
    pub const ALL: [Notice; 3] = [Notice::Amazon, Notice::GdprAuthority, Notice::GdprSubjects];

    /// The notice a human typed (`amazon`, `gdpr-authority`, `gdpr-subjects`; `_` or `-`, any
    /// case).
    pub fn parse(text: &str) -> Option<Notice> {
        let norm = text.trim().to_ascii_lowercase().replace('_', "-");
        Notice::ALL.into_iter().find(|n| n.as_str() == norm)
    }

    /// Its name on the command line and in the log's `notice_drafted` entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::Amazon => "amazon",
            Notice::GdprAuthority => "gdpr-authority",
            Notice::GdprSubjects => "gdpr-subjects",
        }
    }

    /// The obligation whose clock says by when it is due, if one does.
    pub fn obligation(self) -> Option<Obligation> {
        match self {
            Notice::Amazon => Some(Obligation::NotifyAmazon),
            Notice::GdprAuthority => Some(Obligation::GdprAuthority),
            // Art. 34 has no fixed clock: "without undue delay" once the risk is high.
            Notice::GdprSubjects => None,
        }
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The draft of `notice` for incident `record`, as of `now`: plain text a human completes,
/// reviews and sends.
pub fn draft(notice: Notice, record: &Record, now: DateTime<Utc>) -> String {
    let mut out = header(notice, record, now);
    out.push('\n');
    match notice {
        Notice::Amazon => amazon(&mut out, record),
        Notice::GdprAuthority => authority(&mut out, record, now),
        Notice::GdprSubjects => subjects(&mut out, record),
    }
    out
}

/// `[TO FILL: what]`.
fn fill(what: &str) -> String {
    format!("{TO_FILL} {what}]")
}

fn header(notice: Notice, record: &Record, now: DateTime<Utc>) -> String {
    let (name, to) = match notice {
        Notice::Amazon => ("Amazon security notice", AMAZON_SECURITY.to_string()),
        Notice::GdprAuthority => (
            "GDPR Art. 33 personal-data breach notification",
            "the supervisory authority (or the controller)".to_string(),
        ),
        Notice::GdprSubjects => (
            "GDPR Art. 34 notice to the people affected",
            "the people whose personal data is affected".to_string(),
        ),
    };
    let mut out = format!(
        "DRAFT for a human to review and send: {name} for incident {}. Firebreak never sends \
         it. Complete every {TO_FILL} …] field, check every statement, then send it to {to}.\n",
        record.id
    );
    let _ = writeln!(out, "Send by: {}", send_by(notice, record, now));
    let _ = writeln!(out, "Drafted: {}", minute(now));
    if record.is_drill() {
        out.push_str(
            "DRILL: this incident is a drill. Nothing happened to real data: do not send.\n",
        );
    }
    out
}

/// By when the notice is due, as the incident's clock says at `now`.
fn send_by(notice: Notice, record: &Record, now: DateTime<Utc>) -> String {
    let Some(obligation) = notice.obligation() else {
        return "without undue delay, once the breach is likely to result in a high risk to \
                people's rights and freedoms (GDPR Art. 34); no fixed clock"
            .to_string();
    };
    let status = record
        .deadlines(now)
        .into_iter()
        .find(|d| d.obligation == obligation);
    match status {
        Some(d) if matches!(d.state, DeadlineState::Acknowledged(_)) => {
            format!("{}; check it was not sent already", d.describe(now))
        }
        Some(d) => d.describe(now),
        None => match notice {
            Notice::Amazon => "no Amazon clock runs for this incident (it starts at detection \
                               for S1 and S2 incidents in accounts that handle Amazon data)"
                .to_string(),
            _ => "no clock runs yet: it starts when a human confirms a personal-data breach \
                  (72 hours from then)"
                .to_string(),
        },
    }
}

fn amazon(out: &mut String, record: &Record) {
    let o = record.opening.as_ref();
    let _ = writeln!(out, "To: {AMAZON_SECURITY}");
    let _ = writeln!(
        out,
        "From: {}",
        fill("sender's name, role, company and e-mail")
    );
    let _ = writeln!(
        out,
        "Subject: Security incident notification: {} ({})\n",
        record.id,
        o.map_or_else(|| fill("one-line summary"), |o| one_line(&o.title))
    );

    out.push_str("## Incident\n");
    let _ = writeln!(out, "- Incident id: {}", record.id);
    let _ = writeln!(
        out,
        "- Detected: {}",
        o.map_or_else(|| fill("detection time (UTC)"), |o| minute(o.detected_at))
    );
    let _ = writeln!(out, "- Status: {}", status(record));

    out.push_str("\n## What happened\n");
    match o {
        Some(o) => {
            let _ = writeln!(out, "- Summary: {}", one_line(&o.title));
            let _ = writeln!(
                out,
                "- Severity: {} ({})",
                o.severity,
                one_line(&o.severity_reason)
            );
            let _ = writeln!(out, "- Detected by: {}", source_line(&o.source));
            let _ = writeln!(
                out,
                "- Affected AWS account: {}",
                or_fill(&o.account, "AWS account id")
            );
            let _ = writeln!(
                out,
                "- Affected region: {}",
                or_fill(&o.region, "AWS region")
            );
            if let Some(p) = &o.principal {
                let _ = writeln!(out, "- Principal involved: {}", one_line(p));
            }
        }
        None => {
            let _ = writeln!(
                out,
                "- {}",
                fill("what happened, the affected account and region")
            );
        }
    }
    let _ = writeln!(
        out,
        "- Further detail: {}",
        fill("how the incident came about and what the attacker did, as far as known")
    );

    out.push_str("\n## Actions taken\n");
    measures_taken(out, record);

    out.push_str("\n## Evidence preserved\n");
    evidence(out, record);

    out.push_str("\n## Amazon data\n");
    let _ = writeln!(
        out,
        "- Amazon information affected: {}",
        fill(
            "whether Amazon information (data obtained through Amazon services or APIs, such as \
             customer orders or personal data) was accessed, changed or exfiltrated, which, and how many records"
        )
    );

    out.push_str("\n## Contact\n");
    let _ = writeln!(
        out,
        "- {}",
        fill(
            "name, role, e-mail and phone of the person Amazon should contact about this incident"
        )
    );
}

fn authority(out: &mut String, record: &Record, now: DateTime<Utc>) {
    let o = record.opening.as_ref();
    if record.breach_confirmed.is_none() {
        out.push_str(
            "!! NO PERSONAL-DATA BREACH HAS BEEN CONFIRMED FOR THIS INCIDENT. !!\n\
             !! Art. 33 applies once a human confirms one (firebreak confirm-breach); the \
             72-hour clock starts then. Until then this draft is preparation only. !!\n\n",
        );
    }
    let _ = writeln!(
        out,
        "To: {}",
        fill(
            "the competent supervisory authority, or the controller when we process the data on \
             its behalf (Art. 33(2))"
        )
    );
    let _ = writeln!(out, "Controller: {}", fill("controller's name and address"));
    let _ = writeln!(
        out,
        "Subject: Personal-data breach notification (GDPR Art. 33), our reference {}\n",
        record.id
    );

    out.push_str("## When\n");
    let _ = writeln!(
        out,
        "- Detected: {}",
        o.map_or_else(|| fill("detection time (UTC)"), |o| minute(o.detected_at))
    );
    match &record.breach_confirmed {
        Some(step) => {
            let _ = writeln!(
                out,
                "- Breach confirmed (we became aware): {}{}",
                minute(step.at),
                step.note
                    .as_deref()
                    .map(|n| format!(": {}", one_line(n)))
                    .unwrap_or_default()
            );
            if let Some(due) = record.due(Obligation::GdprAuthority) {
                let _ = writeln!(
                    out,
                    "- Notification due: {} (72 hours after confirmation)",
                    minute(due)
                );
            }
        }
        None => {
            out.push_str("- Breach confirmed: NOT YET. No personal-data breach is confirmed.\n")
        }
    }
    let overdue = record
        .deadlines(now)
        .iter()
        .any(|d| d.obligation == Obligation::GdprAuthority && d.state == DeadlineState::Overdue);
    if overdue {
        let _ = writeln!(
            out,
            "- Reasons for the delay beyond 72 hours (Art. 33(1)): {}",
            fill("why this notification is late")
        );
    }
    let _ = writeln!(out, "- Status of the incident: {}", status(record));

    out.push_str("\n## Nature of the breach (Art. 33(3)(a))\n");
    match o {
        Some(o) => {
            let _ = writeln!(out, "- What happened: {}", one_line(&o.title));
            let _ = writeln!(out, "- Detected by: {}", source_line(&o.source));
            let _ = writeln!(
                out,
                "- Systems affected: AWS account {} in {}",
                or_fill(&o.account, "AWS account id"),
                or_fill(&o.region, "AWS region")
            );
        }
        None => {
            let _ = writeln!(out, "- What happened: {}", fill("what happened"));
        }
    }
    let _ = writeln!(
        out,
        "- Description: {}",
        fill(
            "how the breach happened and which personal data it touched (confidentiality, integrity, availability)"
        )
    );
    let _ = writeln!(
        out,
        "- Categories and approximate number of data subjects: {}",
        fill("e.g. customers, employees; about how many people")
    );
    let _ = writeln!(
        out,
        "- Categories and approximate number of personal-data records: {}",
        fill("e.g. e-mail addresses, order history; about how many records")
    );

    out.push_str("\n## Contact point (Art. 33(3)(b))\n");
    let _ = writeln!(
        out,
        "- {}",
        fill("name and contact details of the data protection officer or other contact point")
    );

    out.push_str("\n## Likely consequences (Art. 33(3)(c))\n");
    let _ = writeln!(
        out,
        "- {}",
        fill(
            "the likely consequences for the people affected (e.g. phishing, fraud, loss of confidentiality)"
        )
    );

    out.push_str("\n## Measures taken (Art. 33(3)(d))\n");
    measures_taken(out, record);
    let _ = writeln!(
        out,
        "- Measures proposed, including to mitigate possible adverse effects: {}",
        fill("further measures, with dates")
    );

    out.push_str("\n## Evidence preserved\n");
    evidence(out, record);

    out.push_str("\n## Communication to the people affected (Art. 34)\n");
    let _ = writeln!(
        out,
        "- {}",
        fill("whether and when the people affected are told, or why not")
    );
    out.push_str(
        "\nWhere not all of this is known yet, it may be provided in phases (Art. 33(4)).\n",
    );
}

fn subjects(out: &mut String, record: &Record) {
    if record.breach_confirmed.is_none() {
        out.push_str(
            "!! NO PERSONAL-DATA BREACH HAS BEEN CONFIRMED FOR THIS INCIDENT: do not send this \
             until one is and the risk to people is judged high. !!\n\n",
        );
    }
    out.push_str(
        "Keep this notice in plain language: no technical identifiers, account numbers or \
         jargon.\n\n",
    );
    let _ = writeln!(
        out,
        "Subject: Important information about your personal data (reference {})\n",
        record.id
    );
    let _ = writeln!(out, "Dear {},\n", fill("name, or a general greeting"));
    out.push_str(
        "We are writing to tell you about a security incident that may have affected your \
         personal information.\n",
    );

    out.push_str("\n## What happened\n");
    let when = record.opening.as_ref().map_or_else(
        || fill("date"),
        |o| o.detected_at.format("%-d %B %Y").to_string(),
    );
    let _ = writeln!(
        out,
        "On {when}, our security monitoring detected suspicious activity in the systems we use \
         to run {}. {}",
        fill("the service, as people know it"),
        fill("in plain words: what happened, and which of their information was involved")
    );

    out.push_str("\n## What we have done\n");
    let (done, _) = measures(record);
    let mut said: Vec<&str> = Vec::new();
    for m in &done {
        if let Some(sentence) = plain(&m.kind)
            && !said.contains(&sentence)
        {
            said.push(sentence);
        }
    }
    for sentence in &said {
        let _ = writeln!(out, "- {sentence}");
    }
    let _ = writeln!(out, "- {}", fill("anything else we have done or will do"));

    out.push_str("\n## What you can do\n");
    let _ = writeln!(
        out,
        "- {}",
        fill("steps people should take, e.g. change a password, watch for suspicious e-mails")
    );

    out.push_str("\n## Contact us\n");
    let _ = writeln!(
        out,
        "If you have questions, contact {}. Please quote the reference {}.",
        fill("our data protection officer or contact point: name, e-mail, phone"),
        record.id
    );
}

/// One action of the plan, across every outcome the log holds for it.
struct Measure {
    kind: String,
    target: String,
    /// The first outcome AWS confirmed as done, if any.
    done: Option<ActionOutcome>,
    /// The latest outcome.
    last: ActionOutcome,
}

/// The actions of the log, split into those AWS confirmed as done (at some point) and the rest,
/// in plan order. Approved actions count with their approval's outcome.
fn measures(record: &Record) -> (Vec<Measure>, Vec<Measure>) {
    let mut all: Vec<Measure> = Vec::new();
    let outcomes = record.entries.iter().filter_map(|e| match &e.entry {
        Entry::Action { outcome } => Some(outcome),
        Entry::Approval { record } => Some(&record.outcome),
        _ => None,
    });
    for o in outcomes {
        let is_done = matches!(o.status, Status::Done { .. });
        match all
            .iter_mut()
            .find(|m| m.last.index == o.index && m.kind == o.kind && m.target == o.target)
        {
            Some(m) => {
                if o.at >= m.last.at {
                    m.last = o.clone();
                }
                if is_done && m.done.is_none() {
                    m.done = Some(o.clone());
                }
            }
            None => all.push(Measure {
                kind: o.kind.clone(),
                target: o.target.clone(),
                done: is_done.then(|| o.clone()),
                last: o.clone(),
            }),
        }
    }
    all.sort_by_key(|m| m.last.index);
    all.into_iter().partition(|m| m.done.is_some())
}

/// The actions taken (done), those not done, and any release since.
fn measures_taken(out: &mut String, record: &Record) {
    let (done, not_done) = measures(record);
    if done.is_empty() {
        out.push_str("- Taken: none confirmed as done by AWS yet.\n");
    } else {
        out.push_str("- Taken (each confirmed as done by AWS):\n");
        for m in &done {
            let (at, detail) = match &m.done {
                Some(d) => (minute(d.at), status_detail(d)),
                None => (String::new(), String::new()),
            };
            let _ = writeln!(
                out,
                "  - {} {}: {} ({at})",
                one_line(&m.kind),
                one_line(&m.target),
                one_line(&detail)
            );
        }
    }
    if !not_done.is_empty() {
        out.push_str("- Not done (do not report these as taken):\n");
        for m in &not_done {
            let _ = writeln!(
                out,
                "  - {} {}: {}{}",
                one_line(&m.kind),
                one_line(&m.target),
                m.last.status.word(),
                match status_detail(&m.last) {
                    d if d.is_empty() => String::new(),
                    d => format!(" ({})", one_line(&d)),
                }
            );
        }
    }
    let released: Vec<String> = record
        .entries
        .iter()
        .filter_map(|e| match &e.entry {
            Entry::Release { record: r }
                if matches!(r.outcome.status, Status::Done { .. })
                    && !r.step.starts_with("keep_") =>
            {
                Some(format!(
                    "  - {} {} ({})",
                    one_line(&r.step),
                    one_line(&r.target),
                    minute(r.released_at)
                ))
            }
            _ => None,
        })
        .collect();
    if !released.is_empty() {
        out.push_str("- Since released (containment undone):\n");
        for line in released {
            let _ = writeln!(out, "{line}");
        }
    }
}

fn evidence(out: &mut String, record: &Record) {
    let mut keys: Vec<&str> = Vec::new();
    let mut manifests: Vec<&str> = Vec::new();
    let mut until: Option<DateTime<Utc>> = None;
    for e in &record.entries {
        if let Entry::Evidence {
            key,
            item_kind,
            retain_until,
            ..
        } = &e.entry
        {
            if !keys.contains(&key.as_str()) {
                keys.push(key);
            }
            if item_kind == "manifest" && !manifests.contains(&key.as_str()) {
                manifests.push(key);
            }
            until = Some(until.map_or(*retain_until, |u| u.min(*retain_until)));
        }
    }
    match until {
        None => out.push_str("- No evidence object is recorded in the incident's log yet.\n"),
        Some(until) => {
            let _ = writeln!(
                out,
                "- {} object{} locked under S3 Object Lock (write once, read many) in our evidence \
                 bucket, retained until at least {}, each with its SHA-256 in the incident's log.",
                keys.len(),
                if keys.len() == 1 { "" } else { "s" },
                minute(until)
            );
            if manifests.is_empty() {
                out.push_str("- No manifest is recorded yet.\n");
            } else {
                out.push_str("- Manifests (object keys in the evidence bucket):\n");
                for m in manifests {
                    let _ = writeln!(out, "  - {}", one_line(m));
                }
            }
        }
    }
}

/// What a done action means to a person outside the company; `None` for steps that say
/// nothing to them.
fn plain(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "deactivate_access_key"
        | "revoke_user_sessions"
        | "revoke_role_sessions"
        | "revoke_role_session"
        | "deny_user"
        | "revoke_instance_profile_sessions"
        | "quarantine_instance_profile" => "We switched off the access that was misused.",
        "cognito_disable_user" => "We disabled the user account involved.",
        "cognito_global_sign_out" => "We signed the account involved out everywhere.",
        "cognito_stop_sign_up" => "We stopped new sign-ups while we investigate.",
        "block_public_access" => "We closed public access to the stored data involved.",
        "isolate_instance" => "We cut the affected server off from the network.",
        "preserve_evidence" | "snapshot_volumes" | "protect_instance" => {
            "We preserved a secure record of what happened, so it can be investigated."
        }
        "page" => "Our security team was alerted straight away.",
        _ => return None,
    })
}

fn status(record: &Record) -> String {
    match &record.closed {
        Some((step, controls)) => format!(
            "closed {}; corrective controls: {}",
            minute(step.at),
            joined_lines(controls)
        ),
        None => "open, response ongoing".to_string(),
    }
}

fn source_line(source: &Source) -> String {
    match source {
        Source::GuardDuty {
            finding_id,
            finding_type,
            ..
        } => format!("Amazon GuardDuty finding {finding_type} (id {finding_id})"),
        Source::CloudTrail {
            event_id,
            event_name,
            event_source,
            ..
        } => format!("AWS CloudTrail event {event_name} on {event_source} (event id {event_id})"),
    }
}

fn status_detail(o: &ActionOutcome) -> String {
    match &o.status {
        Status::Done { detail } => detail.clone(),
        Status::Skipped { why } => why.clone(),
        Status::Failed { code, message } => format!("{code}: {message}"),
        Status::DryRun { would } => format!("dry run, would {would}"),
        Status::AwaitingApproval => "waits for a human to approve it".to_string(),
        Status::Off => "off in this configuration, never executed".to_string(),
    }
}

fn or_fill(value: &str, what: &str) -> String {
    if value.is_empty() {
        fill(what)
    } else {
        one_line(value)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::fixtures::{
        ACCOUNT, CONTAIN, KEY, REGION, USER, approval, deny_failed, done, id, manifest, numbered,
        opened, outcome, release, t,
    };
    use crate::record::log::LogEntry;
    use crate::severity::Severity;

    fn entries(breach: bool) -> Vec<Entry> {
        let mut out = vec![
            opened(
                Severity::S1,
                &format!("Access key {KEY} of {USER} used from a malicious IP"),
            ),
            Entry::Action {
                outcome: outcome(
                    0,
                    "preserve_evidence",
                    "evidence store",
                    done("3 items locked"),
                    1,
                ),
            },
            Entry::Action {
                outcome: outcome(1, "deactivate_access_key", KEY, done("key set Inactive"), 2),
            },
            // Failed, and never done later.
            deny_failed("not authorized to perform iam:PutUserPolicy"),
            // Failed first, done on retry.
            Entry::Action {
                outcome: outcome(
                    3,
                    "tag_quarantine",
                    "user/deploy-bot",
                    Status::Failed {
                        code: "Throttling".into(),
                        message: "rate exceeded".into(),
                    },
                    3,
                ),
            },
            Entry::Action {
                outcome: outcome(3, "tag_quarantine", "user/deploy-bot", done("tagged"), 4),
            },
            Entry::Action {
                outcome: outcome(
                    4,
                    "isolate_instance",
                    "i-0abc",
                    Status::Skipped {
                        why: "instance not found".into(),
                    },
                    4,
                ),
            },
            Entry::Action {
                outcome: outcome(
                    5,
                    "revoke_user_sessions",
                    "deploy-bot",
                    Status::AwaitingApproval,
                    4,
                ),
            },
            approval(5, 20, "sessions denied"),
            manifest(),
            Entry::Evidence {
                key: "incidents/FB-x/source-event/9f86d081.json".into(),
                item_kind: "source-event".into(),
                sha256: "0b".repeat(32),
                size: 4100,
                retain_until: t(365 * 24 * 60),
            },
            release(
                None,
                outcome(0, "reactivate_access_key", KEY, done("key set Active"), 600),
            ),
        ];
        if breach {
            out.push(Entry::BreachConfirmed {
                note: Some("customer e-mail addresses exported".into()),
            });
        }
        out
    }

    fn record(breach: bool) -> Record {
        Record::from_log(id(), numbered(entries(breach), 10, |_| CONTAIN))
    }

    /// The lines of `text` between the heading `from` and the next heading.
    fn part<'a>(text: &'a str, from: &str) -> &'a str {
        let start = text
            .find(from)
            .unwrap_or_else(|| panic!("no {from:?} in\n{text}"));
        let rest = &text[start + from.len()..];
        &rest[..rest.find("\n## ").unwrap_or(rest.len())]
    }

    #[test]
    fn names_parse_back() {
        for n in Notice::ALL {
            assert_eq!(Notice::parse(n.as_str()), Some(n));
            assert_eq!(n.to_string(), n.as_str());
        }
        assert_eq!(Notice::parse(" GDPR_Subjects "), Some(Notice::GdprSubjects));
        assert_eq!(Notice::parse("gdpr"), None);
    }

    #[test]
    fn every_notice_names_the_incident_and_leaves_fields_to_fill() {
        let r = record(true);
        for n in Notice::ALL {
            let text = draft(n, &r, t(60));
            assert!(
                text.starts_with("DRAFT for a human to review and send"),
                "{n}"
            );
            assert!(text.contains(r.id.as_str()), "{n}");
            assert!(text.matches(TO_FILL).count() >= 2, "{n}");
            // Every marker is closed on its own line.
            for line in text.lines().filter(|l| l.contains(TO_FILL)) {
                assert!(
                    line.matches(TO_FILL).count() <= line.matches(']').count(),
                    "{line}"
                );
            }
        }
    }

    #[test]
    fn the_amazon_notice_says_by_when_and_lists_only_done_actions_as_taken() {
        let text = draft(Notice::Amazon, &record(false), t(60));
        assert!(
            text.contains("\nSend by: due in 23h 00m (2026-11-24 03:14 UTC)\n"),
            "{text}"
        );
        assert!(text.contains("To: security@amazon.com"));
        assert!(text.contains("- Affected AWS account: 111122223333"));
        let taken = part(&text, "## Actions taken");
        let (done, not_done) = taken
            .split_once("- Not done")
            .unwrap_or_else(|| panic!("{taken}"));
        for kind in [
            "preserve_evidence",
            "deactivate_access_key",
            "tag_quarantine",
            "revoke_user_sessions",
        ] {
            assert!(done.contains(kind), "{kind} done:\n{done}");
            assert!(!not_done.contains(kind), "{kind} not done:\n{not_done}");
        }
        for kind in ["deny_user", "isolate_instance"] {
            assert!(!done.contains(kind), "{kind} claimed as done:\n{done}");
            assert!(not_done.contains(kind), "{kind}");
        }
        assert!(not_done.contains("failed (AccessDenied"));
        assert!(not_done.contains(&format!(
            "- Since released (containment undone):\n  - reactivate_access_key {KEY} (2026-11-23 13:14 UTC)"
        )));
        let evidence = part(&text, "## Evidence preserved");
        assert!(evidence.contains("2 objects locked"));
        assert!(evidence.contains("incidents/FB-x/manifest.json"));
        assert!(!evidence.contains("source-event/"));
        assert!(part(&text, "## Amazon data").contains(TO_FILL));
        assert!(part(&text, "## Contact").contains(TO_FILL));
    }

    #[test]
    fn a_failed_action_is_never_a_measure_taken() {
        let r = record(true);
        for n in Notice::ALL {
            let text = draft(n, &r, t(60));
            let taken = text
                .lines()
                .skip_while(|l| !l.starts_with("- Taken") && !l.starts_with("## What we have done"))
                .take_while(|l| {
                    !l.starts_with("- Not done") && !l.starts_with("## What you can do")
                })
                .collect::<Vec<_>>()
                .join("\n");
            assert!(!taken.is_empty(), "{n}");
            assert!(
                !taken.contains("deny_user") && !taken.contains("AccessDenied"),
                "{n}: {taken}"
            );
            assert!(
                !taken.contains("isolate_instance") && !taken.contains("server off"),
                "{n}: {taken}"
            );
        }
        // A log of only failures claims nothing.
        let failed_only: Vec<LogEntry> = record(true)
            .entries
            .into_iter()
            .filter(|e| match &e.entry {
                Entry::Action { outcome } => outcome.status.is_failure(),
                Entry::Approval { .. } => false,
                _ => true,
            })
            .collect();
        let r = Record::from_log(id(), failed_only);
        let text = draft(Notice::GdprAuthority, &r, t(60));
        assert!(text.contains("- Taken: none confirmed as done by AWS yet."));
        let subjects = draft(Notice::GdprSubjects, &r, t(60));
        assert!(
            !part(&subjects, "## What we have done").contains("We "),
            "{subjects}"
        );
    }

    #[test]
    fn the_authority_notice_needs_a_confirmed_breach_and_counts_72_hours() {
        let unconfirmed = draft(Notice::GdprAuthority, &record(false), t(60));
        assert!(unconfirmed.contains("NO PERSONAL-DATA BREACH HAS BEEN CONFIRMED"));
        assert!(unconfirmed.contains("Send by: no clock runs yet"));
        let r = record(true);
        let confirmed_at = r
            .breach_confirmed
            .as_ref()
            .map(|s| s.at)
            .unwrap_or_default();
        let text = draft(Notice::GdprAuthority, &r, t(60));
        assert!(!text.contains("NO PERSONAL-DATA BREACH"));
        assert!(text.contains(&format!(
            "- Breach confirmed (we became aware): {}: customer e-mail addresses exported",
            minute(confirmed_at)
        )));
        assert!(text.contains(&format!(
            "- Notification due: {} (72 hours after confirmation)",
            minute(confirmed_at + Duration::hours(72))
        )));
        for art in [
            "Art. 33(3)(a)",
            "Art. 33(3)(b)",
            "Art. 33(3)(c)",
            "Art. 33(3)(d)",
        ] {
            assert!(text.contains(art), "{art}");
        }
        assert!(part(&text, "## Contact point").contains(TO_FILL));
        assert!(text.contains("approximate number of data subjects: [TO FILL:"));
        assert!(!text.contains("Reasons for the delay"));
        let late = draft(
            Notice::GdprAuthority,
            &r,
            confirmed_at + Duration::hours(80),
        );
        assert!(late.contains("OVERDUE by 8h 00m"));
        assert!(late.contains("Reasons for the delay beyond 72 hours (Art. 33(1)): [TO FILL:"));
    }

    #[test]
    fn the_subjects_notice_is_plain_language() {
        let r = record(true);
        let text = draft(Notice::GdprSubjects, &r, t(60));
        for jargon in [
            "arn:",
            ACCOUNT,
            KEY,
            "AKIA",
            REGION,
            "GuardDuty",
            "incidents/",
            "deny_user",
            "_",
        ] {
            assert!(!text.contains(jargon), "{jargon:?} in\n{text}");
        }
        assert!(text.contains("On 23 November 2026, our security monitoring detected"));
        let did = part(&text, "## What we have done");
        assert!(did.contains("We switched off the access that was misused"));
        assert!(did.contains("We preserved a secure record"));
        assert_eq!(did.matches("We switched off").count(), 1, "{did}");
        assert!(part(&text, "## What you can do").contains(TO_FILL));
        assert!(part(&text, "## Contact us").contains(TO_FILL));
    }

    #[test]
    fn drills_say_do_not_send() {
        let mut log = record(false).entries;
        if let Entry::Opened { drill, .. } = &mut log[0].entry {
            *drill = true;
        }
        let text = draft(Notice::Amazon, &Record::from_log(id(), log), t(60));
        assert!(text.contains("DRILL: this incident is a drill"));
    }
}
