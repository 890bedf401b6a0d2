//! The deadline clock, run every hour: for each incident, the obligations due within six hours or
//! overdue and not acknowledged are paged again (once per incident and hour), and when no drill
//! has passed for six months the plan review is paged (once a day, on the run at
//! [`PLAN_REVIEW_HOUR`] UTC).

use chrono::{DateTime, Timelike, Utc};
use firebreak_core::record::{self, Record};
use firebreak_core::{Entry, IncidentId, Obligation, Route, drill, page};
use serde::Serialize;

use crate::error::AwsError;
use crate::evidence::EvidenceStore;
use crate::pager::Pager;

/// The hour (UTC) of the day's one plan-review page.
pub const PLAN_REVIEW_HOUR: u32 = 9;

/// What one run of the clock did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tick {
    /// Incidents read.
    pub incidents: usize,
    /// Reminders sent: incident, obligations, SNS message id.
    pub reminded: Vec<(IncidentId, Vec<Obligation>, String)>,
    /// Incidents whose reminder for this hour was already sent.
    pub already_reminded: Vec<IncidentId>,
    /// When the last drill passed.
    pub last_drill_passed: Option<DateTime<Utc>>,
    /// The plan-review page, when one was sent.
    pub plan_review: Option<String>,
    /// Incidents the clock could not read or remind, and why.
    pub errors: Vec<(IncidentId, String)>,
}

/// What a dry run reports instead of an SNS message id.
pub const NOT_SENT: &str = "(dry run: not sent)";

/// One run of the clock at `now`, appending as `by`. A `dry_run` decides the same and reports
/// it, but pages nobody and appends nothing (the message ids are [`NOT_SENT`]).
pub async fn tick(
    store: &EvidenceStore,
    pager: &Pager,
    by: &str,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Tick, AwsError> {
    let mut tick = Tick::default();
    for id in store.incident_ids().await? {
        let record = match crate::log::record(store, &id).await {
            Ok(r) => r,
            // Evidence without a log (written before logs existed): nothing to remind.
            Err(e) if e.code == "NoSuchIncident" => continue,
            Err(e) => {
                tick.errors.push((id, e.to_string()));
                continue;
            }
        };
        tick.incidents += 1;
        if let Some(at) = drill::passed_at(&record) {
            tick.last_drill_passed = tick.last_drill_passed.max(Some(at));
        }
        if let Err(e) = remind(store, pager, by, &record, now, dry_run, &mut tick).await {
            tick.errors.push((id, e.to_string()));
        }
    }
    if now.hour() == PLAN_REVIEW_HOUR && drill::plan_review_due(tick.last_drill_passed, now) {
        tick.plan_review = Some(if dry_run {
            NOT_SENT.to_string()
        } else {
            let message = page::plan_review(tick.last_drill_passed, now);
            pager.send(Route::Ticket, &message).await?
        });
    }
    Ok(tick)
}

async fn remind(
    store: &EvidenceStore,
    pager: &Pager,
    by: &str,
    record: &Record,
    now: DateTime<Utc>,
    dry_run: bool,
    tick: &mut Tick,
) -> Result<(), AwsError> {
    let due = record.reminders(now);
    if due.is_empty() {
        return Ok(());
    }
    let hour = record::reminder_hour(now);
    let sent = record
        .entries
        .iter()
        .any(|e| matches!(&e.entry, Entry::Reminder { hour: h, .. } if *h == hour));
    if sent {
        tick.already_reminded.push(record.id.clone());
        return Ok(());
    }
    // An obligation must reach a human: an incident routed to the record only is reminded by
    // ticket.
    let route = match record.opening.as_ref().map(|o| o.severity.route()) {
        Some(Route::Pager) => Route::Pager,
        _ => Route::Ticket,
    };
    let obligations: Vec<Obligation> = due.iter().map(|d| d.obligation).collect();
    if dry_run {
        tick.reminded
            .push((record.id.clone(), obligations, NOT_SENT.to_string()));
        return Ok(());
    }
    let message = page::reminder(record, &due, now);
    let message_id = pager.send(route, &message).await?;
    crate::log::append(
        store,
        &record.id,
        by,
        vec![Entry::Reminder {
            obligations: obligations.clone(),
            hour,
            message_id: message_id.clone(),
        }],
        now,
    )
    .await?;
    tick.reminded
        .push((record.id.clone(), obligations, message_id));
    Ok(())
}
