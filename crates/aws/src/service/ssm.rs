//! Systems Manager Run Command: one shell script on one instance, waited for until a deadline.

use std::time::Duration;

use aws_sdk_ssm::types::CommandInvocationStatus;
use tokio::time::Instant;

use crate::sdk::error::AwsError;

/// AWS's own document for a shell script on Linux.
pub const SHELL_DOCUMENT: &str = "AWS-RunShellScript";

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

/// Runs `script` on `instance_id` with AWS-RunShellScript, told to stop after `seconds`, and
/// waits for its end until `deadline`.
pub async fn run_script(
    ssm: &aws_sdk_ssm::Client,
    instance_id: &str,
    script: &str,
    seconds: u32,
    comment: &str,
    deadline: Instant,
) -> Result<Ran, AwsError> {
    let sent = ssm
        .send_command()
        .document_name(SHELL_DOCUMENT)
        .instance_ids(instance_id)
        .parameters("commands", vec![script.to_string()])
        .parameters("executionTimeout", vec![seconds.to_string()])
        .timeout_seconds(seconds.max(30) as i32)
        .comment(comment)
        .send()
        .await;
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
                let tail: String = err.lines().rev().take(3).collect::<Vec<_>>().join(" / ");
                return Ok(Ran::Failed(format!("{} ({tail})", s.as_str())));
            }
            _ if Instant::now() >= deadline => return Ok(Ran::Unfinished),
            _ => {}
        }
    }
}
