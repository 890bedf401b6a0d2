//! CloudTrail log files to hunt through: the trail's own layout
//! (`AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/…json.gz`), background records of
//! many principals shaped like the sample events in `events/`, and a planted attacker whose
//! every record is known, across accounts, regions and a day boundary, with sessions it minted.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};

/// The planted attacker's long-term key.
pub const ATTACKER_KEY: &str = "AKIAFBHUNTATTACKER01";
/// The attacker's user.
pub const ATTACKER_USER: &str = "arn:aws:iam::111122223333:user/ops-mallory";
/// The session the attacker's key minted in the member account.
pub const MINTED_KEY: &str = "ASIAFBHUNTMINTED0001";
/// The session that session minted in turn.
pub const MINTED_AGAIN_KEY: &str = "ASIAFBHUNTMINTED0002";
/// A key one character longer than the attacker's, of somebody else.
pub const LOOKALIKE_KEY: &str = "AKIAFBHUNTATTACKER012";
/// The accounts.
pub const ACCOUNTS: [&str; 2] = ["111122223333", "444455556666"];
/// The regions.
pub const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The first day.
    pub start: NaiveDate,
    /// How many days.
    pub days: u32,
    /// Background records in all.
    pub records: usize,
    /// Records a file at most.
    pub per_file: usize,
    /// Background principals.
    pub principals: usize,
    /// Seed of the pseudo-random choices.
    pub seed: u64,
    /// Seconds of records a file holds (CloudTrail delivers about every five minutes).
    pub window_secs: i64,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            start: NaiveDate::from_ymd_opt(2026, 11, 2).expect("a date"),
            days: 3,
            records: 20_000,
            per_file: 500,
            principals: 50,
            seed: 7,
            window_secs: 300,
        }
    }
}

/// What was written: the files, and the planted attacker's event ids by principal.
#[derive(Debug, Default)]
pub struct Written {
    /// Every file written.
    pub files: Vec<PathBuf>,
    /// Bytes of JSON before gzip.
    pub json_bytes: u64,
    /// Event ids of the attacker's own key's records.
    pub attacker: BTreeSet<String>,
    /// Event ids of the records of the sessions it minted (both rounds).
    pub minted: BTreeSet<String>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The CloudTrail record (the `detail`) of every `ct-*.json` sample in `events/`.
pub fn shapes() -> Vec<Value> {
    let dir = crate::repo().join("events");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("events/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("ct-") && n.ends_with(".json"))
        })
        .collect();
    names.sort();
    names
        .iter()
        .filter_map(|p| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
            v.get("detail").filter(|d| d.is_object()).cloned()
        })
        .collect()
}

fn identity(rng: &mut Rng, i: usize, account: &str) -> Value {
    if i % 3 == 0 {
        let role = format!("app-{}", i % 7);
        json!({
            "type": "AssumedRole",
            "principalId": format!("AROABACKGROUND{i:06}:i-{i:08x}"),
            "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/i-{i:08x}"),
            "accountId": account,
            "accessKeyId": format!("ASIABACKGROUND{i:06}"),
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": format!("AROABACKGROUND{i:06}"),
                    "arn": format!("arn:aws:iam::{account}:role/{role}"),
                    "accountId": account,
                    "userName": role
                },
                "attributes": {"creationDate": "2026-11-01T00:00:00Z", "mfaAuthenticated": "false"}
            }
        })
    } else {
        // One background user is named like the attacker with a suffix; one key is the
        // attacker's with one more character.
        let name = match i {
            1 => "ops-mallory2".to_string(),
            _ => format!("dev-{i}"),
        };
        let key = match i {
            2 => LOOKALIKE_KEY.to_string(),
            _ => format!("AKIABACKGROUND{:06}", i + rng.below(1)),
        };
        json!({
            "type": "IAMUser",
            "principalId": format!("AIDABACKGROUND{i:06}"),
            "arn": format!("arn:aws:iam::{account}:user/{name}"),
            "accountId": account,
            "accessKeyId": key,
            "userName": name
        })
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// One record of `shape` by `who` at `t` in `account`/`region`.
fn record(
    shape: &Value,
    who: Value,
    t: DateTime<Utc>,
    account: &str,
    region: &str,
    id: &str,
) -> Value {
    let mut r = shape.clone();
    let o = r.as_object_mut().expect("a record is an object");
    o.insert("userIdentity".into(), who);
    o.insert("eventTime".into(), json!(stamp(t)));
    o.insert("eventID".into(), json!(id));
    o.insert("recipientAccountId".into(), json!(account));
    o.insert("awsRegion".into(), json!(region));
    o.remove("errorCode");
    o.remove("errorMessage");
    r
}

fn attacker_identity() -> Value {
    json!({
        "type": "IAMUser",
        "principalId": "AIDAFBHUNTMALLORY01",
        "arn": ATTACKER_USER,
        "accountId": ACCOUNTS[0],
        "accessKeyId": ATTACKER_KEY,
        "userName": "ops-mallory"
    })
}

fn session_identity(key: &str, role: &str, session: &str) -> Value {
    let account = ACCOUNTS[1];
    json!({
        "type": "AssumedRole",
        "principalId": format!("AROAFBHUNT{role}:{session}"),
        "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
        "accountId": account,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "arn": format!("arn:aws:iam::{account}:role/{role}"),
                "accountId": account,
                "userName": role
            }
        }
    })
}

