//! Item 5, the self-check: a tamper can silence the rule that would report it, so the hourly
//! clock looks at Firebreak's own wiring (rules enabled with their targets, the functions'
//! configuration, the subscriptions present and unfiltered, the bucket policy and lock) and pages
//! S1 on any drift, once an hour. Each test tampers with the wiring on the emulator, runs the
//! clock function, reads the page back from the queue subscribed to the topics, and runs the
//! clock again in the same hour: no second page.

use aws_sdk_s3::types::{
    DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode,
    ObjectLockRule,
};
use firebreak_core::Entry;
use firebreak_core::lifecycle::wiring;
use firebreak_testbed::template;
use firebreak_testbed::wiring::{BUS, CLOCK, DENY_SID, WiredWorld};

/// Runs the clock, which must page S1 once naming every `expected` text (through `via`, the
/// topic the page must arrive by), then again in the same hour, which must not page.
async fn pages_once(world: &WiredWorld, via: &str, expected: &[&str]) {
    let before = wiring::hour(chrono::Utc::now());
    let answer = world.tick().await;
    let drifts = answer["wiring_drifts"].as_u64().unwrap_or(0);
    assert!(drifts >= 1, "the clock saw no drift: {answer:#}");
    let pages = world.pages().await;
    let wiring_pages: Vec<_> = pages
        .iter()
        .filter(|(_, subject, _)| subject.starts_with("[S1] Firebreak's own wiring has drifted"))
        .collect();
    assert_eq!(wiring_pages.len(), 1, "one S1 page: {pages:#?}");
    let (topic, _, message) = wiring_pages[0];
    assert_eq!(topic, via, "{message}");
    for text in expected {
        assert!(
            message.contains(text),
            "the page names {text:?}:\n{message}"
        );
    }
    assert!(message.contains("Fix: "), "{message}");

    let log = firebreak_aws::store::log::read(world.clock.evidence(), &wiring::log_id())
        .await
        .expect("the wiring log");
    let logged: Vec<_> = log
        .iter()
        .filter_map(|e| match &e.entry {
            Entry::Wiring { drifts, .. } => Some(drifts),
            _ => None,
        })
        .collect();
    assert_eq!(logged.len(), 1, "{log:#?}");
    assert_eq!(logged[0].len() as u64, drifts);

    let again = world.tick().await;
    if wiring::hour(chrono::Utc::now()) == before {
        assert_eq!(again["wiring"]["already_paged"], true, "{again:#}");
        assert_eq!(world.pages().await, [], "paged twice in one hour");
    }
}

#[tokio::test]
async fn the_wiring_as_built_is_clean_and_pages_nobody() {
    let world = WiredWorld::build().await;
    let answer = world.tick().await;
    assert_eq!(answer["wiring_drifts"], 0, "{answer:#}");
    assert_eq!(world.pages().await, []);
    let log = firebreak_aws::store::log::read(world.clock.evidence(), &wiring::log_id())
        .await
        .expect("list");
    assert_eq!(log, []);
}

#[tokio::test]
async fn a_disabled_rule_pages_s1() {
    let world = WiredWorld::build().await;
    let (bus, rule, _) = &world.rules[1];
    assert_eq!(bus, BUS);
    let events = aws_sdk_eventbridge::Client::new(&world.sdk);
    events
        .disable_rule()
        .name(rule)
        .event_bus_name(bus)
        .send()
        .await
        .expect("disable");
    pages_once(
        &world,
        &world.stack.pager_topic,
        &[
            &format!("rule {rule} on bus {bus} is DISABLED"),
            &format!("aws events enable-rule --name {rule} --event-bus-name {bus}"),
        ],
    )
    .await;
}

/// The rule for read-only calls put back in plain `ENABLED` still looks enabled, but sees none of
/// the reads it exists for: the clock pages that too.
#[tokio::test]
async fn a_read_rule_downgraded_to_plain_enabled_pages_s1() {
    let world = WiredWorld::build().await;
    let (bus, rule, _) = &world.rules[2];
    let events = aws_sdk_eventbridge::Client::new(&world.sdk);
    events
        .put_rule()
        .name(rule)
        .event_bus_name(bus)
        .event_pattern(serde_json::json!({"source": ["firebreak"]}).to_string())
        .state(aws_sdk_eventbridge::types::RuleState::Enabled)
        .send()
        .await
        .expect("downgrade");
    pages_once(
        &world,
        &world.stack.pager_topic,
        &[&format!(
            "rule {rule} on bus {bus} is ENABLED, not ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
        )],
    )
    .await;
}

#[tokio::test]
async fn a_removed_target_pages_s1() {
    let world = WiredWorld::build().await;
    let (bus, rule, target) = &world.rules[0];
    let events = aws_sdk_eventbridge::Client::new(&world.sdk);
    events
        .remove_targets()
        .rule(rule)
        .event_bus_name(bus)
        .ids("function")
        .send()
        .await
        .expect("remove targets");
    pages_once(
        &world,
        &world.stack.pager_topic,
        &[&format!(
            "rule {rule} on bus default no longer targets {target}"
        )],
    )
    .await;
}

