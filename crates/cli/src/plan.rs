//! `firebreak plan`: triage every input event and print its plan.

use std::collections::HashSet;
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;

use firebreak_core::{Deadline, Decision, Incident, Principal, Severity, Triage};
use serde::Serialize;

use crate::input::{events, sources};
use crate::{EXIT_BAD_INPUT, EXIT_OK};

/// One line of `--json` output: one per input event.
#[derive(Serialize)]
struct PlanLine<'a> {
    file: &'a str,
    line: usize,
    incident_id: Option<&'a str>,
    ignored: bool,
    reason: Option<&'a str>,
    error: Option<String>,
    severity: Option<Severity>,
    severity_reason: Option<&'a str>,
    title: Option<&'a str>,
    update: bool,
    occurrence: Option<u64>,
    account: Option<&'a str>,
    region: Option<&'a str>,
    principal: Option<&'a Principal>,
    iocs: &'a [String],
    actions: Vec<ActionLine<'a>>,
    notes: &'a [String],
    human_steps: &'a [String],
    deadlines: &'a [Deadline],
    drill: bool,
}

/// An action as the plan line shows it; the typed fields stay in the incident record.
#[derive(Serialize)]
struct ActionLine<'a> {
    kind: &'static str,
    target: &'a str,
    mode: &'static str,
    reason: &'a str,
}

impl<'a> PlanLine<'a> {
    fn empty(file: &'a str, line: usize) -> Self {
        PlanLine {
            file,
            line,
            incident_id: None,
            ignored: false,
            reason: None,
            error: None,
            severity: None,
            severity_reason: None,
            title: None,
            update: false,
            occurrence: None,
            account: None,
            region: None,
            principal: None,
            iocs: &[],
            actions: Vec::new(),
            notes: &[],
            human_steps: &[],
            deadlines: &[],
            drill: false,
        }
    }
}

pub fn run(
    triage: &Triage,
    files: &[PathBuf],
    json: bool,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    let mut out = BufWriter::with_capacity(1 << 16, stdout);
    let mut seen = HashSet::new();
    let mut failures = 0usize;
    for source in sources(files, stdin) {
        let source = match source {
            Ok(s) => s,
            Err((name, why)) => {
                writeln!(stderr, "firebreak: {name}: {why}")?;
                failures += 1;
                continue;
            }
        };
        for event in events(&source.text) {
            let name = source.name.as_str();
            match triage.triage_json(event.text) {
                Ok(decision) => {
                    let update = match &decision {
                        Decision::Incident(i) => !seen.insert(i.id.clone()) || i.is_update(),
                        Decision::Ignored { .. } => false,
                    };
                    if json {
                        serde_json::to_writer(
                            &mut out,
                            &line_of(name, event.line, &decision, update),
                        )?;
                        out.write_all(b"\n")?;
                    } else {
                        write_text(&mut out, name, event.line, &decision, update)?;
                    }
                }
                Err(e) => {
                    failures += 1;
                    // Positions in the error are relative to the event; make them relative to the file.
                    let message = match &e {
                        firebreak_core::Error::Json {
                            path,
                            message,
                            line,
                            column,
                        } => format!(
                            "{name}:{}:{column}: {path}: {message}",
                            event.line + line.saturating_sub(1)
                        ),
                        other => format!("{name}:{}: {other}", event.line),
                    };
                    writeln!(stderr, "firebreak: {message}")?;
                    if json {
                        let mut line = PlanLine::empty(name, event.line);
                        line.error = Some(e.to_string());
                        serde_json::to_writer(&mut out, &line)?;
                        out.write_all(b"\n")?;
                    }
                }
            }
        }
    }
    out.flush()?;
    Ok(if failures == 0 {
        EXIT_OK
    } else {
        EXIT_BAD_INPUT
    })
}

fn line_of<'a>(file: &'a str, line: usize, decision: &'a Decision, update: bool) -> PlanLine<'a> {
    let mut out = PlanLine::empty(file, line);
    match decision {
        Decision::Ignored { reason } => {
            out.ignored = true;
            out.reason = Some(reason);
        }
        Decision::Incident(i) => {
            let i: &Incident = i;
            out.incident_id = Some(i.id.as_str());
            out.reason = Some(&i.severity_reason);
            out.severity = Some(i.severity);
            out.severity_reason = Some(&i.severity_reason);
            out.title = Some(&i.title);
            out.update = update;
            out.occurrence = Some(i.occurrence);
            out.account = Some(&i.account);
            out.region = Some(&i.region);
            out.principal = i.principal.as_ref();
            out.iocs = &i.iocs;
            out.actions = i
                .plan
                .iter()
                .map(|a| ActionLine {
                    kind: a.action.kind(),
                    target: &a.target,
                    mode: a.mode.as_str(),
                    reason: &a.reason,
                })
                .collect();
            out.notes = &i.notes;
            out.human_steps = &i.human_steps;
            out.deadlines = &i.deadlines;
            out.drill = i.drill;
        }
    }
    out
}

fn write_text(
    out: &mut dyn Write,
    file: &str,
    line: usize,
    decision: &Decision,
    update: bool,
) -> std::io::Result<()> {
    let at = if line > 1 {
        format!("{file}:{line}")
    } else {
        file.to_string()
    };
    match decision {
        Decision::Ignored { reason } => writeln!(out, "{at}: ignored: {reason}\n"),
        Decision::Incident(i) => {
            let kind = if update {
                format!("update (occurrence {})", i.occurrence)
            } else {
                "new incident".to_string()
            };
            writeln!(
                out,
                "{at}: {} {} {kind}{}",
                i.id,
                i.severity,
                if i.drill { " [DRILL]" } else { "" }
            )?;
            writeln!(out, "  {}", i.title)?;
            writeln!(
                out,
                "  account {} {} · route {} · {}",
                i.account, i.region, i.route, i.severity_reason
            )?;
            writeln!(out, "  iocs: {}", i.iocs.join(", "))?;
            // Numbered as outcomes, pages and `approve --action` number them: the plan index.
            for (n, action) in i.plan.iter().enumerate() {
                writeln!(out, "  {n:>2}. {action}")?;
            }
            for note in &i.notes {
                writeln!(out, "  note: {note}")?;
            }
            for step in &i.human_steps {
                writeln!(out, "  human: {step}")?;
            }
            for d in i.deadlines.iter().filter(|d| d.due.is_some()) {
                if let Some(due) = d.due {
                    writeln!(
                        out,
                        "  due {}: {:?}",
                        due.format("%Y-%m-%d %H:%M UTC"),
                        d.obligation
                    )?;
                }
            }
            writeln!(out)
        }
    }
}
