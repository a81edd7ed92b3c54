//! The LeadRocks verification stage end to end: the real `leadpipe` binary
//! against an in-process sandbox, checked on exit codes, report, output and
//! state file, and on what the vendor saw (the sandbox's own counters).

use std::collections::BTreeMap;
use std::process::Output;
use std::time::{Duration, Instant};

use leadpipe::sandbox::{Credits, Sandbox, SandboxConfig, Vendor};
use serde_json::Value;

use crate::support::*;

const KEY: &str = "lr_it_token_7d2e4b91c0";
const INSTANT: &str = "POST /v1/verify-instant";
const UPLOAD: &str = "POST /v1/verify-bulk";
const CREDITS: &str = "GET /v1/getcredits";

/// A sandbox with fast bulk lists, no rate limit and unlimited credits unless `f` says otherwise.
async fn sandbox(f: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let mut c = SandboxConfig::default();
    c.universe.people = 3_000;
    c.universe.companies = 300;
    c.leadrocks.api_keys = vec![KEY.into()];
    c.leadrocks.rate_limit.clear();
    c.leadrocks.credits = Credits::Unlimited;
    c.leadrocks.bulk.queued_ms = 20;
    c.leadrocks.bulk.running_ms = 100;
    f(&mut c);
    Sandbox::start(c).await.expect("sandbox starts")
}

/// A pipeline verifying `in.csv` on the sandbox into `out/lr.csv`; `stage` adds keys to the stage.
fn pipeline(sb: &Sandbox, stage: &str) -> String {
    format!(
        r#"
name = "lr"

[source]
kind = "csv"
path = "in.csv"

[vendors.leadrocks]
api_key = "${{LR_KEY}}"
base_url = "{base}"
rate_limits = ["1000/s"]
concurrency = 32
min_backoff = "10ms"
max_backoff = "50ms"

[[stages]]
kind = "leadrocks_verify"
poll_interval = "50ms"
max_poll_interval = "200ms"
{stage}

[[sinks]]
kind = "csv"
path = "out/lr.csv"

[state]
path = "state/lr.db"
"#,
        base = sb.endpoints().leadrocks.base_url,
    )
}

/// `rows` rows over `distinct` emails: row i carries email i mod `distinct`.
fn emails_csv(rows: usize, distinct: usize, email: impl Fn(usize) -> String) -> String {
    let mut s = String::from("first_name,email\n");
    for i in 0..rows {
        s.push_str(&format!("P{i},{}\n", email(i % distinct)));
    }
    s
}

fn plain(i: usize) -> String {
    format!("person{i}@company{}.com", i % 97)
}

async fn leadpipe(w: &Work, args: &[&str]) -> Output {
    let mut cmd = w.command(args);
    cmd.env("LR_KEY", KEY);
    output_of(cmd).await
}

async fn run(w: &Work) -> Output {
    leadpipe(w, &["run", "p.toml", "--report", "out/report.json"]).await
}

fn output(w: &Work) -> Vec<BTreeMap<String, String>> {
    w.csv_rows("out/lr.csv")
}

/// The output without the columns that say when and at what cost (they differ between runs).
fn verdicts(rows: &[BTreeMap<String, String>]) -> Vec<BTreeMap<String, String>> {
    rows.iter()
        .map(|r| {
            let mut r = r.clone();
            for k in ["leadrocks_at", "leadrocks_cached", "leadrocks_credits"] {
                assert!(r.remove(k).is_some(), "{k} is an output column");
            }
            r
        })
        .collect()
}

/// Every row with an email has a verdict with typed flags.
fn assert_all_verified(rows: &[BTreeMap<String, String>]) {
    for r in rows {
        assert!(!r["email"].is_empty());
        assert_eq!(r["leadrocks_status"], "found", "{r:?}");
        assert!(
            ["valid", "not_valid", "catch_all", "unknown"].contains(&r["email_status"].as_str()),
            "{r:?}"
        );
        for flag in ["safe_to_send", "disposable", "free_account", "role_account"] {
            assert!(["true", "false"].contains(&r[flag].as_str()), "{flag} typed: {r:?}");
        }
    }
}

fn lr(report: &Value) -> &Value {
    &report["vendors"]["leadrocks"]
}

