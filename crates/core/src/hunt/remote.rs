//! A hunt fanned out: the log files cut into batches for workers (a Step Functions Distributed
//! Map runs one worker per batch), what a worker is told, and what it writes back. Pure: the
//! shell lists, uploads, starts and reads; this decides the shapes and checks every field a
//! worker is handed, since whoever can start the state machine chooses them.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::query::{Query, Who, parse_time};
use super::{FOLLOW_ROUNDS, Hit, Pass};

/// Compressed bytes of log files one worker reads at most (a worker holds their matches).
pub const BATCH_BYTES: u64 = 32 << 20;
/// Files one batch names at most (one Map item stays far below Step Functions' 256 KiB).
pub const BATCH_FILES: usize = 500;
/// Batches one execution runs at most: the Map's output is every worker's answer, and an
/// execution's output is limited to 256 KiB. A round with more runs several executions.
pub const EXECUTION_BATCHES: usize = 2000;
/// Where hunts are written in the evidence bucket.
pub const PREFIX: &str = "hunts/";

/// One log file to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    /// Its key in the trail's bucket.
    pub key: String,
    /// Its size as listed.
    pub size: u64,
}

/// One worker's share: a Map item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// Its name, unique within the round (`00017`): the worker writes `<part>.ndjson`.
    pub part: String,
    /// The files.
    pub files: Vec<File>,
}

/// Cuts `files` into batches of at most [`BATCH_BYTES`] and [`BATCH_FILES`] each, in order
/// (a file larger than a batch is a batch of its own: the worker refuses it by name).
pub fn batches(files: &[File]) -> Vec<Batch> {
    let mut out: Vec<Batch> = Vec::new();
    let mut bytes = 0u64;
    for file in files {
        let full = out.last().is_none_or(|b| {
            b.files.len() >= BATCH_FILES || bytes.saturating_add(file.size) > BATCH_BYTES
        });
        if full {
            out.push(Batch {
                part: format!("{:05}", out.len()),
                files: Vec::new(),
            });
            bytes = 0;
        }
        bytes = bytes.saturating_add(file.size);
        if let Some(last) = out.last_mut() {
            last.files.push(file.clone());
        }
    }
    out
}

/// What every worker of one round is told: the round's question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The hunt (`[a-z0-9-]`, at most 64 characters): its results go under `hunts/<id>/`.
    pub id: String,
    /// The round (0 for the principals named; then the sessions they minted).
    pub round: usize,
    /// Whose records, as `--principal` takes them (in the round's order: a hit names its
    /// principal by index).
    pub principals: Vec<String>,
    /// RFC 3339.
    pub since: Option<String>,
    /// RFC 3339.
    pub until: Option<String>,
    /// `eventName`s.
    #[serde(default)]
    pub events: Vec<String>,
    /// `sourceIPAddress`es.
    #[serde(default)]
    pub source_ips: Vec<String>,
    /// Accounts.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Regions.
    #[serde(default)]
    pub regions: Vec<String>,
}

impl Job {
    /// Round `round` of hunt `id` for `query`.
    pub fn new(id: &str, round: usize, query: &Query) -> Job {
        Job {
            id: id.to_string(),
            round,
            principals: query.principals.iter().map(Who::spec).collect(),
            since: query.since.map(|t| t.to_rfc3339()),
            until: query.until.map(|t| t.to_rfc3339()),
            events: query.events.clone(),
            source_ips: query.source_ips.clone(),
            accounts: query.accounts.clone(),
            regions: query.regions.clone(),
        }
    }

