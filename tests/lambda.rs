//! The function binaries run as Lambdas (under the Lambda runtime API served by `cargo lambda
//! watch`) against the emulator, and hand one incident on to each other through the emulator's
//! EventBridge, with the template's own rules: triage → contain, preserve, page → page.

use firebreak_tests::eventbridge::{Taps, drain_queue};
use firebreak_tests::lambda::{Invoked, LambdaHost, function_env};
use firebreak_tests::moto::{HOME_ACCOUNT, Moto};
use firebreak_tests::{assert_only_key_inactive, iam_user_finding, seed};
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
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = seed::stack(&sdk).await;
    let taps = Taps::install(&sdk, BUS).await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (leaked, _other) = seed::user_with_two_keys(&iam, "dev-ci").await;
    let env = function_env(&moto, &moto.home_credentials().await, &stack, BUS);
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
    let head = seed::s3_client(&sdk)
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
