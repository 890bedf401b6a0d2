//! Firebreak's wiring built on the emulator as the template wires it: two functions (created
//! with CreateFunction; the emulator needs no Docker until one is invoked) with the stack's
//! environment and their own roles, a rule on the default bus and one on Firebreak's bus each
//! targeting its function, the S1/S2 topics with a queue subscribed, and the Object Lock
//! evidence bucket with a deny statement in its policy. The clock function runs in-process with
//! the `FIREBREAK_WIRING_*` variables the template gives it.

use serde_json::{Value, json};

use crate::moto::{HOME_ACCOUNT, REGION};
use crate::seed;

/// Firebreak's bus on the emulator.
pub const BUS: &str = "firebreak-wiring-bus";

/// The clock function's name on the emulator.
pub const CLOCK: &str = "fb-clock";

/// The deny statement the emulator's bucket policy holds. (The template's `TlsOnly` has a
/// condition the emulator cannot evaluate: on the emulator it would refuse every object write.)
pub const DENY_SID: &str = "EvidenceIsNeverDeleted";
/// The subject of the clock's daily plan-review page.
const PLAN_REVIEW_SUBJECT: &str = "Firebreak: the response plan is due for review";

/// The wired stack.
pub struct WiredWorld {
    /// The emulator and Firebreak's stack on it.
    pub base: crate::world::World,
    /// The failure queues (URLs) the clock's environment names.
    pub failure_queues: Vec<String>,
    /// `(bus, rule name, target function ARN)`.
    pub rules: Vec<(String, String, String)>,
    /// `(function ARN, role ARN)`.
    pub functions: Vec<(String, String)>,
    /// The clock function, in-process.
    pub clock: firebreak_lambda::Context,
}

/// The bucket policy the emulator's evidence bucket carries.
pub fn bucket_policy(bucket: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": DENY_SID,
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration"],
            "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")]
        }]
    })
    .to_string()
}

/// The function's code. The emulator keeps the bytes and opens them only to invoke (which these
/// tests never do), so they need not be a real deployment package.
fn code() -> Vec<u8> {
    b"firebreak wiring test: never invoked".to_vec()
}

impl std::ops::Deref for WiredWorld {
    type Target = crate::world::World;

    fn deref(&self) -> &crate::world::World {
        &self.base
    }
}

