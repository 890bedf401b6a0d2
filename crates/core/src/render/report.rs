//! The incident report: what happened, every log entry, what was done, the evidence and the
//! clocks, as Markdown for a ticket and as one self-contained HTML file a person can forward.
//! Both are rendered from one outline, so the two formats always say the same thing.
//!
//! Everything a log holds is attacker-influenced (titles, ARNs, keys and notes come from events
//! and from callers): the HTML escapes every piece of it, and the Markdown keeps each piece
//! inside its line and its table cell.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::record::incident::{Obligation, Source};
use crate::record::log::{Entry, LogEntry};
use crate::record::outcome::{ActionOutcome, Status};
use crate::record::{self, DeadlineState, Record};
use crate::severity::Severity;

/// The HTML ids of the report's sections, in order; `rca` is there only for an S1.
pub const SECTIONS: [&str; 8] = [
    "summary",
    "timeline",
    "actions",
    "evidence",
    "deadlines",
    "controls",
    "human-steps",
    "rca",
];

/// One human line describing a log entry: what it records, kind by kind.
pub fn entry_line(e: &LogEntry) -> String {
    let line = match &e.entry {
        Entry::Opened {
            source,
            title,
            severity,
            detected_at,
            drill,
            ..
        } => format!(
            "{}opened as {severity}: {title} ({}, detected {})",
            if *drill { "drill " } else { "" },
            source_line(source),
            minute(*detected_at)
        ),
        Entry::Updated { event_key } => format!("re-emitted; source event locked at {event_key}"),
        Entry::Action { outcome } => outcome.to_string(),
        Entry::Evidence {
            key,
            item_kind,
            sha256,
            size,
            ..
        } => format!(
            "{item_kind} {key} sha256 {} ({})",
            short_hash(sha256),
            bytes(*size)
        ),
        Entry::Page {
            page_kind,
            route,
            message_id,
            about,
        } => format!(
            "{} page to {route} (message {message_id}) for {about}",
            page_kind.as_str()
        ),
        Entry::Approval { record } => format!(
            "approved action {} {} {}: {}",
            record.index,
            record.kind,
            record.target,
            status_text(&record.outcome)
        ),
        Entry::Release { record } => format!(
            "release step {} {}: {}",
            record.step,
            record.target,
            status_text(&record.outcome)
        ),
        Entry::Custody {
            keys,
            purpose,
            read_at,
        } => format!(
            "{} evidence object{} read for {purpose} (reading started {})",
            keys.len(),
            if keys.len() == 1 { "" } else { "s" },
            second(*read_at)
        ),
        Entry::Acknowledged { obligation, note } => format!(
            "acknowledged {}: {}",
            obligation.as_str(),
            note.as_deref().unwrap_or("no note")
        ),
        Entry::BreachConfirmed { note } => match note {
            Some(n) => format!("personal-data breach confirmed; the GDPR 72-hour clock runs: {n}"),
            None => "personal-data breach confirmed; the GDPR 72-hour clock runs".to_string(),
        },
        Entry::NoticeDrafted { notice, sha256 } => format!(
            "{notice} notice drafted for a human to send (sha256 {})",
            short_hash(sha256)
        ),
        Entry::Closed {
            controls,
            archived_finding,
        } => {
            let controls = joined_lines(controls);
            match archived_finding {
                Some(f) => format!(
                    "closed; corrective controls: {controls} (GuardDuty finding {f} archived)"
                ),
                None => format!("closed; corrective controls: {controls}"),
            }
        }
        Entry::Drill {
            passed,
            checks,
            message_id,
        } => {
            let ok = checks.iter().filter(|c| c.passed).count();
            let failed: Vec<String> = checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| format!("{}: {}", c.stage, c.expects))
                .collect();
            let mut line = format!(
                "drill {}: {ok} of {} checks passed",
                if *passed { "passed" } else { "FAILED" },
                checks.len()
            );
            if !failed.is_empty() {
                let _ = write!(line, "; failed {}", failed.join("; "));
            }
            if let Some(m) = message_id {
                let _ = write!(line, " (summary page message {m})");
            }
            line
        }
        Entry::Reminder {
            obligations,
            hour,
            message_id,
        } => format!(
            "reminder page about {} for {hour} (message {message_id})",
            obligations
                .iter()
                .map(|o| o.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Entry::Wiring {
            drifts,
            hour,
            message_id,
        } => format!(
            "S1 page for {hour} (message {message_id}): Firebreak's wiring drifted: {}",
            drifts.join(" | ")
        ),
    };
    one_line(&line)
}

/// The report as Markdown (GitHub-flavoured tables), for a ticket or a chat message.
pub fn markdown(record: &Record, now: DateTime<Utc>) -> String {
    let doc = outline(record, now);
    let mut out = String::with_capacity(8 * 1024);
    let _ = writeln!(out, "# {}\n", md_text(&doc.heading));
    let mut badges: Vec<Span> = doc.badges.clone();
    badges.push(Span::plain(&doc.byline));
    let _ = writeln!(out, "{}\n", md_spans(&badges));
    for section in &doc.sections {
        let _ = writeln!(out, "## {}\n", section.title);
        for block in &section.blocks {
            md_block(&mut out, block);
        }
    }
    let _ = writeln!(out, "---\n\n{}", md_text(&doc.footer));
    out
}

/// The report as one self-contained HTML file: inline style only, no script, nothing fetched.
pub fn html(record: &Record, now: DateTime<Utc>) -> String {
    let doc = outline(record, now);
    let mut out = String::with_capacity(32 * 1024);
    out.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>{}</title>", esc(&doc.title));
    let _ = writeln!(out, "<style>\n{CSS}</style>\n</head>\n<body>");
    let _ = writeln!(out, "<div class=\"page\">");
    let _ = writeln!(out, "<header class=\"masthead {}\">", doc.severity_class);
    let _ = writeln!(
        out,
        "<div class=\"eyebrow\">Firebreak incident report</div>"
    );
    let _ = writeln!(out, "<h1>{}</h1>", esc(&doc.heading));
    let _ = writeln!(
        out,
        "<div class=\"badges\">{}<span class=\"byline\">{}</span></div>",
        html_spans(&doc.badges),
        esc(&doc.byline)
    );
    out.push_str("</header>\n<nav class=\"toc\" aria-label=\"Sections\">");
    for section in &doc.sections {
        let _ = write!(out, "<a href=\"#{}\">{}</a>", section.id, section.title);
    }
    out.push_str("</nav>\n<main>\n");
    for section in &doc.sections {
        let _ = writeln!(
            out,
            "<section id=\"{}\">\n<h2>{}</h2>",
            section.id, section.title
        );
        for block in &section.blocks {
            html_block(&mut out, block);
        }
        out.push_str("</section>\n");
    }
    let _ = writeln!(
        out,
        "</main>\n<footer>{}</footer>\n</div>\n</body>\n</html>",
        esc(&doc.footer)
    );
    out
}

// ---------------------------------------------------------------------------------------------
// The outline both formats render.

/// How a piece of text is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    Plain,
    /// Identifiers, keys, hashes, ARNs: monospace, wrapping anywhere.
    Mono,
    /// A short status word with a colour class.
    Badge(&'static str),
    Strong,
    /// A secondary line under the main text.
    Muted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Span {
    text: String,
    look: Look,
}

impl Span {
    fn plain(text: &str) -> Span {
        Span::new(text, Look::Plain)
    }
    fn mono(text: &str) -> Span {
        Span::new(text, Look::Mono)
    }
    fn badge(text: &str, class: &'static str) -> Span {
        Span::new(text, Look::Badge(class))
    }
    fn new(text: &str, look: Look) -> Span {
        Span {
            text: text.to_string(),
            look,
        }
    }
}

/// A table column: its heading and the class its cells carry (widths, alignment).
#[derive(Debug, Clone, Copy)]
struct Col {
    head: &'static str,
    class: &'static str,
}

const fn col(head: &'static str, class: &'static str) -> Col {
    Col { head, class }
}

#[derive(Debug, Clone)]
struct Row {
    class: Option<&'static str>,
    cells: Vec<Vec<Span>>,
}

impl Row {
    fn new(cells: Vec<Vec<Span>>) -> Row {
        Row { class: None, cells }
    }
}

#[derive(Debug, Clone)]
enum Block {
    /// Label and value pairs.
    Facts(Vec<(&'static str, Vec<Span>)>),
    Table {
        cols: &'static [Col],
        rows: Vec<Row>,
        /// Said instead when there are no rows.
        empty: &'static str,
    },
    Sub(&'static str),
    Para(Vec<Span>),
    /// Free text a human wrote: its line breaks are kept in HTML.
    Text(String),
    Steps(Vec<String>),
    /// A space for a human to fill.
    Placeholder(&'static str),
}

struct Section {
    id: &'static str,
    title: &'static str,
    blocks: Vec<Block>,
}

struct Outline {
    title: String,
    heading: String,
    badges: Vec<Span>,
    byline: String,
    severity_class: &'static str,
    sections: Vec<Section>,
    footer: String,
}

const TIMELINE: &[Col] = &[
    col("Seq", "c-seq"),
    col("Time (UTC)", "c-time"),
    col("By", "c-by"),
    col("Kind", "c-kind"),
    col("What", "c-what"),
];
const ACTIONS: &[Col] = &[
    col("Seq", "c-seq"),
    col("Ended (UTC)", "c-time"),
    col("#", "c-num"),
    col("Action", "c-action"),
    col("Target", "c-target"),
    col("Status", "c-status"),
    col("Detail", "c-what"),
];
const APPROVALS: &[Col] = &[
    col("Seq", "c-seq"),
    col("Approved (UTC)", "c-time"),
    col("By", "c-by"),
    col("Action", "c-target"),
    col("Outcome", "c-status"),
    col("Detail", "c-what"),
];
const RELEASES: &[Col] = &[
    col("Seq", "c-seq"),
    col("Released (UTC)", "c-time"),
    col("By", "c-by"),
    col("Step", "c-target"),
    col("Outcome", "c-status"),
    col("Detail", "c-what"),
];
const EVIDENCE: &[Col] = &[
    col("Seq", "c-seq"),
    col("Key", "c-key"),
    col("Kind", "c-kind"),
    col("SHA-256", "c-hash"),
    col("Size", "c-size"),
    col("Retain until (UTC)", "c-time"),
];
const CUSTODY: &[Col] = &[
    col("Seq", "c-seq"),
    col("Read at (UTC)", "c-time"),
    col("By", "c-by"),
    col("Purpose", "c-kind"),
    col("Objects read", "c-what"),
];
const DEADLINES: &[Col] = &[
    col("Obligation", "c-obligation"),
    col("Due (UTC)", "c-time"),
    col("Status", "c-what"),
];

/// The root-cause analysis template: each heading and what its placeholder asks for.
const RCA: [(&str, &str); 4] = [
    (
        "Root cause",
        "To be written: the underlying cause, not the symptom. What let this happen?",
    ),
    (
        "Contributing factors",
        "To be written: the conditions and gaps in controls or detection that made it possible, worse or slower to catch.",
    ),
    (
        "Lessons",
        "To be written: what went well, what went badly, and what we learned.",
    ),
    (
        "Follow-ups",
        "To be written: each follow-up with an owner and a due date.",
    ),
];

fn outline(record: &Record, now: DateTime<Utc>) -> Outline {
    let opening = record.opening.as_ref();
    let title = opening.map_or("(no opening entry in the log)", |o| o.title.as_str());
    let severity = opening.map(|o| o.severity);
    let mut badges = Vec::new();
    if let Some(s) = severity {
        badges.push(Span::badge(&s.to_string(), severity_class(s)));
    }
    badges.push(if record.is_closed() {
        Span::badge("closed", "st-closed")
    } else {
        Span::badge("open", "st-open")
    });
    if record.is_drill() {
        badges.push(Span::badge("DRILL", "st-drill"));
    }
    let mut sections = vec![
        summary(record),
        timeline(record),
        actions(record),
        evidence(record),
        deadlines(record, now),
        controls(record),
        human_steps(record),
    ];
    if severity == Some(Severity::S1) {
        sections.push(rca(record));
    }
    Outline {
        title: format!("{} · {title} · Firebreak incident report", record.id),
        heading: format!("{} · {title}", record.id),
        badges,
        byline: format!(
            "Report generated {} UTC from {} log entr{}",
            second(now),
            record.entries.len(),
            if record.entries.len() == 1 {
                "y"
            } else {
                "ies"
            }
        ),
        severity_class: severity.map_or("sev-none", severity_class),
        sections,
        footer: format!(
            "Firebreak incident {}. Read off the incident's locked log in the evidence bucket; \
             the timeline lists every entry. Times are UTC.",
            record.id
        ),
    }
}

fn summary(record: &Record) -> Section {
    let mut facts: Vec<(&'static str, Vec<Span>)> =
        vec![("Incident", vec![Span::mono(record.id.as_str())])];
    match &record.opening {
        Some(o) => {
            let opened_at = record.entries.iter().find_map(|e| match e.entry {
                Entry::Opened { .. } => Some(e.at),
                _ => None,
            });
            let mut severity = vec![Span::badge(
                &o.severity.to_string(),
                severity_class(o.severity),
            )];
            if !o.severity_reason.is_empty() {
                severity.push(Span::plain(&o.severity_reason));
            }
            let mut opened_by = vec![Span::mono(&o.by)];
            if let Some(at) = opened_at {
                opened_by.push(Span::new(&format!("at {}", second(at)), Look::Muted));
            }
            facts.extend([
                ("Title", vec![Span::plain(&o.title)]),
                ("Severity", severity),
                ("Source", vec![Span::plain(&source_line(&o.source))]),
                ("Source event", vec![Span::mono(&o.event_key)]),
                ("Account", vec![Span::mono(or_unknown(&o.account))]),
                ("Region", vec![Span::mono(or_unknown(&o.region))]),
                (
                    "Principal",
                    vec![Span::mono(o.principal.as_deref().unwrap_or("unknown"))],
                ),
                ("Detected at", vec![Span::plain(&second(o.detected_at))]),
                ("Opened by", opened_by),
            ]);
        }
        None => facts.push((
            "Opening",
            vec![Span::plain(
                "the log holds no opened entry: what opened the incident is unknown",
            )],
        )),
    }
    let status = match &record.closed {
        Some((step, _)) => vec![
            Span::badge("closed", "st-closed"),
            Span::plain(&format!("at {} by", second(step.at))),
            Span::mono(&step.by),
        ],
        None => vec![Span::badge("open", "st-open")],
    };
    facts.push(("Status", status));
    let breach = match &record.breach_confirmed {
        Some(step) => {
            let mut spans = vec![
                Span::badge("confirmed", "st-overdue"),
                Span::plain(&format!("at {} by", second(step.at))),
                Span::mono(&step.by),
            ];
            if let Some(note) = &step.note {
                spans.push(Span::new(note, Look::Muted));
            }
            spans
        }
        None => vec![Span::plain("not confirmed")],
    };
    facts.push(("Personal-data breach", breach));
    if record.is_drill() {
        facts.push((
            "Drill",
            vec![
                Span::badge("DRILL", "st-drill"),
                Span::plain("containment ran dry; the clock pages about none of its obligations"),
            ],
        ));
    }
    Section {
        id: "summary",
        title: "Summary",
        blocks: vec![Block::Facts(facts)],
    }
}

fn timeline(record: &Record) -> Section {
    let rows = record
        .entries
        .iter()
        .map(|e| {
            let mut row = Row::new(vec![
                vec![Span::plain(&e.seq.to_string())],
                vec![Span::plain(&second(e.at))],
                vec![Span::mono(&e.by)],
                vec![Span::badge(e.entry.kind(), kind_class(&e.entry))],
                vec![Span::plain(&entry_line(e))],
            ]);
            if let Entry::Action { outcome } = &e.entry
                && outcome.status.is_failure()
            {
                row.class = Some("failed");
            }
            row
        })
        .collect();
    Section {
        id: "timeline",
        title: "Timeline",
        blocks: vec![Block::Table {
            cols: TIMELINE,
            rows,
            empty: "The log holds no entries.",
        }],
    }
}

fn actions(record: &Record) -> Section {
    let (mut acted, mut approved, mut released) = (Vec::new(), Vec::new(), Vec::new());
    for e in &record.entries {
        match &e.entry {
            Entry::Action { outcome } => {
                let mut row = Row::new(vec![
                    vec![Span::plain(&e.seq.to_string())],
                    vec![Span::plain(&second(outcome.at))],
                    vec![Span::plain(&outcome.index.to_string())],
                    vec![Span::mono(&outcome.kind)],
                    vec![Span::mono(&outcome.target)],
                    vec![status_badge(&outcome.status)],
                    vec![Span::plain(&status_detail(outcome))],
                ]);
                if outcome.status.is_failure() {
                    row.class = Some("failed");
                }
                acted.push(row);
            }
            Entry::Approval { record: a } => approved.push(Row::new(vec![
                vec![Span::plain(&e.seq.to_string())],
                vec![Span::plain(&second(a.approved_at))],
                vec![Span::mono(&a.approved_by)],
                vec![
                    Span::plain(&format!("#{}", a.index)),
                    Span::mono(&a.kind),
                    Span::new(&a.target, Look::Muted),
                ],
                vec![status_badge(&a.outcome.status)],
                vec![Span::plain(&status_detail(&a.outcome))],
            ])),
            Entry::Release { record: r } => released.push(Row::new(vec![
                vec![Span::plain(&e.seq.to_string())],
                vec![Span::plain(&second(r.released_at))],
                vec![Span::mono(&r.released_by)],
                vec![Span::mono(&r.step), Span::new(&r.target, Look::Muted)],
                vec![status_badge(&r.outcome.status)],
                vec![Span::plain(&status_detail(&r.outcome))],
            ])),
            _ => {}
        }
    }
    let done = record
        .entries
        .iter()
        .filter(|e| matches!(&e.entry, Entry::Action { outcome } if matches!(outcome.status, Status::Done { .. })))
        .count();
    let failed = acted.iter().filter(|r| r.class.is_some()).count();
    Section {
        id: "actions",
        title: "Actions and outcomes",
        blocks: vec![
            Block::Para(vec![Span::plain(&format!(
                "{} action outcome{} locked: {done} done, {failed} failed. An action is done only when AWS said so.",
                acted.len(),
                if acted.len() == 1 { "" } else { "s" },
            ))]),
            Block::Sub("Plan actions"),
            Block::Table {
                cols: ACTIONS,
                rows: acted,
                empty: "No action outcome is locked yet.",
            },
            Block::Sub("Approvals"),
            Block::Table {
                cols: APPROVALS,
                rows: approved,
                empty: "No approvals.",
            },
            Block::Sub("Releases"),
            Block::Table {
                cols: RELEASES,
                rows: released,
                empty: "Nothing released: every change Firebreak made is still in place.",
            },
        ],
    }
}

fn evidence(record: &Record) -> Section {
    let (mut objects, mut readings) = (Vec::new(), Vec::new());
    for e in &record.entries {
        match &e.entry {
            Entry::Evidence {
                key,
                item_kind,
                sha256,
                size,
                retain_until,
            } => objects.push(Row::new(vec![
                vec![Span::plain(&e.seq.to_string())],
                vec![Span::mono(key)],
                vec![Span::plain(item_kind)],
                vec![Span::mono(sha256)],
                size_cell(*size),
                vec![Span::plain(&second(*retain_until))],
            ])),
            Entry::Custody {
                keys,
                purpose,
                read_at,
            } => readings.push(Row::new(vec![
                vec![Span::plain(&e.seq.to_string())],
                vec![Span::plain(&second(*read_at))],
                vec![Span::mono(&e.by)],
                vec![Span::plain(purpose)],
                vec![Span::mono(&keys.join(", "))],
            ])),
            _ => {}
        }
    }
    Section {
        id: "evidence",
        title: "Evidence",
        blocks: vec![
            Block::Para(vec![Span::plain(&format!(
                "{} object{} locked under S3 Object Lock; each hash is the SHA-256 of the stored bytes.",
                objects.len(),
                if objects.len() == 1 { "" } else { "s" },
            ))]),
            Block::Table {
                cols: EVIDENCE,
                rows: objects,
                empty: "No evidence object is recorded in the log yet.",
            },
            Block::Sub("Custody readings"),
            Block::Table {
                cols: CUSTODY,
                rows: readings,
                empty: "Nobody has read the evidence yet.",
            },
        ],
    }
}

fn deadlines(record: &Record, now: DateTime<Utc>) -> Section {
    let rows = record
        .deadlines(now)
        .into_iter()
        .map(|d| {
            let (word, class) = match d.state {
                DeadlineState::NotStarted => ("not started", "st-muted"),
                DeadlineState::Running => ("running", "st-running"),
                DeadlineState::DueSoon => ("due soon", "st-warn"),
                DeadlineState::Overdue => ("OVERDUE", "st-overdue"),
                DeadlineState::Acknowledged(_) => ("acknowledged", "st-done"),
            };
            let mut row = Row::new(vec![
                vec![
                    Span::new(d.obligation.as_str(), Look::Strong),
                    Span::new(d.obligation.describe(), Look::Muted),
                ],
                vec![Span::plain(
                    &d.due.map_or_else(|| "not started".to_string(), minute),
                )],
                // The badge says where it stands; the text only adds how far, or who. The
                // obligation's own note already says what starts a clock not started.
                match (&d.state, d.due) {
                    (DeadlineState::Overdue, Some(due)) => vec![
                        Span::badge(word, class),
                        Span::plain(&format!("by {}", record::span(now - due))),
                    ],
                    (DeadlineState::DueSoon | DeadlineState::Running, Some(due)) => vec![
                        Span::badge(word, class),
                        Span::plain(&format!("in {}", record::span(due - now))),
                    ],
                    (DeadlineState::Acknowledged(step), _) => vec![
                        Span::badge(word, class),
                        Span::plain(&format!("by {} at {}", step.by, minute(step.at))),
                    ],
                    _ => vec![Span::badge(word, class)],
                },
            ]);
            row.class = match d.state {
                DeadlineState::Overdue => Some("overdue"),
                DeadlineState::DueSoon => Some("due-soon"),
                _ => None,
            };
            row
        })
        .collect();
    let mut blocks = vec![Block::Table {
        cols: DEADLINES,
        rows,
        empty: "No obligation.",
    }];
    blocks.push(Block::Para(vec![Span::new(
        &format!("As of {}.", minute(now)),
        Look::Muted,
    )]));
    if record.is_drill() {
        blocks.push(Block::Para(vec![Span::plain(
            "A drill: the clock pages about none of these.",
        )]));
    }
    Section {
        id: "deadlines",
        title: "Deadlines",
        blocks,
    }
}

fn controls(record: &Record) -> Section {
    let blocks = match &record.closed {
        Some((step, controls)) => {
            let mut blocks = vec![
                Block::Para(vec![
                    Span::plain(&format!("Closed at {} by", second(step.at))),
                    Span::mono(&step.by),
                ]),
                Block::Text(controls.clone()),
            ];
            let archived = record.entries.iter().find_map(|e| match &e.entry {
                Entry::Closed {
                    archived_finding: Some(f),
                    ..
                } => Some(f.clone()),
                _ => None,
            });
            if let Some(f) = archived {
                blocks.push(Block::Para(vec![
                    Span::plain("GuardDuty finding archived:"),
                    Span::mono(&f),
                ]));
            }
            blocks
        }
        None => vec![Block::Para(vec![Span::plain(
            "Not closed yet: the corrective controls are recorded when the incident is closed (firebreak close).",
        )])],
    };
    Section {
        id: "controls",
        title: "Corrective controls",
        blocks,
    }
}

fn human_steps(record: &Record) -> Section {
    let steps = record
        .opening
        .as_ref()
        .map(|o| o.human_steps.clone())
        .unwrap_or_default();
    let block = if steps.is_empty() {
        Block::Para(vec![Span::plain("None recorded.")])
    } else {
        Block::Steps(steps)
    };
    Section {
        id: "human-steps",
        title: "Human steps",
        blocks: vec![block],
    }
}

fn rca(record: &Record) -> Section {
    let due = match record.due(Obligation::RootCauseAnalysis) {
        Some(d) => format!(
            "Every S1 gets a root-cause analysis. Due {} (14 days after closing).",
            minute(d)
        ),
        None => "Every S1 gets a root-cause analysis, due 14 days after the incident is closed."
            .to_string(),
    };
    let mut blocks = vec![Block::Para(vec![Span::plain(&due)])];
    for (heading, placeholder) in RCA {
        blocks.push(Block::Sub(heading));
        blocks.push(Block::Placeholder(placeholder));
    }
    Section {
        id: "rca",
        title: "Root-cause analysis",
        blocks,
    }
}

// ---------------------------------------------------------------------------------------------
// Words.

fn source_line(source: &Source) -> String {
    match source {
        Source::GuardDuty {
            finding_id,
            finding_type,
            guardduty_severity,
            count,
            ..
        } => {
            let seen = if *count > 1 {
                format!(", seen {count} times")
            } else {
                String::new()
            };
            format!(
                "GuardDuty finding {finding_type} (id {finding_id}, GuardDuty severity {guardduty_severity}{seen})"
            )
        }
        Source::CloudTrail {
            event_id,
            event_source,
            event_name,
            error_code,
        } => {
            let refused = error_code
                .as_deref()
                .map(|c| format!(", refused with {c}"))
                .unwrap_or_default();
            format!("CloudTrail {event_name} on {event_source} (event {event_id}{refused})")
        }
    }
}

fn status_badge(status: &Status) -> Span {
    let class = match status {
        Status::Done { .. } => "st-done",
        Status::Failed { .. } => "st-overdue",
        Status::AwaitingApproval => "st-warn",
        Status::DryRun { .. } => "st-drill",
        Status::Skipped { .. } | Status::Off => "st-muted",
    };
    Span::badge(status.word(), class)
}

/// What the status says beyond its word.
fn status_detail(o: &ActionOutcome) -> String {
    match &o.status {
        Status::Done { detail } => detail.clone(),
        Status::Skipped { why } => why.clone(),
        Status::Failed { code, message } => format!("{code}: {message}"),
        Status::DryRun { would } => format!("would {would}"),
        Status::AwaitingApproval => format!("approve with firebreak approve --action {}", o.index),
        Status::Off => "recorded, never executed".to_string(),
    }
}

fn status_text(o: &ActionOutcome) -> String {
    match status_detail(o) {
        d if d.is_empty() => o.status.word().to_string(),
        d => format!("{} — {d}", o.status.word()),
    }
}

fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::S1 => "sev-s1",
        Severity::S2 => "sev-s2",
        Severity::S3 => "sev-s3",
        Severity::S4 => "sev-s4",
    }
}

fn kind_class(entry: &Entry) -> &'static str {
    match entry {
        Entry::Opened { .. } | Entry::Closed { .. } => "k-life",
        Entry::Action { outcome } if outcome.status.is_failure() => "st-overdue",
        Entry::Action { .. } | Entry::Approval { .. } | Entry::Release { .. } => "k-act",
        Entry::Evidence { .. } | Entry::Custody { .. } => "k-evidence",
        Entry::BreachConfirmed { .. }
        | Entry::Drill { passed: false, .. }
        | Entry::Wiring { .. } => "st-overdue",
        Entry::Drill { .. } => "st-drill",
        _ => "k-other",
    }
}

fn size_cell(n: u64) -> Vec<Span> {
    let mut cell = vec![Span::plain(&bytes(n))];
    if n >= 1024 {
        cell.push(Span::new(&format!("{n} bytes"), Look::Muted));
    }
    cell
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "unknown" } else { s }
}

fn second(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

pub(crate) fn minute(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The first 12 characters of a hash, for one-line mentions; tables show it whole.
fn short_hash(h: &str) -> String {
    let short: String = h.chars().take(12).collect();
    if short.len() < h.len() {
        format!("{short}…")
    } else {
        short
    }
}

/// A size for a human; the evidence table adds the exact count.
fn bytes(n: u64) -> String {
    let f = n as f64;
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", f / 1024.0),
        _ => format!("{:.1} MiB", f / 1_048_576.0),
    }
}

/// Any run of whitespace (line breaks included) as one space.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text a human wrote on several lines (corrective controls), on one: the lines joined with
/// `; ` unless a line already ends a sentence.
pub(crate) fn joined_lines(s: &str) -> String {
    let mut out = String::new();
    for line in s.lines().map(one_line).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push_str(if out.ends_with(['.', ';', ':', '!', '?']) {
                " "
            } else {
                "; "
            });
        }
        out.push_str(&line);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// HTML.

/// Text for HTML element content and attribute values; control characters other than line
/// breaks and tabs are dropped.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn html_spans(spans: &[Span]) -> String {
    let mut out = String::new();
    for (i, s) in spans.iter().enumerate() {
        if i > 0 && s.look != Look::Muted {
            out.push(' ');
        }
        let text = esc(&one_line(&s.text));
        match s.look {
            Look::Plain => out.push_str(&text),
            Look::Mono => {
                // ARNs and keys break after their separators before anywhere else.
                let text = text.replace(':', ":<wbr>").replace('/', "/<wbr>");
                let _ = write!(out, "<span class=\"mono\">{text}</span>");
            }
            Look::Badge(class) => {
                let _ = write!(out, "<span class=\"badge {class}\">{text}</span>");
            }
            Look::Strong => {
                let _ = write!(out, "<strong>{text}</strong>");
            }
            Look::Muted => {
                let _ = write!(out, "<span class=\"muted\">{text}</span>");
            }
        }
    }
    out
}

fn html_block(out: &mut String, block: &Block) {
    match block {
        Block::Facts(facts) => {
            out.push_str("<dl class=\"facts\">\n");
            for (label, value) in facts {
                let _ = writeln!(out, "<dt>{label}</dt><dd>{}</dd>", html_spans(value));
            }
            out.push_str("</dl>\n");
        }
        Block::Table { rows, empty, .. } if rows.is_empty() => {
            let _ = writeln!(out, "<p class=\"empty\">{empty}</p>");
        }
        Block::Table { cols, rows, .. } => {
            out.push_str("<table>\n<thead><tr>");
            for c in cols.iter() {
                let _ = write!(out, "<th class=\"{}\">{}</th>", c.class, c.head);
            }
            out.push_str("</tr></thead>\n<tbody>\n");
            for row in rows {
                match row.class {
                    Some(class) => {
                        let _ = write!(out, "<tr class=\"{class}\">");
                    }
                    None => out.push_str("<tr>"),
                }
                for (c, cell) in cols.iter().zip(&row.cells) {
                    let _ = write!(out, "<td class=\"{}\">{}</td>", c.class, html_spans(cell));
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</tbody>\n</table>\n");
        }
        Block::Sub(title) => {
            let _ = writeln!(out, "<h3>{title}</h3>");
        }
        Block::Para(spans) => {
            let _ = writeln!(out, "<p>{}</p>", html_spans(spans));
        }
        Block::Text(text) => {
            let _ = writeln!(out, "<div class=\"text\">{}</div>", esc(text.trim()));
        }
        Block::Steps(steps) => {
            out.push_str("<ol class=\"steps\">\n");
            for s in steps {
                let _ = writeln!(out, "<li>{}</li>", esc(&one_line(s)));
            }
            out.push_str("</ol>\n");
        }
        Block::Placeholder(text) => {
            let _ = writeln!(out, "<p class=\"fill\">{text}</p>");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Markdown.

/// Text on one line, with the characters Markdown would read as markup, raw HTML or a cell
/// boundary escaped.
fn md_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in one_line(s).chars() {
        match c {
            '\\' | '`' | '*' | '|' | '<' | '>' | '[' | ']' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn md_spans(spans: &[Span]) -> String {
    spans
        .iter()
        .map(|s| match s.look {
            Look::Plain => md_text(&s.text),
            // A code span cannot hold a backtick; inside a table `\|` still ends up as `|`.
            Look::Mono if !s.text.contains('`') && !s.text.trim().is_empty() => {
                format!("`{}`", one_line(&s.text).replace('|', "\\|"))
            }
            Look::Mono => md_text(&s.text),
            Look::Badge(_) | Look::Strong => format!("**{}**", md_text(&s.text)),
            Look::Muted => format!("*({})*", md_text(&s.text)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn md_block(out: &mut String, block: &Block) {
    match block {
        Block::Facts(facts) => {
            for (label, value) in facts {
                let _ = writeln!(out, "- **{label}:** {}", md_spans(value));
            }
            out.push('\n');
        }
        Block::Table { rows, empty, .. } if rows.is_empty() => {
            let _ = writeln!(out, "*{empty}*\n");
        }
        Block::Table { cols, rows, .. } => {
            let heads: Vec<&str> = cols.iter().map(|c| c.head).collect();
            let _ = writeln!(out, "| {} |", heads.join(" | "));
            let rules: Vec<&str> = cols
                .iter()
                .map(|c| {
                    if c.class == "c-seq" || c.class == "c-num" {
                        "---:"
                    } else {
                        "---"
                    }
                })
                .collect();
            let _ = writeln!(out, "| {} |", rules.join(" | "));
            for row in rows {
                let cells: Vec<String> = row.cells.iter().map(|c| md_spans(c)).collect();
                let _ = writeln!(out, "| {} |", cells.join(" | "));
            }
            out.push('\n');
        }
        Block::Sub(title) => {
            let _ = writeln!(out, "### {title}\n");
        }
        Block::Para(spans) => {
            let _ = writeln!(out, "{}\n", md_spans(spans));
        }
        Block::Text(text) => {
            let lines: Vec<String> = text
                .lines()
                .map(md_text)
                .filter(|l| !l.is_empty())
                .map(|l| format!("> {l}"))
                .collect();
            let _ = writeln!(out, "{}\n", lines.join("\n>\n"));
        }
        Block::Steps(steps) => {
            for (i, s) in steps.iter().enumerate() {
                let _ = writeln!(out, "{}. {}", i + 1, md_text(s));
            }
            out.push('\n');
        }
        Block::Placeholder(text) => {
            let _ = writeln!(out, "*{text}*\n");
        }
    }
}

/// The report's style: readable on screen, clean on paper, nothing fetched.
const CSS: &str = r#":root {
  --ink: #1c2128; --muted: #5c6670; --line: #d9dee4; --soft: #f4f6f8; --accent: #1f3a60;
  --red: #b42318; --red-bg: #fdecea; --amber: #8a5300; --amber-bg: #fff3d6;
  --green: #17663a; --green-bg: #e5f3ea; --blue: #1d4f91; --blue-bg: #e8f0fb;
  --violet: #5b3a9e; --violet-bg: #efe9fb;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: #e9edf1; color: var(--ink);
  font: 14px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", "Liberation Sans", sans-serif;
}
.page {
  max-width: 1180px; margin: 24px auto; background: #fff; border: 1px solid var(--line);
  border-radius: 6px; box-shadow: 0 1px 4px rgba(16, 24, 40, .08); overflow: hidden;
}
.masthead { padding: 22px 32px 18px; border-top: 6px solid var(--accent); }
.masthead.sev-s1 { border-top-color: var(--red); }
.masthead.sev-s2 { border-top-color: #c4501a; }
.masthead.sev-s3 { border-top-color: #c99700; }
.eyebrow {
  font-size: 11px; font-weight: 700; letter-spacing: .1em; text-transform: uppercase;
  color: var(--muted);
}
h1 { font-size: 22px; line-height: 1.3; margin: 6px 0 12px; overflow-wrap: anywhere; }
.badges { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; }
.byline { color: var(--muted); font-size: 12px; margin-left: 6px; }
.badge {
  display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 11px;
  font-weight: 700; letter-spacing: .04em; text-transform: uppercase; white-space: nowrap;
  line-height: 18px; vertical-align: 1px; border: 1px solid transparent;
  -webkit-print-color-adjust: exact; print-color-adjust: exact;
}
.sev-s1.badge { background: var(--red); color: #fff; }
.sev-s2.badge { background: #c4501a; color: #fff; }
.sev-s3.badge { background: #f3c433; color: #3b2a00; }
.sev-s4.badge { background: #dde2e7; color: #2f3740; }
.st-open { background: var(--amber-bg); color: var(--amber); border-color: #f0d08a; }
.st-closed, .st-done { background: var(--green-bg); color: var(--green); border-color: #b7dcc4; }
.st-overdue { background: var(--red); color: #fff; }
.st-warn { background: var(--amber-bg); color: var(--amber); border-color: #f0d08a; }
.st-running, .k-act { background: var(--blue-bg); color: var(--blue); border-color: #c5d7f0; }
.st-muted, .k-other { background: var(--soft); color: var(--muted); border-color: var(--line); }
.st-drill { background: var(--violet-bg); color: var(--violet); border-color: #d6c8f2; }
.k-life { background: var(--accent); color: #fff; }
.k-evidence { background: #e6f4f4; color: #0e5e5e; border-color: #bfe0e0; }
.td-badge-kind { text-transform: none; }
nav.toc {
  padding: 8px 32px; background: var(--soft); border-top: 1px solid var(--line);
  border-bottom: 1px solid var(--line); font-size: 13px;
}
nav.toc a { color: var(--accent); text-decoration: none; margin-right: 18px; white-space: nowrap; }
nav.toc a:hover { text-decoration: underline; }
main { padding: 4px 32px 28px; }
section { margin-top: 26px; }
h2 {
  font-size: 17px; margin: 0 0 10px; padding-bottom: 6px; color: var(--accent);
  border-bottom: 2px solid var(--line);
}
h3 {
  font-size: 12px; margin: 18px 0 6px; color: var(--muted); text-transform: uppercase;
  letter-spacing: .06em;
}
p { margin: 6px 0; }
dl.facts { display: grid; grid-template-columns: 180px 1fr; gap: 5px 18px; margin: 0; }
dl.facts dt { color: var(--muted); font-weight: 600; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
table { width: 100%; border-collapse: collapse; font-size: 13px; margin: 4px 0 8px; }
thead th {
  text-align: left; font-size: 11px; font-weight: 700; letter-spacing: .05em;
  text-transform: uppercase; color: var(--muted); background: var(--soft);
  border-bottom: 1px solid var(--line); padding: 6px 8px; white-space: nowrap;
}
td { padding: 6px 8px; border-bottom: 1px solid #e9ecef; vertical-align: top; }
tbody tr:nth-child(even) td { background: #fafbfc; }
tr.failed td { background: #fff6f5; }
tr.overdue td { background: var(--red-bg); }
tr.due-soon td { background: var(--amber-bg); }
tr.overdue td, tr.due-soon td, tr.failed td {
  -webkit-print-color-adjust: exact; print-color-adjust: exact;
}
tr.overdue td:first-child { box-shadow: inset 4px 0 0 var(--red); }
.c-seq, .c-num { width: 3.2em; text-align: right; font-variant-numeric: tabular-nums; }
.c-time { width: 10.5em; white-space: nowrap; font-variant-numeric: tabular-nums; }
.c-by { width: 22%; }
.c-kind { width: 9em; }
.c-action { width: 15em; }
.c-status { width: 8em; }
.c-size { width: 6em; white-space: nowrap; text-align: right; }
.c-hash { width: 27%; }
.c-key { width: 30%; }
.c-target { width: 22%; }
.c-obligation { width: 38%; }
td.c-what { overflow-wrap: anywhere; }
.mono {
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono",
    "DejaVu Sans Mono", monospace;
  font-size: 12px; overflow-wrap: anywhere;
}
td .mono { color: #2b3440; }
.muted { display: block; color: var(--muted); font-size: 12px; }
.empty { color: var(--muted); font-style: italic; }
.text {
  white-space: pre-wrap; overflow-wrap: anywhere; background: var(--soft);
  border-left: 3px solid var(--accent); padding: 8px 12px; margin: 8px 0;
}
ol.steps { margin: 4px 0; padding-left: 22px; }
ol.steps li { margin: 4px 0; padding-left: 4px; }
.fill {
  border: 1px dashed #aeb7c2; border-radius: 4px; padding: 10px 12px; min-height: 3.2em;
  color: var(--muted); font-style: italic; background: #fcfcfd;
}
footer {
  padding: 12px 32px; border-top: 1px solid var(--line); background: var(--soft);
  color: var(--muted); font-size: 12px;
}
@media (max-width: 720px) {
  .masthead, nav.toc, main, footer { padding-left: 16px; padding-right: 16px; }
  dl.facts { grid-template-columns: 1fr; gap: 0 0; }
  dl.facts dd { margin-bottom: 6px; }
}
@media print {
  @page { size: A4; margin: 14mm; }
  body { background: #fff; font-size: 10pt; }
  .page { margin: 0; border: 0; border-radius: 0; box-shadow: none; max-width: none; }
  .masthead, main, footer { padding-left: 0; padding-right: 0; }
  nav.toc { display: none; }
  h2, h3 { break-after: avoid; }
  tr, .fill, dl.facts { break-inside: avoid; }
  thead { display: table-header-group; }
  section { margin-top: 18px; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{id, log_entry, t};

    fn log(severity: Severity, title: &str) -> Vec<LogEntry> {
        crate::fixtures::every_kind(severity, title)
    }

    fn record(severity: Severity, title: &str) -> Record {
        Record::from_log(id(), log(severity, title))
    }

    fn section<'a>(html: &'a str, id: &str) -> &'a str {
        let start = html
            .find(&format!("<section id=\"{id}\">"))
            .unwrap_or_else(|| panic!("no section {id}"));
        let rest = &html[start..];
        &rest[..rest.find("</section>").unwrap_or(rest.len())]
    }

    #[test]
    fn every_entry_has_a_line_and_a_timeline_row_in_both_formats() {
        let r = record(Severity::S1, "Key of deploy-bot used from a malicious IP");
        let (md, html) = (markdown(&r, t(60)), html(&r, t(60)));
        assert_eq!(r.entries.len(), 15);
        let timeline = section(&html, "timeline");
        for e in &r.entries {
            let line = entry_line(e);
            assert!(!line.is_empty() && !line.contains('\n'), "{line:?}");
            assert!(
                timeline.contains(&format!("<td class=\"c-seq\">{}</td>", e.seq)),
                "seq {} missing from the HTML timeline",
                e.seq
            );
            assert!(
                md.contains(&format!("\n| {} | {} |", e.seq, second(e.at))),
                "seq {} missing from the Markdown timeline",
                e.seq
            );
        }
        let md_sections: Vec<&str> = md.lines().filter(|l| l.starts_with("## ")).collect();
        assert_eq!(
            md_sections,
            [
                "## Summary",
                "## Timeline",
                "## Actions and outcomes",
                "## Evidence",
                "## Deadlines",
                "## Corrective controls",
                "## Human steps",
                "## Root-cause analysis"
            ]
        );
        let mut at = 0;
        for id in SECTIONS {
            let pos = html[at..]
                .find(&format!("<section id=\"{id}\">"))
                .unwrap_or_else(|| panic!("section {id} missing or out of order"));
            at += pos;
        }
    }

    #[test]
    fn lines_say_what_each_kind_records() {
        let r = record(Severity::S1, "t");
        let lines: Vec<String> = r.entries.iter().map(entry_line).collect();
        assert!(lines[0].starts_with("opened as S1: t (GuardDuty finding UnauthorizedAccess"));
        assert!(
            lines[2]
                .starts_with("done deactivate_access_key AKIAIOSFODNN7EXAMPLE — key set Inactive"),
            "{}",
            lines[2]
        );
        assert!(lines[3].contains("failed deny_user deploy-bot — AccessDenied"));
        assert_eq!(
            lines[4],
            "manifest incidents/FB-x/manifest.json sha256 9f86d081884c… (2.0 KiB)"
        );
        assert_eq!(
            lines[5],
            "opened page to pager (message 5b1f0f5e-msg) for pages/opened.json"
        );
        assert!(lines[9].starts_with("acknowledged retrospective: held on Monday"));
        assert!(lines[12].contains("SCP denies long-term keys; MFA on every user"));
        assert!(lines[12].contains("GuardDuty finding 4ec8b6a7d2f1 archived"));
        assert_eq!(
            lines[13],
            "reminder page about notify-amazon for 2026-11-24T01 (message 77aa-msg)"
        );
        assert_eq!(
            lines[14],
            "drill FAILED: 1 of 2 checks passed; failed contain: every containment action dry \
             (summary page message 90be-msg)"
        );
    }

    #[test]
    fn the_rca_template_is_for_s1_only() {
        let s1 = record(Severity::S1, "t");
        let s3 = record(Severity::S3, "t");
        let html1 = html(&s1, t(60));
        let rca = section(&html1, "rca");
        for heading in [
            "Root cause",
            "Contributing factors",
            "Lessons",
            "Follow-ups",
        ] {
            assert!(rca.contains(&format!("<h3>{heading}</h3>")), "{heading}");
            assert!(markdown(&s1, t(60)).contains(&format!("### {heading}")));
        }
        assert_eq!(rca.matches("class=\"fill\"").count(), 4);
        assert!(!html(&s3, t(60)).contains("id=\"rca\""));
        assert!(!markdown(&s3, t(60)).contains("Root-cause analysis"));
    }

    #[test]
    fn log_text_is_escaped_and_nothing_is_fetched_or_run() {
        let r = record(Severity::S1, "<script>alert(1)</script> & \"quotes\" 'too'");
        let page = html(&r, t(60));
        assert!(page.starts_with("<!doctype html>"));
        assert!(page.contains("<meta charset=\"utf-8\">"));
        assert!(page.contains(
            "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot; &#39;too&#39;"
        ));
        assert!(!page.to_ascii_lowercase().contains("<script"));
        for banned in ["http://", "https://", "src=", "@import", "url("] {
            assert!(!page.contains(banned), "{banned}");
        }
        let md = markdown(&r, t(60));
        assert!(md.contains("\\<script\\>alert(1)\\</script\\>"));
        assert!(md.contains("not authorized \\| to PutUserPolicy"));
    }

    #[test]
    fn markdown_cells_stay_in_their_row() {
        let mut entries = log(Severity::S2, "title\n## injected heading | cell");
        entries.push(log_entry(
            16,
            t(700),
            "line\nbreak",
            Entry::Updated {
                event_key: "a|b\r\nc".into(),
            },
        ));
        let md = markdown(&Record::from_log(id(), entries), t(60));
        assert!(!md.lines().any(|l| l.starts_with("## injected")));
        let row = md
            .lines()
            .find(|l| l.starts_with("| 16 |"))
            .unwrap_or_default();
        assert!(row.ends_with(" |") && row.contains("`line break`"), "{row}");
        assert!(row.contains("a\\|b c"), "{row}");
        let widths: Vec<usize> = md
            .lines()
            .skip_while(|l| *l != "## Timeline")
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| l.replace("\\|", "").matches('|').count())
            .collect();
        assert_eq!(widths.len(), 18);
        assert!(widths.iter().all(|w| *w == 6), "{widths:?}");
    }

    #[test]
    fn deadlines_show_overdue() {
        // A day and a half after detection: the Amazon notice is overdue, the GDPR one runs.
        let r = record(Severity::S1, "t");
        let now = t(36 * 60);
        let page = html(&r, now);
        let deadlines = section(&page, "deadlines");
        assert!(deadlines.contains("<tr class=\"overdue\">"));
        assert!(deadlines.contains(">OVERDUE<") && deadlines.contains("by 12h 00m"));
        assert!(deadlines.contains("notify-amazon"));
        assert!(deadlines.contains(">acknowledged<"));
        let md = markdown(&r, now);
        assert!(
            md.contains("| 2026-11-24 03:14 UTC | **OVERDUE** by 12h 00m |"),
            "{md}"
        );
        assert!(md.contains("**gdpr-authority**"));
    }

    #[test]
    fn evidence_shows_full_hashes_and_controls_the_closing() {
        let r = record(Severity::S2, "t");
        let page = html(&r, t(60));
        let evidence = section(&page, "evidence");
        assert!(evidence.contains(
            "<span class=\"mono\">9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08</span>"
        ));
        assert!(evidence.contains("2.0 KiB") && evidence.contains("2027-11-23"));
        assert!(evidence.contains("Custody readings") && evidence.contains(">verify<"));
        let controls = section(&page, "controls");
        assert!(controls.contains("SCP denies long-term keys\nMFA on every user"));
        assert!(
            markdown(&r, t(60)).contains("> SCP denies long-term keys\n>\n> MFA on every user\n")
        );
        let open = Record::from_log(id(), log(Severity::S2, "t")[..3].to_vec());
        assert!(section(&html(&open, t(60)), "controls").contains("Not closed yet"));
        assert!(markdown(&open, t(60)).contains("Not closed yet"));
    }

    #[test]
    fn a_log_without_an_opening_still_renders() {
        let r = Record::from_log(id(), log(Severity::S1, "t")[8..9].to_vec());
        let page = html(&r, t(60));
        assert!(page.contains("no opening entry"));
        assert!(!page.contains("id=\"rca\""));
        assert!(markdown(&r, t(60)).contains("| 9 |"));
        let empty = Record::from_log(id(), Vec::new());
        assert!(html(&empty, t(0)).contains("The log holds no entries."));
    }

    #[test]
    fn drills_are_marked() {
        let mut entries = log(Severity::S2, "t");
        if let Entry::Opened { drill, .. } = &mut entries[0].entry {
            *drill = true;
        }
        let r = Record::from_log(id(), entries);
        assert!(html(&r, t(60)).contains("<span class=\"badge st-drill\">DRILL</span>"));
        assert!(markdown(&r, t(60)).contains("**DRILL**"));
    }
}
