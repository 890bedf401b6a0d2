//! A compromised Firebreak function can do as little as possible: a user is denied by attaching
//! Firebreak's own managed deny-all (which denies everything), a release detaches no other
//! policy, and no Firebreak role (of the stack or of a member account) may modify any Firebreak
//! role or policy, itself included (`infra/check_policies.py`, the check `make check-infra` runs,
//! shown to pass on the templates and to fail when one Deny is removed).

use std::path::Path;
use std::process::Command;

use firebreak_aws::{Clients, Responder};
use firebreak_core::record::release::{Change, Options};
use firebreak_core::{Config, Decision, Status, Triage};
use firebreak_testbed::moto::HOME_ACCOUNT;
use firebreak_testbed::world::World;
use firebreak_testbed::{event, percent_decode, repo, seed, template};
use serde_json::{Value, json};

fn deny_all_documents() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (file, id) in [
        ("infra/template.yaml", "FirebreakDenyAll"),
        ("infra/member-role.yaml", "DenyAll"),
    ] {
        let text = std::fs::read_to_string(repo().join(file)).expect(file);
        let t: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
        let policy = &t["Resources"][id];
        assert_eq!(
            policy["Type"].as_str(),
            Some("AWS::IAM::ManagedPolicy"),
            "{file}"
        );
        // Both create the policy under the name the functions attach (DenyPolicyName).
        let name = serde_yaml::to_string(&policy["Properties"]["ManagedPolicyName"]).unwrap();
        assert!(name.contains("DenyPolicyName"), "{file}: {name}");
        let doc = serde_json::to_value(&policy["Properties"]["PolicyDocument"]).expect("JSON");
        out.push((file.to_string(), doc));
    }
    out
}

#[test]
fn the_deny_policy_denies_everything_and_the_default_name_is_the_configs() {
    for (file, doc) in deny_all_documents() {
        let statements = doc["Statement"].as_array().expect("statements");
        assert_eq!(statements.len(), 1, "{file}");
        let s = &statements[0];
        assert_eq!(s["Effect"], "Deny", "{file}");
        assert_eq!(s["Action"], "*", "{file}");
        assert_eq!(s["Resource"], "*", "{file}");
        assert!(
            s.get("Condition").is_none()
                && s.get("NotAction").is_none()
                && s.get("NotResource").is_none(),
            "{file}: nothing may narrow it"
        );
        // The emulator's copy (tests/support/seed.rs) is the same document.
        let seeded: Value = serde_json::from_str(seed::DENY_ALL).expect("JSON");
        assert_eq!(seeded["Statement"][0]["Effect"], "Deny");
        assert_eq!(seeded["Statement"][0]["Action"], "*");
        assert_eq!(seeded["Statement"][0]["Resource"], "*");
    }
    let t = template::load();
    let default = t["Parameters"]["DenyPolicyName"]["Default"].as_str();
    assert_eq!(
        default,
        Some(Config::default().accounts.deny_policy.as_str())
    );
    let env = &t["Globals"]["Function"]["Environment"]["Variables"];
    assert!(!env["FIREBREAK_DENY_POLICY"].is_null());
    assert!(!env["FIREBREAK_MEMBER_PRESERVE_ROLE"].is_null());
}