    /// The question, every field checked.
    pub fn query(&self) -> Result<Query, String> {
        check_id(&self.id)?;
        if self.round >= FOLLOW_ROUNDS {
            return Err(format!(
                "round {} is past the last ({FOLLOW_ROUNDS})",
                self.round
            ));
        }
        let time = |t: &Option<String>| -> Result<Option<DateTime<Utc>>, String> {
            t.as_deref().map(parse_time).transpose()
        };
        Ok(Query {
            principals: self
                .principals
                .iter()
                .map(|p| Who::parse(p))
                .collect::<Result<_, _>>()?,
            since: time(&self.since)?,
            until: time(&self.until)?,
            events: self.events.clone(),
            source_ips: self.source_ips.clone(),
            accounts: self.accounts.clone(),
            regions: self.regions.clone(),
        })
    }

    /// `hunts/<id>/round-<n>/`.
    pub fn folder(&self) -> String {
        format!("{PREFIX}{}/round-{:02}/", self.id, self.round)
    }

    /// The key of an execution's manifest (its batches).
    pub fn manifest_key(&self, execution: usize) -> String {
        format!("{}manifest-{execution:03}.json", self.folder())
    }

    /// The key a batch's results are written to.
    pub fn part_key(&self, part: &str) -> String {
        format!("{}{part}.ndjson", self.folder())
    }
}

/// A hunt's id: lower-case letters, digits and `-`, 1 to 64 characters (it is a key's folder
/// and an execution's name).
pub fn check_id(id: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "hunt id {:?} is not 1 to 64 of a-z, 0-9 and -",
            crate::action::names::printable_line(id)
        ))
    }
}

/// What a worker is handed (the Map's `ItemSelector`: the item and the job).
#[derive(Debug, Clone, Deserialize)]
pub struct Task {
    /// The batch.
    pub batch: Batch,
    /// The job.
    pub job: Job,
}

impl Task {
    /// Checks a task against the trail the worker is configured for (`logs_prefix`, the folder
    /// above `AWSLogs/`, empty at the bucket's top): its files must be log files of that trail,
    /// so a caller cannot point the worker at other objects of the bucket.
    pub fn check(&self, logs_prefix: &str) -> Result<Query, String> {
        let query = self.job.query()?;
        let part = &self.batch.part;
        if part.is_empty() || part.len() > 16 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "batch name {:?} is not up to 16 digits",
                crate::action::names::printable_line(part)
            ));
        }
        if self.batch.files.len() > BATCH_FILES {
            return Err(format!(
                "batch {part} names {} files; at most {BATCH_FILES}",
                self.batch.files.len()
            ));
        }
        let root = if logs_prefix.is_empty() {
            "AWSLogs/".to_string()
        } else {
            format!("{logs_prefix}/AWSLogs/")
        };
        for file in &self.batch.files {
            let k = &file.key;
            let inside = k.starts_with(&root)
                && k.contains("/CloudTrail/")
                && (k.ends_with(".json.gz") || k.ends_with(".json"))
                && !k.split('/').any(|s| s == ".." || s == "." || s.is_empty());
            if !inside {
                return Err(format!(
                    "{:?} is not a log file under {root}",
                    crate::action::names::printable_line(k)
                ));
            }
        }
        let names: BTreeSet<&str> = self.batch.files.iter().map(|f| f.key.as_str()).collect();
        if names.len() != self.batch.files.len() {
            return Err(format!("batch {part} names a file twice"));
        }
        Ok(query)
    }
}

/// A batch's results, written as NDJSON: this header, then one [`Found`] line per hit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The batch.
    pub part: String,
    /// Files read.
    pub files: u64,
    /// Records read.
    pub records: u64,
    /// Bytes of JSON.
    pub json_bytes: u64,
    /// Matching records (the lines that follow).
    pub hits: u64,
    /// Files that could not be read, and why.
    pub unreadable: Vec<(String, String)>,
}

/// One hit as a line of a part.
#[derive(Serialize)]
struct FoundOut<'a> {
    p: usize,
    t: &'a str,
    e: &'a str,
    r: &'a RawValue,
}

#[derive(Deserialize)]
struct FoundIn<'a> {
    p: usize,
    t: String,
    e: String,
    #[serde(borrow)]
    r: &'a RawValue,
}

