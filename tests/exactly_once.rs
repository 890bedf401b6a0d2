//! At-least-once delivery, exactly-once effects. EventBridge may deliver an event more than once
//! and GuardDuty re-emits a finding (same id, higher `count`, new `updatedAt`). Every file in
//! events/ is delivered 50 times to the functions' handlers (in-process, against the emulator),
//! concurrently and in bursts, plus two re-emits of every GuardDuty finding; everything the
//! functions put on Firebreak's bus is routed by the template's rules and delivered 20 times.
//! A delivery that finds its step claimed by another fails as retryable and is delivered again,
//! as Lambda's retry would. Each incident must be opened once, each stage run once, each page
//! sent once, and no evidence object written twice. (The emulator serves one request at a time
//! here: its threaded server does not make `If-None-Match` atomic, and S3 does; see
//! `World::serial`.)

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use firebreak_lambda::{Context, FunctionError};
use firebreak_testbed::eventbridge::{Taps, drain_queue};
use firebreak_testbed::lambda::{contexts, function_env};
use firebreak_testbed::seed;
use firebreak_testbed::world::World;
use serde_json::Value;
use tokio::sync::Semaphore;

const BUS: &str = "firebreak-bus";
/// Deliveries of every source event, in bursts of `BURST`: the copies of a burst arrive together.
const COPIES: usize = 50;
/// Deliveries of every event on Firebreak's bus (the emulator is the bottleneck: fewer here
/// keeps the test to a few minutes).
const BUS_COPIES: usize = 20;
/// Copies that arrive together.
const BURST: usize = 10;
/// Re-emits of every GuardDuty finding.
const REEMITS: u64 = 2;
/// Deliveries in flight at once, across all events (a Lambda's concurrency).
const IN_FLIGHT: usize = 48;

/// What the deliveries of one event came to.
#[derive(Debug, Default)]
struct Delivered {
    /// The answers of the deliveries that succeeded.
    answers: Vec<Value>,
    /// Deliveries that failed as retryable (the step was busy) and were delivered again.
    retried: usize,
}

struct Harness {
    functions: HashMap<&'static str, Arc<Context>>,
    gate: Arc<Semaphore>,
}

