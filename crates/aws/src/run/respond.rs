//! The responder: executes an incident's plan in order, preserves evidence with a chain of
//! custody, then pages with what was done. Every action ends `done` only when AWS said so.

use chrono::{DateTime, Utc};
use firebreak_core::IncidentId;
use firebreak_core::record::release::OriginalGroups;
use firebreak_core::render::page;
use firebreak_core::{Action, ActionOutcome, Entry, Incident, Mode, PageKind, Stage, Status};

use crate::effect::{Responder, Run, failed, missing, outcome};
use crate::sdk::error::AwsError;
use crate::store::evidence::{EvidenceStore, Item, Manifest};
use crate::store::format::OutcomesRecord;

/// Written by the preserve stage once it has attempted an incident's instance steps
/// (termination protection, memory, snapshots); the contain stage changes those instances
/// only after it exists, or after the bound of [`Responder::instances_preserved`].
pub const INSTANCES_PRESERVED: &str = "steps/instances-preserved.json";

/// The instances whose evidence the preserve stage takes first: the contain stage waits for it
/// before cutting their credentials or network (what the memory capture needs).
fn preserved_first(incident: &Incident) -> std::collections::BTreeSet<&str> {
    incident
        .plan
        .iter()
        .filter_map(|p| match &p.action {
            Action::ProtectInstance { instance_id }
            | Action::CaptureMemory { instance_id }
            | Action::SnapshotVolumes { instance_id } => Some(instance_id.as_str()),
            _ => None,
        })
        .collect()
}

/// What a response did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Response {
    /// Incident.
    pub incident_id: IncidentId,
    /// One outcome per planned action, in plan order.
    pub outcomes: Vec<ActionOutcome>,
    /// Where the evidence is.
    pub evidence_location: String,
    /// The manifest written, if any.
    pub manifest: Option<Item>,
    /// Evidence items written (or found already written).
    pub items: Vec<Item>,
    /// SNS message id of the page, if sent.
    pub page_message_id: Option<String>,
    /// Security groups the isolated ENIs had, for a later release.
    pub original_groups: Vec<OriginalGroups>,
    /// Why the contain stage's outcomes could not be locked in the evidence store, if they
    /// could not (the preserve stage reports this as its own action's outcome instead).
    #[serde(skip)]
    pub record_error: Option<AwsError>,
    /// Incident log entries appended by this response.
    pub logged: Vec<String>,
    /// Why the incident log could not be appended to, if it could not (a function fails as
    /// retryable; the CLI reports it).
    #[serde(skip)]
    pub log_error: Option<AwsError>,
}

impl Response {
    /// True when any action failed.
    pub fn any_failed(&self) -> bool {
        self.outcomes.iter().any(|o| o.status.is_failure())
    }
}

impl Responder {
    /// Executes the plan of `incident`, triggered by `source_event` (kept as evidence).
    pub async fn respond(&self, incident: &Incident, source_event: &str) -> Response {
        self.respond_stage(incident, source_event, Stage::All).await
    }

