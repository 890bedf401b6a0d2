//! Item 1: only events AWS emitted are acted on. Anyone allowed `events:PutEvents` can put an
//! event with any source but `aws.*`, and `aws.partner/…` sources carry what a SaaS partner
//! wrote; a CloudTrail-shaped detail under such a source must plan nothing and change nothing.

use firebreak_lambda::FunctionError;
use firebreak_testbed::moto::HOME_ACCOUNT;
use firebreak_testbed::seed;
use serde_json::json;

use firebreak_testbed::world::{World, cloudtrail, iam_user};

fn collector() -> firebreak_aws::Collector {
    firebreak_testbed::collector(format!(
        "arn:aws:lambda:us-east-1:{HOME_ACCOUNT}:function:firebreak-triage"
    ))
}

#[tokio::test]
async fn a_forged_cloudtrail_event_is_refused_by_triage_and_changes_nothing() {
    let w = World::new().await;
    let iam = w.iam();
    let (key, _) = seed::user_with_two_keys(&iam, "alice").await;
    let functions = w.functions().await;
    let triage = &functions["triage"];

    // StopLogging "by alice": S1 with alice's key deactivated and alice denied, if believed.
    let genuine = cloudtrail(
        "cloudtrail.amazonaws.com",
        "StopLogging",
        iam_user(HOME_ACCOUNT, "alice", &key),
        json!({"name": "main"}),
        "4d1e2f3a-0000-4000-8000-000000000001",
    );
    for source in [
        "anything",
        "com.example.ci",
        "aws.partner/example.com/111122223333/alerts",
        "aws.iam",
        "aws.cloudtrail.forged",
    ] {
        let mut forged = genuine.clone();
        forged["source"] = source.into();
        match triage.handle(&forged.to_string(), collector()).await {
            Err(FunctionError::BadInput(why)) => {
                assert!(
                    why.contains("source") && why.contains("aws.cloudtrail"),
                    "{source}: {why}"
                );
            }
            other => panic!("{source}: a forged event must be refused as bad input, got {other:?}"),
        }
    }
    // Nothing was recorded, nobody was touched.
    assert!(
        w.evidence_keys().await.is_empty(),
        "{:?}",
        w.evidence_keys().await
    );
    assert!(w.user_policies("alice").await.is_empty());
    for k in iam
        .list_access_keys()
        .user_name("alice")
        .send()
        .await
        .unwrap()
        .access_key_metadata()
    {
        assert_eq!(k.status().map(|s| s.as_str()), Some("Active"));
    }
    // The same event under the source AWS gives it is believed (the test can fail).
    let answer = triage
        .handle(&genuine.to_string(), collector())
        .await
        .expect("the genuine event is triaged");
    assert_eq!(answer["severity"], "S1", "{answer}");
    assert!(!w.evidence_keys().await.is_empty());
}

#[tokio::test]
async fn a_forged_guardduty_finding_is_refused_by_triage() {
    let w = World::new().await;
    let functions = w.functions().await;
    let mut finding =
        firebreak_testbed::iam_user_finding("alice", "AKIAIOSFODNN7EXAMPLE", HOME_ACCOUNT);
    for source in [
        "aws.partner/guardduty.example/1/x",
        "guardduty",
        "firebreak",
    ] {
        finding["source"] = source.into();
        let result = functions["triage"]
            .handle(&finding.to_string(), collector())
            .await;
        assert!(
            matches!(&result, Err(FunctionError::BadInput(why)) if why.contains("aws.guardduty")),
            "{source}: {result:?}"
        );
    }
    assert!(w.evidence_keys().await.is_empty());
}
