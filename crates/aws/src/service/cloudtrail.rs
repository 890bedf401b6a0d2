//! The principal's recent CloudTrail activity, for the evidence store (LookupEvents).

use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::sdk::error::{AwsError, SdkResultExt};

/// How to find the principal's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// By the access key that was used (most precise).
    AccessKey(String),
    /// By user name (`root` for the root user).
    UserName(String),
}

/// At most this many pages of 50 events.
pub const MAX_PAGES: usize = 3;

/// Events of the principal between `start` and `end`, newest first, as CloudTrail recorded them.
pub async fn principal_activity(
    ct: &aws_sdk_cloudtrail::Client,
    lookup: &Lookup,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Value, AwsError> {
    let (key, value) = match lookup {
        Lookup::AccessKey(k) => (LookupAttributeKey::AccessKeyId, k.as_str()),
        Lookup::UserName(u) => (LookupAttributeKey::Username, u.as_str()),
    };
    let attribute = LookupAttribute::builder()
        .attribute_key(key.clone())
        .attribute_value(value)
        .build()
        .map_err(|e| AwsError::new("InvalidInput", e.to_string()))?;
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let out = ct
            .lookup_events()
            .lookup_attributes(attribute.clone())
            .start_time(aws_smithy_types::DateTime::from_secs(start.timestamp()))
            .end_time(aws_smithy_types::DateTime::from_secs(end.timestamp()))
            .max_results(50)
            .set_next_token(token.take())
            .send()
            .await
            .aws()?;
        for e in out.events() {
            let record = e
                .cloud_trail_event()
                .and_then(|raw| serde_json::from_str::<Value>(raw).ok())
                .unwrap_or(Value::Null);
            events.push(json!({
                "event_id": e.event_id(),
                "event_name": e.event_name(),
                "event_source": e.event_source(),
                "event_time": e.event_time().map(|t| t.to_string()),
                "record": record,
            }));
        }
        match out.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => break,
        }
    }
    Ok(json!({
        "lookup": {"attribute": key.as_str(), "value": value},
        "start": start.to_rfc3339(),
        "end": end.to_rfc3339(),
        "events": events,
    }))
}
