//! Approval: which actions of an incident wait for a human, whether one may be approved, and
//! the record of an approval. The page says how to approve; `firebreak approve` asks here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::action::plan::PlannedAction;
use crate::config::Mode;
use crate::record::incident::IncidentId;
use crate::record::outcome::{ActionOutcome, Status};

/// Why an action cannot be approved.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NotApprovable {
    /// The index is past the plan's end.
    #[error("the plan has no action {index}: it has {len} (numbered from 0)")]
    NoSuchAction {
        /// Index asked for.
        index: usize,
        /// Length of the plan.
        len: usize,
    },
    /// Evidence and pages run without approval.
    #[error("action {index} ({kind}) is not containment: it never waits for approval")]
    NotContainment {
        /// Index.
        index: usize,
        /// Action kind.
        kind: &'static str,
    },
    /// The configuration turned the action's class off.
    #[error("action {index} ({kind}) is off in this configuration: it is never executed")]
    Off {
        /// Index.
        index: usize,
        /// Action kind.
        kind: &'static str,
    },
    /// The locked outcomes name another action at this index.
    #[error(
        "action {index} is {planned} under this configuration, but the locked outcomes record \
         {recorded} there: the plan changed since, so approve nothing by number"
    )]
    PlanChanged {
        /// Index.
        index: usize,
        /// `kind target` of the plan now.
        planned: String,
        /// `kind target` of the locked outcome.
        recorded: String,
    },
    /// The action ran (or was refused) already.
    #[error("action {index} ({kind} {target}) is not awaiting approval: it ended {status}")]
    Ended {
        /// Index.
        index: usize,
        /// Action kind.
        kind: &'static str,
        /// Target.
        target: String,
        /// The status word of its latest locked outcome.
        status: &'static str,
    },
    /// The action is automatic and no outcome says it waited.
    #[error("action {index} ({kind} {target}) is automatic, not awaiting approval")]
    Automatic {
        /// Index.
        index: usize,
        /// Action kind.
        kind: &'static str,
        /// Target.
        target: String,
    },
}

/// Action `index` of `plan` when a human may approve it, given the responder's locked
/// `outcomes`: a containment action that is not off, whose latest outcome at that index is
/// `awaiting approval`, or that has none and is in `approve` mode (the deployed contain function
/// never runs for a plan without automatic containment).
pub fn check<'p>(
    plan: &'p [PlannedAction],
    outcomes: &[ActionOutcome],
    index: usize,
) -> Result<&'p PlannedAction, NotApprovable> {
    let planned = plan.get(index).ok_or(NotApprovable::NoSuchAction {
        index,
        len: plan.len(),
    })?;
    let kind = planned.action.kind();
    if !planned.action.is_containment() {
        return Err(NotApprovable::NotContainment { index, kind });
    }
    if planned.mode == Mode::Off {
        return Err(NotApprovable::Off { index, kind });
    }
    let at_index: Vec<&ActionOutcome> = outcomes.iter().filter(|o| o.index == index).collect();
    let latest = at_index
        .iter()
        .filter(|o| o.kind == kind && o.target == planned.target)
        .max_by_key(|o| o.at);
    match (latest, at_index.first()) {
        (Some(o), _) if o.status == Status::AwaitingApproval => Ok(planned),
        (Some(o), _) => Err(NotApprovable::Ended {
            index,
            kind,
            target: planned.target.clone(),
            status: o.status.word(),
        }),
        (None, Some(other)) => Err(NotApprovable::PlanChanged {
            index,
            planned: format!("{kind} {}", planned.target),
            recorded: format!("{} {}", other.kind, other.target),
        }),
        (None, None) if planned.mode == Mode::Approve => Ok(planned),
        (None, None) => Err(NotApprovable::Automatic {
            index,
            kind,
            target: planned.target.clone(),
        }),
    }
}

/// Indices of the actions of `plan` that wait for a human, in plan order.
pub fn awaiting(plan: &[PlannedAction], outcomes: &[ActionOutcome]) -> Vec<usize> {
    (0..plan.len())
        .filter(|&i| check(plan, outcomes, i).is_ok())
        .collect()
}

