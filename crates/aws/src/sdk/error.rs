//! An AWS refusal or transport failure, reduced to what an outcome records: a code and a message.

use aws_sdk_s3::config::http::HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use thiserror::Error;

/// Why a call did not take effect.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{code}: {message}")]
pub struct AwsError {
    /// AWS error code, or the failure class when AWS never answered (`Timeout`, `DispatchFailure`).
    pub code: String,
    /// AWS's message, or the transport's.
    pub message: String,
}

impl AwsError {
    /// An error Firebreak raises itself (a precondition that does not hold).
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        AwsError {
            code: code.to_string(),
            message: message.into(),
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
            (None, None) => DisplayErrorContext(&err).to_string(),
        };
        AwsError { code, message }
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
