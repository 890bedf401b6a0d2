//! Release: what undoing an incident's containment means. Every effector records on its
//! action's outcome the changes it made ([`Change`]); a release reads the locked outcomes and
//! undoes exactly those, keeps what is evidence, and leaves re-opening a credential or a user
//! to an explicit flag. Nothing here stops, terminates or deletes evidence.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::record::incident::IncidentId;
use crate::record::outcome::{ActionOutcome, Status};

pub use crate::record::outcome::{
    Change, OriginalBlock, OriginalGroups, PublicAccessBlock, Registration,
};

/// What a release may re-open besides what it always undoes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Set access keys Firebreak deactivated Active again.
    pub reactivate_keys: bool,
    /// Enable Cognito users Firebreak disabled.
    pub enable_users: bool,
}

/// One step of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Undo this change.
    Undo(Change),
    /// Leave this as it is, and say why.
    Keep {
        /// Step name (`keep_…`).
        kind: &'static str,
        /// What is kept.
        target: String,
        /// Why.
        why: String,
    },
}

impl Step {
    /// The step's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Undo(change) => change.undo_kind(),
            Step::Keep { kind, .. } => kind,
        }
    }

    /// What it acts on.
    pub fn target(&self) -> String {
        match self {
            Step::Undo(change) => change.target(),
            Step::Keep { target, .. } => target.clone(),
        }
    }
}

/// The steps that release an incident whose locked outcomes are `outcomes`: every recorded
/// change undone once, latest first (so where two runs changed one thing, the state before the
/// first is what comes back), then what stays and why.
pub fn steps(outcomes: &[ActionOutcome], options: Options) -> Vec<Step> {
    let mut latest_first: Vec<&ActionOutcome> = outcomes.iter().collect();
    latest_first.sort_by_key(|o| std::cmp::Reverse((o.at, o.index)));
    let mut seen = HashSet::new();
    let mut undo = Vec::new();
    let mut keep = Vec::new();
    for o in latest_first {
        for change in o.changes.iter().rev() {
            if !seen.insert(change.id()) {
                continue;
            }
            match kept(change, options) {
                Some(step) => keep.push(step),
                None => undo.push(Step::Undo(change.clone())),
            }
        }
    }
    let mut in_plan_order: Vec<&ActionOutcome> = outcomes.iter().collect();
    in_plan_order.sort_by_key(|o| (o.index, o.at));
    for o in in_plan_order {
        let Status::Done { .. } = o.status else {
            continue;
        };
        if let Some((kind, why)) = evidence_kept(&o.kind)
            && seen.insert(format!("{kind}:{}", o.target))
        {
            keep.push(Step::Keep {
                kind,
                target: o.target.clone(),
                why: why.to_string(),
            });
        }
    }
    undo.extend(keep);
    undo
}

/// Why a change stays as it is under `options`, if it does.
fn kept(change: &Change, options: Options) -> Option<Step> {
    let (kind, why) = match change {
        Change::AccessKeyDeactivated { .. } if !options.reactivate_keys => (
            "keep_access_key_inactive",
            "stays Inactive: rotate it, or pass --reactivate-keys".to_string(),
        ),
        Change::CognitoUserDisabled { .. } if !options.enable_users => (
            "keep_cognito_user_disabled",
            "stays disabled: pass --enable-users to enable it".to_string(),
        ),
        Change::PublicAccessBlocked {
            original: OriginalBlock::Unknown { why },
            ..
        } => (
            "keep_public_access_block",
            format!("stays blocked: its configuration could not be read before ({why})"),
        ),
        _ => return None,
    };
    Some(Step::Keep {
        kind,
        target: change.target(),
        why,
    })
}

/// What a done action of this kind leaves that a release keeps: evidence, or what cannot be
/// undone.
fn evidence_kept(kind: &str) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        "protect_instance" => (
            "keep_termination_protection",
            "evidence: termination protection, stop on shutdown and volumes kept on termination stay on",
        ),
        "snapshot_volumes" => (
            "keep_snapshots",
            "evidence: the snapshots and their quarantine tags stay",
        ),
        "cognito_global_sign_out" => (
            "keep_signed_out",
            "a global sign-out cannot be undone: the user signs in again",
        ),
        _ => return None,
    })
}

