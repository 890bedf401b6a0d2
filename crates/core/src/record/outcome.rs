//! What happened to each planned action. Effectors produce these; records and pages read them.
//! An action is `done` only when AWS said so.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use sha2::{Digest, Sha256};

use crate::action::plan::{Ingress, LambdaGrant, Shared, TagTarget};
use crate::record::incident::IncidentId;

/// The state an action ended in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// AWS accepted every call; `detail` says what changed.
    Done {
        /// What changed, for humans.
        detail: String,
    },
    /// Nothing needed doing, or doing it was not safe; `why` says which.
    Skipped {
        /// Reason.
        why: String,
    },
    /// AWS refused or could not be reached; the action did not take effect (or only in part).
    Failed {
        /// AWS error code (`AccessDenied`, `NoSuchEntity`, …) or `Transport`.
        code: String,
        /// AWS's message.
        message: String,
    },
    /// Planned in `approve` mode: waits for a human.
    AwaitingApproval,
    /// Planned in `off` mode: recorded, never executed.
    Off,
    /// Dry run: what would have been done.
    DryRun {
        /// The calls that would have been made.
        would: String,
    },
}

impl Status {
    /// Short word for tables and pages.
    pub fn word(&self) -> &'static str {
        match self {
            Status::Done { .. } => "done",
            Status::Skipped { .. } => "skipped",
            Status::Failed { .. } => "failed",
            Status::AwaitingApproval => "awaiting approval",
            Status::Off => "off",
            Status::DryRun { .. } => "dry-run",
        }
    }

    /// True when the action must be retried or looked at.
    pub fn is_failure(&self) -> bool {
        matches!(self, Status::Failed { .. })
    }

    /// True for a failure a later attempt can get past: AWS throttled, said it erred on its
    /// side, or never answered (after the SDK's own retries). A refusal (`AccessDenied`,
    /// `NoSuchEntity`, a validation error) answers the same every time, and so does an answer
    /// with no error code Firebreak can read (`HTTP500`: an emulator's or a proxy's page).
    pub fn is_transient_failure(&self) -> bool {
        let Status::Failed { code, .. } = self else {
            return false;
        };
        code.contains("Throttl")
            || matches!(
                code.as_str(),
                "Timeout"
                    | "DispatchFailure"
                    | "Unreachable"
                    | "ResponseError"
                    | "RequestLimitExceeded"
                    | "TooManyRequestsException"
                    | "SlowDown"
                    | "ServiceUnavailable"
                    | "ServiceUnavailableException"
                    // Identity Center: another operation on the same set is running.
                    | "ConflictException"
                    | "InternalError"
                    | "InternalFailure"
                    | "InternalServerError"
                    | "InternalErrorException"
                    | "RequestTimeout"
                    | "RequestTimeoutException"
                    | "PriorRequestNotComplete"
            )
    }
}

/// The outcome of one action of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionOutcome {
    /// Position in the plan (0-based).
    pub index: usize,
    /// Action kind.
    pub kind: String,
    /// Action target.
    pub target: String,
    /// What happened.
    #[serde(flatten)]
    pub status: Status,
    /// When it ended.
    pub at: DateTime<Utc>,
    /// What it changed, as a release must undo it (also when it failed part-way).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
}

impl fmt::Display for ActionOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<18} {:<34} {}",
            self.status.word(),
            self.kind,
            self.target
        )?;
        match &self.status {
            Status::Done { detail } => write!(f, " — {detail}"),
            Status::Skipped { why } => write!(f, " — {why}"),
            Status::Failed { code, message } => write!(f, " — {code}: {message}"),
            Status::DryRun { would } => write!(f, " — would {would}"),
            Status::AwaitingApproval => write!(f, " — approve with --action {}", self.index),
            Status::Off => Ok(()),
        }
    }
}
/// The four Block Public Access flags of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// BlockPublicAcls.
    pub block_public_acls: bool,
    /// IgnorePublicAcls.
    pub ignore_public_acls: bool,
    /// BlockPublicPolicy.
    pub block_public_policy: bool,
    /// RestrictPublicBuckets.
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// Every flag on: what Firebreak sets.
    pub const ALL: PublicAccessBlock = PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };

    /// True when every flag is on.
    pub fn blocks_all(&self) -> bool {
        *self == Self::ALL
    }
}

/// A bucket's Block Public Access configuration before Firebreak blocked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OriginalBlock {
    /// The bucket had no configuration.
    Absent,
    /// The bucket had this one.
    Set {
        /// Its flags.
        config: PublicAccessBlock,
    },
    /// It could not be read; the bucket was blocked all the same.
    Unknown {
        /// Why (`code: message`).
        why: String,
    },
}

