//! Test helpers: a work directory per test and a way to run `leadpipe` in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const MINIMAL: &str = r#"
[source]
kind = "csv"
path = "data/sample.csv"

[[stages]]
kind = "dedupe"
key = ["email"]

[[sinks]]
kind = "parquet"
path = "out/sample.parquet"

[[sinks]]
kind = "csv"
path = "out/sample.csv"

[state]
path = "state/sample.db"
"#;

pub struct Work {
    pub dir: tempfile::TempDir,
}

impl Work {
    pub fn new() -> Work {
        Work {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadpipe"));
        cmd.args(args).current_dir(self.dir.path()).env_remove("LEADPIPE_LOG");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("leadpipe runs")
    }

    pub fn report(&self, rel: &str) -> serde_json::Value {
        serde_json::from_str(&self.read(rel)).expect("report is JSON")
    }

    /// A CSV file as rows of column → value.
    pub fn csv_rows(&self, rel: &str) -> Vec<BTreeMap<String, String>> {
        let mut r = csv::Reader::from_path(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
        r.records()
            .map(|rec| {
                let rec = rec.unwrap();
                header.iter().cloned().zip(rec.iter().map(str::to_string)).collect()
            })
            .collect()
    }
}

/// Runs `cmd` off the async runtime, so an in-process sandbox keeps serving.
pub async fn output_of(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("leadpipe runs"))
        .await
        .unwrap()
}

/// Asserts the exit code, showing stderr when it differs.
pub fn check(out: &Output, expected: i32) {
    assert_eq!(code(out), expected, "stderr:\n{}", stderr(out));
}

/// A loopback port nobody listens on (for a webhook receiver).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The repository's committed messy sample.
pub fn messy_sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample.csv")
}

/// Run a Python snippet with pyarrow (`scripts/install-test-deps.sh` installs it; tests install nothing).
pub fn python_with_pyarrow(script: &str) -> String {
    let has = Command::new("python3")
        .args(["-c", "import pyarrow"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(has, "pyarrow is not installed: run scripts/install-test-deps.sh");
    let out = Command::new("python3")
        .args(["-c", script])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A deterministic contact file of `rows` rows (10% repeated emails).
pub fn contacts(rows: usize) -> String {
    let mut s = String::from("first_name,last_name,email,company,website\n");
    for i in 0..rows {
        let n = if i % 10 == 9 { i - 7 } else { i };
        s.push_str(&format!(
            "First{n},Last{n},person{n}@company{}.com,\"Company {}, Inc.\",company{}.com\n",
            n % 97,
            n % 97,
            n % 97
        ));
    }
    s
}

/// The first `n` people of the sandbox's universe whose RocketReach lookup has this outcome.
pub fn rr_people(
    sb: &leadpipe::sandbox::Sandbox,
    outcome: leadpipe::sandbox::RrOutcome,
    n: usize,
) -> Vec<leadpipe::sandbox::Person> {
    let v: Vec<_> = sb
        .universe()
        .people
        .iter()
        .filter(|p| p.rr == outcome)
        .take(n)
        .cloned()
        .collect();
    assert_eq!(v.len(), n, "the universe has {n} people with {outcome:?}");
    v
}
