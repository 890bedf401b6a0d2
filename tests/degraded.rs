//! Paging does not depend on the evidence bucket: when triage cannot record an incident (here
//! the bucket it is configured with does not exist), it pages what the event alone tells,
//! straight to SNS, and fails as retryable so the event comes back for the evidence.

use firebreak_testbed::lambda::{contexts, function_env};
use firebreak_testbed::moto::HOME_ACCOUNT;
use firebreak_testbed::world::{BUS, World};
use firebreak_testbed::{collector, event, iam_user_finding, seed};

#[tokio::test]
async fn triage_that_cannot_record_pages_degraded_and_fails_for_a_retry() {
    let world = World::new().await;
    let creds = world.moto.home_credentials().await;
    let mut env = function_env(&world.moto, &creds, &world.stack, BUS);
    for (name, value) in env.iter_mut() {
        if name == "FIREBREAK_EVIDENCE_BUCKET" {
            *value = "firebreak-evidence-never-created".into();
        }
    }
    let functions = contexts(&env, &world.sdk);
    let triage = &functions["triage"];
    let by = collector("arn:aws:lambda:us-east-1:111122223333:function:firebreak-triage");
    let (key, _) = seed::user_with_two_keys(&world.iam(), "deploy-bot").await;
    let finding = iam_user_finding("deploy-bot", &key, HOME_ACCOUNT).to_string();

    let failed = triage
        .handle(&finding, by.clone())
        .await
        .expect_err("an incident that cannot be recorded fails the invocation");
    assert_eq!(
        failed.error_type(),
        "Firebreak.Retryable",
        "retried for the evidence: {failed:?}"
    );
    let pages = world.pages().await;
    assert_eq!(pages.len(), 1, "{pages:#?}");
    let subject = pages[0]["Subject"].as_str().unwrap_or_default();
    let body = pages[0]["Message"].as_str().unwrap_or_default();
    assert!(subject.contains("DEGRADED"), "{subject}");
    assert!(subject.contains("FB-"), "the incident id: {subject}");
    assert!(
        body.contains("could not finish recording this incident") && body.contains("Inactive"),
        "what failed and what Firebreak would do: {body}"
    );

    // A retry that fails again pages again (pages are at-least-once); an event triage only
    // records (S4) pages nobody, degraded or not.
    let _ = triage.handle(&finding, by.clone()).await;
    assert_eq!(world.pages().await.len(), 1);
    let quiet = event("ct-sqs-create-queue.json").to_string();
    let answer = triage.handle(&quiet, by).await;
    assert!(world.pages().await.is_empty(), "{answer:?}");
}
