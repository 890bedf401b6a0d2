//! The response plan: an ordered list of actions from a fixed vocabulary, each with a target,
//! a mode and a reason. Nothing in the vocabulary stops or terminates anything.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::{Config, Mode};
use crate::severity::{Route, Severity};

/// A resource Firebreak can tag `incident-response = quarantine:<incident-id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum TagTarget {
    /// An IAM user, by name.
    IamUser(String),
    /// An IAM role, by name.
    IamRole(String),
    /// An EC2 instance (its volumes and snapshots are tagged with it).
    Instance(String),
    /// An S3 bucket (tags merged, never replaced).
    Bucket(String),
}

impl TagTarget {
    /// The resource's id or name.
    pub fn id(&self) -> &str {
        match self {
            TagTarget::IamUser(s)
            | TagTarget::IamRole(s)
            | TagTarget::Instance(s)
            | TagTarget::Bucket(s) => s,
        }
    }
}

/// One action of the vocabulary, with what it acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Termination protection, shutdown behaviour `stop`, keep volumes on termination.
    ProtectInstance {
        /// Instance id.
        instance_id: String,
    },
    /// EBS snapshot of every attached volume, tagged with the incident.
    SnapshotVolumes {
        /// Instance id.
        instance_id: String,
    },
    /// Source event, resource state, principal activity and outcomes into the locked store.
    PreserveEvidence,
    /// Set exactly this access key Inactive.
    DeactivateAccessKey {
        /// Owner of the key.
        user_name: String,
        /// The key from the finding or record.
        access_key_id: String,
    },
    /// Deny everything to the user's sessions issued before now.
    RevokeUserSessions {
        /// IAM user name.
        user_name: String,
    },
    /// Deny everything to the role's sessions issued before now.
    RevokeRoleSessions {
        /// IAM role name.
        role_name: String,
    },
    /// Inline deny-all on the user.
    DenyUser {
        /// IAM user name.
        user_name: String,
    },
    /// Revoke the sessions of the role(s) behind an instance profile.
    RevokeInstanceProfileSessions {
        /// Instance id.
        instance_id: String,
        /// Instance profile ARN.
        instance_profile_arn: String,
    },
    /// Admin-only user creation on the pool (AllowAdminCreateUserOnly), other settings kept.
    CognitoStopSignUp {
        /// User pool id.
        user_pool_id: String,
    },
    /// Disable the user.
    CognitoDisableUser {
        /// User pool id.
        user_pool_id: String,
        /// User name (or sub).
        username: String,
    },
    /// Invalidate every token of the user.
    CognitoGlobalSignOut {
        /// User pool id.
        user_pool_id: String,
        /// User name (or sub).
        username: String,
    },
    /// All four Block Public Access flags on the bucket.
    BlockPublicAccess {
        /// Bucket name.
        bucket: String,
    },
    /// Move every ENI into Firebreak's isolation group; the instance keeps running.
    IsolateInstance {
        /// Instance id.
        instance_id: String,
    },
    /// Tag the resource (and its artefacts) with the incident.
    TagQuarantine {
        /// What to tag.
        resource: TagTarget,
    },
    /// Tell responders.
    Page {
        /// Pager or ticket.
        route: Route,
    },
}

/// Which `[modes]` entry governs an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionClass {
    /// Preserves or records; never disruptive; always automatic.
    Evidence,
    /// IAM credentials and sessions.
    Credentials,
    /// Cognito users and pools.
    Cognito,
    /// Network isolation of an instance.
    InstanceIsolation,
    /// Bucket public access.
    PublicAccess,
}

