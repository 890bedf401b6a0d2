//! A flood must not stop the deadline clock: it reads an index of the incidents that can still
//! fall due, not every log. Settled incidents are seeded with logs a reader would refuse, so a
//! run that read them would report them; the index is append-only in the locked bucket, and a
//! snapshot written before its own hour (pre-created to blind the clock) is passed over.

use chrono::{Duration, Utc};
use firebreak_aws::run::clock::{self, Scan};
use firebreak_core::record::reminder_hour;
use firebreak_core::{Entry, IncidentId, Obligation};
use firebreak_testbed::clock::{
    ClockWorld, id, log_objects, mark_object, open, put_all, settled, snapshot_object,
};

const SETTLED: usize = 300;
const BY: &str = "arn:aws:sts::111122223333:assumed-role/firebreak-clock/clock";

/// Incidents `first..first + n`, settled, each log entry's bytes garbage, each marked days ago.
async fn seed_garbage_settled(world: &ClockWorld, first: usize, n: usize) -> Vec<IncidentId> {
    let long_ago = Utc::now() - Duration::days(30);
    let mut objects = Vec::new();
    let ids: Vec<IncidentId> = (first..first + n).map(id).collect();
    for (i, id) in ids.iter().enumerate() {
        let at = long_ago + Duration::minutes(i as i64);
        for (key, _) in log_objects(id, settled(at), at) {
            objects.push((key, b"{ not a log entry".to_vec()));
        }
        objects.push(mark_object(id, at));
    }
    put_all(world, objects, 8).await;
    ids
}

/// Appends incident `id`'s opening through the log (which marks it), detected `ago` before now:
/// its Amazon notice was due 24 hours after.
async fn open_through_the_log(world: &ClockWorld, id: &IncidentId, ago: Duration) {
    let now = Utc::now();
    firebreak_aws::store::log::append(&world.store, id, BY, open(now - ago), now)
        .await
        .expect("append the opening");
}

fn reminded(tick: &clock::Tick) -> Vec<IncidentId> {
    let mut ids: Vec<IncidentId> = tick.reminded.iter().map(|(i, _, _)| i.clone()).collect();
    ids.sort();
    ids
}

async fn reminders_logged(world: &ClockWorld, id: &IncidentId) -> usize {
    firebreak_aws::store::log::record(&world.store, id)
        .await
        .expect("log")
        .entries
        .iter()
        .filter(|e| matches!(e.entry, Entry::Reminder { .. }))
        .count()
}

#[tokio::test]
async fn a_flood_of_settled_incidents_is_not_read_and_every_due_obligation_is_paged() {
    let world = ClockWorld::new().await;
    let garbage = seed_garbage_settled(&world, 0, SETTLED).await;
    // Three open incidents, their Amazon notices overdue: two the last snapshot watched, one
    // opened since (through the log, which marks it).
    let mut open_ids: Vec<IncidentId> = (SETTLED..SETTLED + 3).map(id).collect();
    open_ids.sort();
    let now = Utc::now();
    for id in &open_ids[..2] {
        let at = now - Duration::days(2);
        put_all(&world, log_objects(id, open(at), at), 1).await;
    }
    open_through_the_log(&world, &open_ids[2], Duration::days(3)).await;
    // The previous hour's snapshot (written now, which is after its hour began).
    let (key, body) = snapshot_object(now - Duration::hours(1), open_ids[..2].to_vec());
    world.put(&key, body).await;

    let tick = clock::tick(&world.store, &world.pager, None, BY, now, false)
        .await
        .expect("tick");
    assert!(
        matches!(
            &tick.scan,
            Scan::Index {
                watched: 2,
                marked: 1,
                ..
            }
        ),
        "{:?}",
        tick.scan
    );
    // Only the open incidents' logs were read: a read of any settled one would be an error.
    assert!(tick.errors.is_empty(), "{:?}", tick.errors);
    assert_eq!(tick.incidents, 3);
    assert_eq!(reminded(&tick), open_ids);
    for id in &open_ids {
        assert_eq!(reminders_logged(&world, id).await, 1, "{id}");
    }
    let pages = world.pages().await;
    assert_eq!(
        pages
            .iter()
            .filter(|(kind, text)| kind == "reminder" && text.contains("OVERDUE"))
            .count(),
        3,
        "{pages:?}"
    );
    // The snapshot it wrote watches exactly the open incidents.
    let key = tick.snapshot_written.clone().expect("a snapshot written");
    assert_eq!(key, clock::snapshot_key(&reminder_hour(now)));
    let snapshot: clock::Snapshot =
        serde_json::from_slice(&world.store.read(&key).await.expect("snapshot")).expect("json");
    assert_eq!(snapshot.watched, open_ids);

    // The old way reads every log and trips over every settled one: the seeding is real.
    let full = clock::tick_full_scan(&world.store, &world.pager, BY, now, true)
        .await
        .expect("full scan");
    assert_eq!(full.errors.len(), garbage.len());
}

