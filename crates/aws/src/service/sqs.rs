//! SQS: how many messages wait in a queue (Firebreak's failure queues).

use aws_sdk_sqs::types::QueueAttributeName;

use crate::sdk::error::{AwsError, SdkResultExt};

/// The approximate number of messages visible in the queue at `url`.
pub async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<u64, AwsError> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .aws()?;
    Ok(out
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}
