//! Auto Scaling effectors: find the group an instance is in, and take it out of that group so
//! the group cannot terminate it once isolation makes it fail its health checks.

use firebreak_core::action::names::printable_line;

use crate::sdk::error::{AwsError, SdkResultExt, Undone};

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

/// What protection and the detach need to know of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Its ARN, which protection judges.
    pub arn: Option<String>,
    /// Its desired capacity.
    pub desired: i32,
    /// Its minimum size.
    pub min: i32,
}

/// Auto Scaling group `group` (DescribeAutoScalingGroups), if it exists.
pub async fn group(
    c: &aws_sdk_autoscaling::Client,
    group: &str,
) -> Result<Option<Group>, AwsError> {
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
        .map(|g| Group {
            arn: g.auto_scaling_group_arn().map(str::to_string),
            desired: g.desired_capacity().unwrap_or_default(),
            min: g.min_size().unwrap_or_default(),
        }))
}

/// DetachInstances; the desired capacity goes down with it when `decrement`, else the group
/// launches a replacement. The instance keeps running outside the group.
pub async fn detach(
    c: &aws_sdk_autoscaling::Client,
    instance_id: &str,
    group: &str,
    decrement: bool,
) -> Result<(), AwsError> {
    c.detach_instances()
        .auto_scaling_group_name(group)
        .instance_ids(instance_id)
        .should_decrement_desired_capacity(decrement)
        .send()
        .await
        .aws()?;
    Ok(())
}

/// Release: attaches `instance_id` to `group` again where it is in no group and the group
/// still exists (AttachInstances raises the desired capacity by one).
pub async fn reattach(
    c: &aws_sdk_autoscaling::Client,
    instance_id: &str,
    group_name: &str,
) -> Result<Undone, AwsError> {
    if let Some(now) = group_of(c, instance_id).await? {
        return Ok(Undone::Unchanged(format!(
            "{instance_id} is in Auto Scaling group {} now: left",
            printable_line(&now)
        )));
    }
    if group(c, group_name).await?.is_none() {
        return Ok(Undone::Unchanged(format!(
            "Auto Scaling group {} no longer exists",
            printable_line(group_name)
        )));
    }
    c.attach_instances()
        .auto_scaling_group_name(group_name)
        .instance_ids(instance_id)
        .send()
        .await
        .aws()?;
    Ok(Undone::Changed(format!(
        "{instance_id} attached to Auto Scaling group {} again (its desired capacity went up by one)",
        printable_line(group_name)
    )))
}
