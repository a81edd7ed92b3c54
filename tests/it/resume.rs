//! Kill -9 or Ctrl-C in the middle of a run, then run again: complete
//! outputs, equal to an uninterrupted run's, and never a partial file at a
//! sink path. The runs that get interrupted ask ReachStream (the sandbox)
//! about every row's company through a [`Gate`] the test holds closed, so the
//! run is surely still going when the test interrupts it, on any machine.

use std::process::Command;
use std::time::{Duration, Instant};

use leadpipe::sandbox::{Sandbox, SandboxConfig};

use crate::support::*;

const ROWS: usize = 20_000;

/// A sandbox whose ReachStream has no rate limit, and a closed gate in front of it.
async fn gated_sandbox() -> (Sandbox, Gate) {
    let mut config = SandboxConfig::default();
    config.reachstream.rate_limit.clear();
    let sb = Sandbox::start(config).await.expect("sandbox starts");
    let gate = Gate::start(&sb.endpoints().reachstream.base_url).await;
    (sb, gate)
}

/// `MINIMAL` with a ReachStream stage first, asking through `gate` about
/// every row's company (free counts: one per company).
fn gated(pipeline: &str, gate: &Gate) -> String {
    pipeline.replacen(
        "[[stages]]",
        &format!(
            r#"[vendors.reachstream]
api_key = "${{RS_KEY}}"
base_url = "{}"
rate_limits = ["1000/s"]
concurrency = 4
timeout = "2h"

[[stages]]
kind = "reachstream_enrich"
mode = "company"

[[stages]]"#,
            gate.base_url
        ),
        1,
    )
}

/// `leadpipe ARGS` in `w`, with the sandbox's ReachStream key.
fn leadpipe(w: &Work, sb: &Sandbox, args: &[&str]) -> Command {
    let mut cmd = w.command(args);
    cmd.env("RS_KEY", &sb.config().reachstream.api_keys[0]);
    cmd
}

/// The same input and pipeline in another directory, run once without interruption.
async fn reference_run(w: &Work, sb: &Sandbox, gate: &Gate) -> Work {
    let reference = Work::new();
    std::fs::create_dir_all(reference.path("data")).unwrap();
    std::fs::copy(w.path("data/sample.csv"), reference.path("data/sample.csv")).unwrap();
    std::fs::copy(w.path("p.toml"), reference.path("p.toml")).unwrap();
    gate.open();
    let out = output_of(leadpipe(&reference, sb, &["run", "p.toml", "--quiet"])).await;
    gate.close();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    reference
}

/// Wait until the run has opened its sinks (their temporary files exist) and
/// its stage waits at the gate.
async fn wait_for_sinks(w: &Work, gate: &Gate) {
    let partial = w.path("out/.sample.parquet.partial");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(partial.exists() && gate.held() > 0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        partial.exists() && gate.held() > 0,
        "the run did not reach its sinks and the gate"
    );
}

/// The outputs equal the uninterrupted run's in every column but `*_at`
/// (when the vendor stage answered a row).
fn same_outputs(w: &Work, reference: &Work, sinks: &[&str]) {
    for sink in sinks {
        if sink.ends_with(".parquet") {
            let (a, b) = (without_times(&w.path(sink)), without_times(&reference.path(sink)));
            assert!(a == b, "{sink} differs from the uninterrupted run's");
        } else {
            let rows = |w: &Work| {
                let mut rows = w.csv_rows(sink);
                rows.iter_mut().for_each(|r| r.retain(|k, _| !k.ends_with("_at")));
                rows
            };
            assert!(
                rows(w) == rows(reference),
                "{sink} differs from the uninterrupted run's"
            );
        }
    }
}

