//! Volatile memory of an instance, captured through Systems Manager: Firebreak's own document
//! (the one thing the preserve role may run on an instance), the parameters of its two steps,
//! and the one line of output Firebreak believes.
//!
//! The document's capture step runs the memory tool (AVML: static, kernel-independent, x86_64
//! Linux) only when its SHA-256 is the one written into the document, writes the image under a
//! fresh 0700 directory and reports its path, size and SHA-256 (after checking the disk has room
//! for all of memory; on any failure it leaves nothing behind). Its upload step is a second
//! command, sent once Firebreak has signed a PUT for exactly that SHA-256 (S3 refuses other
//! bytes, and an Object Lock bucket refuses a PUT with no checksum). Every parameter has a
//! pattern that keeps it inside its quotes, checked here and by SSM. The instance's own role
//! writes nothing. Everything an instance prints is the attacker's to forge: the report is read
//! strictly, and S3 checks the bytes against it.

/// One PUT carries at most 5 GiB.
pub const MAX_PUT_BYTES: u64 = 5 << 30;

/// The line the capture script ends with: `firebreak-memory <path> <bytes> <sha256>`.
const REPORT: &str = "firebreak-memory ";

/// Where the capture script writes: `/var/tmp/firebreak.<10 of [A-Za-z0-9]>/memory.lime`.
const DIR_PREFIX: &str = "/var/tmp/firebreak.";
const IMAGE: &str = "/memory.lime";

/// What the capture reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// The image's path on the instance.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
}

/// Firebreak's own Systems Manager document: the one thing the preserve role may run on an
/// instance. Deployed by the stack (and the forwarder stacks) in every region of every account,
/// with the tool's SHA-256 and the evidence bucket's URL written into it: the tool comes only
/// from there, and the image goes only there.
pub const DOCUMENT_NAME: &str = "Firebreak-CaptureMemory";

/// The document, with the placeholders the stack fills (`!Sub`) in three lines of it.
pub const DOCUMENT: &str = include_str!("memory_document.json");

/// The placeholder of the trusted tool's SHA-256 in [`DOCUMENT`].
pub const TOOL_SHA256_PLACEHOLDER: &str = "${MemoryToolSha256}";

/// The placeholder of the evidence bucket's path-style URL (`https://s3.<region>.<suffix>/<bucket>`).
pub const BUCKET_URL_PLACEHOLDER: &str = "${EvidenceBucketUrl}";

/// A command's parameters: name, value.
pub type Parameters = Vec<(&'static str, String)>;

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The document as the stack deploys it for `tool_sha256` and the evidence bucket at
/// `bucket_url`: what Firebreak checks the deployed one against before it runs it.
pub fn document(tool_sha256: &str, bucket_url: &str) -> Result<serde_json::Value, String> {
    if !is_sha256(tool_sha256) {
        return Err("the memory tool's SHA-256 is not 64 lower-case hex digits".into());
    }
    if !bucket_url_ok(bucket_url) {
        return Err("the evidence bucket's URL is not scheme://host/bucket".into());
    }
    serde_json::from_str(
        &DOCUMENT
            .replace(TOOL_SHA256_PLACEHOLDER, tool_sha256)
            .replace(BUCKET_URL_PLACEHOLDER, bucket_url),
    )
    .map_err(|e| format!("the memory document is not JSON: {e}"))
}

/// What decides what a document runs: all of it but its description. A deployed document is run
/// only when this equals Firebreak's.
pub fn what_runs(document: &serde_json::Value) -> serde_json::Value {
    let mut runs = document.clone();
    if let Some(o) = runs.as_object_mut() {
        o.remove("description");
    }
    runs
}

/// `http(s)://host/bucket`, nothing a quote or a shell could act on.
fn bucket_url_ok(s: &str) -> bool {
    let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    else {
        return false;
    };
    let Some((host, bucket)) = rest.split_once('/') else {
        return false;
    };
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-'))
        && (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
}

/// The evidence bucket's URL, from a URL Firebreak signed for the tool `tool_sha256` in it.
pub fn bucket_url_of(tool_url: &str, tool_sha256: &str) -> Result<String, String> {
    let path = tool_url.split('?').next().unwrap_or_default();
    path.strip_suffix(&format!("/tools/avml-{tool_sha256}"))
        .filter(|url| bucket_url_ok(url))
        .map(String::from)
        .ok_or_else(|| "the tool's signed URL is not of the evidence bucket".to_string())
}

/// The query of `url` when it is `prefix?query`.
fn query_after<'a>(url: &'a str, prefix: &str) -> Result<&'a str, String> {
    url.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('?'))
        .ok_or_else(|| "a signed URL is not where the memory document sends it".to_string())
}

