//! Personal data out of log lines. Firebreak's logs say what happened to which incident; who and
//! where (user names, e-mail addresses, IP addresses, access key ids) stay in the locked evidence.
//! A value is replaced by its fingerprint, `#` and the first 8 hex digits of its SHA-256, so a
//! responder holding the evidence can still match a log line to it.

use sha2::{Digest, Sha256};

/// `#` and the first 8 hex digits of the SHA-256 of `value`.
pub fn fingerprint(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let mut out = String::with_capacity(9);
    out.push('#');
    for b in &digest[..4] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// `text` with every e-mail address, IP address, access key or principal id, the name part of
/// every ARN, and every quoted string replaced by its fingerprint. Quoted strings go because
/// error messages quote the input they refused (`invalid type: string "…"`).
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '"' {
            // A quoted string, to its closing quote (or the end).
            let body = &rest[1..];
            let end = closing_quote(body);
            let inner = &body[..end];
            out.push('"');
            out.push_str(&fingerprint(inner));
            if end < body.len() {
                out.push('"');
                rest = &body[end + 1..];
            } else {
                rest = "";
            }
        } else if is_word_char(c) {
            let end = rest.find(|c| !is_word_char(c)).unwrap_or(rest.len());
            out.push_str(&redact_word(&rest[..end]));
            rest = &rest[end..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// Where the quoted string starting at `body` ends: its first unescaped `"`, or `body.len()`.
fn closing_quote(body: &str) -> usize {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return i,
            _ => escaped = false,
        }
    }
    body.len()
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-' | '@' | ':' | '/' | '=')
}

/// One word: redacted when it is an identifier, as it is otherwise.
fn redact_word(word: &str) -> String {
    let trimmed = word.trim_end_matches(['.', ':', '/']);
    let tail = &word[trimmed.len()..];
    let redacted = if let Some(arn) = trimmed.strip_prefix("arn:") {
        redact_arn(arn)
    } else if is_email(trimmed) || is_ipv4(trimmed) || is_ipv6(trimmed) || is_aws_id(trimmed) {
        fingerprint(trimmed)
    } else {
        return word.to_string();
    };
    redacted + tail
}

/// A principal's ARN (IAM, STS) keeps `arn:partition:service:region:account:` and its type;
/// its name is fingerprinted: `user/alice` → `user/#…`, `assumed-role/Role/session` →
/// `assumed-role/#…`. Other ARNs (topics, buckets, instances) name no person and stay.
fn redact_arn(arn: &str) -> String {
    let parts: Vec<&str> = arn.splitn(5, ':').collect();
    let Some(resource) = parts.get(4) else {
        return format!("arn:{}", fingerprint(arn));
    };
    if !matches!(parts[1], "iam" | "sts") {
        return format!("arn:{arn}");
    }
    let head = parts[..4].join(":");
    let resource = match resource.split_once(['/', ':']) {
        Some((kind, name)) if !name.is_empty() => {
            let sep = &resource[kind.len()..kind.len() + 1];
            format!("{kind}{sep}{}", fingerprint(name))
        }
        _ => fingerprint(resource),
    };
    format!("arn:{head}:{resource}")
}

fn is_email(w: &str) -> bool {
    match w.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        }
        None => false,
    }
}

fn is_ipv4(w: &str) -> bool {
    let parts: Vec<&str> = w.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u8>().is_ok())
}

fn is_ipv6(w: &str) -> bool {
    let w = w.split('/').next().unwrap_or(w);
    w.matches(':').count() >= 2
        && w.chars()
            .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        && w.chars().any(|c| c.is_ascii_hexdigit())
}

/// Access key ids (`AKIA…`, `ASIA…`) and the unique ids of users and roles (`AIDA…`, `AROA…`),
/// also as `AROA…:session` principal ids.
fn is_aws_id(w: &str) -> bool {
    let id = w.split(':').next().unwrap_or(w);
    ["AKIA", "ASIA", "AIDA", "AROA", "ANPA", "AGPA", "AIPA"]
        .iter()
        .any(|p| id.starts_with(p))
        && id.len() >= 16
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_gone(text: &str, secrets: &[&str]) {
        let out = redact(text);
        for s in secrets {
            assert!(!out.contains(s), "{s} still in {out}");
        }
    }

    #[test]
    fn identifiers_are_fingerprinted() {
        let text = "key AKIAS62DYWPZ53AR53P2 of arn:aws:iam::111122223333:user/legacy-reporting \
                    from 198.51.100.7 and 2001:db8::7, mail alice@example.com, \
                    principal AROARNJ26X4FAN3ZSA2Q7:incident-2025-0311";
        assert_gone(
            text,
            &[
                "AKIAS62DYWPZ53AR53P2",
                "legacy-reporting",
                "198.51.100.7",
                "2001:db8::7",
                "alice@example.com",
                "AROARNJ26X4FAN3ZSA2Q7",
                "incident-2025-0311",
            ],
        );
        let out = redact(text);
        assert!(out.contains("arn:aws:iam::111122223333:user/#"), "{out}");
        assert!(out.contains(&fingerprint("legacy-reporting")), "{out}");
    }

    #[test]
    fn quoted_input_in_error_messages_is_fingerprinted() {
        let out = redact(r#"detail: invalid type: string "bob", expected u64 at line 1"#);
        assert_eq!(
            out,
            format!(
                "detail: invalid type: string \"{}\", expected u64 at line 1",
                fingerprint("bob")
            )
        );
        assert_gone(r#"unterminated "carol"#, &["carol"]);
        assert_gone(r#"escaped "a \" dave" end"#, &["dave"]);
    }

    #[test]
    fn what_is_not_personal_stays() {
        for text in [
            "incidents/FB-0123456789abcdef/events/7bf73129-1428.json does not exist",
            "Firebreak.Retryable: putting the incident on the bus: Throttling",
            "arn:aws:sns:us-east-1:111122223333:firebreak-s1-pager",
            "version 1.2.3 took 20 ms",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn fingerprints_are_stable_and_short() {
        assert_eq!(fingerprint("alice"), fingerprint("alice"));
        assert_ne!(fingerprint("alice"), fingerprint("bob"));
        assert_eq!(fingerprint("alice").len(), 9);
    }

    #[test]
    fn redaction_never_panics_on_odd_text() {
        for text in [
            "",
            "\"",
            "arn:",
            "arn:aws",
            "@",
            "::",
            "é\"ü",
            "a\"\\",
            "1.2.3.4.5",
            "x@y.",
        ] {
            let _ = redact(text);
        }
    }
}
