//! The evidence bucket's policy, read from `infra/template.yaml` (the emulator evaluates no bucket
//! policy condition but `StringEquals`, and the template's policy there would refuse all object
//! I/O, so the document is checked here and kept off the emulator's bucket): every object write
//! that is not a conditional create is refused, only Firebreak's roles and the named responder
//! roles write, and deletion stays denied for everyone.

use std::collections::BTreeSet;

use firebreak_testbed::template::{references, texts};
use firebreak_testbed::world::World;
use firebreak_testbed::{seed, template};
use serde_yaml::Value;

/// The statements of `EvidenceBucketPolicy`.
fn statements() -> Vec<Value> {
    let t = template::load();
    let policy = &t["Resources"]["EvidenceBucketPolicy"];
    assert_eq!(policy["Type"].as_str(), Some("AWS::S3::BucketPolicy"));
    policy["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("a list of statements")
        .clone()
}

fn denies(s: &Value, action: &str) -> bool {
    s["Effect"].as_str() == Some("Deny")
        && s["Principal"].as_str() == Some("*")
        && texts(&s["Action"]).iter().any(|a| a == action)
}

/// The resource of every statement below covers the objects: `${EvidenceBucket.Arn}/*`.
fn covers_objects(s: &Value) -> bool {
    let text = serde_yaml::to_string(&s["Resource"]).unwrap_or_default();
    text.contains("${EvidenceBucket.Arn}/*")
}

#[test]
fn every_object_write_must_be_a_conditional_create() {
    let statements = statements();
    let conditional: Vec<&Value> = statements
        .iter()
        .filter(|s| denies(s, "s3:PutObject") && !s["Condition"]["Null"].is_null())
        .collect();
    assert_eq!(conditional.len(), 1, "one conditional-create deny");
    let s = conditional[0];
    assert!(covers_objects(s), "{s:?}");
    // Denied when the If-None-Match header is absent ...
    assert_eq!(
        s["Condition"]["Null"]["s3:if-none-match"].as_str(),
        Some("true"),
        "{s:?}"
    );
    // ... on every operation that creates an object (PutObject, CompleteMultipartUpload,
    // CopyObject); multipart parts, which take no conditional header, are exempt.
    assert_eq!(
        s["Condition"]["Bool"]["s3:ObjectCreationOperation"].as_str(),
        Some("true"),
        "{s:?}"
    );
    // Nothing else in the condition could narrow the deny.
    let keys: Vec<String> = s["Condition"]
        .as_mapping()
        .expect("condition")
        .keys()
        .filter_map(|k| k.as_str().map(String::from))
        .collect();
    assert_eq!(keys, ["Null", "Bool"]);
    assert!(s["NotAction"].is_null() && s["NotPrincipal"].is_null());
}

#[test]
fn only_firebreaks_roles_and_the_named_responders_write_evidence() {
    let t = template::load();
    let roles: BTreeSet<String> = t["Resources"]
        .as_mapping()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::IAM::Role"))
        .map(|(id, _)| format!("GetAtt {}.Arn", id.as_str().expect("id")))
        .collect();
    assert_eq!(roles.len(), 9, "{roles:?}");
    let statements = statements();
    let writers: Vec<&Value> = statements
        .iter()
        .filter(|s| denies(s, "s3:PutObject") && !s["Condition"]["ArnNotLike"].is_null())
        .collect();
    assert_eq!(writers.len(), 1, "one writers' deny");
    let s = writers[0];
    assert!(covers_objects(s), "{s:?}");
    let actions = texts(&s["Action"]);
    for write in [
        "s3:PutObject",
        "s3:PutObjectRetention",
        "s3:PutObjectLegalHold",
        "s3:PutObjectTagging",
        "s3:PutObjectAcl",
    ] {
        assert!(actions.iter().any(|a| a == write), "{write} not denied");
    }
    let allowed = &s["Condition"]["ArnNotLike"]["aws:PrincipalArn"];
    let named = references(allowed);
    // Every Firebreak role is named but the hunt map's, which only reads its manifests, and the
    // quarantine role, which denies everything; nothing but Firebreak's roles and the parameter.
    let mut expected = roles.clone();
    assert!(expected.remove("GetAtt HuntStateMachineRole.Arn"));
    assert!(expected.remove("GetAtt QuarantineRole.Arn"));
    expected.insert("Ref ResponderRoleArns".into());
    expected.insert("Ref AWS::NoValue".into());
    assert_eq!(named, expected);
    // The responders are named only when the parameter is set.
    let text = serde_yaml::to_string(allowed).unwrap_or_default();
    assert!(text.contains("HasResponders"), "{text}");
}

#[test]
fn a_deploy_can_change_the_retention_and_anyone_else_changing_it_is_s1() {
    // Denied to everyone, CloudFormation would fail every update of EvidenceRetentionDays or
    // EvidenceLockMode.
    assert!(
        !statements()
            .iter()
            .any(|s| denies(s, "s3:PutBucketObjectLockConfiguration") && s["Condition"].is_null()),
        "the bucket policy refuses the lock configuration to CloudFormation too"
    );
    // The change is detected instead: the API's CloudTrail name is PutObjectLockConfiguration.
    let rules = firebreak_core::RuleSet::builtin().expect("the built-in rules");
    let rule = rules
        .rules()
        .iter()
        .find(|r| r.name == "firebreak-evidence-bucket-changed")
        .expect("the evidence-bucket rule");
    assert!(
        rule.events
            .iter()
            .any(|e| e == "PutObjectLockConfiguration"),
        "{:?}",
        rule.events
    );
}

#[test]
fn deletion_stays_denied_to_everyone() {
    let statements = statements();
    let delete: Vec<&Value> = statements
        .iter()
        .filter(|s| denies(s, "s3:DeleteObjectVersion"))
        .collect();
    assert_eq!(delete.len(), 1);
    let s = delete[0];
    let actions = texts(&s["Action"]);
    for a in [
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:PutLifecycleConfiguration",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} not denied");
    }
    assert!(
        s["Condition"].is_null(),
        "deletion is denied unconditionally"
    );
    assert!(covers_objects(s), "{s:?}");
}

/// The emulator's evidence bucket carries no bucket policy: the emulator would apply the
/// conditions it does not understand as refusals of all object I/O.
#[tokio::test]
async fn the_policy_is_kept_off_the_emulators_bucket() {
    let world = World::new().await;
    let (sdk, stack) = (&world.sdk, &world.stack);
    let err = seed::s3_client(sdk)
        .get_bucket_policy()
        .bucket(&stack.bucket)
        .send()
        .await
        .expect_err("no bucket policy on the emulator's bucket");
    assert!(format!("{err:?}").contains("NoSuchBucketPolicy"), "{err:?}");
}