fn query_ok(s: &str) -> bool {
    s.len() <= 4000
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'%' | b'=' | b'&' | b'-')
        })
}

fn hex_ok(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `value` passes the document's `allowedPattern` of `name`: the same rule, so a value
/// SSM would refuse is refused here with a reason first (here a little stricter: a regex engine
/// whose `$` also matches before a final newline would take one that this refuses).
pub fn allowed(name: &str, value: &str) -> bool {
    let digits = |s: &str, lo: usize, hi: usize| {
        (lo..=hi).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    match name {
        "Step" => matches!(value, "capture" | "upload"),
        "Seconds" => digits(value, 2, 4) && !value.starts_with('0'),
        "ToolQuery" | "UploadQuery" => query_ok(value),
        "UploadKey" => {
            value.is_empty()
                || value
                    .strip_prefix("FB-")
                    .and_then(|rest| rest.split_once("/memory/"))
                    .is_some_and(|(id, name)| {
                        hex_ok(id, 16) && name.strip_suffix(".lime").is_some_and(|h| hex_ok(h, 16))
                    })
        }
        "Image" => value.is_empty() || image_path_ok(value),
        "Size" => digits(value, 0, 12),
        "Checksum" => {
            value.is_empty()
                || (value.len() == 44
                    && value.ends_with('=')
                    && value[..43]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'))
        }
        "Tagging" => {
            value.len() <= 512
                && value.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b'%' | b'.' | b'_' | b'~' | b'=' | b'&' | b'+' | b'-')
                })
        }
        "LockMode" => matches!(value, "" | "COMPLIANCE" | "GOVERNANCE"),
        "RetainUntil" => value.is_empty() || retain_until_ok(value),
        _ => false,
    }
}

/// `/var/tmp/firebreak.<10 of [A-Za-z0-9]>/memory.lime`: where the capture writes, and nothing
/// else.
fn image_path_ok(path: &str) -> bool {
    path.strip_prefix(DIR_PREFIX)
        .and_then(|rest| rest.strip_suffix(IMAGE))
        .is_some_and(|dir| dir.len() == 10 && dir.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn retain_until_ok(s: &str) -> bool {
    let Some(s) = s.strip_suffix('Z') else {
        return false;
    };
    let (main, fraction) = match s.split_once('.') {
        Some((main, fraction)) => (main, Some(fraction)),
        None => (s, None),
    };
    let shape = b"dddd-dd-ddTdd:dd:dd";
    main.len() == shape.len()
        && main.bytes().zip(shape).all(|(b, &want)| match want {
            b'd' => b.is_ascii_digit(),
            other => b == other,
        })
        && fraction
            .is_none_or(|f| (1..=9).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()))
}

fn checked(parameters: Parameters) -> Result<Parameters, String> {
    for (name, value) in &parameters {
        if !allowed(name, value) {
            return Err(format!(
                "the memory document's {name} cannot take the value Firebreak made for it"
            ));
        }
    }
    Ok(parameters)
}

/// The capture: fetch the tool with the signed `tool_url` (the document fetches only the tool
/// with the SHA-256 written into it, from the bucket written into it, and runs it only if it has
/// that SHA-256), report the image. Nothing leaves the instance here.
pub fn capture_parameters(
    tool_url: &str,
    bucket_url: &str,
    tool_sha256: &str,
    seconds: u32,
) -> Result<Parameters, String> {
    let query = query_after(tool_url, &format!("{bucket_url}/tools/avml-{tool_sha256}"))?;
    checked(vec![
        ("Step", "capture".into()),
        ("Seconds", seconds.to_string()),
        ("ToolQuery", query.to_string()),
    ])
}

/// The upload: one PUT of `image` to `url` with exactly the signed `headers` (each one a
/// parameter of the document or a value it sends as it is), then the image's directory removed.
/// A failed upload leaves the image where the snapshots find it.
pub fn upload_parameters(
    image: &Captured,
    url: &str,
    bucket_url: &str,
    headers: &[(String, String)],
    seconds: u32,
) -> Result<Parameters, String> {
    let at = url.split('?').next().unwrap_or_default();
    let key = at
        .strip_prefix(&format!("{bucket_url}/incidents/"))
        .ok_or("the signed upload is not of the evidence bucket")?;
    let query = query_after(url, at)?;
    // Fixed in the document: signed with any other value, the PUT would be refused.
    const FIXED: [(&str, &str); 3] = [
        ("content-type", "application/octet-stream"),
        ("x-amz-sdk-checksum-algorithm", "SHA256"),
        ("if-none-match", "*"),
    ];
    let mut parameters: Parameters = vec![
        ("Step", "upload".into()),
        ("Seconds", seconds.to_string()),
        ("Image", image.path.clone()),
        ("UploadKey", key.to_string()),
        ("UploadQuery", query.to_string()),
    ];
    let mut fixed_seen = 0;
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        let parameter = match name.as_str() {
            "host" => continue,
            "content-length" => {
                if value.parse::<u64>().ok() != Some(image.size) {
                    return Err("the signed upload is for another size than the image's".into());
                }
                "Size"
            }
            "x-amz-checksum-sha256" => "Checksum",
            "x-amz-tagging" => "Tagging",
            "x-amz-object-lock-mode" => "LockMode",
            "x-amz-object-lock-retain-until-date" => "RetainUntil",
            other => match FIXED.iter().find(|(n, _)| *n == other) {
                Some((_, fixed)) if value == fixed => {
                    fixed_seen += 1;
                    continue;
                }
                _ => {
                    return Err(format!(
                        "the signed upload needs header {other}: {value}, which the memory \
                         document does not send"
                    ));
                }
            },
        };
        if parameters.iter().any(|(n, _)| *n == parameter) {
            return Err(format!("the signed upload has header {name} twice"));
        }
        parameters.push((parameter, value.clone()));
    }
    if fixed_seen != FIXED.len() || parameters.len() != 10 {
        return Err("the signed upload lacks a header the memory document sends".into());
    }
    checked(parameters)
}

