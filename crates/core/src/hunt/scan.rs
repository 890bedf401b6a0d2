//! One CloudTrail log file in, its matching records out: gzip decoded in memory (or streamed
//! when it inflates beyond a cap), skipped whole when no needle occurs in it, each record
//! checked for a needle in its raw bytes before its few filtered fields are read.

use std::fmt;
use std::io::Read;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::query::{Compiled, Light};

/// How far one file may inflate. CloudTrail delivers a file every few minutes per account and
/// region, and its files hold a few MB; a file beyond this is refused by name, so a worker
/// never holds more than this whatever is planted in the bucket.
pub const DEFAULT_INFLATE_CAP: usize = 256 << 20;

/// What a worker's buffer keeps between files after a large one.
const RETAINED_BUFFER: usize = 32 << 20;

/// One matching record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// `eventTime` as written.
    pub time: String,
    /// `eventID` (empty when absent).
    pub event_id: String,
    /// Which principal of the query it is (0 when the query names none).
    pub principal: usize,
    /// The record as the file holds it, on one line.
    pub raw: String,
}

/// What scanning one file found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileScan {
    /// Bytes of JSON (after gzip).
    pub json_bytes: u64,
    /// Records read (0 when the file was skipped whole).
    pub records: u64,
    /// Whether the file held no needle and was not parsed.
    pub skipped_whole: bool,
    /// Matching records.
    pub hits: Vec<Hit>,
    /// Records that could not be read (not JSON objects, a field of the wrong type): how many,
    /// and the first reason.
    pub unreadable: u64,
    /// Why the first unreadable record was.
    pub first_unreadable: Option<String>,
}

/// Why a file could not be scanned: it is reported by name and skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// The gzip stream is corrupt or cut short.
    #[error("not a readable gzip file ({0})")]
    Gzip(String),
    /// The JSON is not a CloudTrail log file (`{"Records":[…]}`), or is cut short.
    #[error("not a CloudTrail log file ({0})")]
    Json(String),
    /// The file is (or inflates to) more than the cap: no CloudTrail file is that large.
    #[error("larger than {} MiB inflated: not a CloudTrail log file, not read", .0 >> 20)]
    TooLarge(usize),
    /// The file could not be read at all.
    #[error("could not be read ({0})")]
    Read(String),
}

/// Scans one file's bytes (gzip or plain JSON). `buffer` is reused between files by a worker.
pub fn scan(
    data: &[u8],
    query: &Compiled,
    cap: usize,
    buffer: &mut Vec<u8>,
) -> Result<FileScan, ScanError> {
    let gzip = data.starts_with(&[0x1f, 0x8b]);
    let json: &[u8] = if gzip {
        buffer.clear();
        let mut decoder = flate2::read::MultiGzDecoder::new(data).take(cap as u64 + 1);
        decoder
            .read_to_end(buffer)
            .map_err(|e| ScanError::Gzip(e.to_string()))?;
        if buffer.len() > cap {
            buffer.clear();
            buffer.shrink_to(RETAINED_BUFFER);
            return Err(ScanError::TooLarge(cap));
        }
        buffer
    } else if data.len() > cap {
        return Err(ScanError::TooLarge(cap));
    } else {
        data
    };
    let mut out = FileScan {
        json_bytes: json.len() as u64,
        ..FileScan::default()
    };
    if !query.may_match(json) {
        out.skipped_whole = true;
        // Still a log file? A truncated or foreign file is reported, not counted as searched.
        if !looks_like_log(json) {
            return Err(ScanError::Json("no \"Records\" array".into()));
        }
        return Ok(out);
    }
    let mut de = serde_json::Deserializer::from_slice(json);
    let result = FileSeed::<&RawValue, _>::new(|raw: &RawValue| check(raw, query, &mut out))
        .deserialize(&mut de)
        .and_then(|()| de.end());
    if buffer.capacity() > RETAINED_BUFFER {
        buffer.clear();
        buffer.shrink_to(RETAINED_BUFFER);
    }
    result.map_err(|e| ScanError::Json(e.to_string()))?;
    Ok(out)
}

/// A cheap test that skipped bytes are a whole log file: an object naming `Records`, closed.
fn looks_like_log(json: &[u8]) -> bool {
    let trimmed = json.trim_ascii();
    trimmed.first() == Some(&b'{')
        && trimmed.last() == Some(&b'}')
        && memchr::memmem::find(trimmed, b"\"Records\"").is_some()
}