/// Bulk lists in the state file: (state, emails covered) each.
fn lists(w: &Work) -> Vec<(String, usize)> {
    let conn = rusqlite::Connection::open(w.path("state/lr.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT state, payload FROM pending_jobs WHERE provider = 'leadrocks' AND kind = 'bulk' ORDER BY created_at")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(|r| {
            let (state, payload) = r.unwrap();
            (state, serde_json::from_str::<Vec<String>>(&payload).unwrap().len())
        })
        .collect()
}

// ---------------------------------------------------------------- volume

/// Acceptance 1: auto mode, 30,000 rows over 25,000 distinct emails ⇒ bulk
/// lists of at most 10,000 lines, 25,000 credits, a verdict on every row.
#[tokio::test(flavor = "multi_thread")]
async fn auto_mode_verifies_30000_rows_in_bulk_lists_paying_each_distinct_email_once() {
    let sb = sandbox(|_| {}).await;
    let w = Work::new();
    w.write("in.csv", emails_csv(30_000, 25_000, plain));
    w.write("p.toml", pipeline(&sb, r#"mode = "auto""#));
    let started = Instant::now();
    let out = run(&w).await;
    check(&out, 0);
    eprintln!("30,000 rows verified in {:.1}s", started.elapsed().as_secs_f64());

    let stats = sb.stats();
    let uploads = stats.calls_to(Vendor::LeadRocks, UPLOAD);
    eprintln!(
        "uploads: {uploads}, instant: {}, credits: {}",
        stats.calls_to(Vendor::LeadRocks, INSTANT),
        stats.credits_charged(Vendor::LeadRocks)
    );
    assert!(uploads >= 3, "25,000 emails need at least three lists: {uploads}");
    assert_eq!(
        stats.calls_with_status(Vendor::LeadRocks, UPLOAD, 200),
        uploads,
        "no 104, no refusal"
    );
    assert_eq!(stats.credits_charged(Vendor::LeadRocks), 25_000);
    assert_eq!(stats.paid_twice(), Vec::<(&str, u64)>::new());

    let lists = lists(&w);
    assert_eq!(lists.len() as u64, uploads);
    for (state, n) in &lists {
        assert_eq!(state, "done");
        let lines = n + 1; // the header
        assert!(lines <= 10_000, "a list of {n} emails is {lines} lines");
    }
    let in_bulk: usize = lists.iter().map(|(_, n)| n).sum();
    // The first send holds the whole first window (20,000 rows): bulk. Later sends
    // are whatever rows brought since; a small one (below auto_threshold) goes instant.
    assert!(in_bulk >= 20_000, "auto mode sends volume in bulk: {in_bulk} of 25,000");

    let rows = output(&w);
    assert_eq!(rows.len(), 30_000);
    assert_all_verified(&rows);
    // Repeated emails carry the same verdict as their first row.
    for i in 25_000..30_000 {
        assert_eq!(rows[i]["email_status"], rows[i - 25_000]["email_status"]);
    }
    let report = w.report("out/report.json");
    assert_eq!(lr(&report)["credits"], 25_000);
    assert_eq!(report["stages"]["leadrocks_verify"]["rows_found"], 30_000);
}

/// Acceptance 2: long addresses fill a file's bytes before its lines; the
/// splitter cuts by size too and the vendor never answers 104. The sandbox's
/// size limit is scaled down to 1 MB (and the stage's `bulk_max_bytes` with it):
/// real addresses (≤ 254 characters) cannot reach 10 MB in 10,000 lines. The
/// 10 MB split itself is unit-tested in `vendors::leadrocks`.
#[tokio::test(flavor = "multi_thread")]
async fn long_addresses_are_split_by_size_and_never_draw_a_104() {
    let sb = sandbox(|c| c.leadrocks.bulk.max_bytes = 1_000_000).await;
    let long = |i: usize| {
        format!(
            "{:a<56}{i:06}@{:b<60}.{:c<60}.{:d<50}{i:04}.example",
            "first.last.", "department", "division", "region"
        )
    };
    assert!(long(1).len() > 230 && long(1).len() <= 254, "{}", long(1).len());
    let w = Work::new();
    w.write("in.csv", emails_csv(5_000, 5_000, long));
    w.write("p.toml", pipeline(&sb, "mode = \"bulk\"\nbulk_max_bytes = 1000000"));
    let out = run(&w).await;
    check(&out, 0);
    let stats = sb.stats();
    let uploads = stats.calls_to(Vendor::LeadRocks, UPLOAD);
    // 5,000 lines of ~240 bytes: 1.2 MB, under 10,000 lines but over 1 MB.
    assert_eq!(uploads, 2, "split by size into two files");
    assert_eq!(stats.calls_with_status(Vendor::LeadRocks, UPLOAD, 200), 2, "no 104");
    assert_eq!(stats.status_count(Vendor::LeadRocks, 400), 0);
    assert_eq!(stats.credits_charged(Vendor::LeadRocks), 5_000);
    let rows = output(&w);
    assert_eq!(rows.len(), 5_000);
    assert_all_verified(&rows);
}

// ---------------------------------------------------------------- resume

/// Acceptance 3: kill -9 while a bulk list runs; the next run re-attaches to
/// its list id, uploads none of its emails again, and writes what an
/// uninterrupted run writes.
#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_list_running_at_kill_9_is_re_attached_not_uploaded_again() {
    let input = emails_csv(3_000, 3_000, plain);
    let stage = "mode = \"bulk\"\nbulk_max_lines = 1001";

    // The uninterrupted run, on its own sandbox (same seed, same verdicts).
    let reference_sb = sandbox(|_| {}).await;
    let reference = Work::new();
    reference.write("in.csv", &input);
    reference.write("p.toml", pipeline(&reference_sb, stage));
    check(&run(&reference).await, 0);

    let sb = sandbox(|c| c.leadrocks.bulk.running_ms = 5_000).await;
    let w = Work::new();
    w.write("in.csv", &input);
    w.write("p.toml", pipeline(&sb, stage));
    let mut cmd = w.command(&["run", "p.toml", "--quiet"]);
    cmd.env("LR_KEY", KEY);
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sb.stats().calls_to(Vendor::LeadRocks, UPLOAD) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The list id is stored right after the upload answer; give it time to be committed.
    let stored = Instant::now() + Duration::from_secs(10);
    while lists_if_any(&w).is_empty() && Instant::now() < stored {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(status.code().is_none(), "killed while the list ran");
    assert_eq!(
        sb.stats().calls_to(Vendor::LeadRocks, UPLOAD),
        1,
        "one list was running"
    );
    assert_eq!(lists(&w), vec![("pending".to_string(), 1_000)]);

    // The lists uploaded from now on are quick; the running one keeps its five seconds.
    sb.update(|c| c.leadrocks.bulk.running_ms = 100).unwrap();
    let before = sb.stats();
    let out = run(&w).await;
    check(&out, 0);
    assert_eq!(w.report("out/report.json")["resumed"], true);
    let stats = sb.stats();
    assert_eq!(
        stats.calls_to(Vendor::LeadRocks, UPLOAD),
        3,
        "the running list was re-attached; only the other two files were uploaded"
    );
    assert_eq!(stats.paid_twice(), Vec::<(&str, u64)>::new(), "no email uploaded twice");
    assert_eq!(stats.credits_charged(Vendor::LeadRocks), 3_000);
    assert!(
        stats.calls_to(Vendor::LeadRocks, "GET /v1/verify-bulk-progress")
            > before.calls_to(Vendor::LeadRocks, "GET /v1/verify-bulk-progress"),
        "the re-attached list was polled"
    );
    assert!(lists(&w).iter().all(|(s, _)| s == "done"));
    assert_eq!(verdicts(&output(&w)), verdicts(&output(&reference)));
}

fn lists_if_any(w: &Work) -> Vec<(String, usize)> {
    if !w.path("state/lr.db").exists() {
        return Vec::new();
    }
    std::panic::catch_unwind(|| lists(w)).unwrap_or_default()
}

/// Acceptance 4: out of credits (103) in the middle of a run ⇒ exit 4 with a
/// clear message; once credits are added, the next run finishes and buys only
/// what was not bought.
#[tokio::test(flavor = "multi_thread")]
async fn out_of_credits_mid_run_exits_4_and_the_next_run_verifies_only_the_rest() {
    let sb = sandbox(|c| c.leadrocks.credits = Credits::Amount(120)).await;
    let w = Work::new();
    w.write("in.csv", emails_csv(400, 300, plain));
    // allow_partial: go past the credit check and spend what there is.
    w.write("p.toml", pipeline(&sb, "mode = \"instant\"\nallow_partial = true"));
    let out = run(&w).await;
    check(&out, 4);
    let err = stderr(&out);
    assert!(
        err.contains("out of credits") && err.contains("exhausted your credits"),
        "{err}"
    );
    assert!(err.contains("run the same command again to resume"), "{err}");
    assert_eq!(sb.stats().credits_charged(Vendor::LeadRocks), 120);
    assert!(!w.path("out/lr.csv").exists(), "no output from a stopped run");

    sb.update(|c| c.leadrocks.credits = Credits::Amount(1_000)).unwrap();
    let out = run(&w).await;
    check(&out, 0);
    let report = w.report("out/report.json");
    assert_eq!(report["resumed"], true);
    assert_eq!(lr(&report)["credits"], 180, "only the emails not verified before");
    let stats = sb.stats();
    assert_eq!(stats.paid_twice(), Vec::<(&str, u64)>::new(), "nothing verified twice");
    assert_eq!(stats.credits_charged(Vendor::LeadRocks), 300);
    let rows = output(&w);
    assert_eq!(rows.len(), 400);
    assert_all_verified(&rows);
}

/// The credit check before the first send: fewer credits than distinct
/// unverified emails ⇒ exit 4 before paying anything, saying what to do.
#[tokio::test(flavor = "multi_thread")]
async fn too_few_credits_refuse_the_stage_before_paying() {
    let sb = sandbox(|c| c.leadrocks.credits = Credits::Amount(50)).await;
    let w = Work::new();
    w.write("in.csv", emails_csv(400, 300, plain));
    w.write("p.toml", pipeline(&sb, ""));
    let out = run(&w).await;
    check(&out, 4);
    let err = stderr(&out);
    assert!(
        err.contains("getcredits shows 50 credits") && err.contains("300 distinct unverified emails"),
        "{err}"
    );
    assert!(err.contains("allow_partial"), "{err}");
    let stats = sb.stats();
    // The stage's check, and the opening balance the report reconciles credits with.
    assert!(stats.calls_to(Vendor::LeadRocks, CREDITS) <= 2);
    assert_eq!(stats.calls_to(Vendor::LeadRocks, INSTANT), 0);
    assert_eq!(stats.calls_to(Vendor::LeadRocks, UPLOAD), 0);
    assert_eq!(stats.credits_charged(Vendor::LeadRocks), 0);
}

/// Acceptance 5: a second run of the same pipeline within the TTL verifies
/// nothing (no call, 0 credits) and writes the same verdicts.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_verifies_nothing_and_writes_the_same_verdicts() {
    let sb = sandbox(|_| {}).await;
    let w = Work::new();
    // An address with bad syntax among them: a free verdict, never sent.
    let mut input = emails_csv(2_500, 2_000, plain);
    input.push_str("Bad,not-an-email@\n");
    w.write("in.csv", input);
    w.write("p.toml", pipeline(&sb, "auto_threshold = 500"));
    check(&run(&w).await, 0);
    let first = output(&w);
    assert_eq!(first.len(), 2_501);
    assert_all_verified(&first[..2_500]);
    let stats = sb.stats();
    assert_eq!(stats.credits_charged(Vendor::LeadRocks), 2_000);
    assert!(stats.calls_to(Vendor::LeadRocks, UPLOAD) >= 1, "auto mode used bulk");
    let calls: u64 = stats
        .calls
        .get("leadrocks")
        .map_or(0, |m| m.values().flat_map(|s| s.values()).sum());

    check(&run(&w).await, 0);
    let report = w.report("out/report.json");
    assert_eq!(report["resumed"], false, "a new run, not a resumed one");
    assert_eq!(lr(&report)["credits"], 0);
    assert_eq!(lr(&report)["calls"], 0);
    let stats = sb.stats();
    let calls_after: u64 = stats
        .calls
        .get("leadrocks")
        .map_or(0, |m| m.values().flat_map(|s| s.values()).sum());
    assert_eq!(calls_after, calls, "not one call to the vendor");
    assert_eq!(stats.credits_charged(Vendor::LeadRocks), 2_000);
    let second = output(&w);
    assert_eq!(verdicts(&first), verdicts(&second));
    assert!(second[..2_500].iter().all(|r| r["leadrocks_cached"] == "true"));
    let bad = &second[2_500];
    assert_eq!(
        (bad["email_status"].as_str(), bad["leadrocks_method"].as_str()),
        ("not_valid", "local")
    );
}

/// Error 109 (the vendor's cap on running lists, one per token here): a list
/// uploaded by someone else on the same token is running when the stage
/// uploads; the upload is refused, waited out and sent again; nothing fails
/// and nothing is paid twice. The other list runs for an hour: the cap is
/// lifted once the stage has met it, so the stage meets it on any machine.
#[tokio::test(flavor = "multi_thread")]
async fn the_bulk_cap_109_is_waited_out() {
    let sb = sandbox(|c| {
        c.leadrocks.bulk.max_running = 1;
        c.leadrocks.bulk.running_ms = 3_600_000;
    })
    .await;
    let other = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"email\nsomeone.else@example.org\n".to_vec())
            .file_name("other.csv")
            .mime_str("text/csv")
            .unwrap(),
    );
    let reply = reqwest::Client::new()
        .post(format!("{}/verify-bulk", sb.endpoints().leadrocks.base_url))
        .header("Authorization", KEY)
        .multipart(other)
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success());

    let w = Work::new();
    w.write("in.csv", emails_csv(2_000, 2_000, plain));
    w.write("p.toml", pipeline(&sb, "mode = \"bulk\"\nbulk_max_lines = 1001"));
    let lift_the_cap = async {
        let deadline = Instant::now() + Duration::from_secs(120);
        while sb.stats().calls_with_status(Vendor::LeadRocks, UPLOAD, 403) == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The stage's own lists, uploaded from now on, run for 1.5 s.
        sb.update(|c| {
            c.leadrocks.bulk.max_running = 0;
            c.leadrocks.bulk.running_ms = 1_500;
        })
        .unwrap();
    };
    let (out, ()) = tokio::join!(run(&w), lift_the_cap);
    check(&out, 0);
    let stats = sb.stats();
    assert!(
        stats.calls_with_status(Vendor::LeadRocks, UPLOAD, 403) >= 1,
        "109 was answered: {:?}",
        stats.calls
    );
    assert_eq!(stats.calls_with_status(Vendor::LeadRocks, UPLOAD, 200), 1 + 2);
    assert_eq!(stats.credits_charged(Vendor::LeadRocks), 1 + 2_000);
    assert_eq!(stats.paid_twice(), Vec::<(&str, u64)>::new());
    assert_all_verified(&output(&w));
}

