//! Calls the local emulator cannot serve (GuardDuty findings, CloudTrail LookupEvents), against
//! `aws-smithy-mocks` rules instead.

use aws_sdk_cloudtrail::operation::lookup_events::{LookupEventsError, LookupEventsOutput};
use aws_sdk_cloudtrail::types::error::InvalidLookupAttributesException;
use aws_sdk_cloudtrail::types::{Event as TrailEvent, LookupAttributeKey};
use aws_sdk_guardduty::operation::get_findings::GetFindingsOutput;
use aws_sdk_guardduty::operation::list_detectors::ListDetectorsOutput;
use aws_sdk_guardduty::types::{
    AccessKeyDetails, Finding, Resource, Service, ServiceAdditionalInfo,
};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use aws_smithy_types::error::ErrorMetadata;
use chrono::{TimeZone, Utc};
use firebreak_aws::service::cloudtrail::{Lookup, principal_activity};
use firebreak_aws::service::guardduty::fetch_finding_event;
use firebreak_core::{Action, Config, Decision, Detail, Event, Triage};

/// `aws_smithy_mocks::mock_client!` without its call to `with_test_defaults_v2`, which the SDK
/// versions in the lock file (cloudtrail 1.81, guardduty 1.86) predate: `with_test_defaults` plus
/// the region that v2 would have added.
macro_rules! mocked_client {
    ($sdk:ident, [$($rule:expr),+ $(,)?]) => {
        mocked_client!($sdk, RuleMode::Sequential, [$($rule),+])
    };
    ($sdk:ident, $mode:expr, [$($rule:expr),+ $(,)?]) => {{
        let interceptor = MockResponseInterceptor::new().rule_mode($mode);
        $(let interceptor = interceptor.with_rule($rule);)+
        $sdk::Client::from_conf(
            $sdk::Config::builder()
                .with_test_defaults()
                .region($sdk::config::Region::new("us-east-1"))
                .http_client(create_mock_http_client())
                .interceptor(interceptor)
                .build(),
        )
    }};
}

const DETECTOR: &str = "8d2987fc0af05266f46ad51dcd94c61c";
const FINDING: &str = "f1185d0d725b08b251a8f2e2aa33257b";
const KEY: &str = "AKIA22L6HG6JY3R7SCVL";
const ACCOUNT: &str = "111122223333";

/// An IAMUser AccessKey finding as GetFindings returns it.
fn access_key_finding(additional_info: &str) -> Finding {
    Finding::builder()
        .schema_version("2.0")
        .account_id(ACCOUNT)
        .region("us-east-1")
        .partition("aws")
        .id(FINDING)
        .arn(format!(
            "arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/{DETECTOR}/finding/{FINDING}"
        ))
        .r#type("UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom")
        .severity(8.0)
        .created_at("2025-03-06T22:15:02.551Z")
        .updated_at("2025-03-06T22:15:02.551Z")
        .title("API GetCallerIdentity was invoked from an IP address on a custom threat list.")
        .description("API GetCallerIdentity was invoked by user IAMUser : build-agent.")
        .resource(
            Resource::builder()
                .resource_type("AccessKey")
                .access_key_details(
                    AccessKeyDetails::builder()
                        .access_key_id(KEY)
                        .principal_id("AIDAXWCI2PBFYFNIPP3DJ")
                        .user_name("build-agent")
                        .user_type("IAMUser")
                        .build(),
                )
                .build(),
        )
        .service(
            Service::builder()
                .service_name("guardduty")
                .detector_id(DETECTOR)
                .archived(false)
                .count(7)
                .event_first_seen("2025-03-06T22:03:51.000Z")
                .event_last_seen("2025-03-06T22:09:13.000Z")
                .resource_role("TARGET")
                .additional_info(
                    ServiceAdditionalInfo::builder()
                        .value(additional_info)
                        .r#type("default")
                        .build(),
                )
                .build(),
        )
        .build()
}

fn one_detector() -> Rule {
    mock!(aws_sdk_guardduty::Client::list_detectors).then_output(|| {
        ListDetectorsOutput::builder()
            .detector_ids(DETECTOR)
            .build()
    })
}

