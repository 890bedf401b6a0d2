//! Load-balancer effectors: find every target group (Elastic Load Balancing v2) and classic
//! load balancer an instance serves, deregister it before it is isolated, and register it again
//! on release.

use firebreak_core::record::release::Registration;

use crate::sdk::error::{AwsError, SdkResultExt, Undone};

/// Where an instance is registered: target groups that name it as an `instance` target, and
/// classic load balancers that list it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Serving {
    /// Target groups, each with the port it is registered on.
    pub target_groups: Vec<Registration>,
    /// Classic load balancers, by name.
    pub classic: Vec<String>,
    /// Each target group's load balancers, by ARN (protecting a balancer protects its groups).
    pub balancers_of: Vec<(String, Vec<String>)>,
}

impl Serving {
    /// True when it is registered nowhere.
    pub fn is_empty(&self) -> bool {
        self.target_groups.is_empty() && self.classic.is_empty()
    }
}

/// Every registration of `instance_id` in the region: each target group's targets read
/// (DescribeTargetGroups, DescribeTargetHealth), each classic load balancer's instances
/// (DescribeLoadBalancers).
pub async fn serving(
    v2: &aws_sdk_elasticloadbalancingv2::Client,
    classic: &aws_sdk_elasticloadbalancing::Client,
    instance_id: &str,
) -> Result<Serving, AwsError> {
    let mut out = Serving::default();
    let mut marker = None;
    loop {
        let page = v2
            .describe_target_groups()
            .set_marker(marker.take())
            .send()
            .await
            .aws()?;
        for group in page.target_groups() {
            // Only instance targets name an instance; ip and lambda targets do not.
            let by_instance = group.target_type().is_none_or(|t| t.as_str() == "instance");
            let Some(arn) = group.target_group_arn().filter(|_| by_instance) else {
                continue;
            };
            let health = match v2
                .describe_target_health()
                .target_group_arn(arn)
                .send()
                .await
                .aws()
            {
                Ok(health) => health,
                // Deleted since it was listed: it serves nothing.
                Err(e) if e.code == "TargetGroupNotFound" => continue,
                Err(e) => return Err(e),
            };
            // A draining target is on its way out already: its owner removed it.
            let draining = |d: &&aws_sdk_elasticloadbalancingv2::types::TargetHealthDescription| {
                d.target_health()
                    .and_then(|h| h.state())
                    .is_some_and(|s| s.as_str() == "draining")
            };
            for target in health
                .target_health_descriptions()
                .iter()
                .filter(|d| !draining(d))
                .filter_map(|d| d.target())
                .filter(|t| t.id() == Some(instance_id))
            {
                out.target_groups.push(Registration {
                    target_group_arn: arn.to_string(),
                    port: target.port(),
                });
                out.balancers_of
                    .push((arn.to_string(), group.load_balancer_arns().to_vec()));
            }
        }
        match page.next_marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_string()),
            _ => break,
        }
    }
    let mut marker = None;
    loop {
        let page = classic
            .describe_load_balancers()
            .set_marker(marker.take())
            .send()
            .await
            .aws()?;
        for lb in page.load_balancer_descriptions() {
            let serves = lb
                .instances()
                .iter()
                .any(|i| i.instance_id() == Some(instance_id));
            if let (true, Some(name)) = (serves, lb.load_balancer_name()) {
                out.classic.push(name.to_string());
            }
        }
        match page.next_marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_string()),
            _ => break,
        }
    }
    Ok(out)
}

/// The ARN of classic load balancer `name`, which protection judges.
pub fn classic_arn(partition: &str, region: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:elasticloadbalancing:{region}:{account}:loadbalancer/{name}")
}

/// Deregisters the instance from one target group, on the port it was registered on.
pub async fn deregister_target(
    v2: &aws_sdk_elasticloadbalancingv2::Client,
    instance_id: &str,
    registration: &Registration,
) -> Result<(), AwsError> {
    v2.deregister_targets()
        .target_group_arn(&registration.target_group_arn)
        .targets(target(instance_id, registration.port))
        .send()
        .await
        .aws()?;
    Ok(())
}

/// Deregisters the instance from one classic load balancer.
pub async fn deregister_classic(
    classic: &aws_sdk_elasticloadbalancing::Client,
    instance_id: &str,
    name: &str,
) -> Result<(), AwsError> {
    classic
        .deregister_instances_from_load_balancer()
        .load_balancer_name(name)
        .instances(
            aws_sdk_elasticloadbalancing::types::Instance::builder()
                .instance_id(instance_id)
                .build(),
        )
        .send()
        .await
        .aws()?;
    Ok(())
}

fn target(
    instance_id: &str,
    port: Option<i32>,
) -> aws_sdk_elasticloadbalancingv2::types::TargetDescription {
    aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder()
        .id(instance_id)
        .set_port(port)
        .build()
}

/// Release: registers the instance again with each target group and classic load balancer it
/// was deregistered from; one that no longer exists is named and left.
pub async fn register_again(
    v2: &aws_sdk_elasticloadbalancingv2::Client,
    classic: &aws_sdk_elasticloadbalancing::Client,
    instance_id: &str,
    target_groups: &[Registration],
    balancers: &[String],
) -> Result<Undone, AwsError> {
    let mut done = Vec::new();
    let mut gone = Vec::new();
    // Every one is tried; the first failure does not leave the rest unregistered.
    let mut errors = Vec::new();
    for registration in target_groups {
        match v2
            .register_targets()
            .target_group_arn(&registration.target_group_arn)
            .targets(target(instance_id, registration.port))
            .send()
            .await
            .aws()
        {
            Ok(_) => done.push(registration.target_group_arn.clone()),
            Err(e) if e.code == "TargetGroupNotFound" => {
                gone.push(registration.target_group_arn.clone())
            }
            Err(e) => errors.push(format!("{}: {e}", registration.target_group_arn)),
        }
    }
    for name in balancers {
        match classic
            .register_instances_with_load_balancer()
            .load_balancer_name(name)
            .instances(
                aws_sdk_elasticloadbalancing::types::Instance::builder()
                    .instance_id(instance_id)
                    .build(),
            )
            .send()
            .await
            .aws()
        {
            Ok(_) => done.push(name.clone()),
            Err(e) if e.code == "LoadBalancerNotFound" => gone.push(name.clone()),
            Err(e) => errors.push(format!("{name}: {e}")),
        }
    }
    if !errors.is_empty() {
        return Err(AwsError::new(
            "RegisterFailed",
            format!(
                "{instance_id} registered again with {done:?}, not with: {}",
                errors.join("; ")
            ),
        ));
    }
    let detail = format!(
        "{instance_id} registered again with {done:?}{}",
        if gone.is_empty() {
            String::new()
        } else {
            format!("; gone since: {gone:?}")
        }
    );
    Ok(if done.is_empty() {
        Undone::Unchanged(detail)
    } else {
        Undone::Changed(detail)
    })
}
