//! What a hunt looks for: principals, a time window and exact filters, compiled once into the
//! needles the scanner searches raw bytes for before it reads a record.

use std::borrow::Cow;

use aho_corasick::AhoCorasick;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use crate::event::principal::without_iam_path;

/// One principal to hunt, as a responder names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Who {
    /// An access key id (`AKIA…` long-term, `ASIA…` temporary): every call signed with it.
    AccessKey(String),
    /// An IAM user (`arn:…:iam::<account>:user/[path/]name`), whatever key or session it used.
    User(String),
    /// An IAM role (`arn:…:iam::<account>:role/[path/]name`): every session of it.
    Role(String),
    /// One role session (`arn:…:sts::<account>:assumed-role/<role>/<session>`).
    Session(String),
    /// The root user of one account, or of any (`root`).
    Root(Option<String>),
}

impl Who {
    /// Reads `--principal`: an access key id, a user, role or assumed-role ARN, a root ARN, or
    /// `root`.
    pub fn parse(text: &str) -> Result<Who, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("root") {
            return Ok(Who::Root(None));
        }
        if is_access_key_id(text) {
            return Ok(Who::AccessKey(text.to_string()));
        }
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        let [arn, _partition, service, "", account, resource] = parts[..] else {
            return Err(format!(
                "{text:?} is not an access key id (AKIA…/ASIA…), an IAM user, role or \
                 assumed-role ARN, a root ARN, or `root`"
            ));
        };
        if arn != "arn" || account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{text:?} is not an ARN with a 12-digit account id"));
        }
        match (service, resource.split_once('/')) {
            ("iam", None) if resource == "root" => Ok(Who::Root(Some(account.to_string()))),
            ("iam", Some(("user", name))) if named(name) => Ok(Who::User(text.to_string())),
            ("iam", Some(("role", name))) if named(name) => Ok(Who::Role(text.to_string())),
            ("sts", Some(("assumed-role", rest)))
                if rest.split('/').count() == 2 && rest.split('/').all(|p| !p.is_empty()) =>
            {
                Ok(Who::Session(text.to_string()))
            }
            _ => Err(format!(
                "{text:?}: hunt an IAM user, role, assumed-role session, root or access key"
            )),
        }
    }

    /// The principal as [`Who::parse`] reads it back.
    pub fn spec(&self) -> String {
        match self {
            Who::AccessKey(s) | Who::User(s) | Who::Role(s) | Who::Session(s) => s.clone(),
            Who::Root(Some(account)) => format!("arn:aws:iam::{account}:root"),
            Who::Root(None) => "root".into(),
        }
    }

    /// A string every record this principal made contains, as CloudTrail writes it: the
    /// scanner skips a file or a record without it before reading it.
    fn needle(&self) -> String {
        match self {
            Who::AccessKey(key) => key.clone(),
            // A user's or role's records name it with or without its path; the name is in both.
            Who::User(arn) | Who::Role(arn) => arn.rsplit('/').next().unwrap_or(arn).to_string(),
            Who::Session(arn) => arn.clone(),
            Who::Root(_) => "\"Root\"".to_string(),
        }
    }

    /// Whether a record's `userIdentity` is this principal (exactly: no prefix or pattern).
    fn is(&self, id: &Identity<'_>) -> bool {
        match self {
            Who::AccessKey(key) => id.access_key_id.as_deref() == Some(key),
            Who::User(arn) => {
                id.identity_type.as_deref() == Some("IAMUser") && same_iam(id.arn.as_deref(), arn)
            }
            Who::Role(arn) => same_iam(
                id.session_context
                    .as_ref()
                    .and_then(|c| c.session_issuer.as_ref())
                    .and_then(|i| i.arn.as_deref()),
                arn,
            ),
            Who::Session(arn) => id.arn.as_deref() == Some(arn),
            Who::Root(account) => {
                id.identity_type.as_deref() == Some("Root")
                    && account
                        .as_deref()
                        .is_none_or(|a| id.account_id.as_deref() == Some(a))
            }
        }
    }
}

impl std::fmt::Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Who::AccessKey(s) | Who::User(s) | Who::Role(s) | Who::Session(s) => f.write_str(s),
            Who::Root(Some(account)) => write!(f, "root of {account}"),
            Who::Root(None) => f.write_str("root"),
        }
    }
}

/// A path and name (`ops/alice`): the name, after the last `/`, is not empty.
fn named(path_and_name: &str) -> bool {
    path_and_name
        .rsplit('/')
        .next()
        .is_some_and(|n| !n.is_empty())
}

