//! Reading events: files, directories, standard input; one pretty-printed event per file or
//! NDJSON with one event per line.

use std::io::Read;
use std::path::{Path, PathBuf};

/// One event's text and where it came from.
pub struct Located<'a> {
    /// 1-based line of the event's first character.
    pub line: usize,
    /// The event's JSON text.
    pub text: &'a str,
}

/// A readable source: its display name and contents.
pub struct Source {
    pub name: String,
    pub text: String,
}

/// Expands arguments into sources: directories into their `.json`/`.ndjson` files (sorted,
/// recursively), `-` into standard input.
pub fn sources(args: &[PathBuf], stdin: &mut dyn Read) -> Vec<Result<Source, (String, String)>> {
    let mut out = Vec::new();
    for arg in args {
        if arg.as_os_str() == "-" {
            let mut text = String::new();
            out.push(match stdin.read_to_string(&mut text) {
                Ok(_) => Ok(Source {
                    name: "-".into(),
                    text,
                }),
                Err(e) => Err(("-".into(), e.to_string())),
            });
        } else if arg.is_dir() {
            let mut files = Vec::new();
            collect(arg, &mut files);
            files.sort();
            if files.is_empty() {
                out.push(Err((
                    arg.display().to_string(),
                    "directory holds no .json or .ndjson file".into(),
                )));
            }
            out.extend(files.iter().map(|f| read(f)));
        } else {
            out.push(read(arg));
        }
    }
    out
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("json" | "ndjson" | "jsonl")
        ) {
            files.push(path);
        }
    }
}

fn read(path: &Path) -> Result<Source, (String, String)> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Source { name, text }),
        Err(e) => Err((name, e.to_string())),
    }
}

/// Splits a source into events. NDJSON when the first non-blank line holds a whole object;
/// otherwise the whole text is one event (pretty-printed JSON).
pub fn events(text: &str) -> Vec<Located<'_>> {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty());
    let ndjson = first.is_some_and(|l| l.starts_with('{') && l.ends_with('}'));
    if !ndjson {
        let leading = text.len() - text.trim_start().len();
        let line = 1 + text[..leading].matches('\n').count();
        return if text.trim().is_empty() {
            Vec::new()
        } else {
            vec![Located { line, text }]
        };
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| Located {
            line: i + 1,
            text: l,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_is_one_event() {
        let e = events("\n{\n  \"a\": 1\n}\n");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, 2);
    }

    #[test]
    fn ndjson_is_one_per_line_skipping_blanks() {
        let e = events("{\"a\":1}\n\n{\"b\":2}\nnot json\n");
        assert_eq!(e.iter().map(|l| l.line).collect::<Vec<_>>(), [1, 3, 4]);
    }

    #[test]
    fn empty_is_nothing() {
        assert!(events("  \n").is_empty());
    }
}
