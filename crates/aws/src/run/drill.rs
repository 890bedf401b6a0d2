//! `firebreak drill` and the monthly drill function: put a synthetic finding marked as a drill on
//! Firebreak's own bus (whose policy admits only Firebreak's roles and the named responder roles,
//! so nobody else can start a drill), so it takes the real path (rule → triage → contain, preserve, page) with
//! containment dry; wait for each stage's records in the drill incident's log; page a `[DRILL]`
//! summary; lock the verdict in the log, where the clock finds the date of the last passing one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use firebreak_core::lifecycle::drill::{self, Check};
use firebreak_core::record::Record;
use firebreak_core::render::page;
use firebreak_core::{Decision, Entry, IncidentId, Route, Triage};
use serde::Serialize;

use crate::sdk::error::AwsError;
use crate::service::eventbridge::Bus;
use crate::service::sns::Pager;
use crate::store::evidence::EvidenceStore;

/// A drill sent.
#[derive(Debug, Clone, Serialize)]
pub struct Started {
    /// The run (its start time, `%Y%m%dT%H%M%S`).
    pub run: String,
    /// The incident the drill opens.
    pub incident_id: IncidentId,
    /// EventBridge's id of the event put.
    pub event_id: String,
}

/// A drill's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The incident.
    pub incident_id: IncidentId,
    /// Stage by stage.
    pub checks: Vec<Check>,
    /// Every stage left its records.
    pub passed: bool,
    /// The `[DRILL]` summary page's message id.
    pub message_id: Option<String>,
    /// The verdict's log key; `None` when this drill already had one.
    pub logged: Option<String>,
}

/// Puts the drill event for `account` and `region` on `bus` (Firebreak's own); the incident it
/// will open (triaged here with the same rules, so the id is known before the pipeline runs).
pub async fn start(
    bus: &Bus,
    triage: &Triage,
    account: &str,
    region: &str,
    now: DateTime<Utc>,
) -> Result<Started, AwsError> {
    let run = now.format("%Y%m%dT%H%M%S").to_string();
    let raw = drill::event(&run, account, region, now);
    let incident_id = match triage.triage_json(&raw) {
        Ok(Decision::Incident(incident)) => incident.id,
        Ok(Decision::Ignored { reason }) => {
            return Err(AwsError::new(
                "DrillIgnored",
                format!("the rules ignore the drill event: {reason}"),
            ));
        }
        Err(e) => return Err(AwsError::new("DrillInvalid", e.to_string())),
    };
    let event_id = bus.put_event(&raw).await?;
    Ok(Started {
        run,
        incident_id,
        event_id,
    })
}

/// Waits up to `wait` (reading the log every `every`) for every stage's records of drill
/// incident `id`, then pages the summary and logs the verdict as `by`. A drill that already has
/// a verdict is reported as it was, without a second page.
pub async fn finish(
    store: &EvidenceStore,
    pager: &Pager,
    by: &str,
    id: &IncidentId,
    wait: Duration,
    every: Duration,
) -> Result<Verdict, AwsError> {
    let started = std::time::Instant::now();
    let record = loop {
        let record = match crate::store::log::record(store, id).await {
            Ok(r) => r,
            Err(e) if e.code == "NoSuchIncident" => Record::from_log(id.clone(), Vec::new()),
            Err(e) => return Err(e),
        };
        if drill::passed(&drill::checks(&record)) || started.elapsed() >= wait {
            break record;
        }
        tokio::time::sleep(every).await;
    };
    if let Some(Entry::Drill {
        passed,
        checks,
        message_id,
    }) = record
        .entries
        .iter()
        .map(|e| &e.entry)
        .find(|e| matches!(e, Entry::Drill { .. }))
    {
        return Ok(Verdict {
            incident_id: id.clone(),
            checks: checks.clone(),
            passed: *passed,
            message_id: message_id.clone(),
            logged: None,
        });
    }
    let checks = drill::checks(&record);
    let passed = drill::passed(&checks);
    // A drill whose triage never ran has no log to hold its verdict; the page says so.
    let opened = record.opening.is_some();
    let sent = crate::store::log::page_and_log(
        store,
        id,
        by,
        Box::pin(pager.send(Route::Pager, &page::drill_summary(&record, &checks))),
        |message_id| {
            opened.then(|| Entry::Drill {
                passed,
                checks: checks.clone(),
                message_id: Some(message_id),
            })
        },
        Utc::now(),
    )
    .await?;
    let (message_id, logged) = (Some(sent.message_id), sent.logged);
    Ok(Verdict {
        incident_id: id.clone(),
        checks,
        passed,
        message_id,
        logged,
    })
}