/// A batch's pass as the part a worker writes, and the answer it returns (the header without
/// the files' reasons, small enough for a Map's output).
pub fn write_part(part: &str, pass: &Pass) -> Result<(Vec<u8>, serde_json::Value), String> {
    let header = Header {
        part: part.to_string(),
        files: pass.files,
        records: pass.records,
        json_bytes: pass.json_bytes,
        hits: pass.hits.len() as u64,
        unreadable: pass.unreadable.clone(),
    };
    let mut out = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    out.push(b'\n');
    for hit in &pass.hits {
        let raw: &RawValue = serde_json::from_str(&hit.raw).map_err(|e| e.to_string())?;
        let line = FoundOut {
            p: hit.principal,
            t: &hit.time,
            e: &hit.event_id,
            r: raw,
        };
        serde_json::to_writer(&mut out, &line).map_err(|e| e.to_string())?;
        out.push(b'\n');
    }
    let answer = serde_json::json!({
        "part": part,
        "files": pass.files,
        "hits": pass.hits.len(),
        "unreadable": pass.unreadable.len(),
    });
    Ok((out, answer))
}

/// Reads a part back into a pass for round principals `principals` (how many the round
/// hunted): every line checked, since the bucket is read, not trusted.
pub fn read_part(bytes: &[u8], part: &str, principals: usize) -> Result<Pass, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let mut lines = text.lines();
    let header: Header = serde_json::from_str(lines.next().unwrap_or_default())
        .map_err(|e| format!("header: {e}"))?;
    if header.part != part {
        return Err(format!(
            "written for batch {:?}",
            crate::action::names::printable_line(&header.part)
        ));
    }
    let mut hits = Vec::new();
    for (n, line) in lines.enumerate() {
        let found: FoundIn<'_> =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 2))?;
        if found.p >= principals.max(1) {
            return Err(format!(
                "line {}: principal {} of {principals}",
                n + 2,
                found.p
            ));
        }
        hits.push(Hit {
            time: found.t,
            event_id: found.e,
            principal: found.p,
            raw: found.r.get().to_string(),
        });
    }
    if hits.len() as u64 != header.hits {
        return Err(format!(
            "{} hits where the header says {}: cut short",
            hits.len(),
            header.hits
        ));
    }
    Ok(Pass {
        hits,
        unreadable: header.unreadable,
        files: header.files,
        records: header.records,
        json_bytes: header.json_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(key: &str, size: u64) -> File {
        File {
            key: key.into(),
            size,
        }
    }

    const KEY: &str = "logs/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03/a.json.gz";

    fn task(keys: &[&str]) -> Task {
        let query = Query {
            principals: vec![
                Who::parse("AKIAEXAMPLEKEY00001").unwrap(),
                Who::parse("arn:aws:iam::111122223333:root").unwrap(),
                Who::parse("arn:aws:iam::111122223333:role/ops/deploy").unwrap(),
            ],
            since: Some(parse_time("2026-11-01").unwrap()),
            ..Query::default()
        };
        Task {
            batch: Batch {
                part: "00003".into(),
                files: keys.iter().map(|k| file(k, 10)).collect(),
            },
            job: Job::new("h-1", 2, &query),
        }
    }

    #[test]
    fn batches_hold_at_most_their_bytes_and_files_in_order() {
        let files: Vec<File> = (0..1200)
            .map(|i| file(&format!("k{i:04}"), 1 << 20))
            .collect();
        let b = batches(&files);
        // 32 files of 1 MiB each fill a batch by bytes.
        assert!(
            b.iter()
                .all(|b| b.files.len() == 32 || b.files.len() == 1200 % 32)
        );
        let back: Vec<&File> = b.iter().flat_map(|b| &b.files).collect();
        assert_eq!(back.len(), 1200);
        assert!(back.windows(2).all(|w| w[0].key < w[1].key));
        let small: Vec<File> = (0..1001).map(|i| file(&format!("s{i}"), 1)).collect();
        let b = batches(&small);
        assert_eq!(
            b.iter().map(|b| b.files.len()).collect::<Vec<_>>(),
            [500, 500, 1]
        );
        assert_eq!(b[2].part, "00002");
        let huge = batches(&[file("a", 1), file("b", BATCH_BYTES * 3), file("c", 1)]);
        assert_eq!(huge.len(), 3);
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn a_job_carries_its_question_there_and_back() {
        let t = task(&[KEY]);
        let json = serde_json::to_string(&t.job).unwrap();
        let back: Job = serde_json::from_str(&json).unwrap();
        let q = back.query().unwrap();
        assert_eq!(q.principals.len(), 3);
        assert_eq!(q.principals[1], Who::Root(Some("111122223333".into())));
        assert_eq!(q.since, Some(parse_time("2026-11-01").unwrap()));
        assert_eq!(t.job.part_key("00003"), "hunts/h-1/round-02/00003.ndjson");
        assert!(t.check("logs").is_ok());
    }

    #[test]
    fn a_task_cannot_point_the_worker_elsewhere() {
        let outside = [
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03/a.json.gz",
            "logs/AWSLogs/../secrets/CloudTrail/x.json.gz",
            "logs/AWSLogs/111122223333/CloudTrail/us-east-1//a.json.gz",
            "logs/AWSLogs/111122223333/Config/us-east-1/2026/11/03/a.json.gz",
            "logs/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03/a.txt",
            "other/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03/a.json.gz",
        ];
        for key in outside {
            assert!(task(&[key]).check("logs").is_err(), "{key}");
        }
        assert!(task(&[KEY, KEY]).check("logs").is_err());
        let mut t = task(&[KEY]);
        t.job.id = "../../incidents".into();
        assert!(t.check("logs").is_err());
        let mut t = task(&[KEY]);
        t.batch.part = "../x".into();
        assert!(t.check("logs").is_err());
        let mut t = task(&[KEY]);
        t.job.round = FOLLOW_ROUNDS;
        assert!(t.check("logs").is_err());
        let mut t = task(&[KEY]);
        t.job.principals = vec!["*".into()];
        assert!(t.check("logs").is_err());
        let many: Vec<String> = (0..=BATCH_FILES)
            .map(|i| KEY.replace("a.json", &format!("{i}.json")))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(task(&many).check("logs").is_err());
    }

    #[test]
    fn a_part_reads_back_as_the_pass_it_was_and_a_cut_one_does_not() {
        let pass = Pass {
            hits: vec![Hit {
                time: "2026-11-03T10:00:00Z".into(),
                event_id: "e1".into(),
                principal: 1,
                raw: r#"{"eventID":"e1","eventTime":"2026-11-03T10:00:00Z","x":"a\"b"}"#.into(),
            }],
            unreadable: vec![("s3://b/k".into(), "not a readable gzip file".into())],
            files: 4,
            records: 99,
            json_bytes: 1234,
        };
        let (bytes, answer) = write_part("00003", &pass).unwrap();
        assert_eq!(answer["hits"], 1);
        let back = read_part(&bytes, "00003", 2).unwrap();
        assert_eq!(back.hits, pass.hits);
        assert_eq!(back.unreadable, pass.unreadable);
        assert_eq!((back.files, back.records, back.json_bytes), (4, 99, 1234));
        assert!(read_part(&bytes, "00004", 2).is_err());
        assert!(
            read_part(&bytes, "00003", 1).is_err(),
            "principal out of range"
        );
        let cut = &bytes[..bytes.len() - 10];
        assert!(read_part(cut, "00003", 2).is_err());
        let header_only = bytes.split(|b| *b == b'\n').next().unwrap();
        assert!(read_part(header_only, "00003", 2).is_err());
    }
}