/// The capture's report, from its standard output: the last report line, every field checked.
pub fn parse_report(stdout: &str) -> Result<Captured, String> {
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.trim_end().strip_prefix(REPORT))
        .ok_or("the capture reported no image")?;
    let mut fields = line.split(' ');
    let (Some(path), Some(size), Some(sha256), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err("the capture's report is not `path size sha256`".into());
    };
    if !image_path_ok(path) {
        return Err("the capture reported an image outside its own directory".into());
    }
    let size: u64 = size
        .parse()
        .map_err(|_| "the capture reported a size that is not a number")?;
    if size == 0 {
        return Err("the capture reported an empty image".into());
    }
    if !is_sha256(sha256) {
        return Err("the capture reported a SHA-256 that is not one".into());
    }
    Ok(Captured {
        path: path.to_string(),
        size,
        sha256: sha256.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn report(line: &str) -> Result<Captured, String> {
        parse_report(&format!("avml: done\n{line}\n"))
    }

    #[test]
    fn a_report_is_read_field_by_field() {
        let good = format!("firebreak-memory /var/tmp/firebreak.Ab3dE6gH9j/memory.lime 4096 {SHA}");
        assert_eq!(
            report(&good),
            Ok(Captured {
                path: "/var/tmp/firebreak.Ab3dE6gH9j/memory.lime".into(),
                size: 4096,
                sha256: SHA.into(),
            })
        );
        for bad in [
            String::new(),
            format!("firebreak-memory /etc/shadow 4096 {SHA}"),
            format!("firebreak-memory /var/tmp/firebreak.Ab3dE6gH9j/../../etc/passwd 1 {SHA}"),
            format!("firebreak-memory /var/tmp/firebreak.Ab3'E6gH9j/memory.lime 1 {SHA}"),
            format!("firebreak-memory /var/tmp/firebreak.Ab3dE6gH9j/memory.lime -1 {SHA}"),
            format!("firebreak-memory /var/tmp/firebreak.Ab3dE6gH9j/memory.lime 0 {SHA}"),
            "firebreak-memory /var/tmp/firebreak.Ab3dE6gH9j/memory.lime 1 ABCDEF".into(),
            format!("firebreak-memory /var/tmp/firebreak.Ab3dE6gH9j/memory.lime 1 {SHA} x"),
        ] {
            assert!(report(&bad).is_err(), "{bad}");
        }
    }

    const BUCKET: &str = "https://s3.us-east-1.amazonaws.com/evidence-bucket";
    const QUERY: &str = "x-id=GetObject&X-Amz-Signature=1&b=%2F";

    fn tool_url() -> String {
        format!("{BUCKET}/tools/avml-{SHA}?{QUERY}")
    }

    fn put_url() -> String {
        format!("{BUCKET}/incidents/FB-0123456789abcdef/memory/0123456789abcdef.lime?{QUERY}")
    }

    fn image() -> Captured {
        Captured {
            path: "/var/tmp/firebreak.Ab3dE6gH9j/memory.lime".into(),
            size: 13,
            sha256: SHA.into(),
        }
    }

    fn headers() -> Vec<(String, String)> {
        [
            ("host", "s3.us-east-1.amazonaws.com"),
            ("content-length", "13"),
            ("content-type", "application/octet-stream"),
            ("x-amz-sdk-checksum-algorithm", "SHA256"),
            (
                "x-amz-checksum-sha256",
                "nvyHMWKALIcjBFUp0Tz9PpFwntAZTf/qrvAAtXIzFgU=",
            ),
            ("if-none-match", "*"),
            (
                "x-amz-tagging",
                "incident-response=quarantine%3AFB-fa9c7f5cfce35eca",
            ),
            ("x-amz-object-lock-mode", "COMPLIANCE"),
            (
                "x-amz-object-lock-retain-until-date",
                "2027-03-07T13:40:37Z",
            ),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn parameters_refuse_values_that_could_leave_their_quotes() {
        let capture = |url: &str| capture_parameters(url, BUCKET, SHA, 300);
        let tool = format!("{BUCKET}/tools/avml-{SHA}?");
        assert!(capture(&format!("{tool}a'; rm -rf /;'")).is_err());
        assert!(capture(&format!("{tool}a\nb")).is_err());
        assert!(capture(&format!("{tool}a b")).is_err());
        assert!(capture(&format!("{tool}a$(id)")).is_err());
        assert!(capture(&format!("https://attacker.example/x/tools/avml-{SHA}?a=1")).is_err());
        assert!(capture(&format!("{BUCKET}/tools/avml-{}?a=1", "cd".repeat(32))).is_err());
        assert_eq!(
            capture(&tool_url()).unwrap(),
            vec![
                ("Step", "capture".to_string()),
                ("Seconds", "300".to_string()),
                ("ToolQuery", QUERY.to_string())
            ]
        );
        assert_eq!(bucket_url_of(&tool_url(), SHA).unwrap(), BUCKET);
        assert!(bucket_url_of(&format!("https://h/b'x/tools/avml-{SHA}?q"), SHA).is_err());
        let upload = upload_parameters(&image(), &put_url(), BUCKET, &headers(), 60).unwrap();
        assert_eq!(upload.len(), 10);
        assert!(upload.contains(&("LockMode", "COMPLIANCE".into())));
        assert!(upload.contains(&(
            "UploadKey",
            "FB-0123456789abcdef/memory/0123456789abcdef.lime".into()
        )));
        let forged = Captured {
            path: "/etc/passwd".into(),
            ..image()
        };
        assert!(upload_parameters(&forged, &put_url(), BUCKET, &headers(), 60).is_err());
        let elsewhere = put_url().replace("evidence-bucket", "attacker-bucket");
        assert!(upload_parameters(&image(), &elsewhere, BUCKET, &headers(), 60).is_err());
        let other_key = put_url().replace("/memory/", "/manifest/");
        assert!(upload_parameters(&image(), &other_key, BUCKET, &headers(), 60).is_err());
    }

    #[test]
    fn an_upload_is_sent_only_with_exactly_the_headers_the_document_sends() {
        let with = |name: &str, value: Option<&str>| {
            let mut h: Vec<(String, String)> =
                headers().into_iter().filter(|(n, _)| n != name).collect();
            if let Some(value) = value {
                h.push((name.to_string(), value.to_string()));
            }
            upload_parameters(&image(), &put_url(), BUCKET, &h, 60)
        };
        assert!(with("x-amz-checksum-sha256", Some("a'b")).is_err());
        assert!(with("x-amz-tagging", Some("a b")).is_err());
        assert!(with("content-length", Some("14")).is_err(), "another size");
        assert!(with("content-type", Some("text/plain")).is_err());
        assert!(with("if-none-match", None).is_err(), "a header missing");
        assert!(with("x-amz-object-lock-mode", None).is_err());
        assert!(
            with("x-amz-acl", Some("public-read")).is_err(),
            "an unknown one"
        );
        assert!(with("x-amz-object-lock-retain-until-date", Some("2027-03-07")).is_err());
        assert!(with("host", None).is_ok(), "host is curl's to send");
    }

    #[test]
    fn the_document_uses_every_parameter_it_declares_quoted_and_holds_the_tool_and_bucket() {
        assert_eq!(DOCUMENT.matches(TOOL_SHA256_PLACEHOLDER).count(), 2);
        assert_eq!(DOCUMENT.matches(BUCKET_URL_PLACEHOLDER).count(), 2);
        assert!(document("not-a-hash", BUCKET).is_err());
        assert!(document(SHA, "https://x/b'c").is_err());
        let doc = document(SHA, BUCKET).unwrap();
        let (parameters, steps) = (&doc["parameters"], &doc["mainSteps"]);
        let lines: Vec<&str> = steps[0]["inputs"]["runCommand"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert_eq!(lines.iter().filter(|l| l.contains(SHA)).count(), 2);
        assert_eq!(lines.iter().filter(|l| l.contains(BUCKET)).count(), 2);
        let text = lines.join("\n") + steps[0]["inputs"]["timeoutSeconds"].as_str().unwrap();
        let declared = parameters.as_object().unwrap();
        for name in declared.keys() {
            assert!(text.contains(&format!("{{{{ {name} }}}}")), "{name} unused");
        }
        let used = text.matches("{{").count();
        let known: usize = declared
            .keys()
            .map(|n| text.matches(&format!("{{{{ {n} }}}}")).count())
            .sum();
        assert_eq!(used, known, "a {{ }} names no parameter");
        // Each parameter is inside single quotes wherever a line uses it, and no quote can be in
        // its values.
        for line in &lines {
            for name in declared.keys() {
                for (at, _) in line.match_indices(&format!("{{{{ {name} }}}}")) {
                    let quotes = line[..at].matches('\'').count();
                    assert!(quotes % 2 == 1, "{name} unquoted in {line}");
                }
            }
        }
    }

    /// Core's checks are the document's patterns: a value passes one exactly when it passes the
    /// other.
    #[test]
    fn the_checks_here_are_the_documents_patterns() {
        use proptest::prelude::*;
        let doc = document(SHA, BUCKET).unwrap();
        let parameters = doc["parameters"].as_object().unwrap().clone();
        let samples = [
            "",
            "capture",
            "upload",
            "300",
            "9",
            "12345",
            "030",
            QUERY,
            "a+b",
            "a?b",
            "a/b",
            "FB-0123456789abcdef/memory/0123456789abcdef.lime",
            "FB-0123456789abcdef/memory/0123456789abcdeg.lime",
            "FB-0123456789abcdef/manifest/0123456789abcdef.lime",
            "https://x/a'b",
            "https://x/",
            "/var/tmp/firebreak.Ab3dE6gH9j/memory.lime",
            "/var/tmp/firebreak.Ab3dE6gH9/memory.lime",
            "13",
            "1234567890123",
            "nvyHMWKALIcjBFUp0Tz9PpFwntAZTf/qrvAAtXIzFgU=",
            "COMPLIANCE",
            "GOVERNANCE",
            "2027-03-07T13:40:37Z",
            "2027-03-07T13:40:37.123Z",
            "2027-03-07T13:40:37.Z",
            "incident-response=quarantine%3AFB-1",
            "a b",
            "a\nb",
            "$(id)",
        ];
        for (name, spec) in &parameters {
            let pattern = match (spec.get("allowedPattern"), spec.get("allowedValues")) {
                (Some(p), _) => p.as_str().unwrap().to_string(),
                (None, Some(values)) => format!(
                    "^({})$",
                    values
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap())
                        .collect::<Vec<_>>()
                        .join("|")
                ),
                _ => panic!("{name} has no pattern"),
            };
            let re = regex::Regex::new(&pattern).unwrap();
            for v in samples {
                assert_eq!(allowed(name, v), re.is_match(v), "{name} {v:?}");
            }
            proptest!(ProptestConfig::with_cases(300), |(v in "[A-Za-z0-9:/.%=&?+_~' $;\n-]{0,50}")| {
                prop_assert_eq!(allowed(name, &v), re.is_match(&v), "{} {:?}", name, v);
            });
        }
    }
}
