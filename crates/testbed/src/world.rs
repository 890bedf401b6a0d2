//! The one test world: an emulator with Firebreak's stack seeded in its home account, and what
//! tests build on it (a responder, the deployed functions' handlers, pages and evidence read
//! back). The CLI harness, the clock's and the wiring check's worlds extend it.

use crate::moto::{HOME_ACCOUNT, Moto};
use crate::seed::{self, Stack};
use aws_config::SdkConfig;
use firebreak_aws::{Clients, Responder, Response};
use firebreak_core::{Config, Decision, Incident, Triage};
use serde_json::Value;

/// Firebreak's own bus in the tests.
pub const BUS: &str = "firebreak-bus";

/// An emulator (stopped on drop) with Firebreak's stack seeded.
pub struct World {
    /// The emulator.
    pub moto: Moto,
    /// SDK configuration of the home account.
    pub sdk: SdkConfig,
    /// Bucket, topics, the queue that reads pages.
    pub stack: Stack,
}

impl World {
    /// A fresh emulator, seeded.
    pub async fn new() -> World {
        World::on(Moto::start()).await
    }

    /// The same on an emulator serving one request at a time (see [`Moto::start_serial`]).
    pub async fn serial() -> World {
        World::on(Moto::start_serial()).await
    }

    async fn on(moto: Moto) -> World {
        let sdk = moto.sdk().await;
        let stack = seed::stack(&sdk).await;
        World { moto, sdk, stack }
    }

    /// The deployed functions' handlers (in-process), with Firebreak's bus created.
    pub async fn functions(
        &self,
    ) -> std::collections::BTreeMap<&'static str, firebreak_lambda::Context> {
        let events = aws_sdk_eventbridge::Client::new(&self.sdk);
        let _ = events.create_event_bus().name(BUS).send().await;
        let creds = self.moto.home_credentials().await;
        let env = crate::lambda::function_env(&self.moto, &creds, &self.stack, BUS);
        crate::lambda::contexts(&env, &self.sdk)
    }

    /// The project configuration, pointed at this world's stack.
    pub fn config(&self) -> Config {
        seed::config(&self.stack)
    }

    /// A responder of the security account, collecting as a test user.
    pub fn responder(&self, config: Config) -> Responder {
        self.responder_with(config, false)
    }

    /// A responder of the security account; `dry_run` makes no mutating call.
    pub fn responder_with(&self, config: Config, dry_run: bool) -> Responder {
        Responder::new(
            Clients::new(&self.sdk),
            HOME_ACCOUNT,
            config,
            crate::collector(format!("arn:aws:iam::{HOME_ACCOUNT}:user/firebreak-tests")),
            dry_run,
        )
        .expect("a responder")
    }

    /// Triage under `config`, then the whole response; `None` when triage ignored the event.
    pub async fn respond(&self, config: Config, event: &Value) -> Option<(Incident, Response)> {
        self.respond_with(config, false, event).await.ok()
    }

    /// Triage, then the whole response (dry with `dry_run`), of an event that must open an
    /// incident.
    pub async fn incident(
        &self,
        config: Config,
        dry_run: bool,
        event: &Value,
    ) -> (Incident, Response) {
        match self.respond_with(config, dry_run, event).await {
            Ok(done) => done,
            Err(reason) => panic!("ignored: {reason}"),
        }
    }

    /// Triage, then the whole response; the reason when triage ignored the event.
    async fn respond_with(
        &self,
        config: Config,
        dry_run: bool,
        event: &Value,
    ) -> Result<(Incident, Response), String> {
        let text = event.to_string();
        let incident = match Triage::new(config.clone())
            .expect("rules")
            .triage_json(&text)
            .expect("triage")
        {
            Decision::Incident(i) => *i,
            Decision::Ignored { reason } => return Err(reason),
        };
        let response = self
            .responder_with(config, dry_run)
            .respond(&incident, &text)
            .await;
        Ok((incident, response))
    }

    /// An evidence object of this world's bucket, read as JSON.
    pub async fn read_json(&self, key: &str) -> serde_json::Value {
        let out = crate::seed::s3_client(&self.sdk)
            .get_object()
            .bucket(&self.stack.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        serde_json::from_slice(&out.body.collect().await.unwrap().into_bytes()).unwrap()
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk)
    }

    /// Inline policy names of a user.
    pub async fn user_policies(&self, user: &str) -> Vec<String> {
        let iam = self.iam();
        let mut names: Vec<String> = iam
            .list_user_policies()
            .user_name(user)
            .send()
            .await
            .expect("list user policies")
            .policy_names()
            .to_vec();
        let attached = iam
            .list_attached_user_policies()
            .user_name(user)
            .send()
            .await
            .expect("list attached user policies");
        names.extend(
            attached
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_name().map(str::to_string)),
        );
        names
    }

    /// Inline policy names of a role.
    pub async fn role_policies(&self, role: &str) -> Vec<String> {
        self.iam()
            .list_role_policies()
            .role_name(role)
            .send()
            .await
            .expect("list role policies")
            .policy_names()
            .to_vec()
    }

    /// Every page and ticket published so far (the SNS messages on the subscribed queue).
    pub async fn pages(&self) -> Vec<Value> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let mut all = Vec::new();
        loop {
            let out = sqs
                .receive_message()
                .queue_url(&self.stack.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receive");
            if out.messages().is_empty() {
                return all;
            }
            for m in out.messages() {
                all.push(serde_json::from_str(m.body().unwrap_or("{}")).expect("SNS envelope"));
            }
        }
    }

    /// Object keys under `incidents/`.
    pub async fn evidence_keys(&self) -> Vec<String> {
        let s3 = seed::s3_client(&self.sdk);
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let out = s3
                .list_objects_v2()
                .bucket(&self.stack.bucket)
                .prefix("incidents/")
                .set_continuation_token(token)
                .send()
                .await
                .expect("list evidence");
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            match out.next_continuation_token() {
                Some(t) => token = Some(t.to_string()),
                None => return keys,
            }
        }
    }
}

/// A CloudTrail API-call event as EventBridge delivers it, in the home account.
pub fn cloudtrail(source: &str, name: &str, who: Value, request: Value, event_id: &str) -> Value {
    serde_json::json!({
        "version": "0", "id": format!("eb-{event_id}"), "detail-type": "AWS API Call via CloudTrail",
        "source": firebreak_core::triage::rules::eventbridge_source(source).unwrap_or_default(), "account": HOME_ACCOUNT,
        "time": "2026-12-06T03:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {
            "eventVersion": "1.09", "userIdentity": who, "eventTime": "2026-12-06T02:59:30Z",
            "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2",
            "requestParameters": request, "responseElements": null, "requestID": format!("r-{event_id}"),
            "eventID": event_id, "readOnly": false, "eventType": "AwsApiCall",
            "recipientAccountId": HOME_ACCOUNT
        }
    })
}

/// An IAM user's identity in a CloudTrail record.
pub fn iam_user(account: &str, name: &str, key: &str) -> Value {
    serde_json::json!({"type": "IAMUser", "principalId": "AIDAEXAMPLEPRINCIPAL", "arn": format!("arn:aws:iam::{account}:user/{name}"),
        "accountId": account, "accessKeyId": key, "userName": name})
}