#[tokio::test]
async fn an_incident_opened_between_two_runs_is_read_by_the_next() {
    let world = ClockWorld::new().await;
    let now = Utc::now();
    // A settled incident: the first run (no index yet) reads it once and does not keep it.
    let quiet = id(1);
    let at = now - Duration::days(40);
    put_all(&world, log_objects(&quiet, settled(at), at), 1).await;
    let first = clock::tick(&world.store, &world.pager, None, BY, now, false)
        .await
        .expect("tick");
    assert!(matches!(first.scan, Scan::Full { .. }), "{:?}", first.scan);
    assert_eq!((first.incidents, first.reminded.len()), (1, 0));

    // Opened after that run, with its Amazon notice overdue; the clock then misses two hours.
    let late = id(2);
    open_through_the_log(&world, &late, Duration::days(2)).await;
    let third_hour = now + Duration::hours(3);
    let next = clock::tick(&world.store, &world.pager, None, BY, third_hour, false)
        .await
        .expect("tick");
    assert!(
        matches!(&next.scan, Scan::Index { snapshot, watched: 0, marked: 1 }
            if *snapshot == clock::snapshot_key(&reminder_hour(now))),
        "{:?}",
        next.scan
    );
    assert!(next.errors.is_empty(), "{:?}", next.errors);
    assert_eq!(next.incidents, 1, "the settled incident is not read again");
    assert_eq!(reminded(&next), std::slice::from_ref(&late));
    assert_eq!(next.reminded[0].1, [Obligation::NotifyAmazon]);
    assert_eq!(reminders_logged(&world, &late).await, 1);
}

#[tokio::test]
async fn without_a_usable_index_the_clock_reads_every_log_and_says_so() {
    let world = ClockWorld::new().await;
    let now = Utc::now();
    let due = id(7);
    open_through_the_log(&world, &due, Duration::days(2)).await;
    // A snapshot for a later hour, written now (before its hour began), watching nothing:
    // what someone would pre-create to blind the clock. The run of that hour passes it over.
    let next_hour = now + Duration::hours(2);
    let (key, body) = snapshot_object(next_hour, Vec::new());
    world.put(&key, body).await;

    let tick = clock::tick(&world.store, &world.pager, None, BY, next_hour, false)
        .await
        .expect("tick");
    let Scan::Full { why } = &tick.scan else {
        panic!("the forged snapshot was used: {:?}", tick.scan);
    };
    assert!(why.contains("no snapshot"), "{why}");
    assert!(
        why.contains(&format!("{key} was written before its hour")),
        "{why}"
    );
    assert_eq!(reminded(&tick), std::slice::from_ref(&due));
    assert_eq!(reminders_logged(&world, &due).await, 1);
    // Its own snapshot for that hour could not be written (the forged key is taken and locked);
    // the run of the hour after passes the forgery over again and still reads the incident.
    assert_eq!(tick.snapshot_written, None);
    let after = clock::tick(
        &world.store,
        &world.pager,
        None,
        BY,
        next_hour + Duration::hours(1),
        false,
    )
    .await
    .expect("tick");
    assert!(matches!(after.scan, Scan::Full { .. }), "{:?}", after.scan);
    assert_eq!(reminded(&after), std::slice::from_ref(&due));

    // With no index at all (a new stack, or an index lost), the same: one full scan, and the
    // snapshot it writes is used by the run after.
    let fresh = ClockWorld::new().await;
    open_through_the_log(&fresh, &due, Duration::days(2)).await;
    let first = clock::tick(&fresh.store, &fresh.pager, None, BY, now, false)
        .await
        .expect("tick");
    assert!(
        matches!(&first.scan, Scan::Full { why } if why.contains("no snapshot")),
        "{:?}",
        first.scan
    );
    assert_eq!(reminded(&first), std::slice::from_ref(&due));
    assert_eq!(
        first.snapshot_written,
        Some(clock::snapshot_key(&reminder_hour(now)))
    );
    let second = clock::tick(
        &fresh.store,
        &fresh.pager,
        None,
        BY,
        now + Duration::hours(1),
        false,
    )
    .await
    .expect("tick");
    assert!(
        matches!(second.scan, Scan::Index { watched: 1, .. }),
        "{:?}",
        second.scan
    );
    assert_eq!(reminded(&second), [due]);
}