/// One record: needle, then the filtered fields, then the filters.
fn check(raw: &RawValue, query: &Compiled, out: &mut FileScan) {
    out.records += 1;
    let text = raw.get();
    if !query.may_match(text.as_bytes()) {
        return;
    }
    if !text.starts_with('{') {
        out.unreadable += 1;
        out.first_unreadable
            .get_or_insert_with(|| "a record that is not a JSON object".into());
        return;
    }
    let light = match Light::deserialize(raw) {
        Ok(light) => light,
        Err(e) => {
            out.unreadable += 1;
            out.first_unreadable.get_or_insert_with(|| e.to_string());
            return;
        }
    };
    if let Some(principal) = query.matches(&light) {
        out.hits.push(Hit {
            time: light.event_time.as_deref().unwrap_or_default().to_string(),
            event_id: light.event_id.as_deref().unwrap_or_default().to_string(),
            principal,
            raw: one_line(text),
        });
    }
}

/// The record on one line: CloudTrail writes compact JSON; anything with line breaks between
/// its tokens is written again compactly.
fn one_line(text: &str) -> String {
    if !text.contains(['\n', '\r']) {
        return text.to_string();
    }
    serde_json::from_str::<serde_json::Value>(text)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| text.replace(['\n', '\r'], " "))
}

/// `{"Records": [ … ]}`, every element handed to `on_record` as raw JSON (`E` is `&RawValue`
/// when reading from memory, `Box<RawValue>` when streaming); other keys are skipped.
struct FileSeed<E, F> {
    on_record: F,
    element: PhantomData<E>,
}

impl<E, F> FileSeed<E, F> {
    fn new(on_record: F) -> Self {
        FileSeed {
            on_record,
            element: PhantomData,
        }
    }
}

impl<'de, E, F> DeserializeSeed<'de> for FileSeed<E, F>
where
    E: Deserialize<'de> + Deref<Target = RawValue>,
    F: FnMut(&RawValue),
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, E, F> Visitor<'de> for FileSeed<E, F>
where
    E: Deserialize<'de> + Deref<Target = RawValue>,
    F: FnMut(&RawValue),
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a CloudTrail log file: {\"Records\": [...]}")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut seen = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "Records" {
                if seen {
                    return Err(serde::de::Error::duplicate_field("Records"));
                }
                seen = true;
                map.next_value_seed(Records::<E, _> {
                    on_record: &mut self.on_record,
                    element: PhantomData,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !seen {
            return Err(serde::de::Error::missing_field("Records"));
        }
        Ok(())
    }
}

struct Records<'f, E, F> {
    on_record: &'f mut F,
    element: PhantomData<E>,
}

