//! IAM effectors: session revocation, key deactivation, deny-all, quarantine tags.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use crate::sdk::error::Undone;
use crate::sdk::error::{AwsError, SdkResultExt};

pub use firebreak_core::action::plan::REVOKE_POLICY;
/// The inline deny-all Firebreak put on a user before it attached its managed policy instead;
/// records that name it still release.
pub const DENY_ALL_POLICY: &str = "FirebreakDenyAll";
pub use firebreak_core::action::plan::QUARANTINE_TAG;

/// Deny everything to sessions issued before `now`.
pub fn revoke_policy(now: DateTime<Utc>) -> String {
    deny_issued_before(now, None)
}

/// Deny everything to the sessions issued before `now`, or to only `session` (an `aws:userid`).
fn deny_issued_before(now: DateTime<Utc>, session: Option<&str>) -> String {
    let mut condition = json!({
        "DateLessThan": {"aws:TokenIssueTime": now.to_rfc3339_opts(SecondsFormat::Secs, true)}
    });
    if let Some(session) = session {
        condition["StringEquals"] = json!({"aws:userid": session});
    }
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": ["*"], "Resource": ["*"], "Condition": condition}]
    })
    .to_string()
}

/// Puts the revocation policy on a role.
pub async fn revoke_role_sessions(
    iam: &aws_sdk_iam::Client,
    role: &str,
    now: DateTime<Utc>,
) -> Result<String, AwsError> {
    iam.put_role_policy()
        .role_name(role)
        .policy_name(REVOKE_POLICY)
        .policy_document(revoke_policy(now))
        .send()
        .await
        .aws()?;
    Ok(format!(
        "{REVOKE_POLICY} on role {role}: sessions issued before {} denied",
        now.to_rfc3339_opts(SecondsFormat::Secs, true)
    ))
}

/// Deny everything to the one session `session` (an `aws:userid`) issued before `now`: a later
/// session of the same name (EC2 and Lambda name theirs by instance and function) works.
pub fn session_revoke_policy(session: &str, now: DateTime<Utc>) -> String {
    deny_issued_before(now, Some(session))
}

/// The role's unique id (`AROA…`), the first part of its sessions' `aws:userid`.
pub async fn role_id(iam: &aws_sdk_iam::Client, role: &str) -> Result<String, AwsError> {
    let r = iam.get_role().role_name(role).send().await.aws()?;
    r.role()
        .map(|r| r.role_id().to_string())
        .ok_or_else(|| AwsError::new("NoSuchEntity", format!("role {role} was not returned")))
}

/// The role's path (`/`, `/aws-reserved/sso.amazonaws.com/eu-west-1/`, …).
pub async fn role_path(iam: &aws_sdk_iam::Client, role: &str) -> Result<String, AwsError> {
    let r = iam.get_role().role_name(role).send().await.aws()?;
    r.role()
        .map(|r| r.path().to_string())
        .ok_or_else(|| AwsError::new("NoSuchEntity", format!("role {role} was not returned")))
}

/// The most session-revoking policies Firebreak keeps on one role: each takes about 300 of the
/// 10,240 characters of inline policy a role may hold, and the whole-role revoke and the role's
/// owner need room too.
pub const MAX_SESSION_POLICIES: usize = 10;

/// Puts the policy `name` that revokes one session of a role. Refused, before anything is
/// written, when the role holds [`MAX_SESSION_POLICIES`] already: many sessions of one role are
/// the whole role's business.
pub async fn revoke_role_session(
    iam: &aws_sdk_iam::Client,
    role: &str,
    session: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), AwsError> {
    let held = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .aws()?
        .policy_names()
        .iter()
        .filter(|n| firebreak_core::action::plan::is_session_policy_name(n) && n.as_str() != name)
        .count();
    if held >= MAX_SESSION_POLICIES {
        return Err(AwsError::new(
            "TooManySessions",
            format!(
                "role {role} already holds {held} session revocations: approve \
                 revoke_role_sessions to end every session of it"
            ),
        ));
    }
    iam.put_role_policy()
        .role_name(role)
        .policy_name(name)
        .policy_document(session_revoke_policy(session, now))
        .send()
        .await
        .aws()?;
    Ok(())
}