/// The locked record of one approval: who approved which action, when, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// The incident.
    pub incident_id: IncidentId,
    /// Key of the locked source event the plan was triaged from.
    pub event_key: String,
    /// Plan index of the action.
    pub index: usize,
    /// Action kind.
    pub kind: String,
    /// Action target.
    pub target: String,
    /// Caller identity ARN of whoever approved.
    pub approved_by: String,
    /// When.
    pub approved_at: DateTime<Utc>,
    /// What became of the action (its `changes` are what a release undoes).
    pub outcome: ActionOutcome,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::plan::{Action, TagTarget};
    use chrono::TimeZone;

    fn planned(action: Action, mode: Mode) -> PlannedAction {
        PlannedAction {
            target: action.target(),
            action,
            mode,
            reason: "r".into(),
        }
    }

    fn plan() -> Vec<PlannedAction> {
        vec![
            planned(Action::PreserveEvidence, Mode::Auto),
            planned(
                Action::DeactivateAccessKey {
                    user_name: "u".into(),
                    access_key_id: "AKIA1".into(),
                },
                Mode::Approve,
            ),
            planned(
                Action::RevokeUserSessions {
                    user_name: "u".into(),
                },
                Mode::Auto,
            ),
            planned(
                Action::DenyUser {
                    user_name: "u".into(),
                },
                Mode::Off,
            ),
            planned(
                Action::TagQuarantine {
                    resource: TagTarget::IamUser("u".into()),
                },
                Mode::Auto,
            ),
        ]
    }

    fn outcome(index: usize, kind: &str, target: &str, status: Status, secs: i64) -> ActionOutcome {
        ActionOutcome {
            index,
            kind: kind.into(),
            target: target.into(),
            status,
            at: Utc.timestamp_opt(secs, 0).single().unwrap_or_default(),
            changes: Vec::new(),
        }
    }

    #[test]
    fn approve_mode_actions_wait_until_an_outcome_says_otherwise() {
        let plan = plan();
        assert_eq!(awaiting(&plan, &[]), [1]);
        let waiting = outcome(
            1,
            "deactivate_access_key",
            "AKIA1",
            Status::AwaitingApproval,
            1,
        );
        assert_eq!(awaiting(&plan, std::slice::from_ref(&waiting)), [1]);
        let done = outcome(
            1,
            "deactivate_access_key",
            "AKIA1",
            Status::Done { detail: "d".into() },
            2,
        );
        assert_eq!(
            check(&plan, &[waiting.clone(), done.clone()], 1),
            Err(NotApprovable::Ended {
                index: 1,
                kind: "deactivate_access_key",
                target: "AKIA1".into(),
                status: "done",
            })
        );
        // The latest outcome decides, whatever order the records were read in.
        assert!(check(&plan, &[done, waiting.clone()], 1).is_err());
        let mut later = waiting;
        later.at = Utc.timestamp_opt(3, 0).single().unwrap_or_default();
        assert!(check(&plan, &[later], 1).is_ok());
    }

    #[test]
    fn an_awaiting_outcome_is_approvable_even_if_the_mode_is_auto_now() {
        let plan = plan();
        let waiting = outcome(2, "revoke_user_sessions", "u", Status::AwaitingApproval, 1);
        assert_eq!(awaiting(&plan, &[waiting]), [1, 2]);
        assert!(matches!(
            check(&plan, &[], 2),
            Err(NotApprovable::Automatic { index: 2, .. })
        ));
    }

    #[test]
    fn evidence_off_missing_and_changed_actions_are_refused() {
        let plan = plan();
        assert!(matches!(
            check(&plan, &[], 0),
            Err(NotApprovable::NotContainment {
                kind: "preserve_evidence",
                ..
            })
        ));
        assert!(matches!(
            check(&plan, &[], 4),
            Err(NotApprovable::NotContainment { .. })
        ));
        assert!(matches!(
            check(&plan, &[], 3),
            Err(NotApprovable::Off { .. })
        ));
        assert_eq!(
            check(&plan, &[], 9),
            Err(NotApprovable::NoSuchAction { index: 9, len: 5 })
        );
        let other = outcome(
            1,
            "deactivate_access_key",
            "AKIA2",
            Status::AwaitingApproval,
            1,
        );
        assert!(matches!(
            check(&plan, &[other], 1),
            Err(NotApprovable::PlanChanged { .. })
        ));
    }
}