    /// Executes the actions of `incident`'s plan that `stage` owns. The contain stage locks its
    /// outcomes (and the groups it replaced) in the evidence store under a manifest of its own.
    pub async fn respond_stage(
        &self,
        incident: &Incident,
        source_event: &str,
        stage: Stage,
    ) -> Response {
        let now = Utc::now();
        let mut outcomes: Vec<ActionOutcome> = Vec::with_capacity(incident.plan.len());
        let mut run = Run::new();
        let targets = Box::pin(self.targets(incident, stage)).await;
        let mut preserve_at = None;
        let mut page_at = None;
        // Deployed, contain and preserve run at once: contain cuts an instance's credentials and
        // network only once preserve has attempted its evidence; everything else at once, first.
        let instances = preserved_first(incident);
        // Out of its group and load balancers, and tagged, at once: none of that cuts the agent.
        let waits = |action: &Action| {
            stage == Stage::Contain
                && !self.dry_run
                && !incident.drill
                && match action {
                    Action::QuarantineInstanceProfile { instance_id, .. }
                    | Action::RevokeInstanceProfileSessions { instance_id, .. }
                    | Action::IsolateInstance { instance_id } => {
                        instances.contains(instance_id.as_str())
                    }
                    _ => false,
                }
        };
        let order: Vec<usize> = (0..incident.plan.len())
            .filter(|&i| !waits(&incident.plan[i].action))
            .chain((0..incident.plan.len()).filter(|&i| waits(&incident.plan[i].action)))
            .collect();
        let mut gate: Option<Option<String>> = None;
        let mut marked = false;
        for index in order {
            let planned = &incident.plan[index];
            if !stage.owns(&planned.action) {
                continue;
            }
            if stage == Stage::Preserve
                && !marked
                && !instances.is_empty()
                && matches!(planned.action, Action::PreserveEvidence)
            {
                marked = true;
                Box::pin(self.mark_instances_preserved(incident)).await;
            }
            if planned.mode == Mode::Auto && waits(&planned.action) && gate.is_none() {
                gate = Some(Box::pin(self.instances_preserved(incident)).await);
            }
            let status = match planned.mode {
                Mode::Off => Status::Off,
                Mode::Approve => Status::AwaitingApproval,
                Mode::Auto => match &planned.action {
                    Action::Page { .. } => {
                        page_at = Some(index);
                        continue;
                    }
                    Action::PreserveEvidence if self.dry_run => Status::DryRun {
                        would: "lock the event, the incident, resource state and activity in the evidence store".into(),
                    },
                    Action::PreserveEvidence => {
                        preserve_at = Some(index);
                        // Failures are recorded in `run` and reported when evidence closes.
                        Box::pin(self.preserve(targets.preserve(), incident, source_event, now, &mut run)).await;
                        continue;
                    }
                    action => self.run_action(targets.of(action), incident, action, now, &mut run).await,
                },
            };
            let status = match (status, gate.as_ref().and_then(|g| g.as_deref())) {
                (Status::Done { detail }, Some(late)) if waits(&planned.action) => Status::Done {
                    detail: format!("{detail} ({late})"),
                },
                (status, _) => status,
            };
            tracing::info!(incident_id = %incident.id, action = planned.action.kind(), outcome = status.word(), "action");
            let changes = std::mem::take(&mut run.changes);
            outcomes.push(outcome(index, planned, status, changes));
        }
        if stage == Stage::Preserve && !marked && !instances.is_empty() {
            Box::pin(self.mark_instances_preserved(incident)).await;
        }
        outcomes.sort_by_key(|o| o.index);
        // Evidence is closed after containment so the manifest lists every outcome.
        if let Some(index) = preserve_at {
            let status = Box::pin(self.close_evidence(incident, &outcomes, now, &mut run)).await;
            tracing::info!(incident_id = %incident.id, action = "preserve_evidence", outcome = status.word(), "action");
            outcomes.push(outcome(index, &incident.plan[index], status, Vec::new()));
            outcomes.sort_by_key(|o| o.index);
        }
        let mut record_error = None;
        if stage == Stage::Contain && !self.dry_run && !outcomes.is_empty() {
            if let Status::Failed { code, message } =
                Box::pin(self.close_evidence(incident, &outcomes, now, &mut run)).await
            {
                record_error = Some(AwsError::new(&code, message));
            }
        }
        let mut page_message_id = None;
        let mut page_entry = None;
        if let Some(index) = page_at {
            let planned = &incident.plan[index];
            let status = if self.dry_run {
                Status::DryRun {
                    would: "publish the page to the route's SNS topic".into(),
                }
            } else {
                let kind = if incident.is_update() {
                    PageKind::Updated
                } else {
                    PageKind::Opened
                };
                let message = page::compose(
                    incident,
                    &outcomes,
                    kind,
                    &self.evidence.location(&incident.id),
                );
                let route = match planned.action {
                    Action::Page { route } => route,
                    _ => incident.route,
                };
                match self.pager.send(route, &message).await {
                    Ok(id) => {
                        let detail = format!("message {id} to the {route} topic");
                        page_entry = Some((kind, route, id.clone()));
                        page_message_id = Some(id);
                        Status::Done { detail }
                    }
                    Err(e) => failed(&e),
                }
            };
            tracing::info!(incident_id = %incident.id, action = "page", outcome = status.word(), "action");
            outcomes.push(outcome(index, planned, status, Vec::new()));
        }
        let manifest = run
            .items
            .iter()
            .rev()
            .find(|i| i.kind == "manifest")
            .cloned();
        let (logged, log_error) = if self.dry_run {
            (Vec::new(), None)
        } else {
            let entries = self.log_entries(incident, stage, &outcomes, &run.items, page_entry);
            match crate::store::log::append(
                &self.evidence,
                &incident.id,
                &self.collector.identity,
                entries,
                Utc::now(),
            )
            .await
            {
                Ok(keys) => (keys, None),
                Err(e) => {
                    tracing::error!(incident_id = %incident.id, error = %e.code, "incident log");
                    (Vec::new(), Some(e))
                }
            }
        };
        Response {
            incident_id: incident.id.clone(),
            outcomes,
            evidence_location: self.evidence.location(&incident.id),
            manifest,
            items: run.items,
            page_message_id,
            original_groups: run.original_groups,
            record_error,
            logged,
            log_error,
        }
    }

