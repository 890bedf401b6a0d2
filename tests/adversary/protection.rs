//! Item 2: protection is by exact identity, never by a name an attacker can choose, judged on
//! one canonical ARN (a session's role, a federated session's issuing user, the path IAM
//! holds), by the same function at triage and in the executor's guard.

use firebreak_testbed::moto::{HOME_ACCOUNT, MEMBER_ACCOUNT};
use firebreak_testbed::{event, seed};
use serde_json::{Value, json};

use firebreak_testbed::world::{World, cloudtrail, iam_user};

/// GuardDuty's finding about a session of role `name` in the home account, first emit.
fn role_finding(name: &str, finding_id: &str) -> Value {
    let mut e = event("gd-iam-instance-credential-exfiltration-outside-aws.json");
    e["detail"]["id"] = finding_id.into();
    e["detail"]["service"]["count"] = 1.into();
    e["detail"]["resource"]["accessKeyDetails"]["userName"] = name.into();
    e
}

async fn role_with_path(w: &World, path: &str, name: &str) {
    w.iam()
        .create_role()
        .path(path)
        .role_name(name)
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#)
        .send()
        .await
        .expect("create role");
}

#[tokio::test]
async fn a_name_that_looks_like_firebreaks_is_contained_and_firebreaks_own_role_is_not() {
    let w = World::new().await;
    // The project configuration names Firebreak's roles by exact ARN.
    let own = "firebreak-ContainRole";
    assert!(
        w.config()
            .protect
            .firebreak_roles
            .iter()
            .any(|a| a.ends_with(&format!(":role/{own}")))
    );
    for name in ["FirebreakBackdoor", "firebreak-ops", own] {
        seed::role(&w.iam(), name).await;
    }
    for (i, name) in ["FirebreakBackdoor", "firebreak-ops"]
        .into_iter()
        .enumerate()
    {
        let (_, r) = w
            .respond(w.config(), &role_finding(name, &format!("backdoor{i}")))
            .await
            .expect("an incident");
        assert!(!r.any_failed(), "{:?}", r.outcomes);
        assert_eq!(
            w.role_policies(name).await,
            ["AWSRevokeOlderSessions"],
            "{name} evaded containment"
        );
    }
    let (incident, _) = w
        .respond(w.config(), &role_finding(own, "own0"))
        .await
        .expect("an incident");
    assert!(
        incident
            .notes
            .iter()
            .any(|n| n.contains("one of Firebreak's own roles")),
        "{:?}",
        incident.notes
    );
    assert!(
        w.role_policies(own).await.is_empty(),
        "Firebreak's own role was contained"
    );
}

#[tokio::test]
async fn a_protected_role_with_a_path_is_never_revoked_whoever_names_it_without_one() {
    let w = World::new().await;
    role_with_path(&w, "/ops/", "Deployer").await;
    role_with_path(&w, "/ops/", "Releaser").await;
    // A literal pattern protects at triage even though GuardDuty names no path.
    let mut literal = w.config();
    literal.protect.allow = vec![format!("arn:aws:iam::{HOME_ACCOUNT}:role/ops/Deployer")];
    let (incident, _) = w
        .respond(literal, &role_finding("Deployer", "path0"))
        .await
        .expect("an incident");
    assert!(
        !incident.plan.iter().any(|p| p.action.is_containment()),
        "{:?}",
        incident.plan
    );
    assert!(w.role_policies("Deployer").await.is_empty());
    // A pattern over the path cannot be judged without it: triage plans the revocation, and the
    // executor's guard reads the role's real ARN from IAM and refuses it.
    let mut under = w.config();
    under.protect.allow = vec![format!("arn:aws:iam::{HOME_ACCOUNT}:role/ops/*")];
    let (incident, r) = w
        .respond(under, &role_finding("Releaser", "path1"))
        .await
        .expect("an incident");
    assert!(
        incident
            .plan
            .iter()
            .any(|p| p.action.kind() == "revoke_role_sessions")
    );
    let revoke = r
        .outcomes
        .iter()
        .find(|o| o.kind == "revoke_role_sessions")
        .expect("an outcome");
    match &revoke.status {
        firebreak_core::Status::Skipped { why } => {
            assert!(
                why.contains("role/ops/Releaser") && why.contains("allow-list"),
                "{why}"
            )
        }
        other => panic!("the guard let it through: {other:?}"),
    }
    assert!(
        w.role_policies("Releaser").await.is_empty(),
        "a protected role was revoked"
    );
}

#[tokio::test]
async fn a_federated_session_of_an_allow_listed_user_contains_nobody() {
    let w = World::new().await;
    let iam = w.iam();
    iam.create_user()
        .path("/automation/")
        .user_name("ops-automation")
        .send()
        .await
        .expect("user");
    let federated = json!({"type": "FederatedUser", "principalId": format!("{HOME_ACCOUNT}:nightly"),
        "arn": format!("arn:aws:sts::{HOME_ACCOUNT}:federated-user/nightly"), "accountId": HOME_ACCOUNT,
        "accessKeyId": "ASIAEXAMPLEFEDERATED",
        "sessionContext": {"sessionIssuer": {"type": "IAMUser", "principalId": "AIDAEXAMPLEOPS",
            "arn": format!("arn:aws:iam::{HOME_ACCOUNT}:user/automation/ops-automation"),
            "accountId": HOME_ACCOUNT, "userName": "ops-automation"}}});
    let e = cloudtrail(
        "iam.amazonaws.com",
        "CreateUser",
        federated,
        json!({"userName": "shadow"}),
        "fed-0001",
    );
    let (incident, _) = w.respond(w.config(), &e).await.expect("an incident");
    assert!(
        !incident.plan.iter().any(|p| p.action.is_containment()),
        "{:?}",
        incident.plan
    );
    assert!(
        w.user_policies("ops-automation").await.is_empty(),
        "the allow-listed issuer was contained"
    );
}

#[tokio::test]
async fn a_principal_of_another_account_never_gets_its_namesake_here_contained() {
    let w = World::new().await;
    let iam = w.iam();
    let (key_here, other_here) = seed::user_with_two_keys(&iam, "alice").await;
    // alice of the member account creates a user here (a cross-account call).
    let e = cloudtrail(
        "iam.amazonaws.com",
        "CreateUser",
        iam_user(MEMBER_ACCOUNT, "alice", "AKIAEXAMPLEMEMBER01"),
        json!({"userName": "shadow"}),
        "xacct-0001",
    );
    let (incident, _) = w.respond(w.config(), &e).await.expect("an incident");
    assert!(
        !incident.plan.iter().any(|p| p.action.is_containment()),
        "{:?}",
        incident.plan
    );
    assert!(
        incident.notes.iter().any(|n| n.contains(MEMBER_ACCOUNT)),
        "{:?}",
        incident.notes
    );
    assert!(
        w.user_policies("alice").await.is_empty(),
        "alice of the home account was contained"
    );
    let keys = iam
        .list_access_keys()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    for k in keys.access_key_metadata() {
        assert_eq!(
            k.status().map(|s| s.as_str()),
            Some("Active"),
            "{key_here} {other_here}"
        );
    }
}