/// Denying a user attaches the deny-all by ARN (no inline policy is written); releasing it
/// detaches only that policy: a record naming another managed policy (say, one an attacker wants
/// removed from someone) is refused and the policy stays attached.
#[tokio::test]
async fn deny_attaches_the_managed_deny_all_and_release_detaches_nothing_else() {
    let world = World::new().await;
    let sdk = &world.sdk;
    let iam = Clients::new(sdk).iam.get().clone();
    seed::user_with_two_keys(&iam, "mallory").await;
    let name = Config::default().accounts.deny_policy;
    let arn = firebreak_aws::service::iam::deny_policy_arn("aws", HOME_ACCOUNT, &name);
    firebreak_aws::service::iam::deny_user(&iam, "mallory", &arn)
        .await
        .expect("deny");
    let attached = |iam: aws_sdk_iam::Client| async move {
        let out = iam
            .list_attached_user_policies()
            .user_name("mallory")
            .send()
            .await
            .expect("list attached");
        out.attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(String::from))
            .collect::<Vec<_>>()
    };
    assert_eq!(attached(iam.clone()).await, std::slice::from_ref(&arn));
    let inline = iam
        .list_user_policies()
        .user_name("mallory")
        .send()
        .await
        .expect("list inline");
    assert!(inline.policy_names().is_empty(), "no inline policy written");
    // What is attached denies everything.
    let policy = iam
        .get_policy()
        .policy_arn(&arn)
        .send()
        .await
        .expect("policy");
    let version = policy
        .policy()
        .and_then(|p| p.default_version_id())
        .expect("a default version")
        .to_string();
    let doc = iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id(version)
        .send()
        .await
        .expect("version");
    let text = doc
        .policy_version()
        .and_then(|v| v.document())
        .expect("document");
    let text = percent_decode(text);
    let doc: Value = serde_json::from_str(&text).expect("JSON document");
    assert_eq!(
        doc["Statement"],
        json!([{"Sid": "DenyEverything", "Effect": "Deny", "Action": "*", "Resource": "*"}])
    );

    // Another policy on the user: a release step naming it is refused, and it stays attached.
    let other = iam
        .create_policy()
        .policy_name("AuditorGuardrail")
        .policy_document(seed::DENY_ALL)
        .send()
        .await
        .expect("policy")
        .policy()
        .and_then(|p| p.arn())
        .expect("arn")
        .to_string();
    iam.attach_user_policy()
        .user_name("mallory")
        .policy_arn(&other)
        .send()
        .await
        .expect("attach");
    let err = firebreak_aws::service::iam::detach_user_policy(&iam, "mallory", &other, &name)
        .await
        .expect_err("a foreign policy is never detached");
    assert_eq!(err.code, "NotFirebreaks");
    let mut now = attached(iam.clone()).await;
    now.sort();
    let mut both = vec![arn.clone(), other.clone()];
    both.sort();
    assert_eq!(now, both);
    // Firebreak's own detaches, once; a second time says it was not attached.
    let undone = firebreak_aws::service::iam::detach_user_policy(&iam, "mallory", &arn, &name)
        .await
        .expect("detach");
    assert!(matches!(
        undone,
        firebreak_aws::run::release::Undone::Changed(_)
    ));
    assert_eq!(attached(iam.clone()).await, [other]);
}

/// The whole path: an S1 incident about an IAM user (StopLogging) is contained by the responder,
/// which attaches the deny-all and records it; `release` detaches it again and writes no inline
/// policy either way.
#[tokio::test]
async fn an_s1_user_is_denied_by_the_attached_policy_and_released_by_detaching_it() {
    let world = World::new().await;
    let (sdk, stack) = (&world.sdk, &world.stack);
    let iam = Clients::new(sdk).iam.get().clone();
    let (key, _) = seed::user_with_two_keys(&iam, "legacy-reporting").await;
    let mut e = event("ct-cloudtrail-stop-logging.json");
    e["detail"]["userIdentity"]["accessKeyId"] = key.clone().into();
    let config = seed::config(stack);
    let triage = Triage::new(config.clone()).expect("rules");
    let Decision::Incident(incident) = triage.triage_json(&e.to_string()).expect("parses") else {
        panic!("StopLogging is an incident");
    };
    let collector =
        firebreak_testbed::collector(format!("arn:aws:iam::{HOME_ACCOUNT}:user/responder"));
    let responder = Responder::new(Clients::new(sdk), HOME_ACCOUNT, config, collector, false)
        .expect("responder");
    let response = responder.respond(&incident, &e.to_string()).await;
    let deny = response
        .outcomes
        .iter()
        .find(|o| o.kind == "deny_user")
        .expect("an S1 user is denied");
    assert!(matches!(deny.status, Status::Done { .. }), "{deny:?}");
    let arn = format!("arn:aws:iam::{HOME_ACCOUNT}:policy/FirebreakDenyAll");
    assert_eq!(
        deny.changes,
        [Change::ManagedPolicyAttached {
            user_name: "legacy-reporting".into(),
            policy_arn: arn.clone(),
        }]
    );
    let attached = |iam: aws_sdk_iam::Client| async move {
        let out = iam
            .list_attached_user_policies()
            .user_name("legacy-reporting")
            .send()
            .await
            .expect("list attached");
        out.attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(String::from))
            .collect::<Vec<_>>()
    };
    let inline = |iam: aws_sdk_iam::Client| async move {
        let out = iam
            .list_user_policies()
            .user_name("legacy-reporting")
            .send()
            .await
            .expect("list inline");
        out.policy_names().to_vec()
    };
    assert_eq!(attached(iam.clone()).await, std::slice::from_ref(&arn));
    assert_eq!(inline(iam.clone()).await, ["AWSRevokeOlderSessions"]);

    let released =
        firebreak_aws::run::release::release(&responder, &triage, &incident.id, Options::default())
            .await
            .expect("release");
    let detach = released
        .outcomes
        .iter()
        .find(|o| o.kind == "detach_user_policy")
        .expect("a detach step");
    assert!(matches!(detach.status, Status::Done { .. }), "{detach:?}");
    assert!(attached(iam.clone()).await.is_empty());
    assert!(inline(iam.clone()).await.is_empty());
}

