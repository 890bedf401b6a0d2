//! SDK clients, each built from one `SdkConfig` (which carries any emulator endpoint) the first
//! time it is used: a function builds only the clients its events need, and none at init.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use aws_config::SdkConfig;

/// An SDK client built from the shared configuration on first use, then shared by every copy.
pub struct Lazy<T> {
    cell: Arc<OnceLock<T>>,
    sdk: Arc<SdkConfig>,
    make: fn(&SdkConfig) -> T,
}

impl<T> Lazy<T> {
    /// A client that `make` builds from `sdk` when it is first used.
    pub fn new(sdk: &Arc<SdkConfig>, make: fn(&SdkConfig) -> T) -> Self {
        Lazy {
            cell: Arc::new(OnceLock::new()),
            sdk: Arc::clone(sdk),
            make,
        }
    }

    /// The client, built now if it was not yet.
    pub fn get(&self) -> &T {
        self.cell.get_or_init(|| (self.make)(&self.sdk))
    }

    /// Whether it has been built.
    pub fn is_built(&self) -> bool {
        self.cell.get().is_some()
    }
}

impl<T> Deref for Lazy<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.get()
    }
}

impl<T> Clone for Lazy<T> {
    fn clone(&self) -> Self {
        Lazy {
            cell: Arc::clone(&self.cell),
            sdk: Arc::clone(&self.sdk),
            make: self.make,
        }
    }
}

/// A client already built (a test's mocked one).
impl<T> From<T> for Lazy<T> {
    fn from(client: T) -> Self {
        fn unreachable<T>(_: &SdkConfig) -> T {
            unreachable!("a ready client is never built again")
        }
        Lazy {
            cell: Arc::new(OnceLock::from(client)),
            sdk: Arc::new(SdkConfig::builder().build()),
            make: unreachable::<T>,
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Lazy<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.cell.get() {
            Some(client) => client.fmt(f),
            None => f.write_str("(built on first use)"),
        }
    }
}

/// The clients one account's actions need.
#[derive(Clone, Debug)]
pub struct Clients {
    /// IAM.
    pub iam: Lazy<aws_sdk_iam::Client>,
    /// EC2.
    pub ec2: Lazy<aws_sdk_ec2::Client>,
    /// Auto Scaling (detaching an instance before it is isolated).
    pub autoscaling: Lazy<aws_sdk_autoscaling::Client>,
    /// Elastic Load Balancing v2 (target groups an instance serves).
    pub elbv2: Lazy<aws_sdk_elasticloadbalancingv2::Client>,
    /// Classic Elastic Load Balancing.
    pub elb: Lazy<aws_sdk_elasticloadbalancing::Client>,
    /// S3 (path-style, so emulators and dotted bucket names work).
    pub s3: Lazy<aws_sdk_s3::Client>,
    /// Cognito user pools.
    pub cognito: Lazy<aws_sdk_cognitoidentityprovider::Client>,
    /// CloudTrail (activity lookups).
    pub cloudtrail: Lazy<aws_sdk_cloudtrail::Client>,
    /// SNS (pages).
    pub sns: Lazy<aws_sdk_sns::Client>,
    /// STS (caller identity, member-account roles).
    pub sts: Lazy<aws_sdk_sts::Client>,
    /// GuardDuty (fetching findings after the fact).
    pub guardduty: Lazy<aws_sdk_guardduty::Client>,
    /// Lambda (a permission an attacker added).
    pub lambda: Lazy<aws_sdk_lambda::Client>,
    /// RDS (a snapshot an attacker shared).
    pub rds: Lazy<aws_sdk_rds::Client>,
    /// Systems Manager (an instance's memory).
    pub ssm: Lazy<aws_sdk_ssm::Client>,
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

    /// The clients built so far, by name.
    pub fn built(&self) -> Vec<&'static str> {
        [
            ("iam", self.iam.is_built()),
            ("ec2", self.ec2.is_built()),
            ("autoscaling", self.autoscaling.is_built()),
            ("elbv2", self.elbv2.is_built()),
            ("elb", self.elb.is_built()),
            ("s3", self.s3.is_built()),
            ("cognito", self.cognito.is_built()),
            ("cloudtrail", self.cloudtrail.is_built()),
            ("sns", self.sns.is_built()),
            ("sts", self.sts.is_built()),
            ("guardduty", self.guardduty.is_built()),
            ("lambda", self.lambda.is_built()),
            ("rds", self.rds.is_built()),
            ("ssm", self.ssm.is_built()),
        ]
        .into_iter()
        .filter_map(|(name, built)| built.then_some(name))
        .collect()
    }

    /// Every client, each built from `sdk` on first use.
    pub fn new(sdk: &SdkConfig) -> Clients {
        let shared = Arc::new(sdk.clone());
        Clients {
            iam: Lazy::new(&shared, aws_sdk_iam::Client::new),
            ec2: Lazy::new(&shared, aws_sdk_ec2::Client::new),
            autoscaling: Lazy::new(&shared, aws_sdk_autoscaling::Client::new),
            elbv2: Lazy::new(&shared, aws_sdk_elasticloadbalancingv2::Client::new),
            elb: Lazy::new(&shared, aws_sdk_elasticloadbalancing::Client::new),
            // Path-style, so emulators and dotted bucket names work.
            s3: Lazy::new(&shared, |sdk| {
                aws_sdk_s3::Client::from_conf(
                    aws_sdk_s3::config::Builder::from(sdk)
                        .force_path_style(true)
                        .build(),
                )
            }),
            cognito: Lazy::new(&shared, aws_sdk_cognitoidentityprovider::Client::new),
            cloudtrail: Lazy::new(&shared, aws_sdk_cloudtrail::Client::new),
            sns: Lazy::new(&shared, aws_sdk_sns::Client::new),
            sts: Lazy::new(&shared, aws_sdk_sts::Client::new),
            guardduty: Lazy::new(&shared, aws_sdk_guardduty::Client::new),
            lambda: Lazy::new(&shared, aws_sdk_lambda::Client::new),
            rds: Lazy::new(&shared, aws_sdk_rds::Client::new),
            ssm: Lazy::new(&shared, aws_sdk_ssm::Client::new),
            sdk: sdk.clone(),
        }
    }
}