/// Puts the revocation policy on a user (its GetSessionToken and federation sessions).
pub async fn revoke_user_sessions(
    iam: &aws_sdk_iam::Client,
    user: &str,
    now: DateTime<Utc>,
) -> Result<String, AwsError> {
    iam.put_user_policy()
        .user_name(user)
        .policy_name(REVOKE_POLICY)
        .policy_document(revoke_policy(now))
        .send()
        .await
        .aws()?;
    Ok(format!(
        "{REVOKE_POLICY} on user {user}: sessions issued before {} denied",
        now.to_rfc3339_opts(SecondsFormat::Secs, true)
    ))
}

/// Outcome of a key deactivation.
pub enum KeyChange {
    /// Set Inactive now.
    Deactivated,
    /// Was already Inactive.
    AlreadyInactive,
}

/// Sets exactly this key Inactive; the user's other keys are not read or touched beyond the listing.
pub async fn deactivate_access_key(
    iam: &aws_sdk_iam::Client,
    user: &str,
    key_id: &str,
) -> Result<KeyChange, AwsError> {
    let keys = iam.list_access_keys().user_name(user).send().await.aws()?;
    let key = keys
        .access_key_metadata()
        .iter()
        .find(|k| k.access_key_id() == Some(key_id))
        .ok_or_else(|| {
            AwsError::new(
                "NoSuchEntity",
                format!("access key {key_id} does not belong to user {user}"),
            )
        })?;
    if key.status() == Some(&aws_sdk_iam::types::StatusType::Inactive) {
        return Ok(KeyChange::AlreadyInactive);
    }
    set_inactive(iam, user, key_id).await?;
    Ok(KeyChange::Deactivated)
}

/// `UpdateAccessKey` to Inactive.
async fn set_inactive(iam: &aws_sdk_iam::Client, user: &str, key_id: &str) -> Result<(), AwsError> {
    iam.update_access_key()
        .user_name(user)
        .access_key_id(key_id)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .aws()
        .map(|_| ())
}

/// Sets every Active access key of the user Inactive; the keys changed, in order. A key that
/// could not be changed stops the walk with its error, after the ones before it: `changed` has
/// them, so they are recorded for release.
pub async fn deactivate_user_keys(
    iam: &aws_sdk_iam::Client,
    user: &str,
    changed: &mut Vec<String>,
) -> Result<usize, AwsError> {
    let keys = iam.list_access_keys().user_name(user).send().await.aws()?;
    let mut inactive = 0;
    for key in keys.access_key_metadata() {
        let Some(id) = key.access_key_id() else {
            continue;
        };
        if key.status() != Some(&aws_sdk_iam::types::StatusType::Active) {
            inactive += 1;
            continue;
        }
        set_inactive(iam, user, id).await?;
        changed.push(id.to_string());
    }
    Ok(inactive)
}

/// The ARN of Firebreak's deny-all managed policy `name` in `account` (created by the stack in
/// the security account and by `infra/member-role.yaml` in member accounts).
pub fn deny_policy_arn(partition: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:iam::{account}:policy/{name}")
}

/// Attaches Firebreak's deny-all managed policy `policy_arn` to the user. The functions' roles may
/// attach this policy only (`iam:PolicyARN`), so no inline policy is written to deny a user.
pub async fn deny_user(
    iam: &aws_sdk_iam::Client,
    user: &str,
    policy_arn: &str,
) -> Result<String, AwsError> {
    iam.attach_user_policy()
        .user_name(user)
        .policy_arn(policy_arn)
        .send()
        .await
        .aws()?;
    Ok(format!("{policy_arn} attached to user {user}"))
}

/// Detaches Firebreak's deny-all managed policy from the user, if it is attached. Only a policy
/// named `deny_policy` (the configured deny-all) is ever detached: a record naming any other
/// policy is refused.
pub async fn detach_user_policy(
    iam: &aws_sdk_iam::Client,
    user: &str,
    policy_arn: &str,
    deny_policy: &str,
) -> Result<Undone, AwsError> {
    let name = policy_arn.strip_prefix("arn:").and_then(|rest| {
        let (head, name) = rest.rsplit_once(":policy/")?;
        (head.split(':').count() == 4 && !name.contains('/')).then_some(name)
    });
    if name != Some(deny_policy) {
        return Err(AwsError::new(
            "NotFirebreaks",
            format!("{policy_arn} is not Firebreak's deny-all policy {deny_policy}: left alone"),
        ));
    }
    match iam
        .detach_user_policy()
        .user_name(user)
        .policy_arn(policy_arn)
        .send()
        .await
        .aws()
    {
        Ok(_) => Ok(Undone::Changed(format!(
            "{policy_arn} detached from user {user}"
        ))),
        Err(e) if e.code == "NoSuchEntity" => Ok(Undone::Unchanged(format!(
            "{policy_arn} was not attached to user {user}"
        ))),
        Err(e) => Err(e),
    }
}

