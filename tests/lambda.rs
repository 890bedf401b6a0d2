//! The function binaries run as Lambdas (under the Lambda runtime API served by `cargo lambda
//! watch`) against the emulator, and hand one incident on to each other through the emulator's
//! EventBridge, with the template's own rules: triage → contain, preserve, page → page.

use firebreak_testbed::eventbridge::{Taps, drain_queue};
use firebreak_testbed::lambda::{Invoked, LambdaHost, function_env};
use firebreak_testbed::moto::HOME_ACCOUNT;
use firebreak_testbed::world::World;
use firebreak_testbed::{assert_only_key_inactive, iam_user_finding, seed};
use serde_json::Value;

const BUS: &str = "firebreak-bus";

/// The events queued for `function`, drained.
fn for_function(got: &[(String, String, Value)], function: &str) -> Vec<Value> {
    got.iter()
        .filter(|(f, _, _)| f == function)
        .map(|(_, _, e)| e.clone())
        .collect()
}

async fn pages(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Value> {
    drain_queue(sqs, url)
        .await
        .iter()
        .map(|b| serde_json::from_str(b).expect("SNS envelope"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_functions_run_as_lambdas_and_hand_an_incident_on_through_eventbridge() {
    let world = World::new().await;
    let (moto, sdk, stack) = (&world.moto, &world.sdk, &world.stack);
    let taps = Taps::install(sdk, BUS).await;
    let iam = aws_sdk_iam::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let (leaked, _other) = seed::user_with_two_keys(&iam, "dev-ci").await;
    let env = function_env(moto, &moto.home_credentials().await, stack, BUS);
    let triage = LambdaHost::start("triage", &env);
    let contain = LambdaHost::start("contain", &env);
    let preserve = LambdaHost::start("preserve", &env);
    let page = LambdaHost::start("page", &env);

    // The finding arrives on the default bus and the template's rule hands it to triage.
    let finding = iam_user_finding("dev-ci", &leaked, HOME_ACCOUNT);
    taps.put(false, &finding).await;
    let delivered = for_function(&taps.drain().await, "TriageFunction");
    assert_eq!(
        delivered.len(),
        1,
        "one rule delivers the finding to triage"
    );
    let opened = triage.invoke(&delivered[0].to_string()).ok();
    assert_eq!(opened["decision"], "Incident Opened", "{opened}");
    let incident_id = opened["incident_id"].as_str().expect("id").to_string();

    // Incident Opened reaches contain, preserve and page through Firebreak's bus.
    let routed = taps.drain().await;
    let to_contain = for_function(&routed, "ContainFunction");
    let to_preserve = for_function(&routed, "PreserveFunction");
    let to_page = for_function(&routed, "PageFunction");
    assert_eq!(
        (to_contain.len(), to_preserve.len(), to_page.len()),
        (1, 1, 1),
        "{routed:?}"
    );
    assert_eq!(to_page[0]["detail-type"], "Incident Opened");

    let first_page = page.invoke(&to_page[0].to_string()).ok();
    assert_eq!(first_page["paged"], true, "{first_page}");
    let contained = contain.invoke(&to_contain[0].to_string()).ok();
    let kinds: Vec<(&str, &str)> = contained["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or(""),
                o["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("deactivate_access_key", "done")),
        "{kinds:?}"
    );
    assert!(kinds.iter().all(|(_, s)| *s != "failed"), "{kinds:?}");
    assert_only_key_inactive(&iam, "dev-ci", &leaked).await;

    let preserved = preserve.invoke(&to_preserve[0].to_string()).ok();
    let manifest = preserved["manifest_key"]
        .as_str()
        .expect("a manifest")
        .to_string();
    assert!(
        manifest.starts_with(&format!("incidents/{incident_id}/")),
        "{manifest}"
    );
    let head = seed::s3_client(sdk)
        .head_object()
        .bucket(&stack.bucket)
        .key(&manifest)
        .send()
        .await
        .expect("the manifest is in the bucket");
    assert!(
        head.object_lock_retain_until_date().is_some(),
        "the manifest is locked"
    );

    // The stages' results reach page only; the follow-ups carry the outcomes.
    let finished = taps.drain().await;
    let follow_ups = for_function(&finished, "PageFunction");
    assert_eq!(follow_ups.len(), 2, "{finished:?}");
    assert_eq!(finished.len(), 2, "nothing but page receives stage results");
    for event in &follow_ups {
        assert_eq!(page.invoke(&event.to_string()).ok()["paged"], true);
    }
    let sent = pages(&sqs, &stack.queue_url).await;
    assert_eq!(sent.len(), 3, "opened, contained, preserved");
    let bodies: Vec<&str> = sent
        .iter()
        .map(|m| m["Message"].as_str().unwrap_or(""))
        .collect();
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("deactivate_access_key") && b.contains("done")),
        "{bodies:?}"
    );
    assert!(
        sent.iter()
            .all(|m| m["Subject"].as_str().unwrap_or("").contains(&incident_id))
    );

    // At-least-once delivery: every repeat is recognised and does nothing.
    let again = triage.invoke(&delivered[0].to_string()).ok();
    assert_eq!(again["decision"], "duplicate", "{again}");
    assert_eq!(
        contain.invoke(&to_contain[0].to_string()).ok()["duplicate"],
        true
    );
    assert_eq!(
        preserve.invoke(&to_preserve[0].to_string()).ok()["duplicate"],
        true
    );
    assert_eq!(page.invoke(&to_page[0].to_string()).ok()["duplicate"], true);
    assert!(
        taps.drain().await.is_empty(),
        "a duplicate announces nothing"
    );
    assert!(
        pages(&sqs, &stack.queue_url).await.is_empty(),
        "a duplicate pages nobody"
    );

    // A re-emit of the finding is an update of the same incident, paged as such.
    let mut reemit = finding.clone();
    reemit["id"] = "0d9c3b6c-reemit-0000-0000-000000000002".into();
    reemit["detail"]["service"]["count"] = 2.into();
    let updated = triage.invoke(&reemit.to_string()).ok();
    assert_eq!(updated["decision"], "Incident Updated", "{updated}");
    assert_eq!(updated["incident_id"], incident_id.as_str());
    let routed = taps.drain().await;
    assert_eq!(routed.len(), 1, "an update reaches page only: {routed:?}");

    // Bad input fails (so Lambda retries it and then sends it to the failure queue), saying why;
    // the function keeps serving.
    match triage.invoke(r#"{"id": "x", "detail-type": "GuardDuty Finding"}"#) {
        Invoked::Failed(e) => assert!(e.contains("Firebreak.BadInput"), "{e}"),
        Invoked::Ok(v) => panic!("malformed event accepted: {v}"),
    }
    match contain
        .invoke(r#"{"source": "aws.guardduty", "detail-type": "Incident Opened", "detail": {}}"#)
    {
        Invoked::Failed(e) => assert!(
            e.contains("Firebreak.BadInput") && e.contains("source"),
            "{e}"
        ),
        Invoked::Ok(v) => panic!("forged bus event accepted: {v}"),
    }
    assert_eq!(
        triage.invoke(&delivered[0].to_string()).ok()["decision"],
        "duplicate"
    );

    // Logs are JSON lines (AWS_LAMBDA_LOG_FORMAT=JSON).
    for host in [&triage, &contain, &preserve, &page] {
        let logs = host.logs();
        assert!(logs.lines().count() > 0);
        for line in logs.lines() {
            assert!(
                serde_json::from_str::<Value>(line).is_ok(),
                "not JSON: {line}"
            );
        }
    }
}

/// Every identifier of a person in `event`: e-mail and IP addresses, access key and principal
/// ids, user names (fields named so, and the names in IAM/STS ARNs).
fn personal_values(event: &Value, out: &mut std::collections::BTreeSet<String>) {
    match event {
        Value::Object(map) => {
            for (key, value) in map {
                if let Some(s) = value.as_str() {
                    let named = matches!(
                        key.as_str(),
                        "userName" | "username" | "principalId" | "accessKeyId" | "email"
                    );
                    // The root user's name is no one's.
                    if named && s.len() >= 4 && !s.eq_ignore_ascii_case("root") {
                        out.insert(s.to_string());
                    }
                }
                personal_values(value, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| personal_values(v, out)),
        Value::String(s) => {
            for word in s.split(|c: char| c.is_whitespace() || c == ',' || c == '"') {
                let looks_personal = word.parse::<std::net::IpAddr>().is_ok()
                    || (word.contains('@') && word.contains('.'))
                    || ((word.starts_with("AKIA") || word.starts_with("ASIA")) && word.len() >= 16);
                if looks_personal {
                    out.insert(word.to_string());
                }
                if word.starts_with("arn:") && (word.contains(":iam::") || word.contains(":sts::"))
                {
                    if let Some((_, name)) = word.split_once('/') {
                        let name = name.split('/').next().unwrap_or(name);
                        if name.len() >= 4 {
                            out.insert(name.to_string());
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// No personal data in the functions' logs: the whole corpus goes through the four binaries
/// (and on through Firebreak's bus), then their logs are searched for every e-mail address, IP
/// address, user name and access key id the events hold.
#[tokio::test(flavor = "multi_thread")]
async fn the_functions_log_no_personal_data_from_the_corpus() {
    let world = World::new().await;
    let (moto, sdk, stack) = (&world.moto, &world.sdk, &world.stack);
    let taps = Taps::install(sdk, BUS).await;
    let env = function_env(moto, &moto.home_credentials().await, stack, BUS);
    let hosts: Vec<(&str, LambdaHost)> = ["triage", "contain", "preserve", "page"]
        .into_iter()
        .map(|f| (f, LambdaHost::start(f, &env)))
        .collect();
    let host = |name: &str| &hosts.iter().find(|(n, _)| *n == name).expect("a host").1;

    let mut secrets = std::collections::BTreeSet::new();
    let files = firebreak_testbed::corpus_files();
    let mut invocations = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        let event: Value = serde_json::from_str(&text).expect("JSON");
        personal_values(&event, &mut secrets);
        let _ = host("triage").invoke(&text);
        invocations += 1;
        // Follow the incident through Firebreak's bus.
        loop {
            let routed = taps.drain().await;
            if routed.is_empty() {
                break;
            }
            for (function, _, event) in routed {
                let name = function.trim_end_matches("Function").to_lowercase();
                let _ = host(&name).invoke(&event.to_string());
                invocations += 1;
            }
        }
    }
    // Refused input that itself carries personal data.
    for bad in [
        r#"{"detail-type": "GuardDuty Finding", "detail": "mallory@example.org"}"#,
        r#"{"source": "aws.guardduty", "detail-type": 7, "detail": {"userName": "mallory-admin"}}"#,
    ] {
        assert!(matches!(host("triage").invoke(bad), Invoked::Failed(_)));
        secrets.insert("mallory@example.org".into());
    }
    assert!(
        secrets.len() > 50,
        "the corpus holds identifiers: {secrets:?}"
    );

    let mut lines = 0;
    for (name, h) in &hosts {
        let logs = h.logs();
        lines += logs.lines().count();
        for secret in &secrets {
            let leaked: Vec<&str> = logs
                .lines()
                .filter(|l| l.contains(secret.as_str()))
                .collect();
            assert!(leaked.is_empty(), "{name} logged {secret:?}: {leaked:?}");
        }
    }
    assert!(
        lines >= invocations,
        "every invocation logged: {lines} lines, {invocations} invocations"
    );
    println!(
        "{invocations} invocations, {lines} log lines, {} identifiers searched for",
        secrets.len()
    );
}

/// A function builds no SDK client at init (its cold start), and an event builds only the clients
/// it uses.
#[tokio::test(flavor = "multi_thread")]
async fn a_function_builds_no_client_at_init_and_only_those_its_event_uses() {
    let world = World::new().await;
    let functions = world.functions().await;
    for (name, context) in &functions {
        assert!(
            context.responder.home.built().is_empty(),
            "{name} built {:?} at init",
            context.responder.home.built()
        );
    }
    let iam = aws_sdk_iam::Client::new(&world.sdk);
    let (leaked, _other) = seed::user_with_two_keys(&iam, "dev-ci").await;
    let finding = iam_user_finding("dev-ci", &leaked, HOME_ACCOUNT);
    let triage = &functions["triage"];
    let collector = firebreak_aws::Collector {
        identity: "test".into(),
        request_id: None,
    };
    let answer = triage
        .handle(&finding.to_string(), collector)
        .await
        .expect("triaged");
    assert_eq!(answer["decision"], "Incident Opened", "{answer}");
    let built = triage.responder.home.built();
    assert!(built.contains(&"s3"), "{built:?}");
    for unused in [
        "ec2",
        "ssm",
        "rds",
        "cognito",
        "autoscaling",
        "elbv2",
        "elb",
    ] {
        assert!(
            !built.contains(&unused),
            "{unused} built for a key's finding: {built:?}"
        );
    }
}
