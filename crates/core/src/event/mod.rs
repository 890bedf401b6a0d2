//! The EventBridge envelope and the two kinds of detail Firebreak consumes.
//!
//! The envelope is read first with `detail` kept as raw JSON, then the detail is read into the
//! type its `detail-type` names. Unknown fields are ignored; fields a rule needs are required and
//! named when absent. Input EventBridge could not have delivered is refused: over 256 KiB, a
//! repeated envelope key, or JSON that a tree reader would refuse (too deep, a lone surrogate, a
//! number beyond `f64`).

pub mod cloudtrail;
pub mod guardduty;
mod lenient;
pub mod principal;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Error, MAX_EVENT_BYTES};
use crate::event::cloudtrail::Record;
use crate::event::guardduty::Finding;

/// `detail-type` of GuardDuty findings.
pub const GUARDDUTY_FINDING: &str = "GuardDuty Finding";
/// `detail-type` of CloudTrail management events for API calls.
pub const CLOUDTRAIL_API_CALL: &str = "AWS API Call via CloudTrail";
/// `detail-type` of CloudTrail console sign-in events.
pub const CLOUDTRAIL_SIGN_IN: &str = "AWS Console Sign In via CloudTrail";
/// `detail-type` of CloudTrail events that a service records on its own (`eventType: AwsServiceEvent`).
pub const CLOUDTRAIL_SERVICE_EVENT: &str = "AWS Service Event via CloudTrail";

/// The parts of the EventBridge envelope Firebreak uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// EventBridge's event id (differs on every delivery of a re-emitted finding).
    pub id: Option<String>,
    /// `detail-type`.
    pub detail_type: String,
    /// `source`, e.g. `aws.guardduty`.
    pub source: Option<String>,
    /// Account the event happened in.
    pub account: Option<String>,
    /// When EventBridge received it.
    pub time: Option<DateTime<Utc>>,
    /// Region the event happened in.
    pub region: Option<String>,
}

/// The detail of an event, typed by its `detail-type`.
#[derive(Debug, Clone)]
pub enum Detail<'a> {
    /// A GuardDuty finding.
    GuardDuty(Box<Finding>),
    /// A CloudTrail record (API call, console sign-in or service event).
    CloudTrail(Box<Record<'a>>),
}

/// One parsed EventBridge event. Borrows raw request/response JSON from the input.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// The envelope.
    pub envelope: Envelope,
    /// The typed detail.
    pub detail: Detail<'a>,
}

impl<'a> Event<'a> {
    /// Parses one EventBridge event from JSON text.
    ///
    /// Refused before any parsing: input over [`MAX_EVENT_BYTES`] ([`Error::TooLarge`]). Refused
    /// after: a repeated envelope key, and anything a JSON tree reader would refuse anywhere in
    /// the event, read or not (see `check_readable`).
    pub fn parse(input: &'a str) -> Result<Self, Error> {
        if input.len() > MAX_EVENT_BYTES {
            return Err(Error::TooLarge(input.len()));
        }
        // Fast path without path tracking; on error, parse again with it, to name the field.
        let parsed = match parse_with(&mut serde_json::Deserializer::from_str(input)) {
            Ok(parsed) => parsed,
            Err(_) => {
                let mut de = serde_json::Deserializer::from_str(input);
                let result = serde_path_to_error::deserialize::<_, Parsed<'a>>(&mut de);
                let parsed = result.map_err(|e| Error::from_json(e, ""))?;
                de.end().map_err(trailing)?;
                parsed
            }
        };
        let Parsed { envelope, detail } = parsed;
        let detail = match detail {
            ParsedDetail::Typed(detail) => detail,
            ParsedDetail::Unsupported => return Err(unsupported(&envelope.detail_type)),
            // `detail` came before `detail-type`: read it now that the type is known.
            ParsedDetail::Deferred(raw) => match envelope.detail_type.as_str() {
                GUARDDUTY_FINDING => Detail::GuardDuty(Box::new(parse_detail(input, raw)?)),
                CLOUDTRAIL_API_CALL | CLOUDTRAIL_SIGN_IN | CLOUDTRAIL_SERVICE_EVENT => {
                    Detail::CloudTrail(Box::new(parse_detail(input, raw)?))
                }
                other => return Err(unsupported(other)),
            },
        };
        check_readable(input)?;
        Ok(Event { envelope, detail })
    }
}

/// EventBridge's own limit on `detail-type` (PutEvents: 128 characters); a longer one is not
/// echoed whole into the error.
const MAX_DETAIL_TYPE_CHARS: usize = 128;

