//! The forwarders' heartbeats: every hour each forwarder's schedule rule
//! (`firebreak-forward-heartbeat`, `infra/forwarder.yaml`) has EventBridge put a Scheduled Event
//! for its account and region on the intake bus. `triage` records one object per account,
//! region and hour, and once that the pair was ever heard (`seen/`); the clock pages every pair
//! ever heard and not in the last two hours (a deleted forwarder stack, a broken role, a removed
//! target) until it is heard again or retired on purpose (`retired/<account>/<region>.json`,
//! written by a responder). No caller can put source `aws.events`, and the intake bus takes it
//! only through a forwarder role; but a heartbeat proves only that path and its own rule alive,
//! not every forwarder rule enabled (`firebreak doctor --accounts` reads those).

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

/// The forwarders' schedule rule.
pub const RULE: &str = "firebreak-forward-heartbeat";

/// Where heartbeats are recorded in the evidence bucket.
pub const PREFIX: &str = "clock/heartbeats/";

/// Hours without a heartbeat before an account or region is called silent.
pub const SILENT_AFTER_HOURS: i64 = 2;

/// Hours of heartbeats read to say when a silent pair was last heard.
pub const LOOK_BACK_HOURS: i64 = 26;

/// One heartbeat: an account and region alive in an hour.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Heartbeat {
    /// The forwarder's account.
    pub account: String,
    /// The forwarder's region.
    pub region: String,
    /// The hour (`YYYY-MM-DDTHH`, UTC) it was sent in.
    pub hour: String,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    source: Option<&'a str>,
    #[serde(rename = "detail-type", borrow)]
    detail_type: Option<&'a str>,
    #[serde(borrow)]
    account: Option<&'a str>,
    #[serde(borrow)]
    region: Option<&'a str>,
    time: Option<DateTime<Utc>>,
    #[serde(default)]
    resources: Vec<String>,
}

/// The heartbeat `raw` is: `None` when it is no Scheduled Event of `aws.events`; an error when it
/// is one but not a forwarder's heartbeat of the account and region it came from.
pub fn parse(raw: &str) -> Option<Result<Heartbeat, String>> {
    let e: Envelope = serde_json::from_str(raw).ok()?;
    if e.source != Some("aws.events") || e.detail_type != Some("Scheduled Event") {
        return None;
    }
    Some(judge(&e))
}

fn judge(e: &Envelope) -> Result<Heartbeat, String> {
    let [rule] = e.resources.as_slice() else {
        return Err(format!(
            "a Scheduled Event names {} resources, not the one heartbeat rule",
            e.resources.len()
        ));
    };
    // arn:<partition>:events:<region>:<account>:rule/firebreak-forward-heartbeat
    let parts: Vec<&str> = rule.splitn(6, ':').collect();
    let [_, _, "events", region, account, name] = parts.as_slice() else {
        return Err(format!("{rule:?} is not an EventBridge rule ARN"));
    };
    if *name != format!("rule/{RULE}") {
        return Err(format!("{rule:?} is not a forwarder's heartbeat rule"));
    }
    crate::action::names::account_id(account).map_err(|e| e.to_string())?;
    if !crate::config::region_name_ok(region) {
        return Err(format!("{region:?} is not a region"));
    }
    if e.account != Some(*account) || e.region != Some(*region) {
        return Err(format!(
            "the heartbeat of {account} {region} came as {:?} {:?}",
            e.account, e.region
        ));
    }
    let time = e
        .time
        .ok_or_else(|| "a heartbeat without its time".to_string())?;
    Ok(Heartbeat {
        account: (*account).to_string(),
        region: (*region).to_string(),
        hour: crate::record::reminder_hour(time),
    })
}

/// Where heartbeat `h` is recorded.
pub fn key(h: &Heartbeat) -> String {
    format!("{PREFIX}{}/{}/{}.json", h.hour, h.account, h.region)
}

/// The marker that `h`'s account and region were ever heard.
pub fn seen_key(h: &Heartbeat) -> String {
    format!("{PREFIX}seen/{}/{}.json", h.account, h.region)
}

/// What a key under [`PREFIX`] records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A heartbeat of an hour.
    Beat(Heartbeat),
    /// The pair was heard once.
    Seen(String, String),
    /// The pair was retired on purpose: no longer expected.
    Retired(String, String),
}

/// What `key` records, if anything.
pub fn recorded(key: &str) -> Option<Recorded> {
    let rest = key.strip_prefix(PREFIX)?.strip_suffix(".json")?;
    let mut parts = rest.split('/');
    let (first, account, region) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let pair = || (account.to_string(), region.to_string());
    match first {
        "seen" => Some(Recorded::Seen(pair().0, pair().1)),
        "retired" => Some(Recorded::Retired(pair().0, pair().1)),
        hour if hour.len() == 13 && hour.starts_with(|c: char| c.is_ascii_digit()) => {
            Some(Recorded::Beat(Heartbeat {
                account: account.to_string(),
                region: region.to_string(),
                hour: hour.to_string(),
            }))
        }
        _ => None,
    }
}

/// The heartbeat recorded at `key`, if it is one.
pub fn from_key(key: &str) -> Option<Heartbeat> {
    match recorded(key)? {
        Recorded::Beat(h) => Some(h),
        _ => None,
    }
}