/// Runs the policy checker on two templates: (succeeded, its output).
fn check(home: &Path, member: &Path) -> (bool, String) {
    let python = repo().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make venv`",
        python.display()
    );
    let out = Command::new(python)
        .arg(repo().join("infra/check_policies.py"))
        .arg(home)
        .arg(member)
        .output()
        .expect("run infra/check_policies.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The template without the statement `sid` (the first one of that Sid).
fn without_statement(file: &str, sid: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo().join(file)).expect(file);
    let start = text
        .find(&format!("- Sid: {sid}\n"))
        .unwrap_or_else(|| panic!("{file} has no statement {sid}"));
    let indent = text[..start].rsplit('\n').next().unwrap_or_default().len();
    // The statement ends at the next line indented no deeper than its dash.
    let mut end = text[start..]
        .find('\n')
        .map_or(text.len(), |n| start + n + 1);
    while end < text.len() {
        let line = &text[end..text[end..].find('\n').map_or(text.len(), |n| end + n)];
        let depth = line.len() - line.trim_start().len();
        if !line.trim().is_empty() && depth <= indent {
            break;
        }
        end += line.len() + 1;
    }
    let dir = std::env::temp_dir().join(format!("firebreak-privileges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(Path::new(file).file_name().expect("name"));
    std::fs::write(
        &path,
        format!("{}{}", &text[..start - indent], &text[end..]),
    )
    .expect("write");
    path
}

#[test]
fn no_firebreak_role_can_modify_a_firebreak_role() {
    let (home, member) = (
        repo().join("infra/template.yaml"),
        repo().join("infra/member-role.yaml"),
    );
    let (ok, out) = check(&home, &member);
    assert!(ok, "{out}");
    assert!(
        out.contains("ok   no Firebreak role can modify a Firebreak role or policy: 13 roles"),
        "{out}"
    );
    // The check fails when the member roles' Deny is removed: the contain role's PutRolePolicy
    // on role/* would reach itself, the preserve role and the stack's roles.
    let (ok, out) = check(
        &home,
        &without_statement(
            "infra/member-role.yaml",
            "NoFirebreakRoleOrPolicyIsModified",
        ),
    );
    assert!(!ok, "{out}");
    for role in [
        "role/FirebreakMember ",
        "role/FirebreakMemberPreserve ",
        "role/firebreak-contain ",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with("FAIL no explicit Deny")
                && l.contains("MemberRole may")
                && l.contains(role)),
            "{role}: {out}"
        );
    }
    // And when the stack's boundary Deny is removed: the contain function could rewrite itself.
    let (ok, out) = check(
        &without_statement("infra/template.yaml", "NoFirebreakRoleOrPolicyIsModified"),
        &member,
    );
    assert!(!ok, "{out}");
    assert!(
        out.lines().any(|l| l.contains("ContainRole may")
            && l.contains("iam:PutRolePolicy")
            && l.contains("role/firebreak-contain ")),
        "{out}"
    );
}
