//! A function's failure, typed by whether a retry can help. Either way the function fails, so
//! the event goes to Lambda's retries and then to the function's on-failure queue: nothing is
//! dropped. The error type tells whoever reads that queue what to do about it.

use firebreak_aws::AwsError;
use lambda_runtime::Diagnostic;

/// Why a function could not process an event. Its `Debug` is redacted like its report: the Lambda
/// runtime logs a handler's error with `{:?}`, and logs carry no personal data.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
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

impl std::fmt::Debug for FunctionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, message) = match self {
            FunctionError::BadInput(m) => ("BadInput", m),
            FunctionError::Retry(m) => ("Retry", m),
        };
        write!(
            f,
            "{name}({})",
            firebreak_core::render::redact::redact(message)
        )
    }
}

impl From<FunctionError> for Diagnostic {
    fn from(e: FunctionError) -> Diagnostic {
        // The report lands in the on-failure queue beside the event itself: redacted like the
        // logs, since the event holds the full values.
        Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: firebreak_core::render::redact::redact(&e.to_string()),
        }
    }
}
