//! The whole demo pipeline (CSV → ReachStream → RocketReach → dedupe →
//! LeadRocks → Parquet/CSV) on a sandbox that fails the way real vendors do —
//! 5% 500s, 1% dropped connections, 1% malformed bodies, throttling bursts,
//! late and duplicate webhooks, slow bulk jobs — killed with SIGKILL at seeded
//! moments and restarted until it finishes, then held against a reference run
//! of the same pipeline and seed without kills or faults.
//!
//! Two ways to run the sandbox: one sandbox in the test that outlives the
//! kills (the vendors are far away and keep running), or every start a new
//! `leadpipe run --sandbox` process whose in-process sandbox is killed with
//! the run and remembers the vendors' state in its file beside the run's
//! (`state/demo.sandbox.db`), its faults set by `--sandbox-config`.
//!
//! The fast variants run with the other tests; the long ones (at least 20
//! kills) are ignored by default:
//!
//! ```text
//! cargo test --release --test it torture_long -- --ignored --nocapture
//! LEADPIPE_TORTURE_SEED=7 cargo test --release --test it torture_long -- --ignored --nocapture
//! ```
//!
//! `LEADPIPE_TORTURE_KEEP=1` keeps both work directories (inputs, state
//! files, outputs, one log per start) for a look after a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use leadpipe::sandbox::{Credits, Latency, Sandbox, SandboxConfig, StatsSnapshot, Vendor, demo_contacts};
use serde_json::Value;

use crate::support::*;

const VENDORS: [(Vendor, &str); 3] = [
    (Vendor::RocketReach, "rocketreach"),
    (Vendor::ReachStream, "reachstream"),
    (Vendor::LeadRocks, "leadrocks"),
];
/// Requests each vendor may have in flight (set in the pipeline file): the
/// most a kill can leave paid for and unanswered.
const CONCURRENCY: [(&str, u64); 3] = [("rocketreach", 8), ("reachstream", 4), ("leadrocks", 4)];

