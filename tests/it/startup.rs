//! A run that cannot start says so with its own exit code (README, "Exit
//! codes"): 6 the state store, 7 an output, 8 the sandbox, 9 the runtime.
//! None of them is 1, which means the run finished with failed rows.

use crate::support::*;

fn minimal(work: &Work) {
    work.write("data/sample.csv", std::fs::read(messy_sample()).unwrap());
    work.write("p.toml", MINIMAL);
}

#[test]
fn a_state_store_that_cannot_be_opened_exits_6() {
    let work = Work::new();
    minimal(&work);
    work.write(
        "state/sample.db",
        "these bytes are not a SQLite database, whatever the name says\n",
    );
    let out = work.run(&["run", "p.toml"]);
    check(&out, 6);
    assert!(stderr(&out).contains("state/sample.db"), "{}", stderr(&out));
    assert!(!work.path("out/sample.csv").exists(), "nothing was written");
    let out = work.run(&["status", "state/sample.db"]);
    check(&out, 6);
}

#[test]
fn an_output_that_cannot_be_opened_exits_7_before_any_row() {
    let work = Work::new();
    minimal(&work);
    // `out` is a file, so `out/sample.parquet` cannot be created.
    work.write("out", "a file where the output directory should be\n");
    let out = work.run(&["run", "p.toml"]);
    check(&out, 7);
    assert!(stderr(&out).contains("out/sample.parquet"), "{}", stderr(&out));
    let status = work.run(&["status", "state/sample.db", "--json"]);
    check(&status, 0);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(
        !status.to_string().contains("\"rows_in\":1"),
        "no row was read before the outputs were open: {status}"
    );
}

#[test]
fn a_sandbox_that_cannot_bind_exits_8() {
    let work = Work::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    work.write("sandbox.toml", format!("[rocketreach]\nport = {port}\n"));
    let out = work.run(&["sandbox", "--config", "sandbox.toml"]);
    check(&out, 8);
    assert!(stderr(&out).contains("cannot start"), "{}", stderr(&out));
}

#[test]
fn a_runtime_that_cannot_start_exits_9() {
    let work = Work::new();
    minimal(&work);
    // Four file descriptors: enough to read the pipeline file, not for the runtime's event loop.
    let exe = env!("CARGO_BIN_EXE_leadpipe");
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("ulimit -n 4 && exec '{exe}' run p.toml")])
        .current_dir(work.dir.path())
        .env_remove("LEADPIPE_LOG")
        .output()
        .unwrap();
    check(&out, 9);
    assert!(stderr(&out).contains("cannot start the runtime"), "{}", stderr(&out));
}
