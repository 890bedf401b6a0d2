//! `firebreak-gen-trail OUT [--records N] [--days D] [--per-file N] [--principals N] [--seed S]`:
//! writes CloudTrail log files in the trail's layout under OUT (background records shaped like
//! `events/`, a planted attacker), for `bench/hunt.sh` and by hand. Prints what it wrote.

use std::path::PathBuf;

use firebreak_testbed::trail::{ATTACKER_KEY, Spec, write};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut out = None;
    let mut spec = Spec::default();
    while let Some(arg) = args.next() {
        let mut number = |what: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what} needs a number"))
        };
        match arg.as_str() {
            "--records" => spec.records = number("--records") as usize,
            "--days" => spec.days = number("--days") as u32,
            "--per-file" => spec.per_file = number("--per-file") as usize,
            "--principals" => spec.principals = number("--principals") as usize,
            "--seed" => spec.seed = number("--seed"),
            _ if out.is_none() && !arg.starts_with("--") => out = Some(PathBuf::from(arg)),
            _ => panic!(
                "usage: firebreak-gen-trail OUT [--records N] [--days D] [--per-file N] [--principals N] [--seed S]"
            ),
        }
    }
    let out = out.expect("name the output folder");
    let written = write(&out, &spec);
    println!(
        "{} files, {:.1} MB of JSON, {} background records, attacker key {ATTACKER_KEY} with {} records and {} by the sessions it minted",
        written.files.len(),
        written.json_bytes as f64 / 1e6,
        spec.records,
        written.attacker.len(),
        written.minted.len()
    );
}
