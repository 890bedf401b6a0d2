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

/// How long one LookupEvents page may take, retries included.
pub const ACTIVITY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3);

/// The activity read's own budget: one attempt per page within [`ACTIVITY_DEADLINE`]. It is
/// evidence, not containment: a throttled or failing LookupEvents (2 requests a second per
/// account and region) is recorded as missing at once, never retried with backoff while the
/// response waits.
fn activity_budget() -> aws_sdk_cloudtrail::config::Builder {
    aws_sdk_cloudtrail::config::Builder::default()
        .retry_config(
            aws_sdk_cloudtrail::config::retry::RetryConfig::standard().with_max_attempts(1),
        )
        .timeout_config(
            aws_sdk_cloudtrail::config::timeout::TimeoutConfig::builder()
                .operation_timeout(ACTIVITY_DEADLINE)
                .build(),
        )
}

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
            .customize()
            .config_override(activity_budget())
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

/// Every trail this region can see, with whether it is logging and logs management events.
pub async fn trails(
    client: &aws_sdk_cloudtrail::Client,
) -> Result<Vec<firebreak_core::lifecycle::doctor::Trail>, AwsError> {
    let listed = client.describe_trails().send().await.aws()?;
    let mut out = Vec::new();
    for t in listed.trail_list() {
        let Some(name) = t.trail_arn().or(t.name()) else {
            continue;
        };
        let status = client.get_trail_status().name(name).send().await.aws()?;
        let selectors = client
            .get_event_selectors()
            .trail_name(name)
            .send()
            .await
            .aws()?;
        // No selectors of either kind: the trail logs every management event. Otherwise some
        // selector must log the write (change) management events, from every source: those are
        // what EventBridge's CloudTrail rules receive.
        let basic = selectors.event_selectors();
        let advanced = selectors.advanced_event_selectors();
        let management_events = (basic.is_empty() && advanced.is_empty())
            || basic.iter().any(|s| {
                s.include_management_events() != Some(false)
                    && s.read_write_type().map(|r| r.as_str()) != Some("ReadOnly")
                    && s.exclude_management_event_sources().is_empty()
            })
            || advanced.iter().any(|s| {
                let fields = s.field_selectors();
                let management = fields.iter().any(|f| {
                    f.field() == "eventCategory" && f.equals().iter().any(|v| v == "Management")
                });
                let only_reads = fields
                    .iter()
                    .any(|f| f.field() == "readOnly" && f.equals().iter().any(|v| v == "true"));
                let some_sources_left_out = fields
                    .iter()
                    .any(|f| f.field() == "eventSource" && !f.not_equals().is_empty());
                management && !only_reads && !some_sources_left_out
            });
        out.push(firebreak_core::lifecycle::doctor::Trail {
            name: t.name().unwrap_or(name).to_string(),
            logging: status.is_logging().unwrap_or(false),
            multi_region: t.is_multi_region_trail().unwrap_or(false),
            management_events,
        });
    }
    Ok(out)
}
