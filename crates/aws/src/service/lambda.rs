//! Lambda calls: a permission statement an attacker added, removed, and added back by a release.

use firebreak_core::action::plan::LambdaGrant;

use crate::sdk::error::{AwsError, SdkResultExt, Undone};

/// Removes statement `statement_id` from the function's policy; false when it is not there.
pub async fn remove_permission(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    statement_id: &str,
    qualifier: Option<&str>,
) -> Result<bool, AwsError> {
    match lambda
        .remove_permission()
        .function_name(function)
        .statement_id(statement_id)
        .set_qualifier(qualifier.map(str::to_string))
        .send()
        .await
        .aws()
    {
        Ok(_) => Ok(true),
        Err(e) if e.code == "ResourceNotFoundException" => Ok(false),
        Err(e) => Err(e),
    }
}

/// Adds the statement back as it was added (a release); left when one of that id is there.
pub async fn add_permission(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    statement_id: &str,
    grant: &LambdaGrant,
) -> Result<Undone, AwsError> {
    let auth = grant
        .function_url_auth_type
        .as_deref()
        .map(aws_sdk_lambda::types::FunctionUrlAuthType::from);
    match lambda
        .add_permission()
        .function_name(function)
        .statement_id(statement_id)
        .action(&grant.action)
        .principal(&grant.principal)
        .set_source_arn(grant.source_arn.clone())
        .set_source_account(grant.source_account.clone())
        .set_function_url_auth_type(auth)
        .set_qualifier(grant.qualifier.clone())
        .send()
        .await
        .aws()
    {
        Ok(_) => Ok(Undone::Changed(format!(
            "statement {statement_id} added to {function} again"
        ))),
        Err(e) if e.code == "ResourceConflictException" => Ok(Undone::Unchanged(format!(
            "{function} already has a statement {statement_id}"
        ))),
        Err(e) => Err(e),
    }
}

/// A function's resource policy as evidence (`null` when it has none).
pub async fn policy_state(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    qualifier: Option<&str>,
) -> Result<serde_json::Value, AwsError> {
    let policy = match lambda
        .get_policy()
        .function_name(function)
        .set_qualifier(qualifier.map(str::to_string))
        .send()
        .await
        .aws()
    {
        Ok(out) => out.policy().map(str::to_string),
        Err(e) if e.code == "ResourceNotFoundException" => None,
        Err(e) => return Err(e),
    };
    let parsed = policy
        .as_deref()
        .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok());
    Ok(
        serde_json::json!({"function": function, "policy": parsed.or(policy.map(serde_json::Value::String))}),
    )
}

/// The statement `statement_id` of the function's policy, if it has one.
pub async fn statement(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    statement_id: &str,
    qualifier: Option<&str>,
) -> Result<Option<serde_json::Value>, AwsError> {
    let state = policy_state(lambda, function, qualifier).await?;
    let list = match &state["policy"]["Statement"] {
        serde_json::Value::Array(list) => list.clone(),
        one @ serde_json::Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    };
    Ok(list
        .into_iter()
        .find(|s| s["Sid"].as_str() == Some(statement_id)))
}

/// Whether a statement's `Principal` grants `principal` as AddPermission named it (`*`, an
/// account id or ARN, a service).
pub fn grants_to(statement_principal: &serde_json::Value, principal: &str) -> bool {
    match statement_principal {
        serde_json::Value::String(s) => s == principal,
        serde_json::Value::Object(map) => map.values().any(|v| match v {
            serde_json::Value::String(s) => s == principal || s.contains(&format!(":{principal}:")),
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str())
                .any(|s| s == principal || s.contains(&format!(":{principal}:"))),
            _ => false,
        }),
        _ => false,
    }
}