/// The roles of an instance profile (by ARN).
pub async fn instance_profile_roles(
    iam: &aws_sdk_iam::Client,
    profile_arn: &str,
) -> Result<Vec<(String, String)>, AwsError> {
    let name = profile_arn
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            AwsError::new(
                "InvalidInput",
                format!("{profile_arn} is not an instance profile ARN"),
            )
        })?;
    let out = iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .aws()?;
    Ok(out
        .instance_profile()
        .map(|p| {
            p.roles()
                .iter()
                .map(|r| (r.role_name().to_string(), r.arn().to_string()))
                .collect()
        })
        .unwrap_or_default())
}

/// Tags a user with the quarantine tag.
pub async fn tag_user(iam: &aws_sdk_iam::Client, user: &str, value: &str) -> Result<(), AwsError> {
    iam.tag_user()
        .user_name(user)
        .tags(tag(value)?)
        .send()
        .await
        .aws()?;
    Ok(())
}

/// Tags a role with the quarantine tag.
pub async fn tag_role(iam: &aws_sdk_iam::Client, role: &str, value: &str) -> Result<(), AwsError> {
    iam.tag_role()
        .role_name(role)
        .tags(tag(value)?)
        .send()
        .await
        .aws()?;
    Ok(())
}

fn tag(value: &str) -> Result<aws_sdk_iam::types::Tag, AwsError> {
    aws_sdk_iam::types::Tag::builder()
        .key(QUARANTINE_TAG)
        .value(value)
        .build()
        .map_err(|e| AwsError::new("InvalidInput", e.to_string()))
}

/// The principal's state, as evidence: the user's keys and policies, or the role's trust.
pub async fn describe_user(
    iam: &aws_sdk_iam::Client,
    user: &str,
) -> Result<serde_json::Value, AwsError> {
    let u = iam.get_user().user_name(user).send().await.aws()?;
    let keys = iam.list_access_keys().user_name(user).send().await.aws()?;
    let inline = iam
        .list_user_policies()
        .user_name(user)
        .send()
        .await
        .aws()?;
    let attached = iam
        .list_attached_user_policies()
        .user_name(user)
        .send()
        .await
        .aws()?;
    let user = u.user();
    Ok(json!({
        "type": "iam_user",
        "name": user.map(|u| u.user_name()),
        "arn": user.map(|u| u.arn()),
        "created": user.map(|u| u.create_date().to_string()),
        "password_last_used": user.and_then(|u| u.password_last_used()).map(|d| d.to_string()),
        "access_keys": keys.access_key_metadata().iter().map(|k| json!({
            "id": k.access_key_id(), "status": k.status().map(|s| s.as_str()), "created": k.create_date().map(|d| d.to_string())
        })).collect::<Vec<_>>(),
        "inline_policies": inline.policy_names(),
        "attached_policies": attached.attached_policies().iter().map(|p| p.policy_arn()).collect::<Vec<_>>(),
    }))
}

/// The role's state, as evidence.
pub async fn describe_role(
    iam: &aws_sdk_iam::Client,
    role: &str,
) -> Result<serde_json::Value, AwsError> {
    let r = iam.get_role().role_name(role).send().await.aws()?;
    let inline = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .aws()?;
    let attached = iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .aws()?;
    let role = r.role();
    Ok(json!({
        "type": "iam_role",
        "name": role.map(|r| r.role_name()),
        "arn": role.map(|r| r.arn()),
        "created": role.map(|r| r.create_date().to_string()),
        "trust_policy": role.and_then(|r| r.assume_role_policy_document()),
        "inline_policies": inline.policy_names(),
        "attached_policies": attached.attached_policies().iter().map(|p| p.policy_arn()).collect::<Vec<_>>(),
    }))
}

/// Sets this key of the user Active again (a release with `--reactivate-keys`).
pub async fn reactivate_access_key(
    iam: &aws_sdk_iam::Client,
    user: &str,
    key_id: &str,
) -> Result<Undone, AwsError> {
    let keys = iam.list_access_keys().user_name(user).send().await.aws()?;
    let key = keys
        .access_key_metadata()
        .iter()
        .find(|k| k.access_key_id() == Some(key_id))
        .ok_or_else(|| {
            AwsError::new(
                "NoSuchEntity",
                format!("access key {key_id} does not belong to user {user} (deleted since?)"),
            )
        })?;
    if key.status() == Some(&aws_sdk_iam::types::StatusType::Active) {
        return Ok(Undone::Unchanged(format!("{key_id} was already Active")));
    }
    iam.update_access_key()
        .user_name(user)
        .access_key_id(key_id)
        .status(aws_sdk_iam::types::StatusType::Active)
        .send()
        .await
        .aws()?;
    Ok(Undone::Changed(format!("{key_id} set Active again")))
}

