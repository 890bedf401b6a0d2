//! An AWS refusal or transport failure, reduced to what an outcome records: a code and a message.

use aws_sdk_s3::config::http::HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use thiserror::Error;

/// Why a call did not take effect.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{code}: {message}")]
pub struct AwsError {
    /// AWS error code, or the failure class when AWS never answered (`NoCredentials`,
    /// `ExpiredCredentials`, `Unreachable`, `Timeout`, `DispatchFailure`).
    pub code: String,
    /// AWS's message, or one line saying what the transport found.
    pub message: String,
    /// The SDK's whole error chain, when AWS never answered (for `--verbose`).
    pub detail: Option<String>,
}

impl AwsError {
    /// An error Firebreak raises itself (a precondition that does not hold).
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        AwsError {
            code: code.to_string(),
            message: message.into(),
            detail: None,
        }
    }

    /// From any SDK error.
    pub fn from_sdk<E>(err: aws_sdk_s3::error::SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        use aws_sdk_s3::error::SdkError;
        let class = match &err {
            SdkError::ServiceError(_) => "ServiceError",
            SdkError::TimeoutError(_) => "Timeout",
            SdkError::DispatchFailure(_) => "DispatchFailure",
            SdkError::ResponseError(_) => "ResponseError",
            SdkError::ConstructionFailure(_) => "ConstructionFailure",
            _ => "Unknown",
        };
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = match (err.code(), status) {
            (Some(code), _) => code.to_string(),
            // An answer the SDK could not read (an emulator's HTML 500, a proxy's page).
            (None, Some(status)) => format!("HTTP{status}"),
            (None, None) => class.to_string(),
        };
        let message = match (err.message(), status) {
            (Some(m), _) => m.to_string(),
            (None, Some(status)) => format!("{class}: unreadable answer with HTTP status {status}"),
            (None, None) => {
                // AWS never answered: the SDK's chain is long; say in one line what it found.
                let chain = DisplayErrorContext(&err).to_string();
                let (code, message) = unanswered(class, &chain);
                return AwsError {
                    code: code.to_string(),
                    message,
                    detail: Some(chain),
                };
            }
        };
        AwsError {
            code,
            message,
            detail: None,
        }
    }

    /// What a responder can do about this failure, when there is a known fix.
    pub fn fix(&self) -> Option<&'static str> {
        Some(match self.code.as_str() {
            "NoCredentials" => {
                "give the CLI credentials: `aws sso login --profile P` and AWS_PROFILE=P, or \
                 AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role is attached"
            }
            "ExpiredCredentials" | "ExpiredToken" | "ExpiredTokenException" => {
                "refresh the session (`aws sso login`, or assume the role again) and retry"
            }
            "InvalidClientTokenId" | "UnrecognizedClientException" | "SignatureDoesNotMatch" => {
                "the credentials are not valid here: check the profile, and that the region is \
                 in the credentials' partition"
            }
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
                "run as a responder role (the stack's ResponderRoleArns) or grant the action \
                 the message names"
            }
            "Unreachable" | "Timeout" => {
                "check the region (--region or AWS_REGION), the network, and --endpoint if one \
                 is given"
            }
            _ => return None,
        })
    }

    /// True when AWS said the thing does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.code.as_str(),
            "NoSuchEntity"
                | "NoSuchKey"
                | "NotFound"
                | "NoSuchTagSet"
                | "NoSuchTagSetError"
                | "UserNotFoundException"
                | "InvalidInstanceID.NotFound"
                | "NoSuchPublicAccessBlockConfiguration"
        )
    }
}

/// The code and one-line message of a call AWS never answered, from the SDK's error chain.
fn unanswered(class: &'static str, chain: &str) -> (&'static str, String) {
    let lower = chain.to_ascii_lowercase();
    if lower.contains("expired") && (lower.contains("token") || lower.contains("sso")) {
        return (
            "ExpiredCredentials",
            "the credentials (or the SSO session) have expired".into(),
        );
    }
    if lower.contains("credentials") && (lower.contains("no ") || lower.contains("not loaded")) {
        return (
            "NoCredentials",
            "no AWS credentials were found (environment, profile, SSO, container or instance role)"
                .into(),
        );
    }
    for (needle, why) in [
        ("connection refused", "the connection was refused"),
        ("dns error", "the endpoint's name does not resolve"),
        ("tcp connect error", "no connection could be made"),
        ("error trying to connect", "no connection could be made"),
    ] {
        if lower.contains(needle) {
            return ("Unreachable", format!("could not reach AWS: {why}"));
        }
    }
    if class == "Timeout" {
        return ("Timeout", "AWS did not answer in time".into());
    }
    let first = chain.split(": ").next().unwrap_or(chain);
    (
        class,
        format!("{first} (--verbose shows the SDK's whole error)"),
    )
}

/// Shorthand for `map_err(AwsError::from_sdk)`.
pub(crate) trait SdkResultExt<T> {
    fn aws(self) -> Result<T, AwsError>;
}

impl<T, E> SdkResultExt<T> for Result<T, aws_sdk_s3::error::SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    fn aws(self) -> Result<T, AwsError> {
        self.map_err(AwsError::from_sdk)
    }
}

/// What an undo did to AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undone {
    /// It changed something back; what.
    Changed(String),
    /// Nothing needed changing (already so, or no longer Firebreak's to change); why.
    Unchanged(String),
}

impl Undone {
    /// What a release says when the quarantine tag is not this incident's.
    pub fn not_ours(current: Option<&str>, what: &str) -> Undone {
        use firebreak_core::action::plan::QUARANTINE_TAG;
        Undone::Unchanged(match current {
            Some(other) => {
                format!("{what} is tagged {QUARANTINE_TAG}={other}, not this incident: left")
            }
            None => format!("{what} has no {QUARANTINE_TAG} tag any more"),
        })
    }
}