#[tokio::test]
async fn a_filter_that_drops_every_page_pages_s1_by_the_other_topic() {
    let world = WiredWorld::build().await;
    let subscription = world.subscription(&world.stack.pager_topic).await;
    let sns = aws_sdk_sns::Client::new(&world.sdk);
    sns.set_subscription_attributes()
        .subscription_arn(&subscription)
        .attribute_name("FilterPolicy")
        .attribute_value(r#"{"firebreak-never": ["matches"]}"#)
        .send()
        .await
        .expect("filter");
    // The filtered subscription receives nothing: the page comes by the ticket topic.
    pages_once(
        &world,
        &world.stack.ticket_topic,
        &[
            &format!(
                "subscription {subscription} of topic {}",
                world.stack.pager_topic
            ),
            "firebreak-never",
            "--attribute-name FilterPolicy",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_removed_subscription_pages_s1_by_the_other_topic() {
    let world = WiredWorld::build().await;
    let subscription = world.subscription(&world.stack.pager_topic).await;
    let sns = aws_sdk_sns::Client::new(&world.sdk);
    sns.unsubscribe()
        .subscription_arn(&subscription)
        .send()
        .await
        .expect("unsubscribe");
    pages_once(
        &world,
        &world.stack.ticket_topic,
        &[&format!(
            "topic {} has no confirmed subscription",
            world.stack.pager_topic
        )],
    )
    .await;
}

#[tokio::test]
async fn a_deleted_bucket_policy_pages_s1() {
    let world = WiredWorld::build().await;
    let s3 = firebreak_testbed::seed::s3_client(&world.sdk);
    s3.delete_bucket_policy()
        .bucket(&world.stack.bucket)
        .send()
        .await
        .expect("delete policy");
    pages_once(
        &world,
        &world.stack.pager_topic,
        &[&format!(
            "evidence bucket {} has no bucket policy",
            world.stack.bucket
        )],
    )
    .await;
}

#[tokio::test]
async fn a_replaced_bucket_policy_pages_s1() {
    let world = WiredWorld::build().await;
    let s3 = firebreak_testbed::seed::s3_client(&world.sdk);
    let bucket = &world.stack.bucket;
    let harmless = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Sid": DENY_SID, "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}]});
    s3.put_bucket_policy()
        .bucket(bucket)
        .policy(harmless.to_string())
        .send()
        .await
        .expect("replace policy");
    pages_once(
        &world,
        &world.stack.pager_topic,
        &[&format!(
            "the policy of evidence bucket {bucket} no longer holds the deny statement {DENY_SID}"
        )],
    )
    .await;
}

#[tokio::test]
async fn a_shortened_lock_pages_s1() {
    let world = WiredWorld::build().await;
    let s3 = firebreak_testbed::seed::s3_client(&world.sdk);
    let bucket = &world.stack.bucket;
    // The policy denies changing the lock: an attacker removes it first.
    s3.delete_bucket_policy()
        .bucket(bucket)
        .send()
        .await
        .expect("delete policy");
    s3.put_object_lock_configuration()
        .bucket(bucket)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(
                            DefaultRetention::builder()
                                .mode(ObjectLockRetentionMode::Governance)
                                .days(1)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("shorten the lock");
    pages_once(
        &world,
        &world.stack.pager_topic,
        &[&format!(
            "evidence bucket {bucket} locks new evidence GOVERNANCE 1 days, not COMPLIANCE 90 days"
        )],
    )
    .await;
}

#[tokio::test]
async fn a_changed_function_configuration_pages_s1() {
    let world = WiredWorld::build().await;
    let (function, _) = &world.functions[0];
    let lambda = aws_sdk_lambda::Client::new(&world.sdk);
    let now = lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .expect("configuration");
    let mut variables = now
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default();
    // A wrapper script that runs before the function: code injection by configuration.
    variables.insert("AWS_LAMBDA_EXEC_WRAPPER".into(), "/tmp/hook".into());
    lambda
        .update_function_configuration()
        .function_name(function)
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .set_variables(Some(variables))
                .build(),
        )
        .send()
        .await
        .expect("update configuration");
    pages_once(
        &world,
        &world.stack.pager_topic,
        &[&format!(
            "function {function} carries another environment than the stack gave it; added AWS_LAMBDA_EXEC_WRAPPER"
        )],
    )
    .await;
}

