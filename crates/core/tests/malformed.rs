//! The committed corpus of malformed and hostile events, `tests/malformed/`: every file is parsed
//! and triaged, and must give the refusal (an error naming the problem) or the explicit
//! `Ignored` decision the table below states. Never a panic, never an incident. The table and the
//! folder must list the same files, so neither can drift from the other.
//! `tests/malformed/README.md` says why each expectation is the right one.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use firebreak_core::{Config, Decision, Error, Event, MAX_EVENT_BYTES, Triage};

/// What a file must produce.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// An error whose message contains this text.
    Refused(&'static str),
    /// `Decision::Ignored` whose reason contains this text.
    Ignored(&'static str),
}

use Expect::{Ignored, Refused};

/// Every file of `tests/malformed/` and what it must produce.
#[rustfmt::skip]
const EXPECTED: &[(&str, Expect)] = &[
    // Not one JSON object.
    ("empty-file.json", Refused("EOF while parsing a value")),
    ("null.json", Refused("invalid type: null")),
    ("bare-array-of-one-event.json", Refused("invalid type: sequence")),
    ("two-events-concatenated.json", Refused("trailing characters")),
    ("truncated-gd-finding.json", Refused("EOF while parsing")),
    ("truncated-ct-record-mid-string.json", Refused("EOF while parsing a string")),
    // The envelope.
    ("empty-object.json", Refused("missing field `detail-type`")),
    ("detail-missing.json", Refused("missing field `detail`")),
    ("detail-is-a-string.json", Refused("detail: invalid type: string")),
    ("detail-type-is-a-number.json", Refused("detail-type: invalid type: integer")),
    ("detail-type-unknown.json", Refused("is not consumed by Firebreak")),
    ("detail-type-nul-escape.json", Refused("is not consumed by Firebreak")),
    ("detail-type-duplicate-key.json", Refused("duplicate field `detail-type`")),
    ("detail-type-huge-string-under-limit.json", Refused("is not consumed by Firebreak")),
    // GuardDuty findings.
    ("gd-severity-is-a-string.json", Refused("detail.severity: invalid type: string")),
    ("gd-severity-overflow-1e400.json", Refused("detail.severity: number out of range")),
    ("gd-severity-duplicate-key.json", Refused("duplicate field `severity`")),
    ("gd-count-negative.json", Refused("detail.service.count: invalid value")),
    ("gd-deep-nesting-10000-arrays.json", Refused("recursion limit exceeded")),
    ("gd-partition-aws-cn-in-us-east-1.json", Refused("detail.partition: aws-cn is not the partition")),
    ("gd-partition-made-up.json", Refused("detail.partition: aws-mars is not the partition")),
    ("gd-instance-profile-arn-aws-us-gov.json", Refused("is in partition aws-us-gov")),
    // CloudTrail records.
    ("ct-user-identity-is-an-array.json", Refused("detail.userIdentity[0]: invalid type")),
    ("ct-resources-is-an-object.json", Refused("detail.resources: invalid type: map")),
    ("ct-user-identity-arn-aws-cn.json", Refused("is in partition aws-cn")),
    ("ct-user-identity-arn-made-up-partition.json", Refused("is in partition aws-mars")),
    ("ct-session-issuer-arn-aws-us-gov.json", Refused("sessionIssuer.arn: arn:aws-us-gov")),
    ("ct-user-identity-arn-names-another-user.json", Refused("is not the ARN of user ops-automation")),
    ("ct-lone-surrogate-escape.json", Refused("detail.userIdentity.userName: unexpected end of hex escape")),
    ("ct-lone-surrogate-in-request-parameters.json", Refused("detail.requestParameters.policyDocument")),
    ("ct-nul-byte-raw-in-string.json", Refused("control character")),
    ("ct-event-name-nul-escape.json", Ignored("matches no rule")),
    ("ct-deep-nesting-request-parameters.json", Refused("recursion limit exceeded")),
];

/// Longest error message or reason accepted: hostile input must not be echoed whole.
const MAX_MESSAGE_BYTES: usize = 1024;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn corpus_dir() -> PathBuf {
    repo().join("tests/malformed")
}

/// The two configurations every file is judged under: the built-in default, and the one the
/// demo and the event corpus use (it protects `arn:aws:iam::*:user/ops-automation`).
fn triages() -> Vec<(&'static str, Triage)> {
    let text =
        std::fs::read_to_string(repo().join("infra/firebreak.toml")).expect("infra/firebreak.toml");
    let project = Config::from_toml(&text).expect("valid config");
    vec![
        (
            "Config::default()",
            Triage::new(Config::default()).expect("rules"),
        ),
        ("infra/firebreak.toml", Triage::new(project).expect("rules")),
    ]
}

/// Parses, then triages: the public path, as the triage function runs it.
fn run(triage: &Triage, text: &str) -> Result<Decision, Error> {
    let event = Event::parse(text)?;
    triage.triage(&event)
}

/// Checks one input against its expectation; `Err` says what went wrong.
fn check(triage: &Triage, text: &str, expect: Expect) -> Result<(), String> {
    let outcome =
        catch_unwind(AssertUnwindSafe(|| run(triage, text))).map_err(|_| "panicked".to_string())?;
    match (outcome, expect) {
        (Err(e), Refused(needle)) => {
            let message = e.to_string();
            if message.is_empty() || !message.contains(needle) {
                return Err(format!("error {message:?} does not contain {needle:?}"));
            }
            if message.len() > MAX_MESSAGE_BYTES {
                return Err(format!("error message is {} bytes", message.len()));
            }
            Ok(())
        }
        (Ok(Decision::Ignored { reason }), Ignored(needle)) => {
            if !reason.contains(needle) || reason.len() > MAX_MESSAGE_BYTES {
                return Err(format!("ignored for {reason:?}, expected {needle:?}"));
            }
            Ok(())
        }
        (Ok(Decision::Incident(i)), _) => Err(format!(
            "acted on: {} {} with plan {:?}",
            i.severity,
            i.title,
            i.plan.iter().map(|a| a.action.kind()).collect::<Vec<_>>()
        )),
        (Ok(Decision::Ignored { reason }), Refused(needle)) => Err(format!(
            "ignored ({reason}), expected an error containing {needle:?}"
        )),
        (Err(e), Ignored(needle)) => Err(format!("error {e}, expected ignored ({needle:?})")),
    }
}

fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("tests/malformed/")
        .map(|entry| entry.expect("readable entry").file_name())
        .map(|name| name.into_string().expect("UTF-8 file name"))
        .filter(|name| name != "README.md")
        .collect()
}

