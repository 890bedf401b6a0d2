//! Firebreak's effectors: every planned action executed through the AWS SDK for Rust, evidence
//! locked in S3 with a chain of custody, pages through SNS. Clients are built once from one
//! `SdkConfig`; nothing here reads the environment.

pub mod accounts;
pub mod activity;
pub mod approve;
pub mod autoscaling;
pub mod bus;
pub mod clients;
pub mod clock;
pub mod cognito;
pub mod drill;
pub mod ec2;
pub mod error;
pub mod evidence;
pub mod guardduty;
pub mod human;
pub mod iam;
pub mod lockdown;
pub mod log;
pub mod pager;
pub mod records;
pub mod release;
pub mod respond;
pub mod s3;
pub mod verify;
pub mod wiring;

pub use bus::Bus;
pub use clients::Clients;
pub use error::AwsError;
pub use evidence::{Collector, EvidenceStore};
pub use pager::Pager;
pub use respond::{Responder, Response};
