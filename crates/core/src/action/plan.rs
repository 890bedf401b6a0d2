//! The response plan: an ordered list of actions from a fixed vocabulary, each with a target,
//! a mode and a reason. Nothing in the vocabulary stops or terminates anything.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::{Config, Mode};
use crate::severity::{Route, Severity};

/// The key of the tag Firebreak puts on what it contains (requirements §3); its value is
/// `quarantine:<incident-id>` (`IncidentId::quarantine_tag`).
pub const QUARANTINE_TAG: &str = "incident-response";

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

/// One ingress permission an attacker opened to the whole internet, exactly as the event gave
/// it: what `revoke_ingress` revokes and a release authorizes again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ingress {
    /// `tcp`, `udp`, `icmp`, `-1` (every protocol) or a protocol number.
    pub protocol: String,
    /// First port (ICMP type), when the protocol has ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    /// Last port (ICMP code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    /// The range: `0.0.0.0/0`, `::/0`, or another as wide (`names::world_wide`).
    pub cidr: String,
}

/// A resource whose share an attacker added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Shared {
    /// An AMI's launch permission.
    Image(String),
    /// An EBS snapshot's create-volume permission.
    Snapshot(String),
    /// A database snapshot's `restore` attribute.
    DbSnapshot(String),
    /// A database cluster snapshot's `restore` attribute.
    DbClusterSnapshot(String),
}

impl Shared {
    /// The image or snapshot id.
    pub fn id(&self) -> &str {
        match self {
            Shared::Image(id)
            | Shared::Snapshot(id)
            | Shared::DbSnapshot(id)
            | Shared::DbClusterSnapshot(id) => id,
        }
    }
}