/// The free verdicts, each switched on by its key: a domain found catch-all
/// marks its other addresses catch-all unpaid (`inferred`), role and
/// disposable addresses get a local verdict, and none of them is sent.
#[tokio::test(flavor = "multi_thread")]
async fn catch_all_inference_and_local_flags_pay_nothing() {
    let sb = sandbox(|_| {}).await;
    let domain = sb
        .universe()
        .companies
        .iter()
        .find(|c| c.catch_all)
        .expect("a catch-all company")
        .domain
        .clone();
    let mut rows: Vec<String> = (0..10).map(|i| format!("nobody{i}.here@{domain}")).collect();
    rows.push("sales@company1.com".into());
    rows.push("someone@mailinator.com".into());
    let w = Work::new();
    w.write("in.csv", emails_csv(rows.len(), rows.len(), |i| rows[i].clone()));
    // One row at a time, so the first verdict is known before the next row asks.
    w.write(
        "p.toml",
        pipeline(
            &sb,
            "mode = \"instant\"\ninfer_catch_all = true\nskip_role = true\nskip_disposable = true\nwindow = 1\nlinger = \"10ms\"",
        ),
    );
    check(&run(&w).await, 0);
    let stats = sb.stats();
    assert_eq!(
        stats.calls_to(Vendor::LeadRocks, INSTANT),
        1,
        "only the first catch-all address"
    );
    assert_eq!(stats.credits_charged(Vendor::LeadRocks), 1);
    let out = output(&w);
    assert_eq!(out[0]["email_status"], "catch_all");
    assert_eq!(out[0]["leadrocks_method"], "instant");
    for r in &out[1..10] {
        assert_eq!(
            (
                r["email_status"].as_str(),
                r["leadrocks_method"].as_str(),
                r["leadrocks_credits"].as_str()
            ),
            ("catch_all", "inferred", "0"),
            "{r:?}"
        );
    }
    assert_eq!(
        (
            out[10]["leadrocks_method"].as_str(),
            out[10]["role_account"].as_str(),
            out[10]["safe_to_send"].as_str()
        ),
        ("local", "true", "false")
    );
    assert_eq!(
        (out[11]["leadrocks_method"].as_str(), out[11]["disposable"].as_str()),
        ("local", "true")
    );
}

