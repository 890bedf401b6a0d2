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
) -> Result<serde_json::Value, AwsError> {
    let policy = match lambda
        .get_policy()
        .function_name(function)
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