/// `AKIA…`/`ASIA…` followed by upper-case letters and digits, 16 to 128 characters in all.
fn is_access_key_id(text: &str) -> bool {
    (text.starts_with("AKIA") || text.starts_with("ASIA"))
        && (16..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Two IAM user or role ARNs naming the same identity: equal, or equal without their paths.
fn same_iam(seen: Option<&str>, wanted: &str) -> bool {
    let Some(seen) = seen else { return false };
    seen == wanted
        || matches!(
            (without_iam_path(seen), without_iam_path(wanted)),
            (Some(a), Some(b)) if a == b
        )
}

/// The hunt's question. Every filter given must hold; within one, any value may.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Whose records (none: everyone's).
    pub principals: Vec<Who>,
    /// Records at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Records before this time.
    pub until: Option<DateTime<Utc>>,
    /// `eventName`s.
    pub events: Vec<String>,
    /// `sourceIPAddress`es.
    pub source_ips: Vec<String>,
    /// Accounts (`recipientAccountId`).
    pub accounts: Vec<String>,
    /// Regions (`awsRegion`).
    pub regions: Vec<String>,
}

/// Reads `--since`/`--until`: RFC 3339 (`2026-11-03T10:00:00Z`) or a day (`2026-11-03`, its
/// midnight UTC).
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("{text:?} is neither RFC 3339 nor YYYY-MM-DD"))
}

/// A query made ready for scanning: the needles that must occur in a record for it to match,
/// searched all at once (a hunt that follows thousands of minted keys costs one pass).
#[derive(Debug, Clone)]
pub struct Compiled {
    query: Query,
    needles: Option<AhoCorasick>,
}

impl Compiled {
    /// Compiles a query. The needles come from the most selective filter given: principals,
    /// then event names, then source addresses; none when the query has none of them.
    pub fn new(query: Query) -> Compiled {
        let words: Vec<String> = if !query.principals.is_empty() {
            query.principals.iter().map(Who::needle).collect()
        } else if !query.events.is_empty() {
            query.events.clone()
        } else {
            query.source_ips.clone()
        };
        let needles = if words.is_empty() || words.iter().any(String::is_empty) {
            None
        } else {
            // Only fails past limits far beyond any key list; then every record is read.
            AhoCorasick::new(&words).ok()
        };
        Compiled { query, needles }
    }

    /// The query.
    pub fn query(&self) -> &Query {
        &self.query
    }

    /// Whether `bytes` could hold a matching record: one of the needles occurs in it (always
    /// true without needles). False means no record in `bytes` matches.
    pub fn may_match(&self, bytes: &[u8]) -> bool {
        self.needles.as_ref().is_none_or(|n| n.is_match(bytes))
    }

    /// Which principal a record is (its index in the query's list; 0 when the query names
    /// none), if the record matches every filter.
    pub fn matches(&self, record: &Light<'_>) -> Option<usize> {
        let q = &self.query;
        let time = record.time()?;
        if q.since.is_some_and(|s| time < s) || q.until.is_some_and(|u| time >= u) {
            return None;
        }
        let any = |wanted: &[String], seen: &Option<Cow<'_, str>>| {
            wanted.is_empty()
                || seen
                    .as_deref()
                    .is_some_and(|s| wanted.iter().any(|w| w == s))
        };
        if !any(&q.events, &record.event_name)
            || !any(&q.source_ips, &record.source_ip)
            || !any(&q.accounts, &record.account)
            || !any(&q.regions, &record.region)
        {
            return None;
        }
        if q.principals.is_empty() {
            return Some(0);
        }
        let id = record.user_identity.as_ref()?;
        q.principals.iter().position(|who| who.is(id))
    }
}

/// The fields of a CloudTrail record a hunt filters on, borrowed from the file's bytes.
#[derive(Debug, Deserialize)]
pub struct Light<'a> {
    /// `eventTime`.
    #[serde(rename = "eventTime", borrow)]
    pub event_time: Option<Cow<'a, str>>,
    /// `eventName`.
    #[serde(rename = "eventName", borrow)]
    pub event_name: Option<Cow<'a, str>>,
    /// `sourceIPAddress`.
    #[serde(rename = "sourceIPAddress", borrow)]
    pub source_ip: Option<Cow<'a, str>>,
    /// `recipientAccountId`.
    #[serde(rename = "recipientAccountId", borrow)]
    pub account: Option<Cow<'a, str>>,
    /// `awsRegion`.
    #[serde(rename = "awsRegion", borrow)]
    pub region: Option<Cow<'a, str>>,
    /// `eventID`.
    #[serde(rename = "eventID", borrow)]
    pub event_id: Option<Cow<'a, str>>,
    /// `userIdentity`.
    #[serde(rename = "userIdentity", borrow)]
    pub user_identity: Option<Identity<'a>>,
}

impl Light<'_> {
    /// `eventTime`, read.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        let text = self.event_time.as_deref()?;
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// `userIdentity`, the parts a principal is recognised by.
#[derive(Debug, Deserialize)]
pub struct Identity<'a> {
    /// `type`.
    #[serde(rename = "type", borrow)]
    pub identity_type: Option<Cow<'a, str>>,
    /// `arn`.
    #[serde(borrow)]
    pub arn: Option<Cow<'a, str>>,
    /// `accountId`.
    #[serde(rename = "accountId", borrow)]
    pub account_id: Option<Cow<'a, str>>,
    /// `accessKeyId`.
    #[serde(rename = "accessKeyId", borrow)]
    pub access_key_id: Option<Cow<'a, str>>,
    /// `sessionContext`.
    #[serde(rename = "sessionContext", borrow)]
    pub session_context: Option<SessionContext<'a>>,
}

