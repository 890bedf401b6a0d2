//! The real `firebreak` binary: exit codes, messages, standard input.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn firebreak(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn firebreak");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().expect("exited, not killed by a signal"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn minified(file: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join(file)).unwrap()).unwrap();
    v.to_string()
}

#[test]
fn malformed_json_exits_2_naming_file_and_line_and_keeps_planning_the_rest() {
    let good = minified("events/ct-cloudtrail-stop-logging.json");
    let ndjson = format!(
        "{good}\n{{\"detail-type\": \"GuardDuty Finding\", \"detail\": {{\"id\": 1\n{good}\n"
    );
    let (code, out, err) = firebreak(
        &["plan", "--json", "--config", "infra/firebreak.toml", "-"],
        &ndjson,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("firebreak: -:2:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "one object per input event");
    assert_eq!(lines[0]["severity"], "S1");
    assert!(lines[1]["error"].is_string());
    assert_eq!(lines[2]["severity"], "S1");
}

#[test]
fn a_missing_field_is_named() {
    let mut v: serde_json::Value =
        serde_json::from_str(&minified("events/gd-ec2-bitcoin-tool-dns.json")).unwrap();
    v["detail"]["resource"]
        .as_object_mut()
        .unwrap()
        .remove("resourceType");
    let (code, _, err) = firebreak(&["plan", "-"], &v.to_string());
    assert_eq!(code, 2);
    assert!(
        err.contains("detail.resource: missing field `resourceType`"),
        "{err}"
    );
}

#[test]
fn not_json_at_all_exits_2() {
    let (code, out, err) = firebreak(&["plan", "-"], "this is not an event\n");
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.starts_with("firebreak: -:1:"), "{err}");
}

#[test]
fn a_missing_file_exits_2() {
    let (code, _, err) = firebreak(&["plan", "events/no-such-file.json"], "");
    assert_eq!(code, 2);
    assert!(err.contains("no-such-file.json"), "{err}");
}

#[test]
fn a_bad_config_exits_2_naming_the_key() {
    let dir = std::env::temp_dir().join(format!("firebreak-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bad.toml");
    std::fs::write(&config, "[evidence]\nretention_days = 7\n").unwrap();
    let (code, _, err) = firebreak(
        &[
            "plan",
            "--config",
            config.to_str().unwrap(),
            "events/ct-cloudtrail-stop-logging.json",
        ],
        "",
    );
    assert_eq!(code, 2);
    assert!(err.contains("evidence.retention_days"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn text_output_shows_the_plan() {
    let (code, out, _) = firebreak(
        &[
            "plan",
            "--config",
            "infra/firebreak.toml",
            "events/ct-root-console-sign-in-no-mfa.json",
        ],
        "",
    );
    assert_eq!(code, 0);
    assert!(out.contains("S1 new incident"), "{out}");
    assert!(out.contains("Root console sign-in without MFA"), "{out}");
    assert!(out.contains("preserve_evidence"), "{out}");
    assert!(out.contains("human: "), "{out}");
}

#[test]
fn rules_prints_every_ioc() {
    let (code, out, _) = firebreak(&["rules", "--json"], "");
    assert_eq!(code, 0);
    let rules: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert!(rules.iter().any(|r| r["name"] == "cloudtrail-stopped"));
    let (code, out, _) = firebreak(&["rules"], "");
    assert_eq!(code, 0);
    assert!(out.contains("Severity policy"));
}