/// A Parquet file's batches, without its `*_at` columns.
fn without_times(path: &std::path::Path) -> Vec<arrow_array::RecordBatch> {
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap();
    let keep: Vec<usize> = builder
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.name().ends_with("_at"))
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), keep);
    builder
        .with_projection(mask)
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_then_rerun_gives_the_uninterrupted_output() {
    let (sb, gate) = gated_sandbox().await;
    let w = Work::new();
    w.write("data/sample.csv", contacts(ROWS));
    w.write("p.toml", gated(MINIMAL, &gate));
    let reference = reference_run(&w, &sb, &gate).await;

    // Kill it while it writes its sinks and waits for the vendor.
    let mut child = leadpipe(&w, &sb, &["run", "p.toml", "--quiet"]).spawn().unwrap();
    wait_for_sinks(&w, &gate).await;
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(status.code().is_none(), "killed before it finished");
    for sink in ["out/sample.parquet", "out/sample.csv"] {
        assert!(!w.path(sink).exists(), "no partial output at {sink}");
    }

    gate.open();
    let out = output_of(leadpipe(
        &w,
        &sb,
        &["run", "p.toml", "--quiet", "--report", "out/report.json"],
    ))
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        w.report("out/report.json")["resumed"],
        true,
        "the killed run was continued"
    );
    same_outputs(
        &w,
        &reference,
        &[
            "out/sample.parquet",
            "out/sample.csv",
            "out/sample.duplicates.csv",
            "out/sample.rejects.csv",
        ],
    );
}

