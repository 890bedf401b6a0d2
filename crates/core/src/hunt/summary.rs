//! What the hunted principals did, from their records: the sessions they minted (hunted next),
//! the indicators they tripped (each record judged by triage's own rules), what they created,
//! changed and read, and a timeline a responder reads top to bottom.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::query::Who;
use super::scan::Hit;
use crate::action::names::printable_line;
use crate::event::{CLOUDTRAIL_API_CALL, CLOUDTRAIL_SERVICE_EVENT, CLOUDTRAIL_SIGN_IN};
use crate::record::incident::Decision;
use crate::severity::Severity;
use crate::triage::Triage;
use crate::triage::rules::eventbridge_source;

/// Calls that mint temporary credentials for their caller, by the key in their response.
const MINTING: [&str; 3] = ["AssumeRole", "GetSessionToken", "GetFederationToken"];

/// A principal a hunt follows, and how it came to be hunted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hunted {
    /// The principal.
    #[serde(serialize_with = "display")]
    pub who: Who,
    /// `named` for those the responder gave; otherwise the call that minted it, when and by
    /// whom (`AssumeRole at … by …`).
    pub origin: String,
}

fn display<S: serde::Serializer>(who: &Who, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(who)
}

/// The credentials a record gave its caller, to be hunted next: the temporary key of an
/// `AssumeRole`, `GetSessionToken` or `GetFederationToken` that succeeded (only an `ASIA…`
/// key: a forged record naming somebody's long-term key is not followed), and the long-term
/// key of a `CreateAccessKey` (a backdoor user's key, say).
pub fn minted(hit: &Hit, by: &Who) -> Option<Hunted> {
    // Most records mint nothing: only those naming a minting call are read.
    if !MINTING
        .iter()
        .chain(&["CreateAccessKey"])
        .any(|n| hit.raw.contains(n))
    {
        return None;
    }
    let record: Value = serde_json::from_str(&hit.raw).ok()?;
    let name = record.get("eventName")?.as_str()?;
    if record.get("errorCode").is_some() {
        return None;
    }
    let (pointer, prefix) = match name {
        _ if MINTING.contains(&name) => ("/responseElements/credentials/accessKeyId", "ASIA"),
        "CreateAccessKey" => ("/responseElements/accessKey/accessKeyId", "AKIA"),
        _ => return None,
    };
    let key = record.pointer(pointer)?.as_str()?;
    if !key.starts_with(prefix) {
        return None;
    }
    let who = Who::parse(key)
        .ok()
        .filter(|w| matches!(w, Who::AccessKey(_)))?;
    Some(Hunted {
        who,
        origin: format!("{name} at {} by {by}", hit.time),
    })
}

/// One indicator a hunted principal tripped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tripped {
    /// The indicator (`iocs.toml` id, or a built-in such as `root-console-sign-in`).
    pub indicator: String,
    /// The worst severity triage gave a record that tripped it.
    pub severity: Severity,
    /// How many records tripped it.
    pub records: usize,
    /// The first record's time and call.
    pub first: String,
}

/// Something a hunted principal created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Created {
    /// When.
    pub time: String,
    /// The call (`iam:CreateUser`).
    pub call: String,
    /// What it names (a user, key, role, instance …), as the record gives it.
    pub what: String,
}

/// The summary of a hunt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Matching records.
    pub records: usize,
    /// The first and last record's time.
    pub first: Option<String>,
    /// The last record's time.
    pub last: Option<String>,
    /// Each hunted principal, its origin and its record count.
    pub principals: Vec<(Hunted, usize)>,
    /// Indicators tripped, worst first.
    pub indicators: Vec<Tripped>,
    /// What was created, in time order.
    pub created: Vec<Created>,
    /// Calls that changed something, with counts (`iam:AttachUserPolicy`).
    pub changed: BTreeMap<String, usize>,
    /// Calls that only read, with counts.
    pub read: BTreeMap<String, usize>,
    /// Calls AWS refused, with counts (`iam:CreateUser AccessDenied`).
    pub refused: BTreeMap<String, usize>,
    /// Source addresses, with counts.
    pub source_ips: BTreeMap<String, usize>,
    /// Accounts and regions the records are in (`111122223333 us-east-1`).
    pub places: BTreeMap<String, usize>,
}

