//! The EventBridge envelope and the two kinds of detail Firebreak consumes.
//!
//! The envelope is read first with `detail` kept as raw JSON, then the detail is read into the
//! type its `detail-type` names. Unknown fields are ignored; fields a rule needs are required and
//! named when absent.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::cloudtrail::Record;
use crate::error::{Error, MAX_EVENT_BYTES};
use crate::guardduty::Finding;

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
            ParsedDetail::Unsupported => {
                return Err(Error::UnsupportedDetailType(envelope.detail_type));
            }
            // `detail` came before `detail-type`: read it now that the type is known.
            ParsedDetail::Deferred(raw) => match envelope.detail_type.as_str() {
                GUARDDUTY_FINDING => Detail::GuardDuty(Box::new(parse_detail(input, raw)?)),
                CLOUDTRAIL_API_CALL | CLOUDTRAIL_SIGN_IN | CLOUDTRAIL_SERVICE_EVENT => {
                    Detail::CloudTrail(Box::new(parse_detail(input, raw)?))
                }
                other => return Err(Error::UnsupportedDetailType(other.to_string())),
            },
        };
        Ok(Event { envelope, detail })
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
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
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