#[test]
fn a_changed_input_is_refused_not_mixed() {
    let w = Work::new();
    w.write("data/sample.csv", contacts(10));
    w.write("p.toml", MINIMAL);
    // Leave an unfinished run behind by marking it interrupted through a kill-free path:
    // a run that fails on its sink leaves the run resumable.
    std::fs::create_dir_all(w.path("out/sample.csv")).unwrap(); // a directory where the CSV sink must go
    let out = w.run(&["run", "p.toml", "--quiet"]);
    assert_ne!(code(&out), 0);
    std::fs::remove_dir(w.path("out/sample.csv")).unwrap();
    w.write("data/sample.csv", contacts(11));
    let out = w.run(&["run", "p.toml", "--quiet"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.contains("used a different input") && err.contains("--fresh"),
        "{err}"
    );
    let out = w.run(&["run", "p.toml", "--quiet", "--fresh"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_exits_3_leaves_nothing_partial_and_resumes() {
    ctrl_c_then_resume(MINIMAL).await;
}

/// `keep = "most_complete"` holds every row until the input ends (on disk):
/// interrupted while it does, the run still exits 3 with nothing partial, and
/// the next run writes what an uninterrupted one writes.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_while_dedupe_holds_rows_resumes_to_the_same_output() {
    ctrl_c_then_resume(&MINIMAL.replace("key = [\"email\"]", "key = [\"email\"]\nkeep = \"most_complete\"")).await;
}

/// Ctrl-C while rows wait at the gate; the gate opens once the run has said
/// it stops reading, so what was in flight drains and the run exits 3.
async fn ctrl_c_then_resume(pipeline: &str) {
    use std::io::{BufRead, BufReader};
    let (sb, gate) = gated_sandbox().await;
    let w = Work::new();
    w.write("data/sample.csv", contacts(ROWS));
    w.write("p.toml", gated(pipeline, &gate));
    let reference = reference_run(&w, &sb, &gate).await;

    let mut child = leadpipe(&w, &sb, &["run", "p.toml", "--quiet"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_sinks(&w, &gate).await;
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    // Open the gate once the run has said it stops reading: what was in flight drains.
    let pipe = child.stderr.take().unwrap();
    let (said_tx, said) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(pipe).lines() {
            let line = line.unwrap();
            if line.contains("interrupted; finishing what is in flight") {
                let _ = said_tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let stopping = tokio::task::spawn_blocking(move || said.recv_timeout(Duration::from_secs(60)).is_ok())
        .await
        .unwrap();
    gate.open();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    let text = reader.join().unwrap();
    assert!(stopping, "the run says it stops: {text}");
    assert_eq!(status.code(), Some(3), "{text}");
    assert!(text.contains("run the same command again to resume"), "{text}");
    for sink in [
        "out/sample.parquet",
        "out/sample.csv",
        "out/.sample.parquet.partial",
        "out/.sample.csv.partial",
    ] {
        assert!(!w.path(sink).exists(), "{sink} must not exist after an interrupted run");
    }

    let out = output_of(leadpipe(
        &w,
        &sb,
        &["run", "p.toml", "--quiet", "--report", "out/report.json"],
    ))
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(w.report("out/report.json")["resumed"], true);
    same_outputs(&w, &reference, &["out/sample.parquet", "out/sample.csv"]);
}

/// Two runs of one state file would both resume the same run and pay twice:
/// the second is refused at once, and `status` tells a run in progress from
/// one that was killed (the first run waits at the gate all along).
#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_on_the_same_state_is_refused_and_status_tells_running_from_killed() {
    let (sb, gate) = gated_sandbox().await;
    let w = Work::new();
    w.write("data/sample.csv", contacts(ROWS));
    w.write("p.toml", gated(MINIMAL, &gate));
    let mut child = leadpipe(&w, &sb, &["run", "p.toml", "--quiet"]).spawn().unwrap();
    wait_for_sinks(&w, &gate).await;

    let out = output_of(leadpipe(&w, &sb, &["run", "p.toml", "--quiet"])).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("state/sample.db")
            && err.contains("another leadpipe run")
            && err.contains(&format!("pid {}", child.id())),
        "{err}"
    );
    let status = |w: &Work| {
        let out = w.run(&["status", "p.toml", "--json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let running = status(&w);
    assert_eq!(running["run_in_progress"], true);
    assert_eq!(running["runs"][0]["status"], "running");
    // The counts so far reach the state store while the rows wait on the vendor.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut counts = running["runs"][0]["counts"].clone();
    while counts["rows_in"] == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        counts = status(&w)["runs"][0]["counts"].clone();
    }
    let n = |k: &str| counts[k].as_u64().unwrap();
    assert!(n("rows_in") > 0, "{counts}");
    assert!(
        n("rows_out") + n("rows_duplicate") + n("rows_rejected") <= n("rows_in"),
        "{counts}"
    );
    let text = String::from_utf8(w.run(&["status", "p.toml"]).stdout).unwrap();
    assert!(text.contains("rows so far:"), "{text}");

    child.kill().unwrap(); // SIGKILL
    assert!(child.wait().unwrap().code().is_none(), "killed before it finished");
    let killed = status(&w);
    assert_eq!(killed["run_in_progress"], false, "the lock went with the process");
    let text = String::from_utf8(w.run(&["status", "p.toml"]).stdout).unwrap();
    assert!(text.contains("stopped without finishing"), "{text}");

    gate.open();
    let out = output_of(leadpipe(
        &w,
        &sb,
        &["run", "p.toml", "--quiet", "--report", "out/report.json"],
    ))
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(w.report("out/report.json")["resumed"], true);
    let done = String::from_utf8(w.run(&["status", "p.toml"]).stdout).unwrap();
    assert!(
        done.contains(" done (started") && !done.contains("stopped without"),
        "{done}"
    );
}

/// `status` counts as cut short only the requests whose answer a kill lost:
/// those on the wire (at most the vendor's concurrency, 4 here), not the rows
/// still waiting for their turn when the process died.
#[tokio::test(flavor = "multi_thread")]
async fn status_counts_as_cut_short_only_the_requests_on_the_wire() {
    let (sb, gate) = gated_sandbox().await;
    let w = Work::new();
    w.write("data/sample.csv", contacts(2_000));
    w.write("p.toml", gated(MINIMAL, &gate));
    let mut child = leadpipe(&w, &sb, &["run", "p.toml", "--quiet"]).spawn().unwrap();
    let reachstream = |w: &Work| {
        let out = w.run(&["status", "p.toml", "--json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["runs"][0]["paid"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["provider"] == "reachstream").cloned())
            .unwrap_or_default()
    };
    // The four requests held at the gate are in the ledger as in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(gate.held() == 4 && reachstream(&w)["cut_short"] == 4) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = String::from_utf8(w.run(&["status", "p.toml"]).stdout).unwrap();
    assert!(
        text.contains("reachstream: 0 answers bought, 0 credits, 4 in flight"),
        "{text}"
    );

    child.kill().unwrap(); // SIGKILL
    assert!(child.wait().unwrap().code().is_none(), "killed before it finished");
    assert_eq!(reachstream(&w)["cut_short"], 4, "{}", reachstream(&w));
    let text = String::from_utf8(w.run(&["status", "p.toml"]).stdout).unwrap();
    assert!(text.contains("4 cut short by a stop"), "{text}");
}