    /// Says that this incident's instance steps were attempted (not that they succeeded: their
    /// outcomes say that). A failure to say so only makes the contain stage wait its bound.
    async fn mark_instances_preserved(&self, incident: &Incident) {
        if self.dry_run {
            return;
        }
        let body = serde_json::json!({ "incident_id": incident.id, "by": self.collector.identity });
        if let Err(e) = self
            .evidence
            .put_if_absent(
                &incident.id,
                INSTANCES_PRESERVED,
                body.to_string().into_bytes(),
                Utc::now(),
            )
            .await
        {
            tracing::warn!(incident_id = %incident.id, error = %e.code, "instances preserved mark");
        }
    }

    /// Waits until the preserve stage has attempted the incident's instance steps, at most the
    /// memory bound and a minute for the rest; past it, says so (containment does not wait for
    /// evidence forever).
    async fn instances_preserved(&self, incident: &Incident) -> Option<String> {
        // The memory bound only where memory is captured.
        let memory = match self.config.evidence.memory_tool_sha256.is_empty() {
            true => 0,
            false => u64::from(self.config.evidence.memory_seconds),
        };
        let bound = std::time::Duration::from_secs(memory + 60);
        let deadline = tokio::time::Instant::now() + bound;
        let key = format!(
            "{}{INSTANCES_PRESERVED}",
            EvidenceStore::prefix(&incident.id)
        );
        let mut pause = std::time::Duration::from_millis(200);
        let mut failed = None;
        loop {
            match self.evidence.exists(&key).await {
                Ok(true) => return None,
                Ok(false) => {}
                // Said once, with AWS's code: a read that keeps failing waits out the bound.
                Err(e) if failed.is_none() => {
                    tracing::warn!(incident_id = %incident.id, error = %e.code, "cannot read whether the instances are preserved");
                    failed = Some(e.code);
                }
                Err(_) => {}
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(incident_id = %incident.id, "instances not preserved in time");
                let why = failed
                    .map(|code| format!(" (reading its mark failed: {code})"))
                    .unwrap_or_default();
                return Some(format!(
                    "after waiting {} s for the preserve stage to take the instance's evidence, \
                     which it never confirmed{why}",
                    bound.as_secs()
                ));
            }
            tokio::time::sleep(
                pause.min(deadline.saturating_duration_since(tokio::time::Instant::now())),
            )
            .await;
            pause = (pause * 2).min(std::time::Duration::from_secs(2));
        }
    }