/// Catch-all and unknown verdicts are kept a shorter time (`not_found_ttl`)
/// than valid and not-valid ones (`cache_ttl`): once the short TTL has
/// passed, the next run buys exactly those again.
#[tokio::test(flavor = "multi_thread")]
async fn catch_all_and_unknown_verdicts_expire_first() {
    let sb = sandbox(|_| {}).await;
    let w = Work::new();
    w.write("in.csv", emails_csv(300, 300, plain));
    let p = pipeline(&sb, "mode = \"instant\"\nlinger = \"50ms\"").replace(
        "max_backoff = \"50ms\"",
        "max_backoff = \"50ms\"\nnot_found_ttl = \"1s\"",
    );
    w.write("p.toml", p);
    check(&run(&w).await, 0);
    let first = output(&w);
    let short = first
        .iter()
        .filter(|r| ["catch_all", "unknown"].contains(&r["email_status"].as_str()))
        .count() as u64;
    assert!(short > 0 && short < 300, "the input has both kinds: {short}");
    assert_eq!(sb.stats().credits_charged(Vendor::LeadRocks), 300);

    tokio::time::sleep(Duration::from_millis(1_200)).await;
    check(&run(&w).await, 0);
    assert_eq!(
        sb.stats().credits_charged(Vendor::LeadRocks),
        300 + short,
        "only the catch-all and unknown verdicts were bought again"
    );
    assert_eq!(verdicts(&first), verdicts(&output(&w)));
}

