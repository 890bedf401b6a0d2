//! Firebreak's own EventBridge bus: how its functions hand an incident on to each other.

use firebreak_core::DetailType;
use serde::Serialize;

use crate::sdk::clients::Lazy;
use crate::sdk::error::{AwsError, SdkResultExt};

/// Puts Firebreak's events on its bus.
#[derive(Debug, Clone)]
pub struct Bus {
    events: Lazy<aws_sdk_eventbridge::Client>,
    name: String,
}

impl Bus {
    /// The bus named `name` (or its ARN).
    pub fn new(
        events: impl Into<Lazy<aws_sdk_eventbridge::Client>>,
        name: impl Into<String>,
    ) -> Self {
        Bus {
            events: events.into(),
            name: name.into(),
        }
    }

    /// Puts one event; its id, or an error when EventBridge did not take it.
    pub async fn put(
        &self,
        detail_type: DetailType,
        detail: &impl Serialize,
        resources: &[String],
    ) -> Result<String, AwsError> {
        let detail = serde_json::to_string(detail)
            .map_err(|e| AwsError::new("Serialization", e.to_string()))?;
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.name)
            .source(firebreak_core::lifecycle::bus::SOURCE)
            .detail_type(detail_type.as_str())
            .detail(detail)
            .set_resources(Some(resources.to_vec()))
            .build();
        self.send(entry).await
    }

    /// The same client, putting on bus `name` instead (`default` for AWS's own events).
    pub fn on(&self, name: impl Into<String>) -> Bus {
        Bus {
            events: self.events.clone(),
            name: name.into(),
        }
    }

    /// Puts the EventBridge event `raw` (its `source`, `detail-type` and `detail`) on this bus,
    /// as a drill does with its synthetic finding; the event id.
    pub async fn put_event(&self, raw: &str) -> Result<String, AwsError> {
        let event: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| AwsError::new("InvalidInput", format!("not an event: {e}")))?;
        let text = |field: &str| event[field].as_str().unwrap_or_default().to_string();
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.name)
            .source(text("source"))
            .detail_type(text("detail-type"))
            .detail(event["detail"].to_string())
            .build();
        self.send(entry).await
    }

    /// Puts one entry; its event id. PutEvents answers 200 with per-entry errors: a refused
    /// entry is not an event put.
    async fn send(
        &self,
        entry: aws_sdk_eventbridge::types::PutEventsRequestEntry,
    ) -> Result<String, AwsError> {
        let out = self.events.put_events().entries(entry).send().await.aws()?;
        match out.entries().first() {
            Some(e) if e.error_code().is_none() => Ok(e.event_id().unwrap_or_default().to_string()),
            Some(e) => Err(AwsError::new(
                e.error_code().unwrap_or("PutEventsFailed"),
                e.error_message().unwrap_or("EventBridge refused the event"),
            )),
            None => Err(AwsError::new(
                "PutEventsFailed",
                "EventBridge answered without an entry",
            )),
        }
    }
}

/// The rules on the default bus of `events`'s region whose names start with `prefix`: (name,
/// state).
pub async fn rules_named(
    events: &aws_sdk_eventbridge::Client,
    prefix: &str,
) -> Result<Vec<(String, String)>, AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = events
            .list_rules()
            .name_prefix(prefix)
            .set_next_token(token)
            .send()
            .await
            .aws()?;
        for rule in page.rules() {
            out.push((
                rule.name().unwrap_or_default().to_string(),
                rule.state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            ));
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}
