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

/// Run a Python snippet with pyarrow (installed by `scripts/install-test-deps.sh`;
/// a test never installs anything).
pub fn python_with_pyarrow(script: &str) -> String {
    let has = Command::new("python3")
        .args(["-c", "import pyarrow"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        has,
        "python3 with pyarrow is missing: run scripts/install-test-deps.sh (CI runs it from .ci/run)"
    );
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

/// A loopback proxy in front of a vendor's base URL that holds every request
/// while it is closed: a run whose vendor stage goes through it cannot finish
/// until the test opens it, however fast or slow the machine is. Balance
/// reads (free, and what the run reconciles credits with) pass at once.
pub struct Gate {
    /// The vendor's base URL through the gate.
    pub base_url: String,
    open: tokio::sync::watch::Sender<bool>,
    held: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Gate {
    /// A closed gate in front of `target` (e.g. `http://127.0.0.1:PORT/api/v2`).
    pub async fn start(target: &str) -> Gate {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let url = reqwest::Url::parse(target).expect("a base URL");
        let origin = url.origin().ascii_serialization();
        let (open, watch) = tokio::sync::watch::channel(false);
        let held = Arc::new(AtomicUsize::new(0));
        let client = reqwest::Client::new();
        let counter = held.clone();
        let handler = move |req: axum::extract::Request| {
            let (mut watch, client, origin, counter) = (watch.clone(), client.clone(), origin.clone(), counter.clone());
            let balance = ["/credits", "/getcredits", "/account"]
                .iter()
                .any(|p| req.uri().path().trim_end_matches('/').ends_with(p));
            async move {
                if !balance {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let _ = watch.wait_for(|open| *open).await;
                    counter.fetch_sub(1, Ordering::SeqCst);
                }
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
                let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let mut fwd = client.request(parts.method, format!("{origin}{path}")).body(body);
                for (k, v) in &parts.headers {
                    if k != "host" && k != "content-length" {
                        fwd = fwd.header(k, v);
                    }
                }
                let resp = fwd.send().await.expect("the vendor behind the gate answers");
                let mut out = axum::http::Response::builder().status(resp.status().as_u16());
                for (k, v) in resp.headers() {
                    if k != "content-length" && k != "transfer-encoding" {
                        out = out.header(k, v);
                    }
                }
                out.body(axum::body::Body::from(resp.bytes().await.unwrap_or_default()))
                    .unwrap()
            }
        };
        let app = axum::Router::new().fallback(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Gate {
            base_url: format!("http://{addr}{}", url.path().trim_end_matches('/')),
            open,
            held,
        }
    }

    pub fn open(&self) {
        self.open.send_replace(true);
    }

    pub fn close(&self) {
        self.open.send_replace(false);
    }

    /// Requests waiting at the gate now.
    pub fn held(&self) -> usize {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The id of the first async job `provider` has pending in the run's state
/// file `state` (`state/x.db`), waited for while the run goes on.
pub async fn pending_job_id(w: &Work, state: &str, provider: &str, run: &tokio::task::JoinHandle<Output>) -> String {
    loop {
        let id = rusqlite::Connection::open(w.path(state)).ok().and_then(|c| {
            c.query_row("SELECT job_id FROM pending_jobs WHERE provider = ?1", [provider], |r| {
                r.get::<_, String>(0)
            })
            .ok()
        });
        if let Some(id) = id {
            return id;
        }
        assert!(!run.is_finished(), "the run ended before {provider} had a pending job");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// POSTs `body` as JSON to a webhook receiver's `url` with `headers`; the status.
pub async fn post_delivery(url: &str, headers: &[(&str, &str)], body: &serde_json::Value) -> u16 {
    let mut req = reqwest::Client::new().post(url).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("the receiver answers").status().as_u16()
}

/// `leadpipe run p.toml --report out/report.json` in `w`, with `sb`'s keys and
/// webhook secret in the variables the committed pipelines read them from.
pub fn run_on_sandbox(w: &Work, sb: &leadpipe::sandbox::Sandbox) -> Command {
    on_sandbox(w, sb, &["run", "p.toml", "--report", "out/report.json"])
}

/// `leadpipe ARGS` in `w`, with `sb`'s keys and webhook secret in the
/// variables the committed pipelines read them from.
pub fn on_sandbox(w: &Work, sb: &leadpipe::sandbox::Sandbox, args: &[&str]) -> Command {
    let e = sb.endpoints();
    let mut cmd = w.command(args);
    cmd.env("ROCKETREACH_API_KEY", &e.rocketreach.api_key)
        .env("REACHSTREAM_API_KEY", &e.reachstream.api_key)
        .env(
            "REACHSTREAM_WEBHOOK_SECRET",
            e.reachstream.webhook_secret.as_deref().unwrap_or_default(),
        )
        .env("LEADROCKS_API_KEY", &e.leadrocks.api_key)
        .env("GRAPH8_API_KEY", &e.graph8.api_key);
    cmd
}
