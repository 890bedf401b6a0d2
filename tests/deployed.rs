//! The tested stack is the deployed stack: `infra/template.yaml`, transformed by SAM's own
//! translator, is created on the emulator's CloudFormation (`firebreak_testbed::deploy`, which
//! lists the resource types it must create with the API instead), and what was created is checked
//! against what the template means: rules on the right buses with their patterns, targets, retry
//! policies and dead-letter queue; failure destinations; alarms to the pager topic; the bucket's
//! lock. Then the functions run under the Lambda runtime API with the environment read from the
//! created functions' configuration, and a finding goes through the created rules to containment.

use std::collections::{BTreeMap, BTreeSet};

use firebreak_testbed::deploy::{
    CreatedRule, Deployed, Made, deploy, deploy_template, plain, put, queue_arn, rules_on,
};
use firebreak_testbed::moto::{HOME_ACCOUNT, MEMBER_ACCOUNT, Moto, REGION};
use firebreak_testbed::{assert_only_key_inactive, iam_user_finding, seed, template};
use serde_json::Value;

const STACK: &str = "fb";
const ORG: &str = "o-a1b2c3d4e5";
const TOOL_SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn parameters() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AlertEmail", "oncall@example.com"),
        ("OrganizationId", ORG),
        ("EvidenceRetentionDays", "120"),
    ]
}

fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{HOME_ACCOUNT}:function:{name}")
}

