//! Names and text as AWS allows them. Every identifier Firebreak acts on comes from an event an
//! attacker may have shaped; a name outside the character set AWS allows for it cannot be the
//! resource the event claims, so the event is refused before anything is planned. Free text
//! (titles, notes, names) is shown to humans in terminals, pages and logs: control characters
//! and escape sequences never reach them.

use std::borrow::Cow;

use crate::action::plan::{Action, Shared, TagTarget};

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadName {
    /// What kind of name (`IAM user name`, `bucket name`, …).
    pub kind: &'static str,
    /// The name, made printable and clipped.
    pub shown: String,
    /// The rule it breaks.
    pub rule: &'static str,
}

impl std::fmt::Display for BadName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:?} is not one AWS allows ({}): refused",
            self.kind, self.shown, self.rule
        )
    }
}

fn check(kind: &'static str, name: &str, ok: bool, rule: &'static str) -> Result<(), BadName> {
    if ok {
        return Ok(());
    }
    let mut shown: String = printable_line(name).chars().take(80).collect();
    if name.chars().count() > 80 {
        shown.push('…');
    }
    Err(BadName { kind, shown, rule })
}

fn len_in(name: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&name.len())
}

/// IAM user and role names: `[\w+=,.@-]`, 1–64 characters.
fn iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// An IAM user name (1–64 of `[\w+=,.@-]`).
pub fn iam_user(name: &str) -> Result<(), BadName> {
    check(
        "IAM user name",
        name,
        len_in(name, 1, 64) && name.chars().all(iam_name_char),
        "1-64 of letters, digits and _+=,.@-",
    )
}

/// An IAM role name (1–64 of `[\w+=,.@-]`).
pub fn iam_role(name: &str) -> Result<(), BadName> {
    check(
        "IAM role name",
        name,
        len_in(name, 1, 64) && name.chars().all(iam_name_char),
        "1-64 of letters, digits and _+=,.@-",
    )
}

/// An access key id (16–128 upper-case letters and digits).
pub fn access_key_id(id: &str) -> Result<(), BadName> {
    check(
        "access key id",
        id,
        len_in(id, 16, 128)
            && id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
        "16-128 upper-case letters and digits",
    )
}

/// An EC2 instance id (`i-` and 8 or 17 hex digits).
pub fn instance_id(id: &str) -> Result<(), BadName> {
    let hex = id.strip_prefix("i-").unwrap_or("");
    check(
        "instance id",
        id,
        matches!(hex.len(), 8 | 17) && hex.chars().all(|c| c.is_ascii_hexdigit()),
        "i- and 8 or 17 hex digits",
    )
}

/// An S3 bucket name (3–63 of lower-case letters, digits, `.` and `-`, starting and ending
/// with a letter or digit).
pub fn bucket(name: &str) -> Result<(), BadName> {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    check(
        "bucket name",
        name,
        len_in(name, 3, 63)
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
            && edge(name.chars().next())
            && edge(name.chars().last()),
        "3-63 of a-z, 0-9, . and -, a letter or digit at each end",
    )
}

/// A Cognito user pool id (`<region>_<id>`).
pub fn user_pool_id(id: &str) -> Result<(), BadName> {
    let ok = id.split_once('_').is_some_and(|(region, rest)| {
        len_in(region, 1, 50)
            && region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
            && len_in(rest, 1, 50)
            && rest.chars().all(|c| c.is_ascii_alphanumeric())
    }) && id.len() <= 55;
    check("user pool id", id, ok, "<region>_<letters and digits>")
}

/// A Cognito user name: 1–128 printable characters, no white space or control characters.
pub fn cognito_username(name: &str) -> Result<(), BadName> {
    check(
        "Cognito user name",
        name,
        len_in(name, 1, 128) && name.chars().all(|c| !c.is_control() && !c.is_whitespace()),
        "1-128 characters, no space or control character",
    )
}

