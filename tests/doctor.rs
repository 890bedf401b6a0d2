//! `firebreak doctor` on the emulator. Through the real binary: it exits 1 naming each problem
//! with its fix, and what the emulator cannot answer (CloudTrail's trails: 404 through the Rust
//! SDK) is reported as unreadable, never as fine. In-process, with the trails answered by
//! aws-smithy-mocks and everything else the emulator: a healthy account has no problem, and each
//! way to be blind the emulator or the mock can show is exactly one check's problem. (An unconfirmed subscription, which the emulator never shows since it confirms every
//! subscription, is judged in the core's unit tests.)

use aws_sdk_cloudtrail::operation::describe_trails::DescribeTrailsOutput;
use aws_sdk_cloudtrail::operation::get_event_selectors::GetEventSelectorsOutput;
use aws_sdk_cloudtrail::operation::get_trail_status::GetTrailStatusOutput;
use aws_sdk_guardduty::types::FindingPublishingFrequency;
use aws_smithy_mocks::{MockResponseInterceptor, RuleMode, create_mock_http_client, mock};
use chrono::Utc;
use firebreak_aws::run::clock::{Snapshot, snapshot_key};
use firebreak_core::lifecycle::doctor::Diagnosis;
use firebreak_testbed::deploy::{deploy_template, plain};
use firebreak_testbed::moto::MEMBER_ACCOUNT;
use firebreak_testbed::seed;
use firebreak_testbed::wiring::{CLOCK, WiredWorld};

/// A client of `$sdk` whose every call is answered by `$rule`s (any order).
macro_rules! mocked {
    ($sdk:ident, [$($rule:expr),+ $(,)?]) => {{
        let interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
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

fn trails(logging: bool) -> aws_sdk_cloudtrail::Client {
    let described = mock!(aws_sdk_cloudtrail::Client::describe_trails).then_output(|| {
        DescribeTrailsOutput::builder()
            .trail_list(
                aws_sdk_cloudtrail::types::Trail::builder()
                    .name("org-trail")
                    .trail_arn("arn:aws:cloudtrail:us-east-1:111122223333:trail/org-trail")
                    .is_multi_region_trail(true)
                    .build(),
            )
            .build()
    });
    let status = mock!(aws_sdk_cloudtrail::Client::get_trail_status)
        .then_output(move || GetTrailStatusOutput::builder().is_logging(logging).build());
    let selectors = mock!(aws_sdk_cloudtrail::Client::get_event_selectors)
        .then_output(|| GetEventSelectorsOutput::builder().build());
    mocked!(aws_sdk_cloudtrail, [&described, &status, &selectors])
}

/// The checks that found a problem, one entry per problem.
async fn examine(world: &WiredWorld, trails: aws_sdk_cloudtrail::Client) -> Diagnosis {
    let collector = firebreak_testbed::collector("arn:aws:iam::111122223333:user/oncall");
    let mut responder = world.clock.responder(collector, true);
    responder.home.cloudtrail = trails.into();
    firebreak_aws::run::doctor::examine(&responder, CLOCK, Utc::now())
        .await
        .1
}

fn checks(d: &Diagnosis) -> Vec<&'static str> {
    let mut found: Vec<&'static str> = d.problems.iter().map(|p| p.check).collect();
    found.dedup();
    found
}

/// The default bus of `world`'s account in `region`.
fn events_in(world: &WiredWorld, region: &str) -> aws_sdk_eventbridge::Client {
    events_of(&world.sdk, region)
}

/// The default bus of `sdk`'s account in `region`.
fn events_of(sdk: &aws_config::SdkConfig, region: &str) -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::new(
        &sdk.to_builder()
            .region(aws_config::Region::new(region.to_string()))
            .build(),
    )
}

/// `infra/forwarder.yaml`'s rule names.
fn forwarder_rules() -> Vec<String> {
    let forwarder = firebreak_testbed::template::forwarder();
    forwarder["Resources"]
        .as_mapping()
        .expect("resources")
        .values()
        .filter(|r| r["Type"] == "AWS::Events::Rule")
        .map(|r| {
            r["Properties"]["Name"]
                .as_str()
                .expect("a named rule")
                .to_string()
        })
        .collect()
}

/// A forwarder (infra/forwarder.yaml's rules, on each default bus) and GuardDuty in every other
/// enabled region.
async fn forwarders_everywhere(world: &WiredWorld) {
    forwarders_in(&world.sdk, Some("us-east-1")).await;
}

/// A forwarder, and GuardDuty publishing every 15 minutes, in every enabled region of `sdk`'s
/// account but `skip`.
async fn forwarders_in(sdk: &aws_config::SdkConfig, skip: Option<&str>) {
    let regions: Vec<String> = aws_sdk_ec2::Client::new(sdk)
        .describe_regions()
        .send()
        .await
        .expect("regions")
        .regions()
        .iter()
        .filter_map(|r| r.region_name().map(str::to_string))
        .filter(|r| Some(r.as_str()) != skip)
        .collect();
    assert!(regions.len() > 3, "{regions:?}");
    let names = forwarder_rules();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with(firebreak_core::lifecycle::doctor::FORWARDER_PREFIX))
    );
    for region in &regions {
        aws_sdk_guardduty::Client::new(
            &sdk.to_builder()
                .region(aws_config::Region::new(region.clone()))
                .build(),
        )
        .create_detector()
        .enable(true)
        .finding_publishing_frequency(FindingPublishingFrequency::FifteenMinutes)
        .send()
        .await
        .expect("a detector");
        let events = events_of(sdk, region);
        for name in &names {
            events
                .put_rule()
                .name(name)
                .event_pattern(r#"{"source": ["aws.guardduty"]}"#)
                .send()
                .await
                .expect("forwarder rule");
        }
    }
}