/// Bad stage keys are refused before any call, naming file, line and key.
#[tokio::test(flavor = "multi_thread")]
async fn bad_stage_keys_are_refused_before_any_call() {
    let sb = sandbox(|_| {}).await;
    let w = Work::new();
    w.write("in.csv", emails_csv(10, 10, plain));
    for (bad, expected) in [
        (
            "mode = \"fast\"",
            "stages[0].mode: unknown variant `fast`, expected one of `instant`, `bulk`, `auto`",
        ),
        (
            "bulk_max_lines = 20000",
            "stages[0].bulk_max_lines: must be between 2 and 10000 (header included)",
        ),
        ("bulk_max_bytes = 20000000", "stages[0].bulk_max_bytes: must be between"),
        ("linger = \"0s\"", "stages[0].linger: must be longer than zero"),
    ] {
        w.write("p.toml", pipeline(&sb, bad));
        let out = run(&w).await;
        check(&out, 2);
        let err = stderr(&out);
        assert!(err.contains("p.toml:") && err.contains(expected), "{bad}: {err}");
    }
    assert!(sb.stats().calls.is_empty(), "no call reached the vendor");
}

// ---------------------------------------------------------------- readings

/// The bulk paths are lost from the public docs. Under each reading the
/// sandbox can play (LeadRocks-style paths, Clearout-style paths, no bulk
/// API at all), an auto-mode run verifies every row and pays each email once.
#[tokio::test(flavor = "multi_thread")]
async fn bulk_verification_works_whichever_paths_the_vendor_answers() {
    use leadpipe::sandbox::BulkPaths;
    for paths in [BulkPaths::Leadrocks, BulkPaths::Clearout, BulkPaths::None] {
        let sb = sandbox(|c| c.leadrocks.bulk.paths = paths).await;
        let w = Work::new();
        w.write("in.csv", emails_csv(3_000, 2_500, plain));
        w.write("p.toml", pipeline(&sb, r#"mode = "auto""#));
        let out = run(&w).await;
        check(&out, 0);

        let stats = sb.stats();
        let uploads = |path: &str| stats.calls_with_status(Vendor::LeadRocks, path, 200);
        let (ours, clearout) = (uploads(UPLOAD), uploads("POST /v1/email_verify/bulk"));
        let instant = stats.calls_with_status(Vendor::LeadRocks, INSTANT, 200);
        match paths {
            BulkPaths::Leadrocks => assert!(ours >= 1 && clearout == 0, "{paths:?}: {ours} / {clearout}"),
            BulkPaths::Clearout => assert!(ours == 0 && clearout >= 1, "{paths:?}: {ours} / {clearout}"),
            _ => assert_eq!(instant, 2_500, "{paths:?}: no bulk API, every email verified instantly"),
        }
        assert_eq!(stats.credits_charged(Vendor::LeadRocks), 2_500, "{paths:?}");
        assert_eq!(stats.paid_twice(), Vec::<(&str, u64)>::new(), "{paths:?}");
        let rows = output(&w);
        assert_eq!(rows.len(), 3_000, "{paths:?}");
        assert_all_verified(&rows);
        assert_eq!(lr(&w.report("out/report.json"))["credits"], 2_500, "{paths:?}");
    }
}