impl Harness {
    /// Delivers every `(label, function, event)` at once; answers in the same order.
    async fn deliver_all(
        self: &Arc<Self>,
        events: impl Iterator<Item = (String, &'static str, String)>,
    ) -> Vec<(String, &'static str, Delivered)> {
        let mut all = tokio::task::JoinSet::new();
        for (i, (label, function, raw)) in events.enumerate() {
            let harness = Arc::clone(self);
            all.spawn(async move {
                (
                    i,
                    label,
                    function,
                    harness.deliver(function, raw, copies(function)).await,
                )
            });
        }
        let mut done: Vec<_> = all.join_all().await;
        done.sort_by_key(|(i, ..)| *i);
        done.into_iter().map(|(_, l, f, d)| (l, f, d)).collect()
    }

    /// Delivers `raw` to `function` `copies` times in bursts of `BURST`; a retryable failure
    /// is delivered again after a pause, a bad-input failure fails the test.
    async fn deliver(&self, function: &str, raw: String, copies: usize) -> Delivered {
        let ctx = Arc::clone(&self.functions[function]);
        let raw = Arc::new(raw);
        let mut delivered = Delivered::default();
        for _ in 0..copies / BURST {
            let mut burst = tokio::task::JoinSet::new();
            for _ in 0..BURST {
                let (ctx, raw, gate) = (Arc::clone(&ctx), Arc::clone(&raw), Arc::clone(&self.gate));
                burst.spawn(async move {
                    let mut retried = 0;
                    loop {
                        let permit = gate.acquire().await.expect("semaphore");
                        let result = ctx.handle(&raw, collector()).await;
                        drop(permit);
                        match result {
                            Ok(answer) => return (answer, retried),
                            Err(FunctionError::Retry(_)) if retried < 50 => {
                                retried += 1;
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                            Err(e) => panic!("{raw}: {e}"),
                        }
                    }
                });
            }
            while let Some(joined) = burst.join_next().await {
                let (answer, retried) = joined.expect("a delivery");
                delivered.answers.push(answer);
                delivered.retried += retried;
            }
        }
        delivered
    }
}

fn copies(function: &str) -> usize {
    if function == "triage" {
        COPIES
    } else {
        BUS_COPIES
    }
}

fn collector() -> firebreak_aws::Collector {
    firebreak_testbed::collector("arn:aws:lambda:us-east-1:111122223333:function:firebreak-test")
}

/// A GuardDuty re-emit of `event`: a new EventBridge id, the count raised, a later `updatedAt`.
fn reemit(event: &Value, n: u64) -> Value {
    let mut e = event.clone();
    let id = e["id"].as_str().unwrap_or("event").to_string();
    e["id"] = format!("{id}-reemit-{n}").into();
    let count = e["detail"]["service"]["count"].as_u64().unwrap_or(1);
    e["detail"]["service"]["count"] = (count + n).into();
    e["detail"]["updatedAt"] = format!("2026-11-24T0{n}:00:00.000Z").into();
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_delivered_fifty_times_has_its_effects_once() {
    let started = Instant::now();
    // One request at a time, so S3's conditional writes are atomic as they are in AWS.
    let world = World::serial().await;
    let (moto, sdk, stack) = (&world.moto, &world.sdk, &world.stack);
    let taps = Taps::install(sdk, BUS).await;
    let env = function_env(moto, &moto.home_credentials().await, stack, BUS);
    let functions = contexts(&env, sdk)
        .into_iter()
        .map(|(name, ctx)| (name, Arc::new(ctx)))
        .collect();
    let harness = Arc::new(Harness {
        functions,
        gate: Arc::new(Semaphore::new(IN_FLIGHT)),
    });

    // Every sample event, and two re-emits of every GuardDuty finding.
    let files = firebreak_testbed::corpus_files();
    let mut sources: Vec<(String, Value)> = Vec::new();
    for file in &files {
        let event: Value = serde_json::from_str(&std::fs::read_to_string(file).expect("read"))
            .expect("a sample event is JSON");
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if event["source"] == "aws.guardduty" {
            for n in 1..=REEMITS {
                sources.push((format!("{name} (re-emit {n})"), reemit(&event, n)));
            }
        }
        sources.push((name, event));
    }

    let mut openings: BTreeMap<String, usize> = BTreeMap::new();
    let mut updates = 0;
    let mut acted_reemits = 0;
    let mut deliveries = 0;
    let mut retried = 0;
    let mut ignored = 0;
    for reemits in [false, true] {
        // The first emits all at once, then the re-emits.
        let batch = sources
            .iter()
            .filter(|(name, _)| name.contains("re-emit") == reemits)
            .map(|(name, event)| (name.clone(), "triage", event.to_string()));
        for (name, _, d) in harness.deliver_all(batch).await {
            deliveries += d.answers.len();
            retried += d.retried;
            let decisions: Vec<&str> = d
                .answers
                .iter()
                .map(|a| a["decision"].as_str().unwrap_or(""))
                .collect();
            if decisions.iter().all(|d| *d == "ignored") {
                ignored += 1;
                continue;
            }
            let acted: Vec<&Value> = d
                .answers
                .iter()
                .filter(|a| a["decision"] != "duplicate")
                .collect();
            assert_eq!(
                acted.len(),
                1,
                "{name}: one delivery of {COPIES} acts, the rest are duplicates: {decisions:?}"
            );
            if reemits {
                acted_reemits += 1;
                assert_eq!(acted[0]["decision"], "Incident Updated", "{name}");
            }
            let id = acted[0]["incident_id"].as_str().expect("an id").to_string();
            match acted[0]["decision"].as_str() {
                Some("Incident Opened") => *openings.entry(id).or_default() += 1,
                Some("Incident Updated") => updates += 1,
                other => panic!("{name}: {other:?}"),
            }
        }
    }
    let triage_deliveries = deliveries;
    // Updates: the re-emits, and the later events of an incident that several files describe.
    assert!(updates >= acted_reemits, "{updates} < {acted_reemits}");
    assert!(
        openings.values().all(|n| *n == 1),
        "each incident is opened once: {openings:?}"
    );

    // Firebreak's bus: each routed event delivered 50 times, until nothing more is routed.
    let mut stage_runs: BTreeMap<(String, &'static str), usize> = BTreeMap::new();
    let mut pages_sent: BTreeMap<String, usize> = BTreeMap::new();
    let mut bus_events = 0;
    loop {
        let routed = taps.drain().await;
        if routed.is_empty() {
            break;
        }
        bus_events += routed.len();
        let runs = routed.into_iter().map(|(function, _, event)| {
            let name = match function.as_str() {
                "ContainFunction" => "contain",
                "PreserveFunction" => "preserve",
                "PageFunction" => "page",
                other => panic!("{other} receives nothing from Firebreak's bus"),
            };
            (function, name, event.to_string())
        });
        for (_, function, d) in harness.deliver_all(runs).await {
            deliveries += d.answers.len();
            retried += d.retried;
            for a in &d.answers {
                let id = a["incident_id"].as_str().unwrap_or("").to_string();
                match function {
                    "page" if a["paged"] == true => *pages_sent.entry(id).or_default() += 1,
                    "contain" | "preserve" if a.get("outcomes").is_some() => {
                        *stage_runs.entry((id, function)).or_default() += 1
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(
        stage_runs.values().all(|n| *n == 1),
        "each stage of each incident runs once: {stage_runs:?}"
    );
    for id in openings.keys() {
        assert_eq!(
            stage_runs.get(&(id.clone(), "preserve")),
            Some(&1),
            "{id} is preserved"
        );
    }

    // What reached responders: one opening page per paged incident, one page per re-emit and
    // per finished stage, nothing twice.
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut received: BTreeMap<(String, String), usize> = BTreeMap::new();
    for body in drain_queue(&sqs, &stack.queue_url).await {
        let envelope: Value = serde_json::from_str(&body).expect("an SNS envelope");
        let attr = |n: &str| {
            envelope["MessageAttributes"][n]["Value"]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        let key = (attr("incident_id"), attr("kind"));
        *received.entry(key).or_default() += 1;
    }
    let received_total: usize = received.values().sum();
    let sent_total: usize = pages_sent.values().sum();
    assert_eq!(
        received_total, sent_total,
        "every page the functions report sent arrived, and no other"
    );
    for ((id, kind), n) in &received {
        if kind == "opened" {
            assert_eq!(*n, 1, "{id} has one opening page");
        }
    }
    let opening_pages = received.keys().filter(|(_, k)| k == "opened").count();

    // No evidence object has a second version: conditional writes made every retry a no-op.
    let s3 = seed::s3_client(sdk);
    let mut objects = 0;
    let mut rewritten = Vec::new();
    let mut marker: Option<(String, String)> = None;
    loop {
        let mut req = s3.list_object_versions().bucket(&stack.bucket);
        if let Some((key, version)) = &marker {
            req = req.key_marker(key).version_id_marker(version);
        }
        let out = req.send().await.expect("list versions");
        let mut per_key: HashMap<String, usize> = HashMap::new();
        for v in out.versions() {
            *per_key
                .entry(v.key().unwrap_or("").to_string())
                .or_default() += 1;
        }
        objects += per_key.len();
        rewritten.extend(per_key.into_iter().filter(|(_, n)| *n > 1));
        match (out.next_key_marker(), out.next_version_id_marker()) {
            (Some(k), Some(v)) if out.is_truncated() == Some(true) => {
                marker = Some((k.to_string(), v.to_string()))
            }
            _ => break,
        }
    }
    assert!(rewritten.is_empty(), "written twice: {rewritten:?}");

    let reemitted = sources
        .iter()
        .filter(|(n, _)| n.contains("re-emit"))
        .count();
    println!("| measure | value |\n|---|---|");
    for (what, n) in [
        ("source events (files + GuardDuty re-emits)", sources.len()),
        ("of which re-emits", reemitted),
        ("ignored by triage", ignored),
        ("deliveries to triage (50 each)", triage_deliveries),
        (
            "deliveries of bus events (20 each)",
            deliveries - triage_deliveries,
        ),
        ("retryable failures redelivered (step busy)", retried),
        ("incidents opened", openings.len()),
        ("re-emits recorded as updates", acted_reemits),
        (
            "updates in all (re-emits, later events of an incident)",
            updates,
        ),
        ("events on Firebreak's bus", bus_events),
        ("stage runs (contain + preserve)", stage_runs.len()),
        ("opening pages", opening_pages),
        ("pages sent", sent_total),
        ("evidence objects, none rewritten", objects),
    ] {
        println!("| {what} | {n} |");
    }
    println!("| wall time | {:.1} s |", started.elapsed().as_secs_f64());
}
