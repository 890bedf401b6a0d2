//! A hunt fanned out: the log files cut into batches for workers (a Step Functions Distributed
//! Map runs one worker per batch), what a worker is told, and what it writes back. Pure: the
//! shell lists, uploads, starts and reads; this decides the shapes and checks them.
//!
//! A worker is handed names only (a round's folder and a batch's name): it reads the round's
//! job and its batch from the evidence bucket, where only responders and Firebreak's roles
//! write (and the hunt role only `*.ndjson`). Whoever can start the state machine or invoke
//! the function can thus only re-run a batch a responder wrote, to the same result.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::query::{Query, Who, parse_time};
use super::{FOLLOW_ROUNDS, Hit, Pass};

/// Compressed bytes of log files one worker reads at most (a worker holds their matches).
pub const BATCH_BYTES: u64 = 32 << 20;
/// Files one batch names at most.
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
    /// The trail read (`s3://bucket[/prefix]`): the worker refuses a job for another.
    pub trail: String,
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
    /// Round `round` of hunt `id` over `trail` for `query`.
    pub fn new(id: &str, round: usize, trail: &str, query: &Query) -> Job {
        Job {
            id: id.to_string(),
            round,
            trail: trail.to_string(),
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

    /// The key of an execution's manifest (its batches' names, the Map's items).
    pub fn manifest_key(&self, execution: usize) -> String {
        format!("{}manifest-{execution:03}.json", self.folder())
    }

    /// The key of the round's job.
    pub fn job_key(&self) -> String {
        format!("{}job.json", self.folder())
    }

    /// The key of a batch's file list.
    pub fn batch_key(&self, part: &str) -> String {
        format!("{}batches/{part}.json", self.folder())
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

/// What a worker is handed (the Map's `ItemSelector`): names only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The round's folder (`hunts/<id>/round-<nn>/`).
    pub folder: String,
    /// The batch's name.
    pub part: String,
}

/// One Map item: a batch's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The batch's name.
    pub part: String,
}

impl Task {
    /// The keys the task names, each part checked: the job's, the batch's and the results'.
    pub fn keys(&self) -> Result<(String, String, String), String> {
        let bad = || {
            format!(
                "{:?} is not a hunt round's folder (hunts/<id>/round-<nn>/)",
                crate::action::names::printable_line(&self.folder)
            )
        };
        let rest = self.folder.strip_prefix(PREFIX).ok_or_else(bad)?;
        let rest = rest.strip_suffix('/').ok_or_else(bad)?;
        let (id, round) = rest.split_once("/round-").ok_or_else(bad)?;
        check_id(id)?;
        if round.len() != 2 || !round.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        check_part(&self.part)?;
        Ok((
            format!("{}job.json", self.folder),
            format!("{}batches/{}.json", self.folder, self.part),
            format!("{}{}.ndjson", self.folder, self.part),
        ))
    }
}

/// A batch's name: 1 to 16 digits.
fn check_part(part: &str) -> Result<(), String> {
    if part.is_empty() || part.len() > 16 || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "batch name {:?} is not up to 16 digits",
            crate::action::names::printable_line(part)
        ));
    }
    Ok(())
}

