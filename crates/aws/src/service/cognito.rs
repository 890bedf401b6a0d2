//! Cognito effectors: sign a user out everywhere, disable it, stop self sign-up on the pool.

use aws_sdk_cognitoidentityprovider::types::AdminCreateUserConfigType;
use serde_json::json;

use crate::sdk::error::Undone;
use crate::sdk::error::{AwsError, SdkResultExt};

/// AdminUserGlobalSignOut: every refresh token of the user stops working.
pub async fn global_sign_out(
    c: &aws_sdk_cognitoidentityprovider::Client,
    pool: &str,
    user: &str,
) -> Result<String, AwsError> {
    c.admin_user_global_sign_out()
        .user_pool_id(pool)
        .username(user)
        .send()
        .await
        .aws()?;
    Ok("signed out of every device".into())
}

/// AdminDisableUser. True when the user was enabled (or could not be read) and is disabled
/// now, false when it already was disabled: only the first is Firebreak's change to undo.
pub async fn disable_user(
    c: &aws_sdk_cognitoidentityprovider::Client,
    pool: &str,
    user: &str,
) -> Result<bool, AwsError> {
    // A failed read must not stop the containment: disable, and count it as our change.
    if let Ok(false) = user_enabled(c, pool, user).await {
        return Ok(false);
    }
    c.admin_disable_user()
        .user_pool_id(pool)
        .username(user)
        .send()
        .await
        .aws()?;
    Ok(true)
}

/// Whether the user is enabled (AdminGetUser).
pub async fn user_enabled(
    c: &aws_sdk_cognitoidentityprovider::Client,
    pool: &str,
    user: &str,
) -> Result<bool, AwsError> {
    let u = c
        .admin_get_user()
        .user_pool_id(pool)
        .username(user)
        .send()
        .await
        .aws()?;
    Ok(u.enabled())
}

/// AdminEnableUser, unless the user is enabled already (a release with `--enable-users`).
pub async fn enable_user(
    c: &aws_sdk_cognitoidentityprovider::Client,
    pool: &str,
    user: &str,
) -> Result<Undone, AwsError> {
    if user_enabled(c, pool, user).await? {
        return Ok(Undone::Unchanged("user was already enabled".into()));
    }
    c.admin_enable_user()
        .user_pool_id(pool)
        .username(user)
        .send()
        .await
        .aws()?;
    Ok(Undone::Changed("user enabled again".into()))
}

/// Sets AllowAdminCreateUserOnly (as `lockdown` reports it).
pub async fn stop_sign_up(
    c: &aws_sdk_cognitoidentityprovider::Client,
    pool: &str,
) -> Result<String, AwsError> {
    Ok(if set_admin_create_user_only(c, pool, true).await? {
        "AllowAdminCreateUserOnly on; every other pool setting carried over".into()
    } else {
        "self sign-up was already off".into()
    })
}

/// Sets AllowAdminCreateUserOnly to `admin_only`; true when that changed the pool. UpdateUserPool
/// resets every setting it is not given, so the pool is read first and everything it had is
/// sent back with only that one flag changed.
pub async fn set_admin_create_user_only(
    c: &aws_sdk_cognitoidentityprovider::Client,
    pool: &str,
    admin_only: bool,
) -> Result<bool, AwsError> {
    let described = c
        .describe_user_pool()
        .user_pool_id(pool)
        .send()
        .await
        .aws()?;
    let p = described.user_pool().ok_or_else(|| {
        AwsError::new(
            "ResourceNotFoundException",
            format!("user pool {pool} not found"),
        )
    })?;
    let current = p.admin_create_user_config();
    if current.is_some_and(|a| a.allow_admin_create_user_only()) == admin_only {
        return Ok(false);
    }
    let admin = AdminCreateUserConfigType::builder()
        .allow_admin_create_user_only(admin_only)
        .set_unused_account_validity_days(current.map(|a| a.unused_account_validity_days()))
        .set_invite_message_template(current.and_then(|a| a.invite_message_template().cloned()))
        .build();
    c.update_user_pool()
        .user_pool_id(pool)
        .set_policies(p.policies().cloned())
        .set_deletion_protection(p.deletion_protection().cloned())
        .set_lambda_config(p.lambda_config().cloned())
        .set_auto_verified_attributes(
            Some(p.auto_verified_attributes().to_vec()).filter(|v| !v.is_empty()),
        )
        .set_sms_verification_message(p.sms_verification_message().map(str::to_string))
        .set_email_verification_message(p.email_verification_message().map(str::to_string))
        .set_email_verification_subject(p.email_verification_subject().map(str::to_string))
        .set_verification_message_template(p.verification_message_template().cloned())
        .set_sms_authentication_message(p.sms_authentication_message().map(str::to_string))
        .set_user_attribute_update_settings(p.user_attribute_update_settings().cloned())
        .set_mfa_configuration(p.mfa_configuration().cloned())
        .set_device_configuration(p.device_configuration().cloned())
        .set_email_configuration(p.email_configuration().cloned())
        .set_sms_configuration(p.sms_configuration().cloned())
        .set_user_pool_tags(p.user_pool_tags().cloned())
        .admin_create_user_config(admin)
        .set_user_pool_add_ons(p.user_pool_add_ons().cloned())
        .set_account_recovery_setting(p.account_recovery_setting().cloned())
        .set_pool_name(p.name().map(str::to_string))
        .set_user_pool_tier(p.user_pool_tier().cloned())
        .send()
        .await
        .aws()?;
    Ok(true)
}

/// The user's state, as evidence.
pub async fn user_state(
    c: &aws_sdk_cognitoidentityprovider::Client,
    pool: &str,
    user: &str,
) -> Result<serde_json::Value, AwsError> {
    let u = c
        .admin_get_user()
        .user_pool_id(pool)
        .username(user)
        .send()
        .await
        .aws()?;
    Ok(json!({
        "type": "cognito_user",
        "user_pool_id": pool,
        "username": u.username(),
        "enabled": u.enabled(),
        "status": u.user_status().map(|s| s.as_str()),
        "created": u.user_create_date().map(|d| d.to_string()),
        "last_modified": u.user_last_modified_date().map(|d| d.to_string()),
    }))
}