fn unsupported(detail_type: &str) -> Error {
    let mut shown: String = detail_type.chars().take(MAX_DETAIL_TYPE_CHARS).collect();
    if shown.len() < detail_type.len() {
        shown.push('…');
    }
    Error::UnsupportedDetailType(shown)
}

/// Refuses an event that a JSON reader building a full tree would refuse, although the typed
/// parse skipped over the offending part: nesting deeper than serde_json's recursion limit (128),
/// a lone UTF-16 surrogate escape (`"\ud800"`), a number beyond `f64`. The typed parse skips
/// fields Firebreak does not read and keeps CloudTrail request and response bodies raw; without
/// this check a rule would later read such a body as `null` and judge the event harmless.
fn check_readable(input: &str) -> Result<(), Error> {
    if Readable::deserialize(&mut serde_json::Deserializer::from_str(input)).is_ok() {
        return Ok(());
    }
    // Again with path tracking, to name the field.
    let mut de = serde_json::Deserializer::from_str(input);
    serde_path_to_error::deserialize::<_, Readable>(&mut de)
        .map(drop)
        .map_err(|e| Error::from_json(e, ""))
}

/// Any JSON value, visited to the bottom and kept nowhere.
struct Readable;

impl<'de> Deserialize<'de> for Readable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ReadableVisitor)
    }
}

struct ReadableVisitor;

impl<'de> serde::de::Visitor<'de> for ReadableVisitor {
    type Value = Readable;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Readable, E> {
        Ok(Readable)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Readable, E> {
        Ok(Readable)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Readable, E> {
        Ok(Readable)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Readable, E> {
        Ok(Readable)
    }

    fn visit_str<E>(self, _: &str) -> Result<Readable, E> {
        Ok(Readable)
    }

    fn visit_unit<E>(self) -> Result<Readable, E> {
        Ok(Readable)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Readable, A::Error> {
        while seq.next_element::<Readable>()?.is_some() {}
        Ok(Readable)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Readable, A::Error> {
        while map.next_key::<Readable>()?.is_some() {
            map.next_value::<Readable>()?;
        }
        Ok(Readable)
    }
}

fn parse_with<'a>(
    de: &mut serde_json::Deserializer<serde_json::de::StrRead<'a>>,
) -> Result<Parsed<'a>, serde_json::Error> {
    let parsed = Parsed::deserialize(&mut *de)?;
    de.end()?;
    Ok(parsed)
}

fn trailing(e: serde_json::Error) -> Error {
    Error::Json {
        path: ".".into(),
        message: e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_string(),
        line: e.line(),
        column: e.column(),
    }
}

struct Parsed<'a> {
    envelope: Envelope,
    detail: ParsedDetail<'a>,
}

enum ParsedDetail<'a> {
    Typed(Detail<'a>),
    Deferred(&'a RawValue),
    Unsupported,
}

/// One pass over the envelope: EventBridge writes `detail-type` before `detail`, so the detail
/// is read straight into its type; any other order falls back to a second pass.
impl<'de> Deserialize<'de> for Parsed<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EnvelopeVisitor)
    }
}

/// The envelope keys Firebreak reads; each may appear once.
const ENVELOPE_FIELDS: [&str; 7] = [
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "detail",
];

struct EnvelopeVisitor;

