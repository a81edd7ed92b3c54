//! Every kind of bad input gets a clear message and the documented exit code; none panics.

use crate::support::*;

/// Run the minimal pipeline on `input` and return (exit code, stderr).
fn run_on(input: &[u8], pipeline: &str) -> (Work, i32, String) {
    let w = Work::new();
    w.write("data/sample.csv", input);
    w.write("p.toml", pipeline);
    let out = w.run(&["run", "p.toml", "--quiet"]);
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    (w, code(&out), err)
}

/// (line, reason) of each reject; a strict reader, so the file must be rectangular.
fn rejects(w: &Work) -> Vec<(u64, String)> {
    rejects_with_fields(w)
        .into_iter()
        .map(|(line, reason, _)| (line, reason))
        .collect()
}

/// (line, reason, original fields as one CSV line) of each reject.
fn rejects_with_fields(w: &Work) -> Vec<(u64, String, String)> {
    let mut r = csv::Reader::from_path(w.path("out/sample.rejects.csv")).unwrap();
    assert_eq!(r.headers().unwrap(), vec!["line", "row_id", "reason", "fields"]);
    r.records()
        .map(|rec| rec.unwrap())
        .map(|rec| (rec[0].parse().unwrap(), rec[2].to_string(), rec[3].to_string()))
        .collect()
}

#[test]
fn missing_input_file() {
    let w = Work::new();
    w.write("p.toml", MINIMAL);
    for cmd in ["validate", "run"] {
        let out = w.run(&[cmd, "p.toml"]);
        assert_eq!(code(&out), 2);
        let err = stderr(&out);
        assert!(
            err.contains("p.toml:4: source.path: data/sample.csv: no such file"),
            "{err}"
        );
    }
    assert!(!w.path("state").exists(), "nothing was started");
}

#[test]
fn empty_file() {
    let (_, code, err) = run_on(b"", MINIMAL);
    assert_eq!(code, 2);
    assert!(err.contains("the input is empty"), "{err}");
}

#[test]
fn header_only() {
    let (w, code, err) = run_on(b"email,name\n", MINIMAL);
    assert_eq!(code, 2);
    assert!(err.contains("header but no data rows"), "{err}");
    assert!(!w.path("out/sample.parquet").exists());
    let (_, code, _) = run_on(
        b"email,name\n",
        &MINIMAL.replace(
            "path = \"data/sample.csv\"",
            "path = \"data/sample.csv\"\nallow_empty = true",
        ),
    );
    assert_eq!(code, 0, "allow_empty accepts it");
}

#[test]
fn unknown_delimiter() {
    let (_, code, err) = run_on(b"email|name\na@b.com|A\n", MINIMAL);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot detect the delimiter") && err.contains("delimiter = "),
        "{err}"
    );
    let (w, code, _) = run_on(
        b"email|name\na@b.com|A\n",
        &MINIMAL.replace("kind = \"csv\"\npath", "kind = \"csv\"\ndelimiter = \"|\"\npath"),
    );
    assert_eq!(code, 0);
    assert!(w.read("out/sample.csv").contains("a@b.com"));
}

#[test]
fn invalid_utf8_row_is_rejected_with_its_line() {
    let (w, code, _) = run_on(b"email,name\na@b.com,Ann\nc@d.com,Bo\xff\xfeb\ne@f.com,Eve\n", MINIMAL);
    assert_eq!(code, 0);
    assert_eq!(rejects(&w), vec![(3, "field 2 (name) is not valid UTF-8".to_string())]);
    assert_eq!(
        csv::Reader::from_path(w.path("out/sample.csv"))
            .unwrap()
            .records()
            .count(),
        2
    );
}

#[test]
fn ragged_row_is_rejected_with_its_line() {
    let (w, code, _) = run_on(b"email,name\na@b.com,Ann\nc@d.com,Bob,extra\ne@f.com\n", MINIMAL);
    assert_eq!(code, 0);
    assert_eq!(
        rejects_with_fields(&w),
        vec![
            (
                3,
                "row has 3 fields, expected 2".to_string(),
                "c@d.com,Bob,extra".to_string()
            ),
            (4, "row has 1 fields, expected 2".to_string(), "e@f.com".to_string())
        ]
    );
}

#[test]
fn unterminated_quote_is_rejected_with_its_line() {
    let (w, code, _) = run_on(b"email,name\na@b.com,Ann\nc@d.com,\"Bob\ne@f.com,Eve\n", MINIMAL);
    assert_eq!(code, 0);
    let r = rejects(&w);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].0, 3);
    assert!(r[0].1.contains("unterminated quoted field"), "{r:?}");
}

#[test]
fn unknown_pipeline_key() {
    let (w, code, err) = run_on(
        b"email\na@b.com\n",
        &MINIMAL.replace("key = [\"email\"]", "key = [\"email\"]\nkep = \"first\""),
    );
    assert_eq!(code, 2);
    assert!(err.contains("p.toml:9: stages[0].kep: unknown field `kep`"), "{err}");
    assert!(!w.path("state").exists(), "refused before any work");
}

