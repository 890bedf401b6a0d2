//! The real `firebreak` binary against the local emulator: the emulator, Firebreak's stack on
//! it, a configuration file pointed at that stack, and the credentials of the home account.

use std::path::PathBuf;
use std::process::Command;

use aws_credential_types::provider::ProvideCredentials;
use serde_json::Value;

use crate::repo;
use crate::seed;

/// Whoever runs the CLI in these tests (the emulator's home-account session).
pub const CALLER: &str =
    "arn:aws:sts::111122223333:assumed-role/FirebreakAdministrator/firebreak-tests";

/// The `firebreak` binary cargo built.
pub fn binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let bin = target.join("debug/firebreak");
    assert!(
        bin.exists(),
        "{} is not built (cargo build -p firebreak-cli)",
        bin.display()
    );
    bin
}

/// The emulator, Firebreak's stack on it, and a configuration file for the CLI.
pub struct Cli {
    /// The emulator and Firebreak's stack on it.
    pub base: crate::world::World,
    /// The whole environment the binary runs with: the caller's credentials and region.
    pub env: Vec<(String, String)>,
    /// Where the configuration and event files go.
    pub dir: PathBuf,
}

impl std::ops::Deref for Cli {
    type Target = crate::world::World;

    fn deref(&self) -> &crate::world::World {
        &self.base
    }
}

impl Cli {
    /// Starts the emulator and seeds the stack; `name` keeps test directories apart.
    pub async fn start(name: &str) -> Cli {
        let base = crate::world::World::new().await;
        let creds = base
            .sdk
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        let env = vec![
            ("AWS_ACCESS_KEY_ID".into(), creds.access_key_id().into()),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                creds.secret_access_key().into(),
            ),
            (
                "AWS_SESSION_TOKEN".into(),
                creds.session_token().unwrap_or_default().into(),
            ),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ];
        let dir = std::env::temp_dir().join(format!("firebreak-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cli = Cli { base, env, dir };
        cli.configure(|c| c);
        cli
    }

    /// Writes infra/firebreak.toml pointed at this stack, after `edit`.
    pub fn configure(&self, edit: impl Fn(String) -> String) {
        let base = std::fs::read_to_string(repo().join("infra/firebreak.toml")).unwrap();
        let config = base
            .replace("firebreak-evidence-111122223333", &self.stack.bucket)
            .replace(
                "arn:aws:sns:us-east-1:111122223333:firebreak-s1-pager",
                &self.stack.pager_topic,
            )
            .replace(
                "arn:aws:sns:us-east-1:111122223333:firebreak-s2-ticket",
                &self.stack.ticket_topic,
            );
        std::fs::write(self.dir.join("firebreak.toml"), edit(config)).unwrap();
    }

    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = Command::new(binary());
        cmd.args(args)
            .arg("--endpoint")
            .arg(&self.moto.endpoint)
            .arg("--config")
            .arg(self.dir.join("firebreak.toml"))
            .env_clear();
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Writes `v` as `name` in the test directory; returns its path.
    pub fn write_event(&self, name: &str, v: &Value) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, v.to_string()).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// `firebreak respond --json` on one event: its JSON line.
    pub fn respond(&self, name: &str, e: &Value) -> Value {
        let path = self.dir.join(format!("{name}.json"));
        std::fs::write(&path, e.to_string()).unwrap();
        let (code, out, err) = self.run(&["respond", "--json", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{name}: {out}\n{err}");
        serde_json::from_str(out.lines().next().unwrap()).unwrap()
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        seed::s3_client(&self.sdk)
    }

    /// Keys under `incidents/<id>/<folder>/`.
    pub async fn evidence(&self, id: &str, folder: &str) -> Vec<String> {
        let out = self
            .s3()
            .list_objects_v2()
            .bucket(&self.stack.bucket)
            .prefix(format!("incidents/{id}/{folder}/"))
            .send()
            .await
            .unwrap();
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