/// An Auto Scaling group name as Firebreak prints it: 1-255 characters, none of them a control
/// character or a bidirectional override (AWS allows more; triage names such a group without
/// its name rather than refuse the finding).
pub fn auto_scaling_group(name: &str) -> Result<(), BadName> {
    let chars = name.chars().count();
    check(
        "Auto Scaling group name",
        name,
        (1..=255).contains(&chars) && !name.chars().any(unprintable),
        "1-255 characters, no control character or bidirectional override",
    )
}

/// A role session's `aws:userid`: the role's unique id (`AROA` and upper-case letters and
/// digits), `:`, and the session name (2-64 of letters, digits and `_+=,.@-`).
pub fn role_session(id: &str) -> Result<(), BadName> {
    let ok = id.split_once(':').is_some_and(|(role, session)| {
        role.strip_prefix("AROA").is_some_and(|rest| {
            len_in(rest, 8, 124)
                && rest
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        }) && len_in(session, 2, 64)
            && session
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    });
    check(
        "role session",
        id,
        ok,
        "AROA<upper-case letters and digits>:<session name of 2-64 of letters, digits, _+=,.@->",
    )
}

/// The role IAM Identity Center creates for a permission set in each account it is provisioned
/// to: `AWSReservedSSO_<permission set name>_<16 hex digits>`.
pub const IDENTITY_CENTER_ROLE_PREFIX: &str = "AWSReservedSSO_";

/// The permission set behind an Identity Center role name, when it is one
/// (`AWSReservedSSO_<set>_<16 hex>`; a set's name is 1-32 of `[\w+=,.@-]`).
pub fn identity_center_permission_set(role_name: &str) -> Option<&str> {
    let rest = role_name.strip_prefix(IDENTITY_CENTER_ROLE_PREFIX)?;
    let (set, suffix) = rest.rsplit_once('_')?;
    let suffix_ok = suffix.len() == 16 && suffix.chars().all(|c| c.is_ascii_hexdigit());
    (suffix_ok && permission_set_name(set).is_ok()).then_some(set)
}

/// An Identity Center permission set's name: 1-32 of letters, digits and `_+=,.@-`.
pub fn permission_set_name(name: &str) -> Result<(), BadName> {
    check(
        "permission set name",
        name,
        len_in(name, 1, 32) && name.chars().all(iam_name_char),
        "1-32 of letters, digits and _+=,.@-",
    )
}

/// An Identity Center user name as a role session names it: 2-64 of `[\w+=,.@-]`.
pub fn identity_center_user(name: &str) -> Result<(), BadName> {
    check(
        "Identity Center user name",
        name,
        len_in(name, 2, 64) && name.chars().all(iam_name_char),
        "2-64 of letters, digits and _+=,.@-",
    )
}

/// An instance profile ARN (`arn:<partition>:iam::<account>:instance-profile/[path/]name`).
pub fn instance_profile_arn(arn: &str) -> Result<(), BadName> {
    let ok = arn.starts_with("arn:")
        && arn.len() <= 2048
        && arn.contains(":instance-profile/")
        && arn.chars().all(|c| c.is_ascii_graphic());
    check(
        "instance profile ARN",
        arn,
        ok,
        "an IAM instance-profile ARN of printable ASCII",
    )
}

/// A CIDR that covers a large share of the internet: IPv4 /0-/7, IPv6 /0-/15 (`0.0.0.0/1` and
/// `128.0.0.0/1` together are the whole internet). One judge for the rule that fires, the undo
/// that is planned and the check of what it acts on.
pub fn world_wide(cidr: &str) -> bool {
    let Some((addr, len)) = cidr.trim().split_once('/') else {
        return false;
    };
    let Ok(len) = len.parse::<u8>() else {
        return false;
    };
    if addr.contains(':') {
        len < 16
    } else {
        len < 8
    }
}

