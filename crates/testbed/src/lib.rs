//! The world Firebreak's end-to-end tests, the demo and the benchmarks run in: the local AWS
//! emulator, a seeded account ([`world::World`] puts them together with a responder and the
//! deployed functions' handlers), and the CLI in-process.

use std::path::PathBuf;

pub mod browser;
pub mod cli;
pub mod clock;
pub mod deploy;
pub mod eventbridge;
pub mod faults;
pub mod lambda;
pub mod moto;
pub mod seed;
pub mod template;
pub mod trail;
pub mod wiring;
pub mod world;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Who collects evidence in a test: `identity` (a user's or a function's ARN), no request id.
pub fn collector(identity: impl Into<String>) -> firebreak_aws::Collector {
    firebreak_aws::Collector {
        identity: identity.into(),
        request_id: None,
    }
}

/// Runs the `firebreak` command line in-process; returns (exit code, stdout, stderr).
pub fn firebreak(args: &[&str], stdin: &str) -> (u8, String, String) {
    let mut argv = vec!["firebreak".to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = firebreak_cli::run(argv, &mut stdin.as_bytes(), &mut out, &mut err);
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

/// Every sample event file (`events/*.json`), in name order.
pub fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("events"))
        .expect("events/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Reads a corpus event as JSON.
pub fn event(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join("events").join(name))
        .unwrap_or_else(|e| panic!("events/{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("events/{name}: {e}"))
}

/// The IAM-user GuardDuty finding of the corpus, about `user`'s `key` in `account` (us-east-1),
/// as a first emit.
pub fn iam_user_finding(user: &str, key: &str, account: &str) -> serde_json::Value {
    let mut e = event("gd-iam-user-malicious-ip-caller-custom.json");
    e["account"] = account.into();
    e["region"] = "us-east-1".into();
    e["detail"]["accountId"] = account.into();
    e["detail"]["region"] = "us-east-1".into();
    e["detail"]["resource"]["accessKeyDetails"]["userName"] = user.into();
    e["detail"]["resource"]["accessKeyDetails"]["accessKeyId"] = key.into();
    e["detail"]["service"]["count"] = 1.into();
    e
}

/// Asserts that of `user`'s keys exactly `inactive` is Inactive and every other one Active.
pub async fn assert_only_key_inactive(iam: &aws_sdk_iam::Client, user: &str, inactive: &str) {
    let keys = iam
        .list_access_keys()
        .user_name(user)
        .send()
        .await
        .expect("list keys");
    assert!(
        keys.access_key_metadata().len() >= 2,
        "{user} should have two keys"
    );
    for k in keys.access_key_metadata() {
        let want = if k.access_key_id() == Some(inactive) {
            "Inactive"
        } else {
            "Active"
        };
        assert_eq!(
            k.status().map(|s| s.as_str()),
            Some(want),
            "{:?} of {user}",
            k.access_key_id()
        );
    }
}

/// `s` with its `%XX` escapes decoded (IAM returns policy documents URL-encoded).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// The instance finding `event` with the instance's `aws:autoscaling:groupName` tag left out
/// (and every other tag kept): an instance in no Auto Scaling group.
pub fn without_auto_scaling_group(event: &mut serde_json::Value) {
    let details = &mut event["detail"]["resource"]["instanceDetails"];
    let tags: Vec<serde_json::Value> = details["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["key"] != "aws:autoscaling:groupName")
        .cloned()
        .collect();
    details["tags"] = serde_json::Value::Array(tags);
}