    /// What a response adds to the incident log, in order: the opening (a whole response
    /// only: the deployed triage function logs it otherwise), every evidence item, every
    /// outcome in plan order, the page.
    fn log_entries(
        &self,
        incident: &Incident,
        stage: Stage,
        outcomes: &[ActionOutcome],
        items: &[Item],
        page: Option<(PageKind, firebreak_core::Route, String)>,
    ) -> Vec<Entry> {
        let event_key = items
            .iter()
            .find(|i| i.kind == "source-event")
            .map(|i| i.key.clone())
            .unwrap_or_default();
        let mut entries = Vec::new();
        if stage == Stage::All {
            // The first event Firebreak sees of an incident opens it, even a re-emit (GuardDuty
            // count above 1); the log skips the opening when it already holds one.
            entries.push(Entry::opened(incident, &event_key));
            if incident.is_update() {
                entries.push(Entry::Updated {
                    event_key: event_key.clone(),
                });
            }
        }
        entries.extend(items.iter().map(crate::store::log::evidence));
        let mut sorted: Vec<&ActionOutcome> = outcomes.iter().collect();
        sorted.sort_by_key(|o| o.index);
        entries.extend(
            sorted
                .into_iter()
                .map(|o| Entry::Action { outcome: o.clone() }),
        );
        if let Some((page_kind, route, message_id)) = page {
            entries.push(Entry::Page {
                page_kind,
                route,
                message_id,
                about: format!("respond {event_key}"),
            });
        }
        entries
    }

    /// Executes action `index` of the incident's plan now, because a human approved it: the
    /// same guard, dry-run and drill rules as a response. `None` when the plan has no such action.
    pub async fn execute_approved(
        &self,
        incident: &Incident,
        index: usize,
    ) -> Option<ActionOutcome> {
        let planned = incident.plan.get(index)?;
        let now = Utc::now();
        let mut run = Run::new();
        let targets = self.targets(incident, Stage::All).await;
        let status = self
            .run_action(
                targets.of(&planned.action),
                incident,
                &planned.action,
                now,
                &mut run,
            )
            .await;
        tracing::info!(incident_id = %incident.id, action = planned.action.kind(), outcome = status.word(), "approved action");
        Some(outcome(index, planned, status, run.changes))
    }

    async fn close_evidence(
        &self,
        incident: &Incident,
        outcomes: &[ActionOutcome],
        now: DateTime<Utc>,
        run: &mut Run,
    ) -> Status {
        if let Some(e) = &run.evidence_failed {
            return failed(e);
        }
        let body = serde_json::to_vec_pretty(&OutcomesRecord {
            incident_id: incident.id.clone(),
            outcomes: outcomes.to_vec(),
            original_groups: run.original_groups.clone(),
        })
        .unwrap_or_default();
        match self
            .evidence
            .put(&incident.id, "outcomes", "json", body, &self.collector, now)
            .await
        {
            Ok(item) => run.items.push(item),
            Err(e) => run.missing.push(missing("outcomes", &e)),
        }
        let manifest = Manifest {
            incident_id: incident.id.clone(),
            written_at: now,
            written_by: self.collector.clone(),
            items: run.items.clone(),
            missing: run.missing.clone(),
            bucket: self.evidence.bucket().to_string(),
        };
        match self
            .evidence
            .put_manifest(&manifest, &self.collector, now)
            .await
        {
            Ok(item) => {
                let locked = run.items.len();
                let again = run.items.iter().filter(|i| i.already_stored).count();
                run.items.push(item.clone());
                let mut detail = format!(
                    "{locked} item(s) locked under {} ({again} already there), manifest {}",
                    self.evidence.location(&incident.id),
                    item.key
                );
                if !run.missing.is_empty() {
                    let gaps: Vec<String> = run
                        .missing
                        .iter()
                        .map(|m| format!("{} ({})", m.kind, m.error))
                        .collect();
                    detail.push_str(&format!("; not collected: {}", gaps.join(", ")));
                }
                Status::Done { detail }
            }
            Err(e) => failed(&e),
        }
    }
}
