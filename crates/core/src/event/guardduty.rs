//! Lenient types for GuardDuty findings as EventBridge delivers them (`detail` of a
//! `GuardDuty Finding` event). Only `id`, `type`, `severity` and `resource.resourceType` are
//! required; everything else may be absent or null.

use serde::Deserialize;

use crate::event::lenient;

/// A GuardDuty finding.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Finding id, stable across re-emits of the same finding.
    pub id: String,
    /// Finding type, e.g. `UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS`.
    #[serde(rename = "type")]
    pub finding_type: String,
    /// GuardDuty's severity, 1.0 to 10.0.
    pub severity: f64,
    /// Account the finding is about.
    #[serde(default)]
    pub account_id: Option<String>,
    /// Region of the finding.
    #[serde(default)]
    pub region: Option<String>,
    /// `aws`, `aws-cn`, `aws-us-gov`.
    #[serde(default)]
    pub partition: Option<String>,
    /// Finding ARN.
    #[serde(default)]
    pub arn: Option<String>,
    /// GuardDuty's one-line title.
    #[serde(default)]
    pub title: Option<String>,
    /// GuardDuty's description.
    #[serde(default)]
    pub description: Option<String>,
    /// When the finding was first created.
    #[serde(default)]
    pub created_at: Option<String>,
    /// Last update; moves forward on every re-emit.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// The affected resource.
    pub resource: Resource,
    /// Service-side details: count, sample flag, archive state.
    #[serde(default)]
    pub service: Service,
}

/// `resource` of a finding.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// `AccessKey`, `Instance`, `S3Bucket`, `EKSCluster`, `Lambda`, …
    pub resource_type: String,
    /// The credential involved, for AccessKey (and S3) findings.
    #[serde(default)]
    pub access_key_details: Option<AccessKeyDetails>,
    /// The instance, for Instance findings.
    #[serde(default)]
    pub instance_details: Option<InstanceDetails>,
    /// The bucket(s), for S3 findings.
    #[serde(default)]
    pub s3_bucket_details: Option<Vec<S3BucketDetails>>,
}

/// `resource.accessKeyDetails`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyDetails {
    /// `AKIA…` (long-term) or `ASIA…` (temporary).
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// `AIDA…` / `AROA…:session`.
    #[serde(default)]
    pub principal_id: Option<String>,
    /// IAM user name, or role name for AssumedRole.
    #[serde(default)]
    pub user_name: Option<String>,
    /// `IAMUser`, `AssumedRole`, `Root`, `FederatedUser`, …
    #[serde(default)]
    pub user_type: Option<String>,
}

/// `resource.instanceDetails`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceDetails {
    /// `i-…`.
    #[serde(default)]
    pub instance_id: Option<String>,
    /// AMI id.
    #[serde(default)]
    pub image_id: Option<String>,
    /// The instance profile, if any.
    #[serde(default)]
    pub iam_instance_profile: Option<InstanceProfile>,
    /// ENIs with their VPCs and security groups.
    #[serde(default)]
    pub network_interfaces: Option<Vec<NetworkInterface>>,
    /// Instance tags (the `notification` tag names the owner).
    #[serde(default)]
    pub tags: Option<Vec<Tag>>,
}

/// `iamInstanceProfile`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceProfile {
    /// Instance profile ARN.
    #[serde(default)]
    pub arn: Option<String>,
    /// Instance profile id.
    #[serde(default)]
    pub id: Option<String>,
}

/// One ENI of the instance.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    /// `eni-…`.
    #[serde(default)]
    pub network_interface_id: Option<String>,
    /// `vpc-…`.
    #[serde(default)]
    pub vpc_id: Option<String>,
    /// Security groups on the ENI.
    #[serde(default)]
    pub security_groups: Option<Vec<SecurityGroup>>,
}

/// A security group reference.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroup {
    /// `sg-…`.
    #[serde(default)]
    pub group_id: Option<String>,
    /// Group name.
    #[serde(default)]
    pub group_name: Option<String>,
}

/// A resource tag.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Tag {
    /// Tag key.
    #[serde(default)]
    pub key: Option<String>,
    /// Tag value.
    #[serde(default)]
    pub value: Option<String>,
}

/// One element of `resource.s3BucketDetails`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3BucketDetails {
    /// Bucket name.
    #[serde(default)]
    pub name: Option<String>,
    /// Bucket ARN.
    #[serde(default)]
    pub arn: Option<String>,
    /// Bucket tags.
    #[serde(default)]
    pub tags: Option<Vec<Tag>>,
    /// Public access summary.
    #[serde(default)]
    pub public_access: Option<PublicAccess>,
}

/// `publicAccess` of a bucket.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicAccess {
    /// `PUBLIC` or `NOT_PUBLIC`.
    #[serde(default)]
    pub effective_permission: Option<String>,
}

/// `service` of a finding.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// How many times GuardDuty has seen the activity; grows on re-emits.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub count: Option<u64>,
    /// Archived (suppressed) findings are not acted on.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub archived: Option<bool>,
    /// Detector that produced the finding.
    #[serde(default)]
    pub detector_id: Option<String>,
    /// First time the activity was seen.
    #[serde(default)]
    pub event_first_seen: Option<String>,
    /// Last time the activity was seen.
    #[serde(default)]
    pub event_last_seen: Option<String>,
    /// Holds the `sample` flag of generated findings.
    #[serde(default)]
    pub additional_info: Option<AdditionalInfo>,
    /// An attack sequence's `sequence` (its actors, resources, signals), kept as JSON: its
    /// actors are read leniently by triage, so an odd shape there cannot refuse the finding.
    #[serde(default)]
    pub detection: Option<serde_json::Value>,
}

/// `service.additionalInfo`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AdditionalInfo {
    /// `true` on findings made by CreateSampleFindings.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub sample: Option<bool>,
}

impl Finding {
    /// True for GuardDuty's generated sample findings.
    pub fn is_sample(&self) -> bool {
        self.service
            .additional_info
            .as_ref()
            .and_then(|a| a.sample)
            .unwrap_or(false)
    }

    /// The `notification` tag of the affected resource: the owner to tell.
    pub fn owner(&self) -> Option<&str> {
        let instance = self
            .resource
            .instance_details
            .as_ref()
            .and_then(|i| i.tags.as_deref());
        let buckets = self
            .resource
            .s3_bucket_details
            .iter()
            .flatten()
            .filter_map(|b| b.tags.as_deref());
        instance
            .into_iter()
            .chain(buckets)
            .flatten()
            .find(|t| t.key.as_deref() == Some("notification"))
            .and_then(|t| t.value.as_deref())
    }
}