impl<'de> serde::de::Visitor<'de> for EnvelopeVisitor {
    type Value = Parsed<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an EventBridge event (a JSON object with detail-type and detail)")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use serde::de::{Error as _, IgnoredAny};
        let (mut id, mut detail_type, mut source, mut account, mut time, mut region) =
            (None, None::<String>, None, None, None, None);
        let mut detail = None;
        // A repeated envelope key is refused: readers disagree on which copy wins.
        let mut seen = [false; ENVELOPE_FIELDS.len()];
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if let Some(i) = ENVELOPE_FIELDS.iter().position(|f| *f == key) {
                if std::mem::replace(&mut seen[i], true) {
                    return Err(A::Error::duplicate_field(ENVELOPE_FIELDS[i]));
                }
            }
            match key.as_ref() {
                "id" => id = map.next_value()?,
                "detail-type" => detail_type = Some(map.next_value()?),
                "source" => source = map.next_value()?,
                "account" => account = map.next_value()?,
                "time" => time = map.next_value::<Option<DateTime<Utc>>>()?,
                "region" => region = map.next_value()?,
                "detail" => {
                    detail = Some(match detail_type.as_deref() {
                        Some(GUARDDUTY_FINDING) => {
                            ParsedDetail::Typed(Detail::GuardDuty(map.next_value()?))
                        }
                        Some(
                            CLOUDTRAIL_API_CALL | CLOUDTRAIL_SIGN_IN | CLOUDTRAIL_SERVICE_EVENT,
                        ) => ParsedDetail::Typed(Detail::CloudTrail(map.next_value()?)),
                        Some(_) => {
                            map.next_value::<IgnoredAny>()?;
                            ParsedDetail::Unsupported
                        }
                        None => ParsedDetail::Deferred(map.next_value()?),
                    })
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let detail_type = detail_type.ok_or_else(|| A::Error::missing_field("detail-type"))?;
        let detail = detail.ok_or_else(|| A::Error::missing_field("detail"))?;
        Ok(Parsed {
            envelope: Envelope {
                id,
                detail_type,
                source,
                account,
                time,
                region,
            },
            detail,
        })
    }
}

fn parse_detail<'a, T: Deserialize<'a>>(input: &str, raw: &'a RawValue) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // Positions are relative to `detail`; report them relative to the whole event.
        let offset = (raw.get().as_ptr() as usize).saturating_sub(input.as_ptr() as usize);
        let offset = offset.min(input.len());
        let before = input.get(..offset).unwrap_or_default();
        let lines_before = before.matches('\n').count();
        let column_base = before.rfind('\n').map_or(offset, |nl| offset - nl - 1);
        match Error::from_json(e, "detail") {
            Error::Json {
                path,
                message,
                line,
                column,
            } => Error::Json {
                path,
                message,
                column: if line == 1 {
                    column_base + column
                } else {
                    column
                },
                line: lines_before + line,
            },
            other => other,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal CloudTrail event with `extra` spliced into the envelope.
    fn event(extra: &str) -> String {
        format!(
            r#"{{"detail-type": "AWS API Call via CloudTrail", {extra} "detail": {{"eventSource": "iam.amazonaws.com", "eventName": "ListUsers", "eventID": "e-1"}}}}"#
        )
    }

    #[test]
    fn over_the_limit_is_refused_before_any_parsing() {
        // Not JSON at all: only the size check can answer TooLarge.
        let over = "x".repeat(MAX_EVENT_BYTES + 1);
        assert_eq!(
            Event::parse(&over).unwrap_err(),
            Error::TooLarge(MAX_EVENT_BYTES + 1)
        );
        assert_eq!(
            Error::TooLarge(300_000).to_string(),
            "event is 300000 bytes, over EventBridge's limit of 262144 bytes: refused"
        );
        let at_limit = "x".repeat(MAX_EVENT_BYTES);
        assert!(matches!(
            Event::parse(&at_limit).unwrap_err(),
            Error::Json { .. }
        ));
        let mut padded = event("");
        padded.push_str(&" ".repeat(MAX_EVENT_BYTES - padded.len()));
        assert!(Event::parse(&padded).is_ok());
    }

    #[test]
    fn a_repeated_envelope_key_is_refused() {
        assert!(Event::parse(&event(r#""region": "us-east-1","#)).is_ok());
        let twice = event(r#""region": "us-east-1", "region": "eu-west-1","#);
        let err = Event::parse(&twice).unwrap_err().to_string();
        assert!(err.contains("duplicate field `region`"), "{err}");
        // Keys Firebreak does not read may repeat.
        assert!(Event::parse(&event(r#""version": "0", "version": "0","#)).is_ok());
    }

    #[test]
    fn what_a_tree_reader_refuses_is_refused_even_where_firebreak_does_not_read() {
        let nested = |depth: usize| format!(r#""x": {}{},"#, "[".repeat(depth), "]".repeat(depth));
        assert!(Event::parse(&event(&nested(100))).is_ok());
        let err = Event::parse(&event(&nested(200))).unwrap_err().to_string();
        assert!(
            err.starts_with("x[0][0]") && err.contains("recursion limit exceeded"),
            "{err}"
        );
        for (extra, expected) in [
            (r#""x": "\ud800","#, "x: "),
            (r#""x": 1e400,"#, "x: number out of range"),
        ] {
            let err = Event::parse(&event(extra)).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{extra}: {err}");
        }
    }

    #[test]
    fn a_long_detail_type_is_not_echoed_whole() {
        let long = format!("GuardDuty Finding{}", "A".repeat(10_000));
        let text = format!(r#"{{"detail-type": "{long}", "detail": {{}}}}"#);
        match Event::parse(&text).unwrap_err() {
            Error::UnsupportedDetailType(shown) => {
                assert_eq!(shown.chars().count(), MAX_DETAIL_TYPE_CHARS + 1);
                assert!(shown.ends_with('…'));
            }
            other => panic!("{other:?}"),
        }
    }
}
