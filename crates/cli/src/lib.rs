//! The `firebreak` command. [`run`] takes its arguments and streams, so tests call it in-process
//! exactly as the binary does.

mod aws;
mod human;
mod hunt;
mod input;
mod plan;
mod rules;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use firebreak_core::{Config, Triage};

/// Exit code when every input was understood.
pub const EXIT_OK: u8 = 0;
/// Exit code when a command ran but an action it took failed (`respond`, `approve`, `release`,
/// `lockdown`), or `verify` found a problem.
pub const EXIT_FAILED: u8 = 1;
/// Exit code when an input or the configuration could not be understood (or `verify` found no
/// such incident).
pub const EXIT_BAD_INPUT: u8 = 2;

#[derive(Parser)]
#[command(
    name = "firebreak",
    version,
    about = "Serverless incident response for AWS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Classify events and print each one's response plan, without touching AWS.
    Plan {
        /// EventBridge event files (JSON, or NDJSON with one event per line), directories of
        /// them, or `-` for standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// One JSON object per input event instead of text.
        #[arg(long)]
        json: bool,
        /// Configuration file (TOML); defaults apply without one.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Plan, contain, preserve and page: execute each event's plan against AWS (or an emulator).
    Respond {
        /// EventBridge event files, directories of them, or `-` for standard input.
        files: Vec<PathBuf>,
        /// Respond to a GuardDuty finding fetched by id (GetFindings) instead of files.
        #[arg(long, conflicts_with = "files")]
        finding_id: Option<String>,
        /// The GuardDuty detector (default: the region's only detector).
        #[arg(long, requires = "finding_id")]
        detector_id: Option<String>,
        /// One JSON object per event instead of text.
        #[arg(long)]
        json: bool,
        /// Incidents responded to at once (events of one incident always one after another;
        /// 1: every event in turn). Output keeps the input's order.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: u16,
        #[command(flatten)]
        aws: aws::AwsArgs,
    },
    /// Execute actions of an incident that await approval (all of them, or `--action N`), once.
    Approve {
        /// The incident (`FB-` and 16 hex digits), as the page names it.
        incident_id: String,
        /// Only this action: its plan index, as the page and the outcomes show it.
        #[arg(long)]
        action: Option<usize>,
        #[command(flatten)]
        aws: aws::AwsArgs,
    },
    /// Undo what Firebreak changed for an incident; evidence (protection, snapshots) stays.
    Release {
        /// The incident (`FB-` and 16 hex digits).
        incident_id: String,
        /// Also set the access keys Firebreak deactivated Active again.
        #[arg(long)]
        reactivate_keys: bool,
        /// Also enable the Cognito users Firebreak disabled.
        #[arg(long)]
        enable_users: bool,
        #[command(flatten)]
        aws: aws::AwsArgs,
    },
    /// Check an incident's evidence: hashes, manifests, S3 checksums, retention; one verdict
    /// per object (exit 1 on any problem, 2 when the incident has no evidence).
    Verify {
        /// The incident (`FB-` and 16 hex digits).
        incident_id: String,
        #[command(flatten)]
        aws: aws::AwsArgs,
    },
    /// Acknowledge an obligation (notify-amazon, gdpr-authority, rca, retrospective): it is met,
    /// and the clock stops paging about it.
    Ack {
        /// The incident (`FB-` and 16 hex digits).
        incident_id: String,
        /// The obligation, as the reminder names it.
        obligation: String,
        /// What was done (a ticket, "sent to Amazon security at 14:02").
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        aws: aws::AwsArgs,
    },
    /// Confirm a personal-data breach: the GDPR 72-hour clock starts now.
    ConfirmBreach {
        /// The incident (`FB-` and 16 hex digits).
        incident_id: String,
        /// What was found (which data, how many people).
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        aws: aws::AwsArgs,
    },
    /// Close an incident: record the corrective controls, archive its GuardDuty finding, and
    /// start the 14-day retrospective clock.
    Close {
        /// The incident (`FB-` and 16 hex digits).
        incident_id: String,
        /// The corrective controls put in place.
        #[arg(long, required = true)]
        controls: String,
        #[command(flatten)]
        aws: aws::AwsArgs,
    },
    /// Draft a notice for a human to review and send (Firebreak sends none): amazon,
    /// gdpr-authority or gdpr-subjects.
    Notice {
        /// The incident (`FB-` and 16 hex digits).
        incident_id: String,
        /// Which notice.
        notice: String,
        /// Write the draft to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        aws: aws::AwsArgs,
    },
    /// Render an incident's log: summary, timeline, actions, evidence, deadlines, controls.
    Report {
        /// The incident (`FB-` and 16 hex digits).
        incident_id: String,
        /// `md` (default) or `html` (one self-contained file).
        #[arg(long, default_value = "md", value_parser = ["md", "html"])]
        format: String,
        /// Write the report to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        aws: aws::AwsArgs,
    },
    /// Run the deadline clock once: page obligations due within 6 hours or overdue; with
    /// --wiring-from, also check Firebreak's own wiring and page S1 on any drift.
    Clock {
        /// The deployed clock function (name or ARN): the wiring its environment describes is
        /// checked (rules, functions, topics, the evidence bucket), the clock itself included.
        #[arg(long)]
        wiring_from: Option<String>,
        #[command(flatten)]
        aws: aws::AwsArgs,
    },
    /// Everything that would leave Firebreak blind or toothless in this account and region
    /// (trail, GuardDuty, failure queues, subscriptions, the last drill, the wiring), each with
    /// its fix; exit 1 on any problem. Reads only.
    Doctor {
        /// The deployed clock function (name or ARN): its environment names the wiring and the
        /// failure queues.
        #[arg(long)]
        clock_function: String,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Member accounts to check too (comma-separated ids), entered through --audit-role.
        #[arg(long, value_delimiter = ',')]
        accounts: Vec<String>,
        /// The read-only role in member accounts (infra/member-role.yaml's AuditRoleName).
        #[arg(long, default_value = "FirebreakAudit")]
        audit_role: String,
        #[command(flatten)]
        aws: aws::AwsArgs,
    },
    /// Write the CLI's configuration from the deployed stack (its triage function's settings):
    /// with it, commands that act refuse to run while the stack is configured otherwise.
    Init {
        /// The stack's name (its functions are `<stack>-triage` …).
        #[arg(long)]
        stack: String,
        /// Where to write it.
        #[arg(long, default_value = "firebreak.toml")]
        out: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        aws: aws::AwsArgs,
    },
    /// Send a drill through the deployed pipeline (containment dry), check every stage's
    /// records, page a [DRILL] summary and record it (exit 1 when a stage left no record).
    Drill {
        /// Seconds to wait for the pipeline.
        #[arg(long, default_value_t = 300)]
        wait: u64,
        /// Firebreak's event bus (the stack's EventBusName output); default: stack.bus of the
        /// configuration.
        #[arg(long)]
        bus: Option<String>,
        #[command(flatten)]
        aws: aws::AwsArgs,
    },
    /// Emergency lockdown by hand: shut down a Cognito pool's logins, or a role's sessions.
    Lockdown {
        #[command(subcommand)]
        what: aws::LockdownTarget,
        #[command(flatten)]
        aws: aws::AwsArgs,
    },
    /// Everything a principal did, from CloudTrail log files (a trail's S3 bucket, or local
    /// files): a timeline (or NDJSON with --json), the sessions it minted followed, and a
    /// summary of the indicators it tripped and what it created, changed and read. Exit 1
    /// when a file could not be read (it is named; the rest are searched).
    Hunt(hunt::HuntArgs),
    /// Print the rule table, the GuardDuty playbooks and the severity policy.
    Rules {
        /// The IOC table as JSON.
        #[arg(long, conflicts_with = "markdown")]
        json: bool,
        /// The tables of docs/rules.md, as Markdown.
        #[arg(long)]
        markdown: bool,
        /// MITRE ATT&CK coverage instead: each technique the rules detect, and the IaaS
        /// techniques they do not, with why (docs/coverage.md with --markdown).
        #[arg(long)]
        coverage: bool,
        /// Configuration file (TOML), to show which conditions are off.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// Runs the command line `args` (program name first) and returns the exit code.
pub fn run(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> u8 {
    // Names, titles and error messages come from events an attacker may have written: no
    // control character or escape sequence reaches the responder's terminal.
    let mut stdout = Printable::new(stdout);
    let mut stderr = Printable::new(stderr);
    run_commands(args, stdin, &mut stdout, &mut stderr)
}

/// A writer that passes text through with every control character but newline and tab (C0,
/// DEL and the C1 controls, CSI included) replaced by `�`.
struct Printable<'w> {
    inner: &'w mut dyn Write,
    /// A 0xC2 byte seen at the end of the last write: the lead byte of a C1 control or of an
    /// ordinary character, decided by the next byte.
    pending_lead: bool,
}

impl<'w> Printable<'w> {
    const REPLACEMENT: &'static [u8] = "\u{FFFD}".as_bytes();

    fn new(inner: &'w mut dyn Write) -> Printable<'w> {
        Printable {
            inner,
            pending_lead: false,
        }
    }
}

impl Write for Printable<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut out = Vec::with_capacity(buf.len());
        for &b in buf {
            if std::mem::take(&mut self.pending_lead) {
                if (0x80..=0x9f).contains(&b) {
                    out.extend_from_slice(Self::REPLACEMENT);
                    continue;
                }
                out.push(0xc2);
            }
            match b {
                0xc2 => self.pending_lead = true,
                b'\n' | b'\t' => out.push(b),
                0x00..=0x1f | 0x7f => out.extend_from_slice(Self::REPLACEMENT),
                _ => out.push(b),
            }
        }
        self.inner.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if std::mem::take(&mut self.pending_lead) {
            self.inner.write_all(&[0xc2])?;
        }
        self.inner.flush()
    }
}

impl Drop for Printable<'_> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

fn run_commands(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = write!(stderr, "{e}");
            return if e.use_stderr() {
                EXIT_BAD_INPUT
            } else {
                EXIT_OK
            };
        }
    };
    let result = match cli.command {
        Command::Plan {
            files,
            json,
            config,
        } => load_triage(config.as_deref())
            .and_then(|t| plan::run(&t, &files, json, stdin, stdout, stderr)),
        Command::Rules {
            json,
            markdown,
            coverage,
            config,
        } => {
            let format = match (json, markdown) {
                (true, _) => rules::Format::Json,
                (_, true) => rules::Format::Markdown,
                _ => rules::Format::Text,
            };
            load_triage(config.as_deref()).and_then(|t| {
                if coverage {
                    rules::coverage(&t, format, stdout)
                } else {
                    rules::run(&t, format, stdout)
                }
            })
        }
        Command::Respond {
            files,
            finding_id,
            detector_id,
            json,
            jobs,
            aws,
        } => load_triage(aws.config.as_deref()).and_then(|t| {
            let source = match finding_id {
                Some(id) => aws::EventSource::Finding {
                    id,
                    detector: detector_id,
                },
                None if files.is_empty() => {
                    anyhow::bail!("name event files (or -), or --finding-id")
                }
                None => aws::EventSource::Files(files),
            };
            let out = aws::Output { json, jobs };
            aws::respond(t, &aws, source, out, stdin, stdout, stderr)
        }),
        Command::Approve {
            incident_id,
            action,
            aws,
        } => load_triage(aws.config.as_deref())
            .and_then(|t| aws::approve(t, &aws, &incident_id, action, stdout)),
        Command::Release {
            incident_id,
            reactivate_keys,
            enable_users,
            aws,
        } => load_triage(aws.config.as_deref()).and_then(|t| {
            let options = firebreak_core::record::release::Options {
                reactivate_keys,
                enable_users,
            };
            aws::release(t, &aws, &incident_id, options, stdout)
        }),
        Command::Verify { incident_id, aws } => load_triage(aws.config.as_deref())
            .and_then(|t| aws::verify(t, &aws, &incident_id, stdout)),
        Command::Ack {
            incident_id,
            obligation,
            note,
            aws,
        } => load_triage(aws.config.as_deref()).and_then(|t| {
            let obligation = human::obligation(&obligation)?;
            human::step(
                t,
                &aws,
                &incident_id,
                human::Step::Ack { obligation, note },
                stdout,
            )
        }),
        Command::ConfirmBreach {
            incident_id,
            note,
            aws,
        } => load_triage(aws.config.as_deref()).and_then(|t| {
            human::step(
                t,
                &aws,
                &incident_id,
                human::Step::ConfirmBreach { note },
                stdout,
            )
        }),
        Command::Close {
            incident_id,
            controls,
            aws,
        } => load_triage(aws.config.as_deref()).and_then(|t| {
            human::step(
                t,
                &aws,
                &incident_id,
                human::Step::Close { controls },
                stdout,
            )
        }),
        Command::Notice {
            incident_id,
            notice,
            output,
            aws,
        } => load_triage(aws.config.as_deref())
            .and_then(|t| human::notice(t, &aws, &incident_id, &notice, output.as_deref(), stdout)),
        Command::Report {
            incident_id,
            format,
            output,
            aws,
        } => load_triage(aws.config.as_deref()).and_then(|t| {
            human::report(
                t,
                &aws,
                &incident_id,
                format == "html",
                output.as_deref(),
                stdout,
            )
        }),
        Command::Clock { wiring_from, aws } => load_triage(aws.config.as_deref())
            .and_then(|t| human::clock(t, &aws, wiring_from.as_deref(), stdout)),
        Command::Doctor {
            clock_function,
            json,
            accounts,
            audit_role,
            aws,
        } => load_triage(aws.config.as_deref()).and_then(|t| {
            let members = human::Members {
                accounts,
                role: audit_role,
            };
            human::doctor(t, &aws, &clock_function, &members, json, stdout)
        }),
        Command::Drill { wait, bus, aws } => load_triage(aws.config.as_deref()).and_then(|t| {
            let wait = std::time::Duration::from_secs(wait);
            human::drill(t, &aws, bus.as_deref(), wait, stdout)
        }),
        Command::Init {
            stack,
            out,
            force,
            aws,
        } => aws::init(&aws, &stack, &out, force, stdout),
        Command::Hunt(args) => load_triage(args.config.as_deref())
            .and_then(|t| hunt::run(&t, &args, chrono::Utc::now(), stdout, stderr)),
        Command::Lockdown { what, aws } => {
            load_triage(aws.config.as_deref()).and_then(|t| aws::lockdown(t, &aws, what, stdout))
        }
    };
    match result {
        Ok(code) => code,
        // A reader that went away (`firebreak rules | head`) is not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>().map(std::io::Error::kind)
                == Some(std::io::ErrorKind::BrokenPipe) =>
        {
            EXIT_OK
        }
        Err(e) => {
            let _ = writeln!(stderr, "firebreak: {e:#}");
            EXIT_BAD_INPUT
        }
    }
}