impl Action {
    /// The action's name in JSON and on the page.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::ProtectInstance { .. } => "protect_instance",
            Action::SnapshotVolumes { .. } => "snapshot_volumes",
            Action::PreserveEvidence => "preserve_evidence",
            Action::DeactivateAccessKey { .. } => "deactivate_access_key",
            Action::RevokeUserSessions { .. } => "revoke_user_sessions",
            Action::RevokeRoleSessions { .. } => "revoke_role_sessions",
            Action::DenyUser { .. } => "deny_user",
            Action::RevokeInstanceProfileSessions { .. } => "revoke_instance_profile_sessions",
            Action::CognitoStopSignUp { .. } => "cognito_stop_sign_up",
            Action::CognitoDisableUser { .. } => "cognito_disable_user",
            Action::CognitoGlobalSignOut { .. } => "cognito_global_sign_out",
            Action::BlockPublicAccess { .. } => "block_public_access",
            Action::IsolateInstance { .. } => "isolate_instance",
            Action::TagQuarantine { .. } => "tag_quarantine",
            Action::Page { .. } => "page",
        }
    }

    /// The mode class of the action.
    pub fn class(&self) -> ActionClass {
        match self {
            Action::ProtectInstance { .. }
            | Action::SnapshotVolumes { .. }
            | Action::PreserveEvidence
            | Action::TagQuarantine { .. }
            | Action::Page { .. } => ActionClass::Evidence,
            Action::DeactivateAccessKey { .. }
            | Action::RevokeUserSessions { .. }
            | Action::RevokeRoleSessions { .. }
            | Action::DenyUser { .. }
            | Action::RevokeInstanceProfileSessions { .. } => ActionClass::Credentials,
            Action::CognitoStopSignUp { .. }
            | Action::CognitoDisableUser { .. }
            | Action::CognitoGlobalSignOut { .. } => ActionClass::Cognito,
            Action::BlockPublicAccess { .. } => ActionClass::PublicAccess,
            Action::IsolateInstance { .. } => ActionClass::InstanceIsolation,
        }
    }

    /// True for actions that change who can do what (as opposed to preserving or telling).
    pub fn is_containment(&self) -> bool {
        self.class() != ActionClass::Evidence
    }

    /// Where the action runs (kept apart so the effectors' order is the plan's order).
    fn rank(&self) -> u8 {
        match self {
            Action::ProtectInstance { .. } => 0,
            Action::SnapshotVolumes { .. } => 1,
            Action::PreserveEvidence => 2,
            Action::DeactivateAccessKey { .. } => 3,
            Action::RevokeUserSessions { .. } => 4,
            Action::RevokeRoleSessions { .. } => 5,
            Action::DenyUser { .. } => 6,
            Action::RevokeInstanceProfileSessions { .. } => 7,
            Action::CognitoStopSignUp { .. } => 8,
            Action::CognitoDisableUser { .. } => 9,
            Action::CognitoGlobalSignOut { .. } => 10,
            Action::BlockPublicAccess { .. } => 11,
            Action::IsolateInstance { .. } => 12,
            Action::TagQuarantine { .. } => 13,
            Action::Page { .. } => 14,
        }
    }

    /// The action's target as one string: an id, a name or a prefix.
    pub fn target(&self) -> String {
        match self {
            Action::ProtectInstance { instance_id }
            | Action::SnapshotVolumes { instance_id }
            | Action::IsolateInstance { instance_id }
            | Action::RevokeInstanceProfileSessions { instance_id, .. } => instance_id.clone(),
            Action::PreserveEvidence => "evidence store".into(),
            Action::DeactivateAccessKey { access_key_id, .. } => access_key_id.clone(),
            Action::RevokeUserSessions { user_name } | Action::DenyUser { user_name } => {
                user_name.clone()
            }
            Action::RevokeRoleSessions { role_name } => role_name.clone(),
            Action::CognitoStopSignUp { user_pool_id } => user_pool_id.clone(),
            Action::CognitoDisableUser {
                user_pool_id,
                username,
            }
            | Action::CognitoGlobalSignOut {
                user_pool_id,
                username,
            } => format!("{user_pool_id}/{username}"),
            Action::BlockPublicAccess { bucket } => bucket.clone(),
            Action::TagQuarantine { resource } => resource.id().to_string(),
            Action::Page { route } => route.to_string(),
        }
    }
}

/// An action in a plan, with how it runs and why it is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedAction {
    /// The action and its typed target.
    #[serde(flatten)]
    pub action: Action,
    /// The target as one string (also in the typed fields).
    pub target: String,
    /// Auto, approve or off.
    pub mode: Mode,
    /// Why the plan has it.
    pub reason: Cow<'static, str>,
}

impl fmt::Display for PlannedAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            Mode::Auto => "auto",
            Mode::Approve => "approve",
            Mode::Off => "off",
        };
        write!(f, "{:<34} {:<8} {}", self.action.kind(), mode, self.target)
    }
}

