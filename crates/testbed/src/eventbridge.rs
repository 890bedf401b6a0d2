//! The template's EventBridge rules, created on the emulator with an SQS queue as each rule's
//! target: an event put on a bus shows which functions it would reach.

use aws_config::SdkConfig;
use serde_json::Value;

use crate::template::Rule;

/// The rules, installed, each with its queue.
pub struct Taps {
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    /// Firebreak's bus on the emulator.
    pub bus: String,
    /// The intake bus on the emulator (`<bus>-intake`).
    pub intake: String,
    /// Each rule with its queue URL.
    pub rules: Vec<(Rule, String)>,
}

impl Taps {
    /// Creates Firebreak's bus `bus` and every rule of the template on it or on the default bus.
    pub async fn install(sdk: &SdkConfig, bus: &str) -> Taps {
        let events = aws_sdk_eventbridge::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        events
            .create_event_bus()
            .name(bus)
            .send()
            .await
            .expect("create Firebreak's bus");
        let intake = format!("{bus}-intake");
        events
            .create_event_bus()
            .name(&intake)
            .send()
            .await
            .expect("create the intake bus");
        let mut rules = Vec::new();
        for rule in crate::template::rules() {
            let name = format!("{}-{}", rule.function, rule.name);
            let url = sqs
                .create_queue()
                .queue_name(&name)
                .send()
                .await
                .expect("queue")
                .queue_url()
                .unwrap_or_default()
                .to_string();
            let arn = format!(
                "arn:aws:sqs:{}:{}:{name}",
                crate::moto::REGION,
                crate::moto::HOME_ACCOUNT
            );
            let on = if rule.firebreak_bus {
                bus
            } else if rule.intake_bus {
                intake.as_str()
            } else {
                "default"
            };
            events
                .put_rule()
                .name(&name)
                .event_bus_name(on)
                .event_pattern(rule.pattern.to_string())
                .send()
                .await
                .unwrap_or_else(|e| panic!("rule {name}: {e:?}"));
            events
                .put_targets()
                .rule(&name)
                .event_bus_name(on)
                .targets(
                    aws_sdk_eventbridge::types::Target::builder()
                        .id("queue")
                        .arn(arn)
                        .build()
                        .expect("target"),
                )
                .send()
                .await
                .expect("target");
            rules.push((rule, url));
        }
        Taps {
            events,
            sqs,
            bus: bus.to_string(),
            intake,
            rules,
        }
    }

    /// Puts `event` (an EventBridge event as JSON) on the default bus or Firebreak's.
    pub async fn put(&self, firebreak_bus: bool, event: &Value) {
        let bus = if firebreak_bus {
            self.bus.clone()
        } else {
            "default".into()
        };
        self.put_on(&bus, event).await;
    }

    /// Puts `event` on the intake bus, as a forwarder would.
    pub async fn put_intake(&self, event: &Value) {
        self.put_on(&self.intake.clone(), event).await;
    }

    async fn put_on(&self, bus: &str, event: &Value) {
        let resources: Vec<String> = event["resources"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(bus)
            .source(event["source"].as_str().unwrap_or_default())
            .detail_type(event["detail-type"].as_str().unwrap_or_default())
            .detail(event["detail"].to_string())
            .set_resources(Some(resources))
            .build();
        let out = self
            .events
            .put_events()
            .entries(entry)
            .send()
            .await
            .expect("put events");
        assert_eq!(out.failed_entry_count(), 0, "{out:?}");
    }

    /// Every event each rule's queue holds now, emptied: `(function, rule name, event)`.
    pub async fn drain(&self) -> Vec<(String, String, Value)> {
        let mut got = Vec::new();
        for (rule, url) in &self.rules {
            for body in drain_queue(&self.sqs, url).await {
                let event: Value = serde_json::from_str(&body).expect("event JSON");
                got.push((rule.function.clone(), rule.name.clone(), event));
            }
        }
        // EventBridge delivers to the stages at once; delivered one by one, preserve goes first,
        // or contain would wait out its bound for the instance evidence preserve takes.
        got.sort_by_key(|(function, _, _)| function != "PreserveFunction");
        got
    }
}

/// Every message body queue `url` holds now, deleted as read.
pub async fn drain_queue(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        if out.messages().is_empty() {
            return bodies;
        }
        for m in out.messages() {
            bodies.push(m.body().unwrap_or_default().to_string());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
}