pub(crate) fn load_triage(path: Option<&std::path::Path>) -> anyhow::Result<Triage> {
    let config = match path {
        None => Config::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?;
            Config::from_toml(&text)
                .map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?
        }
    };
    Triage::new(config).map_err(|e| anyhow::anyhow!("rules: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filtered(chunks: &[&[u8]]) -> String {
        let mut sink = Vec::new();
        {
            let mut p = Printable::new(&mut sink);
            for c in chunks {
                p.write_all(c).unwrap();
            }
        }
        String::from_utf8(sink).unwrap()
    }

    #[test]
    fn controls_never_reach_the_terminal() {
        assert_eq!(filtered(&[b"a\tb\nc"]), "a\tb\nc");
        assert_eq!(
            filtered(&[b"x\x1b[2Jy\r\x07"]),
            "x\u{FFFD}[2Jy\u{FFFD}\u{FFFD}"
        );
        // A C1 CSI (U+009B) split across writes, and ordinary two-byte characters.
        assert_eq!(filtered(&[b"a\xc2", b"\x9b31m"]), "a\u{FFFD}31m");
        assert_eq!(filtered(&["é ©".as_bytes()]), "é ©");
        assert_eq!(filtered(&[b"\xc2", b"\xa9"]), "©");
    }
}