#[tokio::test]
async fn fetched_access_key_finding_triages_to_deactivate_the_key() {
    let list = one_detector();
    let get = mock!(aws_sdk_guardduty::Client::get_findings)
        .match_requests(|req| req.detector_id() == Some(DETECTOR) && req.finding_ids() == [FINDING])
        .then_output(|| {
            GetFindingsOutput::builder()
                .findings(access_key_finding("{}"))
                .build()
        });
    let gd = mocked_client!(aws_sdk_guardduty, RuleMode::Sequential, [&list, &get]);

    let text = fetch_finding_event(&gd, None, FINDING)
        .await
        .expect("fetched");
    assert_eq!(list.num_calls(), 1);
    assert_eq!(get.num_calls(), 1);

    let event = Event::parse(&text).expect("parses as an EventBridge event");
    assert_eq!(event.envelope.detail_type, "GuardDuty Finding");
    assert_eq!(event.envelope.source.as_deref(), Some("aws.guardduty"));
    assert_eq!(event.envelope.account.as_deref(), Some(ACCOUNT));
    assert_eq!(event.envelope.region.as_deref(), Some("us-east-1"));
    assert_eq!(
        event.envelope.time,
        Some(Utc.with_ymd_and_hms(2025, 3, 6, 22, 15, 2).unwrap())
    );
    assert_eq!(
        event.envelope.id.as_deref(),
        Some("fetched-f1185d0d725b08b251a8f2e2aa33257b")
    );
    let Detail::GuardDuty(finding) = &event.detail else {
        panic!("not a GuardDuty detail: {text}");
    };
    assert_eq!(finding.id, FINDING);
    assert_eq!(finding.service.count, Some(7));
    assert_eq!(finding.service.detector_id.as_deref(), Some(DETECTOR));
    assert!(!finding.is_sample());

    // The raw text keeps GuardDuty's shape and leaves absent fields out rather than null.
    let raw: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(raw["detail"]["service"]["additionalInfo"]["value"], "{}");
    assert!(
        raw["detail"]["service"]["additionalInfo"]
            .get("sample")
            .is_none()
    );
    assert!(raw["detail"]["resource"].get("instanceDetails").is_none());
    assert!(!text.contains("null"), "no nulls expected: {text}");

    let decision = Triage::new(Config::default())
        .expect("default config")
        .triage_json(&text)
        .expect("triaged");
    let Decision::Incident(incident) = decision else {
        panic!("expected an incident, got {decision:?}");
    };
    assert_eq!(incident.access_key_id.as_deref(), Some(KEY));
    let deactivate: Vec<_> = incident
        .plan
        .iter()
        .filter_map(|p| match &p.action {
            Action::DeactivateAccessKey {
                user_name,
                access_key_id,
            } => Some((user_name.as_str(), access_key_id.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        deactivate,
        [("build-agent", KEY)],
        "plan: {:?}",
        incident.plan
    );
    assert!(
        incident
            .plan
            .iter()
            .any(|p| p.action.kind() == "deactivate_access_key")
    );
}

#[tokio::test]
async fn missing_finding_is_no_such_finding() {
    let get = mock!(aws_sdk_guardduty::Client::get_findings)
        .then_output(|| GetFindingsOutput::builder().build());
    let gd = mocked_client!(aws_sdk_guardduty, [&get]);

    let err = fetch_finding_event(&gd, Some(DETECTOR), FINDING)
        .await
        .expect_err("no finding");
    assert_eq!(err.code, "NoSuchFinding");
    assert!(err.message.contains(FINDING), "{err}");
    assert_eq!(get.num_calls(), 1);
}

#[tokio::test]
async fn finding_with_another_id_is_no_such_finding() {
    let get = mock!(aws_sdk_guardduty::Client::get_findings).then_output(|| {
        GetFindingsOutput::builder()
            .findings(access_key_finding("{}"))
            .build()
    });
    let gd = mocked_client!(aws_sdk_guardduty, [&get]);

    let err = fetch_finding_event(&gd, Some(DETECTOR), "0000")
        .await
        .expect_err("other id");
    assert_eq!(err.code, "NoSuchFinding");
}

#[tokio::test]
async fn detector_must_be_unique() {
    let none = mock!(aws_sdk_guardduty::Client::list_detectors)
        .then_output(|| ListDetectorsOutput::builder().build());
    let gd = mocked_client!(aws_sdk_guardduty, [&none]);
    let err = fetch_finding_event(&gd, None, FINDING)
        .await
        .expect_err("no detector");
    assert_eq!(err.code, "NoDetector");

    let two = mock!(aws_sdk_guardduty::Client::list_detectors).then_output(|| {
        ListDetectorsOutput::builder()
            .detector_ids(DETECTOR)
            .detector_ids("another")
            .build()
    });
    let gd = mocked_client!(aws_sdk_guardduty, [&two]);
    let err = fetch_finding_event(&gd, None, FINDING)
        .await
        .expect_err("two detectors");
    assert_eq!(err.code, "AmbiguousDetector");
}

#[tokio::test]
async fn fetched_sample_finding_is_ignored() {
    let list = one_detector();
    let get = mock!(aws_sdk_guardduty::Client::get_findings).then_output(|| {
        GetFindingsOutput::builder()
            .findings(access_key_finding(r#"{"sample":true}"#))
            .build()
    });
    let gd = mocked_client!(aws_sdk_guardduty, RuleMode::Sequential, [&list, &get]);

    let text = fetch_finding_event(&gd, None, FINDING)
        .await
        .expect("fetched");
    let raw: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        raw["detail"]["service"]["additionalInfo"],
        serde_json::json!({"value": "{\"sample\":true}", "type": "default", "sample": true})
    );

    let decision = Triage::new(Config::default())
        .expect("default config")
        .triage_json(&text)
        .expect("triaged");
    match decision {
        Decision::Ignored { reason } => assert!(reason.contains("sample"), "{reason}"),
        other => panic!("expected the sample to be ignored, got {other:?}"),
    }
}

fn trail_event(id: &str, name: &str) -> TrailEvent {
    let record = serde_json::json!({
        "eventVersion": "1.08",
        "eventID": id,
        "eventName": name,
        "eventSource": "iam.amazonaws.com",
        "userIdentity": {"type": "IAMUser", "userName": "build-agent", "accessKeyId": KEY},
        "sourceIPAddress": "203.0.113.77",
    });
    TrailEvent::builder()
        .event_id(id)
        .event_name(name)
        .event_source("iam.amazonaws.com")
        .event_time(aws_smithy_types::DateTime::from_secs(1_741_299_000))
        .access_key_id(KEY)
        .username("build-agent")
        .cloud_trail_event(record.to_string())
        .build()
}

fn window() -> (chrono::DateTime<Utc>, chrono::DateTime<Utc>) {
    (
        Utc.with_ymd_and_hms(2025, 3, 6, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2025, 3, 7, 0, 0, 0).unwrap(),
    )
}

#[tokio::test]
async fn principal_activity_parses_records_and_looks_up_by_access_key() {
    let lookup = mock!(aws_sdk_cloudtrail::Client::lookup_events)
        .match_requests(|req| {
            matches!(
                req.lookup_attributes(),
                [attr] if attr.attribute_key() == &LookupAttributeKey::AccessKeyId
                    && attr.attribute_value() == KEY
            )
        })
        .then_output(|| {
            LookupEventsOutput::builder()
                .events(trail_event("e-1", "ListUsers"))
                .events(trail_event("e-2", "CreateAccessKey"))
                .build()
        });
    let ct = mocked_client!(aws_sdk_cloudtrail, [&lookup]);
    let (start, end) = window();

    let activity = principal_activity(&ct, &Lookup::AccessKey(KEY.into()), start, end)
        .await
        .expect("activity");
    // The rule only matches a request that looks up exactly this access key.
    assert_eq!(lookup.num_calls(), 1);
    assert_eq!(
        activity["lookup"],
        serde_json::json!({"attribute": "AccessKeyId", "value": KEY})
    );
    let events = activity["events"].as_array().expect("events");
    assert_eq!(events.len(), 2);
    for (event, (id, name)) in events
        .iter()
        .zip([("e-1", "ListUsers"), ("e-2", "CreateAccessKey")])
    {
        assert_eq!(event["event_id"], id);
        assert_eq!(event["event_name"], name);
        assert_eq!(event["record"]["eventID"], id);
        assert_eq!(event["record"]["eventName"], name);
        assert_eq!(event["record"]["userIdentity"]["accessKeyId"], KEY);
    }
}

#[tokio::test]
async fn principal_activity_modeled_error_is_err_with_its_code() {
    let lookup = mock!(aws_sdk_cloudtrail::Client::lookup_events).then_error(|| {
        // A modeled error built by hand has no code until its metadata says so; the SDK's own
        // deserializer fills it in from the response.
        LookupEventsError::InvalidLookupAttributesException(
            InvalidLookupAttributesException::builder()
                .message("bad attribute")
                .meta(
                    ErrorMetadata::builder()
                        .code("InvalidLookupAttributesException")
                        .message("bad attribute")
                        .build(),
                )
                .build(),
        )
    });
    let ct = mocked_client!(aws_sdk_cloudtrail, [&lookup]);
    let (start, end) = window();

    let err = principal_activity(&ct, &Lookup::UserName("build-agent".into()), start, end)
        .await
        .expect_err("service error");
    assert_eq!(err.code, "InvalidLookupAttributesException");
    assert_eq!(err.message, "bad attribute");
}

#[tokio::test]
async fn principal_activity_access_denied_is_err_with_its_code() {
    let lookup = mock!(aws_sdk_cloudtrail::Client::lookup_events)
        .sequence()
        .http_status(
            400,
            Some(
                r#"{"__type":"AccessDeniedException","message":"not authorized to perform cloudtrail:LookupEvents"}"#
                    .into(),
            ),
        )
        .build();
    let ct = mocked_client!(aws_sdk_cloudtrail, [&lookup]);
    let (start, end) = window();

    let err = principal_activity(&ct, &Lookup::AccessKey(KEY.into()), start, end)
        .await
        .expect_err("access denied");
    assert_eq!(err.code, "AccessDeniedException");
    assert!(err.message.contains("not authorized"), "{err}");
    assert_eq!(lookup.num_calls(), 1);
}

#[tokio::test]
async fn archive_finding_names_the_detector_and_the_finding() {
    let archive = mock!(aws_sdk_guardduty::Client::archive_findings)
        .match_requests(|r| {
            r.detector_id() == Some(DETECTOR) && r.finding_ids() == [FINDING.to_string()]
        })
        .then_output(|| {
            aws_sdk_guardduty::operation::archive_findings::ArchiveFindingsOutput::builder().build()
        });
    let gd = mocked_client!(aws_sdk_guardduty, [&archive]);

    firebreak_aws::service::guardduty::archive_finding(&gd, DETECTOR, FINDING)
        .await
        .expect("archived");
    assert_eq!(archive.num_calls(), 1);

    let err = firebreak_aws::service::guardduty::archive_finding(&gd, "", FINDING)
        .await
        .expect_err("no detector");
    assert_eq!(err.code, "InvalidInput");
    assert_eq!(archive.num_calls(), 1, "nothing sent without a detector");
}

#[tokio::test]
async fn archive_finding_refused_is_err_with_its_code() {
    use aws_sdk_guardduty::operation::archive_findings::ArchiveFindingsError;
    use aws_sdk_guardduty::types::error::BadRequestException;
    let archive = mock!(aws_sdk_guardduty::Client::archive_findings).then_error(|| {
        ArchiveFindingsError::BadRequestException(
            BadRequestException::builder()
                .message("The request is rejected because the input detectorId is not owned by the current account.")
                .meta(
                    ErrorMetadata::builder()
                        .code("BadRequestException")
                        .message("not owned by the current account")
                        .build(),
                )
                .build(),
        )
    });
    let gd = mocked_client!(aws_sdk_guardduty, [&archive]);

    let err = firebreak_aws::service::guardduty::archive_finding(&gd, DETECTOR, FINDING)
        .await
        .expect_err("refused");
    assert_eq!(err.code, "BadRequestException");
    assert_eq!(archive.num_calls(), 1);
}

/// A failing LookupEvents is recorded as missing evidence at once: one attempt, not the client's
/// retries with backoff (the client here would retry three times and then succeed).
#[tokio::test]
async fn principal_activity_makes_one_attempt_whatever_the_clients_retries() {
    let lookup = mock!(aws_sdk_cloudtrail::Client::lookup_events)
        .sequence()
        .http_status(500, None)
        .times(2)
        .output(|| LookupEventsOutput::builder().build())
        .build();
    let interceptor = MockResponseInterceptor::new()
        .rule_mode(RuleMode::Sequential)
        .with_rule(&lookup);
    let ct = aws_sdk_cloudtrail::Client::from_conf(
        aws_sdk_cloudtrail::Config::builder()
            .with_test_defaults()
            .region(aws_sdk_cloudtrail::config::Region::new("us-east-1"))
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .retry_config(
                aws_sdk_cloudtrail::config::retry::RetryConfig::standard().with_max_attempts(3),
            )
            .build(),
    );
    let (start, end) = window();
    let result = principal_activity(&ct, &Lookup::AccessKey(KEY.into()), start, end).await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(lookup.num_calls(), 1, "no retry of an evidence read");
}

/// The evidence store on an S3 client that answers ListObjectVersions with `versions` (size,
/// seconds after the signing) and, when `marker`, a delete marker, all at `KEY`.
fn store_listing(versions: &[(i64, i64)], marker: bool) -> firebreak_aws::EvidenceStore {
    use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
    use aws_sdk_s3::types::{DeleteMarkerEntry, ObjectVersion};
    let versions: Vec<ObjectVersion> = versions
        .iter()
        .enumerate()
        .map(|(i, (size, after))| {
            ObjectVersion::builder()
                .key(IMAGE_KEY)
                .version_id(format!("v{i}"))
                .size(*size)
                .last_modified(aws_smithy_types::DateTime::from_secs(
                    signed_at().timestamp() + after,
                ))
                .build()
        })
        .collect();
    let list = mock!(aws_sdk_s3::Client::list_object_versions)
        .match_requests(|r| r.prefix() == Some(IMAGE_KEY))
        .then_output(move || {
            let mut out = ListObjectVersionsOutput::builder()
                .set_versions(Some(versions.clone()))
                .is_truncated(false);
            if marker {
                out = out.delete_markers(
                    DeleteMarkerEntry::builder()
                        .key(IMAGE_KEY)
                        .version_id("marker")
                        .build(),
                );
            }
            out.build()
        });
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            ))
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .http_client(create_mock_http_client())
            .interceptor(MockResponseInterceptor::new().with_rule(&list))
            .build(),
    );
    firebreak_aws::EvidenceStore::new(s3, "evidence", 90, false)
}

const IMAGE_KEY: &str = "incidents/FB-0123456789abcdef/memory/00112233445566ff.lime";

fn signed_at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 3, 0, 0).single().unwrap()
}

