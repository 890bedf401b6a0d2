//! Volatile memory of an instance, captured through Systems Manager: the two shell scripts an
//! instance runs and the one line of output Firebreak believes.
//!
//! The capture runs the memory tool (AVML: static, kernel-independent, x86_64 Linux) only when
//! its SHA-256 is the configured one, writes the image under a fresh 0700 directory and reports
//! its path, size and SHA-256 (after checking the disk has room for all of memory; on any
//! failure it leaves nothing behind). The upload is a second command, sent once Firebreak has signed a
//! PUT for exactly that SHA-256 (S3 refuses other bytes, and an Object Lock bucket refuses a PUT
//! with no checksum). The instance's own role writes nothing. Everything an instance prints is
//! the attacker's to forge: the report is read strictly, and S3 checks the bytes against it.

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

/// A value put inside single quotes: refused if it could leave them.
fn quoted(value: &str) -> Result<String, String> {
    if value.bytes().any(|b| b == b'\'' || b.is_ascii_control()) {
        return Err(
            "a value for the instance's script holds a quote or a control character".into(),
        );
    }
    Ok(format!("'{value}'"))
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The capture: fetch the tool from `tool_url`, run it only if its SHA-256 is `tool_sha256`,
/// report the image. Nothing leaves the instance in this step.
pub fn capture_script(tool_url: &str, tool_sha256: &str) -> Result<String, String> {
    if !is_sha256(tool_sha256) {
        return Err("the memory tool's SHA-256 is not 64 lower-case hex digits".into());
    }
    let url = quoted(tool_url)?;
    // On any failure the trap leaves nothing behind; on success only the image stays.
    Ok(format!(
        r#"set -eu
umask 077
d=$(mktemp -d {DIR_PREFIX}XXXXXXXXXX)
trap 'rc=$?; rm -f "$d/avml"; [ $rc -eq 0 ] || rm -rf "$d"' EXIT
need=$(awk '/^MemTotal:/ {{print $2}}' /proc/meminfo)
free=$(df -Pk "$d" | awk 'NR==2 {{print $4}}')
if [ "$free" -le "$need" ]; then
  echo "$free KiB free under /var/tmp, $need KiB of memory: no room for the image" >&2; exit 4
fi
curl -fsS --max-time 120 -o "$d/avml" {url}
if ! echo "{tool_sha256}  $d/avml" | sha256sum -c --status; then
  echo 'the memory tool does not have the configured SHA-256' >&2; exit 3
fi
chmod 700 "$d/avml"
"$d/avml" --compress "$d{IMAGE}" >&2
rm -f "$d/avml"
set -- $(sha256sum "$d{IMAGE}")
echo "{REPORT}$d{IMAGE} $(stat -c %s "$d{IMAGE}") $1"
"#
    ))
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
    let dir = path
        .strip_prefix(DIR_PREFIX)
        .and_then(|rest| rest.strip_suffix(IMAGE))
        .ok_or("the capture reported an image outside its own directory")?;
    if dir.len() != 10 || !dir.bytes().all(|b| b.is_ascii_alphanumeric()) {
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

/// The upload: one PUT of the image to `url` with exactly the signed `headers`, then the
/// image's directory removed. A failed upload leaves the image where the snapshots find it.
pub fn upload_script(
    image: &Captured,
    url: &str,
    headers: &[(String, String)],
    seconds: u32,
) -> Result<String, String> {
    // The path was checked by `parse_report`; checked again, it may be quoted as it is.
    let path = quoted(
        &parse_report(&format!(
            "{REPORT}{} {} {}",
            image.path, image.size, image.sha256
        ))?
        .path,
    )?;
    let mut put = format!("curl -fsS --max-time {seconds} --upload-file \"$f\"");
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("host") {
            continue;
        }
        put.push_str(&format!(" -H {}", quoted(&format!("{name}: {value}"))?));
    }
    put.push(' ');
    put.push_str(&quoted(url)?);
    Ok(format!(
        "set -eu\n\
         f={path}\n\
         {put}\n\
         rm -rf \"${{f%{IMAGE}}}\"\n\
         echo firebreak-memory-uploaded\n"
    ))
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

    #[test]
    fn scripts_refuse_values_that_could_leave_their_quotes() {
        assert!(capture_script("https://x/a'; rm -rf /;'", SHA).is_err());
        assert!(capture_script("https://x/a\nb", SHA).is_err());
        assert!(capture_script("https://x/a", "not-a-hash").is_err());
        let script = capture_script("https://x/tools/avml?X-Amz-Signature=1&b=2", SHA).unwrap();
        assert!(script.contains(&format!("echo \"{SHA}  $d/avml\" | sha256sum -c --status")));
        assert!(script.contains("'https://x/tools/avml?X-Amz-Signature=1&b=2'"));
        let image = Captured {
            path: "/var/tmp/firebreak.Ab3dE6gH9j/memory.lime".into(),
            size: 1,
            sha256: SHA.into(),
        };
        let headers = [("x-amz-checksum-sha256".to_string(), "a'b".to_string())];
        assert!(upload_script(&image, "https://x/y", &headers, 60).is_err());
        let headers = [
            ("host".to_string(), "x".to_string()),
            ("x-amz-checksum-sha256".to_string(), "q+/=".to_string()),
        ];
        let script = upload_script(&image, "https://x/y?a=1&b=2", &headers, 60).unwrap();
        assert!(
            script.contains("-H 'x-amz-checksum-sha256: q+/='"),
            "{script}"
        );
        assert!(!script.contains("host:"), "{script}");
        let forged = Captured {
            path: "/etc/passwd".into(),
            ..image
        };
        assert!(upload_script(&forged, "https://x/y", &[], 60).is_err());
    }
}