/// A Lambda permission statement as `AddPermission` took it: what `remove_lambda_permission`
/// removes and a release adds again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LambdaGrant {
    /// `lambda:InvokeFunction`, `lambda:InvokeFunctionUrl`, …
    pub action: String,
    /// `*`, an account id or ARN, or a service principal.
    pub principal: String,
    /// The `sourceArn` condition, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<String>,
    /// The `sourceAccount` condition, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_account: Option<String>,
    /// The function URL auth type condition, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_url_auth_type: Option<String>,
    /// The version or alias the statement is on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
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
    /// Volatile memory through Systems Manager (the configured tool, x86_64 Linux), uploaded to
    /// a PUT Firebreak signs, locked and listed in the manifest.
    CaptureMemory {
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
    /// Set every active access key of the user Inactive: a user acting with temporary
    /// credentials (`GetSessionToken`) mints new ones with any of them.
    DeactivateUserKeys {
        /// IAM user name.
        user_name: String,
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
    /// Deny everything to one session of the role, issued before now: the session the finding
    /// names, by its `aws:userid` (role id and session name) and its issue time, so the role's
    /// other sessions, and later sessions of the same name, keep working.
    RevokeRoleSession {
        /// IAM role name.
        role_name: String,
        /// The session's `aws:userid`: `AROA…:<session name>`.
        session: String,
    },
    /// IAM Identity Center: an explicit deny for one user (`identitystore:userId`) merged into
    /// the permission set's inline policy, in the Identity Center account and its home region,
    /// then the set provisioned again (asynchronously, to every account it is provisioned to).
    /// The `AWSReservedSSO_…` role itself cannot be changed.
    DenyIdentityCenterUser {
        /// The role the user acted through (`AWSReservedSSO_<set>_<suffix>`).
        role_name: String,
        /// The permission set's name.
        permission_set: String,
        /// The user's Identity Center user name (the role session's name).
        user_name: String,
    },
    /// IAM Identity Center: the user's assignment of the permission set to the incident's
    /// account, removed.
    RemoveAccountAssignment {
        /// The role the user acted through (`AWSReservedSSO_<set>_<suffix>`).
        role_name: String,
        /// The permission set's name.
        permission_set: String,
        /// The user's Identity Center user name (the role session's name).
        user_name: String,
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
    /// Replace the instance's profile with the quarantine profile, whose role denies
    /// everything: once its role's sessions are revoked, whoever is on the instance would
    /// otherwise fetch fresh credentials from it.
    QuarantineInstanceProfile {
        /// Instance id.
        instance_id: String,
        /// The profile the finding named.
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
    /// Take the instance out of its Auto Scaling group, right after termination protection:
    /// the group would terminate it once isolation makes it unhealthy (termination protection
    /// does not stop Auto Scaling). The desired capacity goes down with it only where that keeps
    /// it at or above the group's minimum; otherwise the group launches a replacement.
    DetachFromAutoScalingGroup {
        /// Instance id.
        instance_id: String,
        /// The group its `aws:autoscaling:groupName` tag names.
        group_name: String,
    },
    /// Deregister the instance from every load-balancer target group and classic load balancer
    /// it serves, before isolation: traffic stops reaching it, and the balancer's health checks
    /// no longer count it.
    DeregisterFromLoadBalancers {
        /// Instance id.
        instance_id: String,
    },
    /// Revoke exactly the ingress permissions the event opened to the whole internet.
    RevokeIngress {
        /// Security group id.
        group_id: String,
        /// The permissions, as opened.
        rules: Vec<Ingress>,
    },
    /// Remove the shares the event added to an image or snapshot (other accounts, `all`).
    RemoveShare {
        /// The image or snapshot.
        resource: Shared,
        /// Account ids the event added.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        accounts: Vec<String>,
        /// Whether the event made it public (group `all`).
        #[serde(default)]
        public: bool,
    },
    /// Remove the Lambda permission statement the event added for `*` or another account.
    RemoveLambdaPermission {
        /// Function name or ARN.
        function_name: String,
        /// The statement's id.
        statement_id: String,
        /// The statement as added.
        grant: LambdaGrant,
    },
    /// Delete the console password the event gave a user. A release cannot restore a password:
    /// always waits for a human.
    DeleteLoginProfile {
        /// IAM user name.
        user_name: String,
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
    /// Bucket public access, and what an attacker opened or shared.
    PublicAccess,
    /// A change a release cannot undo: it always waits for a human (or stays off where
    /// `modes.credentials` is off).
    Irreversible,
}

/// The inline policy that revokes sessions: the name the console's "Revoke active sessions"
/// writes, so a responder who knows the console recognises it.
pub const REVOKE_POLICY: &str = "AWSRevokeOlderSessions";

/// The start of the name of the inline policy that revokes one session of a role; the rest is
/// the incident's 16 hex digits, `-`, and 32 hex digits of the session's SHA-256, so each
/// incident's deny of each session is its own policy, and a release deletes only its own.
pub const SESSION_POLICY_PREFIX: &str = "FirebreakRevokeSession-";

/// The inline policy name with which incident `incident` (`FB-…`) revokes `session` (an
/// `aws:userid`).
pub fn session_policy_name(incident: &str, session: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(session.as_bytes());
    let mut name = String::with_capacity(SESSION_POLICY_PREFIX.len() + 49);
    name.push_str(SESSION_POLICY_PREFIX);
    name.push_str(incident.strip_prefix("FB-").unwrap_or(incident));
    name.push('-');
    for b in &digest[..16] {
        name.push_str(&format!("{b:02x}"));
    }
    name
}

/// True for a name [`session_policy_name`] makes.
pub fn is_session_policy_name(name: &str) -> bool {
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    name.strip_prefix(SESSION_POLICY_PREFIX)
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(incident, session)| hex(incident, 16) && hex(session, 32))
}

/// The function that runs an action once the pipeline is split (`firebreak respond` runs all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    /// The preserve function: evidence that must exist before anything changes.
    Preserve,
    /// The contain function: credentials, sessions, Cognito, isolation, public access, tags.
    Contain,
    /// The page function.
    Page,
}

/// What an action acts on, in the terms protection judges and the evidence describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touches<'a> {
    /// Nothing of the account (the evidence store, the pager).
    Nothing,
    /// An IAM user, by name.
    IamUser(&'a str),
    /// An IAM role, by name.
    IamRole(&'a str),
    /// An EC2 instance, by id.
    Instance(&'a str),
    /// An S3 bucket, by name.
    Bucket(&'a str),
    /// A Cognito user pool, and the user in it when the action is about one.
    UserPool(&'a str, Option<&'a str>),
    /// An EC2 resource other than an instance: (`security-group`, id), (`image`, id),
    /// (`snapshot`, id).
    Ec2(&'static str, &'a str),
    /// A Lambda function, by name or ARN.
    Function(&'a str),
    /// An RDS resource: (`snapshot`, id), (`cluster-snapshot`, id).
    Rds(&'static str, &'a str),
}

impl Touches<'_> {
    /// The ARN of what is touched, in `partition`, `account` and `region`.
    pub fn arn(&self, partition: &str, account: &str, region: &str) -> Option<String> {
        let (p, a, r) = (partition, account, region);
        match self {
            Touches::Nothing => None,
            Touches::IamUser(name) => Some(format!("arn:{p}:iam::{a}:user/{name}")),
            Touches::IamRole(name) => Some(format!("arn:{p}:iam::{a}:role/{name}")),
            Touches::Instance(id) => Some(format!("arn:{p}:ec2:{r}:{a}:instance/{id}")),
            Touches::Bucket(name) => Some(format!("arn:{p}:s3:::{name}")),
            Touches::UserPool(pool, _) => {
                Some(format!("arn:{p}:cognito-idp:{r}:{a}:userpool/{pool}"))
            }
            // Images and snapshots have no account in their ARN.
            Touches::Ec2(kind @ ("image" | "snapshot"), id) => {
                Some(format!("arn:{p}:ec2:{r}::{kind}/{id}"))
            }
            Touches::Ec2(kind, id) => Some(format!("arn:{p}:ec2:{r}:{a}:{kind}/{id}")),
            Touches::Function(name) if name.starts_with("arn:") => Some(name.to_string()),
            Touches::Function(name) => Some(format!("arn:{p}:lambda:{r}:{a}:function:{name}")),
            Touches::Rds(_, id) if id.starts_with("arn:") => Some(id.to_string()),
            Touches::Rds(kind, id) => Some(format!("arn:{p}:rds:{r}:{a}:{kind}:{id}")),
        }
    }
}

/// Every fact of one action, stated in one place ([`Action::facts`]): a new action that leaves
/// one out does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts<'a> {
    /// Its name in JSON, on the page and in the log.
    pub kind: &'static str,
    /// The `[modes]` class that governs it.
    pub class: ActionClass,
    /// Its place in a plan: evidence first, the page last.
    pub rank: u8,
    /// The function that runs it.
    pub runs: Runs,
    /// Its target as one string: an id, a name or a prefix.
    pub target: String,
    /// What it acts on: the executor's guard judges this before every call.
    pub touches: Touches<'a>,
    /// What it would do, for dry runs.
    pub would: String,
}

impl Action {
    /// Every fact of the action.
    pub fn facts(&self) -> Facts<'_> {
        use ActionClass::{
            Cognito, Credentials, Evidence, InstanceIsolation, Irreversible, PublicAccess,
        };
        let facts = |kind, class, rank, runs, target: &str, touches, would: String| Facts {
            kind,
            class,
            rank,
            runs,
            target: target.to_string(),
            touches,
            would,
        };
        match self {
            Action::ProtectInstance { instance_id: i } => facts(
                "protect_instance",
                Evidence,
                0,
                Runs::Preserve,
                i,
                Touches::Instance(i),
                format!(
                    "turn on termination protection of {i}, make shutdown stop it, keep its volumes"
                ),
            ),
            // Rank 2 with the snapshots, after them in every plan: the image is written to the
            // instance's disk, which the snapshots must show as the attacker left it.
            Action::CaptureMemory { instance_id: i } => facts(
                "capture_memory",
                Evidence,
                2,
                Runs::Preserve,
                i,
                Touches::Instance(i),
                format!("capture the memory of {i} through Systems Manager and lock the image"),
            ),
            Action::SnapshotVolumes { instance_id: i } => facts(
                "snapshot_volumes",
                Evidence,
                2,
                Runs::Preserve,
                i,
                Touches::Instance(i),
                format!("snapshot every volume of {i}"),
            ),
            Action::PreserveEvidence => facts(
                "preserve_evidence",
                Evidence,
                3,
                Runs::Preserve,
                "evidence store",
                Touches::Nothing,
                "lock the evidence".into(),
            ),
            Action::DeactivateAccessKey {
                user_name,
                access_key_id,
            } => facts(
                "deactivate_access_key",
                Credentials,
                4,
                Runs::Contain,
                access_key_id,
                Touches::IamUser(user_name),
                format!("set {access_key_id} of {user_name} Inactive"),
            ),
            Action::DeactivateUserKeys { user_name } => facts(
                "deactivate_user_keys",
                Credentials,
                4,
                Runs::Contain,
                user_name,
                Touches::IamUser(user_name),
                format!(
                    "set every active access key of {user_name} Inactive (each can mint new \
                     sessions)"
                ),
            ),
            Action::RevokeUserSessions { user_name } => facts(
                "revoke_user_sessions",
                Credentials,
                5,
                Runs::Contain,
                user_name,
                Touches::IamUser(user_name),
                format!("put {REVOKE_POLICY} on user {user_name}"),
            ),
            Action::RevokeRoleSessions { role_name } => facts(
                "revoke_role_sessions",
                Credentials,
                6,
                Runs::Contain,
                role_name,
                Touches::IamRole(role_name),
                format!("put {REVOKE_POLICY} on role {role_name}"),
            ),
            Action::RevokeRoleSession { role_name, session } => facts(
                "revoke_role_session",
                Credentials,
                6,
                Runs::Contain,
                role_name,
                Touches::IamRole(role_name),
                format!(
                    "put a {SESSION_POLICY_PREFIX}… policy on role {role_name}: deny session \
                     {session}, issued before now"
                ),
            ),
            Action::DenyIdentityCenterUser {
                role_name,
                permission_set,
                user_name,
            } => facts(
                "deny_identity_center_user",
                Credentials,
                6,
                Runs::Contain,
                &format!("{permission_set}/{user_name}"),
                Touches::IamRole(role_name),
                format!(
                    "merge a deny for Identity Center user {user_name} into permission set \
                     {permission_set}'s inline policy and provision the set again"
                ),
            ),
            Action::RemoveAccountAssignment {
                role_name,
                permission_set,
                user_name,
            } => facts(
                "remove_account_assignment",
                Credentials,
                6,
                Runs::Contain,
                &format!("{permission_set}/{user_name}"),
                Touches::IamRole(role_name),
                format!(
                    "remove Identity Center user {user_name}'s assignment of permission set \
                     {permission_set} to the incident's account"
                ),
            ),
            Action::DenyUser { user_name } => facts(
                "deny_user",
                Credentials,
                7,
                Runs::Contain,
                user_name,
                Touches::IamUser(user_name),
                format!("attach Firebreak's deny-all managed policy to user {user_name}"),
            ),
            Action::RevokeInstanceProfileSessions {
                instance_id,
                instance_profile_arn,
            } => facts(
                "revoke_instance_profile_sessions",
                Credentials,
                8,
                Runs::Contain,
                instance_id,
                Touches::Instance(instance_id),
                format!("revoke the sessions of the roles of {instance_profile_arn}"),
            ),
            Action::QuarantineInstanceProfile {
                instance_id,
                instance_profile_arn,
            } => facts(
                "quarantine_instance_profile",
                Credentials,
                8,
                Runs::Contain,
                instance_id,
                Touches::Instance(instance_id),
                format!(
                    "replace {instance_id}'s instance profile {instance_profile_arn} with the \
                     quarantine profile, whose role denies everything"
                ),
            ),
            Action::CognitoStopSignUp { user_pool_id } => facts(
                "cognito_stop_sign_up",
                Cognito,
                9,
                Runs::Contain,
                user_pool_id,
                Touches::UserPool(user_pool_id, None),
                format!("set AllowAdminCreateUserOnly on {user_pool_id}"),
            ),
            Action::CognitoDisableUser {
                user_pool_id,
                username,
            } => facts(
                "cognito_disable_user",
                Cognito,
                10,
                Runs::Contain,
                &format!("{user_pool_id}/{username}"),
                Touches::UserPool(user_pool_id, Some(username)),
                format!("disable {username} in {user_pool_id}"),
            ),
            Action::CognitoGlobalSignOut {
                user_pool_id,
                username,
            } => facts(
                "cognito_global_sign_out",
                Cognito,
                11,
                Runs::Contain,
                &format!("{user_pool_id}/{username}"),
                Touches::UserPool(user_pool_id, Some(username)),
                format!("sign {username} out everywhere in {user_pool_id}"),
            ),
            Action::BlockPublicAccess { bucket } => facts(
                "block_public_access",
                PublicAccess,
                12,
                Runs::Contain,
                bucket,
                Touches::Bucket(bucket),
                format!("block all public access to {bucket}"),
            ),
            Action::DetachFromAutoScalingGroup {
                instance_id: i,
                group_name,
            } => facts(
                "detach_from_auto_scaling_group",
                InstanceIsolation,
                1,
                Runs::Contain,
                i,
                Touches::Instance(i),
                format!("detach {i} from Auto Scaling group {group_name}"),
            ),
            Action::DeregisterFromLoadBalancers { instance_id: i } => facts(
                "deregister_from_load_balancers",
                InstanceIsolation,
                1,
                Runs::Contain,
                i,
                Touches::Instance(i),
                format!(
                    "deregister {i} from every target group and classic load balancer it serves"
                ),
            ),
            Action::RevokeIngress { group_id, rules } => facts(
                "revoke_ingress",
                PublicAccess,
                12,
                Runs::Contain,
                group_id,
                Touches::Ec2("security-group", group_id),
                format!(
                    "revoke {} ingress permission(s) open to the internet from {group_id}",
                    rules.len()
                ),
            ),
            Action::RemoveShare {
                resource,
                accounts,
                public,
            } => facts(
                "remove_share",
                PublicAccess,
                12,
                Runs::Contain,
                resource.id(),
                match resource {
                    Shared::Image(id) => Touches::Ec2("image", id),
                    Shared::Snapshot(id) => Touches::Ec2("snapshot", id),
                    Shared::DbSnapshot(id) => Touches::Rds("snapshot", id),
                    Shared::DbClusterSnapshot(id) => Touches::Rds("cluster-snapshot", id),
                },
                format!(
                    "remove the share of {} with {}{}",
                    resource.id(),
                    if accounts.is_empty() {
                        String::new()
                    } else {
                        format!("account(s) {}", accounts.join(", "))
                    },
                    match (public, accounts.is_empty()) {
                        (true, true) => "everyone",
                        (true, false) => " and everyone",
                        (false, _) => "",
                    }
                ),
            ),
            Action::RemoveLambdaPermission {
                function_name,
                statement_id,
                grant,
            } => facts(
                "remove_lambda_permission",
                PublicAccess,
                12,
                Runs::Contain,
                function_name,
                Touches::Function(function_name),
                format!(
                    "remove statement {statement_id} ({} for {}) from {function_name}'s policy",
                    grant.action, grant.principal
                ),
            ),
            Action::DeleteLoginProfile { user_name } => facts(
                "delete_login_profile",
                Irreversible,
                7,
                Runs::Contain,
                user_name,
                Touches::IamUser(user_name),
                format!(
                    "delete the console password of user {user_name} (a release cannot restore it)"
                ),
            ),
            Action::IsolateInstance { instance_id: i } => facts(
                "isolate_instance",
                InstanceIsolation,
                13,
                Runs::Contain,
                i,
                Touches::Instance(i),
                format!(
                    "move every interface of {i} into the incident's isolation group (no rules)"
                ),
            ),
            Action::TagQuarantine { resource } => facts(
                "tag_quarantine",
                Evidence,
                14,
                Runs::Contain,
                resource.id(),
                match resource {
                    TagTarget::IamUser(name) => Touches::IamUser(name),
                    TagTarget::IamRole(name) => Touches::IamRole(name),
                    TagTarget::Instance(id) => Touches::Instance(id),
                    TagTarget::Bucket(name) => Touches::Bucket(name),
                },
                format!("tag {resource:?} {}", QUARANTINE_TAG),
            ),
            Action::Page { route } => facts(
                "page",
                Evidence,
                15,
                Runs::Page,
                &route.to_string(),
                Touches::Nothing,
                format!("page the {route} topic"),
            ),
        }
    }

    /// The action's name in JSON and on the page.
    pub fn kind(&self) -> &'static str {
        self.facts().kind
    }

    /// The mode class of the action.
    pub fn class(&self) -> ActionClass {
        self.facts().class
    }

    /// True for actions that change who can do what (as opposed to preserving or telling).
    pub fn is_containment(&self) -> bool {
        self.class() != ActionClass::Evidence
    }

    /// Where the action runs (kept apart so the effectors' order is the plan's order).
    fn rank(&self) -> u8 {
        self.facts().rank
    }

    /// The action's target as one string: an id, a name or a prefix.
    pub fn target(&self) -> String {
        self.facts().target
    }

    /// What the action would do, for dry runs.
    pub fn would(&self) -> String {
        self.facts().would
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
            ActionClass::Irreversible => modes.credentials.max(Mode::Approve),
        };
        match self.severity {
            // The stricter of the two: Off > Approve > Auto.
            Severity::S3 | Severity::S4 => base.max(modes.low_severity),
            Severity::S1 | Severity::S2 => base,
        }
    }

    pub fn push(&mut self, action: Action, reason: impl Into<Cow<'static, str>>) {
        self.push_at_least(action, Mode::Auto, reason);
    }

    /// Adds an action that runs no sooner than `floor` allows: `Approve` for one that waits
    /// for a human in this incident whatever `[modes]` says (a stricter mode stays).
    pub fn push_at_least(
        &mut self,
        action: Action,
        floor: Mode,
        reason: impl Into<Cow<'static, str>>,
    ) {
        if self.actions.iter().any(|a| a.action == action) {
            return;
        }
        let mode = self.mode_for(action.class()).max(floor);
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
    fn each_incident_revokes_a_session_under_a_name_of_its_own() {
        let session = "AROAEXAMPLEROLEID1234:i-0123456789abcdef0";
        let a = session_policy_name("FB-0123456789abcdef", session);
        let b = session_policy_name("FB-fedcba9876543210", session);
        assert_ne!(a, b);
        assert_ne!(
            a,
            session_policy_name("FB-0123456789abcdef", "AROAEXAMPLEROLEID1234:other")
        );
        assert!(
            a.starts_with("FirebreakRevokeSession-0123456789abcdef-"),
            "{a}"
        );
        assert!(is_session_policy_name(&a) && a.len() <= 128, "{a}");
        for other in [
            REVOKE_POLICY,
            "FirebreakRevokeSession-",
            "FirebreakRevokeSession-0123456789abcdef",
            &format!("{a}0"),
            &a.to_uppercase(),
        ] {
            assert!(!is_session_policy_name(other), "{other}");
        }
    }

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
