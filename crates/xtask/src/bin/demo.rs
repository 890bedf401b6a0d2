//! `make demo`: the whole response on a simulated account. Starts the local AWS emulator, seeds
//! Firebreak's stack and the resources each sample event is about, replays every file in events/
//! through the responder, prints what was contained, locked and paged, shows that locked
//! evidence cannot be deleted, and stops the emulator.

use std::collections::{BTreeMap, HashMap};

use firebreak_aws::{Clients, Responder};
use firebreak_core::action::plan::Shared;
use firebreak_core::{Action, Decision, Incident, Status, TagTarget, Triage};
use firebreak_testbed::moto::{HOME_ACCOUNT, Moto};
use firebreak_testbed::seed;

/// What one event needs to exist, and the emulator's ids for the sample's ids.
#[derive(Default)]
struct Seeded {
    users: std::collections::HashSet<(String, String)>,
    roles: std::collections::HashSet<(String, String)>,
    buckets: std::collections::HashSet<String>,
    functions: std::collections::HashSet<String>,
    pools: HashMap<(String, String, String), String>,
    ids: BTreeMap<String, String>,
    /// The first finding key seeded for each user: IAM allows two keys a user, so later
    /// events naming other keys of the same user act on this one.
    user_keys: HashMap<(String, String), String>,
    servers: usize,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    println!("Starting the local AWS emulator (moto_server on 127.0.0.1, a free port)...");
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = seed::stack(&sdk).await;
    println!(
        "Seeded Firebreak's stack in account {HOME_ACCOUNT}: evidence bucket {} (Object Lock, COMPLIANCE 90 days), topics for S1 pages and S2 tickets, a queue reading both.\n",
        stack.bucket
    );
    let mut config = seed::config(&stack);
    let home = Clients::new(&sdk);
    let collector = firebreak_testbed::collector(format!(
        "arn:aws:sts::{HOME_ACCOUNT}:assumed-role/FirebreakAdministrator/demo"
    ));

    let files = firebreak_testbed::corpus_files();