/// An EC2 id of the form `<prefix>-<8 or 17 hex digits>` (`sg-…`, `ami-…`, `snap-…`).
pub fn ec2_id(kind: &'static str, prefix: &str, id: &str) -> Result<(), BadName> {
    let hex = id
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|h| matches!(h.len(), 8 | 17) && h.bytes().all(|b| b.is_ascii_hexdigit()));
    check(kind, id, hex, "the prefix, a hyphen and 8 or 17 hex digits")
}

/// A database (cluster) snapshot identifier or ARN: letters, digits, hyphens and the colons of
/// an ARN, at most 255 characters.
pub fn db_snapshot(id: &str) -> Result<(), BadName> {
    check(
        "database snapshot identifier",
        id,
        len_in(id, 1, 255)
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-:".contains(c)),
        "1-255 of letters, digits, - and :",
    )
}

/// A 12-digit AWS account id.
pub fn account_id(id: &str) -> Result<(), BadName> {
    check(
        "account id",
        id,
        id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()),
        "12 digits",
    )
}

/// A Lambda function name or ARN (`[A-Za-z0-9-_:.$]`, at most 140 characters).
pub fn function_name(name: &str) -> Result<(), BadName> {
    check(
        "Lambda function name",
        name,
        len_in(name, 1, 140)
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_:.$".contains(c)),
        "1-140 of letters, digits and -_:.$",
    )
}

/// A Lambda permission's statement id (`[a-zA-Z0-9-_.]`, 1–100 characters).
pub fn statement_id(id: &str) -> Result<(), BadName> {
    check(
        "statement id",
        id,
        len_in(id, 1, 100)
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
        "1-100 of letters, digits and -_.",
    )
}

/// Checks every identifier an action would act on.
pub fn check_action(action: &Action) -> Result<(), BadName> {
    match action {
        Action::ProtectInstance { instance_id: i }
        | Action::CaptureMemory { instance_id: i }
        | Action::SnapshotVolumes { instance_id: i }
        | Action::IsolateInstance { instance_id: i }
        | Action::DeregisterFromLoadBalancers { instance_id: i } => instance_id(i),
        Action::RevokeInstanceProfileSessions {
            instance_id: i,
            instance_profile_arn: profile,
        }
        | Action::QuarantineInstanceProfile {
            instance_id: i,
            instance_profile_arn: profile,
        } => instance_id(i).and_then(|()| instance_profile_arn(profile)),
        Action::DetachFromAutoScalingGroup {
            instance_id: i,
            group_name,
        } => instance_id(i).and_then(|()| auto_scaling_group(group_name)),
        Action::PreserveEvidence | Action::Page { .. } => Ok(()),
        Action::DeactivateAccessKey {
            user_name,
            access_key_id: key,
        } => iam_user(user_name).and_then(|()| access_key_id(key)),
        Action::RevokeUserSessions { user_name }
        | Action::DenyUser { user_name }
        | Action::DeactivateUserKeys { user_name } => iam_user(user_name),
        Action::RevokeRoleSessions { role_name } => iam_role(role_name),
        Action::RevokeRoleSession { role_name, session } => {
            iam_role(role_name).and_then(|()| role_session(session))
        }
        Action::DenyIdentityCenterUser {
            role_name,
            permission_set,
            user_name,
        }
        | Action::RemoveAccountAssignment {
            role_name,
            permission_set,
            user_name,
        } => iam_role(role_name)
            .and_then(|()| permission_set_name(permission_set))
            .and_then(|()| identity_center_user(user_name)),
        Action::CognitoStopSignUp { user_pool_id: pool } => user_pool_id(pool),
        Action::CognitoDisableUser {
            user_pool_id: pool,
            username,
        }
        | Action::CognitoGlobalSignOut {
            user_pool_id: pool,
            username,
        } => user_pool_id(pool).and_then(|()| cognito_username(username)),
        Action::BlockPublicAccess { bucket: b } => bucket(b),
        Action::RevokeIngress { group_id, rules } => {
            ec2_id("security group id", "sg", group_id)?;
            for r in rules {
                check(
                    "ingress range",
                    &r.cidr,
                    world_wide(&r.cidr)
                        && r.cidr
                            .chars()
                            .all(|c| c.is_ascii_hexdigit() || ".:/".contains(c)),
                    "an IPv4 range of /7 or wider, or an IPv6 range of /15 or wider",
                )?;
                check(
                    "IP protocol",
                    &r.protocol,
                    len_in(&r.protocol, 1, 8)
                        && r.protocol
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-'),
                    "a protocol name or number",
                )?;
            }
            Ok(())
        }
        Action::RemoveShare {
            resource, accounts, ..
        } => {
            match resource {
                Shared::Image(id) => ec2_id("image id", "ami", id)?,
                Shared::Snapshot(id) => ec2_id("snapshot id", "snap", id)?,
                Shared::DbSnapshot(id) | Shared::DbClusterSnapshot(id) => db_snapshot(id)?,
            }
            accounts.iter().try_for_each(|a| account_id(a))
        }
        Action::RemoveLambdaPermission {
            function_name: f,
            statement_id: s,
            ..
        } => function_name(f).and_then(|()| statement_id(s)),
        Action::DeleteLoginProfile { user_name } => iam_user(user_name),
        Action::TagQuarantine { resource } => match resource {
            TagTarget::IamUser(u) => iam_user(u),
            TagTarget::IamRole(r) => iam_role(r),
            TagTarget::Instance(i) => instance_id(i),
            TagTarget::Bucket(b) => bucket(b),
        },
    }
}