/// Function logical id (`TriageFunction`) → created name (`fb-triage`).
fn functions(d: &Deployed) -> BTreeMap<String, String> {
    d.of_kind("AWS::Lambda::Function")
        .into_iter()
        .map(|id| {
            let name = d.physical(&id).to_string();
            (id, name)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_template_deploys_on_the_emulators_cloudformation_wired_as_written() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let d = deploy(&sdk, STACK, &parameters()).await;

    // Every resource of the transformed template exists: made by the stack, or (for the types
    // listed in GAPS) with the API, or skipped for a false condition or a listed reason.
    let template_ids: BTreeSet<&String> = d.template["Resources"]
        .as_object()
        .expect("resources")
        .keys()
        .collect();
    assert_eq!(
        template_ids,
        d.resources.keys().collect::<BTreeSet<_>>(),
        "every resource of the template, and no other"
    );
    for (id, r) in &d.resources {
        match r.made {
            // Made with the API: its physical id is what the API answered.
            Made::Api => assert!(!r.physical.is_empty(), "{id} ({})", r.kind),
            Made::Stack => {}
            Made::Skipped => assert!(
                r.kind == "AWS::S3::BucketPolicy"
                    || d.template["Resources"][id]["Condition"].is_string(),
                "{id} ({}) was skipped",
                r.kind
            ),
        }
    }

    // The seven functions, each on its own role under the permissions boundary.
    let fns = functions(&d);
    let names: BTreeSet<String> = fns.values().cloned().collect();
    let expected: BTreeSet<String> = firebreak_lambda::Function::ALL
        .iter()
        .map(|f| format!("{STACK}-{}", f.name()))
        .collect();
    assert_eq!(names, expected);
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let boundary = d.physical("FirebreakBoundary").to_string();
    for name in &names {
        let conf = lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .expect("function");
        let role_arn = conf.role().unwrap_or_default();
        let role_name = role_arn.rsplit('/').next().unwrap_or_default();
        assert_eq!(role_name, name, "{name} runs as its own role");
        let role = iam
            .get_role()
            .role_name(role_name)
            .send()
            .await
            .expect("role");
        let attached = role
            .role()
            .and_then(|r| r.permissions_boundary())
            .and_then(|b| b.permissions_boundary_arn())
            .unwrap_or_default()
            .to_string();
        assert_eq!(attached, boundary, "{role_name} carries the boundary");
    }

    // Every rule of the template on its bus, with its pattern and state, targeting its function,
    // with a retry policy and the rule dead-letter queue.
    let bus = d.physical("FirebreakBus").to_string();
    let intake = d.physical("IntakeBus").to_string();
    let created = rules_on(&sdk, &["default", &bus, &intake]).await;
    let dead_letters = queue_arn(&sdk, d.output("RuleDeadLetterQueueUrl")).await;
    let wired = |c: &CreatedRule, function: &str| {
        c.targets.len() == 1
            && c.targets[0].arn() == function_arn(function)
            && c.targets[0]
                .dead_letter_config()
                .and_then(|d| d.arn())
                .is_some_and(|a| a == dead_letters)
            && c.targets[0]
                .retry_policy()
                .and_then(|r| r.maximum_event_age_in_seconds())
                .is_some()
    };
    let rules = template::rules();
    assert!(rules.len() >= 10, "{}", rules.len());
    for rule in &rules {
        let on = if rule.firebreak_bus {
            bus.as_str()
        } else if rule.intake_bus {
            intake.as_str()
        } else {
            "default"
        };
        let function = &fns[&rule.function];
        let found: Vec<&CreatedRule> = created
            .iter()
            .filter(|c| c.bus == on && c.pattern.as_ref() == Some(&rule.pattern))
            .collect();
        assert_eq!(found.len(), 1, "{} {} on {on}", rule.function, rule.name);
        assert!(
            wired(found[0], function),
            "{}: {:?}",
            found[0].name,
            found[0].targets
        );
        assert_eq!(
            found[0].state,
            rule.state.clone().unwrap_or_else(|| "ENABLED".into()),
            "{}",
            found[0].name
        );
    }
    for (function, expression) in template::schedules() {
        let found: Vec<&CreatedRule> = created
            .iter()
            .filter(|c| c.schedule.as_deref() == Some(expression.as_str()))
            .collect();
        assert_eq!(found.len(), 1, "{function} {expression}");
        assert_eq!(found[0].bus, "default");
        assert!(wired(found[0], &fns[&function]), "{:?}", found[0].targets);
    }
    assert_eq!(
        created.len(),
        rules.len() + template::schedules().len(),
        "no rule but the template's"
    );

    // A function that fails an event after Lambda's retries sends it to the failure queue.
    let failures = queue_arn(&sdk, d.output("FunctionFailureQueueUrl")).await;
    for name in &names {
        if name.ends_with("-hunt") {
            continue; // invoked synchronously by the hunt state machine
        }
        let config = lambda
            .get_function_event_invoke_config()
            .function_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name} has no invoke config: {e:?}"));
        let destination = config
            .destination_config()
            .and_then(|d| d.on_failure())
            .and_then(|f| f.destination())
            .unwrap_or_default();
        assert_eq!(destination, failures, "{name}");
    }

    // Alarms page: the failure queues, every function's errors and throttles, a silent clock.
    let alarms = aws_sdk_cloudwatch::Client::new(&sdk)
        .describe_alarms()
        .alarm_name_prefix(format!("{STACK}-"))
        .send()
        .await
        .expect("alarms");
    let pager = d.output("PagerTopicArn").to_string();
    let by_name: BTreeMap<String, &aws_sdk_cloudwatch::types::MetricAlarm> = alarms
        .metric_alarms()
        .iter()
        .map(|a| (a.alarm_name().unwrap_or_default().to_string(), a))
        .collect();
    assert!(by_name.len() >= 5, "{:?}", by_name.keys());
    for (name, alarm) in &by_name {
        assert_eq!(
            alarm.alarm_actions(),
            std::slice::from_ref(&pager),
            "{name} pages"
        );
    }
    let silent = by_name[&format!("{STACK}-clock-silent")];
    // The clock runs the doctor's checks every hour unless HourlyDoctor says otherwise.
    let clock_env = d.function_env(&sdk, &format!("{STACK}-clock")).await;
    assert!(
        clock_env
            .iter()
            .any(|(k, v)| k == "FIREBREAK_HOURLY_DOCTOR" && v == "true"),
        "{clock_env:?}"
    );
    assert_eq!(silent.treat_missing_data(), Some("breaching"));
    assert_eq!(
        silent.dimensions()[0].value(),
        Some(format!("{STACK}-clock").as_str())
    );
    for kind in ["errors", "throttles"] {
        let alarm = by_name[&format!("{STACK}-function-{kind}")];
        let watched: BTreeSet<String> = alarm
            .metrics()
            .iter()
            .filter_map(|m| m.metric_stat())
            .filter_map(|s| s.metric())
            .flat_map(|m| m.dimensions().iter().filter_map(|d| d.value()))
            .map(String::from)
            .collect();
        assert_eq!(watched, names, "{kind}: every function is watched");
    }
    let queue_name = |url: &str| url.rsplit('/').next().unwrap_or_default().to_string();
    for (alarm, url) in [
        ("function-failures", "FunctionFailureQueueUrl"),
        ("undelivered-events", "RuleDeadLetterQueueUrl"),
    ] {
        let a = by_name[&format!("{STACK}-{alarm}")];
        assert_eq!(
            a.dimensions()[0].value(),
            Some(queue_name(d.output(url)).as_str()),
            "{alarm} watches its queue"
        );
    }

    // The topics are encrypted with the stack's own key (CloudWatch cannot publish to a topic
    // under alias/aws/sns), and the pager has the e-mail subscription.
    let sns = aws_sdk_sns::Client::new(&sdk);
    let attributes = sns
        .get_topic_attributes()
        .topic_arn(&pager)
        .send()
        .await
        .expect("topic");
    let key = attributes
        .attributes()
        .and_then(|a| a.get("KmsMasterKeyId"))
        .cloned()
        .unwrap_or_default();
    assert!(
        !key.is_empty() && !key.contains("alias/aws/sns"),
        "the pager topic's key: {key:?}"
    );
    let subscriptions = sns
        .list_subscriptions_by_topic()
        .topic_arn(&pager)
        .send()
        .await
        .expect("subscriptions");
    assert!(
        subscriptions
            .subscriptions()
            .iter()
            .any(|s| s.endpoint() == Some("oncall@example.com") && s.protocol() == Some("email")),
        "{subscriptions:?}"
    );

    // The evidence bucket is locked with the deployed retention.
    let lock = seed::s3_client(&sdk)
        .get_object_lock_configuration()
        .bucket(d.output("EvidenceBucketName"))
        .send()
        .await
        .expect("lock configuration");
    let retention = lock
        .object_lock_configuration()
        .and_then(|c| c.rule())
        .and_then(|r| r.default_retention())
        .expect("a default retention");
    assert_eq!(retention.days(), Some(120));
    assert_eq!(
        retention.mode().map(|m| m.as_str()),
        Some(d.parameters["EvidenceLockMode"].as_str())
    );

    // The intake bus admits the organisation and only the exact AWS sources (checked as
    // written: the emulator never evaluates a bus policy).
    let policy: Value = serde_json::from_str(
        aws_sdk_eventbridge::Client::new(&sdk)
            .describe_event_bus()
            .name(&intake)
            .send()
            .await
            .expect("intake bus")
            .policy()
            .expect("a policy on the intake bus"),
    )
    .expect("policy JSON");
    let statements: BTreeMap<&str, &Value> = policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .map(|s| (s["Sid"].as_str().unwrap_or_default(), s))
        .collect();
    assert_eq!(
        statements.keys().copied().collect::<Vec<_>>(),
        ["OrganisationForwardersOnly", "OrganisationHeartbeatsOnly"]
    );
    for s in statements.values() {
        assert_eq!(s["Effect"], "Allow");
        assert_eq!(s["Action"], "events:PutEvents");
        assert_eq!(s["Condition"]["StringEquals"]["aws:PrincipalOrgID"], ORG);
    }
    let sources =
        &statements["OrganisationForwardersOnly"]["Condition"]["StringEquals"]["events:source"];
    assert!(
        sources.as_array().is_some_and(|s| s.len() > 10
            && s.iter()
                .all(|x| x.as_str().is_some_and(|x| x.starts_with("aws."))))
            && sources
                .as_array()
                .is_some_and(|s| s.contains(&Value::from("aws.guardduty"))),
        "{sources}"
    );
    let beats = &statements["OrganisationHeartbeatsOnly"]["Condition"];
    assert_eq!(beats["StringEquals"]["events:source"], "aws.events");
    assert_eq!(
        beats["StringEquals"]["events:detail-type"],
        "Scheduled Event"
    );
    assert_eq!(
        beats["ArnLike"]["aws:PrincipalArn"],
        "arn:aws:iam::*:role/firebreak-forwarder-*"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deployed_functions_take_their_environment_from_the_stack_and_contain_through_its_rules()
 {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let d = deploy(&sdk, STACK, &parameters()).await;

    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let taps = d.tap(&sdk).await;

    // Pages are read from a queue subscribed to the created topics (S1 pages, S2 tickets).
    let pages = d.subscribe_pages(&sdk, "pages", true).await;

    // Each function's environment is its created configuration's.
    let mut hosts = BTreeMap::new();
    for f in ["triage", "contain", "preserve", "page"] {
        hosts.insert(f, d.host(&moto, &sdk, f).await);
    }

    // A leaked key: the finding goes through the created rule to triage, the incident through
    // the created bus to contain, preserve and page.
    let iam = aws_sdk_iam::Client::new(&sdk);
    let (leaked, _other) = seed::user_with_two_keys(&iam, "dev-ci").await;
    let finding = iam_user_finding("dev-ci", &leaked, HOME_ACCOUNT);
    put(&sdk, &finding).await;
    let to_triage = taps.drain(&format!("{STACK}-triage")).await;
    assert_eq!(
        to_triage.len(),
        1,
        "one created rule hands the finding to triage"
    );
    let opened = hosts["triage"].invoke(&to_triage[0].to_string()).ok();
    assert_eq!(opened["decision"], "Incident Opened", "{opened}");

    let to_contain = taps.drain(&format!("{STACK}-contain")).await;
    let to_preserve = taps.drain(&format!("{STACK}-preserve")).await;
    let to_page = taps.drain(&format!("{STACK}-page")).await;
    assert_eq!(
        (to_contain.len(), to_preserve.len(), to_page.len()),
        (1, 1, 1)
    );
    let contained = hosts["contain"].invoke(&to_contain[0].to_string()).ok();
    assert!(
        contained["outcomes"]
            .as_array()
            .expect("outcomes")
            .iter()
            .any(|o| o["kind"] == "deactivate_access_key" && o["status"] == "done"),
        "{contained}"
    );
    assert_only_key_inactive(&iam, "dev-ci", &leaked).await;
    let preserved = hosts["preserve"].invoke(&to_preserve[0].to_string()).ok();
    let manifest = preserved["manifest_key"].as_str().expect("a manifest");
    let head = seed::s3_client(&sdk)
        .head_object()
        .bucket(d.output("EvidenceBucketName"))
        .key(manifest)
        .send()
        .await
        .expect("the manifest is in the created bucket");
    assert!(
        head.object_lock_retain_until_date().is_some(),
        "locked by default"
    );
    let paged = hosts["page"].invoke(&to_page[0].to_string()).ok();
    assert_eq!(paged["paged"], true, "{paged}");
    let sent = firebreak_testbed::eventbridge::drain_queue(&sqs, &pages).await;
    assert_eq!(paged["route"], "ticket", "a leaked key is S2: {paged}");
    assert_eq!(
        sent.len(),
        1,
        "the page reached the created ticket topic: {paged}"
    );
    assert!(sent[0].contains("dev-ci"), "{}", sent[0]);
}

/// The forwarder and member-role templates, created as stacks in a member account (its eu-west-1
/// for the forwarder, as the StackSet would), carry a member's finding to the deployed intake bus,
/// where the created intake rule hands it to triage; contain acts through the created member role
/// in that account. In the home account's home region the forwarder creates nothing.
#[tokio::test(flavor = "multi_thread")]
async fn forwarder_and_member_role_stacks_bring_a_member_accounts_other_region_to_the_deployed_stack()
 {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let d = deploy(&sdk, STACK, &parameters()).await;
    let home = firebreak_aws::Clients::new(&sdk);
    let member = firebreak_aws::sdk::accounts::member_clients(
        &home,
        "aws",
        MEMBER_ACCOUNT,
        "FirebreakMember",
        "seed",
    )
    .await
    .expect("member account")
    .in_region("eu-west-1");

    let roles = deploy_template(
        &member.sdk,
        "firebreak-member",
        plain("infra/member-role.yaml"),
        &[
            ("ContainRoleArn", d.output("ContainRoleArn")),
            ("PreserveRoleArn", d.output("PreserveRoleArn")),
            ("FirebreakRoleArns", d.output("FirebreakRoleArns")),
        ],
    )
    .await;
    assert!(
        roles
            .resources
            .values()
            .any(|r| r.kind == "AWS::IAM::Role" && r.physical == "FirebreakMember"),
        "{:?}",
        roles.resources
    );
    let intake_arn = d.output("IntakeBusArn").to_string();
    let forwarder = deploy_template(
        &member.sdk,
        "firebreak-forwarder",
        plain("infra/forwarder.yaml"),
        &[
            ("IntakeBusArn", &intake_arn),
            ("MemoryToolSha256", TOOL_SHA),
            ("EvidenceBucketName", d.output("EvidenceBucketName")),
        ],
    )
    .await;
    // Firebreak's memory document, as the forwarder created it there, is the one Firebreak runs:
    // the tool and the image only from and to the home region's evidence bucket.
    let bucket_url = format!(
        "https://s3.{REGION}.amazonaws.com/{}",
        d.output("EvidenceBucketName")
    );
    let expected =
        firebreak_core::action::memory::document(TOOL_SHA, &bucket_url).expect("a document");
    assert!(
        matches!(
            firebreak_aws::service::ssm::checked_document(
                &member.ssm,
                firebreak_core::action::memory::DOCUMENT_NAME,
                &expected
            )
            .await,
            Ok(firebreak_aws::service::ssm::Deployed::Version(_))
        ),
        "the forwarder's document is not Firebreak's"
    );
    let forwarding = rules_on(&member.sdk, &["default"]).await;
    let forward_rules = forwarder.of_kind("AWS::Events::Rule");
    assert!(forward_rules.len() >= 8, "{forward_rules:?}");
    assert_eq!(forwarding.len(), forward_rules.len());
    let role = forwarder.physical("ForwarderRole").to_string();
    for c in &forwarding {
        assert_eq!(c.targets.len(), 1, "{}", c.name);
        assert_eq!(c.targets[0].arn(), intake_arn, "{}", c.name);
        assert!(
            c.targets[0]
                .role_arn()
                .is_some_and(|a| a.ends_with(&format!("role/{role}"))),
            "{}: {:?}",
            c.name,
            c.targets[0]
        );
    }
    // The home account's home region: its own rules see everything, so no forwarder there.
    deploy_template(
        &sdk,
        "firebreak-forwarder",
        plain("infra/forwarder.yaml"),
        &[("IntakeBusArn", &intake_arn)],
    )
    .await;
    let home_rules: Vec<String> = rules_on(&sdk, &["default"])
        .await
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert!(home_rules.len() >= 8, "{home_rules:?}");
    assert!(
        home_rules
            .iter()
            .all(|n| !n.starts_with("firebreak-forward-")),
        "{home_rules:?}"
    );

    // A member's leaked key, found by GuardDuty in eu-west-1. (The emulator hands every put
    // event to a schedule rule as well, and ignores a rule's state: the heartbeat's target is
    // taken off while the finding is put, and put back after.)
    let taps = d.tap(&sdk).await;
    let member_events = aws_sdk_eventbridge::Client::new(&member.sdk);
    let heartbeat_targets = member_events
        .list_targets_by_rule()
        .rule("firebreak-forward-heartbeat")
        .send()
        .await
        .expect("the heartbeat's targets")
        .targets()
        .to_vec();
    assert_eq!(heartbeat_targets.len(), 1);
    assert_eq!(heartbeat_targets[0].arn(), intake_arn);
    member_events
        .remove_targets()
        .rule("firebreak-forward-heartbeat")
        .ids(heartbeat_targets[0].id())
        .send()
        .await
        .expect("pause the heartbeat");
    let iam = aws_sdk_iam::Client::new(&member.sdk);
    let (leaked, _other) = seed::user_with_two_keys(&iam, "build-bot").await;
    let mut finding = iam_user_finding("build-bot", &leaked, MEMBER_ACCOUNT);
    finding["detail"]["region"] = "eu-west-1".into();
    put(&member.sdk, &finding).await;

    let to_triage = taps.drain(&format!("{STACK}-triage")).await;
    assert_eq!(to_triage.len(), 1, "forwarded once, to the intake rule");
    let triage = d.host(&moto, &sdk, "triage").await;
    let opened = triage.invoke(&to_triage[0].to_string()).ok();
    assert_eq!(opened["decision"], "Incident Opened", "{opened}");
    let to_contain = taps.drain(&format!("{STACK}-contain")).await;
    assert_eq!(to_contain.len(), 1);
    let contain = d.host(&moto, &sdk, "contain").await;
    let contained = contain.invoke(&to_contain[0].to_string()).ok();
    assert!(
        contained["outcomes"]
            .as_array()
            .expect("outcomes")
            .iter()
            .any(|o| o["kind"] == "deactivate_access_key" && o["status"] == "done"),
        "{contained}"
    );
    assert_only_key_inactive(&iam, "build-bot", &leaked).await;

    // The forwarder's hourly heartbeat (EventBridge's own Scheduled Event) reaches the created
    // Heartbeats rule, and triage records it once for that account and region. The emulator's
    // forward to another account's bus drops `resources` (and the envelope), so the forwarded
    // event is put on the intake bus as the forwarder's target delivers it.
    member_events
        .put_targets()
        .rule("firebreak-forward-heartbeat")
        .set_targets(Some(heartbeat_targets))
        .send()
        .await
        .expect("resume the heartbeat");
    let rule =
        format!("arn:aws:events:eu-west-1:{MEMBER_ACCOUNT}:rule/firebreak-forward-heartbeat");
    let beat = serde_json::json!({
        "source": "aws.events", "detail-type": "Scheduled Event", "resources": [rule],
        "detail": {}, "account": MEMBER_ACCOUNT, "region": "eu-west-1",
        "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    });
    let beats = rules_on(&member.sdk, &["default"])
        .await
        .into_iter()
        .filter(|c| c.schedule.as_deref() == Some("rate(1 hour)"))
        .count();
    assert_eq!(beats, 1, "the forwarder's heartbeat, every hour");
    firebreak_testbed::deploy::put_on(&sdk, d.physical("IntakeBus"), &beat).await;
    let to_triage = taps.drain(&format!("{STACK}-triage")).await;
    assert_eq!(
        to_triage.len(),
        1,
        "one heartbeat, through the Heartbeats rule"
    );
    assert_eq!(to_triage[0]["resources"][0], rule.as_str());
    // The emulator stamps the envelope with the receiving account and region; AWS keeps the
    // forwarder's.
    let mut delivered = to_triage[0].clone();
    for field in ["account", "region", "time"] {
        delivered[field] = beat[field].clone();
    }
    let recorded = triage.invoke(&delivered.to_string()).ok();
    assert_eq!(recorded["decision"], "heartbeat", "{recorded}");
    assert_eq!(recorded["account"], MEMBER_ACCOUNT);
    assert_eq!(recorded["region"], "eu-west-1");
    assert_eq!(recorded["recorded"], true);
    let again = triage.invoke(&delivered.to_string()).ok();
    assert_eq!(again["recorded"], false, "once an hour: {again}");
    let stamped = triage.invoke(&to_triage[0].to_string());
    assert!(
        matches!(&stamped, firebreak_testbed::lambda::Invoked::Failed(e) if e.contains("came as")),
        "a heartbeat whose envelope is not its rule's account and region is refused: {stamped:?}"
    );
}
