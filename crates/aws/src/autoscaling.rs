//! Auto Scaling effectors: find the group an instance is in, and take it out of that group so
//! the group cannot terminate it once isolation makes it fail its health checks.

use crate::error::{AwsError, SdkResultExt};

/// The Auto Scaling group `instance_id` is in now (DescribeAutoScalingInstances), if any.
pub async fn group_of(
    c: &aws_sdk_autoscaling::Client,
    instance_id: &str,
) -> Result<Option<String>, AwsError> {
    let out = c
        .describe_auto_scaling_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .aws()?;
    Ok(out
        .auto_scaling_instances()
        .iter()
        .find(|i| i.instance_id() == Some(instance_id))
        .and_then(|i| i.auto_scaling_group_name())
        .map(str::to_string))
}

/// DetachInstances with the desired capacity kept: the group launches a replacement, and the
/// instance keeps running outside it.
pub async fn detach(
    c: &aws_sdk_autoscaling::Client,
    instance_id: &str,
    group: &str,
) -> Result<(), AwsError> {
    c.detach_instances()
        .auto_scaling_group_name(group)
        .instance_ids(instance_id)
        .should_decrement_desired_capacity(false)
        .send()
        .await
        .aws()?;
    Ok(())
}

/// The ARN of Auto Scaling group `group` (DescribeAutoScalingGroups), which protection judges.
pub async fn group_arn(
    c: &aws_sdk_autoscaling::Client,
    group: &str,
) -> Result<Option<String>, AwsError> {
    let out = c
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group)
        .send()
        .await
        .aws()?;
    Ok(out
        .auto_scaling_groups()
        .iter()
        .find(|g| g.auto_scaling_group_name() == Some(group))
        .and_then(|g| g.auto_scaling_group_arn())
        .map(str::to_string))
}