    let mut seeded = Seeded::default();
    let mut rows = Vec::new();
    let mut ignored = 0;
    let mut any_failed = false;
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).expect("readable event");
        let first = match Triage::new(config.clone()).unwrap().triage_json(&text) {
            Ok(Decision::Incident(i)) => *i,
            Ok(Decision::Ignored { .. }) => {
                ignored += 1;
                continue;
            }
            Err(e) => panic!("{name}: {e}"),
        };
        // Make what the plan touches exist, then speak of it by the emulator's ids.
        seed_for(&home, &first, &mut seeded).await;
        for ((_, _, sample), real) in &seeded.pools {
            if !config.cognito.invite_only_pools.contains(real)
                && config.is_invite_only_pool(sample)
            {
                config.cognito.invite_only_pools.push(real.clone());
            }
        }
        let mut replayed = text.clone();
        for (sample, real) in &seeded.ids {
            replayed = replayed.replace(sample, real);
        }
        let triage = Triage::new(config.clone()).unwrap();
        let incident = match triage.triage_json(&replayed) {
            Ok(Decision::Incident(i)) => *i,
            other => panic!("{name}: the replayed event no longer opens an incident: {other:?}"),
        };
        let responder = Responder::new(
            home.clone(),
            HOME_ACCOUNT,
            config.clone(),
            collector.clone(),
            false,
        )
        .unwrap();
        let r = responder.respond(&incident, &replayed).await;
        let count =
            |f: &dyn Fn(&Status) -> bool| r.outcomes.iter().filter(|o| f(&o.status)).count();
        let done = count(&|s| matches!(s, Status::Done { .. }));
        let failed = count(&|s| s.is_failure());
        let waiting = count(&|s| *s == Status::AwaitingApproval);
        let skipped = count(&|s| matches!(s, Status::Skipped { .. }));
        any_failed |= failed > 0;
        for o in r.outcomes.iter().filter(|o| o.status.is_failure()) {
            println!("  FAILED {name}: {o}");
        }
        let contained: Vec<&str> = r
            .outcomes
            .iter()
            .filter(|o| {
                matches!(o.status, Status::Done { .. })
                    && !matches!(
                        o.kind.as_str(),
                        "preserve_evidence" | "page" | "tag_quarantine"
                    )
            })
            .map(|o| o.kind.as_str())
            .collect();
        let evidence = r.items.iter().filter(|i| !i.already_stored).count();
        rows.push((
            name,
            incident.id.to_string(),
            incident.severity.to_string(),
            done,
            failed,
            waiting,
            skipped,
            evidence,
            r.page_message_id.is_some(),
            contained.join(" "),
        ));
    }

    println!(
        "{:<58} {:<19} {:<3} {:>4} {:>6} {:>8} {:>7} {:>8} {:<5} done by Firebreak",
        "event", "incident", "sev", "done", "failed", "awaiting", "skipped", "evidence", "paged"
    );
    for (name, id, sev, done, failed, waiting, skipped, evidence, paged, contained) in &rows {
        println!(
            "{name:<58} {id:<19} {sev:<3} {done:>4} {failed:>6} {waiting:>8} {skipped:>7} {evidence:>8} {:<5} {contained}",
            if *paged { "yes" } else { "-" }
        );
    }
    let totals = rows.iter().fold((0, 0, 0, 0, 0), |t, r| {
        (
            t.0 + r.3,
            t.1 + r.4,
            t.2 + r.5,
            t.3 + r.7,
            t.4 + usize::from(r.8),
        )
    });
    println!(
        "\n{} incidents from {} events ({ignored} ignored: near-misses and read-only calls). Actions: {} done, {} failed, {} awaiting approval. Evidence objects locked: {}. Pages sent: {}.",
        rows.len(),
        files.len(),
        totals.0,
        totals.1,
        totals.2,
        totals.3,
        totals.4
    );

    // The demo checks its own numbers: a count that must be positive and is zero is a failure.
    let mut positive = |what: &str, n: usize| {
        if n == 0 {
            println!("ERROR: the demo expected at least one {what} and counted none");
            any_failed = true;
        }
    };
    positive("incident", rows.len());
    positive("ignored event (the corpus holds near-misses)", ignored);
    positive("action done", totals.0);
    positive("locked evidence object", totals.3);
    positive("page sent", totals.4);

    // What responders received.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut received = 0;
    let mut example = None;
    loop {
        let out = sqs
            .receive_message()
            .queue_url(&stack.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            received += 1;
            let v: serde_json::Value =
                serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or_default();
            if example.is_none()
                && v["Subject"]
                    .as_str()
                    .is_some_and(|s| s.contains("Root console sign-in"))
            {
                example = Some(v);
            }
            sqs.delete_message()
                .queue_url(&stack.queue_url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete message");
        }
    }
    println!("Pages received on the subscribed queue: {received}.");
    if received < totals.4 {
        println!("ERROR: {} page(s) sent but {received} received", totals.4);
        any_failed = true;
    }
    if let Some(page) = example {
        println!(
            "\nThe root sign-in page, as a responder reads it:\nSubject: {}\n{}",
            page["Subject"].as_str().unwrap_or_default(),
            page["Message"].as_str().unwrap_or_default()
        );
    }

    // Locked evidence cannot be deleted.
    let s3 = seed::s3_client(&sdk);
    let versions = s3
        .list_object_versions()
        .bucket(&stack.bucket)
        .prefix("incidents/")
        .max_keys(1)
        .send()
        .await
        .expect("list versions");
    if let Some(v) = versions.versions().first() {
        let key = v.key().unwrap_or_default();
        match s3
            .delete_object()
            .bucket(&stack.bucket)
            .key(key)
            .version_id(v.version_id().unwrap_or_default())
            .send()
            .await
        {
            Ok(_) => {
                println!("\nERROR: deleting locked evidence {key} was allowed");
                any_failed = true;
            }
            Err(e) => println!(
                "\nDeleting locked evidence version of {key}: refused ({})",
                firebreak_aws::AwsError::from_sdk(e).code
            ),
        }
    }
    // The chain of custody of one incident: every object read back and judged.
    if let Some((_, id, ..)) = rows.iter().find(|r| r.0.starts_with("gd-iam-user")) {
        let store = firebreak_aws::EvidenceStore::new(
            home.s3.clone(),
            &stack.bucket,
            config.evidence.retention_days,
            false,
        );
        let id = firebreak_core::IncidentId::parse(id).expect("an incident id");
        // The deadline clock, as the hourly function runs it. The sample events are dated in the
        // past, so the Amazon 24-hour notices they started are already overdue.
        let pager =
            firebreak_aws::Pager::new(home.sns.clone(), &stack.pager_topic, &stack.ticket_topic);
        match firebreak_aws::run::clock::tick(
            &store,
            &pager,
            "firebreak-demo",
            chrono::Utc::now(),
            false,
        )
        .await
        {
            Ok(t) => {
                println!(
                    "\nDeadline clock: {} incident(s) read, {} reminder(s) paged (due within 6 h or overdue, not acknowledged).",
                    t.incidents,
                    t.reminded.len()
                );
                // The sample events are dated in the past: their Amazon notices are overdue.
                if t.incidents == 0 || t.reminded.is_empty() {
                    println!("ERROR: the clock read no incident or paged no overdue notice");
                    any_failed = true;
                }
            }
            Err(e) => {
                println!("\nERROR: the deadline clock: {e}");
                any_failed = true;
            }
        }
        // One incident's report, as `firebreak report` renders it (HTML beside it).
        match firebreak_aws::store::log::record(&store, &id).await {
            Ok(record) => {
                let now = chrono::Utc::now();
                println!("\nfirebreak report {id}\n");
                println!("{}", firebreak_core::render::report::markdown(&record, now));
                let dir = firebreak_testbed::repo().join("target/artefacts");
                let html = dir.join(format!("demo-report-{id}.html"));
                match std::fs::create_dir_all(&dir).and_then(|()| {
                    std::fs::write(&html, firebreak_core::render::report::html(&record, now))
                }) {
                    Ok(()) => println!(
                        "(HTML report: target/artefacts/{})",
                        html.file_name().unwrap_or_default().to_string_lossy()
                    ),
                    Err(e) => println!("(HTML report not written: {e})"),
                }
            }
            Err(e) => {
                println!("\nERROR: report {id}: {e}");
                any_failed = true;
            }
        }
        match firebreak_aws::run::verify::verify(&store, &id, chrono::Utc::now()).await {
            Ok(v) => {
                let entries = firebreak_aws::store::log::read(&store, &id)
                    .await
                    .map(|l| l.len())
                    .unwrap_or_default();
                println!(
                    "\nfirebreak verify {id}: {} object(s), {} manifest(s), {entries} log entries",
                    v.checked.len(),
                    v.manifests.len()
                );
                let mut tally: BTreeMap<String, usize> = BTreeMap::new();
                for c in &v.checked {
                    *tally.entry(c.verdict.to_string()).or_default() += 1;
                }
                for (verdict, n) in &tally {
                    println!("  {verdict}: {n}");
                }
                any_failed |= !v.all_ok() || v.checked.is_empty() || v.manifests.is_empty();
                if entries == 0 {
                    println!("ERROR: the incident log of {id} is empty");
                    any_failed = true;
                }
            }
            Err(e) => {
                println!("\nERROR: verify {id}: {e}");
                any_failed = true;
            }
        }
    } else {
        println!("\nERROR: no incident of the gd-iam-user sample event to report and verify");
        any_failed = true;
    }
    drop(moto);
    println!("Emulator stopped.");
    if any_failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

/// Creates, in the incident's account and region, what its plan acts on.
async fn seed_for(home: &Clients, incident: &Incident, s: &mut Seeded) {
    let base = if incident.account == HOME_ACCOUNT {
        home.clone()
    } else {
        firebreak_aws::sdk::accounts::member_clients(
            home,
            &incident.partition,
            &incident.account,
            "FirebreakMember",
            "demo-seed",
        )
        .await
        .expect("member account")
    };
    let c = base.in_region(&incident.region);
    // IAM is global to an account; pools live in a region.
    let user = |name: &str| (incident.account.clone(), name.to_string());
    let pool = |id: &str| {
        (
            incident.account.clone(),
            incident.region.clone(),
            id.to_string(),
        )
    };
    for planned in &incident.plan {
        match &planned.action {
            Action::DeactivateAccessKey {
                user_name,
                access_key_id,
            } => {
                ensure_user(&c, s, user(user_name)).await;
                if !s.ids.contains_key(access_key_id) {
                    let real = match s.user_keys.get(&user(user_name)) {
                        Some(real) => real.clone(),
                        None => {
                            let k = c
                                .iam
                                .create_access_key()
                                .user_name(user_name)
                                .send()
                                .await
                                .expect("key");
                            let real = k.access_key().unwrap().access_key_id().to_string();
                            s.user_keys.insert(user(user_name), real.clone());
                            real
                        }
                    };
                    s.ids.insert(access_key_id.clone(), real);
                }
            }
            Action::RevokeUserSessions { user_name }
            | Action::DenyUser { user_name }
            | Action::TagQuarantine {
                resource: TagTarget::IamUser(user_name),
            } => {
                ensure_user(&c, s, user(user_name)).await;
            }
            Action::RevokeRoleSessions { role_name }
            | Action::TagQuarantine {
                resource: TagTarget::IamRole(role_name),
            } if s.roles.insert(user(role_name)) => {
                seed::role(&c.iam, role_name).await;
            }
            Action::ProtectInstance { instance_id } if !s.ids.contains_key(instance_id) => {
                s.servers += 1;
                let server = seed::server(&c.sdk, &format!("demo-{}", s.servers)).await;
                s.ids
                    .insert(instance_id.clone(), server.instance_id.clone());
                if let Some(profile) = incident.plan.iter().find_map(|a| match &a.action {
                    Action::RevokeInstanceProfileSessions {
                        instance_profile_arn,
                        ..
                    } => Some(instance_profile_arn.clone()),
                    _ => None,
                }) {
                    s.ids.insert(profile, server.profile_arn.clone());
                }
            }
            Action::BlockPublicAccess { bucket }
            | Action::TagQuarantine {
                resource: TagTarget::Bucket(bucket),
            } if s.buckets.insert(bucket.clone()) => {
                let mut create = c.s3.create_bucket().bucket(bucket);
                if incident.region != "us-east-1" {
                    create = create.create_bucket_configuration(
                        aws_sdk_s3::types::CreateBucketConfiguration::builder()
                            .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                                incident.region.as_str(),
                            ))
                            .build(),
                    );
                }
                create.send().await.expect("bucket");
            }
            Action::CognitoStopSignUp { user_pool_id } => {
                ensure_pool(&c, s, pool(user_pool_id)).await;
            }
            // What the attacker opened or shared, as the event says they did.
            Action::RevokeIngress { group_id, rules } if !s.ids.contains_key(group_id) => {
                s.servers += 1;
                let real = c
                    .ec2
                    .create_security_group()
                    .group_name(format!("demo-exposed-{}", s.servers))
                    .description("opened to the internet")
                    .send()
                    .await
                    .expect("group")
                    .group_id()
                    .expect("group id")
                    .to_string();
                for r in rules {
                    c.ec2
                        .authorize_security_group_ingress()
                        .group_id(&real)
                        .ip_permissions(firebreak_aws::service::ec2::ip_permission(r))
                        .send()
                        .await
                        .expect("ingress");
                }
                s.ids.insert(group_id.clone(), real);
            }
            Action::RemoveShare {
                resource,
                accounts,
                public,
            } if !s.ids.contains_key(resource.id()) => {
                let real = match resource {
                    Shared::Snapshot(_) => {
                        let volume = c
                            .ec2
                            .create_volume()
                            .size(1)
                            .availability_zone(format!("{}a", incident.region))
                            .send()
                            .await
                            .expect("volume")
                            .volume_id()
                            .expect("volume id")
                            .to_string();
                        c.ec2
                            .create_snapshot()
                            .volume_id(volume)
                            .send()
                            .await
                            .expect("snapshot")
                            .snapshot_id()
                            .expect("snapshot id")
                            .to_string()
                    }
                    Shared::Image(_) => {
                        s.servers += 1;
                        let server = seed::server(&c.sdk, &format!("demo-{}", s.servers)).await;
                        c.ec2
                            .create_image()
                            .instance_id(server.instance_id)
                            .name(format!("demo-image-{}", s.servers))
                            .send()
                            .await
                            .expect("image")
                            .image_id()
                            .expect("image id")
                            .to_string()
                    }
                    Shared::DbSnapshot(id) | Shared::DbClusterSnapshot(id) => {
                        let rds = aws_sdk_rds::Client::new(&c.sdk);
                        rds.create_db_cluster()
                            .db_cluster_identifier("demo-aurora")
                            .engine("aurora-postgresql")
                            .master_username("demo")
                            .master_user_password("n0t-a-real-passw0rd")
                            .send()
                            .await
                            .expect("cluster");
                        rds.create_db_cluster_snapshot()
                            .db_cluster_snapshot_identifier(id)
                            .db_cluster_identifier("demo-aurora")
                            .send()
                            .await
                            .expect("cluster snapshot");
                        id.clone()
                    }
                };
                let shared = match resource {
                    Shared::Snapshot(_) => Shared::Snapshot(real.clone()),
                    Shared::Image(_) => Shared::Image(real.clone()),
                    other => other.clone(),
                };
                // Shared as the attacker did, with the same calls the undo reverses.
                match &shared {
                    Shared::Image(_) | Shared::Snapshot(_) => {
                        firebreak_aws::service::ec2::modify_shares(
                            &c.ec2, &shared, accounts, *public, true,
                        )
                        .await
                        .expect("image or snapshot share");
                    }
                    Shared::DbSnapshot(_) | Shared::DbClusterSnapshot(_) => {
                        firebreak_aws::service::rds::modify_shares(
                            &aws_sdk_rds::Client::new(&c.sdk),
                            &shared,
                            accounts,
                            *public,
                            true,
                        )
                        .await
                        .expect("database snapshot share");
                    }
                }
                s.ids.insert(resource.id().to_string(), real);
            }
            Action::RemoveLambdaPermission {
                function_name,
                statement_id,
                grant,
            } if s.functions.insert(function_name.clone()) => {
                let role_name = format!("{function_name}-role");
                seed::role(&c.iam, &role_name).await;
                let role = format!("arn:aws:iam::{}:role/{role_name}", incident.account);
                seed::function(&c.sdk, function_name, &role).await;
                let lambda = aws_sdk_lambda::Client::new(&c.sdk);
                firebreak_aws::service::lambda::add_permission(
                    &lambda,
                    function_name,
                    statement_id,
                    grant,
                )
                .await
                .expect("permission");
            }
            Action::CognitoDisableUser {
                user_pool_id,
                username,
            } => {
                let real = ensure_pool(&c, s, pool(user_pool_id)).await;
                let _ = c
                    .cognito
                    .admin_create_user()
                    .user_pool_id(&real)
                    .username(username)
                    .send()
                    .await;
            }
            _ => {}
        }
    }
}

async fn ensure_user(c: &Clients, s: &mut Seeded, key: (String, String)) {
    if s.users.insert(key.clone()) {
        // Every seeded user has two keys, so "only the finding's key" means something.
        c.iam
            .create_user()
            .user_name(&key.1)
            .send()
            .await
            .expect("user");
        c.iam
            .create_access_key()
            .user_name(&key.1)
            .send()
            .await
            .expect("key");
    }
}

async fn ensure_pool(c: &Clients, s: &mut Seeded, key: (String, String, String)) -> String {
    if let Some(real) = s.pools.get(&key) {
        return real.clone();
    }
    let out = c
        .cognito
        .create_user_pool()
        .pool_name("marketplace")
        .send()
        .await
        .expect("pool");
    let real = out
        .user_pool()
        .and_then(|p| p.id())
        .expect("pool id")
        .to_string();
    s.ids.insert(key.2.clone(), real.clone());
    s.pools.insert(key, real.clone());
    real
}
