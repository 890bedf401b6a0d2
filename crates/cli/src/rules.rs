//! `firebreak rules`: the rule table, playbooks and severity policy, as a reviewer reads them.

use std::io::Write;

use firebreak_core::Triage;
use firebreak_core::triage::coverage::Coverage;
use firebreak_core::triage::rules::Condition;
use firebreak_core::triage::{GUARDDUTY_PLAYBOOKS, SEVERITY_POLICY};

use crate::EXIT_OK;

/// How `firebreak rules` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Columns for a terminal, with the conditions the configuration turns off.
    Text,
    /// The IOC table as JSON.
    Json,
    /// The tables of `docs/rules.md`, which a test holds equal to this output.
    Markdown,
}

pub fn run(triage: &Triage, format: Format, out: &mut dyn Write) -> anyhow::Result<u8> {
    let rules = triage.rules().rules();
    if format == Format::Markdown {
        markdown(triage, out)?;
        return Ok(EXIT_OK);
    }
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, rules)?;
        writeln!(out)?;
        return Ok(EXIT_OK);
    }
    writeln!(out, "Runbook indicators of compromise (CloudTrail)")?;
    writeln!(
        out,
        "{:<38} {:<4} {:<28} {:<44} condition",
        "ioc", "sev", "source", "events"
    )?;
    for r in rules {
        let mut condition = r.condition.describe().to_string();
        if r.condition == Condition::AmiNotAllowed && triage.config().amis.allowed.is_empty() {
            condition.push_str(" (off: no allow-list configured)");
        }
        if matches!(
            r.condition,
            Condition::InviteOnlyPool | Condition::UnexpectedAdmin
        ) && triage.config().cognito.invite_only_pools.is_empty()
        {
            condition.push_str(" (off: no invite-only pool configured)");
        }
        let lines = wrap(&r.events, 44);
        let first = lines.first().map(String::as_str).unwrap_or_default();
        writeln!(
            out,
            "{:<38} {:<4} {:<28} {first:<44} {condition}",
            r.name,
            r.severity.to_string(),
            r.source
        )?;
        for more in lines.iter().skip(1) {
            writeln!(out, "{:<72} {more}", "")?;
        }
    }
    writeln!(
        out,
        "\nRoot use (CloudTrail, userIdentity.type = Root; invokedBy and AwsServiceEvent dropped)"
    )?;
    for (name, severity, when) in ROOT_USE {
        writeln!(out, "{name:<38} {severity:<4} {when}")?;
    }
    writeln!(
        out,
        "\nGuardDuty playbooks (by resource type and user type, never by severity alone)"
    )?;
    for (matcher, plan) in GUARDDUTY_PLAYBOOKS {
        writeln!(out, "{matcher:<28} {plan}")?;
    }
    writeln!(out, "\nSeverity policy")?;
    for (sev, rule) in SEVERITY_POLICY {
        writeln!(out, "{sev:<6} {rule}")?;
    }
    Ok(EXIT_OK)
}

/// `firebreak rules --coverage`: the ATT&CK techniques the rules detect, each with its rules, and
/// the IaaS techniques they do not, each with why.
pub fn coverage(triage: &Triage, format: Format, out: &mut dyn Write) -> anyhow::Result<u8> {
    let c = Coverage::builtin(triage.rules())?;
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &c)?;
            writeln!(out)?;
        }
        Format::Markdown => {
            writeln!(
                out,
                "### Covered: {} techniques\n\n| technique | name | tactic | rules |\n|---|---|---|---|",
                c.covered.len()
            )?;
            for t in &c.covered {
                writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    t.technique.id,
                    cell(&t.technique.name),
                    cell(&t.technique.tactic),
                    cell(&t.rules.join(", "))
                )?;
            }
            writeln!(
                out,
                "\n### Not covered: {} techniques\n\n| technique | name | why |\n|---|---|---|",
                c.uncovered.len()
            )?;
            for u in &c.uncovered {
                writeln!(out, "| {} | {} | {} |", u.id, cell(&u.name), cell(&u.why))?;
            }
            writeln!(
                out,
                "\n### Rules naming no technique\n\n{}",
                c.unmapped.join(", ")
            )?;
        }
        Format::Text => {
            writeln!(
                out,
                "MITRE ATT&CK techniques detected ({})",
                c.covered.len()
            )?;
            for t in &c.covered {
                writeln!(
                    out,
                    "{:<10} {:<60} {}",
                    t.technique.id,
                    t.technique.name,
                    t.rules.join(",")
                )?;
            }
            writeln!(out, "\nIaaS techniques not covered ({})", c.uncovered.len())?;
            for u in &c.uncovered {
                writeln!(out, "{:<10} {}\n{:<10} {}", u.id, u.name, "", u.why)?;
            }
            if !c.unmapped.is_empty() {
                writeln!(
                    out,
                    "\nRules naming no technique: {}",
                    c.unmapped.join(", ")
                )?;
            }
        }
    }
    Ok(EXIT_OK)
}

/// Root use, which is code rather than a row of `iocs.toml`: (rule, severity, when).
const ROOT_USE: [(&str, &str, &str); 4] = [
    ("root-console-sign-in", "S1", "successful console sign-in"),
    (
        "root-console-sign-in-failed",
        "S3",
        "failed console sign-in",
    ),
    ("root-activity", "S1", "any successful call"),
    (
        "root-activity-failed",
        "S3",
        "a call AWS refused (S1 when it also matches an IOC)",
    ),
];

/// A table cell: one line, `|` escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The rule table, root use, the GuardDuty playbooks and the severity policy as Markdown tables.
fn markdown(triage: &Triage, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "### Indicators of compromise (CloudTrail, `iocs.toml`)\n"
    )?;
    writeln!(
        out,
        "| ioc | severity | event source | events | condition |"
    )?;
    writeln!(out, "|---|---|---|---|---|")?;
    for r in triage.rules().rules() {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            cell(&r.name),
            r.severity,
            cell(&r.source),
            cell(&r.events.join(", ")),
            cell(r.condition.describe())
        )?;
    }
    writeln!(
        out,
        "\n### Root use (`userIdentity.type` = Root; `invokedBy` and service events dropped)\n"
    )?;
    writeln!(out, "| rule | severity | when |")?;
    writeln!(out, "|---|---|---|")?;
    for (name, severity, when) in ROOT_USE {
        writeln!(out, "| {name} | {severity} | {} |", cell(when))?;
    }
    writeln!(
        out,
        "\n### GuardDuty playbooks (by resource type and user type, never by severity alone)\n"
    )?;
    writeln!(out, "| finding | plan |")?;
    writeln!(out, "|---|---|")?;
    for (matcher, plan) in GUARDDUTY_PLAYBOOKS {
        writeln!(out, "| {} | {} |", cell(matcher), cell(plan))?;
    }
    writeln!(out, "\n### Severity policy\n")?;
    writeln!(out, "| severity | when |")?;
    writeln!(out, "|---|---|")?;
    for (severity, rule) in SEVERITY_POLICY {
        writeln!(out, "| {severity} | {} |", cell(rule))?;
    }
    Ok(())
}

/// Joins names with commas into lines of at most `width` characters (a longer name gets a line).
fn wrap(names: &[String], width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for name in names {
        match lines.last_mut() {
            Some(line) if line.len() + 1 + name.len() <= width => {
                line.push(',');
                line.push_str(name);
            }
            _ => lines.push(name.clone()),
        }
    }
    lines
}
