//! Secrets never reach a byte leadpipe writes. Every command runs with canary
//! API keys and webhook secrets at `LEADPIPE_LOG=trace`: `validate`, a
//! complete run against an in-process sandbox that knows the canary keys
//! (its RocketReach webhook signing with the wrong secret, so deliveries get
//! 401), a run killed mid-way and resumed, a run with a key the vendor
//! refuses, `status` and `plan` (text and JSON), and a `--sandbox` run. Then every
//! output of every command and every file left in the work directory (logs,
//! report, outputs, rejects, state file with its WAL and lock file) is
//! searched for each canary.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use leadpipe::sandbox::{Sandbox, SandboxConfig, Vendor};

use crate::support::*;

const RR_KEY: &str = "CANARYrrKEY5b1e";
const RS_KEY: &str = "CANARYrsKEY93fa";
const LR_KEY: &str = "CANARYlrKEY0c7d";
const G8_KEY: &str = "CANARYg8KEY6e24";
const RS_SECRET: &str = "CANARYrsWHSEC4a8c";
const RR_SECRET: &str = "CANARYrrWHSEC2d9b";
/// What the sandbox signs RocketReach deliveries with: not the run's secret.
const RR_WRONG_SECRET: &str = "CANARYrrWRONG7f30";
/// A key no vendor knows.
const BAD_KEY: &str = "CANARYbadKEY11e5";

const CANARIES: &[&str] = &[
    RR_KEY,
    RS_KEY,
    LR_KEY,
    G8_KEY,
    RS_SECRET,
    RR_SECRET,
    RR_WRONG_SECRET,
    BAD_KEY,
];

const PIPELINE: &str = r#"
name = "canary"

[source]
kind = "csv"
path = "in.csv"

[vendors.rocketreach]
api_key = "${RR_KEY}"
webhook_secret = "${RR_SECRET}"
base_url = "${RR_BASE}"
plan = "custom"
min_backoff = "10ms"
max_backoff = "50ms"

[vendors.reachstream]
api_key = "${RS_KEY}"
webhook_secret = "${RS_SECRET}"
base_url = "${RS_BASE}"
min_backoff = "10ms"
max_backoff = "50ms"

[vendors.leadrocks]
api_key = "${LR_KEY}"
base_url = "${LR_BASE}"
min_backoff = "10ms"
max_backoff = "50ms"

[vendors.graph8]
api_key = "${G8_KEY}"
base_url = "${G8_BASE}"

[webhook]
listen = "127.0.0.1:${PORT}"

[[stages]]
kind = "reachstream_enrich"
mode = "contacts"
criteria = { job_title_level = ["C-Suite", "VP"] }
fetch_count = 2
only_if_missing = ["email"]
deadline = "60s"

[[stages]]
kind = "rocketreach_lookup"
poll_interval = "100ms"

[[stages]]
kind = "dedupe"
key = ["email"]

[[stages]]
kind = "leadrocks_verify"
mode = "instant"

[[sinks]]
kind = "parquet"
path = "out/canary.parquet"

[[sinks]]
kind = "csv"
path = "out/canary.csv"

[state]
path = "state/canary.db"
"#;

/// Every output so far, by what produced it.
#[derive(Default)]
struct Seen(Vec<(String, Vec<u8>)>);

impl Seen {
    fn output(&mut self, what: &str, out: &Output) {
        self.0.push((format!("{what}: stdout"), out.stdout.clone()));
        self.0.push((format!("{what}: stderr"), out.stderr.clone()));
    }

    /// Every file under `dir`.
    fn files(&mut self, dir: &Path) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                self.files(&path);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                self.0.push((path.display().to_string(), bytes));
            }
        }
    }

    /// Where any canary appears (as written, or base64/hex-encoded).
    fn leaks(&self) -> Vec<String> {
        use base64::Engine as _;
        let mut found = Vec::new();
        for canary in CANARIES {
            let forms = [
                canary.to_string(),
                base64::engine::general_purpose::STANDARD.encode(canary),
                canary.bytes().map(|b| format!("{b:02x}")).collect(),
            ];
            for (what, bytes) in &self.0 {
                for form in &forms {
                    if let Some(at) = bytes.windows(form.len()).position(|w| w == form.as_bytes()) {
                        let from = at.saturating_sub(80);
                        let to = (at + form.len() + 80).min(bytes.len());
                        found.push(format!(
                            "{canary} in {what} at byte {at}: …{}…",
                            String::from_utf8_lossy(&bytes[from..to])
                        ));
                    }
                }
            }
        }
        found
    }
}

fn command(work: &Work, sb: &Sandbox, port: u16, args: &[&str]) -> Command {
    let e = sb.endpoints();
    let mut cmd = work.command(args);
    cmd.env("LEADPIPE_LOG", "trace")
        .env("RR_KEY", RR_KEY)
        .env("RS_KEY", RS_KEY)
        .env("LR_KEY", LR_KEY)
        .env("G8_KEY", G8_KEY)
        .env("RS_SECRET", RS_SECRET)
        .env("RR_SECRET", RR_SECRET)
        .env("RR_BASE", &e.rocketreach.base_url)
        .env("RS_BASE", &e.reachstream.base_url)
        .env("LR_BASE", &e.leadrocks.base_url)
        .env("G8_BASE", &e.graph8.base_url)
        .env("PORT", port.to_string());
    cmd
}

