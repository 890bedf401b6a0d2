//! The pager: publishes a composed page to the topic its route names, with message attributes
//! subscriptions filter on.

use aws_sdk_sns::types::MessageAttributeValue;
use firebreak_core::{Page, Route};

use crate::sdk::clients::Lazy;
use crate::sdk::error::{AwsError, SdkResultExt};

/// SNS topics by route.
#[derive(Debug, Clone)]
pub struct Pager {
    sns: Lazy<aws_sdk_sns::Client>,
    pager_topic: String,
    ticket_topic: String,
}

impl Pager {
    /// A pager publishing S1 pages to `pager_topic` and S2 tickets to `ticket_topic`.
    pub fn new(
        sns: impl Into<Lazy<aws_sdk_sns::Client>>,
        pager_topic: impl Into<String>,
        ticket_topic: impl Into<String>,
    ) -> Self {
        Pager {
            sns: sns.into(),
            pager_topic: pager_topic.into(),
            ticket_topic: ticket_topic.into(),
        }
    }

    /// The topic a route publishes to.
    pub fn topic(&self, route: Route) -> Option<&str> {
        match route {
            Route::Pager => Some(self.pager_topic.as_str()),
            Route::Ticket => Some(self.ticket_topic.as_str()),
            Route::Record => None,
        }
        .filter(|t| !t.is_empty())
    }

    /// Publishes the page; returns the SNS message id.
    pub async fn send(&self, route: Route, page: &Page) -> Result<String, AwsError> {
        let topic = self.topic(route).ok_or_else(|| {
            AwsError::new(
                "NoTopic",
                format!("no SNS topic configured for route {route}"),
            )
        })?;
        let mut publish = self
            .sns
            .publish()
            .topic_arn(topic)
            .subject(&page.subject)
            .message(&page.body);
        for (name, value) in &page.attributes {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| AwsError::new("InvalidInput", e.to_string()))?;
            publish = publish.message_attributes(name, attribute);
        }
        let out = publish.send().await.aws()?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}

/// The subscriptions of `topic` (an unconfirmed one's ARN is `PendingConfirmation`).
pub async fn subscriptions(
    sns: &aws_sdk_sns::Client,
    topic: &str,
) -> Result<Vec<firebreak_core::lifecycle::doctor::Subscription>, AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = sns
            .list_subscriptions_by_topic()
            .topic_arn(topic)
            .set_next_token(token)
            .send()
            .await
            .aws()?;
        out.extend(page.subscriptions().iter().map(|s| {
            firebreak_core::lifecycle::doctor::Subscription {
                arn: s.subscription_arn().unwrap_or_default().to_string(),
                protocol: s.protocol().unwrap_or_default().to_string(),
            }
        }));
        match page.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => return Ok(out),
        }
    }
}