struct Torture {
    seed: u64,
    rows: usize,
    kills: usize,
    /// Kill moments are drawn within this window after each start (ms).
    window_ms: (u64, u64),
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_and_resumed_under_faults_it_writes_what_an_uninterrupted_run_writes() {
    torture(Torture {
        seed: 42,
        rows: 300,
        kills: 5,
        window_ms: (200, 2_500),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "long: at least 20 kills; run with --ignored"]
async fn torture_long() {
    let seed = std::env::var("LEADPIPE_TORTURE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(42);
    torture(Torture {
        seed,
        rows: 3_000,
        kills: 24,
        window_ms: (100, 3_000),
    })
    .await;
}

async fn torture(t: Torture) {
    let started = Instant::now();
    let input = with_malformed_rows(&demo_contacts(t.seed, t.rows));

    // The reference: same seed, no faults, no kills.
    let reference_sb = sandbox(t.seed, false).await;
    let keep = std::env::var_os("LEADPIPE_TORTURE_KEEP").is_some();
    let mut reference = Work::new();
    reference.dir.disable_cleanup(keep);
    reference.write("in.csv", &input);
    prepare(&reference, &reference_sb);
    let out = run_to_end(&reference, &reference_sb).await;
    assert_eq!(code(&out), 0, "reference run:\n{}", stderr(&out));
    let reference_took = started.elapsed();
    let reference_paid = paid_calls(&reference_sb);

    // The tortured run.
    let sb = sandbox(t.seed, true).await;
    let mut w = Work::new();
    w.dir.disable_cleanup(keep);
    if keep {
        eprintln!(
            "work dirs kept: {:?} (reference {:?})",
            w.dir.path(),
            reference.dir.path()
        );
    }
    w.write("in.csv", &input);
    prepare(&w, &sb);
    let mut rng = SplitMix(t.seed ^ 0x7011);
    let (mut kills, mut starts) = (0, 0);
    let tortured = Instant::now();
    loop {
        starts += 1;
        let mut child = spawn(&w, &sb, starts);
        if kills < t.kills {
            let (lo, hi) = t.window_ms;
            let at = Duration::from_millis(lo + rng.next() % (hi - lo + 1));
            if !exited_within(&mut child, at).await {
                child.kill().unwrap(); // SIGKILL
                assert!(child.wait().unwrap().code().is_none(), "killed");
                kills += 1;
                after_a_kill(&w, kills);
                continue;
            }
        }
        // The last start runs to the end, within a generous bound.
        if !exited_within(&mut child, Duration::from_secs(600)).await {
            child.kill().unwrap();
            panic!("start {starts} hung:\n{}", w.read(&format!("log/{starts}.txt")));
        }
        let status = child.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(0),
            "start {starts} failed:\n{}",
            w.read(&format!("log/{starts}.txt"))
        );
        break;
    }
    let tortured_took = tortured.elapsed();
    let paid = paid_calls(&sb);
    let stats = sb.stats();
    eprintln!(
        "torture seed {}: {} rows, {kills} kills, {starts} starts, {:.1}s (reference {:.1}s); \
         paid calls {paid:?} (reference {reference_paid:?}), paid twice {:?}; faults {:?}; 429s {:?}; webhooks {:?}",
        t.seed,
        t.rows,
        tortured_took.as_secs_f64(),
        reference_took.as_secs_f64(),
        stats.paid_twice(),
        stats.faults,
        stats.rate_limited,
        stats.webhook(Vendor::ReachStream),
    );
    assert!(
        kills >= t.kills,
        "only {kills} of {} kills landed before the run finished",
        t.kills
    );

    // 1. The same Parquet output as the reference, timestamps aside.
    let (got, want) = (parquet_rows(&w), parquet_rows(&reference));
    assert_eq!(got.len(), want.len(), "rows out");
    for (i, (g, r)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, r, "output row {i} differs from the reference's");
    }

    // 2. Row accounting, in the report and in the files.
    let report = w.report("out/report.json");
    assert_eq!(report["resumed"], true);
    accounting(&w, &report, &got, t.rows);
    accounting(&reference, &reference.report("out/report.json"), &want, t.rows);

    // 3. Paid calls beyond the reference's: at most what was in flight at the
    // kills, plus answers the vendor charged for but cut in half (a malformed
    // answer to a charged request is charged again on the retry).
    for ((vendor, name), (_, concurrency)) in VENDORS.iter().zip(CONCURRENCY) {
        let extra = paid[name].saturating_sub(reference_paid[name]);
        let truncated = stats.faults[*name].truncated;
        let bound = kills as u64 * concurrency + truncated;
        assert!(
            extra <= bound,
            "{vendor:?}: {extra} paid calls more than the reference, bound {bound} \
             ({kills} kills × {concurrency} in flight + {truncated} truncated answers)"
        );
    }

    // 4. A further run pays nothing and writes the same data. It is a new run
    // served from the cache, and its provenance says so.
    let before = paid_calls(&sb);
    let out = run_to_end(&w, &sb).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(paid_calls(&sb), before, "a run after completion pays for nothing");
    let again = parquet_rows(&w);
    assert_eq!(
        without_provenance(&again),
        without_provenance(&got),
        "and writes the same data"
    );
    for (row, first) in again.iter().zip(&got) {
        for vendor in ["rocketreach", "reachstream", "leadrocks"] {
            if first[&format!("{vendor}_credits")] != "0.0" {
                assert_eq!(
                    row[&format!("{vendor}_cached")],
                    "true",
                    "{vendor} on row {}",
                    row["row_id"]
                );
                assert_eq!(row[&format!("{vendor}_credits")], "0.0");
            }
        }
    }
}

/// Rows without the provenance columns (`*_cached`, `*_credits`).
fn without_provenance(rows: &[BTreeMap<String, String>]) -> Vec<BTreeMap<String, String>> {
    rows.iter()
        .map(|r| {
            r.iter()
                .filter(|(k, _)| !k.ends_with("_cached") && !k.ends_with("_credits"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .collect()
}

/// The sandbox of the torture, serving in the test.
async fn sandbox(seed: u64, faults: bool) -> Sandbox {
    Sandbox::start(sandbox_config(seed, faults))
        .await
        .expect("sandbox starts")
}

/// The sandbox of the torture: the default universe and limits of `seed`,
/// unlimited credits, a webhook redelivered every second for half a minute;
/// with `faults`, every vendor misbehaving.
fn sandbox_config(seed: u64, faults: bool) -> SandboxConfig {
    let mut c = SandboxConfig {
        seed,
        ..SandboxConfig::default()
    };
    c.rocketreach.credits = Credits::Unlimited;
    c.reachstream.credits = Credits::Unlimited;
    c.leadrocks.credits = Credits::Unlimited;
    c.reachstream.webhook.retry_schedule_ms = [0].into_iter().chain([1_000; 30]).collect();
    c.reachstream.webhook.timeout_ms = 2_000;
    if faults {
        for f in [
            &mut c.rocketreach.faults,
            &mut c.reachstream.faults,
            &mut c.leadrocks.faults,
        ] {
            f.latency = Latency::Uniform { min_ms: 5, max_ms: 40 };
            f.error_rate = 0.05;
            f.drop_rate = 0.01;
            f.truncate_rate = 0.01;
            f.throttle_rate = 0.004;
            f.throttle_ms = 1_500;
        }
        c.reachstream.faults.webhook_duplicate_rate = 0.2;
        c.reachstream.faults.webhook_late_ms = 1_500;
        c.leadrocks.bulk.queued_ms = 1_500;
        c.leadrocks.bulk.running_ms = 4_000;
    }
    c
}

/// A few rows no stage can use, for the rejects.
fn with_malformed_rows(csv: &str) -> String {
    let mut lines: Vec<&str> = csv.lines().collect();
    let bad = [
        "Too,Few",
        "Too,Many,fields@x.com,Acme,acme.com,https://www.linkedin.com/in/x,extra,more",
        ",,,,,",
    ];
    for (i, b) in bad.iter().enumerate() {
        let at = (lines.len() * (i + 1) / (bad.len() + 1)).max(1);
        lines.insert(at, b);
    }
    lines.join("\n") + "\n"
}

/// The demo pipeline, pointed at `sb`, its webhook receiver on a fixed port
/// (the sandbox delivers there across restarts), short backoffs.
fn prepare(w: &Work, sb: &Sandbox) {
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/demo.toml")).unwrap();
    let mut p: toml::Table = demo.parse().unwrap();
    p["source"]["path"] = "in.csv".into();
    let e = sb.endpoints();
    for ((_, name), (_, concurrency)) in VENDORS.iter().zip(CONCURRENCY) {
        let v = p["vendors"][*name].as_table_mut().unwrap();
        let base = match *name {
            "rocketreach" => &e.rocketreach.base_url,
            "reachstream" => &e.reachstream.base_url,
            _ => &e.leadrocks.base_url,
        };
        v.insert("base_url".into(), base.as_str().into());
        v.insert("concurrency".into(), (concurrency as i64).into());
        v.insert("min_backoff".into(), "20ms".into());
        v.insert("max_backoff".into(), "300ms".into());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    p["webhook"]["listen"] = format!("127.0.0.1:{port}").into();
    let url = format!("http://127.0.0.1:{port}/reachstream");
    sb.update(move |c| {
        c.reachstream.webhook.url = Some(url);
        c.reachstream.webhook.active = true;
    })
    .unwrap();
    w.write("p.toml", toml::to_string(&p).unwrap());
}

fn command(w: &Work, sb: &Sandbox) -> std::process::Command {
    run_on_sandbox(w, sb)
}

async fn run_to_end(w: &Work, sb: &Sandbox) -> std::process::Output {
    let mut cmd = command(w, sb);
    tokio::task::spawn_blocking(move || cmd.output().expect("leadpipe runs"))
        .await
        .unwrap()
}

/// Start number `n`, its stderr in `log/n.txt`.
fn spawn(w: &Work, sb: &Sandbox, n: usize) -> Child {
    let log = w.write(&format!("log/{n}.txt"), "");
    command(w, sb)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("leadpipe starts")
}

/// Whether the child exits by itself within `d`.
async fn exited_within(child: &mut Child, d: Duration) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// After kill `n`: the state file is sound and `leadpipe status` reads it.
fn after_a_kill(w: &Work, n: usize) {
    let db = w.path("state/demo.db");
    if db.exists() {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok", "integrity after kill {n}");
        let out = w.run(&["status", "p.toml", "--json"]);
        assert_eq!(code(&out), 0, "status after kill {n}: {}", stderr(&out));
        let status: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(status["run_in_progress"], false, "after kill {n}");
        for run in status["runs"].as_array().unwrap() {
            assert_eq!(
                run["status"], "running",
                "after kill {n}: killed, so never marked otherwise"
            );
            let c = &run["counts"];
            let count = |k: &str| c[k].as_u64().unwrap();
            assert!(
                count("rows_out") + count("rows_duplicate") + count("rows_rejected") <= count("rows_in"),
                "after kill {n}: {c}"
            );
        }
    }
}

/// Every input row is in exactly one of output, duplicates and rejects, and
/// the report's counts say so.
fn accounting(w: &Work, report: &Value, out: &[BTreeMap<String, String>], input_rows: usize) {
    let n = |k: &str| report[k].as_u64().unwrap();
    assert_eq!(
        n("rows_in"),
        n("rows_out") + n("rows_duplicate") + n("rows_rejected"),
        "{report}"
    );
    assert_eq!(n("rows_in") as usize, input_rows + 3, "every data line read");
    let ids = |rel: &str| -> Vec<String> {
        let mut r = csv::Reader::from_path(w.path(rel)).unwrap();
        let col = r.headers().unwrap().iter().position(|h| h == "row_id").unwrap();
        r.records().map(|x| x.unwrap()[col].to_string()).collect()
    };
    let output: Vec<String> = out.iter().map(|r| r["row_id"].clone()).collect();
    let (rejects, duplicates) = (ids("out/demo.rejects.csv"), ids("out/demo.duplicates.csv"));
    assert_eq!(
        (output.len(), duplicates.len(), rejects.len()),
        (
            n("rows_out") as usize,
            n("rows_duplicate") as usize,
            n("rows_rejected") as usize
        )
    );
    assert!(rejects.len() >= 2, "the malformed rows are rejected: {rejects:?}");
    let mut all = BTreeSet::new();
    for id in output.iter().chain(&duplicates).chain(&rejects) {
        assert!(all.insert(id.clone()), "row {id} is in two places");
    }
    assert_eq!(all.len(), n("rows_in") as usize);
}

/// The Parquet output's rows, every value as text, provenance timestamps left out.
fn parquet_rows(w: &Work) -> Vec<BTreeMap<String, String>> {
    let script = format!(
        "import json, pyarrow.parquet as pq\n\
         for r in pq.read_table({:?}).to_pylist():\n    print(json.dumps({{k: v for k, v in r.items() if not k.endswith('_at')}}, default=str))",
        w.path("out/demo.parquet").display().to_string()
    );
    python_with_pyarrow(&script)
        .lines()
        .map(|l| {
            let v: BTreeMap<String, Value> = serde_json::from_str(l).unwrap();
            v.into_iter()
                .map(|(k, v)| {
                    let s = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, s)
                })
                .collect()
        })
        .collect()
}

/// Paid calls per vendor, by the sandbox's count.
fn paid_calls(sb: &Sandbox) -> BTreeMap<&'static str, u64> {
    let s = sb.stats();
    VENDORS.iter().map(|(v, name)| (*name, s.paid_calls(*v))).collect()
}

// ---------- every start a new `leadpipe run --sandbox` process ----------

#[tokio::test(flavor = "multi_thread")]
async fn killed_and_resumed_with_a_new_sandbox_each_start_it_writes_what_an_uninterrupted_run_writes() {
    torture_in_process(Torture {
        seed: 42,
        rows: 300,
        kills: 8,
        window_ms: (200, 2_500),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "long: 24 kills, each start a new sandbox; run with --ignored"]
async fn torture_long_with_a_new_sandbox_each_start() {
    let seed = std::env::var("LEADPIPE_TORTURE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(42);
    torture_in_process(Torture {
        seed,
        rows: 3_000,
        kills: 24,
        window_ms: (100, 3_000),
    })
    .await;
}

/// The torture with no simulator outliving the kills: each start is
/// `leadpipe run --sandbox --sandbox-config`, and what the vendors charged is
/// read from the sandbox's state file once no process holds it.
async fn torture_in_process(t: Torture) {
    let started = Instant::now();
    let input = with_malformed_rows(&demo_contacts(t.seed, t.rows));
    let keep = std::env::var_os("LEADPIPE_TORTURE_KEEP").is_some();

    // The reference: same seed, no faults, no kills.
    let mut reference = Work::new();
    reference.dir.disable_cleanup(keep);
    reference.write("in.csv", &input);
    prepare_in_process(&reference, &sandbox_config(t.seed, false));
    let out = run_in_process(&reference).await;
    assert_eq!(code(&out), 0, "reference run:\n{}", stderr(&out));
    let reference_took = started.elapsed();
    let reference_stats = remembered(&reference, t.seed);
    let reference_paid = paid_of(&reference_stats);

    // The tortured run.
    let config = sandbox_config(t.seed, true);
    let mut w = Work::new();
    w.dir.disable_cleanup(keep);
    if keep {
        eprintln!(
            "work dirs kept: {:?} (reference {:?})",
            w.dir.path(),
            reference.dir.path()
        );
    }
    w.write("in.csv", &input);
    prepare_in_process(&w, &config);
    let mut rng = SplitMix(t.seed ^ 0x5a4d);
    let (mut kills, mut starts) = (0, 0);
    let tortured = Instant::now();
    loop {
        starts += 1;
        let mut child = spawn_in_process(&w, starts);
        if kills < t.kills {
            let (lo, hi) = t.window_ms;
            let at = Duration::from_millis(lo + rng.next() % (hi - lo + 1));
            if !exited_within(&mut child, at).await {
                child.kill().unwrap(); // SIGKILL: the run and its sandbox at once
                assert!(child.wait().unwrap().code().is_none(), "killed");
                kills += 1;
                after_a_kill(&w, kills);
                sandbox_file_sound(&w, kills);
                continue;
            }
        }
        if !exited_within(&mut child, Duration::from_secs(600)).await {
            child.kill().unwrap();
            panic!("start {starts} hung:\n{}", w.read(&format!("log/{starts}.txt")));
        }
        let status = child.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(0),
            "start {starts} failed:\n{}",
            w.read(&format!("log/{starts}.txt"))
        );
        break;
    }
    let tortured_took = tortured.elapsed();
    let stats = remembered(&w, t.seed);
    let paid = paid_of(&stats);
    eprintln!(
        "torture (a new sandbox each start) seed {}: {} rows, {kills} kills, {starts} starts, {:.1}s \
         (reference {:.1}s); calls {:?}, paid calls {paid:?} (reference {reference_paid:?}), paid twice {:?}; \
         faults {:?}; 429s {:?}; webhooks {:?}",
        t.seed,
        t.rows,
        tortured_took.as_secs_f64(),
        reference_took.as_secs_f64(),
        VENDORS
            .iter()
            .map(|(_, name)| (
                *name,
                stats
                    .calls
                    .get(*name)
                    .map_or(0, |m| m.values().flat_map(|s| s.values()).sum::<u64>())
            ))
            .collect::<BTreeMap<_, _>>(),
        stats.paid_twice(),
        stats.faults,
        stats.rate_limited,
        stats.webhook(Vendor::ReachStream),
    );
    assert!(
        kills >= t.kills,
        "only {kills} of {} kills landed before the run finished",
        t.kills
    );

    // 1. The same Parquet output as the reference, timestamps aside.
    let (got, want) = (parquet_rows(&w), parquet_rows(&reference));
    assert_eq!(got.len(), want.len(), "rows out");
    for (i, (g, r)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, r, "output row {i} differs from the reference's");
    }

    // 2. Row accounting, in the report and in the files.
    let report = w.report("out/report.json");
    assert_eq!(report["resumed"], true);
    accounting(&w, &report, &got, t.rows);
    accounting(&reference, &reference.report("out/report.json"), &want, t.rows);

    // 3. The vendors remember every start: every answer the reference paid
    // for was paid for in some start (a sandbox that forgot would know only
    // the last start's), and beyond the reference's paid calls at most what
    // was in flight at the kills, plus answers charged but cut in half (a
    // malformed answer is charged again on retry).
    let forgotten: Vec<&String> = reference_stats
        .paid_requests
        .keys()
        .filter(|k| stats.paid(k) == 0)
        .collect();
    assert!(
        forgotten.is_empty(),
        "paid for by the reference, never by the tortured run: {forgotten:?}"
    );
    for ((vendor, name), (_, concurrency)) in VENDORS.iter().zip(CONCURRENCY) {
        let extra = paid[name].saturating_sub(reference_paid[name]);
        let truncated = stats.faults[*name].truncated;
        let bound = kills as u64 * concurrency + truncated;
        assert!(
            extra <= bound,
            "{vendor:?}: {extra} paid calls more than the reference, bound {bound} \
             ({kills} kills × {concurrency} in flight + {truncated} truncated answers)"
        );
    }

    // 4. A further run, on a sandbox that remembers, pays nothing and writes the same data.
    let out = run_in_process(&w).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        paid_of(&remembered(&w, t.seed)),
        paid,
        "a run after completion pays for nothing"
    );
    assert_eq!(
        without_provenance(&parquet_rows(&w)),
        without_provenance(&got),
        "and writes the same data"
    );
}

/// The demo pipeline on `in.csv` with the torture's concurrency and short
/// backoffs, and the sandbox's configuration in `sandbox.json`.
fn prepare_in_process(w: &Work, config: &SandboxConfig) {
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/demo.toml")).unwrap();
    let mut p: toml::Table = demo.parse().unwrap();
    p["source"]["path"] = "in.csv".into();
    for ((_, name), (_, concurrency)) in VENDORS.iter().zip(CONCURRENCY) {
        let v = p["vendors"][*name].as_table_mut().unwrap();
        v.insert("concurrency".into(), (concurrency as i64).into());
        v.insert("min_backoff".into(), "20ms".into());
        v.insert("max_backoff".into(), "300ms".into());
    }
    w.write("p.toml", toml::to_string(&p).unwrap());
    w.write("sandbox.json", serde_json::to_string_pretty(config).unwrap());
}

fn in_process_command(w: &Work) -> std::process::Command {
    w.command(&[
        "run",
        "p.toml",
        "--sandbox",
        "--sandbox-config",
        "sandbox.json",
        "--report",
        "out/report.json",
    ])
}

async fn run_in_process(w: &Work) -> std::process::Output {
    let mut cmd = in_process_command(w);
    tokio::task::spawn_blocking(move || cmd.output().expect("leadpipe runs"))
        .await
        .unwrap()
}

/// Start number `n` with its own sandbox, its stderr in `log/n.txt`.
fn spawn_in_process(w: &Work, n: usize) -> Child {
    let log = w.write(&format!("log/{n}.txt"), "");
    in_process_command(w)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("leadpipe starts")
}

/// After kill `n`: the sandbox's file is sound too.
fn sandbox_file_sound(w: &Work, n: usize) {
    let db = w.path("state/demo.sandbox.db");
    if db.exists() {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok", "sandbox state integrity after kill {n}");
    }
}

/// What the vendors of `w`'s runs remember having been asked and charged.
fn remembered(w: &Work, seed: u64) -> StatsSnapshot {
    Sandbox::remembered_stats(sandbox_config(seed, false), &w.path("state/demo.sandbox.db"))
        .expect("the sandbox's state file reads")
}

fn paid_of(s: &StatsSnapshot) -> BTreeMap<&'static str, u64> {
    VENDORS.iter().map(|(v, name)| (*name, s.paid_calls(*v))).collect()
}

/// SplitMix64: the seeded kill moments.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
