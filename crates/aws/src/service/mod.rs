//! One module per AWS service, each holding only that service's calls and what they read
//! back. Nothing here knows about incidents' evidence or plans.

pub mod autoscaling;
pub mod cloudtrail;
pub mod cognito;
pub mod ec2;
pub mod elb;
pub mod eventbridge;
pub mod guardduty;
pub mod iam;
pub mod identity_center;
pub mod lambda;
pub mod rds;
pub mod s3;
pub mod sns;
pub mod sqs;
pub mod ssm;
pub mod trail;
