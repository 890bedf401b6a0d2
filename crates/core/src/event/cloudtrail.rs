//! Lenient types for CloudTrail records as EventBridge delivers them. Covers API calls, console
//! sign-ins (no `requestID`) and service events (often no `sourceIPAddress` / `userAgent`).
//! Request and response bodies stay raw JSON and are read only by the rules that need them.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::event::lenient;

/// One CloudTrail record.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record<'a> {
    /// Who made the call.
    #[serde(default)]
    pub user_identity: UserIdentity,
    /// When the call was made (ISO 8601).
    #[serde(default)]
    pub event_time: Option<String>,
    /// Service endpoint, e.g. `iam.amazonaws.com`.
    pub event_source: String,
    /// API or sign-in event name, e.g. `StopLogging`, `ConsoleLogin`.
    pub event_name: String,
    /// Region of the call.
    #[serde(default)]
    pub aws_region: Option<String>,
    /// Caller IP (absent on service events). Personal data: never logged.
    #[serde(default, rename = "sourceIPAddress")]
    pub source_ip_address: Option<String>,
    /// Caller user agent.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Set when AWS refused the call.
    #[serde(default, deserialize_with = "lenient::opt_nonempty")]
    pub error_code: Option<String>,
    /// AWS's reason for refusing.
    #[serde(default, deserialize_with = "lenient::opt_nonempty")]
    pub error_message: Option<String>,
    /// Raw request parameters.
    #[serde(default, borrow)]
    pub request_parameters: Option<&'a RawValue>,
    /// Raw response elements.
    #[serde(default, borrow)]
    pub response_elements: Option<&'a RawValue>,
    /// Raw additional event data (MFAUsed, userPoolId, …).
    #[serde(default, borrow)]
    pub additional_event_data: Option<&'a RawValue>,
    /// Absent on console sign-in events.
    #[serde(default, rename = "requestID")]
    pub request_id: Option<String>,
    /// Unique per record; the incident id derives from it.
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// `AwsApiCall`, `AwsConsoleSignIn`, `AwsServiceEvent`, …
    #[serde(default)]
    pub event_type: Option<String>,
    /// Whether the call only reads.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub read_only: Option<bool>,
    /// Account the record was delivered to.
    #[serde(default)]
    pub recipient_account_id: Option<String>,
    /// Resources CloudTrail names for the call.
    #[serde(default)]
    pub resources: Option<Vec<TrailResource>>,
}

/// `userIdentity`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// `Root`, `IAMUser`, `AssumedRole`, `FederatedUser`, `AWSService`, … (absent for
    /// unauthenticated Cognito calls).
    #[serde(default, rename = "type")]
    pub identity_type: Option<String>,
    /// Principal id.
    #[serde(default)]
    pub principal_id: Option<String>,
    /// Caller ARN (an `assumed-role` ARN for roles).
    #[serde(default)]
    pub arn: Option<String>,
    /// Caller's account.
    #[serde(default)]
    pub account_id: Option<String>,
    /// Key used to sign the call.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// IAM user name (for IAMUser and Root sign-ins).
    #[serde(default)]
    pub user_name: Option<String>,
    /// Set when an AWS service made the call on the principal's behalf.
    #[serde(default, deserialize_with = "lenient::opt_nonempty")]
    pub invoked_by: Option<String>,
    /// Session context of temporary credentials.
    #[serde(default)]
    pub session_context: Option<SessionContext>,
}

/// `userIdentity.sessionContext`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    /// The role or user that issued the session.
    #[serde(default)]
    pub session_issuer: Option<SessionIssuer>,
}

/// `userIdentity.sessionContext.sessionIssuer`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer {
    /// `Role`, `IAMUser`, `Root`.
    #[serde(default, rename = "type")]
    pub issuer_type: Option<String>,
    /// Issuer ARN (the role ARN, with its path).
    #[serde(default)]
    pub arn: Option<String>,
    /// Issuer account.
    #[serde(default)]
    pub account_id: Option<String>,
    /// Role or user name.
    #[serde(default)]
    pub user_name: Option<String>,
}

/// One element of `resources`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrailResource {
    /// Resource ARN.
    #[serde(default, rename = "ARN")]
    pub arn: Option<String>,
    /// Resource account.
    #[serde(default)]
    pub account_id: Option<String>,
    /// CloudFormation-style type, e.g. `AWS::Cognito::UserPool`.
    #[serde(default, rename = "type")]
    pub resource_type: Option<String>,
}

impl Record<'_> {
    /// Request parameters as a JSON value (`Null` when absent or unreadable).
    pub fn request(&self) -> serde_json::Value {
        raw_to_value(self.request_parameters)
    }

    /// Response elements as a JSON value (`Null` when absent or unreadable).
    pub fn response(&self) -> serde_json::Value {
        raw_to_value(self.response_elements)
    }

    /// Additional event data as a JSON value (`Null` when absent or unreadable).
    pub fn additional(&self) -> serde_json::Value {
        raw_to_value(self.additional_event_data)
    }

    /// True when the record was written by a service on its own, not by a caller.
    pub fn is_service_event(&self) -> bool {
        self.event_type.as_deref() == Some("AwsServiceEvent")
    }
}

fn raw_to_value(raw: Option<&RawValue>) -> serde_json::Value {
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
        .unwrap_or(serde_json::Value::Null)
}
