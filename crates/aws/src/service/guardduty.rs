//! One GuardDuty finding fetched by id (ListDetectors, GetFindings) and rebuilt as the
//! EventBridge `GuardDuty Finding` event that would have carried it, so a finding can be
//! re-triaged, or triaged when its event was missed, through the same path as a live one.

use aws_sdk_guardduty::types::{
    Action, Finding, InstanceDetails, NetworkInterface, RemoteIpDetails, Resource, S3BucketDetail,
    Service, ServiceAdditionalInfo, Tag,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::sdk::error::{AwsError, SdkResultExt};

/// ListDetectors pages read before giving up; a region has at most one detector, so more than
/// one page already means something is off.
const MAX_DETECTOR_PAGES: usize = 5;

/// Fetches finding `finding_id` and returns it as the JSON text of an EventBridge
/// `GuardDuty Finding` event, ready for `Event::parse`.
///
/// Without `detector_id` (or with an empty one), the region's only detector is used:
/// `NoDetector` when there is none, `AmbiguousDetector` when there are several. `NoSuchFinding`
/// when GuardDuty does not return the finding.
pub async fn fetch_finding_event(
    gd: &aws_sdk_guardduty::Client,
    detector_id: Option<&str>,
    finding_id: &str,
) -> Result<String, AwsError> {
    if finding_id.trim().is_empty() {
        return Err(AwsError::new("InvalidInput", "the finding id is empty"));
    }
    let detector = match detector_id {
        Some(d) if !d.trim().is_empty() => d.to_string(),
        _ => only_detector(gd).await?,
    };
    let out = gd
        .get_findings()
        .detector_id(&detector)
        .finding_ids(finding_id)
        .send()
        .await
        .aws()?;
    // GetFindings answers an unknown id with an empty list, not an error.
    let finding = out
        .findings()
        .iter()
        .find(|f| f.id() == Some(finding_id))
        .ok_or_else(|| {
            AwsError::new(
                "NoSuchFinding",
                format!("finding {finding_id} not found in detector {detector}"),
            )
        })?;
    let fallback_region = gd.config().region().map(|r| r.as_ref().to_string());
    let event = finding_event(finding, fallback_region.as_deref());
    serde_json::to_string(&event).map_err(|e| AwsError::new("SerializationFailed", e.to_string()))
}

/// Archives finding `finding_id` of `detector_id` (ArchiveFindings): closing an incident takes
/// its finding out of GuardDuty's active list. Archiving an archived finding succeeds.
pub async fn archive_finding(
    gd: &aws_sdk_guardduty::Client,
    detector_id: &str,
    finding_id: &str,
) -> Result<(), AwsError> {
    if detector_id.trim().is_empty() || finding_id.trim().is_empty() {
        return Err(AwsError::new(
            "InvalidInput",
            "archiving needs a detector id and a finding id",
        ));
    }
    gd.archive_findings()
        .detector_id(detector_id)
        .finding_ids(finding_id)
        .send()
        .await
        .aws()?;
    Ok(())
}

/// The region's only detector.
async fn only_detector(gd: &aws_sdk_guardduty::Client) -> Result<String, AwsError> {
    let mut ids: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_DETECTOR_PAGES {
        let out = gd
            .list_detectors()
            .set_next_token(token.take())
            .send()
            .await
            .aws()?;
        ids.extend(out.detector_ids().iter().cloned());
        match out.next_token() {
            Some(next) if !next.is_empty() && ids.len() < 2 => token = Some(next.to_string()),
            _ => break,
        }
    }
    match ids.as_slice() {
        [] => Err(AwsError::new(
            "NoDetector",
            "GuardDuty has no detector in this region",
        )),
        [one] => Ok(one.clone()),
        many => Err(AwsError::new(
            "AmbiguousDetector",
            format!(
                "{} detectors in this region ({}): name one",
                many.len(),
                many.join(", ")
            ),
        )),
    }
}

/// The EventBridge envelope around the finding.
fn finding_event(f: &Finding, fallback_region: Option<&str>) -> Value {
    let region = f.region().or(fallback_region);
    // EventBridge stamps `time` at delivery; updatedAt is the closest the finding has. The core
    // reads `time` strictly, so only a timestamp that parses goes in.
    let time = [f.updated_at(), f.created_at()]
        .into_iter()
        .flatten()
        .find_map(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| {
            t.with_timezone(&Utc)
                .to_rfc3339_opts(SecondsFormat::Secs, true)
        });
    Obj::new()
        .put("version", "0")
        .put("id", format!("fetched-{}", f.id().unwrap_or_default()))
        .put("detail-type", firebreak_core::event::GUARDDUTY_FINDING)
        .put("source", "aws.guardduty")
        .opt("account", f.account_id())
        .opt("time", time)
        .opt("region", region)
        .put("resources", Value::Array(Vec::new()))
        .put("detail", finding_detail(f))
        .into()
}

/// The finding in GuardDuty's own camelCase JSON, as EventBridge delivers it in `detail`.
fn finding_detail(f: &Finding) -> Value {
    Obj::new()
        .opt("schemaVersion", f.schema_version())
        .opt("accountId", f.account_id())
        .opt("region", f.region())
        .opt("partition", f.partition())
        .opt("id", f.id())
        .opt("arn", f.arn())
        .opt("type", f.r#type())
        .opt("resource", f.resource().map(resource))
        .opt("service", f.service().map(service))
        .opt("severity", f.severity().filter(|s| s.is_finite()))
        .opt("confidence", f.confidence().filter(|c| c.is_finite()))
        .opt("createdAt", f.created_at())
        .opt("updatedAt", f.updated_at())
        .opt("title", f.title())
        .opt("description", f.description())
        .opt(
            "associatedAttackSequenceArn",
            f.associated_attack_sequence_arn(),
        )
        .into()
}

fn resource(r: &Resource) -> Value {
    Obj::new()
        .opt("resourceType", r.resource_type())
        .opt(
            "accessKeyDetails",
            r.access_key_details().map(|k| {
                Obj::new()
                    .opt("accessKeyId", k.access_key_id())
                    .opt("principalId", k.principal_id())
                    .opt("userName", k.user_name())
                    .opt("userType", k.user_type())
            }),
        )
        .opt("instanceDetails", r.instance_details().map(instance))
        .opt(
            "s3BucketDetails",
            r.s3_bucket_details
                .as_deref()
                .map(|buckets| buckets.iter().map(bucket).collect::<Vec<_>>()),
        )
        .into()
}

fn instance(i: &InstanceDetails) -> Value {
    Obj::new()
        .opt("instanceId", i.instance_id())
        .opt("imageId", i.image_id())
        .opt("instanceType", i.instance_type())
        .opt("instanceState", i.instance_state())
        .opt("availabilityZone", i.availability_zone())
        .opt("launchTime", i.launch_time())
        .opt("platform", i.platform())
        .opt(
            "iamInstanceProfile",
            i.iam_instance_profile()
                .map(|p| Obj::new().opt("arn", p.arn()).opt("id", p.id())),
        )
        .opt(
            "networkInterfaces",
            i.network_interfaces
                .as_deref()
                .map(|nics| nics.iter().map(network_interface).collect::<Vec<_>>()),
        )
        .opt("tags", i.tags.as_deref().map(tags))
        .into()
}

fn network_interface(n: &NetworkInterface) -> Value {
    Obj::new()
        .opt("networkInterfaceId", n.network_interface_id())
        .opt("vpcId", n.vpc_id())
        .opt("subnetId", n.subnet_id())
        .opt("privateIpAddress", n.private_ip_address())
        .opt("privateDnsName", n.private_dns_name())
        .opt("publicIp", n.public_ip())
        .opt("publicDnsName", n.public_dns_name())
        .opt(
            "securityGroups",
            n.security_groups.as_deref().map(|groups| {
                groups
                    .iter()
                    .map(|g| {
                        Obj::new()
                            .opt("groupId", g.group_id())
                            .opt("groupName", g.group_name())
                            .into()
                    })
                    .collect::<Vec<Value>>()
            }),
        )
        .into()
}

fn bucket(b: &S3BucketDetail) -> Value {
    Obj::new()
        .opt("name", b.name())
        .opt("arn", b.arn())
        .opt("type", b.r#type())
        .opt("createdAt", b.created_at().map(|t| t.to_string()))
        .opt("owner", b.owner().map(|o| Obj::new().opt("id", o.id())))
        .opt("tags", b.tags.as_deref().map(tags))
        .opt(
            "publicAccess",
            b.public_access()
                .map(|p| Obj::new().opt("effectivePermission", p.effective_permission())),
        )
        .into()
}

fn tags(tags: &[Tag]) -> Value {
    tags.iter()
        .map(|t| {
            Obj::new()
                .opt("key", t.key())
                .opt("value", t.value())
                .into()
        })
        .collect::<Vec<Value>>()
        .into()
}

fn service(s: &Service) -> Value {
    Obj::new()
        .opt("serviceName", s.service_name())
        .opt("detectorId", s.detector_id())
        .opt("action", s.action().map(action))
        .opt("resourceRole", s.resource_role())
        .opt("additionalInfo", s.additional_info().map(additional_info))
        .opt("eventFirstSeen", s.event_first_seen())
        .opt("eventLastSeen", s.event_last_seen())
        .opt("archived", s.archived())
        .opt("count", s.count())
        .opt("featureName", s.feature_name())
        .opt("userFeedback", s.user_feedback())
        .into()
}

/// `value` and `type` as the API gives them, plus `sample: true` lifted out of `value`, which is
/// where EventBridge events carry it and where the core looks for it.
fn additional_info(a: &ServiceAdditionalInfo) -> Value {
    Obj::new()
        .opt("value", a.value())
        .opt("type", a.r#type())
        .opt("sample", a.value().and_then(sample_flag).filter(|s| *s))
        .into()
}

/// The `sample` flag of an additional-info value. The value is free-form JSON text: anything that
/// does not parse, or a flag of another shape, counts as absent rather than failing the fetch.
fn sample_flag(value: &str) -> Option<bool> {
    let parsed: Value = serde_json::from_str(value).ok()?;
    match parsed.get("sample")? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn action(a: &Action) -> Value {
    let api = a.aws_api_call_action().map(|c| {
        Obj::new()
            .opt("api", c.api())
            .opt("serviceName", c.service_name())
            .opt("callerType", c.caller_type())
            .opt("errorCode", c.error_code())
            .opt("userAgent", c.user_agent())
            .opt("remoteIpDetails", c.remote_ip_details().map(remote_ip))
            .opt(
                "remoteAccountDetails",
                c.remote_account_details().map(|r| {
                    Obj::new()
                        .opt("accountId", r.account_id())
                        .opt("affiliated", r.affiliated())
                }),
            )
    });
    let network = a.network_connection_action().map(|n| {
        Obj::new()
            .opt("connectionDirection", n.connection_direction())
            .opt("protocol", n.protocol())
            .opt("blocked", n.blocked())
            .opt("remoteIpDetails", n.remote_ip_details().map(remote_ip))
            .opt(
                "remotePortDetails",
                n.remote_port_details().map(|p| {
                    Obj::new()
                        .opt("port", p.port())
                        .opt("portName", p.port_name())
                }),
            )
            .opt(
                "localPortDetails",
                n.local_port_details().map(|p| {
                    Obj::new()
                        .opt("port", p.port())
                        .opt("portName", p.port_name())
                }),
            )
    });
    let dns = a.dns_request_action().map(|d| {
        Obj::new()
            .opt("domain", d.domain())
            .opt("protocol", d.protocol())
            .opt("blocked", d.blocked())
    });
    Obj::new()
        .opt("actionType", a.action_type())
        .opt("awsApiCallAction", api)
        .opt("networkConnectionAction", network)
        .opt("dnsRequestAction", dns)
        .into()
}

fn remote_ip(r: &RemoteIpDetails) -> Value {
    Obj::new()
        .opt("ipAddressV4", r.ip_address_v4())
        .opt("ipAddressV6", r.ip_address_v6())
        .opt(
            "country",
            r.country().map(|c| {
                Obj::new()
                    .opt("countryCode", c.country_code())
                    .opt("countryName", c.country_name())
            }),
        )
        .opt(
            "city",
            r.city().map(|c| Obj::new().opt("cityName", c.city_name())),
        )
        .opt(
            "organization",
            r.organization().map(|o| {
                Obj::new()
                    .opt("asn", o.asn())
                    .opt("asnOrg", o.asn_org())
                    .opt("isp", o.isp())
                    .opt("org", o.org())
            }),
        )
        .into()
}

/// A JSON object that leaves out absent fields, as GuardDuty does, instead of writing nulls.
struct Obj(Map<String, Value>);

impl Obj {
    fn new() -> Self {
        Obj(Map::new())
    }

    fn put(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_string(), value.into());
        self
    }

    fn opt<T: Into<Value>>(self, key: &str, value: Option<T>) -> Self {
        match value {
            Some(v) => self.put(key, v),
            None => self,
        }
    }
}

impl From<Obj> for Value {
    fn from(o: Obj) -> Value {
        Value::Object(o.0)
    }
}

/// The region's GuardDuty detectors, with their status and publishing frequency.
pub async fn detectors(
    gd: &aws_sdk_guardduty::Client,
) -> Result<Vec<firebreak_core::lifecycle::doctor::Detector>, AwsError> {
    let ids = gd.list_detectors().send().await.aws()?;
    let mut out = Vec::new();
    for id in ids.detector_ids() {
        let d = gd.get_detector().detector_id(id).send().await.aws()?;
        out.push(firebreak_core::lifecycle::doctor::Detector {
            id: id.clone(),
            enabled: d.status().map(|s| s.as_str()) == Some("ENABLED"),
            frequency: d
                .finding_publishing_frequency()
                .map(|f| f.as_str().to_string())
                .unwrap_or_else(|| "SIX_HOURS".into()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sample_flag_is_lenient() {
        assert_eq!(sample_flag(r#"{"sample":true}"#), Some(true));
        assert_eq!(sample_flag(r#"{"sample":"TRUE"}"#), Some(true));
        assert_eq!(sample_flag(r#"{"sample":false}"#), Some(false));
        assert_eq!(sample_flag(r#"{"sample":1}"#), None);
        assert_eq!(sample_flag("{}"), None);
        assert_eq!(sample_flag("not json"), None);
        assert_eq!(sample_flag("[true]"), None);
    }

    #[test]
    fn absent_fields_are_left_out() {
        let f = Finding::builder().id("abc").severity(f64::NAN).build();
        let event = finding_event(&f, Some("eu-west-1"));
        assert_eq!(event["id"], json!("fetched-abc"));
        assert_eq!(event["region"], json!("eu-west-1"));
        assert!(event.get("time").is_none());
        assert_eq!(event["detail"], json!({"id": "abc"}));
    }
}
