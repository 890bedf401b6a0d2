//! Every file in events/ gives the outcome events/README.md states for it, through the same code
//! path as `firebreak plan --json` (the CLI's `run`, in-process).

use std::collections::BTreeMap;
use std::path::Path;

use firebreak_testbed::{firebreak, repo};
use serde_json::Value;

#[derive(Debug, PartialEq)]
enum Expected {
    Ignored,
    Incident {
        severity: String,
        iocs: Vec<String>,
        actions: Vec<String>,
    },
}

/// Rows of the index: file → expected outcome.
fn index() -> BTreeMap<String, Expected> {
    let text = std::fs::read_to_string(repo().join("events/README.md")).expect("events/README.md");
    let mut rows = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let file = cells[0].trim_matches('`').to_string();
        let expected = cells.last().expect("expected column");
        let parsed = if expected.starts_with("ignored") {
            Expected::Ignored
        } else {
            let parts: Vec<&str> = expected.split(" · ").collect();
            let list = |prefix: &str| -> Vec<String> {
                parts
                    .iter()
                    .find_map(|p| p.strip_prefix(prefix))
                    .unwrap_or_else(|| panic!("{file}: no `{prefix}` in {expected:?}"))
                    .split(", ")
                    .map(|s| s.trim().to_string())
                    .collect()
            };
            Expected::Incident {
                severity: parts[0].to_string(),
                iocs: list("iocs: "),
                actions: list("actions: "),
            }
        };
        assert!(
            rows.insert(file.clone(), parsed).is_none(),
            "{file} is listed twice"
        );
    }
    rows
}

fn corpus_files() -> Vec<String> {
    let mut out = Vec::new();
    let root = repo().join("events");
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(
                    path.strip_prefix(&root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

fn plan(path: &Path) -> Value {
    let config = repo().join("infra/firebreak.toml");
    let (code, out, err) = firebreak(
        &[
            "plan",
            "--json",
            "--config",
            config.to_str().unwrap(),
            path.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 0, "{}: {err}", path.display());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{}: one event, one line", path.display());
    serde_json::from_str(lines[0]).unwrap()
}

#[test]
fn every_event_file_is_indexed_and_every_row_has_a_file() {
    let index = index();
    let files = corpus_files();
    let unlisted: Vec<_> = files
        .iter()
        .filter(|f| !index.contains_key(*f) && !index.contains_key(f.rsplit('/').next().unwrap()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "files without an expected outcome in events/README.md: {unlisted:?}"
    );
    let orphans: Vec<_> = index
        .keys()
        .filter(|row| {
            !files
                .iter()
                .any(|f| f == *row || f.rsplit('/').next() == Some(row.as_str()))
        })
        .collect();
    assert!(
        orphans.is_empty(),
        "rows of events/README.md with no file: {orphans:?}"
    );
    assert!(
        files.len() >= 30 + 6,
        "the corpus has {} files",
        files.len()
    );
}

#[test]
fn every_event_gives_its_indexed_outcome() {
    let files = corpus_files();
    let mut failures = Vec::new();
    let mut incidents = 0;
    for (name, expected) in index() {
        let path = files
            .iter()
            .find(|f| **f == name || f.rsplit('/').next() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("{name} is in the index but not in events/"));
        let got = plan(&repo().join("events").join(path));
        let actual = if got["ignored"] == true {
            Expected::Ignored
        } else {
            incidents += 1;
            let strings = |v: &Value, key: &str| -> Vec<String> {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| {
                        if key.is_empty() {
                            x.as_str().unwrap().to_string()
                        } else {
                            x[key].as_str().unwrap().to_string()
                        }
                    })
                    .collect()
            };
            Expected::Incident {
                severity: got["severity"].as_str().unwrap().to_string(),
                iocs: strings(&got["iocs"], ""),
                actions: strings(&got["actions"], "kind"),
            }
        };
        if actual != expected {
            failures.push(format!(
                "{name}:\n  expected {expected:?}\n  got      {actual:?}\n  ({})",
                got["reason"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(incidents >= 30, "only {incidents} incidents in the corpus");
}

#[test]
fn guardduty_sample_findings_are_all_ignored() {
    let config = repo().join("infra/firebreak.toml");
    let dir = repo().join("events/samples/guardduty");
    let (code, out, err) = firebreak(
        &[
            "plan",
            "--json",
            "--config",
            config.to_str().unwrap(),
            dir.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 6);
    for line in &lines {
        assert_eq!(line["ignored"], true, "{line}");
        assert!(
            line["reason"].as_str().unwrap().contains("sample"),
            "{line}"
        );
        assert_eq!(line["incident_id"], Value::Null);
    }
}

#[test]
fn reemitted_finding_is_an_update_of_the_same_incident() {
    let first = plan(&repo().join("events/gd-ec2-bitcoin-tool-dns.json"));
    let again = plan(&repo().join("events/gd-ec2-bitcoin-tool-dns-reemitted.json"));
    assert_eq!(first["incident_id"], again["incident_id"]);
    assert_eq!(first["update"], false);
    assert_eq!(again["update"], true);
}
