//! Who acted: the principal behind a finding or a CloudTrail record, normalised to what
//! containment needs (a user name, a role name) and to an ARN protection patterns can match.

use serde::{Deserialize, Serialize};

use crate::event::cloudtrail::UserIdentity;
use crate::event::guardduty::AccessKeyDetails;

/// The principal an incident is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Principal {
    /// The account's root user.
    Root {
        /// Account id.
        account: String,
    },
    /// An IAM user.
    IamUser {
        /// User name.
        name: String,
        /// User ARN.
        arn: String,
    },
    /// Temporary credentials of an IAM role.
    Role {
        /// Role name.
        name: String,
        /// Role ARN (path included when known).
        arn: String,
    },
    /// A federated session issued to an IAM user by GetFederationToken.
    FederatedUser {
        /// The IAM user that issued the federation token, when known.
        issuer: Option<String>,
        /// Principal ARN as reported.
        arn: String,
        /// The issuing IAM user's ARN (with its path), when the record names it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        issuer_arn: Option<String>,
    },
    /// An AWS service, an anonymous caller, or anything else that cannot be contained.
    Other {
        /// The identity type as reported (`AWSService`, `Unknown`, none).
        kind: String,
    },
}

impl Principal {
    /// The ARN as reported: the user, the role (not the session), the federated user.
    pub fn arn(&self) -> Option<&str> {
        match self {
            Principal::IamUser { arn, .. }
            | Principal::Role { arn, .. }
            | Principal::FederatedUser { arn, .. } => Some(arn),
            Principal::Root { .. } | Principal::Other { .. } => None,
        }
    }

    /// The one ARN protection is judged on: the IAM principal that containment would act on.
    /// A user's or role's ARN with its path when the event gave it (a role for an assumed-role
    /// session); for a federated session, the IAM user that issued it (its sessions are what
    /// containment revokes). `None` for root and non-IAM callers, which are never contained.
    pub fn canonical_arn(&self) -> Option<String> {
        match self {
            Principal::IamUser { arn, .. } | Principal::Role { arn, .. } => Some(arn.clone()),
            Principal::FederatedUser {
                issuer_arn: Some(arn),
                ..
            } => Some(arn.clone()),
            Principal::FederatedUser {
                issuer: Some(user),
                arn,
                ..
            } => {
                let (partition, account) = arn_partition_account(arn)?;
                Some(format!("arn:{partition}:iam::{account}:user/{user}"))
            }
            Principal::FederatedUser { issuer: None, .. }
            | Principal::Root { .. }
            | Principal::Other { .. } => None,
        }
    }

    /// The account the principal belongs to, read off its ARN (the root user's account).
    pub fn account(&self) -> Option<String> {
        match self {
            Principal::Root { account } => Some(account.clone()),
            Principal::Other { .. } => None,
            _ => self
                .canonical_arn()
                .and_then(|arn| arn_partition_account(&arn).map(|(_, a)| a.to_string())),
        }
    }

    /// A short description for humans ("IAM user deploy-bot").
    pub fn describe(&self) -> String {
        match self {
            Principal::Root { account } => format!("the root user of {account}"),
            Principal::IamUser { name, .. } => format!("IAM user {name}"),
            Principal::Role { name, .. } => format!("role {name}"),
            Principal::FederatedUser {
                issuer: Some(u), ..
            } => format!("a federated session of IAM user {u}"),
            Principal::FederatedUser { issuer: None, .. } => "a federated session".into(),
            Principal::Other { kind } => format!("a {kind} principal"),
        }
    }

