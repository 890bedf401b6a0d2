//! Item 5 (detection's half): attacks on detection and on Firebreak itself — its functions,
//! rules, stack, evidence bucket, topics, keys and roles — are S1, paged at once on the pager
//! topic, and the principal who did it is contained (unless protected: then paged only).

use firebreak_core::{Severity, Status};
use firebreak_testbed::moto::HOME_ACCOUNT;
use firebreak_testbed::seed;
use serde_json::{Value, json};

use firebreak_testbed::world::{World, cloudtrail, iam_user};

async fn s1_paged(w: &World, event: &Value, ioc: &str) -> firebreak_aws::Response {
    let (incident, r) = w.respond(w.config(), event).await.expect("an incident");
    assert_eq!(incident.severity, Severity::S1, "{:?}", incident.iocs);
    assert!(
        incident.iocs.iter().any(|i| i == ioc),
        "{:?}",
        incident.iocs
    );
    let pages = w.pages().await;
    assert!(
        pages
            .iter()
            .any(|p| p["TopicArn"] == w.stack.pager_topic.as_str()
                && p["Message"]
                    .as_str()
                    .is_some_and(|m| m.contains(incident.id.as_str()))),
        "no S1 page for {}: {pages:?}",
        incident.id
    );
    r
}

#[tokio::test]
async fn tampering_with_firebreaks_functions_topics_and_detection_is_s1_and_paged() {
    let w = World::new().await;
    let iam = w.iam();
    let (key, other) = seed::user_with_two_keys(&iam, "intruder").await;
    let who = || iam_user(HOME_ACCOUNT, "intruder", &key);
    // Concurrency 0 switches the triage function off.
    let r = s1_paged(
        &w,
        &cloudtrail(
            "lambda.amazonaws.com",
            "PutFunctionConcurrency20171031",
            who(),
            json!({"functionName": "firebreak-triage", "reservedConcurrentExecutions": 0}),
            "self-0001",
        ),
        "firebreak-function-changed",
    )
    .await;
    assert!(
        r.outcomes
            .iter()
            .any(|o| o.kind == "deactivate_access_key" && matches!(o.status, Status::Done { .. })),
        "{:?}",
        r.outcomes
    );
    firebreak_testbed::assert_only_key_inactive(&iam, "intruder", &key).await;
    assert!(
        w.user_policies("intruder")
            .await
            .contains(&"AWSRevokeOlderSessions".to_string())
    );
    // A filter policy that drops every page on the pager topic's subscription.
    s1_paged(
        &w,
        &cloudtrail(
            "sns.amazonaws.com",
            "SetSubscriptionAttributes",
            iam_user(HOME_ACCOUNT, "intruder", &other),
            json!({"subscriptionArn": format!("{}:0f6e1d2c-3b4a-4596-8877-665544332211", w.stack.pager_topic),
                   "attributeName": "FilterPolicy", "attributeValue": "{\"never\":[\"sent\"]}"}),
            "self-0002",
        ),
        "firebreak-topic-changed",
    )
    .await;
    // GuardDuty told to archive findings before anyone sees them.
    s1_paged(
        &w,
        &cloudtrail(
            "guardduty.amazonaws.com",
            "CreateFilter",
            who(),
            json!({"detectorId": "12abc34d567e8fa901bc2d34e56789f0", "name": "quiet", "action": "ARCHIVE",
                   "findingCriteria": {"criterion": {"severity": {"gte": 0}}}}),
            "self-0003",
        ),
        "guardduty-findings-suppressed",
    )
    .await;
    // The same change to someone else's function is not an attack on Firebreak.
    let near = cloudtrail(
        "lambda.amazonaws.com",
        "PutFunctionConcurrency20171031",
        who(),
        json!({"functionName": "orders-api", "reservedConcurrentExecutions": 0}),
        "self-0004",
    );
    assert!(w.respond(w.config(), &near).await.is_none());
}

#[tokio::test]
async fn an_allow_written_by_a_firebreak_role_is_s1_and_the_role_is_not_contained() {
    let w = World::new().await;
    let own = w
        .config()
        .protect
        .firebreak_roles
        .iter()
        .find(|a| a.contains(":111122223333:"))
        .cloned()
        .expect("a home Firebreak role");
    let name = own.rsplit('/').next().unwrap_or_default().to_string();
    seed::role(&w.iam(), &name).await;
    let who = json!({"type": "AssumedRole", "principalId": "AROAEXAMPLEFB:contain",
        "arn": format!("arn:aws:sts::{HOME_ACCOUNT}:assumed-role/{name}/contain"), "accountId": HOME_ACCOUNT,
        "accessKeyId": "ASIAEXAMPLEFIREBRK",
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEFB", "arn": own,
            "accountId": HOME_ACCOUNT, "userName": name}}});
    let allow = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]});
    let r = s1_paged(
        &w,
        &cloudtrail(
            "iam.amazonaws.com",
            "PutUserPolicy",
            who,
            json!({"userName": "reporting", "policyName": "read", "policyDocument": allow.to_string()}),
            "self-0005",
        ),
        "firebreak-writes-allow",
    )
    .await;
    assert!(
        r.outcomes.iter().all(|o| o.kind != "revoke_role_sessions"),
        "{:?}",
        r.outcomes
    );
    assert!(
        w.role_policies(&name).await.is_empty(),
        "Firebreak's own role was contained"
    );
}