#[test]
fn the_table_lists_every_file_and_only_files_that_exist() {
    let on_disk = files_in(&corpus_dir());
    let listed: BTreeSet<String> = EXPECTED.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(listed.len(), EXPECTED.len(), "a file is listed twice");
    let unlisted: Vec<_> = on_disk.difference(&listed).collect();
    let missing: Vec<_> = listed.difference(&on_disk).collect();
    assert!(
        unlisted.is_empty() && missing.is_empty(),
        "tests/malformed/ and the table in tests/malformed.rs differ: \
         not in the table {unlisted:?}, not on disk {missing:?}"
    );
}

#[test]
fn the_readme_lists_every_file() {
    let readme =
        std::fs::read_to_string(corpus_dir().join("README.md")).expect("tests/malformed/README.md");
    for (file, _) in EXPECTED {
        assert!(
            readme.contains(&format!("`{file}`")),
            "README.md does not list {file}"
        );
    }
}

#[test]
fn every_malformed_event_is_refused_or_ignored_never_acted_on() {
    let triages = triages();
    let mut failures = Vec::new();
    for (file, expect) in EXPECTED {
        let path = corpus_dir().join(file);
        // EventBridge delivers text: every file is UTF-8 (raw NUL bytes included).
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            text.len() <= MAX_EVENT_BYTES,
            "{file}: commit only inputs under the limit"
        );
        for (config, triage) in &triages {
            if let Err(why) = check(triage, &text, *expect) {
                failures.push(format!("{file} ({config}): {why}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_event_one_byte_over_the_limit_is_refused_before_parsing() {
    // Padding after a real event: valid JSON, so only the size can refuse it.
    let event =
        std::fs::read_to_string(repo().join("events/gd-iam-user-malicious-ip-caller-custom.json"))
            .expect("a corpus event");
    let mut text = event.clone();
    text.push_str(&" ".repeat(MAX_EVENT_BYTES + 1 - event.len()));
    assert_eq!(text.len(), 256 * 1024 + 1);
    for (config, triage) in &triages() {
        let outcome = catch_unwind(AssertUnwindSafe(|| run(triage, &text)));
        match outcome {
            Ok(Err(Error::TooLarge(bytes))) => assert_eq!(bytes, MAX_EVENT_BYTES + 1, "{config}"),
            Ok(other) => panic!("{config}: expected TooLarge, got {other:?}"),
            Err(_) => panic!("{config}: panicked"),
        }
        let message = run(triage, &text).unwrap_err().to_string();
        assert!(
            message.contains("262145 bytes") && message.contains("262144"),
            "{message}"
        );
    }
    // At the limit exactly, the same event is read.
    text.pop();
    assert!(Event::parse(&text).is_ok());
}
