//! Systems Manager Run Command: Firebreak's own document, checked before it runs, on one
//! instance, waited for until a deadline.

use std::time::Duration;

use aws_sdk_ssm::types::{CommandInvocationStatus, DocumentFormat, DocumentStatus, DocumentType};
use firebreak_core::action::memory;
use tokio::time::Instant;

use crate::sdk::error::AwsError;

/// The deployed document, as Firebreak found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deployed {
    /// It runs what Firebreak's runs: this version, and only it, is sent.
    Version(String),
    /// There is none by that name in this account and region.
    Missing(String),
    /// It is not an active command document, or differs from Firebreak's: it is never run.
    Changed,
}

/// The default version of document `name`, if it is an active command document and all of it
/// but its description is `expected`.
/// Sending that version (versions never change) runs exactly what was checked.
pub async fn checked_document(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    expected: &serde_json::Value,
) -> Result<Deployed, AwsError> {
    let got = ssm
        .get_document()
        .name(name)
        .document_format(DocumentFormat::Json)
        .send()
        .await;
    let got = match got {
        Ok(got) => got,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_invalid_document()) =>
        {
            let why = e.as_service_error().and_then(|e| e.meta().message());
            return Ok(Deployed::Missing(
                why.unwrap_or("InvalidDocument").to_string(),
            ));
        }
        Err(e) => return Err(AwsError::from_sdk(e)),
    };
    let content: Option<serde_json::Value> =
        got.content().and_then(|c| serde_json::from_str(c).ok());
    let command = got.document_type() == Some(&DocumentType::Command)
        && got.status() == Some(&DocumentStatus::Active);
    match (content, got.document_version()) {
        (Some(content), Some(version))
            if command && memory::what_runs(&content) == memory::what_runs(expected) =>
        {
            Ok(Deployed::Version(version.to_string()))
        }
        _ => Ok(Deployed::Changed),
    }
}

/// How a command ended on the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// The instance has no SSM agent online (or is no managed instance): nothing was sent.
    NoAgent(String),
    /// The script ran and exited 0; its standard output (SSM keeps the first 24,000 characters).
    Succeeded(String),
    /// It failed, timed out or was cancelled: the status and the end of its error output.
    Failed(String),
    /// It was still running at the deadline (it is told to stop by then itself).
    Unfinished,
}

/// Where a command runs: document `name` at `version`, on `instance_id`.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The document's name.
    pub name: &'a str,
    /// The version that was checked.
    pub version: &'a str,
    /// The instance.
    pub instance_id: &'a str,
}

/// Runs `target` with `parameters` (the document itself stops after its `Seconds`), and waits
/// for its end until `deadline`.
pub async fn run_document(
    ssm: &aws_sdk_ssm::Client,
    target: Target<'_>,
    parameters: &[(&str, String)],
    comment: &str,
    deadline: Instant,
) -> Result<Ran, AwsError> {
    let instance_id = target.instance_id;
    let mut send = ssm
        .send_command()
        .document_name(target.name)
        .document_version(target.version)
        .instance_ids(instance_id)
        .timeout_seconds(
            deadline
                .saturating_duration_since(Instant::now())
                .as_secs()
                .clamp(30, 2_592_000) as i32,
        )
        .comment(comment);
    for (name, value) in parameters {
        send = send.parameters(*name, vec![value.clone()]);
    }
    let sent = send.send().await;
    let sent = match sent {
        Ok(sent) => sent,
        // SSM refuses a command to an instance whose agent is not registered and online.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_invalid_instance_id()) =>
        {
            let why = e.as_service_error().and_then(|e| e.meta().message());
            return Ok(Ran::NoAgent(why.unwrap_or("InvalidInstanceId").to_string()));
        }
        Err(e) => return Err(AwsError::from_sdk(e)),
    };
    let command_id = sent
        .command()
        .and_then(|c| c.command_id())
        .ok_or_else(|| AwsError::new("ResponseError", "SendCommand returned no command id"))?
        .to_string();
    let mut pause = Duration::from_millis(250);
    loop {
        tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
        pause = (pause * 2).min(Duration::from_secs(5));
        let read = ssm
            .get_command_invocation()
            .command_id(&command_id)
            .instance_id(instance_id)
            .send()
            .await;
        let invocation = match read {
            Ok(invocation) => invocation,
            // Just after SendCommand the invocation may not be readable yet.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_invocation_does_not_exist())
                    && Instant::now() < deadline =>
            {
                continue;
            }
            Err(e) => return Err(AwsError::from_sdk(e)),
        };
        let status = invocation.status().cloned();
        match status {
            Some(CommandInvocationStatus::Success) => {
                return Ok(Ran::Succeeded(
                    invocation
                        .standard_output_content()
                        .unwrap_or("")
                        .to_string(),
                ));
            }
            Some(
                s @ (CommandInvocationStatus::Failed
                | CommandInvocationStatus::TimedOut
                | CommandInvocationStatus::Cancelled),
            ) => {
                let err = invocation.standard_error_content().unwrap_or("");
                return Ok(Ran::Failed(format!(
                    "{} (the instance says: {})",
                    s.as_str(),
                    instance_says(err)
                )));
            }
            _ if Instant::now() >= deadline => return Ok(Ran::Unfinished),
            _ => {}
        }
    }
}

/// The end of what an instance printed, as text a page may carry: the last three lines, control
/// characters dropped, at most 300 characters. The instance's to write: never more than a clue.
pub fn instance_says(err: &str) -> String {
    let mut lines: Vec<&str> = err.lines().rev().take(3).collect();
    lines.reverse();
    let text: String = lines
        .join(" / ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    match text.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::instance_says;

    #[test]
    fn what_an_instance_says_is_short_and_plain() {
        assert_eq!(instance_says("a\nb\nc\nd"), "b / c / d");
        assert_eq!(instance_says("x\u{1b}[31my\r"), "x[31my");
        assert_eq!(instance_says(&"é".repeat(400)).chars().count(), 301);
    }
}
