//! Item 3: isolation cannot be subverted. An attacker who may create, tag and change security
//! groups in the account tries to make `isolate_instance` use a group of theirs, to open the
//! group Firebreak made, and to catch an interface half-way in the allow-all pass-through group.
//! Each test runs the responder through the real SDK against the emulator and asserts on the
//! emulator's security groups and interfaces.
//!
//! Where a test must act between two of Firebreak's calls, an SDK interceptor on Firebreak's
//! EC2 client watches its `ModifyNetworkInterfaceAttribute` calls: after the first (the move
//! into the pass-through group) it lets the attacker change the emulator's state, or it fails
//! the second before it reaches the emulator (as a dropped connection would).

use std::collections::BTreeMap;
use std::sync::Mutex;

use aws_config::SdkConfig;
use aws_sdk_ec2::config::interceptors::{
    BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::operation::modify_network_interface_attribute::ModifyNetworkInterfaceAttributeInput;
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, ResourceType, Tag, TagSpecification};
use firebreak_aws::effect::isolation::{IsolationGroups, REFUSED};
use firebreak_aws::{Clients, Responder, Response};
use firebreak_core::record::release::{Change, Options};
use firebreak_core::{Config, Decision, Incident, Mode, Status, Triage};
use firebreak_testbed::moto::HOME_ACCOUNT;
use firebreak_testbed::seed::{self, Server};
use firebreak_testbed::world::World;
use firebreak_testbed::{event, moto};
use serde_json::Value;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The shared world with a server in it, and the EC2 client isolation is watched through.
struct Scene {
    base: World,
    server: Server,
    ec2: aws_sdk_ec2::Client,
}

impl std::ops::Deref for Scene {
    type Target = World;

    fn deref(&self) -> &World {
        &self.base
    }
}

async fn world() -> Scene {
    let base = World::new().await;
    let server = seed::server(&base.sdk, "web").await;
    let ec2 = aws_sdk_ec2::Client::new(&base.sdk);
    Scene { base, server, ec2 }
}

impl Scene {
    fn config(&self) -> Config {
        let mut config = seed::config(&self.stack);
        config.modes.instance_isolation = Mode::Auto;
        config
    }

    /// The instance finding, for this world's server.
    fn finding(&self) -> Value {
        let mut e = event("gd-ec2-bitcoin-tool-dns.json");
        e["detail"]["accountId"] = HOME_ACCOUNT.into();
        e["detail"]["region"] = moto::REGION.into();
        let details = &mut e["detail"]["resource"]["instanceDetails"];
        details["instanceId"] = self.server.instance_id.clone().into();
        details["iamInstanceProfile"]["arn"] = self.server.profile_arn.clone().into();
        e
    }

    /// The incident the finding opens: deterministic, so the attacker can compute it too.
    fn incident(&self) -> Incident {
        let text = self.finding().to_string();
        match Triage::new(self.config())
            .unwrap()
            .triage_json(&text)
            .unwrap()
        {
            Decision::Incident(i) => *i,
            Decision::Ignored { reason } => panic!("ignored: {reason}"),
        }
    }

    fn responder(&self, ec2: Option<aws_sdk_ec2::Client>) -> Responder {
        let collector = firebreak_testbed::collector(format!(
            "arn:aws:iam::{HOME_ACCOUNT}:user/firebreak-tests"
        ));
        let mut responder = Responder::new(
            Clients::new(&self.sdk),
            HOME_ACCOUNT,
            self.config(),
            collector,
            false,
        )
        .unwrap();
        if let Some(ec2) = ec2 {
            responder.home.ec2 = ec2.into();
        }
        responder
    }

    /// Responds to the finding with Firebreak's EC2 client replaced by `ec2`, if given.
    async fn respond(&self, ec2: Option<aws_sdk_ec2::Client>) -> Response {
        self.responder(ec2)
            .respond(&self.incident(), &self.finding().to_string())
            .await
    }

    /// The groups of each of the server's interfaces.
    async fn eni_groups(&self) -> BTreeMap<String, Vec<String>> {
        let instance = firebreak_aws::service::ec2::describe(&self.ec2, &self.server.instance_id)
            .await
            .unwrap();
        instance
            .network_interfaces()
            .iter()
            .map(|n| {
                (
                    n.network_interface_id().unwrap().to_string(),
                    n.groups()
                        .iter()
                        .filter_map(|g| g.group_id())
                        .map(str::to_string)
                        .collect(),
                )
            })
            .collect()
    }

