//! Helpers shared by Firebreak's end-to-end tests: the CLI in-process, the local AWS emulator,
//! and a seeded account.

use std::path::PathBuf;

pub mod moto;
pub mod seed;

/// The repository root (tests run with the crate directory as working directory).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
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

/// Reads a corpus event as JSON.
pub fn event(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join("events").join(name))
        .unwrap_or_else(|e| panic!("events/{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("events/{name}: {e}"))
}
