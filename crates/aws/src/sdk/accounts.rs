//! Acting in a member account: assume the member role through STS, with the incident id in the
//! session name so the member account's CloudTrail shows who acted and why.

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;

use crate::sdk::clients::Clients;
use crate::sdk::error::{AwsError, SdkResultExt};

/// `arn:<partition>:iam::<account>:role/<role>`.
pub fn member_role_arn(partition: &str, account: &str, role: &str) -> String {
    format!("arn:{partition}:iam::{account}:role/{role}")
}

/// Session name for an incident (`firebreak-FB-…`), within STS's 64-character limit.
pub fn session_name(incident: &str) -> String {
    let mut name: String = format!("firebreak-{incident}")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(*c))
        .collect();
    name.truncate(64);
    name
}

/// Clients acting in `account` through its member role.
pub async fn member_clients(
    home: &Clients,
    partition: &str,
    account: &str,
    role: &str,
    incident: &str,
) -> Result<Clients, AwsError> {
    let out = home
        .sts
        .assume_role()
        .role_arn(member_role_arn(partition, account, role))
        .role_session_name(session_name(incident))
        .duration_seconds(900)
        .send()
        .await
        .aws()?;
    let c = out
        .credentials()
        .ok_or_else(|| AwsError::new("InvalidResponse", "AssumeRole returned no credentials"))?;
    let expiry = std::time::SystemTime::try_from(*c.expiration()).ok();
    let creds = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        expiry,
        "firebreak-member-role",
    );
    let sdk = home
        .sdk
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .build();
    Ok(Clients::new(&sdk))
}

/// The IAM ARN behind a caller identity: `assumed-role/Name/session` becomes `role/Name`.
pub fn principal_arn_of_caller(caller: &str) -> String {
    match caller.split_once(":assumed-role/") {
        Some((head, rest)) => {
            let name = rest.split('/').next().unwrap_or_default();
            format!("{}:role/{name}", head.replacen(":sts:", ":iam:", 1))
        }
        None => caller.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_arns() {
        assert_eq!(
            principal_arn_of_caller("arn:aws:sts::111122223333:assumed-role/FirebreakContain/abc"),
            "arn:aws:iam::111122223333:role/FirebreakContain"
        );
        assert_eq!(
            principal_arn_of_caller("arn:aws:iam::1:user/alice"),
            "arn:aws:iam::1:user/alice"
        );
    }

    #[test]
    fn session_names_are_valid() {
        assert_eq!(
            session_name("FB-0123456789abcdef"),
            "firebreak-FB-0123456789abcdef"
        );
        assert!(session_name(&"x".repeat(100)).len() <= 64);
    }
}