impl<'de, E, F> DeserializeSeed<'de> for Records<'_, E, F>
where
    E: Deserialize<'de> + Deref<Target = RawValue>,
    F: FnMut(&RawValue),
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, E, F> Visitor<'de> for Records<'_, E, F>
where
    E: Deserialize<'de> + Deref<Target = RawValue>,
    F: FnMut(&RawValue),
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of CloudTrail records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(record) = seq.next_element::<E>()? {
            (self.on_record)(&record);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::hunt::query::{Query, Who};

    fn record(key: &str, time: &str, name: &str) -> String {
        format!(
            r#"{{"eventVersion":"1.09","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/u-{key}","accountId":"111122223333","accessKeyId":"{key}"}},"eventTime":"{time}","eventSource":"iam.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","eventID":"{key}-{name}","recipientAccountId":"111122223333"}}"#
        )
    }

    fn file(records: &[String]) -> Vec<u8> {
        format!("{{\"Records\":[{}]}}", records.join(",")).into_bytes()
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn by_key(key: &str) -> Compiled {
        Compiled::new(Query {
            principals: vec![Who::AccessKey(key.into())],
            ..Query::default()
        })
    }

    const ATTACKER: &str = "AKIAATTACKER0000001";
    const OTHER: &str = "AKIAOTHERUSER000001";

    #[test]
    fn the_attackers_records_are_found_in_gzip_and_plain_files_and_nobody_elses() {
        let json = file(&[
            record(OTHER, "2026-11-03T10:00:00Z", "ListUsers"),
            record(ATTACKER, "2026-11-03T10:00:01Z", "CreateUser"),
            record(OTHER, "2026-11-03T10:00:02Z", "GetUser"),
            record(ATTACKER, "2026-11-03T10:00:03Z", "CreateAccessKey"),
        ]);
        for data in [json.clone(), gz(&json)] {
            let got = scan(
                &data,
                &by_key(ATTACKER),
                DEFAULT_INFLATE_CAP,
                &mut Vec::new(),
            )
            .unwrap();
            let names: Vec<&str> = got.hits.iter().map(|h| h.event_id.as_str()).collect();
            assert_eq!(
                names,
                [
                    format!("{ATTACKER}-CreateUser"),
                    format!("{ATTACKER}-CreateAccessKey")
                ]
            );
            assert_eq!(got.records, 4);
            assert!(!got.raw_has_newlines());
        }
    }

    #[test]
    fn a_file_without_the_needle_is_skipped_unparsed_but_a_foreign_one_is_refused() {
        let json = file(&[record(OTHER, "2026-11-03T10:00:00Z", "ListUsers")]);
        let got = scan(
            &gz(&json),
            &by_key(ATTACKER),
            DEFAULT_INFLATE_CAP,
            &mut Vec::new(),
        )
        .unwrap();
        assert!(got.skipped_whole);
        assert_eq!(got.records, 0);
        let foreign = gz(b"{\"not\":\"a log\"}");
        assert!(matches!(
            scan(
                &foreign,
                &by_key(ATTACKER),
                DEFAULT_INFLATE_CAP,
                &mut Vec::new()
            ),
            Err(ScanError::Json(_))
        ));
    }

    #[test]
    fn truncated_and_corrupt_gzip_are_errors_not_panics() {
        let data = gz(&file(&[record(
            ATTACKER,
            "2026-11-03T10:00:00Z",
            "CreateUser",
        )]));
        for cut in [data.len() / 2, data.len() - 4, 3] {
            let r = scan(
                &data[..cut],
                &by_key(ATTACKER),
                DEFAULT_INFLATE_CAP,
                &mut Vec::new(),
            );
            assert!(matches!(r, Err(ScanError::Gzip(_))), "cut at {cut}: {r:?}");
        }
        let mut corrupt = data.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid] ^= 0xff;
        let r = scan(
            &corrupt,
            &by_key(ATTACKER),
            DEFAULT_INFLATE_CAP,
            &mut Vec::new(),
        );
        assert!(r.is_err(), "{r:?}");
    }

    #[test]
    fn a_file_over_the_cap_is_refused_by_name_and_a_second_records_key_is_an_error() {
        let records: Vec<String> = (0..200)
            .map(|i| record(ATTACKER, "2026-11-03T10:00:00Z", &format!("Call{i}")))
            .collect();
        let data = gz(&file(&records));
        let whole = scan(
            &data,
            &by_key(ATTACKER),
            DEFAULT_INFLATE_CAP,
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(whole.hits.len(), 200);
        assert_eq!(
            scan(&data, &by_key(ATTACKER), 1024, &mut Vec::new()),
            Err(ScanError::TooLarge(1024))
        );
        let twice = format!(
            "{{\"Records\":[],\"Records\":[{}]}}",
            record(ATTACKER, "2026-11-03T10:00:00Z", "CreateUser")
        );
        assert!(matches!(
            scan(
                twice.as_bytes(),
                &by_key(ATTACKER),
                DEFAULT_INFLATE_CAP,
                &mut Vec::new()
            ),
            Err(ScanError::Json(_))
        ));
        let array = format!("{{\"Records\":[[\"{ATTACKER}\"]]}}");
        let got = scan(
            array.as_bytes(),
            &by_key(ATTACKER),
            DEFAULT_INFLATE_CAP,
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!((got.hits.len(), got.unreadable), (0, 1));
    }

    #[test]
    fn an_unreadable_record_is_counted_and_the_rest_still_searched() {
        let mut records = vec![format!(
            r#"{{"userIdentity":"{ATTACKER}","eventTime":"2026-11-03T10:00:00Z"}}"#
        )];
        records.push(record(ATTACKER, "2026-11-03T10:00:01Z", "CreateUser"));
        let got = scan(
            &file(&records),
            &by_key(ATTACKER),
            DEFAULT_INFLATE_CAP,
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(got.unreadable, 1);
        assert!(got.first_unreadable.is_some());
        assert_eq!(got.hits.len(), 1);
    }

    impl FileScan {
        fn raw_has_newlines(&self) -> bool {
            self.hits.iter().any(|h| h.raw.contains('\n'))
        }
    }
}