impl WiredWorld {
    /// Builds the wiring on a fresh emulator.
    pub async fn build() -> WiredWorld {
        let base = crate::world::World::new().await;
        let (moto, sdk, stack) = (&base.moto, &base.sdk, &base.stack);
        let creds = moto.home_credentials().await;
        let s3 = seed::s3_client(sdk);
        s3.put_bucket_policy()
            .bucket(&stack.bucket)
            .policy(bucket_policy(&stack.bucket))
            .send()
            .await
            .expect("bucket policy");

        let iam = aws_sdk_iam::Client::new(sdk);
        let lambda = aws_sdk_lambda::Client::new(sdk);
        let events = aws_sdk_eventbridge::Client::new(sdk);
        events
            .create_event_bus()
            .name(BUS)
            .send()
            .await
            .expect("Firebreak's bus");

        let env = crate::lambda::function_env(moto, &creds, stack, BUS);
        let mut roles = Vec::new();
        for name in ["fb-TriageRole", "fb-PageRole", "fb-ClockRole"] {
            let arn = iam
                .create_role()
                .role_name(name)
                .assume_role_policy_document(
                    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
                    .to_string(),
                )
                .send()
                .await
                .expect("role")
                .role()
                .map(|r| r.arn().to_string())
                .expect("role ARN");
            roles.push(arn);
        }
        let mut env: Vec<(String, String)> = env;
        env.push(("FIREBREAK_OWN_ROLE_ARNS".into(), roles.join(",")));
        // What the template gives every function: the shared FIREBREAK_* variables.
        let shared: std::collections::HashMap<String, String> = env
            .iter()
            .filter(|(k, _)| {
                firebreak_lambda::settings::VARIABLES
                    .iter()
                    .any(|(n, _)| n == k)
            })
            .cloned()
            .collect();
        let mut functions = Vec::new();
        for (name, role) in [("fb-triage", &roles[0]), ("fb-page", &roles[1])] {
            let arn = lambda
                .create_function()
                .function_name(name)
                .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
                .handler("bootstrap")
                .role(role)
                .code(
                    aws_sdk_lambda::types::FunctionCode::builder()
                        .zip_file(aws_smithy_types::Blob::new(code()))
                        .build(),
                )
                .environment(
                    aws_sdk_lambda::types::Environment::builder()
                        .set_variables(Some(shared.clone()))
                        .build(),
                )
                .send()
                .await
                .unwrap_or_else(|e| panic!("create function {name}: {e:?}"))
                .function_arn()
                .expect("function ARN")
                .to_string();
            functions.push((arn, role.clone()));
        }

        let mut rules = Vec::new();
        let mut states = Vec::new();
        use aws_sdk_eventbridge::types::RuleState;
        for (bus, name, target, state) in [
            (
                "default",
                "fb-TriageFunctionGuardDutyFinding",
                &functions[0].0,
                RuleState::Enabled,
            ),
            (
                BUS,
                "fb-PageFunctionFirebreakEvents",
                &functions[1].0,
                RuleState::Enabled,
            ),
            // The rule that must see read-only calls, in the state that lets it.
            (
                "default",
                "fb-TriageFunctionCredentialReads",
                &functions[0].0,
                RuleState::EnabledWithAllCloudtrailManagementEvents,
            ),
        ] {
            events
                .put_rule()
                .name(name)
                .event_bus_name(bus)
                .event_pattern(json!({"source": ["firebreak"]}).to_string())
                .state(state.clone())
                .send()
                .await
                .expect("rule");
            states.push(state);
            events
                .put_targets()
                .rule(name)
                .event_bus_name(bus)
                .targets(
                    aws_sdk_eventbridge::types::Target::builder()
                        .id("function")
                        .arn(target)
                        .build()
                        .expect("target"),
                )
                .send()
                .await
                .expect("target");
            rules.push((bus.to_string(), name.to_string(), target.clone()));
        }

        let rule_arn = |bus: &str, name: &str| {
            if bus == "default" {
                format!("arn:aws:events:{REGION}:{HOME_ACCOUNT}:rule/{name}")
            } else {
                format!("arn:aws:events:{REGION}:{HOME_ACCOUNT}:rule/{bus}/{name}")
            }
        };
        env.push((
            "FIREBREAK_WIRING_RULES".into(),
            rules
                .iter()
                .zip(&states)
                .map(|((bus, name, target), state)| match state {
                    RuleState::Enabled => format!("{}={target}", rule_arn(bus, name)),
                    other => format!("{}@{}={target}", rule_arn(bus, name), other.as_str()),
                })
                .collect::<Vec<_>>()
                .join(","),
        ));
        env.push((
            "FIREBREAK_WIRING_FUNCTIONS".into(),
            functions
                .iter()
                .map(|(f, r)| format!("{f}={r}"))
                .collect::<Vec<_>>()
                .join(","),
        ));
        env.push(("FIREBREAK_WIRING_BUCKET_DENY".into(), DENY_SID.into()));
        // The clock function itself, as deployed: the shared variables and its wiring.
        let mut clock_env = shared.clone();
        clock_env.extend(
            env.iter()
                .filter(|(k, _)| k.starts_with(firebreak_core::lifecycle::wiring::OWN_PREFIX))
                .cloned(),
        );
        // The two failure queues, named to the clock as the template names them.
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let mut failure_queues = Vec::new();
        for name in ["fb-function-failures", "fb-rule-dead-letters"] {
            let url = sqs
                .create_queue()
                .queue_name(name)
                .send()
                .await
                .expect("create a failure queue")
                .queue_url()
                .unwrap_or_default()
                .to_string();
            failure_queues.push(url);
        }
        clock_env.insert(
            "FIREBREAK_WIRING_FAILURE_QUEUES".into(),
            failure_queues.join(","),
        );
        lambda
            .create_function()
            .function_name(CLOCK)
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .handler("bootstrap")
            .role(&roles[2])
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(aws_smithy_types::Blob::new(code()))
                    .build(),
            )
            .environment(
                aws_sdk_lambda::types::Environment::builder()
                    .set_variables(Some(clock_env))
                    .build(),
            )
            .send()
            .await
            .expect("create the clock function");
        let settings = firebreak_lambda::Settings::from_lookup(|name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .expect("the clock's settings");
        assert!(settings.wiring.is_some(), "the clock is given its wiring");
        let clock =
            firebreak_lambda::Context::new(firebreak_lambda::Function::Clock, sdk, settings)
                .expect("clock context");
        WiredWorld {
            base,
            failure_queues,
            rules,
            functions,
            clock,
        }
    }