/// True for the inline policy names Firebreak writes; a release deletes no other.
pub fn is_firebreak_policy(name: &str) -> bool {
    name == REVOKE_POLICY
        || name == DENY_ALL_POLICY
        || firebreak_core::action::plan::is_session_policy_name(name)
}

/// Deletes Firebreak's inline policy `name` from the user, if it is there.
pub async fn delete_user_policy(
    iam: &aws_sdk_iam::Client,
    user: &str,
    name: &str,
) -> Result<Undone, AwsError> {
    refuse_foreign_policy(name)?;
    match iam
        .delete_user_policy()
        .user_name(user)
        .policy_name(name)
        .send()
        .await
        .aws()
    {
        Ok(_) => Ok(Undone::Changed(format!("{name} deleted from user {user}"))),
        Err(e) if e.code == "NoSuchEntity" => {
            Ok(Undone::Unchanged(format!("{name} was not on user {user}")))
        }
        Err(e) => Err(e),
    }
}

/// Deletes Firebreak's inline policy `name` from the role, if it is there.
pub async fn delete_role_policy(
    iam: &aws_sdk_iam::Client,
    role: &str,
    name: &str,
) -> Result<Undone, AwsError> {
    refuse_foreign_policy(name)?;
    match iam
        .delete_role_policy()
        .role_name(role)
        .policy_name(name)
        .send()
        .await
        .aws()
    {
        Ok(_) => Ok(Undone::Changed(format!("{name} deleted from role {role}"))),
        Err(e) if e.code == "NoSuchEntity" => {
            Ok(Undone::Unchanged(format!("{name} was not on role {role}")))
        }
        Err(e) => Err(e),
    }
}

fn refuse_foreign_policy(name: &str) -> Result<(), AwsError> {
    if is_firebreak_policy(name) {
        Ok(())
    } else {
        Err(AwsError::new(
            "NotFirebreaks",
            format!("{name} is not a policy Firebreak writes: left alone"),
        ))
    }
}

/// Removes the quarantine tag from the user where its value is `value`.
pub async fn untag_user(
    iam: &aws_sdk_iam::Client,
    user: &str,
    value: &str,
) -> Result<Undone, AwsError> {
    let tags = iam.list_user_tags().user_name(user).send().await.aws()?;
    let current = tags
        .tags()
        .iter()
        .find(|t| t.key() == QUARANTINE_TAG)
        .map(|t| t.value().to_string());
    if current.as_deref() != Some(value) {
        return Ok(Undone::not_ours(
            current.as_deref(),
            &format!("user {user}"),
        ));
    }
    iam.untag_user()
        .user_name(user)
        .tag_keys(QUARANTINE_TAG)
        .send()
        .await
        .aws()?;
    Ok(Undone::Changed(format!(
        "{QUARANTINE_TAG}={value} removed from user {user}"
    )))
}

/// Removes the quarantine tag from the role where its value is `value`.
pub async fn untag_role(
    iam: &aws_sdk_iam::Client,
    role: &str,
    value: &str,
) -> Result<Undone, AwsError> {
    let tags = iam.list_role_tags().role_name(role).send().await.aws()?;
    let current = tags
        .tags()
        .iter()
        .find(|t| t.key() == QUARANTINE_TAG)
        .map(|t| t.value().to_string());
    if current.as_deref() != Some(value) {
        return Ok(Undone::not_ours(
            current.as_deref(),
            &format!("role {role}"),
        ));
    }
    iam.untag_role()
        .role_name(role)
        .tag_keys(QUARANTINE_TAG)
        .send()
        .await
        .aws()?;
    Ok(Undone::Changed(format!(
        "{QUARANTINE_TAG}={value} removed from role {role}"
    )))
}

/// Deletes the user's console password; false when the user has none.
pub async fn delete_login_profile(iam: &aws_sdk_iam::Client, user: &str) -> Result<bool, AwsError> {
    match iam
        .delete_login_profile()
        .user_name(user)
        .send()
        .await
        .aws()
    {
        Ok(_) => Ok(true),
        Err(e) if e.code == "NoSuchEntity" => Ok(false),
        Err(e) => Err(e),
    }
}
