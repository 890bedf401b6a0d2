//! Property tests: whatever JSON arrives, triage answers with a decision or an error, never a
//! panic. Two sources of input: arbitrary JSON in real envelopes, and mutations of the corpus.

use std::path::PathBuf;
use std::sync::OnceLock;

use firebreak_core::{Config, Triage};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn triage() -> &'static Triage {
    static TRIAGE: OnceLock<Triage> = OnceLock::new();
    TRIAGE.get_or_init(build_triage)
}

fn build_triage() -> Triage {
    let text =
        std::fs::read_to_string(repo().join("infra/firebreak.toml")).expect("infra/firebreak.toml");
    let mut config = Config::from_toml(&text).expect("valid config");
    // Drills on, so sample findings go through the whole planner too.
    config.drills.enabled = true;
    Triage::new(config).expect("rules")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn corpus() -> &'static [Value] {
    static CORPUS: OnceLock<Vec<Value>> = OnceLock::new();
    CORPUS.get_or_init(read_corpus)
}

fn read_corpus() -> Vec<Value> {
    let mut out = Vec::new();
    let mut dirs = vec![repo().join("events")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("events/").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).expect("readable");
                out.push(serde_json::from_str(&text).expect("corpus files are JSON"));
            }
        }
    }
    assert!(!out.is_empty(), "the corpus is empty");
    out
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        // Field names and values the planner looks for, so arbitrary trees reach deep code.
        prop::sample::select(vec![
            "Root",
            "IAMUser",
            "AssumedRole",
            "FederatedUser",
            "AccessKey",
            "Instance",
            "S3Bucket",
            "AKIAABCDEFGHIJKLMNOP",
            "ASIA0000",
            "ConsoleLogin",
            "Success",
            "us-east-1",
            "cn-north-1",
            "2026-11-23T03:00:00Z",
            "PUBLIC",
            "StopLogging",
            "cloudtrail.amazonaws.com",
            "",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        let keys = prop::sample::select(vec![
            "type",
            "id",
            "severity",
            "resource",
            "resourceType",
            "accessKeyDetails",
            "userType",
            "userName",
            "accessKeyId",
            "instanceDetails",
            "instanceId",
            "iamInstanceProfile",
            "arn",
            "s3BucketDetails",
            "name",
            "publicAccess",
            "effectivePermission",
            "service",
            "count",
            "additionalInfo",
            "sample",
            "archived",
            "accountId",
            "region",
            "createdAt",
            "userIdentity",
            "eventSource",
            "eventName",
            "eventID",
            "awsRegion",
            "errorCode",
            "requestParameters",
            "responseElements",
            "additionalEventData",
            "invokedBy",
            "sessionContext",
            "sessionIssuer",
            "instancesSet",
            "items",
            "imageId",
            "assumeRolePolicyDocument",
            "eventSelectors",
            "enable",
            "userPoolId",
            "username",
            "userSub",
            "recipientAccountId",
            "eventType",
            "x",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..8).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

fn detail_type() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "GuardDuty Finding",
        "AWS API Call via CloudTrail",
        "AWS Console Sign In via CloudTrail",
        "AWS Service Event via CloudTrail",
        "Something Else",
    ])
    .prop_map(str::to_string)
}

/// One random edit somewhere in a JSON tree.
#[derive(Debug, Clone)]
enum Mutation {
    Remove,
    Replace(Value),
    Truncate(usize),
}

fn mutate(value: &mut Value, path: &[usize], m: &Mutation) {
    fn children(v: &mut Value) -> Vec<&mut Value> {
        match v {
            Value::Object(map) => map.values_mut().collect(),
            Value::Array(list) => list.iter_mut().collect(),
            _ => Vec::new(),
        }
    }
    let Some((&step, rest)) = path.split_first() else {
        if let Mutation::Replace(new) = m {
            *value = new.clone();
        }
        return;
    };
    let len = children(value).len();
    if len == 0 {
        if let Mutation::Replace(new) = m {
            *value = new.clone();
        }
        return;
    }
    let i = step % len;
    if rest.is_empty() && matches!(m, Mutation::Remove) {
        match value {
            Value::Object(map) => {
                let key = map.keys().nth(i).cloned();
                if let Some(key) = key {
                    map.remove(&key);
                }
            }
            Value::Array(list) => {
                list.remove(i);
            }
            _ => {}
        }
        return;
    }
    if let Some(child) = children(value).into_iter().nth(i) {
        mutate(child, rest, m);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        let _ = triage().triage_json(&text);
    }

    #[test]
    fn arbitrary_json_in_an_envelope_never_panics(detail in arb_json(), dt in detail_type(), account in prop::option::of("[0-9]{12}")) {
        let mut env = json!({"version": "0", "id": "x", "detail-type": dt, "source": "aws.test", "region": "us-east-1", "time": "2026-11-23T03:00:00Z", "resources": [], "detail": detail});
        if let Some(a) = account { env["account"] = json!(a); }
        let _ = triage().triage_json(&env.to_string());
    }

    #[test]
    fn mutated_corpus_never_panics(
        pick in any::<prop::sample::Index>(),
        path in prop::collection::vec(any::<usize>(), 1..7),
        which in 0u8..3,
        replacement in arb_json(),
        cut in any::<usize>(),
    ) {
        let corpus = corpus();
        let mut event = corpus[pick.index(corpus.len())].clone();
        let m = match which {
            0 => Mutation::Remove,
            1 => Mutation::Replace(replacement),
            _ => Mutation::Truncate(cut),
        };
        let t = triage();
        if let Mutation::Truncate(at) = m {
            let text = event.to_string();
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) { at -= 1; }
            let _ = t.triage_json(&text[..at]);
        } else {
            mutate(&mut event, &path, &m);
            let _ = t.triage_json(&event.to_string());
        }
    }
}
