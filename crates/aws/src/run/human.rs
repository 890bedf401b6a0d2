//! The steps only a human takes, written to the incident log as that human: acknowledging an
//! obligation, confirming a personal-data breach, closing the incident. Each is appended once; a
//! repeat reports the first and appends nothing.

use chrono::Utc;
use firebreak_core::record::Record;
use firebreak_core::{Entry, IncidentId, Obligation, Source};

use crate::effect::Responder;
use crate::sdk::error::AwsError;
use crate::service::guardduty;

/// What a human step did.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// The incident after the step.
    pub record: Record,
    /// The log key appended; `None` when the step was already in the log, or on a dry run.
    pub appended: Option<String>,
    /// What happened besides the entry (the finding archived, or why it was not).
    pub notes: Vec<String>,
    /// Something the step had to do failed (the finding could not be archived).
    pub failed: bool,
}

async fn opened(responder: &Responder, id: &IncidentId) -> Result<Record, AwsError> {
    let record = crate::store::log::record(&responder.evidence, id).await?;
    if record.opening.is_none() {
        return Err(AwsError::new(
            "NoSuchIncident",
            format!("incident {id} has a log but no opening entry"),
        ));
    }
    Ok(record)
}

async fn append(
    responder: &Responder,
    id: &IncidentId,
    entry: Entry,
) -> Result<StepResult, AwsError> {
    let mut appended = None;
    if !responder.dry_run {
        appended = crate::store::log::append(
            &responder.evidence,
            id,
            &responder.collector.identity,
            vec![entry],
            Utc::now(),
        )
        .await?
        .into_iter()
        .next();
    }
    Ok(StepResult {
        record: crate::store::log::record(&responder.evidence, id).await?,
        appended,
        notes: Vec::new(),
        failed: false,
    })
}

/// `firebreak ack`: `obligation` of incident `id` is met; the clock stops paging about it. An
/// obligation the incident does not carry is refused (`NotAnObligation`).
pub async fn acknowledge(
    responder: &Responder,
    id: &IncidentId,
    obligation: Obligation,
    note: Option<String>,
) -> Result<StepResult, AwsError> {
    let record = opened(responder, id).await?;
    if !record.obligations().contains(&obligation) {
        let carried: Vec<&str> = record.obligations().iter().map(|o| o.as_str()).collect();
        return Err(AwsError::new(
            "NotAnObligation",
            format!(
                "incident {id} carries no {} obligation (it carries: {}){}",
                obligation.as_str(),
                carried.join(", "),
                if obligation == Obligation::GdprAuthority {
                    "; a personal-data breach is confirmed with `firebreak confirm-breach`"
                } else {
                    ""
                }
            ),
        ));
    }
    append(responder, id, Entry::Acknowledged { obligation, note }).await
}

/// `firebreak confirm-breach`: a human confirmed a personal-data breach; the GDPR 72-hour clock
/// starts now.
pub async fn confirm_breach(
    responder: &Responder,
    id: &IncidentId,
    note: Option<String>,
) -> Result<StepResult, AwsError> {
    opened(responder, id).await?;
    append(responder, id, Entry::BreachConfirmed { note }).await
}

/// `firebreak close`: records the corrective controls and starts the retrospective clock. When
/// the incident came from a GuardDuty finding (not a drill), the finding is archived first; a
/// finding that cannot be archived is reported (`failed`) and the incident is closed all the
/// same, since the closing is a human's decision and the finding stays visible in GuardDuty.
pub async fn close(
    responder: &Responder,
    id: &IncidentId,
    controls: &str,
) -> Result<StepResult, AwsError> {
    if controls.trim().is_empty() {
        return Err(AwsError::new(
            "InvalidInput",
            "name the corrective controls put in place (--controls \"…\")",
        ));
    }
    let record = opened(responder, id).await?;
    if let Some((step, _)) = &record.closed {
        return Ok(StepResult {
            notes: vec![format!(
                "already closed by {} at {}",
                step.by,
                step.at.format("%Y-%m-%d %H:%M UTC")
            )],
            record,
            appended: None,
            failed: false,
        });
    }
    let mut notes = Vec::new();
    let mut failed = false;
    let mut archived_finding = None;
    let finding = match record.opening.as_ref().map(|o| &o.source) {
        Some(Source::GuardDuty {
            finding_id,
            detector_id: Some(detector),
            ..
        }) if !record.is_drill() => Some((detector.clone(), finding_id.clone())),
        _ => None,
    };
    if let Some((detector, finding_id)) = finding {
        if responder.dry_run {
            notes.push(format!(
                "would archive GuardDuty finding {finding_id} (detector {detector})"
            ));
        } else {
            match guardduty::archive_finding(&responder.home.guardduty, &detector, &finding_id)
                .await
            {
                Ok(()) => {
                    notes.push(format!("archived GuardDuty finding {finding_id}"));
                    archived_finding = Some(finding_id);
                }
                Err(e) => {
                    failed = true;
                    notes.push(format!(
                        "GuardDuty finding {finding_id} NOT archived: {e}; archive it by hand"
                    ));
                }
            }
        }
    }
    let mut result = append(
        responder,
        id,
        Entry::Closed {
            controls: controls.trim().to_string(),
            archived_finding,
        },
    )
    .await?;
    result.notes = notes;
    result.failed = failed;
    Ok(result)
}