    /// Every security group of the server's VPC with its rules: what "the account" is here.
    async fn groups(&self) -> BTreeMap<String, String> {
        let out = self
            .ec2
            .describe_security_groups()
            .filters(
                Filter::builder()
                    .name("vpc-id")
                    .values(&self.server.vpc_id)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        out.security_groups()
            .iter()
            .map(|g| {
                (
                    g.group_id().unwrap().to_string(),
                    format!("{:?} {:?}", g.ip_permissions(), g.ip_permissions_egress()),
                )
            })
            .collect()
    }

    /// The record of the groups Firebreak created for the incident in the server's VPC.
    async fn record(&self) -> IsolationGroups {
        let key = format!(
            "incidents/{}/isolation/{}.json",
            self.incident().id,
            self.server.vpc_id
        );
        let body = seed::s3_client(&self.sdk)
            .get_object()
            .bucket(&self.stack.bucket)
            .key(&key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}"))
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        serde_json::from_slice(&body).unwrap()
    }

    /// Rule counts (inbound, outbound) of one group.
    async fn rules(&self, group: &str) -> (usize, usize) {
        let out = self
            .ec2
            .describe_security_groups()
            .group_ids(group)
            .send()
            .await
            .unwrap();
        let g = &out.security_groups()[0];
        (g.ip_permissions().len(), g.ip_permissions_egress().len())
    }

    /// Interfaces in `group`, by the emulator's own filter.
    async fn enis_in(&self, group: &str) -> Vec<String> {
        self.ec2
            .describe_network_interfaces()
            .filters(Filter::builder().name("group-id").values(group).build())
            .send()
            .await
            .unwrap()
            .network_interfaces()
            .iter()
            .filter_map(|n| n.network_interface_id())
            .map(str::to_string)
            .collect()
    }
}

fn everything() -> IpPermission {
    IpPermission::builder()
        .ip_protocol("-1")
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build()
}

/// What the attacker does: an ingress rule from anywhere on `group`.
async fn open(ec2: &aws_sdk_ec2::Client, group: &str) {
    ec2.authorize_security_group_ingress()
        .group_id(group)
        .ip_permissions(everything())
        .send()
        .await
        .unwrap();
}

fn isolation(r: &Response) -> &firebreak_core::ActionOutcome {
    r.outcomes
        .iter()
        .find(|o| o.kind == "isolate_instance")
        .unwrap_or_else(|| panic!("no isolation outcome in {:?}", r.outcomes))
}

/// What an interceptor on Firebreak's EC2 client does to its `ModifyNetworkInterfaceAttribute`
/// calls, numbered from 1.
struct Tamper {
    /// Groups asked for by each call, in order.
    calls: Mutex<Vec<Vec<String>>>,
    /// The call in flight.
    pending: Mutex<Option<usize>>,
    /// Calls failed before they reach the emulator.
    fail: fn(usize) -> bool,
    /// Run (blocking) when call 1 has succeeded.
    after_first: Option<Box<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tamper")
            .field("calls", &self.calls)
            .finish()
    }
}

impl Intercept for Tamper {
    fn name(&self) -> &'static str {
        "tamper"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(input) = context
            .input()
            .downcast_ref::<ModifyNetworkInterfaceAttributeInput>()
        else {
            return Ok(());
        };
        let mut calls = self.calls.lock().unwrap();
        calls.push(input.groups.clone().unwrap_or_default());
        let n = calls.len();
        if (self.fail)(n) {
            return Err(format!("call {n} cut before it reached the emulator").into());
        }
        *self.pending.lock().unwrap() = Some(n);
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let n = self.pending.lock().unwrap().take();
        let ok = matches!(context.output_or_error(), Some(Ok(_)));
        if let (Some(1), true, Some(hook)) = (n, ok, &self.after_first) {
            hook();
        }
        Ok(())
    }
}

/// Firebreak's EC2 client with `tamper` on it, and a handle to read what it saw.
fn tampered(sdk: &SdkConfig, tamper: Tamper) -> (aws_sdk_ec2::Client, std::sync::Arc<Tamper>) {
    let tamper = std::sync::Arc::new(tamper);
    let config = aws_sdk_ec2::config::Builder::from(sdk)
        .interceptor(Shared(tamper.clone()))
        .build();
    (aws_sdk_ec2::Client::from_conf(config), tamper)
}

#[derive(Debug)]
struct Shared(std::sync::Arc<Tamper>);

impl Intercept for Shared {
    fn name(&self) -> &'static str {
        "tamper"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.modify_before_serialization(context, rc, cfg)
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.read_after_execution(context, rc, cfg)
    }
}

/// Runs `f` to completion on a runtime of its own, from inside a synchronous hook.
fn block_on<F: std::future::Future<Output = ()> + Send>(f: F) {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f)
        })
        .join()
        .unwrap()
    });
}