    /// One run of the clock function on its hourly schedule: its answer.
    pub async fn tick(&self) -> Value {
        let scheduled = json!({
            "version": "0", "id": "8c1e2a1d-0000-4000-8000-000000000001",
            "detail-type": "Scheduled Event", "source": "aws.events",
            "account": HOME_ACCOUNT, "region": REGION, "resources": [], "detail": {}
        })
        .to_string();
        let collector = crate::collector(format!(
            "arn:aws:lambda:{REGION}:{HOME_ACCOUNT}:function:fb-clock"
        ));
        self.clock
            .handle(&scheduled, collector)
            .await
            .unwrap_or_else(|e| panic!("the clock failed: {e}"))
    }

    /// Every page the queue holds now, emptied: `(topic ARN, subject, message)`. The plan-review
    /// page is left out: with no drill on record the clock sends it on any run in the 09:00 UTC
    /// hour, whatever a test did to the wiring, so a test run at nine would see it.
    pub async fn pages(&self) -> Vec<(String, String, String)> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        crate::eventbridge::drain_queue(&sqs, &self.stack.queue_url)
            .await
            .into_iter()
            .map(|body| {
                let v: Value = serde_json::from_str(&body).expect("an SNS envelope");
                let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                (field("TopicArn"), field("Subject"), field("Message"))
            })
            .filter(|(_, subject, _)| !subject.starts_with(PLAN_REVIEW_SUBJECT))
            .collect()
    }

    /// Runs the `firebreak` binary (`cargo build -p firebreak-cli` builds it) against the
    /// emulator as the home account, with infra/firebreak.toml pointed at this stack; returns
    /// (exit code, stdout, stderr).
    pub async fn firebreak(&self, args: &[&str]) -> (i32, String, String) {
        use aws_credential_types::provider::ProvideCredentials;
        let dir = std::env::temp_dir().join(format!(
            "firebreak-wiring-{}-{}",
            std::process::id(),
            self.moto.endpoint.rsplit(':').next().unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).expect("test directory");
        let config = std::fs::read_to_string(crate::repo().join("infra/firebreak.toml"))
            .expect("infra/firebreak.toml")
            .replace("firebreak-evidence-111122223333", &self.stack.bucket)
            .replace(
                "arn:aws:sns:us-east-1:111122223333:firebreak-s1-pager",
                &self.stack.pager_topic,
            )
            .replace(
                "arn:aws:sns:us-east-1:111122223333:firebreak-s2-ticket",
                &self.stack.ticket_topic,
            );
        let path = dir.join("firebreak.toml");
        std::fs::write(&path, config).expect("configuration");
        let creds = self
            .sdk
            .credentials_provider()
            .expect("credentials")
            .provide_credentials()
            .await
            .expect("credentials");
        let out = std::process::Command::new(crate::cli::binary())
            .args(args)
            .arg("--endpoint")
            .arg(&self.moto.endpoint)
            .arg("--config")
            .arg(&path)
            .env_clear()
            .env("AWS_ACCESS_KEY_ID", creds.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key())
            .env(
                "AWS_SESSION_TOKEN",
                creds.session_token().unwrap_or_default(),
            )
            .env("AWS_REGION", REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("run firebreak");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The subscription of the queue to `topic`.
    pub async fn subscription(&self, topic: &str) -> String {
        aws_sdk_sns::Client::new(&self.sdk)
            .list_subscriptions_by_topic()
            .topic_arn(topic)
            .send()
            .await
            .expect("subscriptions")
            .subscriptions()
            .first()
            .and_then(|s| s.subscription_arn())
            .expect("the queue's subscription")
            .to_string()
    }
}