#[tokio::test]
async fn a_function_throttled_to_zero_pages_s1() {
    let world = WiredWorld::build().await;
    let (function, _) = &world.functions[1];
    let lambda = aws_sdk_lambda::Client::new(&world.sdk);
    lambda
        .put_function_concurrency()
        .function_name(function)
        .reserved_concurrent_executions(0)
        .send()
        .await
        .expect("concurrency 0");
    pages_once(
        &world,
        &world.stack.pager_topic,
        &[
            &format!("function {function} has reserved concurrency 0"),
            &format!("aws lambda delete-function-concurrency --function-name {function}"),
        ],
    )
    .await;
}

#[tokio::test]
async fn firebreak_clock_prints_every_drift_with_its_fix() {
    let world = WiredWorld::build().await;
    let (code, out, err) = world.firebreak(&["clock", "--wiring-from", CLOCK]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("wiring: 9 part(s) checked, no drift"), "{out}");
    assert_eq!(world.pages().await, []);

    // The clock function itself, throttled to nothing: only the command line can name it.
    let lambda = aws_sdk_lambda::Client::new(&world.sdk);
    lambda
        .put_function_concurrency()
        .function_name(CLOCK)
        .reserved_concurrent_executions(0)
        .send()
        .await
        .expect("concurrency 0");
    let (bus, rule, _) = &world.rules[1];
    aws_sdk_eventbridge::Client::new(&world.sdk)
        .disable_rule()
        .name(rule)
        .event_bus_name(bus)
        .send()
        .await
        .expect("disable");
    let (code, out, err) = world
        .firebreak(&["clock", "--dry-run", "--wiring-from", CLOCK])
        .await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("2 DRIFT(S)"), "{out}");
    assert!(
        out.contains(&format!(
            "aws events enable-rule --name {rule} --event-bus-name {bus}"
        )),
        "{out}"
    );
    assert!(
        out.contains(":function:fb-clock has reserved concurrency 0"),
        "{out}"
    );
    assert!(out.contains("S1: would page"), "{out}");
    assert_eq!(world.pages().await, [], "a dry run pages nobody");

    let (code, out, _) = world.firebreak(&["clock", "--wiring-from", CLOCK]).await;
    assert_eq!(code, 1);
    assert!(out.contains("S1: paged (message "), "{out}");
    assert_eq!(world.pages().await.len(), 1);
    let (_, out, _) = world.firebreak(&["clock", "--wiring-from", CLOCK]).await;
    assert!(
        out.contains("S1: already paged this hour") || out.contains("S1: paged"),
        "{out}"
    );
}

/// The template names every rule and function the clock must check (all but the clock's own,
/// which would be a circular reference), and the deny statements its bucket policy holds.
#[test]
fn the_template_gives_the_clock_the_whole_wiring() {
    let t = template::load();
    let env = &t["Resources"]["ClockFunction"]["Properties"]["Environment"]["Variables"];
    let text = |name: &str| serde_yaml::to_string(&env[name]).expect("YAML");
    let (rules, functions) = (
        text("FIREBREAK_WIRING_RULES"),
        text("FIREBREAK_WIRING_FUNCTIONS"),
    );
    let resources = t["Resources"].as_mapping().expect("Resources");
    let mut named = 0;
    for (id, r) in resources {
        let id = id.as_str().unwrap_or_default();
        if r["Type"].as_str() != Some("AWS::Serverless::Function") || id == "ClockFunction" {
            continue;
        }
        let role = serde_yaml::to_string(&r["Properties"]["Role"]).expect("YAML");
        let role = role
            .split_whitespace()
            .find(|w| w.ends_with(".Arn"))
            .unwrap_or_default()
            .to_string();
        assert!(
            functions.contains(&format!("${{{id}.Arn}}=${{{role}}}")),
            "{id} runs as {role}: {functions}"
        );
        for (event, e) in r["Properties"]["Events"].as_mapping().into_iter().flatten() {
            let event = event.as_str().unwrap_or_default();
            if matches!(e["Type"].as_str(), Some("EventBridgeRule" | "Schedule")) {
                // With the state the template gives the rule, when it is not plain ENABLED.
                let state = e["Properties"]["State"]
                    .as_str()
                    .map(|s| format!("@{s}"))
                    .unwrap_or_default();
                assert!(
                    rules.contains(&format!("${{{id}{event}.Arn}}{state}=${{{id}.Arn}}")),
                    "{id}{event} is not checked in its state {state}: {rules}"
                );
                named += 1;
            }
        }
    }
    assert!(named >= 8, "{rules}");
    let sids: Vec<String> = t["Resources"]["EvidenceBucketPolicy"]["Properties"]["PolicyDocument"]
        ["Statement"]
        .as_sequence()
        .expect("statements")
        .iter()
        .filter(|s| s["Effect"].as_str() == Some("Deny"))
        .filter_map(|s| s["Sid"].as_str().map(String::from))
        .collect();
    assert_eq!(
        env["FIREBREAK_WIRING_BUCKET_DENY"].as_str(),
        Some(sids.join(",").as_str())
    );
}