#[tokio::test]
async fn doctor_names_each_problem_with_its_fix_and_passes_a_healthy_account() {
    let world = WiredWorld::build().await;

    let guardduty = aws_sdk_guardduty::Client::new(&world.sdk);

    // The real binary: no detector, the trails unreadable on the emulator, no drill ever passed.
    let (code, out, err) = world
        .firebreak(&["doctor", "--clock-function", CLOCK])
        .await;
    assert_eq!(code, 1, "{out}{err}");
    for check in [
        "[trail] cannot read",
        "[guardduty] GuardDuty is not enabled",
        "[drill] no drill",
        "[forwarder] no forwarder in eu-west-1",
    ] {
        assert!(out.contains(check), "{check}: {out}");
    }
    assert!(
        !out.contains("[wiring]") && !out.contains("[failure-queue]"),
        "{out}"
    );
    assert_eq!(
        out.matches("    Fix: ").count(),
        out.matches("  - [").count(),
        "every problem has its fix: {out}"
    );
    let (code, out, _) = world
        .firebreak(&["doctor", "--clock-function", CLOCK, "--json"])
        .await;
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(json["checked"].as_array().map(Vec::len), Some(7), "{json}");

    // A forwarder in every other enabled region (infra/forwarder.yaml's rules, on each default
    // bus).
    forwarders_everywhere(&world).await;
    let in_region = |region: &str| events_in(&world, region);

    // GuardDuty on, publishing every 15 minutes; in-process, the only problem left is the drill.
    let detector = guardduty
        .create_detector()
        .enable(true)
        .finding_publishing_frequency(FindingPublishingFrequency::FifteenMinutes)
        .send()
        .await
        .expect("create detector")
        .detector_id()
        .unwrap_or_default()
        .to_string();
    let d = examine(&world, trails(true)).await;
    assert_eq!(checks(&d), vec!["drill"], "{:#?}", d.problems);

    // The clock's index says a drill passed ten days ago: healthy.
    let now = Utc::now();
    let snapshot = Snapshot {
        hour: firebreak_core::record::reminder_hour(now),
        written_at: now,
        watched: Vec::new(),
        last_drill_passed: Some(now - chrono::Duration::days(10)),
    };
    seed::s3_client(&world.sdk)
        .put_object()
        .bucket(&world.stack.bucket)
        .key(snapshot_key(&snapshot.hour))
        .body(serde_json::to_vec(&snapshot).expect("snapshot").into())
        .send()
        .await
        .expect("seed the clock's index");
    let d = examine(&world, trails(true)).await;
    assert!(d.problems.is_empty(), "healthy: {:#?}", d.problems);

    // Each way to be blind or toothless, one at a time.
    let d = examine(&world, trails(false)).await;
    assert_eq!(checks(&d), vec!["trail"], "{:#?}", d.problems);
    guardduty
        .update_detector()
        .detector_id(&detector)
        .finding_publishing_frequency(FindingPublishingFrequency::SixHours)
        .send()
        .await
        .expect("update detector");
    let d = examine(&world, trails(true)).await;
    assert_eq!(checks(&d), vec!["guardduty"], "{:#?}", d.problems);
    guardduty
        .update_detector()
        .detector_id(&detector)
        .finding_publishing_frequency(FindingPublishingFrequency::FifteenMinutes)
        .send()
        .await
        .expect("update detector");

    let sqs = aws_sdk_sqs::Client::new(&world.sdk);
    let queue = &world.failure_queues[0];
    sqs.send_message()
        .queue_url(queue)
        .message_body("{}")
        .send()
        .await
        .expect("a failed event");
    let d = examine(&world, trails(true)).await;
    assert_eq!(checks(&d), vec!["failure-queue"], "{:#?}", d.problems);
    sqs.purge_queue()
        .queue_url(queue)
        .send()
        .await
        .expect("purge");

    let (bus, rule, _) = &world.rules[0];
    let events = aws_sdk_eventbridge::Client::new(&world.sdk);
    events
        .disable_rule()
        .name(rule)
        .event_bus_name(bus)
        .send()
        .await
        .expect("disable rule");
    let d = examine(&world, trails(true)).await;
    assert_eq!(checks(&d), vec!["wiring"], "{:#?}", d.problems);
    assert!(
        d.problems[0].fix.contains("enable-rule"),
        "{:#?}",
        d.problems
    );
    events
        .enable_rule()
        .name(rule)
        .event_bus_name(bus)
        .send()
        .await
        .expect("enable rule");

    // A forwarder rule disabled in one region: that region is named, with the command.
    in_region("eu-west-1")
        .disable_rule()
        .name(&forwarder_rules()[0])
        .send()
        .await
        .expect("disable the forwarder");
    let d = examine(&world, trails(true)).await;
    assert_eq!(checks(&d), vec!["forwarder"], "{:#?}", d.problems);
    assert!(
        d.problems[0].problem.contains("eu-west-1")
            && d.problems[0].fix.contains("enable-rule --name")
            && d.problems[0].fix.contains("--region eu-west-1"),
        "{:#?}",
        d.problems
    );

    // Checked dry: the wiring drift paged nobody.
    assert!(world.pages().await.is_empty());
}

