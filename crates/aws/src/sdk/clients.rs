//! SDK clients, built once from one `SdkConfig` (which carries any emulator endpoint).

use aws_config::SdkConfig;

/// The clients one account's actions need.
#[derive(Clone, Debug)]
pub struct Clients {
    /// IAM.
    pub iam: aws_sdk_iam::Client,
    /// EC2.
    pub ec2: aws_sdk_ec2::Client,
    /// Auto Scaling (detaching an instance before it is isolated).
    pub autoscaling: aws_sdk_autoscaling::Client,
    /// Elastic Load Balancing v2 (target groups an instance serves).
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    /// Classic Elastic Load Balancing.
    pub elb: aws_sdk_elasticloadbalancing::Client,
    /// S3 (path-style, so emulators and dotted bucket names work).
    pub s3: aws_sdk_s3::Client,
    /// Cognito user pools.
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    /// CloudTrail (activity lookups).
    pub cloudtrail: aws_sdk_cloudtrail::Client,
    /// SNS (pages).
    pub sns: aws_sdk_sns::Client,
    /// STS (caller identity, member-account roles).
    pub sts: aws_sdk_sts::Client,
    /// GuardDuty (fetching findings after the fact).
    pub guardduty: aws_sdk_guardduty::Client,
    /// Lambda (a permission an attacker added).
    pub lambda: aws_sdk_lambda::Client,
    /// RDS (a snapshot an attacker shared).
    pub rds: aws_sdk_rds::Client,
    /// Systems Manager (an instance's memory).
    pub ssm: aws_sdk_ssm::Client,
    /// The configuration they were built from.
    pub sdk: SdkConfig,
}

impl Clients {
    /// The same clients in another region (same credentials and endpoint).
    pub fn in_region(&self, region: &str) -> Clients {
        if self.sdk.region().map(|r| r.as_ref()) == Some(region) {
            return self.clone();
        }
        let sdk = self
            .sdk
            .to_builder()
            .region(aws_config::Region::new(region.to_string()))
            .build();
        Clients::new(&sdk)
    }

    /// Builds every client from one configuration.
    pub fn new(sdk: &SdkConfig) -> Clients {
        let s3_config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build();
        Clients {
            iam: aws_sdk_iam::Client::new(sdk),
            ec2: aws_sdk_ec2::Client::new(sdk),
            autoscaling: aws_sdk_autoscaling::Client::new(sdk),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(sdk),
            elb: aws_sdk_elasticloadbalancing::Client::new(sdk),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            cognito: aws_sdk_cognitoidentityprovider::Client::new(sdk),
            cloudtrail: aws_sdk_cloudtrail::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
            sts: aws_sdk_sts::Client::new(sdk),
            guardduty: aws_sdk_guardduty::Client::new(sdk),
            lambda: aws_sdk_lambda::Client::new(sdk),
            rds: aws_sdk_rds::Client::new(sdk),
            ssm: aws_sdk_ssm::Client::new(sdk),
            sdk: sdk.clone(),
        }
    }
}