fn signed_put() -> firebreak_aws::store::evidence::SignedPut {
    firebreak_aws::store::evidence::SignedPut {
        key: IMAGE_KEY.into(),
        url: String::new(),
        headers: Vec::new(),
        signed_at: signed_at(),
        retain_until: signed_at() + chrono::Duration::days(91),
    }
}

/// An image is adopted from the listing alone only when the key holds exactly one version, of
/// the reported size, created since the PUT was signed; its lock is the one the PUT carried.
#[tokio::test]
async fn a_memory_image_is_adopted_only_as_the_one_upload_of_its_size() {
    let collector = firebreak_aws::Collector {
        identity: "arn:aws:lambda:us-east-1:111122223333:function:firebreak-preserve".into(),
        request_id: None,
    };
    let adopt = async |versions: &[(i64, i64)], marker: bool| {
        store_listing(versions, marker)
            .adopt_unread(
                &signed_put(),
                "memory",
                &"ab".repeat(32),
                1000,
                &collector,
                signed_at(),
            )
            .await
    };
    let item = adopt(&[(1000, 5)], false).await.expect("the one upload");
    assert_eq!(item.size, 1000);
    assert_eq!(item.retain_until, signed_put().retain_until);
    assert_eq!(item.sha256, "ab".repeat(32));
    for (versions, marker, why) in [
        (&[][..], false, "was never uploaded"),
        (&[(1000, 5), (1000, 6)][..], false, "more than one version"),
        (&[(1000, 5)][..], true, "delete marker"),
        (
            &[(999, 5)][..],
            false,
            "holds 999 bytes, not the 1000 reported",
        ),
        (
            &[(1000, -3)][..],
            false,
            "before Firebreak signed its upload",
        ),
    ] {
        let e = adopt(versions, marker).await.expect_err(why);
        assert_eq!(e.code, "EvidenceConflict", "{e:?}");
        assert!(e.message.contains(why), "{why}: {e:?}");
    }
}
