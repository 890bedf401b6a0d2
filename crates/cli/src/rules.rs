//! `firebreak rules`: the rule table, playbooks and severity policy, as a reviewer reads them.

use std::io::Write;

use firebreak_core::Triage;
use firebreak_core::rules::Condition;
use firebreak_core::triage::{GUARDDUTY_PLAYBOOKS, SEVERITY_POLICY};

use crate::EXIT_OK;

pub fn run(triage: &Triage, json: bool, out: &mut dyn Write) -> anyhow::Result<u8> {
    let rules = triage.rules().rules();
    if json {
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
    writeln!(
        out,
        "{:<38} S1   successful console sign-in",
        "root-console-sign-in"
    )?;
    writeln!(
        out,
        "{:<38} S3   failed console sign-in",
        "root-console-sign-in-failed"
    )?;
    writeln!(out, "{:<38} S1   any successful call", "root-activity")?;
    writeln!(
        out,
        "{:<38} S3   a call AWS refused (S1 when it also matches an IOC)",
        "root-activity-failed"
    )?;
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
