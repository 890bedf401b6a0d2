//! Headless Chromium for the HTML report: which sections a real browser lays out visibly, the
//! DOM it ends with, and a screenshot. Chromium is found at `FIREBREAK_CHROMIUM`, or as
//! `chromium` (`make browser` installs it); `make test` fails without it unless
//! `FIREBREAK_SKIP_BROWSER=1` says to skip.

use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Chromium is killed after this long.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// True when `FIREBREAK_SKIP_BROWSER=1`: a missing Chromium skips the browser tests instead of
/// failing them.
pub fn skip_requested() -> bool {
    std::env::var("FIREBREAK_SKIP_BROWSER").is_ok_and(|v| v == "1")
}

/// The Chromium binary: `FIREBREAK_CHROMIUM`, `/usr/bin/chromium`, or `chromium` /
/// `chromium-browser` on `PATH`.
pub fn chromium() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("FIREBREAK_CHROMIUM") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "FIREBREAK_CHROMIUM={} is not a file; unset it or point it at Chromium",
                path.display()
            ))
        };
    }
    let usual = PathBuf::from("/usr/bin/chromium");
    if usual.is_file() {
        return Ok(usual);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    for dir in on_path {
        for name in ["chromium", "chromium-browser"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(
        "Chromium not found: run `make test` (its `browser` step installs it), or set \
         FIREBREAK_CHROMIUM to its path; FIREBREAK_SKIP_BROWSER=1 skips the browser tests"
            .to_string(),
    )
}

/// For each of `ids`, whether Chromium lays the element out visibly in `html`: it exists, has
/// a non-zero box, and its computed style does not hide it.
pub fn visible_sections(html: &str, ids: &[&str]) -> Result<Vec<(String, bool)>, String> {
    let ids = serde_json::to_string(ids).map_err(|e| e.to_string())?;
    let result = probe(
        html,
        &format!(
            r#"{ids}.map(function (id) {{
    var el = document.getElementById(id);
    if (!el) return [id, false];
    var box = el.getBoundingClientRect();
    var style = window.getComputedStyle(el);
    return [id, box.width > 0 && box.height > 0 && style.display !== "none"
      && style.visibility !== "hidden"];
  }})"#
        ),
    )?;
    serde_json::from_str::<Vec<(String, bool)>>(&result)
        .map_err(|e| format!("probe result {result:?} is not JSON: {e}"))
}

/// The height in CSS pixels of `html` laid out `width` pixels wide: what a screenshot of the
/// whole page needs.
pub fn page_height(html: &str, width: u32) -> Result<u32, String> {
    let result = probe_at(
        html,
        "Math.ceil(document.documentElement.scrollHeight)",
        width,
    )?;
    result
        .trim()
        .parse()
        .map_err(|e| format!("page height {result:?}: {e}"))
}

/// The DOM Chromium ends with after loading `html` (from a temporary file).
pub fn dump_dom(html: &str) -> Result<String, String> {
    dump_dom_at(html, 1280)
}

fn dump_dom_at(html: &str, width: u32) -> Result<String, String> {
    let dir = TempDir::new("page")?;
    let page = dir.path().join("page.html");
    fs::write(&page, html).map_err(|e| format!("{}: {e}", page.display()))?;
    let out = run(&[
        format!("--window-size={width},900"),
        "--virtual-time-budget=5000".to_string(),
        "--dump-dom".to_string(),
        file_url(&page),
    ])?;
    if !out.contains("<html") {
        return Err(format!("Chromium dumped no DOM:\n{out}"));
    }
    Ok(out)
}

/// A screenshot of the page at `html_path` into `png`, `width`×`height` pixels.
pub fn screenshot(html_path: &Path, png: &Path, width: u32, height: u32) -> Result<(), String> {
    let html_path = html_path
        .canonicalize()
        .map_err(|e| format!("{}: {e}", html_path.display()))?;
    if let Some(parent) = png.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let _ = fs::remove_file(png);
    run(&[
        format!("--screenshot={}", png.display()),
        format!("--window-size={width},{height}"),
        "--hide-scrollbars".to_string(),
        file_url(&html_path),
    ])?;
    match fs::metadata(png) {
        Ok(m) if m.len() > 0 => Ok(()),
        _ => Err(format!("Chromium wrote no screenshot at {}", png.display())),
    }
}

/// Where tests leave files for a human to look at: `<target>/artefacts`.
pub fn artefacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| {
            if t.is_absolute() {
                t
            } else {
                crate::repo().join(t)
            }
        })
        .unwrap_or_else(|| crate::repo().join("target"));
    target.join("artefacts")
}

/// Runs headless Chromium with `args` after the common flags, in a fresh profile; its stdout.
fn run(args: &[String]) -> Result<String, String> {
    let chromium = chromium()?;
    let dir = TempDir::new("chromium")?;
    let profile = dir.path().join("profile");
    let (stdout, stderr) = (dir.path().join("stdout"), dir.path().join("stderr"));
    // Output goes to files, not pipes: a DOM larger than a pipe's buffer would block Chromium
    // while this waits for it to exit.
    let file = |p: &Path| fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut child = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        // Its own process group, so a timeout ends the renderer and GPU helpers with it.
        .process_group(0)
        .stdout(file(&stdout)?)
        .stderr(file(&stderr)?)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", chromium.display()))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > TIMEOUT => {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "Chromium did not finish within {}s; killed it. stderr:\n{}",
                    TIMEOUT.as_secs(),
                    fs::read_to_string(&stderr).unwrap_or_default()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for Chromium: {e}")),
        }
    };
    let out = fs::read_to_string(&stdout).map_err(|e| format!("Chromium's stdout: {e}"))?;
    if !status.success() {
        return Err(format!(
            "Chromium exited with {status}. stderr:\n{}",
            fs::read_to_string(&stderr).unwrap_or_default()
        ));
    }
    Ok(out)
}

/// The value of the JavaScript expression `expr` once Chromium has laid out a copy of `html`,
/// as JSON.
fn probe(html: &str, expr: &str) -> Result<String, String> {
    probe_at(html, expr, 1280)
}

fn probe_at(html: &str, expr: &str, width: u32) -> Result<String, String> {
    // The probe goes into a copy: the report itself has no script.
    let script = format!(
        r#"<pre id="probe-result"></pre>
<script>
(function () {{
  var out = {expr};
  document.getElementById("probe-result").textContent = JSON.stringify(out);
}})();
</script>
"#,
        expr = expr.replace("</", "<\\/")
    );
    let copy = match html.rfind("</body>") {
        Some(at) => format!("{}{script}{}", &html[..at], &html[at..]),
        None => format!("{html}{script}"),
    };
    probe_result(&dump_dom_at(&copy, width)?)
}

/// The text of `<pre id="probe-result">` in a dumped DOM.
fn probe_result(dom: &str) -> Result<String, String> {
    let open = "<pre id=\"probe-result\">";
    let start = dom.find(open).ok_or("the dumped DOM has no probe result")? + open.len();
    let len = dom[start..]
        .find("</pre>")
        .ok_or("the probe result is not closed")?;
    let text = dom[start..start + len]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    if text.is_empty() {
        return Err("the probe did not run (empty result)".to_string());
    }
    Ok(text)
}

/// `file://` URL of an absolute path, with anything but unreserved characters and `/`
/// percent-encoded.
fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                url.push(char::from(b))
            }
            _ => url.push_str(&format!("%{b:02X}")),
        }
    }
    url
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> Result<TempDir, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "firebreak-{what}-{}-{nanos}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(TempDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
