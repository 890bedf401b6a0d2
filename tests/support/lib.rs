//! Helpers shared by Firebreak's end-to-end tests.

use std::path::PathBuf;

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
