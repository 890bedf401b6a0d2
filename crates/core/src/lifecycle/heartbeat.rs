//! The forwarders' heartbeats: every hour each forwarder's schedule rule
//! (`firebreak-forward-heartbeat`, `infra/forwarder.yaml`) has EventBridge put a Scheduled Event
//! for its account and region on the intake bus. `triage` records one object per account,
//! region and hour; the clock pages an account or region that sent heartbeats in the last day
//! and none in the last two hours (a deleted forwarder stack, a broken role, a disabled rule).
//! Source `aws.events` cannot be put by any caller, so a heartbeat cannot be forged.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

/// The forwarders' schedule rule.
pub const RULE: &str = "firebreak-forward-heartbeat";

/// Where heartbeats are recorded in the evidence bucket.
pub const PREFIX: &str = "clock/heartbeats/";

/// Hours without a heartbeat before an account or region is called silent.
pub const SILENT_AFTER_HOURS: i64 = 2;

/// Hours looked back for accounts and regions that sent heartbeats.
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

fn region_ok(r: &str) -> bool {
    (1..=32).contains(&r.len())
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
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
    if !region_ok(region) {
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

/// The heartbeat recorded at `key`, if it is one.
pub fn from_key(key: &str) -> Option<Heartbeat> {
    let rest = key.strip_prefix(PREFIX)?.strip_suffix(".json")?;
    let mut parts = rest.split('/');
    let (hour, account, region) = (parts.next()?, parts.next()?, parts.next()?);
    (parts.next().is_none() && hour.len() == 13).then(|| Heartbeat {
        account: account.to_string(),
        region: region.to_string(),
        hour: hour.to_string(),
    })
}

/// The key to list from at `now`: heartbeats of the last [`LOOK_BACK_HOURS`].
pub fn list_from(now: DateTime<Utc>) -> String {
    format!(
        "{PREFIX}{}",
        crate::record::reminder_hour(now - Duration::hours(LOOK_BACK_HOURS))
    )
}

/// An account and region that fell silent, with the last hour it was heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silent {
    /// Account.
    pub account: String,
    /// Region.
    pub region: String,
    /// The last hour a heartbeat came.
    pub last: String,
}

/// Every account and region heard in the last [`LOOK_BACK_HOURS`] and not in the last
/// [`SILENT_AFTER_HOURS`], from the recorded `keys`.
pub fn silent(keys: &[String], now: DateTime<Utc>) -> Vec<Silent> {
    let recent = crate::record::reminder_hour(now - Duration::hours(SILENT_AFTER_HOURS));
    let oldest = crate::record::reminder_hour(now - Duration::hours(LOOK_BACK_HOURS));
    let mut last: std::collections::BTreeMap<(String, String), String> = Default::default();
    for h in keys.iter().filter_map(|k| from_key(k)) {
        if h.hour < oldest {
            continue;
        }
        let seen = last.entry((h.account, h.region)).or_default();
        if h.hour > *seen {
            *seen = h.hour;
        }
    }
    last.into_iter()
        .filter(|(_, hour)| *hour < recent)
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
    fn an_account_and_region_heard_today_and_not_for_two_hours_is_silent() {
        let now = at("2026-12-07T10:30:00Z");
        let keys: Vec<String> = [
            "clock/heartbeats/2026-12-07T10/444455556666/eu-west-1.json",
            "clock/heartbeats/2026-12-07T07/444455556666/us-west-2.json",
            "clock/heartbeats/2026-12-07T09/444455556666/us-west-2.json",
            "clock/heartbeats/2026-12-07T06/777788889999/eu-west-1.json",
            "clock/heartbeats/2026-12-05T06/777788889999/ap-south-1.json",
            "clock/index/x.json",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            silent(&keys, now),
            vec![Silent {
                account: "777788889999".into(),
                region: "eu-west-1".into(),
                last: "2026-12-07T06".into(),
            }]
        );
        assert_eq!(list_from(now), "clock/heartbeats/2026-12-06T08");
    }
}
