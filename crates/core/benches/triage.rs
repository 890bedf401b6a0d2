//! Parse + classify + plan over the events/ corpus, per event. The parse-only figure beside it
//! is the baseline: what the rules and planner add on top of reading the JSON.

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use firebreak_core::{Config, Event, Triage};

fn corpus() -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("events/").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .iter()
        .map(|f| {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(f).expect("read")).expect("json");
            v.to_string() // minified, as EventBridge delivers it
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let config_text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../infra/firebreak.toml"),
    )
    .expect("infra/firebreak.toml");
    let triage = Triage::new(Config::from_toml(&config_text).expect("config")).expect("rules");
    let events = corpus();
    let mut group = c.benchmark_group("corpus");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            for e in &events {
                let _ = std::hint::black_box(Event::parse(std::hint::black_box(e)));
            }
        })
    });
    group.bench_function("parse_classify_plan", |b| {
        b.iter(|| {
            for e in &events {
                let _ = std::hint::black_box(triage.triage_json(std::hint::black_box(e)));
            }
        })
    });
    group.bench_function("serde_json_value_baseline", |b| {
        b.iter(|| {
            for e in &events {
                let _ = std::hint::black_box(serde_json::from_str::<serde_json::Value>(
                    std::hint::black_box(e),
                ));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