/// The hourly clock runs the same checks (`FIREBREAK_HOURLY_DOCTOR`): nothing is paged while the
/// account is healthy; a message waiting in a failure queue, a region that lost its forwarder
/// and a member region whose heartbeat stopped are paged S1 in the self-check, each with its
/// fix, once an hour.
#[tokio::test]
async fn the_hourly_clock_runs_the_doctors_checks_and_pages_what_they_find() {
    let mut world = WiredWorld::build().await;
    world.clock.settings.hourly_doctor = true;
    world.clock.settings.failure_queues = world.failure_queues.clone();
    world.clock.responder.home.cloudtrail = trails(true).into();
    forwarders_everywhere(&world).await;
    aws_sdk_guardduty::Client::new(&world.sdk)
        .create_detector()
        .enable(true)
        .finding_publishing_frequency(FindingPublishingFrequency::FifteenMinutes)
        .send()
        .await
        .expect("create detector");

    let answer = world.tick().await;
    assert_eq!(answer["wiring_drifts"], 0, "healthy: {answer:#}");
    assert_eq!(world.pages().await, [], "nothing to page");

    aws_sdk_sqs::Client::new(&world.sdk)
        .send_message()
        .queue_url(&world.failure_queues[0])
        .message_body("{}")
        .send()
        .await
        .expect("a failed event");
    let events = events_in(&world, "eu-west-1");
    for name in forwarder_rules() {
        events
            .delete_rule()
            .name(name)
            .send()
            .await
            .expect("delete a forwarder rule");
    }
    // Two forwarders' heartbeats: one five hours old, one this hour; and a pair heard once, long
    // ago.
    let now = Utc::now();
    seed::s3_client(&world.sdk)
        .put_object()
        .bucket(&world.stack.bucket)
        .key("clock/heartbeats/seen/444455556666/sa-east-1.json")
        .body(b"{}".to_vec().into())
        .send()
        .await
        .expect("a pair heard once");
    for (hours_ago, region) in [(5, "ap-south-1"), (0, "us-west-2")] {
        let beat = firebreak_core::lifecycle::heartbeat::Heartbeat {
            account: "444455556666".into(),
            region: region.into(),
            hour: firebreak_core::record::reminder_hour(now - chrono::Duration::hours(hours_ago)),
        };
        seed::s3_client(&world.sdk)
            .put_object()
            .bucket(&world.stack.bucket)
            .key(firebreak_core::lifecycle::heartbeat::key(&beat))
            .body(b"{}".to_vec().into())
            .send()
            .await
            .expect("a heartbeat");
    }
    let answer = world.tick().await;
    assert_eq!(answer["wiring_drifts"], 4, "{answer:#}");
    let pages = world.pages().await;
    assert_eq!(pages.len(), 1, "{pages:#?}");
    let (_, subject, message) = &pages[0];
    assert_eq!(subject, "[S1] Firebreak is blind or deaf: 4 problems");
    assert!(
        message.contains("[heartbeat] no heartbeat from account 444455556666 in ap-south-1")
            && message.contains("in sa-east-1 since over 26 hours")
            && !message.contains("in us-west-2 since"),
        "{message}"
    );
    for text in ["[failure-queue]", "[forwarder]", "eu-west-1", "Fix: "] {
        assert!(message.contains(text), "{text}:\n{message}");
    }
    let again = world.tick().await;
    if again["wiring"]["already_paged"] == true {
        assert_eq!(world.pages().await, [], "paged twice in one hour");
    }
}