/// Builds a plan: decides each action's mode from the config and the severity, and keeps the
/// vocabulary's order whatever order actions were added in.
pub(crate) struct PlanBuilder<'c> {
    config: &'c Config,
    severity: Severity,
    actions: Vec<PlannedAction>,
}

impl<'c> PlanBuilder<'c> {
    pub fn new(config: &'c Config, severity: Severity) -> Self {
        PlanBuilder {
            config,
            severity,
            actions: Vec::with_capacity(8),
        }
    }

    /// The mode an action of this class gets in this incident.
    pub fn mode_for(&self, class: ActionClass) -> Mode {
        let modes = &self.config.modes;
        let base = match class {
            ActionClass::Evidence => return Mode::Auto,
            ActionClass::Credentials => modes.credentials,
            ActionClass::Cognito => modes.cognito,
            ActionClass::InstanceIsolation => modes.instance_isolation,
            ActionClass::PublicAccess => modes.public_access,
        };
        match self.severity {
            // The stricter of the two: Off > Approve > Auto.
            Severity::S3 | Severity::S4 => base.max(modes.low_severity),
            Severity::S1 | Severity::S2 => base,
        }
    }

    pub fn push(&mut self, action: Action, reason: impl Into<Cow<'static, str>>) {
        if self.actions.iter().any(|a| a.action == action) {
            return;
        }
        let mode = self.mode_for(action.class());
        self.actions.push(PlannedAction {
            target: action.target(),
            action,
            mode,
            reason: reason.into(),
        });
    }

    pub fn finish(mut self) -> Vec<PlannedAction> {
        // Stable: two actions of one kind keep the order they were added in.
        self.actions.sort_by_key(|a| a.action.rank());
        self.actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_the_vocabularys_whatever_the_push_order() {
        let config = Config::default();
        let mut b = PlanBuilder::new(&config, Severity::S1);
        b.push(
            Action::Page {
                route: Route::Pager,
            },
            "p",
        );
        b.push(
            Action::IsolateInstance {
                instance_id: "i-1".into(),
            },
            "i",
        );
        b.push(
            Action::ProtectInstance {
                instance_id: "i-1".into(),
            },
            "p",
        );
        b.push(Action::PreserveEvidence, "e");
        b.push(Action::PreserveEvidence, "twice");
        let kinds: Vec<_> = b.finish().iter().map(|a| a.action.kind()).collect();
        assert_eq!(
            kinds,
            [
                "protect_instance",
                "preserve_evidence",
                "isolate_instance",
                "page"
            ]
        );
    }

    #[test]
    fn modes_follow_config_and_severity() {
        let config = Config::default();
        let high = PlanBuilder::new(&config, Severity::S2);
        assert_eq!(high.mode_for(ActionClass::Credentials), Mode::Auto);
        assert_eq!(high.mode_for(ActionClass::InstanceIsolation), Mode::Approve);
        assert_eq!(high.mode_for(ActionClass::Evidence), Mode::Auto);
        let low = PlanBuilder::new(&config, Severity::S3);
        assert_eq!(low.mode_for(ActionClass::Credentials), Mode::Approve);
        assert_eq!(low.mode_for(ActionClass::Evidence), Mode::Auto);
        let mut off = Config::default();
        off.modes.cognito = Mode::Off;
        assert_eq!(
            PlanBuilder::new(&off, Severity::S1).mode_for(ActionClass::Cognito),
            Mode::Off
        );
        assert_eq!(
            PlanBuilder::new(&off, Severity::S4).mode_for(ActionClass::Cognito),
            Mode::Off
        );
    }

    #[test]
    fn json_shape_has_kind_target_mode() {
        let config = Config::default();
        let mut b = PlanBuilder::new(&config, Severity::S1);
        b.push(
            Action::DeactivateAccessKey {
                user_name: "u".into(),
                access_key_id: "AKIAEXAMPLE".into(),
            },
            "r",
        );
        let json = serde_json::to_value(b.finish()).unwrap();
        assert_eq!(json[0]["kind"], "deactivate_access_key");
        assert_eq!(json[0]["target"], "AKIAEXAMPLE");
        assert_eq!(json[0]["mode"], "auto");
        let back: Vec<PlannedAction> = serde_json::from_value(json).unwrap();
        assert_eq!(back[0].action.kind(), "deactivate_access_key");
    }
}