/// `userIdentity.sessionContext`.
#[derive(Debug, Deserialize)]
pub struct SessionContext<'a> {
    /// `sessionIssuer`.
    #[serde(rename = "sessionIssuer", borrow)]
    pub session_issuer: Option<Issuer<'a>>,
}

/// `userIdentity.sessionContext.sessionIssuer`.
#[derive(Debug, Deserialize)]
pub struct Issuer<'a> {
    /// The role's (or user's) ARN.
    #[serde(borrow)]
    pub arn: Option<Cow<'a, str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn light(json: &str) -> Light<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn principals_are_read_or_refused_with_what_is_accepted() {
        assert_eq!(
            Who::parse("AKIAIOSFODNN7EXAMPLE"),
            Ok(Who::AccessKey("AKIAIOSFODNN7EXAMPLE".into()))
        );
        assert_eq!(Who::parse("root"), Ok(Who::Root(None)));
        assert_eq!(
            Who::parse("arn:aws:iam::111122223333:root"),
            Ok(Who::Root(Some("111122223333".into())))
        );
        assert!(matches!(
            Who::parse("arn:aws:iam::111122223333:role/ops/Deploy"),
            Ok(Who::Role(_))
        ));
        assert!(matches!(
            Who::parse("arn:aws:sts::111122223333:assumed-role/Deploy/i-0abc"),
            Ok(Who::Session(_))
        ));
        for bad in [
            "akiaiosfodnn7example",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::1111:user/x",
            "arn:aws:iam::111122223333:user/",
            "arn:aws:iam::111122223333:user/alice/",
            "arn:aws:sts::111122223333:assumed-role/Deploy/",
            "arn:aws:sts::111122223333:assumed-role/Deploy",
            "",
        ] {
            assert!(Who::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_user_matches_with_or_without_its_path_and_nothing_else() {
        let q = Compiled::new(Query {
            principals: vec![Who::parse("arn:aws:iam::111122223333:user/alice").unwrap()],
            ..Query::default()
        });
        let rec = |arn: &str, ty: &str| {
            format!(
                r#"{{"eventTime":"2026-11-03T10:00:00Z","userIdentity":{{"type":"{ty}","arn":"{arn}"}}}}"#
            )
        };
        let yes = rec("arn:aws:iam::111122223333:user/staff/alice", "IAMUser");
        assert_eq!(q.matches(&light(&yes)), Some(0));
        assert!(q.may_match(yes.as_bytes()));
        for no in [
            rec("arn:aws:iam::111122223333:user/alice2", "IAMUser"),
            rec("arn:aws:iam::444455556666:user/alice", "IAMUser"),
            rec(
                "arn:aws:sts::111122223333:assumed-role/alice/x",
                "AssumedRole",
            ),
        ] {
            assert_eq!(q.matches(&light(&no)), None, "{no}");
        }
    }

    #[test]
    fn the_window_is_half_open_and_a_record_without_a_time_never_matches() {
        let q = Compiled::new(Query {
            since: Some(parse_time("2026-11-03").unwrap()),
            until: Some(parse_time("2026-11-04T00:00:00Z").unwrap()),
            ..Query::default()
        });
        let at = |t: &str| format!(r#"{{"eventTime":"{t}"}}"#);
        assert_eq!(q.matches(&light(&at("2026-11-03T00:00:00Z"))), Some(0));
        assert_eq!(q.matches(&light(&at("2026-11-03T23:59:59Z"))), Some(0));
        assert_eq!(q.matches(&light(&at("2026-11-04T00:00:00Z"))), None);
        assert_eq!(q.matches(&light(&at("2026-11-02T23:59:59Z"))), None);
        assert_eq!(q.matches(&light("{}")), None);
    }

    #[test]
    fn a_role_matches_every_session_and_root_only_its_account() {
        let q = Compiled::new(Query {
            principals: vec![
                Who::parse("arn:aws:iam::111122223333:role/Deploy").unwrap(),
                Who::parse("arn:aws:iam::444455556666:root").unwrap(),
            ],
            ..Query::default()
        });
        let session = r#"{"eventTime":"2026-11-03T10:00:00Z","userIdentity":{"type":"AssumedRole",
            "arn":"arn:aws:sts::111122223333:assumed-role/Deploy/i-1",
            "sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::111122223333:role/ci/Deploy"}}}}"#;
        assert_eq!(q.matches(&light(session)), Some(0));
        let root = |account: &str| {
            format!(
                r#"{{"eventTime":"2026-11-03T10:00:00Z","userIdentity":{{"type":"Root","accountId":"{account}"}}}}"#
            )
        };
        assert_eq!(q.matches(&light(&root("444455556666"))), Some(1));
        assert_eq!(q.matches(&light(&root("111122223333"))), None);
    }
}