#[tokio::test]
async fn groups_an_attacker_named_and_tagged_like_firebreaks_are_never_used() {
    let w = world().await;
    let incident = w.incident();
    // The attacker pre-creates both groups Firebreak used to look up by name, open to the
    // world, tagged as Firebreak tags its own, for this very incident.
    let mut theirs = Vec::new();
    for name in ["firebreak-isolation", "firebreak-isolation-pass-through"] {
        let id = w
            .ec2
            .create_security_group()
            .group_name(name)
            .description("Firebreak: isolation, no inbound or outbound rule")
            .vpc_id(&w.server.vpc_id)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::SecurityGroup)
                    .tags(
                        Tag::builder()
                            .key("firebreak:created-for")
                            .value(incident.id.as_str())
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .group_id()
            .unwrap()
            .to_string();
        open(&w.ec2, &id).await;
        theirs.push(id);
    }
    let attacker_state: BTreeMap<_, _> = w
        .groups()
        .await
        .into_iter()
        .filter(|(id, _)| theirs.contains(id))
        .collect();

    let r = w.respond(None).await;
    let outcome = isolation(&r);
    assert!(matches!(outcome.status, Status::Done { .. }), "{outcome:?}");

    let record = w.record().await;
    assert!(!theirs.contains(&record.isolation_group), "{record:?}");
    assert!(!theirs.contains(&record.pass_through_group), "{record:?}");
    for (eni, groups) in w.eni_groups().await {
        assert_eq!(
            groups,
            std::slice::from_ref(&record.isolation_group),
            "{eni}"
        );
    }
    assert_eq!(w.rules(&record.isolation_group).await, (0, 0));
    for group in &theirs {
        assert!(
            w.enis_in(group).await.is_empty(),
            "an interface is in {group}"
        );
    }
    // The attacker's groups are as the attacker left them: Firebreak did not touch them.
    let after = w.groups().await;
    for (id, rules) in &attacker_state {
        assert_eq!(after.get(id), Some(rules));
    }
    // The outcome records the ids a release will trust, and the record is in the manifest.
    let Change::InstanceIsolated { interfaces, .. } = &outcome.changes[0] else {
        panic!("{:?}", outcome.changes);
    };
    assert_eq!(interfaces[0].isolation_group, record.isolation_group);
    assert_eq!(interfaces[0].pass_through_group, record.pass_through_group);
    assert_eq!(
        interfaces[0].groups,
        std::slice::from_ref(&w.server.original_group)
    );
    let manifest = r.manifest.as_ref().expect("a manifest");
    let manifest: Value = serde_json::from_slice(
        &seed::s3_client(&w.sdk)
            .get_object()
            .bucket(&w.stack.bucket)
            .key(&manifest.key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes(),
    )
    .unwrap();
    assert!(
        manifest["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["key"]
                .as_str()
                .unwrap()
                .ends_with(&format!("isolation/{}.json", w.server.vpc_id))),
        "{manifest}"
    );
    let store = w.responder(None).evidence;
    let checked = firebreak_aws::run::verify::verify(&store, &incident.id, chrono::Utc::now())
        .await
        .unwrap();
    assert!(checked.all_ok(), "{:?}", checked.checked);
}

#[tokio::test]
async fn an_isolation_group_the_attacker_opened_is_refused_and_nothing_moves() {
    let w = world().await;
    let incident = w.incident();
    let first = w.respond(None).await;
    assert!(matches!(isolation(&first).status, Status::Done { .. }));
    let record = w.record().await;

    // The interface goes back (a release), then the attacker opens Firebreak's own group,
    // by the id Firebreak recorded, before the incident's isolation runs again.
    let released = firebreak_aws::run::release::release(
        &w.responder(None),
        &Triage::new(w.config()).unwrap(),
        &incident.id,
        Options::default(),
    )
    .await
    .unwrap();
    let restore = released
        .outcomes
        .iter()
        .find(|o| o.kind == "restore_security_groups")
        .unwrap();
    assert!(matches!(restore.status, Status::Done { .. }), "{restore:?}");
    for groups in w.eni_groups().await.values() {
        assert_eq!(groups, std::slice::from_ref(&w.server.original_group));
    }
    open(&w.ec2, &record.isolation_group).await;
    let before = (w.groups().await, w.eni_groups().await);

    let again = w.respond(None).await;
    let outcome = isolation(&again);
    let Status::Failed { code, message } = &outcome.status else {
        panic!("{outcome:?}");
    };
    assert_eq!(code, REFUSED);
    assert!(
        message.contains(&record.isolation_group) && message.contains("1 inbound"),
        "{message}"
    );
    assert!(outcome.changes.is_empty(), "{:?}", outcome.changes);
    assert!(w.enis_in(&record.isolation_group).await.is_empty());
    assert_eq!(
        (w.groups().await, w.eni_groups().await),
        before,
        "the account is unchanged"
    );

    // Already in the group when the attacker opens it: refused too, never "already isolated".
    let w = world().await;
    w.respond(None).await;
    let record = w.record().await;
    w.ec2
        .authorize_security_group_egress()
        .group_id(&record.isolation_group)
        .ip_permissions(everything())
        .send()
        .await
        .unwrap();
    let again = w.respond(None).await;
    assert!(
        matches!(&isolation(&again).status, Status::Failed { code, .. } if code == REFUSED),
        "{:?}",
        isolation(&again)
    );
}

#[tokio::test]
async fn an_isolation_group_opened_while_an_interface_passes_through_sends_it_home() {
    let w = world().await;
    let incident = w.incident();
    let bucket = w.stack.bucket.clone();
    let vpc = w.server.vpc_id.clone();
    let sdk = w.sdk.clone();
    // Right after the interface entered the pass-through group, the attacker opens the
    // isolation group Firebreak recorded (read from the record, as Firebreak reads it).
    let hook = move || {
        let (sdk, bucket, vpc, id) = (
            sdk.clone(),
            bucket.clone(),
            vpc.clone(),
            incident.id.clone(),
        );
        block_on(async move {
            let key = format!("incidents/{id}/isolation/{vpc}.json");
            let body = seed::s3_client(&sdk)
                .get_object()
                .bucket(&bucket)
                .key(&key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes();
            let record: IsolationGroups = serde_json::from_slice(&body).unwrap();
            open(&aws_sdk_ec2::Client::new(&sdk), &record.isolation_group).await;
        })
    };
    let (ec2, tamper) = tampered(
        &w.sdk,
        Tamper {
            calls: Mutex::new(Vec::new()),
            pending: Mutex::new(None),
            fail: |_| false,
            after_first: Some(Box::new(hook)),
        },
    );
    let r = w.respond(Some(ec2)).await;
    let record = w.record().await;
    let outcome = isolation(&r);
    let Status::Failed { code, message } = &outcome.status else {
        panic!("{outcome:?}");
    };
    assert_eq!(code, REFUSED);
    assert!(
        message.contains("restored to its original groups"),
        "{message}"
    );
    for groups in w.eni_groups().await.values() {
        assert_eq!(
            groups,
            std::slice::from_ref(&w.server.original_group),
            "back home"
        );
    }
    assert!(w.enis_in(&record.pass_through_group).await.is_empty());
    assert!(w.enis_in(&record.isolation_group).await.is_empty());
    // Through the pass-through group and straight back: never into the opened group.
    let calls = tamper.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        [
            vec![record.pass_through_group.clone()],
            vec![w.server.original_group.clone()]
        ]
    );
    assert!(
        outcome.changes.is_empty(),
        "nothing left for a release: {:?}",
        outcome.changes
    );
}

#[tokio::test]
async fn a_move_into_isolation_that_fails_once_is_finished_and_said() {
    let w = world().await;
    let (ec2, tamper) = tampered(
        &w.sdk,
        Tamper {
            calls: Mutex::new(Vec::new()),
            pending: Mutex::new(None),
            fail: |n| n == 2,
            after_first: None,
        },
    );
    let r = w.respond(Some(ec2)).await;
    let record = w.record().await;
    let outcome = isolation(&r);
    let Status::Done { detail } = &outcome.status else {
        panic!("{outcome:?}");
    };
    assert!(
        detail.contains(&format!(
            "moved into isolation group {} on a second attempt",
            record.isolation_group
        )),
        "{detail}"
    );
    for groups in w.eni_groups().await.values() {
        assert_eq!(groups, std::slice::from_ref(&record.isolation_group));
    }
    assert_eq!(w.rules(&record.isolation_group).await, (0, 0));
    assert!(w.enis_in(&record.pass_through_group).await.is_empty());
    assert_eq!(tamper.calls.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_move_into_isolation_that_keeps_failing_goes_back_to_the_original_groups() {
    let w = world().await;
    let (ec2, tamper) = tampered(
        &w.sdk,
        Tamper {
            calls: Mutex::new(Vec::new()),
            pending: Mutex::new(None),
            fail: |n| n == 2 || n == 3,
            after_first: None,
        },
    );
    let r = w.respond(Some(ec2)).await;
    let record = w.record().await;
    let outcome = isolation(&r);
    let Status::Failed { message, .. } = &outcome.status else {
        panic!("{outcome:?}");
    };
    assert!(
        message.contains("restored to its original groups")
            && message.contains(&w.server.original_group),
        "{message}"
    );
    for groups in w.eni_groups().await.values() {
        assert_eq!(
            groups,
            std::slice::from_ref(&w.server.original_group),
            "back home"
        );
    }
    assert!(w.enis_in(&record.pass_through_group).await.is_empty());
    let calls = tamper.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert_eq!(calls[3], std::slice::from_ref(&w.server.original_group));
    assert!(outcome.changes.is_empty());
}