/// `--accounts`: a member account, entered through the read-only audit role that
/// infra/member-role.yaml creates for the responders, is checked for its trails, GuardDuty and a
/// forwarder in every region (its home region too), each problem naming the account; what is
/// fixed there leaves the list.
#[tokio::test]
async fn doctor_checks_member_accounts_through_their_audit_role() {
    let world = WiredWorld::build().await;
    let home = firebreak_aws::Clients::new(&world.sdk);
    let member = firebreak_aws::sdk::accounts::member_clients(
        &home,
        "aws",
        MEMBER_ACCOUNT,
        "OrganizationAccountAccessRole",
        "seed",
    )
    .await
    .expect("the member account");
    let oncall = "arn:aws:iam::111122223333:role/oncall";
    let roles = deploy_template(
        &member.sdk,
        "firebreak-member",
        plain("infra/member-role.yaml"),
        &[
            (
                "ContainRoleArn",
                "arn:aws:iam::111122223333:role/fb-contain",
            ),
            (
                "PreserveRoleArn",
                "arn:aws:iam::111122223333:role/fb-preserve",
            ),
            (
                "FirebreakRoleArns",
                "arn:aws:iam::111122223333:role/fb-triage",
            ),
            ("AuditorArns", oncall),
            // The world seeded the member's deny-all policy and quarantine profile under the
            // default names already.
            ("DenyPolicyName", "FirebreakDenyAllAudited"),
            ("QuarantineProfileName", "FirebreakQuarantineAudited"),
        ],
    )
    .await;
    assert_eq!(roles.physical("AuditRole"), "FirebreakAudit");
    let audit = aws_sdk_iam::Client::new(&member.sdk)
        .get_role()
        .role_name("FirebreakAudit")
        .send()
        .await
        .expect("the audit role");
    let trust = firebreak_testbed::percent_decode(
        audit
            .role()
            .map(|r| r.assume_role_policy_document().unwrap_or_default())
            .unwrap_or_default(),
    );
    assert!(trust.contains(oncall), "trusted by the responders: {trust}");

    let member_problems = |out: &str| -> Vec<String> {
        let json: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
        json["problems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| {
                p["problem"]
                    .as_str()
                    .is_some_and(|t| t.starts_with(&format!("account {MEMBER_ACCOUNT}: ")))
            })
            .map(|p| p["check"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let args = [
        "doctor",
        "--clock-function",
        CLOCK,
        "--accounts",
        MEMBER_ACCOUNT,
        "--json",
    ];
    let (code, out, err) = world.firebreak(&args).await;
    assert_eq!(code, 1, "{out}{err}");
    let found = member_problems(&out);
    for check in ["trail", "guardduty", "forwarder"] {
        assert!(found.iter().any(|c| c == check), "{check}: {out}");
    }
    assert!(
        out.contains(&format!(
            "account {MEMBER_ACCOUNT}: no forwarder in us-east-1"
        )),
        "a member's home region needs its forwarder too: {out}"
    );
    assert!(
        out.contains(&format!(
            "account {MEMBER_ACCOUNT}: GuardDuty is not enabled in eu-west-1"
        )),
        "GuardDuty in every region: {out}"
    );

    // GuardDuty on there and a forwarder in each of its regions: only the trails are left
    // (unreadable through the Rust SDK on the emulator, so named as such).
    forwarders_in(&member.sdk, None).await;
    let (code, out, _) = world.firebreak(&args).await;
    assert_eq!(code, 1);
    assert_eq!(member_problems(&out), ["trail"], "{out}");

    let (code, _, err) = world
        .firebreak(&["doctor", "--clock-function", CLOCK, "--accounts", "12345"])
        .await;
    assert_eq!(code, 2, "a malformed account id is refused: {err}");
}