/// One hit read for the timeline and the summary.
#[derive(Debug, Clone, Default)]
pub struct Line {
    /// `eventTime`.
    pub time: String,
    /// `iam:CreateUser`.
    pub call: String,
    /// The account and region.
    pub place: String,
    /// `sourceIPAddress`.
    pub source_ip: String,
    /// `errorCode`, when AWS refused the call.
    pub error: Option<String>,
    /// Which hunted principal.
    pub principal: usize,
    /// Indicators it tripped, with the severity triage gave it.
    pub indicators: Vec<String>,
    /// Triage's severity, when it tripped any.
    pub severity: Option<Severity>,
    read_only: bool,
    created: Option<String>,
}

/// Reads every hit (sorted by the caller) into a timeline line, judging each with `triage`.
pub fn lines(hits: &[Hit], triage: &Triage) -> Vec<Line> {
    hits.iter().map(|hit| line(hit, triage)).collect()
}

fn line(hit: &Hit, triage: &Triage) -> Line {
    let Ok(record) = serde_json::from_str::<Value>(&hit.raw) else {
        return Line {
            time: hit.time.clone(),
            principal: hit.principal,
            ..Line::default()
        };
    };
    let s = |k: &str| record.get(k).and_then(Value::as_str).unwrap_or_default();
    let service = s("eventSource").trim_end_matches(".amazonaws.com");
    let call = format!("{service}:{}", s("eventName"));
    let (indicators, severity) = judge(&hit.raw, &record, triage);
    let error = record
        .get("errorCode")
        .and_then(Value::as_str)
        .map(str::to_string);
    let read_only = match record.get("readOnly") {
        Some(Value::Bool(b)) => *b,
        _ => is_read_name(s("eventName")),
    };
    Line {
        time: hit.time.clone(),
        place: format!("{} {}", s("recipientAccountId"), s("awsRegion")),
        source_ip: s("sourceIPAddress").to_string(),
        principal: hit.principal,
        created: if error.is_none() {
            created(s("eventName"), &record)
        } else {
            None
        },
        call,
        error,
        indicators,
        severity,
        read_only,
    }
}