/// The attacker's story: (when, account, region, record). Its key reads, creates a user and a
/// key, is refused a role, stops a trail in another region, assumes a role in the member
/// account; that session runs an instance and assumes another role, whose session opens a
/// bucket. It crosses midnight between the first and second day.
fn planted(spec: &Spec) -> Vec<(DateTime<Utc>, &'static str, &'static str, Value, bool)> {
    let midnight = (spec.start + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let call = |source: &str, name: &str, read_only: bool, req: Value, resp: Value| {
        json!({
            "eventVersion": "1.09",
            "eventSource": format!("{source}.amazonaws.com"),
            "eventName": name,
            "sourceIPAddress": "203.0.113.66",
            "userAgent": "aws-cli/2.15.0",
            "requestParameters": req,
            "responseElements": resp,
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "eventCategory": "Management"
        })
    };
    let mut refused = call(
        "iam",
        "CreateRole",
        false,
        json!({"roleName": "backdoor-role"}),
        Value::Null,
    );
    refused["errorCode"] = json!("AccessDenied");
    let (a, m) = (ACCOUNTS[0], ACCOUNTS[1]);
    let (east, west) = (REGIONS[0], REGIONS[1]);
    let s = |secs: i64| midnight + Duration::seconds(secs);
    let mine = true;
    vec![
        (
            s(-300),
            a,
            east,
            call("sts", "GetCallerIdentity", true, Value::Null, Value::Null),
            mine,
        ),
        (
            s(-120),
            a,
            east,
            call("iam", "ListUsers", true, Value::Null, Value::Null),
            mine,
        ),
        (
            s(-30),
            a,
            east,
            call(
                "iam",
                "CreateUser",
                false,
                json!({"userName": "svc-backup"}),
                json!({"user": {"userName": "svc-backup", "arn": format!("arn:aws:iam::{a}:user/svc-backup")}}),
            ),
            mine,
        ),
        (
            s(40),
            a,
            east,
            call(
                "iam",
                "CreateAccessKey",
                false,
                json!({"userName": "svc-backup"}),
                json!({"accessKey": {"userName": "svc-backup", "accessKeyId": "AKIAFBHUNTBACKDOOR01", "status": "Active"}}),
            ),
            mine,
        ),
        (
            s(90),
            a,
            east,
            call(
                "iam",
                "AttachUserPolicy",
                false,
                json!({"userName": "svc-backup", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
                Value::Null,
            ),
            mine,
        ),
        (s(120), a, east, refused, mine),
        (
            s(200),
            a,
            west,
            call(
                "cloudtrail",
                "StopLogging",
                false,
                json!({"name": format!("arn:aws:cloudtrail:{west}:{a}:trail/org-trail")}),
                Value::Null,
            ),
            mine,
        ),
        (
            s(400),
            a,
            east,
            call(
                "sts",
                "AssumeRole",
                true,
                json!({"roleArn": format!("arn:aws:iam::{m}:role/OrganizationAccountAccessRole"), "roleSessionName": "m"}),
                json!({"credentials": {"accessKeyId": MINTED_KEY, "expiration": "Nov 3, 2026, 1:06:40 AM"},
                   "assumedRoleUser": {"arn": format!("arn:aws:sts::{m}:assumed-role/OrganizationAccountAccessRole/m")}}),
            ),
            mine,
        ),
        (
            s(700),
            m,
            west,
            call(
                "ec2",
                "RunInstances",
                false,
                json!({"instanceType": "p4d.24xlarge"}),
                json!({"instancesSet": {"items": [{"instanceId": "i-0fbhunt000000001"}]}}),
            ),
            !mine,
        ),
        (
            s(800),
            m,
            east,
            call(
                "sts",
                "AssumeRole",
                true,
                json!({"roleArn": format!("arn:aws:iam::{m}:role/data-admin"), "roleSessionName": "d"}),
                json!({"credentials": {"accessKeyId": MINTED_AGAIN_KEY, "expiration": "Nov 3, 2026, 1:13:20 AM"},
                   "assumedRoleUser": {"arn": format!("arn:aws:sts::{m}:assumed-role/data-admin/d")}}),
            ),
            !mine,
        ),
        (
            s(900),
            m,
            east,
            call(
                "s3",
                "PutBucketPolicy",
                false,
                json!({"bucketName": "customer-exports", "bucketPolicy": {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]}}),
                Value::Null,
            ),
            !mine,
        ),
    ]
}

/// Writes the trail under `root` (`root/AWSLogs/…`).
pub fn write(root: &Path, spec: &Spec) -> Written {
    let shapes = shapes();
    assert!(!shapes.is_empty(), "no CloudTrail samples in events/");
    let mut rng = Rng(spec.seed.max(1));
    let start = spec.start.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let span = i64::from(spec.days.max(1)) * 86_400;
    // Every record: (time, account, region, record).
    let mut all: Vec<(DateTime<Utc>, &str, &str, Value)> = Vec::with_capacity(spec.records + 16);
    for n in 0..spec.records {
        let t = start + Duration::seconds((rng.next() % span as u64) as i64);
        let account = ACCOUNTS[rng.below(ACCOUNTS.len())];
        let region = REGIONS[rng.below(REGIONS.len())];
        // Principal 0, a workload's role session, makes three records in ten: it is in about
        // every file, as a busy service is.
        let principal = if rng.below(10) < 3 {
            0
        } else {
            rng.below(spec.principals)
        };
        let who = identity(&mut rng, principal, account);
        let shape = &shapes[rng.below(shapes.len())];
        all.push((
            t,
            account,
            region,
            record(shape, who, t, account, region, &format!("bg-{n}")),
        ));
    }
    // Somebody else acting on the attacker's key: the key is in the record, not the caller.
    let admin = identity(&mut rng, 4, ACCOUNTS[0]);
    let mut update = json!({
        "eventVersion": "1.09", "eventSource": "iam.amazonaws.com", "eventName": "UpdateAccessKey",
        "sourceIPAddress": "198.51.100.10", "readOnly": false, "eventType": "AwsApiCall",
        "requestParameters": {"accessKeyId": ATTACKER_KEY, "status": "Inactive"}
    });
    let t = start + Duration::seconds(span - 60);
    update = record(
        &update,
        admin,
        t,
        ACCOUNTS[0],
        REGIONS[0],
        "bg-admin-deactivates",
    );
    all.push((t, ACCOUNTS[0], REGIONS[0], update));

    let mut written = Written::default();
    for (i, (t, account, region, mut r, by_key)) in planted(spec).into_iter().enumerate() {
        let id = format!("planted-{i:02}");
        let who = if by_key {
            attacker_identity()
        } else if r["eventName"] == "PutBucketPolicy" {
            session_identity(MINTED_AGAIN_KEY, "data-admin", "d")
        } else {
            session_identity(MINTED_KEY, "OrganizationAccountAccessRole", "m")
        };
        r = record(&r, who, t, account, region, &id);
        if by_key {
            written.attacker.insert(id);
        } else {
            written.minted.insert(id);
        }
        // `record` dropped the error code of the shape: put the refusal back.
        if r["eventName"] == "CreateRole" {
            r["errorCode"] = json!("AccessDenied");
            r["errorMessage"] = json!("not authorized to perform iam:CreateRole");
        }
        all.push((t, account, region, r));
    }

    // Files: one per account, region and window, delivered five minutes after the window (so
    // records before midnight can sit in the next day's folder).
    all.sort_by(|a, b| (a.1, a.2, a.0).cmp(&(b.1, b.2, b.0)));
    let mut start_of_file = 0;
    let mut file_no = 0;
    while start_of_file < all.len() {
        let (t0, account, region, _) = &all[start_of_file];
        let width = spec.window_secs.max(1);
        let window = t0.timestamp() / width;
        let mut end = start_of_file;
        while end < all.len()
            && end - start_of_file < spec.per_file
            && all[end].1 == *account
            && all[end].2 == *region
            && all[end].0.timestamp() / width == window
        {
            end += 1;
        }
        let delivered = DateTime::<Utc>::from_timestamp((window + 1) * width + 300, 0)
            .expect("a delivery time");
        let dir = root.join(format!(
            "AWSLogs/{account}/CloudTrail/{region}/{}",
            delivered.format("%Y/%m/%d")
        ));
        std::fs::create_dir_all(&dir).expect("create the day folder");
        let records: Vec<&Value> = all[start_of_file..end].iter().map(|r| &r.3).collect();
        let json = serde_json::to_vec(&json!({ "Records": records })).expect("serialise");
        written.json_bytes += json.len() as u64;
        let path = dir.join(format!(
            "{account}_CloudTrail_{region}_{}_{file_no:06}.json.gz",
            delivered.format("%Y%m%dT%H%MZ")
        ));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&json).expect("gzip");
        std::fs::write(&path, gz.finish().expect("gzip")).expect("write a log file");
        written.files.push(path);
        file_no += 1;
        start_of_file = end;
    }
    written
}