#[test]
fn wrong_type() {
    let (_, code, err) = run_on(
        b"email\na@b.com\n",
        &MINIMAL.replace("key = [\"email\"]", "key = \"email\""),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("p.toml:8: stages[0].key: invalid type: string \"email\", expected a sequence"),
        "{err}"
    );
}

#[test]
fn missing_environment_variable() {
    let w = Work::new();
    w.write("data/sample.csv", "email\na@b.com\n");
    w.write(
        "p.toml",
        MINIMAL.replace("\"state/sample.db\"", "\"${LEADPIPE_TEST_UNSET_DIR}/sample.db\""),
    );
    let out = w
        .command(&["validate", "p.toml"])
        .env_remove("LEADPIPE_TEST_UNSET_DIR")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.contains("p.toml:19: state.path: environment variable LEADPIPE_TEST_UNSET_DIR is not set"),
        "{err}"
    );
    let out = w
        .command(&["run", "p.toml", "--quiet"])
        .env("LEADPIPE_TEST_UNSET_DIR", "st")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(w.path("st/sample.db").exists());
}

#[test]
fn each_source_and_sink_table_is_checked_by_its_own_keys_before_any_work() {
    let w = Work::new();
    w.write("data/sample.csv", "email\na@b.com\n");
    let pipeline = MINIMAL
        .replace(
            "path = \"data/sample.csv\"",
            "path = \"data/sample.csv\"\ndelimiter = \"ab\"",
        )
        .replace(
            "path = \"out/sample.csv\"",
            "path = \"out/sample.parquet\"\ndelimiter = \"\\n\"",
        );
    let crm = "\n[[sinks]]\nkind = \"graph8_upsert\"\npath = \"out/receipt.csv\"\nlist_id = 7\nbatch_size = 0\nfields = { title = \"title\" }\n";
    w.write("p.toml", format!("{pipeline}{crm}"));
    let out = w.run(&["validate", "p.toml"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    for expected in [
        "p.toml:5: source.delimiter: \"ab\" is not a single ASCII character, \"tab\" or \"auto\"\n",
        "p.toml:17: sinks[1].path: out/sample.parquet is already written by another sink",
        "p.toml:18: sinks[1].delimiter: '\\n' is not a usable single ASCII character",
        "p.toml:27: sinks[2].batch_size: 0 is outside 1..=100",
        "p.toml:28: sinks[2].fields.title: not a graph8 contact field",
        "p.toml:28: sinks[2].fields: must map work_email or linkedin_url",
        "p.toml:24: sinks[2].kind: needs a [vendors.graph8] table with api_key = \"${GRAPH8_API_KEY}\"",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(!w.path("state").exists(), "refused before any work");
}

#[test]
fn bad_usage_exits_2() {
    let w = Work::new();
    let out = w.run(&["run"]);
    assert_eq!(code(&out), 2);
    let out = w.run(&["frobnicate"]);
    assert_eq!(code(&out), 2);
}

#[test]
fn a_bad_budget_is_refused_with_its_file_line_and_key_before_any_paid_call() {
    let work = Work::new();
    work.write("data/sample.csv", std::fs::read(messy_sample()).unwrap());
    let budget = "\n[budget]\nmax_paid_calls = 10\nrocketreach = { run = 50, day = 20 }\n";
    work.write("p.toml", format!("{MINIMAL}{budget}"));
    let out = work.run(&["validate", "p.toml"]);
    check(&out, 2);
    let err = stderr(&out);
    // The pipeline has no RocketReach stage, and its run cap is above its day cap.
    assert!(
        err.contains("p.toml:23: budget.rocketreach: no stage of this pipeline calls rocketreach"),
        "{err}"
    );
    assert!(
        err.contains("p.toml:23: budget.rocketreach.run: 50 is more than day = 20"),
        "{err}"
    );
    work.write("p.toml", format!("{MINIMAL}\n[budget]\nleadrocks = {{ runs = 5 }}\n"));
    let out = work.run(&["run", "p.toml"]);
    check(&out, 2);
    assert!(stderr(&out).contains("p.toml:22: budget.leadrocks"), "{}", stderr(&out));
    assert!(stderr(&out).contains("unknown field `runs`"), "{}", stderr(&out));
    // A vendor name the registry does not know, under [budget] and under [vendors].
    work.write(
        "p.toml",
        format!("{MINIMAL}\n[budget]\nmax_paid_calls = 10\nlead_rocks = {{ run = 5 }}\n"),
    );
    let out = work.run(&["run", "p.toml"]);
    check(&out, 2);
    assert!(
        stderr(&out).contains(
            "p.toml:23: budget.lead_rocks: unknown field `lead_rocks`, expected `max_paid_calls` or a vendor"
        ),
        "{}",
        stderr(&out)
    );
    work.write(
        "p.toml",
        format!("{MINIMAL}\n[vendors.rocket_reach]\napi_key = \"k\"\n"),
    );
    let out = work.run(&["run", "p.toml"]);
    check(&out, 2);
    assert!(
        stderr(&out)
            .contains("p.toml:21: vendors.rocket_reach: unknown vendor `rocket_reach`, expected one of `rocketreach`"),
        "{}",
        stderr(&out)
    );
}
