//! IAM Identity Center effectors, called in the account that administers it and its home
//! region: a user denied through a permission set's inline policy (then the set provisioned
//! again), a user's account assignment removed; each undone exactly.
//!
//! `PutInlinePolicyToPermissionSet` replaces the set's one inline policy, so the deny is merged
//! into the policy as it is, and the policy before is kept (byte for byte) for the release.

use aws_sdk_identitystore::types::{AlternateIdentifier, UniqueAttribute};
use aws_sdk_ssoadmin::types::{PrincipalType, ProvisionTargetType, ProvisioningStatus, TargetType};
use aws_smithy_types::Document;
use serde_json::{Value, json};

use crate::sdk::error::{AwsError, SdkResultExt, Undone};

/// The most characters a permission set's inline policy may have.
pub const MAX_INLINE_POLICY: usize = 32_768;

/// The Identity Center instance: its ARN and identity store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// `arn:aws:sso:::instance/ssoins-…`.
    pub arn: String,
    /// `d-…`.
    pub identity_store_id: String,
}

/// The one Identity Center instance of the organisation (ListInstances).
pub async fn instance(sso: &aws_sdk_ssoadmin::Client) -> Result<Instance, AwsError> {
    let out = sso.list_instances().send().await.aws()?;
    let found: Vec<Instance> = out
        .instances()
        .iter()
        .filter_map(|i| {
            Some(Instance {
                arn: i.instance_arn()?.to_string(),
                identity_store_id: i.identity_store_id()?.to_string(),
            })
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(AwsError::new(
            "NoIdentityCenter",
            "no Identity Center instance here: check accounts.identity_center_account and \
             accounts.identity_center_region",
        )),
        _ => Err(AwsError::new(
            "ManyIdentityCenters",
            format!(
                "{} Identity Center instances: Firebreak expects one",
                found.len()
            ),
        )),
    }
}

/// The ARN of the permission set named `name` (ListPermissionSets, DescribePermissionSet).
pub async fn permission_set_arn(
    sso: &aws_sdk_ssoadmin::Client,
    instance: &Instance,
    name: &str,
) -> Result<String, AwsError> {
    let mut token: Option<String> = None;
    loop {
        let page = sso
            .list_permission_sets()
            .instance_arn(&instance.arn)
            .set_next_token(token.take())
            .send()
            .await
            .aws()?;
        for arn in page.permission_sets() {
            let described = sso
                .describe_permission_set()
                .instance_arn(&instance.arn)
                .permission_set_arn(arn)
                .send()
                .await
                .aws()?;
            if described.permission_set().and_then(|p| p.name()) == Some(name) {
                return Ok(arn.clone());
            }
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Err(AwsError::new(
        "NoSuchPermissionSet",
        format!("no permission set named {name} in {}", instance.arn),
    ))
}

/// The identity store id of user `user_name` (GetUserId by `userName`).
pub async fn user_id(
    ids: &aws_sdk_identitystore::Client,
    instance: &Instance,
    user_name: &str,
) -> Result<String, AwsError> {
    let attribute = UniqueAttribute::builder()
        .attribute_path("userName")
        .attribute_value(Document::String(user_name.to_string()))
        .build()
        .map_err(|e| AwsError::new("InvalidRequest", e.to_string()))?;
    let out = ids
        .get_user_id()
        .identity_store_id(&instance.identity_store_id)
        .alternate_identifier(AlternateIdentifier::UniqueAttribute(attribute))
        .send()
        .await
        .aws()?;
    Ok(out.user_id().to_string())
}

/// The deny statement's `Sid` for incident `incident` (`FB-<16 hex>`): letters and digits only.
pub fn deny_sid(incident: &str) -> String {
    let digits: String = incident
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("FirebreakDeny{digits}")
}

/// The statement that denies everything to user `user_id`'s sessions of the set.
fn deny_statement(sid: &str, user_id: &str) -> Value {
    json!({
        "Sid": sid,
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": { "StringEquals": { "identitystore:userId": user_id } }
    })
}

/// A policy's statements as a list (IAM allows one statement object too).
fn statements(policy: &Value) -> Vec<Value> {
    match policy.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

fn parse(policy: &str) -> Result<Value, AwsError> {
    serde_json::from_str(policy)
        .map_err(|e| AwsError::new("MalformedPolicy", format!("the set's inline policy: {e}")))
}

/// `original` (none or empty: no inline policy) with the deny statement `sid` for `user_id`
/// added; an earlier statement of that `Sid` is replaced.
pub fn merged(original: Option<&str>, sid: &str, user_id: &str) -> Result<String, AwsError> {
    let mut policy = match original {
        Some(text) if !text.trim().is_empty() => parse(text)?,
        _ => json!({ "Version": "2012-10-17" }),
    };
    let mut list: Vec<Value> = statements(&policy)
        .into_iter()
        .filter(|s| s.get("Sid").and_then(Value::as_str) != Some(sid))
        .collect();
    list.push(deny_statement(sid, user_id));
    policy["Statement"] = Value::Array(list);
    let text = policy.to_string();
    if text.len() > MAX_INLINE_POLICY {
        return Err(AwsError::new(
            "PolicyTooLarge",
            format!(
                "the set's inline policy with the deny would be {} characters (at most {MAX_INLINE_POLICY})",
                text.len()
            ),
        ));
    }
    Ok(text)
}

/// `current` without statement `sid`: none when nothing is left.
pub fn without(current: &str, sid: &str) -> Result<Option<String>, AwsError> {
    let mut policy = parse(current)?;
    let list: Vec<Value> = statements(&policy)
        .into_iter()
        .filter(|s| s.get("Sid").and_then(Value::as_str) != Some(sid))
        .collect();
    if list.is_empty() {
        return Ok(None);
    }
    policy["Statement"] = Value::Array(list);
    Ok(Some(policy.to_string()))
}

/// True when `policy` holds a statement `sid`.
fn holds(policy: &str, sid: &str) -> bool {
    parse(policy).is_ok_and(|p| {
        statements(&p)
            .iter()
            .any(|s| s.get("Sid").and_then(Value::as_str) == Some(sid))
    })
}

/// The set's inline policy now; none when it has none.
pub async fn inline_policy(
    sso: &aws_sdk_ssoadmin::Client,
    instance: &Instance,
    set_arn: &str,
) -> Result<Option<String>, AwsError> {
    let out = sso
        .get_inline_policy_for_permission_set()
        .instance_arn(&instance.arn)
        .permission_set_arn(set_arn)
        .send()
        .await
        .aws()?;
    Ok(out
        .inline_policy()
        .filter(|p| !p.trim().is_empty())
        .map(str::to_string))
}

/// Puts `policy` as the set's inline policy (none: deletes it).
async fn put_policy(
    sso: &aws_sdk_ssoadmin::Client,
    instance: &Instance,
    set_arn: &str,
    policy: Option<&str>,
) -> Result<(), AwsError> {
    match policy {
        Some(text) => {
            sso.put_inline_policy_to_permission_set()
                .instance_arn(&instance.arn)
                .permission_set_arn(set_arn)
                .inline_policy(text)
                .send()
                .await
                .aws()?;
        }
        None => {
            sso.delete_inline_policy_from_permission_set()
                .instance_arn(&instance.arn)
                .permission_set_arn(set_arn)
                .send()
                .await
                .aws()?;
        }
    }
    Ok(())
}

/// Provisions the set to every account it is provisioned to (asynchronous: AWS answers with a
/// request that runs on); the request's status as AWS gave it.
pub async fn provision(
    sso: &aws_sdk_ssoadmin::Client,
    instance: &Instance,
    set_arn: &str,
) -> Result<String, AwsError> {
    let out = sso
        .provision_permission_set()
        .instance_arn(&instance.arn)
        .permission_set_arn(set_arn)
        .target_type(ProvisionTargetType::AllProvisionedAccounts)
        .send()
        .await
        .aws()?;
    Ok(out
        .permission_set_provisioning_status()
        .and_then(|s| s.status())
        .map_or_else(|| "requested".to_string(), |s| s.as_str().to_lowercase()))
}

/// The accounts where the set's latest definition is not provisioned: provisioning now would
/// push whatever changed in it since (a policy attached, an Allow added) along with Firebreak's
/// deny.
pub async fn unprovisioned_accounts(
    sso: &aws_sdk_ssoadmin::Client,
    instance: &Instance,
    set_arn: &str,
) -> Result<Vec<String>, AwsError> {
    let mut accounts = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = sso
            .list_accounts_for_provisioned_permission_set()
            .instance_arn(&instance.arn)
            .permission_set_arn(set_arn)
            .provisioning_status(ProvisioningStatus::LatestPermissionSetNotProvisioned)
            .set_next_token(token.take())
            .send()
            .await
            .aws()?;
        accounts.extend(page.account_ids().iter().cloned());
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(accounts),
        }
    }
}

/// Merges the deny `sid` for `user_id` into the set's inline policy (not yet provisioned) and
/// reads it back; the policy before (without any earlier statement `sid`, which only an earlier
/// attempt of this incident wrote). Refused, before anything is written, when the set has
/// changes not provisioned yet: Firebreak's provisioning would push them too.
pub async fn deny_user(
    sso: &aws_sdk_ssoadmin::Client,
    instance: &Instance,
    set_arn: &str,
    sid: &str,
    user_id: &str,
) -> Result<Option<String>, AwsError> {
    let pending = unprovisioned_accounts(sso, instance, set_arn).await?;
    if !pending.is_empty() {
        return Err(AwsError::new(
            "SetNotProvisioned",
            format!(
                "{set_arn} has changes not provisioned to {} account(s) ({}): provisioning the \
                 deny would push them too; provision or revert them, then approve again",
                pending.len(),
                pending.join(", ")
            ),
        ));
    }
    let now = inline_policy(sso, instance, set_arn).await?;
    let original = match &now {
        Some(text) if holds(text, sid) => without(text, sid)?,
        other => other.clone(),
    };
    let policy = merged(original.as_deref(), sid, user_id)?;
    put_policy(sso, instance, set_arn, Some(&policy)).await?;
    // Another writer between the read and the write would have replaced the statement.
    let back = inline_policy(sso, instance, set_arn).await?;
    if !back.as_deref().is_some_and(|p| holds(p, sid)) {
        return Err(AwsError::new(
            "PolicyOverwritten",
            format!("{set_arn}'s inline policy no longer holds {sid} when read back"),
        ));
    }
    Ok(original)
}

/// Takes the deny `sid` out of the set's inline policy: the original, byte for byte, when the
/// policy is otherwise as Firebreak left it; else the policy as it is now without the
/// statement (someone changed it since: their change is kept). Provisions the set again.
pub async fn restore_policy(
    sso: &aws_sdk_ssoadmin::Client,
    instance: &Instance,
    set_arn: &str,
    sid: &str,
    original: Option<&str>,
) -> Result<Undone, AwsError> {
    let Some(now) = inline_policy(sso, instance, set_arn).await? else {
        return Ok(Undone::Unchanged(format!(
            "{set_arn} has no inline policy now: nothing of Firebreak's to remove"
        )));
    };
    if !holds(&now, sid) {
        return Ok(Undone::Unchanged(format!(
            "{set_arn}'s inline policy no longer holds {sid}"
        )));
    }
    let rest = without(&now, sid)?;
    // Compared as parsed statements: one statement object and a list of one are the same.
    let normal = |text: &str| {
        parse(text).ok().map(|mut p| {
            p["Statement"] = Value::Array(statements(&p));
            p
        })
    };
    let untouched = match (&rest, original) {
        (None, None) => true,
        (Some(r), Some(o)) => normal(r) == normal(o),
        _ => false,
    };
    let (put, how) = if untouched {
        (original.map(str::to_string), "the original policy, exactly")
    } else {
        (rest, "the policy as changed since, without the deny")
    };
    put_policy(sso, instance, set_arn, put.as_deref()).await?;
    let status = provision(sso, instance, set_arn).await?;
    Ok(Undone::Changed(format!(
        "{sid} removed from {set_arn}: {how}; provisioning {status}"
    )))
}

/// Removes user `user_id`'s assignment of the set to `account` (the deletion runs on
/// asynchronously; a failure AWS reports at once is an error); false when there was none.
pub async fn remove_assignment(
    sso: &aws_sdk_ssoadmin::Client,
    instance: &Instance,
    set_arn: &str,
    account: &str,
    user_id: &str,
) -> Result<bool, AwsError> {
    if !assigned(sso, instance, set_arn, account, user_id).await? {
        return Ok(false);
    }
    let out = sso
        .delete_account_assignment()
        .instance_arn(&instance.arn)
        .target_id(account)
        .target_type(TargetType::AwsAccount)
        .permission_set_arn(set_arn)
        .principal_type(PrincipalType::User)
        .principal_id(user_id)
        .send()
        .await
        .aws()?;
    let status = out.account_assignment_deletion_status();
    if let Some(reason) = status.and_then(|s| s.failure_reason()) {
        return Err(AwsError::new("AssignmentNotDeleted", reason.to_string()));
    }
    Ok(true)
}

/// Assigns the set to user `user_id` in `account` again, unless it already is.
pub async fn restore_assignment(
    sso: &aws_sdk_ssoadmin::Client,
    instance: &Instance,
    set_arn: &str,
    account: &str,
    user_id: &str,
) -> Result<Undone, AwsError> {
    if assigned(sso, instance, set_arn, account, user_id).await? {
        return Ok(Undone::Unchanged(format!(
            "user {user_id} already holds {set_arn} in account {account}"
        )));
    }
    sso.create_account_assignment()
        .instance_arn(&instance.arn)
        .target_id(account)
        .target_type(TargetType::AwsAccount)
        .permission_set_arn(set_arn)
        .principal_type(PrincipalType::User)
        .principal_id(user_id)
        .send()
        .await
        .aws()?;
    Ok(Undone::Changed(format!(
        "user {user_id} assigned {set_arn} in account {account} again"
    )))
}

/// True when user `user_id` holds the set in `account` (ListAccountAssignments).
pub async fn assigned(
    sso: &aws_sdk_ssoadmin::Client,
    instance: &Instance,
    set_arn: &str,
    account: &str,
    user_id: &str,
) -> Result<bool, AwsError> {
    let mut token: Option<String> = None;
    loop {
        let page = sso
            .list_account_assignments()
            .instance_arn(&instance.arn)
            .account_id(account)
            .permission_set_arn(set_arn)
            .set_next_token(token.take())
            .send()
            .await
            .aws()?;
        if page.account_assignments().iter().any(|a| {
            a.principal_type() == Some(&PrincipalType::User) && a.principal_id() == Some(user_id)
        }) {
            return Ok(true);
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deny_is_merged_and_taken_out_exactly() {
        let original = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}}"#;
        let sid = deny_sid("FB-0123456789abcdef");
        assert_eq!(sid, "FirebreakDenyFB0123456789abcdef");
        let with = merged(Some(original), &sid, "u-1").unwrap();
        assert!(holds(&with, &sid));
        assert!(with.contains("identitystore:userId"));
        let back = without(&with, &sid).unwrap().unwrap();
        assert_eq!(parse(&back).ok(), {
            let mut p = parse(original).unwrap();
            p["Statement"] = Value::Array(statements(&p));
            Some(p)
        });
        // No policy before: the deny alone, and nothing after.
        let alone = merged(None, &sid, "u-1").unwrap();
        assert_eq!(without(&alone, &sid).unwrap(), None);
        // A second merge replaces the first (one statement per incident).
        let twice = merged(Some(&with), &sid, "u-1").unwrap();
        assert_eq!(statements(&parse(&twice).unwrap()).len(), 2);
        // Too large, or not JSON: refused.
        let big = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"A","Effect":"Allow","Action":"{}","Resource":"*"}}]}}"#,
            "x".repeat(MAX_INLINE_POLICY)
        );
        assert_eq!(
            merged(Some(&big), &sid, "u").unwrap_err().code,
            "PolicyTooLarge"
        );
        assert_eq!(
            merged(Some("{"), &sid, "u").unwrap_err().code,
            "MalformedPolicy"
        );
    }
}
