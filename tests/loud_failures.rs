//! Firebreak's own failures are loud, read from `infra/template.yaml` (the emulator's
//! CloudFormation cannot create the stack, and CloudWatch alarms never fire on it): every failure
//! queue, every function's errors and throttles, and a clock that stops running each page the S1
//! topic; the topics' key lets CloudWatch publish; both schedules retry and dead-letter.

use std::collections::BTreeSet;

use firebreak_testbed::template::{self, references, texts};
use serde_yaml::Value;

fn resources(t: &Value, kind: &str) -> Vec<(String, Value)> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(k, r)| (k.as_str().unwrap_or_default().to_string(), r.clone()))
        .collect()
}

/// The alarms that page the S1 topic.
fn paging_alarms(t: &Value) -> Vec<(String, Value)> {
    resources(t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| references(&a["Properties"]["AlarmActions"]).contains("Ref PagerTopic"))
        .collect()
}

/// Every (metric name, references in its dimensions) an alarm watches, with or without math.
fn watched(alarm: &Value) -> Vec<(String, BTreeSet<String>)> {
    let p = &alarm["Properties"];
    let mut out = Vec::new();
    if let Some(name) = p["MetricName"].as_str() {
        out.push((name.to_string(), references(&p["Dimensions"])));
    }
    for m in p["Metrics"].as_sequence().into_iter().flatten() {
        let metric = &m["MetricStat"]["Metric"];
        if let Some(name) = metric["MetricName"].as_str() {
            out.push((name.to_string(), references(&metric["Dimensions"])));
        }
    }
    out
}

#[test]
fn every_failure_queue_pages_when_an_event_waits_in_it() {
    let t = template::load();
    let alarms = paging_alarms(&t);
    let queues = resources(&t, "AWS::SQS::Queue");
    assert!(queues.len() >= 2, "{queues:?}");
    for (queue, _) in queues {
        let depth = alarms.iter().find(|(_, a)| {
            watched(a).iter().any(|(metric, dims)| {
                metric == "ApproximateNumberOfMessagesVisible"
                    && dims.contains(&format!("GetAtt {queue}.QueueName"))
            })
        });
        let (name, alarm) = depth.unwrap_or_else(|| panic!("no paging alarm on {queue}'s depth"));
        let p = &alarm["Properties"];
        assert_eq!(p["Threshold"].as_i64(), Some(0), "{name}");
        assert_eq!(
            p["ComparisonOperator"].as_str(),
            Some("GreaterThanThreshold"),
            "{name}: one waiting event is enough"
        );
    }
}

#[test]
fn every_functions_errors_and_throttles_page() {
    let t = template::load();
    let alarms = paging_alarms(&t);
    let functions = resources(&t, "AWS::Serverless::Function");
    assert_eq!(functions.len(), 7);
    for (function, _) in &functions {
        for metric in ["Errors", "Throttles"] {
            assert!(
                alarms.iter().any(|(_, a)| watched(a)
                    .iter()
                    .any(|(m, dims)| m == metric && dims.contains(&format!("Ref {function}")))),
                "no paging alarm on {function}'s {metric}"
            );
        }
    }
}

/// The dead-man's switch: a disabled schedule stops the self-check that would report it, so the
/// clock's silence itself pages.
#[test]
fn a_clock_that_stops_running_pages() {
    let t = template::load();
    let alarms = paging_alarms(&t);
    let (name, alarm) = alarms
        .iter()
        .find(|(_, a)| {
            watched(a)
                .iter()
                .any(|(m, dims)| m == "Invocations" && dims.contains("Ref ClockFunction"))
        })
        .expect("an alarm on the clock's invocations");
    let p = &alarm["Properties"];
    assert_eq!(
        p["TreatMissingData"].as_str(),
        Some("breaching"),
        "{name}: no data is exactly what a stopped clock gives"
    );
    assert_eq!(p["ComparisonOperator"].as_str(), Some("LessThanThreshold"));
    let window = p["Period"].as_i64().unwrap_or_default()
        * p["EvaluationPeriods"].as_i64().unwrap_or_default();
    assert!(
        (3600..=3 * 3600).contains(&window),
        "{name} waits {window} s: more than one missed hourly run, less than three"
    );
}