/// The key to list from at `now`: heartbeats of the last [`LOOK_BACK_HOURS`], then (sorting
/// after every hour) `retired/` and `seen/`.
pub fn list_from(now: DateTime<Utc>) -> String {
    format!(
        "{PREFIX}{}",
        crate::record::reminder_hour(now - Duration::hours(LOOK_BACK_HOURS))
    )
}

/// An account and region that fell silent, with the last hour it was heard (`None`: before the
/// [`LOOK_BACK_HOURS`] read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silent {
    /// Account.
    pub account: String,
    /// Region.
    pub region: String,
    /// The last hour a heartbeat came, if within the hours read.
    pub last: Option<String>,
}

/// Every account and region ever heard (or heard in the hours read) and not retired, that sent
/// no heartbeat in the last [`SILENT_AFTER_HOURS`], from the recorded `keys`.
pub fn silent(keys: &[String], now: DateTime<Utc>) -> Vec<Silent> {
    use std::collections::{BTreeMap, BTreeSet};
    let recent = crate::record::reminder_hour(now - Duration::hours(SILENT_AFTER_HOURS));
    let oldest = crate::record::reminder_hour(now - Duration::hours(LOOK_BACK_HOURS));
    let mut last: BTreeMap<(String, String), Option<String>> = BTreeMap::new();
    let mut retired = BTreeSet::new();
    for r in keys.iter().filter_map(|k| recorded(k)) {
        match r {
            Recorded::Beat(h) if h.hour >= oldest => {
                let heard = last.entry((h.account, h.region)).or_default();
                if heard.as_ref().is_none_or(|l| h.hour > *l) {
                    *heard = Some(h.hour);
                }
            }
            Recorded::Beat(_) => {}
            Recorded::Seen(a, r) => {
                last.entry((a, r)).or_default();
            }
            Recorded::Retired(a, r) => {
                retired.insert((a, r));
            }
        }
    }
    last.into_iter()
        .filter(|(pair, heard)| {
            !retired.contains(pair) && heard.as_ref().is_none_or(|h| *h < recent)
        })
        .map(|((account, region), last)| Silent {
            account,
            region,
            last,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn event(account: &str, region: &str, rule: &str) -> String {
        serde_json::json!({
            "version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": account, "time": "2026-12-07T10:00:00Z", "region": region,
            "resources": [rule], "detail": {}
        })
        .to_string()
    }

    #[test]
    fn a_forwarders_heartbeat_is_read_and_anything_else_refused_or_passed_over() {
        let rule = "arn:aws:events:eu-west-1:444455556666:rule/firebreak-forward-heartbeat";
        let h = parse(&event("444455556666", "eu-west-1", rule))
            .unwrap()
            .unwrap();
        assert_eq!(
            key(&h),
            "clock/heartbeats/2026-12-07T10/444455556666/eu-west-1.json"
        );
        assert_eq!(from_key(&key(&h)), Some(h));
        // Not a Scheduled Event of aws.events: not a heartbeat at all.
        assert!(parse(r#"{"source":"aws.guardduty","detail-type":"GuardDuty Finding"}"#).is_none());
        // Another schedule, another account's rule, a hostile region: refused.
        for (account, region, rule) in [
            (
                "444455556666",
                "eu-west-1",
                "arn:aws:events:eu-west-1:444455556666:rule/nightly",
            ),
            ("111122223333", "eu-west-1", rule),
            (
                "444455556666",
                "../x",
                "arn:aws:events:../x:444455556666:rule/firebreak-forward-heartbeat",
            ),
        ] {
            assert!(
                parse(&event(account, region, rule)).unwrap().is_err(),
                "{account} {region} {rule}"
            );
        }
    }

    #[test]
    fn a_pair_ever_heard_and_not_for_two_hours_is_silent_until_heard_again_or_retired() {
        let now = at("2026-12-07T10:30:00Z");
        let keys: Vec<String> = [
            "clock/heartbeats/2026-12-07T10/444455556666/eu-west-1.json",
            "clock/heartbeats/2026-12-07T07/444455556666/us-west-2.json",
            "clock/heartbeats/2026-12-07T09/444455556666/us-west-2.json",
            "clock/heartbeats/2026-12-07T06/777788889999/eu-west-1.json",
            "clock/heartbeats/2026-12-05T06/777788889999/ap-south-1.json",
            "clock/heartbeats/retired/777788889999/sa-east-1.json",
            "clock/heartbeats/seen/444455556666/eu-west-1.json",
            "clock/heartbeats/seen/777788889999/ap-south-1.json",
            "clock/heartbeats/seen/777788889999/sa-east-1.json",
            "clock/heartbeats/seen/777788889999/eu-west-1.json",
            "clock/index/x.json",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            silent(&keys, now),
            vec![
                // Heard two days ago, before the hours read: still silent, for ever.
                Silent {
                    account: "777788889999".into(),
                    region: "ap-south-1".into(),
                    last: None,
                },
                Silent {
                    account: "777788889999".into(),
                    region: "eu-west-1".into(),
                    last: Some("2026-12-07T06".into()),
                },
            ]
        );
        assert_eq!(list_from(now), "clock/heartbeats/2026-12-06T08");
        assert!("clock/heartbeats/retired/" > list_from(now).as_str());
        assert!("clock/heartbeats/seen/" > list_from(now).as_str());
    }
}