fn is_read_name(name: &str) -> bool {
    ["Get", "List", "Describe", "Head", "Lookup", "BatchGet"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// Triage's verdict on one record, delivered as EventBridge would: the indicators it trips
/// and its severity. A record triage cannot read trips none.
fn judge(raw: &str, record: &Value, triage: &Triage) -> (Vec<String>, Option<Severity>) {
    let s = |k: &str| record.get(k).and_then(Value::as_str).unwrap_or_default();
    let detail_type = match s("eventType") {
        "AwsConsoleSignIn" => CLOUDTRAIL_SIGN_IN,
        "AwsServiceEvent" => CLOUDTRAIL_SERVICE_EVENT,
        _ => CLOUDTRAIL_API_CALL,
    };
    // Only root's calls and calls a rule names can trip an indicator (`tests/hunt.rs` holds
    // this against every sample): the rest are not judged, which a busy principal's hunt needs.
    let root = record.pointer("/userIdentity/type").and_then(Value::as_str) == Some("Root");
    if !root && !triage.rules().names_call(s("eventSource"), s("eventName")) {
        return (Vec::new(), None);
    }
    let Some(source) = eventbridge_source(s("eventSource")) else {
        return (Vec::new(), None);
    };
    let envelope = serde_json::json!({
        "version": "0",
        "id": s("eventID"),
        "detail-type": detail_type,
        "source": source,
        "account": s("recipientAccountId"),
        "time": s("eventTime"),
        "region": s("awsRegion"),
        "resources": [],
    });
    let mut text = envelope.to_string();
    text.pop();
    text.push_str(",\"detail\":");
    text.push_str(raw);
    text.push('}');
    match triage.triage_json(&text) {
        Ok(Decision::Incident(incident)) => (incident.iocs.clone(), Some(incident.severity)),
        _ => (Vec::new(), None),
    }
}

/// Calls that create something, and where their record names it.
fn created(name: &str, record: &Value) -> Option<String> {
    const VERBS: [&str; 7] = [
        "Create", "Run", "Allocate", "Import", "Register", "Copy", "Upload",
    ];
    if !VERBS.iter().any(|v| name.starts_with(v)) {
        return None;
    }
    if name == "RunInstances" {
        let ids: Vec<&str> = record
            .pointer("/responseElements/instancesSet/items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| i.get("instanceId").and_then(Value::as_str))
            .collect();
        return Some(ids.join(", "));
    }
    const KEYS: [&str; 16] = [
        "accessKeyId",
        "userName",
        "roleName",
        "groupName",
        "policyArn",
        "functionName",
        "instanceId",
        "snapshotId",
        "imageId",
        "groupId",
        "keyId",
        "bucketName",
        "secretId",
        "name",
        "arn",
        "id",
    ];
    for part in ["responseElements", "requestParameters"] {
        let Some(v) = record.get(part) else { continue };
        for key in KEYS {
            if let Some(found) = find(v, key, 0) {
                return Some(found.to_string());
            }
        }
    }
    Some(String::new())
}

/// The first string under `key`, at most four levels down.
fn find<'v>(v: &'v Value, key: &str, depth: usize) -> Option<&'v str> {
    if depth > 4 {
        return None;
    }
    match v {
        Value::Object(map) => map
            .get(key)
            .and_then(Value::as_str)
            .or_else(|| map.values().find_map(|c| find(c, key, depth + 1))),
        _ => None,
    }
}

/// The summary of the timeline `lines`, for the principals `hunted`.
pub fn summarise(lines: &[Line], hunted: &[Hunted]) -> Summary {
    let mut out = Summary {
        records: lines.len(),
        first: lines.first().map(|l| l.time.clone()),
        last: lines.last().map(|l| l.time.clone()),
        principals: hunted.iter().map(|h| (h.clone(), 0)).collect(),
        ..Summary::default()
    };
    let mut tripped: BTreeMap<String, Tripped> = BTreeMap::new();
    for l in lines {
        if let Some((_, n)) = out.principals.get_mut(l.principal) {
            *n += 1;
        }
        for ioc in &l.indicators {
            let t = tripped.entry(ioc.clone()).or_insert_with(|| Tripped {
                indicator: ioc.clone(),
                severity: l.severity.unwrap_or(Severity::S4),
                records: 0,
                first: format!("{} {}", l.time, l.call),
            });
            t.records += 1;
            t.severity = t.severity.worst(l.severity.unwrap_or(Severity::S4));
        }
        if let Some(what) = &l.created {
            out.created.push(Created {
                time: l.time.clone(),
                call: l.call.clone(),
                what: what.clone(),
            });
        }
        let bucket = match (&l.error, l.read_only) {
            (Some(code), _) => {
                *out.refused.entry(format!("{} {code}", l.call)).or_default() += 1;
                None
            }
            (None, true) => Some(&mut out.read),
            (None, false) => Some(&mut out.changed),
        };
        if let Some(bucket) = bucket {
            *bucket.entry(l.call.clone()).or_default() += 1;
        }
        if !l.source_ip.is_empty() {
            *out.source_ips.entry(l.source_ip.clone()).or_default() += 1;
        }
        *out.places.entry(l.place.clone()).or_default() += 1;
    }
    out.indicators = tripped.into_values().collect();
    out.indicators
        .sort_by(|a, b| a.severity.cmp(&b.severity).then(b.records.cmp(&a.records)));
    out
}

/// The timeline, one line a record.
pub fn render_timeline(lines: &[Line], hunted: &[Hunted]) -> String {
    let mut out = String::new();
    for l in lines {
        let who = hunted
            .get(l.principal)
            .map(|h| h.who.to_string())
            .unwrap_or_default();
        let line = format!(
            "{}  {:<24}  {:<40}  {}  from {}",
            l.time, l.place, l.call, who, l.source_ip
        );
        out.push_str(&printable_line(&line));
        if let Some(code) = &l.error {
            out.push_str(&format!("  REFUSED {code}"));
        }
        if !l.indicators.is_empty() {
            let severity = l.severity.map(|s| format!("{s:?} ")).unwrap_or_default();
            out.push_str(&format!("  !! {severity}{}", l.indicators.join(", ")));
        }
        out.push('\n');
    }
    out
}

/// The summary, for a responder.
pub fn render_summary(s: &Summary) -> String {
    let mut out = format!("{} records", s.records);
    if let (Some(first), Some(last)) = (&s.first, &s.last) {
        out.push_str(&format!(", {first} to {last}"));
    }
    out.push('\n');
    out.push_str("Principals:\n");
    for (h, n) in &s.principals {
        out.push_str(&format!("  {} ({}): {n} records\n", h.who, h.origin));
    }
    let section = |out: &mut String, title: &str, map: &BTreeMap<String, usize>| {
        if map.is_empty() {
            return;
        }
        out.push_str(&format!("{title}:\n"));
        for (k, n) in map {
            out.push_str(&format!("  {} ×{n}\n", printable_line(k)));
        }
    };
    if s.indicators.is_empty() {
        out.push_str("Indicators: none tripped\n");
    } else {
        out.push_str("Indicators:\n");
        for t in &s.indicators {
            out.push_str(&format!(
                "  {:?} {} ×{} (first {})\n",
                t.severity, t.indicator, t.records, t.first
            ));
        }
    }
    if !s.created.is_empty() {
        out.push_str("Created:\n");
        for c in &s.created {
            out.push_str(&format!(
                "  {} {} {}\n",
                c.time,
                c.call,
                printable_line(&c.what)
            ));
        }
    }
    section(&mut out, "Changed", &s.changed);
    section(&mut out, "Read", &s.read);
    section(&mut out, "Refused", &s.refused);
    section(&mut out, "From", &s.source_ips);
    section(&mut out, "Where", &s.places);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn hit(raw: &str) -> Hit {
        let v: Value = serde_json::from_str(raw).unwrap();
        Hit {
            time: v["eventTime"].as_str().unwrap().to_string(),
            event_id: v["eventID"].as_str().unwrap_or_default().to_string(),
            principal: 0,
            raw: raw.to_string(),
        }
    }

    const CREATE_USER: &str = r#"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/mallory","accountId":"111122223333","accessKeyId":"AKIAMALLORY00000001","principalId":"AIDAMALLORY"},"eventTime":"2026-11-03T10:00:01Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli","requestParameters":{"userName":"backdoor"},"responseElements":{"user":{"userName":"backdoor","arn":"arn:aws:iam::111122223333:user/backdoor"}},"eventID":"e1","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333"}"#;
    const ASSUME: &str = r#"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/mallory","accountId":"111122223333","accessKeyId":"AKIAMALLORY00000001"},"eventTime":"2026-11-03T10:00:02Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRole","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","requestParameters":{"roleArn":"arn:aws:iam::111122223333:role/Admin","roleSessionName":"x"},"responseElements":{"credentials":{"accessKeyId":"ASIAMINTED000000001","expiration":"Nov 3, 2026, 11:00:02 AM"},"assumedRoleUser":{"arn":"arn:aws:sts::111122223333:assumed-role/Admin/x"}},"eventID":"e2","readOnly":true,"eventType":"AwsApiCall","recipientAccountId":"111122223333"}"#;

    const CREATE_KEY: &str = r#"{"eventTime":"2026-11-03T10:00:03Z","eventName":"CreateAccessKey","responseElements":{"accessKey":{"userName":"backdoor","accessKeyId":"AKIABACKDOOR0000001","status":"Active"}}}"#;

    #[test]
    fn a_minted_session_is_followed_by_its_key_and_a_refused_one_is_not() {
        let by = Who::AccessKey("AKIAMALLORY00000001".into());
        let m = minted(&hit(ASSUME), &by).unwrap();
        assert_eq!(m.who, Who::AccessKey("ASIAMINTED000000001".into()));
        assert!(
            m.origin
                .starts_with("AssumeRole at 2026-11-03T10:00:02Z by AKIAMALLORY")
        );
        let refused = ASSUME.replace("\"eventID\"", "\"errorCode\":\"AccessDenied\",\"eventID\"");
        assert_eq!(minted(&hit(&refused), &by), None);
        let forged = ASSUME.replace("ASIAMINTED000000001", "AKIAADMIN0000000001");
        assert_eq!(
            minted(&hit(&forged), &by),
            None,
            "a long-term key is never minted"
        );
        let created = minted(&hit(CREATE_KEY), &by).unwrap();
        assert_eq!(created.who, Who::AccessKey("AKIABACKDOOR0000001".into()));
        assert_eq!(minted(&hit(CREATE_USER), &by), None);
    }

    #[test]
    fn the_summary_names_indicators_creations_and_reads() {
        let triage = Triage::new(Config::default()).unwrap();
        let hunted = [Hunted {
            who: Who::AccessKey("AKIAMALLORY00000001".into()),
            origin: "named".into(),
        }];
        let lines = lines(&[hit(CREATE_USER), hit(ASSUME)], &triage);
        let s = summarise(&lines, &hunted);
        assert_eq!(s.records, 2);
        assert_eq!(s.principals[0].1, 2);
        assert!(
            s.indicators
                .iter()
                .any(|t| t.indicator == "iam-user-created"),
            "{:?}",
            s.indicators
        );
        assert_eq!(s.created[0].call, "iam:CreateUser");
        assert_eq!(s.created[0].what, "backdoor");
        assert_eq!(s.changed.get("iam:CreateUser"), Some(&1));
        assert_eq!(s.read.get("sts:AssumeRole"), Some(&1));
        let text = render_summary(&s);
        assert!(text.contains("iam-user-created"), "{text}");
        let timeline = render_timeline(&lines, &hunted);
        assert_eq!(timeline.lines().count(), 2);
    }
}
