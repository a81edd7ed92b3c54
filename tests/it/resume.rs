//! Kill -9 in the middle of a large run, then run again: complete outputs,
//! equal to an uninterrupted run's, and never a partial file at a sink path.

use std::time::{Duration, Instant};

use crate::support::*;

const ROWS: usize = 150_000;

/// The same input and pipeline in another directory, run once without interruption.
fn reference_run(w: &Work) -> Work {
    let reference = Work::new();
    std::fs::create_dir_all(reference.path("data")).unwrap();
    std::fs::copy(w.path("data/sample.csv"), reference.path("data/sample.csv")).unwrap();
    std::fs::copy(w.path("p.toml"), reference.path("p.toml")).unwrap();
    let out = reference.run(&["run", "p.toml", "--quiet"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    reference
}

/// Wait until the run has opened its sinks (their temporary files exist).
fn wait_for_sinks(w: &Work) {
    let partial = w.path("out/.sample.parquet.partial");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !partial.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn kill_9_then_rerun_gives_the_uninterrupted_output() {
    let w = Work::new();
    w.write("data/sample.csv", contacts(ROWS));
    w.write("p.toml", MINIMAL);

    let reference = reference_run(&w);

    // Kill it as soon as the sinks are being written.
    let mut child = w.command(&["run", "p.toml", "--quiet"]).spawn().unwrap();
    wait_for_sinks(&w);
    std::thread::sleep(Duration::from_millis(30));
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(
        status.code().is_none(),
        "killed before it finished (make ROWS larger if this fails)"
    );
    for sink in ["out/sample.parquet", "out/sample.csv"] {
        assert!(!w.path(sink).exists(), "no partial output at {sink}");
    }

    let out = w.run(&["run", "p.toml", "--quiet", "--report", "out/report.json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        w.report("out/report.json")["resumed"],
        true,
        "the killed run was continued"
    );
    for sink in [
        "out/sample.parquet",
        "out/sample.csv",
        "out/sample.duplicates.csv",
        "out/sample.rejects.csv",
    ] {
        let (a, b) = (
            std::fs::read(w.path(sink)).unwrap(),
            std::fs::read(reference.path(sink)).unwrap(),
        );
        assert!(a == b, "{sink} differs from the uninterrupted run's");
    }
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

#[test]
fn ctrl_c_exits_3_leaves_nothing_partial_and_resumes() {
    ctrl_c_then_resume(MINIMAL);
}

/// `keep = "most_complete"` holds every row until the input ends (on disk):
/// interrupted while it does, the run still exits 3 with nothing partial, and
/// the next run writes what an uninterrupted one writes.
#[test]
fn ctrl_c_while_dedupe_holds_rows_resumes_to_the_same_output() {
    ctrl_c_then_resume(&MINIMAL.replace("key = [\"email\"]", "key = [\"email\"]\nkeep = \"most_complete\""));
}

fn ctrl_c_then_resume(pipeline: &str) {
    let w = Work::new();
    w.write("data/sample.csv", contacts(ROWS));
    w.write("p.toml", pipeline);
    let reference = reference_run(&w);

    let child = w
        .command(&["run", "p.toml", "--quiet"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_sinks(&w);
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run the same command again to resume"));
    for sink in [
        "out/sample.parquet",
        "out/sample.csv",
        "out/.sample.parquet.partial",
        "out/.sample.csv.partial",
    ] {
        assert!(!w.path(sink).exists(), "{sink} must not exist after an interrupted run");
    }

    let out = w.run(&["run", "p.toml", "--quiet", "--report", "out/report.json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(w.report("out/report.json")["resumed"], true);
    for sink in ["out/sample.parquet", "out/sample.csv"] {
        assert!(
            std::fs::read(w.path(sink)).unwrap() == std::fs::read(reference.path(sink)).unwrap(),
            "{sink} differs"
        );
    }
}

/// Two runs of one state file would both resume the same run and pay twice:
/// the second is refused at once, and `status` tells a run in progress from
/// one that was killed.
#[test]
fn a_second_run_on_the_same_state_is_refused_and_status_tells_running_from_killed() {
    let w = Work::new();
    w.write("data/sample.csv", contacts(ROWS));
    w.write("p.toml", MINIMAL);
    let mut child = w.command(&["run", "p.toml", "--quiet"]).spawn().unwrap();
    wait_for_sinks(&w);

    let out = w.run(&["run", "p.toml", "--quiet"]);
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
    // The counts so far reach the state store while the run goes on.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut counts = running["runs"][0]["counts"].clone();
    while counts["rows_in"] == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
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

    let out = w.run(&["run", "p.toml", "--quiet", "--report", "out/report.json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(w.report("out/report.json")["resumed"], true);
    let done = String::from_utf8(w.run(&["status", "p.toml"]).stdout).unwrap();
    assert!(
        done.contains(" done (started") && !done.contains("stopped without"),
        "{done}"
    );
}