    /// The principal of a CloudTrail record.
    pub fn from_cloudtrail(
        id: &UserIdentity,
        partition: &str,
        fallback_account: &str,
    ) -> Principal {
        let account = id.account_id.as_deref().unwrap_or(fallback_account);
        let issuer = id
            .session_context
            .as_ref()
            .and_then(|s| s.session_issuer.as_ref());
        match id.identity_type.as_deref() {
            Some("Root") => Principal::Root {
                account: account.to_string(),
            },
            Some("IAMUser") => match &id.user_name {
                Some(name) => Principal::IamUser {
                    name: name.clone(),
                    arn: id
                        .arn
                        .clone()
                        .unwrap_or_else(|| format!("arn:{partition}:iam::{account}:user/{name}")),
                },
                None => other("IAMUser"),
            },
            Some("AssumedRole") => {
                let name = issuer
                    .and_then(|i| i.user_name.clone())
                    .or_else(|| id.arn.as_deref().and_then(role_name_from_session_arn));
                match name {
                    Some(name) => {
                        let arn = issuer.and_then(|i| i.arn.clone()).unwrap_or_else(|| {
                            format!("arn:{partition}:iam::{account}:role/{name}")
                        });
                        Principal::Role { name, arn }
                    }
                    None => other("AssumedRole"),
                }
            }
            Some("FederatedUser") => {
                let user = issuer.filter(|i| i.issuer_type.as_deref() == Some("IAMUser"));
                Principal::FederatedUser {
                    issuer: user.and_then(|i| i.user_name.clone()),
                    arn: id.arn.clone().unwrap_or_default(),
                    issuer_arn: user.and_then(|i| i.arn.clone()).filter(|a| !a.is_empty()),
                }
            }
            Some(kind) => other(kind),
            None => other("anonymous"),
        }
    }

    /// The principal of a GuardDuty finding's access key.
    pub fn from_guardduty(k: &AccessKeyDetails, partition: &str, account: &str) -> Principal {
        let name = k.user_name.clone();
        match (k.user_type.as_deref(), name) {
            (Some("Root"), _) => Principal::Root {
                account: account.to_string(),
            },
            (Some("IAMUser"), Some(name)) => Principal::IamUser {
                arn: format!("arn:{partition}:iam::{account}:user/{name}"),
                name,
            },
            (Some("AssumedRole"), Some(name)) => Principal::Role {
                arn: format!("arn:{partition}:iam::{account}:role/{name}"),
                name,
            },
            (Some("FederatedUser"), name) => Principal::FederatedUser {
                issuer: None,
                arn: format!(
                    "arn:{partition}:sts::{account}:federated-user/{}",
                    name.unwrap_or_default()
                ),
                issuer_arn: None,
            },
            (Some(kind), _) => other(kind),
            (None, _) => other("unknown"),
        }
    }

    /// True when the role's path is `/aws-service-role/`, which only AWS can create roles under
    /// (a name alone proves nothing: anyone may name a role `AWSServiceRole…` where IAM lets them).
    pub fn is_service_linked_by_path(&self) -> bool {
        matches!(self, Principal::Role { arn, .. } if arn.contains(":role/aws-service-role/"))
    }

    /// True for AWS service-linked roles, which Firebreak never touches.
    pub fn is_service_linked_role(&self) -> bool {
        match self {
            Principal::Role { name, arn } => {
                name.starts_with("AWSServiceRole") || arn.contains(":role/aws-service-role/")
            }
            _ => false,
        }
    }
}

fn other(kind: &str) -> Principal {
    Principal::Other {
        kind: kind.to_string(),
    }
}

/// `arn:aws:iam::123:user/x` → `("aws", "123")`.
fn arn_partition_account(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let partition = parts.next()?;
    let account = parts.nth(2)?;
    parts.next()?;
    Some((partition, account))
}

/// An IAM user or role ARN without its path: `arn:aws:iam::1:role/a/b/Name` →
/// `arn:aws:iam::1:role/Name`. `None` for any other ARN.
pub fn without_iam_path(arn: &str) -> Option<String> {
    let (head, resource) = arn.rsplit_once(':')?;
    if !head.starts_with("arn:") || !head.contains(":iam::") {
        return None;
    }
    let (kind, rest) = resource.split_once('/')?;
    if kind != "user" && kind != "role" {
        return None;
    }
    let name = rest.rsplit('/').next()?;
    Some(format!("{head}:{kind}/{name}"))
}

/// Whether a protection pattern covers a principal's canonical ARN. IAM user and role names
/// are unique in their account whatever their path, and GuardDuty names a principal without
/// its path, so a pattern whose resource part is literal also matches the same account, kind
/// and name under any path. A pattern with wildcards in its resource part matches the full ARN
/// only (the executor's guard reads the real path before it acts).
pub fn protects(pattern: &str, arn: &str) -> bool {
    if pattern_matches(pattern, arn) {
        return true;
    }
    let literal = pattern
        .rsplit_once(':')
        .is_some_and(|(_, resource)| !resource.contains(['*', '?']));
    match (literal, without_iam_path(pattern), without_iam_path(arn)) {
        (true, Some(p), Some(a)) => pattern_matches(&p, &a),
        _ => false,
    }
}