/// `text` as one printable line: every control character (newlines, tabs and the escape that
/// starts terminal sequences included) and every Unicode bidirectional override becomes `�`,
/// so a name can neither start a new line of a page nor repaint a terminal.
pub fn printable_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unprintable) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if unprintable(c) { '\u{FFFD}' } else { c })
            .collect(),
    )
}

/// `text` with its line breaks kept and every other control character replaced, for
/// multi-line output composed by Firebreak itself (pages, terminal output).
pub fn printable_text(text: &str) -> Cow<'_, str> {
    let bad = |c: char| c != '\n' && unprintable(c);
    if !text.chars().any(bad) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if bad(c) { '\u{FFFD}' } else { c })
            .collect(),
    )
}

fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_names() {
        assert!(iam_user("deploy-bot").is_ok());
        assert!(iam_user("a.b+c=d,e@f_g").is_ok());
        for bad in ["", "a b", "a/b", "x\u{1b}[2J", "é", &"a".repeat(65)] {
            assert!(iam_user(bad).is_err(), "{bad:?}");
            assert!(iam_role(bad).is_err(), "{bad:?}");
        }
        let err = iam_user("evil\nWHAT FIREBREAK DID")
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn resource_ids() {
        assert!(instance_id("i-0123456789abcdef0").is_ok());
        assert!(instance_id("i-01234567").is_ok());
        assert!(instance_id("i-xyz").is_err());
        assert!(instance_id("sg-01234567").is_err());
        assert!(bucket("my.bucket-1").is_ok());
        assert!(bucket("My_Bucket").is_err());
        assert!(bucket("-ab").is_err());
        assert!(access_key_id("AKIAIOSFODNN7EXAMPLE").is_ok());
        assert!(access_key_id("akia").is_err());
        assert!(user_pool_id("eu-west-1_Mkt4Invit").is_ok());
        assert!(user_pool_id("eu-west-1/x").is_err());
        assert!(cognito_username("7d8f-11aa").is_ok());
        assert!(cognito_username("a\u{1b}b").is_err());
    }

    #[test]
    fn text_is_made_printable() {
        assert_eq!(printable_line("plain"), "plain");
        assert!(matches!(printable_line("plain"), Cow::Borrowed(_)));
        assert_eq!(printable_line("a\nb\u{1b}[31m"), "a\u{FFFD}b\u{FFFD}[31m");
        assert_eq!(printable_line("x\u{202E}y"), "x\u{FFFD}y");
        assert_eq!(printable_text("a\nb\r\u{7}"), "a\nb\u{FFFD}\u{FFFD}");
    }
}