/// Checks a round's job and one of its batches, as read from the bucket, against the task
/// that named them and the trail the worker is configured for (`trail`, as configured;
/// `logs_prefix`, the folder above `AWSLogs/`): its files must be log files of that trail.
pub fn check(
    task: &Task,
    job: &Job,
    batch: &Batch,
    trail: &str,
    logs_prefix: &str,
) -> Result<Query, String> {
    let query = job.query()?;
    if job.folder() != task.folder {
        return Err(format!("the job in {} is another round's", task.folder));
    }
    if job.trail.trim_end_matches('/') != trail.trim_end_matches('/') {
        return Err(format!(
            "the job reads {:?}; this function reads only {trail}",
            crate::action::names::printable_line(&job.trail)
        ));
    }
    let part = &batch.part;
    if *part != task.part {
        return Err(format!("batch {} holds batch {part:?}", task.part));
    }
    if batch.files.is_empty() || batch.files.len() > BATCH_FILES {
        return Err(format!(
            "batch {part} names {} files; 1 to {BATCH_FILES}",
            batch.files.len()
        ));
    }
    let root = if logs_prefix.is_empty() {
        "AWSLogs/".to_string()
    } else {
        format!("{logs_prefix}/AWSLogs/")
    };
    for file in &batch.files {
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
    let names: BTreeSet<&str> = batch.files.iter().map(|f| f.key.as_str()).collect();
    if names.len() != batch.files.len() {
        return Err(format!("batch {part} names a file twice"));
    }
    Ok(query)
}

/// A batch's results, written as NDJSON: this header, then one [`Found`] line per hit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The round's folder.
    pub folder: String,
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

/// A batch's pass as the part a worker writes (hits and unreadable files in a fixed order, so
/// a retry writes the same bytes), and the answer it returns (the header without the files'
/// reasons, small enough for a Map's output).
pub fn write_part(
    folder: &str,
    part: &str,
    mut pass: Pass,
) -> Result<(Vec<u8>, serde_json::Value), String> {
    pass.hits.sort_by(|a, b| {
        (&a.time, &a.event_id, &a.raw, a.principal).cmp(&(
            &b.time,
            &b.event_id,
            &b.raw,
            b.principal,
        ))
    });
    pass.unreadable.sort();
    let header = Header {
        folder: folder.to_string(),
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

/// Reads the part of `batch` of round `job` back into a pass: every line checked (the header
/// must be this round's and batch's, with one file a file of the batch; a hit's principal one
/// of the round's), since the bucket is read, not trusted.
pub fn read_part(bytes: &[u8], job: &Job, batch: &Batch) -> Result<Pass, String> {
    let part = batch.part.as_str();
    let principals = job.principals.len();
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let mut lines = text.lines();
    let header: Header = serde_json::from_str(lines.next().unwrap_or_default())
        .map_err(|e| format!("header: {e}"))?;
    if header.part != part || header.folder != job.folder() {
        return Err(format!(
            "written for batch {:?} of {:?}",
            crate::action::names::printable_line(&header.part),
            crate::action::names::printable_line(&header.folder)
        ));
    }
    if header.files != batch.files.len() as u64 {
        return Err(format!(
            "{} files read of the batch's {}",
            header.files,
            batch.files.len()
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
    const TRAIL: &str = "s3://trail/logs";

    fn job() -> Job {
        let query = Query {
            principals: vec![
                Who::parse("AKIAEXAMPLEKEY00001").unwrap(),
                Who::parse("arn:aws:iam::111122223333:root").unwrap(),
                Who::parse("arn:aws:iam::111122223333:role/ops/deploy").unwrap(),
            ],
            since: Some(parse_time("2026-11-01").unwrap()),
            ..Query::default()
        };
        Job::new("h-1", 2, TRAIL, &query)
    }

    fn batch(keys: &[&str]) -> Batch {
        Batch {
            part: "00003".into(),
            files: keys.iter().map(|k| file(k, 10)).collect(),
        }
    }

    fn task() -> Task {
        Task {
            folder: job().folder(),
            part: "00003".into(),
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
        let json = serde_json::to_string(&job()).unwrap();
        let back: Job = serde_json::from_str(&json).unwrap();
        let q = back.query().unwrap();
        assert_eq!(q.principals.len(), 3);
        assert_eq!(q.principals[1], Who::Root(Some("111122223333".into())));
        assert_eq!(q.since, Some(parse_time("2026-11-01").unwrap()));
        assert_eq!(
            task().keys().unwrap(),
            (
                "hunts/h-1/round-02/job.json".to_string(),
                "hunts/h-1/round-02/batches/00003.json".to_string(),
                "hunts/h-1/round-02/00003.ndjson".to_string()
            )
        );
        assert_eq!(back.batch_key("00003"), task().keys().unwrap().1);
        assert!(check(&task(), &back, &batch(&[KEY]), TRAIL, "logs").is_ok());
    }

    #[test]
    fn a_task_names_only_a_rounds_folder_and_a_batch() {
        for folder in [
            "incidents/x/",
            "hunts/h-1/round-02",
            "hunts/../incidents/round-02/",
            "hunts/H-1/round-02/",
            "hunts/h-1/round-2/",
            "hunts/h-1/round-02/x/",
        ] {
            let t = Task {
                folder: folder.into(),
                part: "00003".into(),
            };
            assert!(t.keys().is_err(), "{folder}");
        }
        for part in ["", "../x", "1a", "00000000000000000"] {
            let t = Task {
                part: part.into(),
                ..task()
            };
            assert!(t.keys().is_err(), "{part:?}");
        }
    }

    #[test]
    fn a_job_or_batch_cannot_point_the_worker_elsewhere() {
        let outside = [
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03/a.json.gz",
            "logs/AWSLogs/../secrets/CloudTrail/x.json.gz",
            "logs/AWSLogs/111122223333/CloudTrail/us-east-1//a.json.gz",
            "logs/AWSLogs/111122223333/Config/us-east-1/2026/11/03/a.json.gz",
            "logs/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03/a.txt",
            "other/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03/a.json.gz",
        ];
        let ok = |j: &Job, b: &Batch| check(&task(), j, b, TRAIL, "logs").is_ok();
        for key in outside {
            assert!(!ok(&job(), &batch(&[key])), "{key}");
        }
        assert!(!ok(&job(), &batch(&[KEY, KEY])));
        assert!(!ok(&job(), &batch(&[])), "an empty batch");
        let many: Vec<String> = (0..=BATCH_FILES)
            .map(|i| KEY.replace("a.json", &format!("{i}.json")))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(!ok(&job(), &batch(&many)));
        let mut other = batch(&[KEY]);
        other.part = "00004".into();
        assert!(!ok(&job(), &other), "another batch");
        let mut j = job();
        j.trail = "s3://elsewhere/logs".into();
        assert!(!ok(&j, &batch(&[KEY])), "another trail");
        let mut j = job();
        j.round = 3;
        assert!(!ok(&j, &batch(&[KEY])), "another round's job");
        let mut j = job();
        j.round = FOLLOW_ROUNDS;
        assert!(j.query().is_err());
        let mut j = job();
        j.principals = vec!["*".into()];
        assert!(!ok(&j, &batch(&[KEY])));
    }

    #[test]
    fn a_part_reads_back_as_the_pass_it_was_and_a_cut_or_foreign_one_does_not() {
        let hit = |t: &str, id: &str, p: usize| Hit {
            time: t.into(),
            event_id: id.into(),
            principal: p,
            raw: format!(r#"{{"eventID":"{id}","eventTime":"{t}","x":"a\"b"}}"#),
        };
        let pass = || Pass {
            hits: vec![
                hit("2026-11-03T11:00:00Z", "e2", 0),
                hit("2026-11-03T10:00:00Z", "e1", 2),
            ],
            unreadable: vec![("s3://b/k".into(), "not a readable gzip file".into())],
            files: 1,
            records: 99,
            json_bytes: 1234,
        };
        let folder = job().folder();
        let (bytes, answer) = write_part(&folder, "00003", pass()).unwrap();
        assert_eq!(answer["hits"], 2);
        let mut reversed = pass();
        reversed.hits.reverse();
        assert_eq!(
            write_part(&folder, "00003", reversed).unwrap().0,
            bytes,
            "same bytes"
        );
        let b = batch(&[KEY]);
        let back = read_part(&bytes, &job(), &b).unwrap();
        assert_eq!(back.hits[0].event_id, "e1");
        assert_eq!(back.hits.len(), 2);
        assert_eq!(back.unreadable, pass().unreadable);
        assert_eq!((back.files, back.records, back.json_bytes), (1, 99, 1234));
        let mut other = b.clone();
        other.part = "00004".into();
        assert!(
            read_part(&bytes, &job(), &other).is_err(),
            "another batch's"
        );
        let mut j = job();
        j.round = 1;
        assert!(read_part(&bytes, &j, &b).is_err(), "another round's");
        let mut j = job();
        j.principals.truncate(2);
        assert!(read_part(&bytes, &j, &b).is_err(), "principal out of range");
        assert!(
            read_part(&bytes, &job(), &batch(&[KEY, "k2"])).is_err(),
            "a file short"
        );
        let cut = &bytes[..bytes.len() - 10];
        assert!(read_part(cut, &job(), &b).is_err());
        let header_only = bytes.split(|b| *b == b'\n').next().unwrap();
        assert!(read_part(header_only, &job(), &b).is_err());
    }
}