/// `arn:aws:sts::123:assumed-role/Name/session` → `Name`.
fn role_name_from_session_arn(arn: &str) -> Option<String> {
    let rest = arn.split_once(":assumed-role/")?.1;
    rest.split('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Matches `text` against a pattern where `*` is any run of characters and `?` any one character.
pub fn pattern_matches(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        assert!(pattern_matches(
            "arn:*:iam::*:role/BreakGlass",
            "arn:aws:iam::111122223333:role/BreakGlass"
        ));
        assert!(pattern_matches(
            "arn:*:iam::*:role/Firebreak*",
            "arn:aws-cn:iam::1:role/FirebreakContain"
        ));
        assert!(!pattern_matches(
            "arn:*:iam::*:role/BreakGlass",
            "arn:aws:iam::1:role/BreakGlass2"
        ));
        assert!(pattern_matches("a?c", "abc"));
        assert!(!pattern_matches("a?c", "ac"));
        assert!(pattern_matches("*", ""));
        assert!(pattern_matches("**x", "yyx"));
        assert!(!pattern_matches("", "x"));
    }

    #[test]
    fn protection_ignores_a_literal_path_only() {
        let exact = "arn:aws:iam::1:role/ops/Deploy";
        assert!(protects(exact, "arn:aws:iam::1:role/ops/Deploy"));
        // GuardDuty names no path; names are unique per account.
        assert!(protects(exact, "arn:aws:iam::1:role/Deploy"));
        assert!(protects(
            "arn:*:iam::*:role/Deploy",
            "arn:aws:iam::1:role/x/Deploy"
        ));
        assert!(!protects(exact, "arn:aws:iam::2:role/Deploy"));
        assert!(!protects(exact, "arn:aws:iam::1:user/Deploy"));
        assert!(!protects(exact, "arn:aws:iam::1:role/Deploy2"));
        // A wildcard path is matched against the full ARN only.
        let under = "arn:aws:iam::1:role/service-role/*";
        assert!(protects(under, "arn:aws:iam::1:role/service-role/Runner"));
        assert!(!protects(under, "arn:aws:iam::1:role/Runner"));
        assert!(!protects("arn:aws:s3:::bucket", "arn:aws:s3:::bucket2"));
        assert_eq!(
            without_iam_path("arn:aws:iam::1:user/a/b/c"),
            Some("arn:aws:iam::1:user/c".into())
        );
        assert_eq!(without_iam_path("arn:aws:s3:::b/c"), None);
    }

    #[test]
    fn canonical_arns() {
        let federated = Principal::FederatedUser {
            issuer: Some("alice".into()),
            arn: "arn:aws:sts::1:federated-user/bob".into(),
            issuer_arn: None,
        };
        assert_eq!(
            federated.canonical_arn().as_deref(),
            Some("arn:aws:iam::1:user/alice")
        );
        assert_eq!(federated.account().as_deref(), Some("1"));
        let with_path = Principal::FederatedUser {
            issuer: Some("alice".into()),
            arn: "arn:aws:sts::1:federated-user/bob".into(),
            issuer_arn: Some("arn:aws:iam::1:user/team/alice".into()),
        };
        assert_eq!(
            with_path.canonical_arn().as_deref(),
            Some("arn:aws:iam::1:user/team/alice")
        );
        let role = Principal::Role {
            name: "Deploy".into(),
            arn: "arn:aws:iam::2:role/x/Deploy".into(),
        };
        assert_eq!(role.account().as_deref(), Some("2"));
    }

    #[test]
    fn session_arn_role_name() {
        assert_eq!(
            role_name_from_session_arn("arn:aws:sts::1:assumed-role/Deploy/ci-123"),
            Some("Deploy".into())
        );
        assert_eq!(role_name_from_session_arn("arn:aws:iam::1:user/x"), None);
    }

    #[test]
    fn service_linked() {
        let p = Principal::Role {
            name: "AWSServiceRoleForAutoScaling".into(),
            arn: "arn:aws:iam::1:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling".into(),
        };
        assert!(p.is_service_linked_role());
    }
}