/// A CloudWatch alarm can publish to an encrypted topic only when the key's policy lets
/// CloudWatch use it (AWS's own `alias/aws/sns` does not); each role that publishes may use it too.
#[test]
fn the_topics_key_lets_alarms_and_the_publishers_publish() {
    let t = template::load();
    let topics = resources(&t, "AWS::SNS::Topic");
    assert_eq!(topics.len(), 2);
    let mut keys = BTreeSet::new();
    for (topic, r) in &topics {
        let key = references(&r["Properties"]["KmsMasterKeyId"]);
        assert_eq!(
            key.len(),
            1,
            "{topic} is not on a key of this stack: {key:?}"
        );
        keys.extend(
            key.into_iter()
                .map(|k| k.trim_start_matches("Ref ").to_string()),
        );
    }
    for key in &keys {
        let r = &t["Resources"][key.as_str()];
        assert_eq!(r["Type"].as_str(), Some("AWS::KMS::Key"), "{key}");
        let statements = r["Properties"]["KeyPolicy"]["Statement"]
            .as_sequence()
            .expect("key policy statements");
        assert!(
            statements.iter().any(|s| {
                s["Effect"].as_str() == Some("Allow")
                    && texts(&s["Principal"]["Service"])
                        .contains(&"cloudwatch.amazonaws.com".to_string())
                    && texts(&s["Action"]).contains(&"kms:GenerateDataKey*".to_string())
            }),
            "{key} does not let CloudWatch alarms publish"
        );
    }
    for (role, r) in resources(&t, "AWS::IAM::Role") {
        let statements: Vec<&Value> = r["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|p| {
                p["PolicyDocument"]["Statement"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
            })
            .filter(|s| s["Effect"].as_str() == Some("Allow"))
            .collect();
        let publishes = statements.iter().any(|s| {
            texts(&s["Action"]).contains(&"sns:Publish".to_string())
                && references(&s["Resource"]).iter().any(|r| {
                    r.starts_with("Ref ") && topics.iter().any(|(t, _)| r == &format!("Ref {t}"))
                })
        });
        if publishes {
            assert!(
                statements.iter().any(|s| {
                    texts(&s["Action"]).contains(&"kms:GenerateDataKey*".to_string())
                        && keys.iter().any(|k| {
                            references(&s["Resource"]).contains(&format!("GetAtt {k}.Arn"))
                        })
                }),
                "{role} publishes to an encrypted topic but may not use its key"
            );
        }
    }
}

#[test]
fn both_schedules_retry_and_dead_letter() {
    let t = template::load();
    let mut schedules = 0;
    for (function, r) in resources(&t, "AWS::Serverless::Function") {
        for (name, event) in r["Properties"]["Events"].as_mapping().into_iter().flatten() {
            if event["Type"].as_str() != Some("Schedule") {
                continue;
            }
            schedules += 1;
            let p = &event["Properties"];
            let name = name.as_str().unwrap_or_default();
            assert!(
                p["RetryPolicy"]["MaximumRetryAttempts"]
                    .as_i64()
                    .unwrap_or_default()
                    > 0,
                "{function}.{name} has no retry policy"
            );
            assert!(
                references(&p["DeadLetterConfig"]["Arn"])
                    .contains("GetAtt RuleDeadLetterQueue.Arn"),
                "{function}.{name} has no dead-letter queue"
            );
        }
    }
    assert_eq!(schedules, 2, "the clock and the drill");
}

/// CloudWatch publishes as a service, with no principal ARN: the topic policy must admit this
/// stack's alarms, and its deny of everyone else must exempt them, or no alarm pages. The key
/// that carries every page can be neither disabled nor deleted, and it is one of Firebreak's own
/// resources, so a changed key policy is S1.
#[test]
fn the_stacks_alarms_may_publish_and_nobody_silences_the_key() {
    let t = template::load();
    let policy = &t["Resources"]["TopicPolicy"]["Properties"]["PolicyDocument"]["Statement"];
    let statements = policy.as_sequence().expect("topic policy statements");
    let allow = statements
        .iter()
        .find(|s| {
            s["Effect"].as_str() == Some("Allow")
                && texts(&s["Principal"]["Service"]).contains(&"cloudwatch.amazonaws.com".into())
        })
        .expect("an Allow for CloudWatch");
    let scoped = serde_yaml::to_string(&allow["Condition"]).unwrap_or_default();
    assert!(
        scoped.contains("aws:SourceArn") && scoped.contains(":alarm:${AWS::StackName}-"),
        "only this stack's alarms: {scoped}"
    );
    for s in statements
        .iter()
        .filter(|s| s["Effect"].as_str() == Some("Deny"))
    {
        let condition = serde_yaml::to_string(&s["Condition"]).unwrap_or_default();
        assert!(
            condition.contains("aws:PrincipalServiceName")
                && condition.contains("cloudwatch.amazonaws.com"),
            "a deny that does not exempt CloudWatch refuses every alarm: {condition}"
        );
    }
    for (name, alarm) in paging_alarms(&t) {
        let named = serde_yaml::to_string(&alarm["Properties"]["AlarmName"]).unwrap_or_default();
        assert!(
            named.contains("${AWS::StackName}-"),
            "{name} is named {named}"
        );
    }
    let key = &t["Resources"]["TopicKey"]["Properties"]["KeyPolicy"]["Statement"];
    assert!(
        key.as_sequence().into_iter().flatten().any(|s| {
            s["Effect"].as_str() == Some("Deny")
                && ["kms:DisableKey", "kms:ScheduleKeyDeletion"]
                    .iter()
                    .all(|a| texts(&s["Action"]).contains(&a.to_string()))
                && s["Condition"].is_null()
        }),
        "the key can be disabled or deleted"
    );
    let own = &t["Globals"]["Function"]["Environment"]["Variables"]["FIREBREAK_OWN_RESOURCES"];
    assert!(references(own).contains("GetAtt TopicKey.Arn"), "{own:?}");
}
