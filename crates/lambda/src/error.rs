//! A function's failure, typed by whether a retry can help. Either way the function fails, so
//! the event goes to Lambda's retries and then to the function's on-failure queue: nothing is
//! dropped. The error type tells whoever reads that queue what to do about it.

use firebreak_aws::AwsError;
use lambda_runtime::Diagnostic;

/// Why a function could not process an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FunctionError {
    /// The event is malformed or names what does not exist: a retry gives the same answer.
    #[error("bad input: {0}")]
    BadInput(String),
    /// AWS refused or failed, or another delivery holds the step: a retry can succeed.
    #[error("retry: {0}")]
    Retry(String),
}

impl FunctionError {
    /// `errorType` in the runtime's error report.
    pub fn error_type(&self) -> &'static str {
        match self {
            FunctionError::BadInput(_) => "Firebreak.BadInput",
            FunctionError::Retry(_) => "Firebreak.Retryable",
        }
    }

    /// A retryable failure of `what`.
    pub fn aws(what: &str, e: AwsError) -> FunctionError {
        FunctionError::Retry(format!("{what}: {e}"))
    }
}

impl From<FunctionError> for Diagnostic {
    fn from(e: FunctionError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}