/// The locked record of one release step: who, when, what, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// The incident.
    pub incident_id: IncidentId,
    /// Step name (`delete_user_policy`, `keep_snapshots`, …).
    pub step: String,
    /// What it acts on.
    pub target: String,
    /// The change undone, for an undo step.
    pub change: Option<Change>,
    /// Caller identity ARN of whoever released.
    pub released_by: String,
    /// When.
    pub released_at: DateTime<Utc>,
    /// What became of the step.
    pub outcome: ActionOutcome,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::plan::TagTarget;
    use chrono::TimeZone;

    fn outcome(
        index: usize,
        kind: &str,
        target: &str,
        secs: i64,
        changes: Vec<Change>,
    ) -> ActionOutcome {
        ActionOutcome {
            index,
            kind: kind.into(),
            target: target.into(),
            status: Status::Done { detail: "d".into() },
            at: Utc.timestamp_opt(secs, 0).single().unwrap_or_default(),
            changes,
        }
    }

    fn key() -> Change {
        Change::AccessKeyDeactivated {
            user_name: "u".into(),
            access_key_id: "AKIA1".into(),
        }
    }

    fn revoke() -> Change {
        Change::UserPolicyPut {
            user_name: "u".into(),
            policy_name: "AWSRevokeOlderSessions".into(),
        }
    }

    fn disabled() -> Change {
        Change::CognitoUserDisabled {
            user_pool_id: "p".into(),
            username: "x".into(),
        }
    }

    fn incident_outcomes() -> Vec<ActionOutcome> {
        vec![
            outcome(0, "protect_instance", "i-1", 1, vec![]),
            outcome(1, "snapshot_volumes", "i-1", 1, vec![]),
            outcome(2, "preserve_evidence", "evidence store", 1, vec![]),
            outcome(3, "deactivate_access_key", "AKIA1", 1, vec![key()]),
            outcome(4, "revoke_user_sessions", "u", 1, vec![revoke()]),
            outcome(5, "cognito_disable_user", "p/x", 1, vec![disabled()]),
            outcome(6, "cognito_global_sign_out", "p/x", 1, vec![]),
            outcome(
                7,
                "isolate_instance",
                "i-1",
                1,
                vec![Change::InstanceIsolated {
                    instance_id: "i-1".into(),
                    interfaces: vec![OriginalGroups {
                        network_interface_id: "eni-1".into(),
                        groups: vec!["sg-1".into()],
                        ..Default::default()
                    }],
                }],
            ),
            outcome(
                8,
                "tag_quarantine",
                "i-1",
                1,
                vec![Change::Tagged {
                    resource: TagTarget::Instance("i-1".into()),
                    volumes: vec!["vol-1".into()],
                }],
            ),
            outcome(9, "page", "ticket", 1, vec![]),
        ]
    }

    fn kinds(steps: &[Step]) -> Vec<&'static str> {
        steps.iter().map(Step::kind).collect()
    }

    #[test]
    fn without_flags_keys_and_users_stay_locked_and_evidence_stays() {
        let steps = steps(&incident_outcomes(), Options::default());
        assert_eq!(
            kinds(&steps),
            [
                "remove_quarantine_tag",
                "restore_security_groups",
                "delete_user_policy",
                "keep_cognito_user_disabled",
                "keep_access_key_inactive",
                "keep_termination_protection",
                "keep_snapshots",
                "keep_signed_out",
            ]
        );
        assert!(
            steps
                .iter()
                .all(|s| !matches!(s, Step::Undo(Change::AccessKeyDeactivated { .. })))
        );
    }

    #[test]
    fn flags_reopen_keys_and_users() {
        let options = Options {
            reactivate_keys: true,
            enable_users: true,
        };
        let steps = steps(&incident_outcomes(), options);
        assert!(steps.contains(&Step::Undo(key())));
        assert!(steps.contains(&Step::Undo(disabled())));
        assert!(!kinds(&steps).contains(&"keep_access_key_inactive"));
        // Evidence is kept whatever the flags.
        assert!(kinds(&steps).contains(&"keep_snapshots"));
    }

    #[test]
    fn a_change_recorded_twice_is_undone_once_and_failures_count() {
        let mut again = outcome(4, "revoke_user_sessions", "u", 5, vec![revoke()]);
        let mut partial = outcome(
            5,
            "revoke_instance_profile_sessions",
            "i-1",
            5,
            vec![Change::RolePolicyPut {
                role_name: "r1".into(),
                policy_name: "AWSRevokeOlderSessions".into(),
            }],
        );
        partial.status = Status::Failed {
            code: "AccessDenied".into(),
            message: "second role".into(),
        };
        again.status = Status::Done { detail: "d".into() };
        let first = outcome(4, "revoke_user_sessions", "u", 1, vec![revoke()]);
        let steps = steps(&[first, again, partial], Options::default());
        assert_eq!(kinds(&steps), ["delete_role_policy", "delete_user_policy"]);
    }

    #[test]
    fn the_earliest_isolation_is_undone_last_so_its_groups_win() {
        let isolated = |groups: &str| Change::InstanceIsolated {
            instance_id: "i-1".into(),
            interfaces: vec![OriginalGroups {
                network_interface_id: "eni-1".into(),
                groups: vec![groups.into()],
                ..Default::default()
            }],
        };
        let steps = steps(
            &[
                outcome(3, "isolate_instance", "i-1", 1, vec![isolated("sg-web")]),
                outcome(3, "isolate_instance", "i-1", 9, vec![isolated("sg-later")]),
            ],
            Options::default(),
        );
        assert_eq!(
            steps,
            [
                Step::Undo(isolated("sg-later")),
                Step::Undo(isolated("sg-web"))
            ]
        );
    }

    #[test]
    fn an_unread_block_configuration_stays_blocked() {
        let change = Change::PublicAccessBlocked {
            bucket: "b".into(),
            original: OriginalBlock::Unknown {
                why: "AccessDenied: no".into(),
            },
        };
        let steps = steps(
            &[outcome(1, "block_public_access", "b", 1, vec![change])],
            Options::default(),
        );
        assert_eq!(kinds(&steps), ["keep_public_access_block"]);
    }

    #[test]
    fn nothing_recorded_nothing_undone() {
        let mut failed = outcome(1, "protect_instance", "i-1", 1, vec![]);
        failed.status = Status::Failed {
            code: "X".into(),
            message: "y".into(),
        };
        let mut waiting = outcome(2, "isolate_instance", "i-1", 1, vec![]);
        waiting.status = Status::AwaitingApproval;
        assert!(steps(&[failed, waiting], Options::default()).is_empty());
    }

    #[test]
    fn step_ids_are_stable_key_safe_and_distinct() {
        let id = revoke().id();
        assert_eq!(id, revoke().id());
        assert!(id.starts_with("delete_user_policy-"));
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(
            id,
            Change::UserPolicyPut {
                user_name: "u".into(),
                policy_name: "FirebreakDenyAll".into(),
            }
            .id()
        );
    }

    #[test]
    fn an_attached_deny_policy_is_detached_and_reads_back() {
        let change = Change::ManagedPolicyAttached {
            user_name: "u".into(),
            policy_arn: "arn:aws:iam::111122223333:policy/FirebreakDenyAll".into(),
        };
        let json = serde_json::to_value(&change).unwrap();
        assert_eq!(json["change"], "managed_policy_attached");
        assert_eq!(serde_json::from_value::<Change>(json).unwrap(), change);
        assert_eq!(change.undo_kind(), "detach_user_policy");
        assert_eq!(change.target(), "u/FirebreakDenyAll");
        let steps = steps(
            &[outcome(1, "deny_user", "u", 1, vec![change.clone()])],
            Options::default(),
        );
        assert_eq!(steps, [Step::Undo(change)]);
    }

    #[test]
    fn changes_round_trip_as_json() {
        let change = Change::PublicAccessBlocked {
            bucket: "b".into(),
            original: OriginalBlock::Set {
                config: PublicAccessBlock {
                    block_public_acls: true,
                    ignore_public_acls: false,
                    block_public_policy: false,
                    restrict_public_buckets: false,
                },
            },
        };
        let json = serde_json::to_value(&change).unwrap_or_default();
        assert_eq!(json["change"], "public_access_blocked");
        assert_eq!(json["original"]["state"], "set");
        let back: Change = serde_json::from_value(json).unwrap_or_else(|_| revoke());
        assert_eq!(back, change);
        let mut o = outcome(0, "tag_quarantine", "u", 1, vec![]);
        let plain = serde_json::to_value(&o).unwrap_or_default();
        assert!(plain.get("changes").is_none(), "no changes, no field");
        o.changes.push(Change::Tagged {
            resource: TagTarget::IamUser("u".into()),
            volumes: vec![],
        });
        let back: ActionOutcome =
            serde_json::from_value(serde_json::to_value(&o).unwrap_or_default())
                .unwrap_or_else(|_| outcome(0, "x", "x", 0, vec![]));
        assert_eq!(back, o);
    }

    #[test]
    fn an_isolation_recorded_before_group_ids_reads_and_keeps_its_step_id() {
        let old = r#"{"change":"instance_isolated","instance_id":"i-1","interfaces":[{"network_interface_id":"eni-1","groups":["sg-1"]}]}"#;
        let change: Change = serde_json::from_str(old).unwrap_or_else(|_| revoke());
        let Change::InstanceIsolated { interfaces, .. } = &change else {
            panic!("not read as an isolation: {change:?}");
        };
        assert_eq!(interfaces[0].isolation_group, "");
        // Written back the same, so a release claims the same step as before.
        assert_eq!(serde_json::to_string(&change).unwrap_or_default(), old);
        let new = Change::InstanceIsolated {
            instance_id: "i-1".into(),
            interfaces: vec![OriginalGroups {
                network_interface_id: "eni-1".into(),
                groups: vec!["sg-1".into()],
                isolation_group: "sg-iso".into(),
                pass_through_group: "sg-pass".into(),
            }],
        };
        let json = serde_json::to_string(&new).unwrap_or_default();
        assert!(json.contains(r#""isolation_group":"sg-iso""#), "{json}");
        assert_eq!(serde_json::from_str::<Change>(&json).ok(), Some(new));
    }
}
