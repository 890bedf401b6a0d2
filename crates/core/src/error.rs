//! Errors of the core: every one names what was wrong and where, so a Lambda can fail with a
//! reason and a CLI can point at the file, line and field.

use thiserror::Error;

/// EventBridge refuses events over 256 KiB; anything larger did not come from EventBridge.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// Why an event could not be understood.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input is not JSON, or a field has the wrong type, or a required field is absent.
    #[error("{path}: {message} (line {line}, column {column})")]
    Json {
        /// Dotted path of the field, `.` for the top level.
        path: String,
        /// serde's own description, e.g. "missing field `type`".
        message: String,
        /// 1-based line in the input.
        line: usize,
        /// 1-based column in the input.
        column: usize,
    },
    /// The envelope's `detail-type` is none Firebreak consumes.
    #[error(
        "detail-type {0:?} is not consumed by Firebreak (expected GuardDuty Finding or an AWS ... via CloudTrail event)"
    )]
    UnsupportedDetailType(String),
    /// A field a rule needs is absent (or null).
    #[error("{0}: missing, and Firebreak needs it to respond")]
    MissingField(&'static str),
    /// A field that is present but whose value cannot be used.
    #[error("{field}: {message}")]
    InvalidField {
        /// Dotted path of the field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Larger than EventBridge ever delivers: refused, not processed.
    #[error("event is {0} bytes, over EventBridge's limit of {MAX_EVENT_BYTES} bytes: refused")]
    TooLarge(usize),
}

impl Error {
    pub(crate) fn from_json(
        err: serde_path_to_error::Error<serde_json::Error>,
        prefix: &str,
    ) -> Self {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let path = match (prefix, path.as_str()) {
            ("", p) => p.to_string(),
            (pre, ".") => pre.to_string(),
            (pre, p) => format!("{pre}.{p}"),
        };
        let mut message = inner.to_string();
        // serde_json appends " at line L column C"; we report those separately.
        if let Some(at) = message.rfind(" at line ") {
            message.truncate(at);
        }
        Error::Json {
            path: clip(path),
            message: clip(message),
            line: inner.line(),
            column: inner.column(),
        }
    }
}

/// Longest path or message an error repeats from the input, in characters: serde quotes the
/// offending value ("invalid type: string \"…\"") and a hostile event can make it 256 KiB.
const MAX_ECHO_CHARS: usize = 240;

/// Shortens `text` to at most [`MAX_ECHO_CHARS`] characters, keeping its start and its end
/// (serde's "expected …" is at the end).
pub(crate) fn clip(text: String) -> String {
    let count = text.chars().count();
    if count <= MAX_ECHO_CHARS {
        return text;
    }
    let head = MAX_ECHO_CHARS * 2 / 3;
    let tail = MAX_ECHO_CHARS - head - " … ".chars().count();
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    format!("{start} … {end}")
}

/// A configuration that cannot be used; the message names the key.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// TOML syntax or an unknown / mistyped key (toml's message names the key and line).
    #[error("{0}")]
    Parse(String),
    /// A key whose value is understood but not acceptable.
    #[error("{key}: {message}")]
    Invalid {
        /// Dotted key, e.g. `evidence.retention_days`.
        key: String,
        /// Why the value is refused.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_text_and_both_ends_of_long_text() {
        assert_eq!(clip("short".into()), "short");
        let long = format!(
            "invalid type: string \"{}\", expected f64",
            "x".repeat(5000)
        );
        let clipped = clip(long);
        assert_eq!(clipped.chars().count(), MAX_ECHO_CHARS);
        assert!(clipped.starts_with("invalid type: string \"xxx"));
        assert!(clipped.ends_with("\", expected f64"));
        assert!(clipped.contains(" … "));
    }
}
