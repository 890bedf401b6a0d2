//! `bench/clock.sh`: one run of the deadline clock against the local emulator at N incidents, of
//! which a fixed number can still fall due and the rest are settled. The indexed run
//! (`clock::tick`) beside the full scan it replaced (`clock::tick_full_scan`, the baseline, in the
//! same run), and one emulator round trip (HeadObject) as the unit.
//!
//! Seeded straight into the evidence bucket with concurrent PutObjects (going through the
//! functions would take hours at 100,000): per settled incident, its log (one `opened` entry of
//! an S4 refused call, which never falls due) and its mark in the hour it opened, spread over
//! 89 days up to two days ago; per open incident, its log (an S2 whose Amazon notice is due in
//! 22 hours, so neither run pages) and its mark; and the previous hour's snapshot, watching the
//! open incidents but the last few, which were opened since (marked this hour).
//!
//! Usage: firebreak-bench-clock [--full-max N] N...   (default: 1000 10000; full scan up to 10000)

use std::time::Instant;

use chrono::{Duration, Utc};
use firebreak_aws::run::clock::{self, Scan};
use firebreak_testbed::clock::{
    ClockWorld, id, log_objects, mark_object, open, put_all, settled, snapshot_object,
};

/// Incidents that can still fall due, whatever N.
const OPEN: usize = 50;
/// Of those, opened since the last snapshot.
const OPENED_SINCE: usize = 5;
const BY: &str = "arn:aws:sts::111122223333:assumed-role/firebreak-clock/bench";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut full_max = 10_000usize;
    let mut sizes = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--full-max" {
            full_max = args.next().and_then(|n| n.parse().ok()).unwrap_or(full_max);
        } else if let Ok(n) = a.parse::<usize>() {
            sizes.push(n.max(OPEN));
        }
    }
    if sizes.is_empty() {
        sizes = vec![1_000, 10_000];
    }

    let mut rows = Vec::new();
    for n in sizes {
        // A fresh emulator per N: nothing of the last one's bucket is listed.
        let world = ClockWorld::new().await;
        let now = Utc::now();
        let started = Instant::now();
        let mut objects = Vec::with_capacity(2 * n + 1);
        let mut watched = Vec::new();
        for i in 0..n {
            let incident = id(i);
            if i < OPEN {
                let detected = now - Duration::hours(2);
                let marked = if i < OPEN - OPENED_SINCE {
                    watched.push(incident.clone());
                    detected
                } else {
                    now
                };
                objects.extend(log_objects(&incident, open(detected), detected));
                objects.push(mark_object(&incident, marked));
            } else {
                // Opened between 91 and 2 days ago.
                let at = now - Duration::days(91)
                    + Duration::seconds((i as i64 * 7_691) % (89 * 86_400));
                objects.extend(log_objects(&incident, settled(at), at));
                objects.push(mark_object(&incident, at));
            }
        }
        watched.sort();
        objects.push(snapshot_object(now - Duration::hours(1), watched));
        let seeded = objects.len();
        put_all(&world, objects, 16).await;
        let seeding_s = started.elapsed().as_secs_f64();

        // The unit: one round trip to the same emulator, same client stack.
        let probe = clock::snapshot_key(&firebreak_core::record::reminder_hour(
            now - Duration::hours(1),
        ));
        let mut rtt = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            world
                .home
                .s3
                .head_object()
                .bucket(&world.stack.bucket)
                .key(&probe)
                .send()
                .await
                .expect("head");
            rtt.push(ms(t));
        }
        let rtt = median(rtt);

        let t = Instant::now();
        let tick = clock::tick(&world.store, &world.pager, None, BY, now, false)
            .await
            .expect("indexed tick");
        let indexed = ms(t);
        assert!(
            matches!(tick.scan, Scan::Index { .. }),
            "the index was not used: {:?}",
            tick.scan
        );
        assert!(tick.errors.is_empty(), "{:?}", tick.errors);
        assert_eq!(tick.incidents, OPEN, "{:?}", tick.scan);

        let full = if n <= full_max {
            let t = Instant::now();
            let full = clock::tick_full_scan(&world.store, &world.pager, BY, now, false)
                .await
                .expect("full scan");
            let took = ms(t);
            assert!(full.errors.is_empty(), "{:?}", full.errors);
            assert_eq!(full.incidents, n);
            Some(took)
        } else {
            None
        };
        eprintln!(
            "N={n}: seeded {seeded} objects in {seeding_s:.0} s; indexed run: {}",
            tick.scan.describe()
        );
        rows.push((n, indexed, full, rtt));
    }

    println!(
        "{:>8} {:>12} {:>14} {:>16} {:>18} {:>14}",
        "N", "indexed ms", "full-scan ms", "full / indexed", "indexed in trips", "round trip ms"
    );
    for (n, indexed, full, rtt) in rows {
        let (full_ms, ratio) = match full {
            Some(f) => (format!("{f:.0}"), format!("{:.1}", f / indexed)),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{n:>8} {indexed:>12.0} {full_ms:>14} {ratio:>16} {:>18.0} {rtt:>14.2}",
            indexed / rtt
        );
    }
}