/// The security groups an ENI had before isolation, and the groups Firebreak moved it through.
///
/// The two group ids are the ones Firebreak created and recorded for the incident; a release
/// moves the ENI back only while it is in one of them. Records written before the ids were kept
/// have neither (empty), and a release then knows Firebreak's groups only by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginalGroups {
    /// `eni-…`.
    pub network_interface_id: String,
    /// Group ids before isolation (empty when they are not known: the ENI was found half-way
    /// through an isolation an earlier attempt did not finish).
    pub groups: Vec<String>,
    /// The isolation group (no rule at all) it was moved into.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub isolation_group: String,
    /// The allow-all group it passed through on the way.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pass_through_group: String,
}

/// An instance's registration in a load-balancer target group, as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The target group's ARN.
    pub target_group_arn: String,
    /// The port it was registered on, when the registration named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
}

/// One change Firebreak made to an account, recorded when it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// The key was Active and Firebreak set it Inactive.
    AccessKeyDeactivated {
        /// Owner.
        user_name: String,
        /// Key id.
        access_key_id: String,
    },
    /// Firebreak put one of its inline policies on a user.
    UserPolicyPut {
        /// User.
        user_name: String,
        /// Policy name.
        policy_name: String,
    },
    /// Firebreak attached its deny-all managed policy to a user.
    ManagedPolicyAttached {
        /// User.
        user_name: String,
        /// The policy's ARN.
        policy_arn: String,
    },
    /// Firebreak put one of its inline policies on a role.
    RolePolicyPut {
        /// Role.
        role_name: String,
        /// Policy name.
        policy_name: String,
    },
    /// The user was enabled (or could not be read) and Firebreak disabled it.
    CognitoUserDisabled {
        /// Pool.
        user_pool_id: String,
        /// User name.
        username: String,
    },
    /// Self sign-up was allowed and Firebreak set AllowAdminCreateUserOnly.
    CognitoSignUpStopped {
        /// Pool.
        user_pool_id: String,
    },
    /// Firebreak turned on every Block Public Access flag of the bucket.
    PublicAccessBlocked {
        /// Bucket.
        bucket: String,
        /// What it had before.
        original: OriginalBlock,
    },
    /// Firebreak moved these ENIs of the instance into its isolation group.
    InstanceIsolated {
        /// Instance.
        instance_id: String,
        /// Each ENI's groups before.
        interfaces: Vec<OriginalGroups>,
    },
    /// Firebreak detached the instance from its Auto Scaling group.
    DetachedFromAutoScalingGroup {
        /// Instance.
        instance_id: String,
        /// The group it was in.
        group_name: String,
        /// Whether the group's desired capacity went down with it (only when it stayed at or
        /// above the minimum); otherwise the group launched a replacement.
        decremented: bool,
    },
    /// Firebreak deregistered the instance from these load balancers.
    DeregisteredFromLoadBalancers {
        /// Instance.
        instance_id: String,
        /// The target groups it was registered in, each with the port it was registered on.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        target_groups: Vec<Registration>,
        /// The classic load balancers it was registered with, by name.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        classic: Vec<String>,
    },
    /// Firebreak replaced the instance's profile with the quarantine profile.
    InstanceProfileReplaced {
        /// Instance.
        instance_id: String,
        /// The profile it had, by ARN.
        original_arn: String,
        /// The quarantine profile it got, by ARN.
        quarantine_arn: String,
    },
    /// Firebreak revoked these world-open ingress permissions of the group.
    IngressRevoked {
        /// Security group.
        group_id: String,
        /// The permissions revoked, exactly.
        rules: Vec<Ingress>,
    },
    /// Firebreak removed these shares of an image or snapshot.
    ShareRemoved {
        /// The image or snapshot.
        resource: Shared,
        /// Accounts it was shared with.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        accounts: Vec<String>,
        /// Whether it was public.
        #[serde(default)]
        public: bool,
    },
    /// Firebreak removed this statement from a function's policy.
    LambdaPermissionRemoved {
        /// Function name or ARN.
        function_name: String,
        /// The statement's id.
        statement_id: String,
        /// The statement as it was added.
        grant: LambdaGrant,
    },
    /// Firebreak deleted the user's console password (no release can restore it).
    LoginProfileDeleted {
        /// User.
        user_name: String,
    },
    /// Firebreak merged a deny statement into an Identity Center permission set's inline policy
    /// and provisioned the set.
    PermissionSetDenied {
        /// The Identity Center account.
        account: String,
        /// Identity Center's home region.
        region: String,
        /// The Identity Center instance.
        instance_arn: String,
        /// The permission set.
        permission_set_arn: String,
        /// The statement's `Sid`, exactly as merged.
        sid: String,
        /// The inline policy before, byte for byte (none when the set had none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        original: Option<String>,
    },
    /// Firebreak removed a user's assignment of a permission set to an account.
    AccountAssignmentRemoved {
        /// The Identity Center account.
        account: String,
        /// Identity Center's home region.
        region: String,
        /// The Identity Center instance.
        instance_arn: String,
        /// The permission set.
        permission_set_arn: String,
        /// The account the assignment gave access to.
        target_account: String,
        /// The user's id in the identity store.
        user_id: String,
    },
    /// Firebreak tagged the resource (and, for an instance, its volumes) with the incident.
    Tagged {
        /// The resource.
        resource: TagTarget,
        /// Volumes tagged with an instance.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        volumes: Vec<String>,
    },
}