/// Start a run and kill it (SIGKILL, no chance to tidy up) once it has
/// written 64 KiB to the state store's WAL; its output goes to `log`.
fn killed_run(wal: &Path, log: &Path, mut cmd: Command) {
    let file = std::fs::File::create(log).unwrap();
    let mut child = cmd
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none()
        && std::fs::metadata(wal).map_or(0, |m| m.len()) < 64 * 1024
        && started.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_command_writes_a_secret_anywhere() {
    let mut c = SandboxConfig::default();
    c.rocketreach.api_keys = vec![RR_KEY.into()];
    c.rocketreach.rate_limit.clear();
    c.rocketreach.webhook.secret = Some(RR_WRONG_SECRET.into());
    c.rocketreach.webhook.active = true;
    c.rocketreach.webhook.retry_schedule_ms = vec![0];
    c.reachstream.api_keys = vec![RS_KEY.into()];
    c.reachstream.rate_limit.clear();
    c.reachstream.webhook.secret = RS_SECRET.into();
    c.reachstream.webhook.active = true;
    c.reachstream.webhook.retry_schedule_ms = vec![0, 200, 200, 200];
    c.leadrocks.api_keys = vec![LR_KEY.into()];
    c.leadrocks.rate_limit.clear();
    c.graph8.api_keys = vec![G8_KEY.into()];
    let sb = Sandbox::start(c).await.expect("sandbox starts");
    let port = free_port();
    let receiver = format!("http://127.0.0.1:{port}");
    sb.update(|c| {
        c.reachstream.webhook.url = Some(format!("{receiver}/reachstream"));
        c.rocketreach.webhook.url = Some(format!("{receiver}/rocketreach"));
    })
    .unwrap();

    let work = Work::new();
    let rows: Vec<&str> = include_str!("../../data/demo.csv").lines().take(120).collect();
    work.write("in.csv", rows.join("\n") + "\n");
    work.write("canary.toml", PIPELINE);
    let mut seen = Seen::default();

    let out = output_of(command(&work, &sb, port, &["validate", "canary.toml"])).await;
    check(&out, 0);
    seen.output("validate", &out);

    // Killed mid-run, then resumed to the end.
    let cmd = command(&work, &sb, port, &["run", "canary.toml"]);
    let (wal, log) = (work.path("state/canary.db-wal"), work.path("killed-run.log"));
    tokio::task::spawn_blocking(move || killed_run(&wal, &log, cmd))
        .await
        .unwrap();
    let out = output_of(command(&work, &sb, port, &["run", "canary.toml"])).await;
    seen.output("resumed run", &out);
    assert!(
        matches!(code(&out), 0 | 1),
        "the resumed run finishes: {}",
        stderr(&out)
    );
    assert!(
        sb.stats().webhook(Vendor::RocketReach).failed_attempts > 0,
        "RocketReach deliveries signed with the wrong secret were refused"
    );

    for args in [
        &["status", "canary.toml"][..],
        &["status", "--json", "state/canary.db"][..],
    ] {
        let out = output_of(command(&work, &sb, port, args)).await;
        check(&out, 0);
        seen.output(&args.join(" "), &out);
    }

    // What a run would cost (free calls only: balances, counts), as text and JSON.
    for args in [&["plan", "canary.toml"][..], &["plan", "--json", "canary.toml"][..]] {
        let out = output_of(command(&work, &sb, port, args)).await;
        check(&out, 0);
        seen.output(&args.join(" "), &out);
    }

    // A key the vendor refuses: the run stops that vendor (exit 4).
    // Its own state file: the first one holds cached answers, which need no key.
    work.write("refused.toml", PIPELINE.replace("state/canary.db", "state/refused.db"));
    let mut cmd = command(&work, &sb, port, &["run", "refused.toml"]);
    cmd.env("RR_KEY", BAD_KEY).env("LR_KEY", BAD_KEY);
    let out = output_of(cmd).await;
    check(&out, 4);
    seen.output("run with a refused key", &out);

    // On the built-in sandbox: the canaries are in the environment and the file.
    let out = output_of(command(
        &work,
        &sb,
        port,
        &["run", "canary.toml", "--sandbox", "--fresh"],
    ))
    .await;
    seen.output("--sandbox run", &out);
    assert!(matches!(code(&out), 0 | 1), "{}", stderr(&out));

    seen.files(work.dir.path());
    let leaks = seen.leaks();
    assert!(leaks.is_empty(), "secrets written:\n{}", leaks.join("\n"));
    assert!(
        seen.0
            .iter()
            .any(|(what, _)| what.ends_with("canary.db-wal") || what.ends_with("canary.db")),
        "the state store was scanned"
    );
    sb.shutdown().await;
}
