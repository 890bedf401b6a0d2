//! Item 7 (triage's half): a flood of refused or anonymous calls, or of low-severity records,
//! does not open an incident (and lock its evidence for 90 days) per call: they aggregate into
//! one incident per rule, principal and hour, each further event an update of it.

use std::collections::BTreeSet;

use firebreak_testbed::moto::HOME_ACCOUNT;
use serde_json::{Value, json};

use firebreak_testbed::world::{World, cloudtrail, iam_user};

fn collector() -> firebreak_aws::Collector {
    firebreak_testbed::collector(format!(
        "arn:aws:lambda:us-east-1:{HOME_ACCOUNT}:function:firebreak-triage"
    ))
}

fn refused(who: Value, i: usize, minute: usize) -> Value {
    let mut e = cloudtrail(
        "iam.amazonaws.com",
        "CreateUser",
        who,
        json!({"userName": format!("u{i}")}),
        &format!("5e0f0000-0000-4000-8000-{i:012}"),
    );
    e["detail"]["errorCode"] = "AccessDenied".into();
    e["detail"]["errorMessage"] = "User is not authorized to perform: iam:CreateUser".into();
    e["detail"]["eventTime"] = format!("2026-12-06T02:{minute:02}:00Z").into();
    e
}

#[tokio::test]
async fn a_flood_of_refused_and_anonymous_calls_opens_one_incident_per_principal_and_hour() {
    let w = World::new().await;
    let functions = w.functions().await;
    let triage = &functions["triage"];
    const CALLS: usize = 30;
    let mut ids = BTreeSet::new();
    let mut decisions = Vec::new();
    for i in 0..CALLS {
        let e = refused(
            iam_user(HOME_ACCOUNT, "mallory", "AKIAIOSFODNN7MALLORY"),
            i,
            i % 60,
        );
        let answer = triage
            .handle(&e.to_string(), collector())
            .await
            .expect("triaged");
        ids.insert(
            answer["incident_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        decisions.push(answer["decision"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(
        decisions
            .iter()
            .filter(|d| d.as_str() == "Incident Opened")
            .count(),
        1,
        "{decisions:?}"
    );
    assert_eq!(
        decisions
            .iter()
            .filter(|d| d.as_str() == "Incident Updated")
            .count(),
        CALLS - 1
    );
    // Anonymous callers (no IAM identity) aggregate the same way.
    for i in 0..5 {
        let anonymous = json!({"type": "AWSAccount", "principalId": "", "accountId": "anonymous"});
        let e = refused(anonymous, 100 + i, 10 + i);
        let answer = triage
            .handle(&e.to_string(), collector())
            .await
            .expect("triaged");
        ids.insert(
            answer["incident_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    assert_eq!(ids.len(), 2, "{ids:?}");
    // One incident prefix per aggregate in the evidence bucket, not one per call.
    let incidents: BTreeSet<String> = w
        .evidence_keys()
        .await
        .iter()
        .filter_map(|k| k.split('/').nth(1).map(str::to_string))
        .collect();
    assert_eq!(incidents, ids);
    // The next hour is a new aggregate.
    let mut late = refused(
        iam_user(HOME_ACCOUNT, "mallory", "AKIAIOSFODNN7MALLORY"),
        999,
        0,
    );
    late["detail"]["eventTime"] = "2026-12-06T03:00:00Z".into();
    let answer = triage
        .handle(&late.to_string(), collector())
        .await
        .expect("triaged");
    assert!(!ids.contains(answer["incident_id"].as_str().unwrap_or_default()));
}