impl Change {
    /// The name of the step that undoes this change.
    pub fn undo_kind(&self) -> &'static str {
        match self {
            Change::AccessKeyDeactivated { .. } => "reactivate_access_key",
            Change::UserPolicyPut { .. } => "delete_user_policy",
            Change::ManagedPolicyAttached { .. } => "detach_user_policy",
            Change::RolePolicyPut { .. } => "delete_role_policy",
            Change::CognitoUserDisabled { .. } => "enable_cognito_user",
            Change::CognitoSignUpStopped { .. } => "restore_sign_up",
            Change::PublicAccessBlocked { .. } => "restore_public_access_block",
            Change::InstanceIsolated { .. } => "restore_security_groups",
            Change::DetachedFromAutoScalingGroup { .. } => "reattach_to_auto_scaling_group",
            Change::DeregisteredFromLoadBalancers { .. } => "register_with_load_balancers",
            Change::InstanceProfileReplaced { .. } => "restore_instance_profile",
            Change::Tagged { .. } => "remove_quarantine_tag",
            Change::IngressRevoked { .. } => "authorize_ingress",
            Change::ShareRemoved { .. } => "restore_share",
            Change::LambdaPermissionRemoved { .. } => "add_lambda_permission",
            Change::LoginProfileDeleted { .. } => "new_login_profile",
            Change::PermissionSetDenied { .. } => "restore_permission_set_policy",
            Change::AccountAssignmentRemoved { .. } => "restore_account_assignment",
        }
    }

    /// What the change was made to, as one string.
    pub fn target(&self) -> String {
        match self {
            Change::AccessKeyDeactivated { access_key_id, .. } => access_key_id.clone(),
            Change::ManagedPolicyAttached {
                user_name,
                policy_arn,
            } => format!(
                "{user_name}/{}",
                policy_arn.rsplit('/').next().unwrap_or(policy_arn)
            ),
            Change::UserPolicyPut {
                user_name: name,
                policy_name,
            }
            | Change::RolePolicyPut {
                role_name: name,
                policy_name,
            } => format!("{name}/{policy_name}"),
            Change::CognitoUserDisabled {
                user_pool_id,
                username,
            } => format!("{user_pool_id}/{username}"),
            Change::CognitoSignUpStopped { user_pool_id } => user_pool_id.clone(),
            Change::PublicAccessBlocked { bucket, .. } => bucket.clone(),
            Change::InstanceIsolated { instance_id, .. }
            | Change::DetachedFromAutoScalingGroup { instance_id, .. }
            | Change::DeregisteredFromLoadBalancers { instance_id, .. }
            | Change::InstanceProfileReplaced { instance_id, .. } => instance_id.clone(),
            Change::Tagged { resource, .. } => resource.id().to_string(),
            Change::IngressRevoked { group_id, .. } => group_id.clone(),
            Change::ShareRemoved { resource, .. } => resource.id().to_string(),
            Change::LambdaPermissionRemoved {
                function_name,
                statement_id,
                ..
            } => format!("{function_name}/{statement_id}"),
            Change::LoginProfileDeleted { user_name } => user_name.clone(),
            Change::PermissionSetDenied {
                permission_set_arn,
                sid,
                ..
            } => format!("{permission_set_arn}/{sid}"),
            Change::AccountAssignmentRemoved {
                permission_set_arn,
                target_account,
                user_id,
                ..
            } => format!("{permission_set_arn}/{target_account}/{user_id}"),
        }
    }

    /// A stable, key-safe name for undoing this change: `<undo kind>-<16 hex digits>`.
    pub fn id(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&bytes);
        let mut id = format!("{}-", self.undo_kind());
        for b in &digest[..8] {
            id.push_str(&format!("{b:02x}"));
        }
        id
    }

    /// What undoing it does, for dry runs.
    pub fn would(&self, id: &IncidentId) -> String {
        match self {
            Change::AccessKeyDeactivated {
                user_name,
                access_key_id,
            } => format!("set {access_key_id} of {user_name} Active again"),
            Change::UserPolicyPut {
                user_name,
                policy_name,
            } => format!("delete inline policy {policy_name} of user {user_name}, if present"),
            Change::ManagedPolicyAttached {
                user_name,
                policy_arn,
            } => format!("detach {policy_arn} from user {user_name}, if attached"),
            Change::RolePolicyPut {
                role_name,
                policy_name,
            } => format!("delete inline policy {policy_name} of role {role_name}, if present"),
            Change::CognitoUserDisabled {
                user_pool_id,
                username,
            } => format!("enable {username} in {user_pool_id}"),
            Change::CognitoSignUpStopped { user_pool_id } => {
                format!("allow self sign-up on {user_pool_id} again")
            }
            Change::PublicAccessBlocked { bucket, original } => match original {
                OriginalBlock::Absent => {
                    format!("delete the Block Public Access configuration of {bucket}")
                }
                OriginalBlock::Set { config } => {
                    format!("put back {bucket}'s Block Public Access flags {config:?}")
                }
                OriginalBlock::Unknown { .. } => format!("leave {bucket} blocked"),
            },
            Change::InstanceIsolated {
                instance_id,
                interfaces,
            } => format!(
                "move {} interface(s) of {instance_id} back to their groups",
                interfaces.len()
            ),
            Change::DetachedFromAutoScalingGroup {
                instance_id,
                group_name,
                decremented,
            } => format!(
                "attach {instance_id} to Auto Scaling group {group_name} again, if it is in none{}",
                if *decremented {
                    ""
                } else {
                    " (the group's desired capacity goes up by one: it launched a replacement)"
                }
            ),
            Change::DeregisteredFromLoadBalancers {
                instance_id,
                target_groups,
                classic,
            } => format!(
                "register {instance_id} again with {} target group(s) and {} classic load \
                 balancer(s) that still exist",
                target_groups.len(),
                classic.len()
            ),
            Change::InstanceProfileReplaced {
                instance_id,
                original_arn,
                quarantine_arn,
            } => format!(
                "give {instance_id} its instance profile {original_arn} again, if it still has \
                 {quarantine_arn}"
            ),
            Change::Tagged { resource, volumes } => format!(
                "remove incident-response={} from {} (and {} volume(s)) where it has that value",
                id.quarantine_tag(),
                resource.id(),
                volumes.len()
            ),
            Change::IngressRevoked { group_id, rules } => format!(
                "authorize again the {} ingress permission(s) open to the internet on {group_id}",
                rules.len()
            ),
            Change::ShareRemoved {
                resource,
                accounts,
                public,
            } => format!(
                "share {} again with {}{}",
                resource.id(),
                accounts.join(", "),
                if *public { " and everyone" } else { "" }
            ),
            Change::LambdaPermissionRemoved {
                function_name,
                statement_id,
                grant,
            } => format!(
                "add statement {statement_id} ({} for {}) to {function_name} again",
                grant.action, grant.principal
            ),
            Change::LoginProfileDeleted { user_name } => format!(
                "nothing: a deleted password cannot be restored; give {user_name} a new one with aws iam create-login-profile --user-name {user_name} --password-reset-required"
            ),
            Change::PermissionSetDenied {
                permission_set_arn,
                sid,
                ..
            } => format!(
                "remove statement {sid} from {permission_set_arn}'s inline policy (the original, \
                 exactly, when nothing else changed) and provision the set again"
            ),
            Change::AccountAssignmentRemoved {
                permission_set_arn,
                target_account,
                user_id,
                ..
            } => format!(
                "assign {permission_set_arn} to user {user_id} in account {target_account} again"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_a_later_attempt_can_get_past_is_transient() {
        let failed = |code: &str| Status::Failed {
            code: code.into(),
            message: "m".into(),
        };
        for code in [
            "Throttling",
            "ThrottlingException",
            "RequestLimitExceeded",
            "InternalError",
            "ServiceUnavailable",
            "Timeout",
            "DispatchFailure",
        ] {
            assert!(failed(code).is_transient_failure(), "{code}");
        }
        for code in [
            "AccessDenied",
            "NoSuchEntity",
            "ValidationError",
            "InvalidInstanceID.NotFound",
            "HTTP404",
            "HTTP500",
            "TooManySessions",
            "QuarantineProfileChanged",
        ] {
            assert!(!failed(code).is_transient_failure(), "{code}");
        }
        assert!(!Status::Done { detail: "d".into() }.is_transient_failure());
    }
}
