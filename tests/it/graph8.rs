//! The graph8 connector end to end: the real `leadpipe` binary reads a CRM
//! list, drops suppressed people, enriches the rest on RocketReach and writes
//! them back with batch upserts, all against an in-process sandbox; checked
//! on what a user sees (exit code, report, receipt, rejects) and on what the
//! CRM holds afterwards and what the vendors saw (the sandbox's counters).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Output;
use std::time::{Duration, Instant};

use leadpipe::sandbox::{Credits, Person, Plan, RateWindow, RrOutcome, Sandbox, SandboxConfig, Vendor, WrongListType};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

const G8_KEY: &str = "g8_test_it_graph8";
const RR_KEY: &str = "rr_it_key_graph8";
const PAGES: &str = "GET /api/v1/lists/{id}/contacts";
const UPSERT: &str = "PUT /api/v1/contacts/assert/batch";
const LOOKUP: &str = "GET /api/v2/person/lookup";
const BULK: &str = "POST /api/v2/bulkLookup";
/// The sandbox's seeded suppressions list and empty write-back list.
const SUPPRESSIONS: u64 = 2;
const TARGET: u64 = 3;

/// A sandbox with no rate limits and unlimited RocketReach credits; graph8's
/// seeded "Prospects" list is empty (tests make their own with [`seed_list`]).
async fn sandbox() -> Sandbox {
    let mut c = SandboxConfig::default();
    c.universe.people = 6_000;
    c.universe.companies = 600;
    c.graph8.api_keys = vec![G8_KEY.into()];
    c.graph8.prospects_size = 0;
    c.graph8.suppressions_size = 1_000;
    c.graph8.rate_limit.clear();
    c.rocketreach.api_keys = vec![RR_KEY.into()];
    c.rocketreach.rate_limit.clear();
    c.rocketreach.plan = Plan::None;
    c.rocketreach.credits = Credits::Unlimited;
    Sandbox::start(c).await.expect("sandbox starts")
}

/// Lifts graph8's rate limit so the test's own checks are not throttled.
fn unlimit(sb: &Sandbox) {
    sb.update(|c| c.graph8.rate_limit.clear()).unwrap();
}

/// A graph8 API call as a test client; panics unless it succeeds.
async fn g8(sb: &Sandbox, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut r = reqwest::Client::new()
        .request(method, format!("{}{path}", sb.endpoints().graph8.base_url))
        .bearer_auth(G8_KEY);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    let v: Value = resp.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

/// A new contacts list holding the first `n` universe people, with their
/// names and work emails only (no title: what the pipeline adds shows).
async fn seed_list(sb: &Sandbox, n: usize) -> (u64, Vec<Person>) {
    let people: Vec<Person> = sb.universe().people.iter().take(n).cloned().collect();
    (seed_list_of(sb, &people).await, people)
}

/// A new contacts list holding `people` (names and work emails).
async fn seed_list_of(sb: &Sandbox, people: &[Person]) -> u64 {
    let list = g8(sb, Method::POST, "/lists", Some(json!({"title": "Tonight"}))).await["data"]["id"]
        .as_u64()
        .unwrap();
    for chunk in people.chunks(100) {
        let contacts: Vec<Value> = chunk
            .iter()
            .map(|p| json!({"first_name": p.first_name, "last_name": p.last_name, "work_email": p.work_email}))
            .collect();
        g8(
            sb,
            Method::PUT,
            "/contacts/assert/batch",
            Some(json!({"list_id": list, "contacts": contacts})),
        )
        .await;
    }
    list
}

/// Every contact of a list (or of the org with `None`), by cursor.
async fn contacts(sb: &Sandbox, list: Option<u64>) -> Vec<Value> {
    let base = match list {
        Some(id) => format!("/lists/{id}/contacts?limit=200"),
        None => "/contacts?limit=200".to_string(),
    };
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{base}&cursor={c}"),
            None => base.clone(),
        };
        let v = g8(sb, Method::GET, &path, None).await;
        out.extend(v["data"].as_array().unwrap().iter().cloned());
        match v["pagination"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

/// work_email → how many contacts carry it (lowercased).
fn by_email(contacts: &[Value]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for c in contacts {
        if let Some(e) = c["work_email"].as_str() {
            *m.entry(e.to_lowercase()).or_insert(0) += 1;
        }
    }
    m
}

/// A pipeline on the sandbox: `source` is the `[source]` body, `rest` the
/// stages and sinks; `graph8` extra `[vendors.graph8]` keys.
fn pipeline(sb: &Sandbox, source: &str, graph8: &str, rest: &str) -> String {
    let e = sb.endpoints();
    format!(
        r#"
name = "crm"

[source]
{source}

[vendors.graph8]
api_key = "${{G8_KEY}}"
base_url = "{g8}"
min_backoff = "10ms"
max_backoff = "50ms"
{graph8}

[vendors.rocketreach]
api_key = "${{RR_KEY}}"
base_url = "{rr}"
rate_limits = ["1000/s"]
concurrency = 32
min_backoff = "10ms"
max_backoff = "50ms"

[state]
path = "state/crm.db"

[run]
rejects_path = "out/rejects.csv"
report_path = "out/report.json"

{rest}
"#,
        g8 = e.graph8.base_url,
        rr = e.rocketreach.base_url,
    )
}

fn graph8_list(list: u64, extra: &str) -> String {
    format!("kind = \"graph8_list\"\nlist_id = {list}\n{extra}")
}

/// Suppressions from graph8 list 2 and `suppress.csv`, then a RocketReach lookup.
fn suppress_then_lookup() -> String {
    format!(
        r#"
[[stages]]
kind = "suppress"
graph8_list = {SUPPRESSIONS}
file = "suppress.csv"

[[stages]]
kind = "rocketreach_lookup"
poll_interval = "100ms"
"#
    )
}

const UPSERT_SINK: &str = r#"
[[sinks]]
kind = "graph8_upsert"
list_id = 3
path = "out/graph8.csv"
"#;

async fn leadpipe(w: &Work, args: &[&str]) -> Output {
    let mut cmd = w.command(args);
    cmd.env("G8_KEY", G8_KEY).env("RR_KEY", RR_KEY);
    output_of(cmd).await
}

async fn run(w: &Work) -> Output {
    leadpipe(w, &["run", "p.toml", "--quiet"]).await
}

/// A CSV file as rows of column → value.
fn rows(w: &Work, rel: &str) -> Vec<BTreeMap<String, String>> {
    w.csv_rows(rel)
}

fn done(out: &Output, w: &Work) -> Value {
    let report = w.report("out/report.json");
    assert_eq!(report["status"], "done", "stderr:\n{}", stderr(out));
    report
}

// ------------------------------------------------------------ read, enrich, write back

/// Items 1 and 2: a 5,000-contact list read by cursor, suppressed people
/// dropped before RocketReach, the rest enriched and upserted into list 3.
#[tokio::test(flavor = "multi_thread")]
async fn a_5000_contact_list_is_read_enriched_and_written_back() {
    let sb = sandbox().await;
    let (list, people) = seed_list(&sb, 5_000).await;
    let on_list: Vec<&Person> = people.iter().filter(|p| p.suppressed).collect();
    assert!(
        !on_list.is_empty(),
        "the universe puts some of them on the suppressions list"
    );
    let by_file = people.iter().find(|p| !p.suppressed).unwrap();
    let suppressed: HashSet<String> = on_list
        .iter()
        .map(|p| p.work_email.to_lowercase())
        .chain([by_file.work_email.to_lowercase()])
        .collect();

    let w = Work::new();
    w.write("suppress.csv", format!("email\n{}\n", by_file.work_email));
    w.write(
        "p.toml",
        pipeline(
            &sb,
            &graph8_list(list, ""),
            "",
            &format!(
                r#"{}
[[stages]]
kind = "dedupe"
key = ["email"]

[[sinks]]
kind = "csv"
path = "out/crm.csv"
{UPSERT_SINK}"#,
                suppress_then_lookup()
            ),
        ),
    );
    let before = sb.stats().answered(Vendor::Graph8, UPSERT);
    let out = run(&w).await;
    let report = done(&out, &w);
    let stats = sb.stats();
    // The report lists vendors in the order rows meet them: the list's, then RocketReach.
    let text = w.read("out/report.json");
    let at = |vendor: &str| {
        text.find(&format!("\"{vendor}\": {{"))
            .unwrap_or_else(|| panic!("{vendor} in the report:\n{text}"))
    };
    assert!(at("graph8") < at("rocketreach"), "{text}");

    // Read completely, by cursor: 25 pages of 200 (plus the one-contact page
    // that sizes the list for the run's fingerprint, and the suppressions list's pages).
    assert_eq!(report["rows_in"], 5_000);
    let supp_list_size = contacts(&sb, Some(SUPPRESSIONS)).await.len() as u64;
    assert_eq!(
        stats.answered(Vendor::Graph8, PAGES),
        1 + 25 + supp_list_size.div_ceil(200)
    );

    // Item 2: suppressed rows cost nothing and are reported with the reason.
    let kept = 5_000 - suppressed.len() as u64;
    assert_eq!(report["stages"]["suppress"]["rows_dropped"], suppressed.len() as u64);
    assert_eq!(report["stages"]["rocketreach_lookup"]["rows_in"], kept);
    assert_eq!(
        stats.answered(Vendor::RocketReach, LOOKUP),
        kept,
        "one lookup per kept row"
    );
    for key in stats.paid_requests.keys() {
        let key = key.to_lowercase();
        assert!(
            !suppressed.iter().any(|e| key.contains(e.as_str())),
            "paid for a suppressed person: {key}"
        );
    }
    let rejects = rows(&w, "out/rejects.csv");
    let reasons: Vec<&String> = rejects.iter().map(|r| &r["reason"]).collect();
    assert_eq!(
        reasons
            .iter()
            .filter(|r| r.starts_with("suppressed by graph8 list 2: email "))
            .count(),
        on_list.len()
    );
    assert_eq!(
        reasons,
        reasons
            .iter()
            .filter(|r| r.starts_with("suppressed by "))
            .copied()
            .collect::<Vec<_>>()
    );
    assert!(reasons.contains(&&format!(
        "suppressed by file suppress.csv: email {}",
        by_file.work_email.to_lowercase()
    )));

    // Written back: one contact per distinct email in the target list, with the enriched title.
    let target = contacts(&sb, Some(TARGET)).await;
    let emails = by_email(&target);
    assert_eq!(target.len() as u64, kept);
    assert!(emails.values().all(|n| *n == 1), "one contact per email in list 3");
    let expected: HashSet<String> = people
        .iter()
        .map(|p| p.work_email.to_lowercase())
        .filter(|e| !suppressed.contains(e))
        .collect();
    assert_eq!(emails.keys().cloned().collect::<HashSet<_>>(), expected);
    let org = by_email(&contacts(&sb, None).await);
    assert!(
        org.values().all(|n| *n == 1),
        "no duplicate contact anywhere in the CRM"
    );
    let person: HashMap<String, &Person> = people.iter().map(|p| (p.work_email.to_lowercase(), p)).collect();
    let mut enriched = 0;
    for c in &target {
        let p = person[&c["work_email"].as_str().unwrap().to_lowercase()];
        match p.rr {
            RrOutcome::Instant | RrOutcome::Async => {
                assert_eq!(c["job_title"], p.title, "{}", p.work_email);
                enriched += 1;
            }
            RrOutcome::Failed | RrOutcome::NotFound => assert_eq!(c["job_title"], Value::Null),
        }
    }
    assert!(enriched > 4_000, "{enriched} contacts enriched");
    let upsert = &report["sinks"]["graph8_upsert"];
    assert_eq!(upsert["rows_upserted"], kept);
    assert_eq!(upsert["rows_failed"], 0);
    assert_eq!(stats.answered(Vendor::Graph8, UPSERT) - before, kept.div_ceil(100));
    eprintln!(
        "5,000 contacts: {} suppressed, {kept} looked up and upserted ({enriched} with a title) in {:.1}s",
        suppressed.len(),
        report["duration_s"].as_f64().unwrap()
    );
}

/// Item 1, both pagination paths: every contact once, by page number and by cursor.
#[tokio::test(flavor = "multi_thread")]
async fn reads_every_contact_by_page_and_by_cursor() {
    let sb = sandbox().await;
    let (list, _) = seed_list(&sb, 5_000).await;
    let members: HashSet<String> = contacts(&sb, Some(list))
        .await
        .iter()
        .map(|c| c["id"].to_string())
        .collect();
    assert_eq!(members.len(), 5_000);
    // Pages of the list, plus the one-contact page that sizes it for the run's fingerprint.
    for (paging, page_size, calls) in [("page", 150, 34 + 1), ("cursor", 200, 25 + 1)] {
        let before = sb.stats().answered(Vendor::Graph8, PAGES);
        let w = Work::new();
        let source = graph8_list(list, &format!("paging = \"{paging}\"\npage_size = {page_size}"));
        w.write(
            "p.toml",
            pipeline(&sb, &source, "", "[[sinks]]\nkind = \"csv\"\npath = \"out/crm.csv\"\n"),
        );
        let out = run(&w).await;
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let report = done(&out, &w);
        assert_eq!(report["rows_in"], 5_000, "{paging}");
        let ids: Vec<String> = rows(&w, "out/crm.csv").iter().map(|r| r["graph8_id"].clone()).collect();
        assert_eq!(ids.len(), 5_000, "{paging}");
        assert_eq!(ids.iter().cloned().collect::<HashSet<_>>(), members, "{paging}");
        assert_eq!(sb.stats().answered(Vendor::Graph8, PAGES) - before, calls, "{paging}");
    }
}

/// `leadpipe plan` follows a CRM list as the run reads it: every member,
/// the suppressions of a graph8 list and a file dropped before RocketReach,
/// and no paid call; the run that follows asks for what the plan counted and
/// charges no more than its worst case.
#[tokio::test(flavor = "multi_thread")]
async fn plan_reads_a_crm_list_and_its_suppressions_and_buys_nothing() {
    let sb = sandbox().await;
    let (list, people) = seed_list(&sb, 400).await;
    let on_list = people.iter().filter(|p| p.suppressed).count() as u64;
    assert!(on_list > 0, "the universe puts some of them on the suppressions list");
    let by_file = people.iter().find(|p| !p.suppressed).unwrap();
    let w = Work::new();
    w.write("suppress.csv", format!("email\n{}\n", by_file.work_email));
    let stages = format!(
        "{}\n[[sinks]]\nkind = \"csv\"\npath = \"out/crm.csv\"\n",
        suppress_then_lookup()
    );
    w.write("p.toml", pipeline(&sb, &graph8_list(list, ""), "", &stages));

    let before = sb.stats();
    let out = leadpipe(&w, &["plan", "p.toml", "--json"]).await;
    check(&out, 0);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let planned = sb.stats();
    assert_eq!(
        planned.paid_calls(Vendor::RocketReach),
        before.paid_calls(Vendor::RocketReach)
    );
    assert_eq!(plan["rows_in"], 400, "{plan}");
    let kept = 400 - on_list - 1;
    assert_eq!(plan["stages"][0]["rows_dropped"], on_list + 1, "{plan}");
    assert_eq!(plan["stages"][1]["rows_in"], kept, "{plan}");
    let worst = plan["vendors"][0]["credits_worst"].as_f64().unwrap();
    assert_eq!(plan["vendors"][0]["vendor"], "rocketreach", "{plan}");
    assert_eq!(worst, kept as f64, "one lookup per kept row at most: {plan}");

    let out = run(&w).await;
    let report = done(&out, &w);
    let ran = sb.stats();
    assert_eq!(
        report["stages"]["suppress"]["rows_dropped"],
        plan["stages"][0]["rows_dropped"]
    );
    assert_eq!(
        ran.answered(Vendor::RocketReach, LOOKUP) - planned.answered(Vendor::RocketReach, LOOKUP),
        kept
    );
    let charged = ran.credits_charged(Vendor::RocketReach) - planned.credits_charged(Vendor::RocketReach);
    assert!(
        charged > 0 && charged as f64 <= worst,
        "charged {charged}, worst case {worst}"
    );
}

// ------------------------------------------------------------ rate limits

/// Item 3: 5,000 contacts read and upserted (76 calls) under graph8's two
/// windows scaled 25 times shorter with the same rates (50/s → 10 per 200 ms,
/// 1,000/min → 40 per 2.4 s): the minute window binds, and the vendor never
/// answers 429.
///
/// The pipeline's windows keep an absolute margin, as the real ones do (the
/// HTTP layer lengthens 1 s by 10 ms and a minute by 250 ms): scaling time
/// down does not scale down the milliseconds between a request's rate slot
/// and its arrival (a new connection's set-up, see docs/benchmarks.md, and on
/// a loaded CI machine the run queue of the sandbox's own runtime), so the
/// same windows on both sides would test jitter, not the limiter. 60 ms on
/// the short window and 400 ms on the long one: with 10 ms, and later with
/// 30 ms and 250 ms, the sandbox answered a 429 or two while the whole test
/// suite and a release build ran beside it (a request delayed that much on
/// its way in arrives next to the one after it).
#[tokio::test(flavor = "multi_thread")]
async fn upserts_5000_contacts_within_both_windows_without_a_429() {
    let sb = sandbox().await;
    let (list, _) = seed_list(&sb, 5_000).await;
    sb.update(|c| {
        c.graph8.rate_limit = vec![
            RateWindow { limit: 10, per_ms: 200 },
            RateWindow {
                limit: 40,
                per_ms: 2_400,
            },
        ]
    })
    .unwrap();
    let before = sb.stats();
    let w = Work::new();
    w.write(
        "p.toml",
        pipeline(
            &sb,
            &graph8_list(list, ""),
            r#"rate_limits = ["10/260ms", "40/2800ms"]"#,
            UPSERT_SINK,
        ),
    );
    let started = Instant::now();
    let out = run(&w).await;
    let elapsed = started.elapsed();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = done(&out, &w);
    let stats = sb.stats();
    let calls = stats.calls_to(Vendor::Graph8, PAGES) + stats.calls_to(Vendor::Graph8, UPSERT)
        - before.calls_to(Vendor::Graph8, PAGES)
        - before.calls_to(Vendor::Graph8, UPSERT);
    eprintln!(
        "{calls} graph8 calls in {:.2}s, {} answered 429",
        elapsed.as_secs_f64(),
        stats.status_count(Vendor::Graph8, 429)
    );
    assert_eq!(calls, 1 + 25 + 50);
    assert_eq!(stats.status_count(Vendor::Graph8, 429), 0, "no 429");
    assert_eq!(report["vendors"]["graph8"]["rate_limited"], 0);
    // 76 calls at 40 per 2.4 s need a second minute-window: at least 2.4 s.
    assert!(
        report["duration_s"].as_f64().unwrap() >= 2.4,
        "the minute window held the run back"
    );
    assert_eq!(report["sinks"]["graph8_upsert"]["rows_upserted"], 5_000);
    unlimit(&sb);
    assert_eq!(contacts(&sb, Some(TARGET)).await.len(), 5_000);
}

/// Item 3, lowered limit: the sandbox allows 2 requests a second while the
/// pipeline believes the contract's 50/s and sends up to 10 batches at once.
/// graph8 answers 429 with `Retry-After`; leadpipe pauses the vendor for it
/// and loses nothing.
#[tokio::test(flavor = "multi_thread")]
async fn honours_retry_after_when_the_limit_is_lowered() {
    let sb = sandbox().await;
    let (list, _) = seed_list(&sb, 1_000).await;
    // X-RateLimit-Remaining counts the minute window, which this run never
    // spends: the short window's 429s are what leadpipe must honour.
    sb.update(|c| c.graph8.rate_limit = vec![RateWindow::per_second(2), RateWindow::per_minute(1_000)])
        .unwrap();
    let w = Work::new();
    let sink = format!("{UPSERT_SINK}concurrency = 10\n");
    w.write("p.toml", pipeline(&sb, &graph8_list(list, ""), "", &sink));
    let out = run(&w).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = done(&out, &w);
    let stats = sb.stats();
    let limited = stats.status_count(Vendor::Graph8, 429);
    let duration = report["duration_s"].as_f64().unwrap();
    eprintln!("lowered to 2/s: {limited} 429s in {duration:.2}s");
    assert!(limited > 0, "the lowered limit was hit");
    assert_eq!(report["vendors"]["graph8"]["rate_limited"], limited);
    // Each 429 pauses the whole vendor for Retry-After (1 s): at most the
    // requests already in flight (source + 10 batches) are refused per pause.
    // Retrying on the 10-50 ms backoff instead would draw hundreds.
    assert!(
        limited as f64 <= 11.0 * (duration.ceil() + 1.0),
        "{limited} 429s in {duration:.1}s: Retry-After was not honoured"
    );
    assert_eq!(report["sinks"]["graph8_upsert"]["rows_upserted"], 1_000);
    unlimit(&sb);
    assert_eq!(contacts(&sb, Some(TARGET)).await.len(), 1_000);
}

// ------------------------------------------------------------ resume

/// Item 4: kill -9 while the upserts are going out, run again: every contact
/// once in graph8, with its final values. The people are new to the CRM, so
/// the first run creates them and the resumed run's re-sent batches must
/// update them, not create them again.
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_the_upsert_then_rerun_writes_every_contact_once() {
    let sb = sandbox().await;
    let people: Vec<Person> = sb
        .universe()
        .people
        .iter()
        .filter(|p| !p.suppressed)
        .take(5_000)
        .cloned()
        .collect();
    let mut csv = String::from("first_name,last_name,email\n");
    for p in &people {
        csv.push_str(&format!("{},{},{}\n", p.first_name, p.last_name, p.work_email));
    }
    sb.update(|c| c.graph8.rate_limit = vec![RateWindow::per_second(10)])
        .unwrap();
    let w = Work::new();
    w.write("in.csv", csv);
    w.write(
        "p.toml",
        pipeline(
            &sb,
            "kind = \"csv\"\npath = \"in.csv\"",
            r#"rate_limits = ["10/s"]"#,
            &format!("[[stages]]\nkind = \"rocketreach_lookup\"\npoll_interval = \"100ms\"\n{UPSERT_SINK}"),
        ),
    );

    let mut cmd = w.command(&["run", "p.toml", "--quiet"]);
    cmd.env("G8_KEY", G8_KEY).env("RR_KEY", RR_KEY);
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while sb.stats().calls_to(Vendor::Graph8, UPSERT) < 10 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.code().is_none(), "killed during the upsert");
    let acked = sb.stats().calls_to(Vendor::Graph8, UPSERT);
    assert!(acked < 50, "killed before the last batch ({acked} sent)");
    assert!(!w.path("out/graph8.csv").exists(), "no partial receipt");
    unlimit(&sb);
    let written_before = contacts(&sb, Some(TARGET)).await.len();
    sb.update(|c| c.graph8.rate_limit = vec![RateWindow::per_second(10)])
        .unwrap();
    assert!(
        written_before >= 900,
        "{written_before} contacts written before the kill"
    );

    let out = run(&w).await;
    let report = done(&out, &w);
    assert_eq!(report["resumed"], true);
    let upsert = &report["sinks"]["graph8_upsert"];
    eprintln!("killed after {written_before} contacts; the rerun: {upsert}");
    assert_eq!(upsert["rows_upserted"], 5_000);
    assert!(
        upsert["updated"].as_u64().unwrap() >= written_before as u64,
        "re-sent contacts were updated, not created again"
    );
    unlimit(&sb);

    let target = contacts(&sb, Some(TARGET)).await;
    assert_eq!(target.len(), 5_000);
    let org = by_email(&contacts(&sb, None).await);
    for p in &people {
        assert_eq!(org.get(&p.work_email.to_lowercase()), Some(&1), "{}", p.work_email);
    }
    let person: HashMap<String, &Person> = people.iter().map(|p| (p.work_email.to_lowercase(), p)).collect();
    for c in &target {
        let p = person[&c["work_email"].as_str().unwrap().to_lowercase()];
        if matches!(p.rr, RrOutcome::Instant | RrOutcome::Async) {
            assert_eq!(c["job_title"], p.title, "{}: final values", p.work_email);
        }
    }
}

/// A list that gained a member since an unfinished run is refused as a
/// changed input (record ids are positions in the list), not mixed.
#[tokio::test(flavor = "multi_thread")]
async fn a_list_that_changed_under_an_unfinished_run_is_refused() {
    let sb = sandbox().await;
    let (list, _) = seed_list(&sb, 300).await;
    let w = Work::new();
    w.write(
        "p.toml",
        pipeline(
            &sb,
            &graph8_list(list, ""),
            "",
            "[[sinks]]\nkind = \"csv\"\npath = \"out/crm.csv\"\n",
        ),
    );
    std::fs::create_dir_all(w.path("out/crm.csv")).unwrap(); // the sink cannot be written: the run stays unfinished
    assert_ne!(code(&run(&w).await), 0);
    std::fs::remove_dir(w.path("out/crm.csv")).unwrap();
    let extra = &sb.universe().people[4_000];
    g8(
        &sb,
        Method::PUT,
        "/contacts/assert/batch",
        Some(json!({"list_id": list, "contacts": [{"work_email": extra.work_email}]})),
    )
    .await;
    let out = run(&w).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("used a different input") && stderr(&out).contains("--fresh"),
        "{}",
        stderr(&out)
    );
    let out = leadpipe(&w, &["run", "p.toml", "--quiet", "--fresh"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(w.report("out/report.json")["rows_in"], 301);
}

// ------------------------------------------------------------ per-contact errors

/// Item 5: one invalid email in a batch: that row fails with graph8's field
/// and message, the rest of the batch is written, the run exits 1.
#[tokio::test(flavor = "multi_thread")]
async fn a_422_for_one_contact_fails_that_row_only() {
    let sb = sandbox().await;
    let w = Work::new();
    w.write(
        "in.csv",
        "first_name,last_name,crm_email\n\
         Ada,Lovelace,ada@analytical.io\n\
         Bob,Broken,not-an-email\n\
         Cy,Young,cy@pitch.io\n\
         Di,Prince,di@themyscira.io\n",
    );
    w.write(
        "p.toml",
        pipeline(
            &sb,
            "kind = \"csv\"\npath = \"in.csv\"",
            "",
            r#"
[[sinks]]
kind = "graph8_upsert"
list_id = 3
path = "out/graph8.csv"
fields = { work_email = "crm_email", first_name = "first_name", last_name = "last_name" }
"#,
        ),
    );
    let out = run(&w).await;
    assert_eq!(code(&out), 1, "done with a failed row: {}", stderr(&out));
    let report = done(&out, &w);
    assert_eq!(report["sinks"]["graph8_upsert"]["rows_failed"], 1);
    assert_eq!(report["sinks"]["graph8_upsert"]["rows_upserted"], 3);
    let receipt = rows(&w, "out/graph8.csv");
    let failed: Vec<_> = receipt.iter().filter(|r| r["status"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["work_email"], "not-an-email");
    assert_eq!(failed[0]["line"], "3");
    assert_eq!(failed[0]["field"], "work_email");
    assert_eq!(failed[0]["message"], "value is not a valid email address");
    assert_eq!(sb.stats().answered(Vendor::Graph8, UPSERT), 1, "one batch");
    let emails: HashSet<String> = by_email(&contacts(&sb, Some(TARGET)).await).into_keys().collect();
    let expected: HashSet<String> = ["ada@analytical.io", "cy@pitch.io", "di@themyscira.io"]
        .map(String::from)
        .into();
    assert_eq!(emails, expected, "the rest of the batch is written");
}

// ------------------------------------------------------------ refused early

/// A new empty list of entity `kind`.
async fn new_list(sb: &Sandbox, kind: &str) -> u64 {
    g8(
        sb,
        Method::POST,
        "/lists",
        Some(json!({"title": "Accounts", "type": kind})),
    )
    .await["data"]["id"]
        .as_u64()
        .unwrap()
}

/// Upserting into a list that is not a contacts list is refused before any
/// paid call, naming the list, its type and the pipeline key, whatever graph8
/// would do with the contacts (the contract leaves it open: the sandbox plays
/// both, counting them and keeping none in the list, or refusing with 400).
#[tokio::test(flavor = "multi_thread")]
async fn an_upsert_into_a_list_that_is_not_a_contacts_list_is_refused_before_any_paid_call() {
    for reading in [WrongListType::Drop, WrongListType::Reject] {
        let sb = sandbox().await;
        sb.update(|c| c.graph8.wrong_list_type = reading).unwrap();
        let companies = new_list(&sb, "companies").await;
        // What graph8 does under this reading, seen from a plain client.
        let resp = reqwest::Client::new()
            .put(format!("{}/contacts/assert/batch", sb.endpoints().graph8.base_url))
            .bearer_auth(G8_KEY)
            .json(&json!({"list_id": companies, "contacts": [{"work_email": "probe@example.com"}]}))
            .send()
            .await
            .unwrap();
        match reading {
            WrongListType::Drop => assert_eq!(resp.status().as_u16(), 200),
            WrongListType::Reject => assert_eq!(resp.status().as_u16(), 400),
        }
        assert!(contacts(&sb, Some(companies)).await.is_empty(), "{reading:?}");

        let people = rr_people(&sb, RrOutcome::Instant, 5);
        let w = Work::new();
        let mut csv = String::from("first_name,last_name,email\n");
        for p in &people {
            csv.push_str(&format!("{},{},{}\n", p.first_name, p.last_name, p.work_email));
        }
        w.write("in.csv", csv);
        w.write(
            "p.toml",
            pipeline(
                &sb,
                "kind = \"csv\"\npath = \"in.csv\"",
                "",
                &format!(
                    "[[stages]]\nkind = \"rocketreach_lookup\"\n\n[[sinks]]\nkind = \"csv\"\npath = \"out/x.csv\"\n\n\
                     [[sinks]]\nkind = \"graph8_upsert\"\nlist_id = {companies}\npath = \"out/graph8.csv\"\n"
                ),
            ),
        );
        let out = run(&w).await;
        assert_eq!(code(&out), 2, "{reading:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("sinks[1].list_id = {companies}"))
                && err.contains("\"Accounts\" is a companies list")
                && err.contains("needs a list of type contacts"),
            "{reading:?}: {err}"
        );
        let stats = sb.stats();
        assert_eq!(
            stats.calls_to(Vendor::RocketReach, LOOKUP),
            0,
            "{reading:?}: nothing bought"
        );
        assert_eq!(
            stats.calls_to(Vendor::Graph8, UPSERT),
            1,
            "{reading:?}: only the probe above"
        );
    }
}

/// The source and the suppress stage are checked too: a suppressions list read
/// as the source would send the people nobody may contact to the paid stages,
/// and a companies list as suppressions would suppress nobody.
#[tokio::test(flavor = "multi_thread")]
async fn a_source_or_suppression_list_of_the_wrong_type_is_refused_before_any_paid_call() {
    let sb = sandbox().await;
    let companies = new_list(&sb, "companies").await;
    let (prospects, _) = seed_list(&sb, 5).await;
    let lookup = "[[stages]]\nkind = \"rocketreach_lookup\"\n\n[[sinks]]\nkind = \"csv\"\npath = \"out/x.csv\"\n";
    for (source, stages, key, kind) in [
        (
            graph8_list(SUPPRESSIONS, ""),
            String::new(),
            format!("source.list_id = {SUPPRESSIONS}"),
            "suppressions",
        ),
        (
            graph8_list(prospects, ""),
            format!("[[stages]]\nkind = \"suppress\"\ngraph8_list = {companies}\n\n"),
            format!("stages[0].graph8_list = {companies}"),
            "companies",
        ),
    ] {
        let w = Work::new();
        w.write("p.toml", pipeline(&sb, &source, "", &format!("{stages}{lookup}")));
        let out = run(&w).await;
        assert_eq!(code(&out), 2, "{key}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&key) && err.contains(&format!("is a {kind} list")),
            "{err}"
        );
    }
    let stats = sb.stats();
    assert_eq!(stats.calls_to(Vendor::RocketReach, LOOKUP), 0, "nothing bought");
    assert_eq!(stats.calls_to(Vendor::Graph8, PAGES), 0, "no list read");
}

#[test]
fn a_suppress_stage_after_a_paid_stage_is_refused() {
    let w = Work::new();
    w.write("in.csv", "email\na@b.io\n");
    w.write("no.csv", "email\n");
    w.write(
        "p.toml",
        r#"
[source]
kind = "csv"
path = "in.csv"

[[stages]]
kind = "rocketreach_lookup"

[[stages]]
kind = "suppress"
file = "no.csv"

[[sinks]]
kind = "csv"
path = "out/x.csv"

[state]
path = "state/x.db"
"#,
    );
    let out = w.run(&["validate", "--sandbox", "p.toml"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains(
            "p.toml:10: stages[1].kind: a suppress stage must come before every paid stage (stages[0] is rocketreach_lookup)"
        ),
        "{}",
        stderr(&out)
    );
}

/// A browser session token instead of an API key: graph8's 401 message
/// reaches the user as sent, and the exit code is a vendor's refusal (4).
#[tokio::test(flavor = "multi_thread")]
async fn graph8_401_messages_are_passed_through() {
    let sb = sandbox().await;
    let w = Work::new();
    w.write(
        "p.toml",
        pipeline(&sb, &graph8_list(1, ""), "", UPSERT_SINK).replace("${G8_KEY}", "eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl"),
    );
    let out = run(&w).await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("graph8 list 1: graph8: the vendor refused the API key (HTTP 401 Unauthorized: JWT token provided instead of API key)"),
        "{}",
        stderr(&out)
    );
}

/// `bulk = "auto"` on a CRM list: the list's size decides, so 300 members
/// are looked up in bulk requests (results by webhook), not one by one.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_crm_list_is_looked_up_in_bulk_when_auto() {
    let sb = sandbox().await;
    let people: Vec<Person> = sb
        .universe()
        .people
        .iter()
        .filter(|p| matches!(p.rr, RrOutcome::Instant | RrOutcome::Async))
        .take(300)
        .cloned()
        .collect();
    let list = seed_list_of(&sb, &people).await;
    let port = free_port();
    sb.update(|c| {
        c.rocketreach.webhook.url = Some(format!("http://127.0.0.1:{port}/rocketreach"));
        c.rocketreach.webhook.active = true;
        c.rocketreach.webhook.secret = Some("g8_rr_signing_secret".into());
    })
    .unwrap();
    let stages = format!(
        r#"
[webhook]
listen = "127.0.0.1:{port}"

[[stages]]
kind = "rocketreach_lookup"
bulk = "auto"
bulk_min_rows = 200
deadline = "60s"

[[sinks]]
kind = "csv"
path = "out/crm.csv"
"#
    );
    let w = Work::new();
    w.write(
        "p.toml",
        pipeline(&sb, &graph8_list(list, ""), "", &stages).replace(
            "[vendors.rocketreach]\n",
            "[vendors.rocketreach]\nwebhook_secret = \"g8_rr_signing_secret\"\n",
        ),
    );
    let out = run(&w).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stats = sb.stats();
    let bulk = stats.calls_to(Vendor::RocketReach, BULK);
    assert!((3..=6).contains(&bulk), "{bulk} bulk requests for 300 people");
    assert_eq!(stats.calls_to(Vendor::RocketReach, LOOKUP), 0, "no single lookups");
    let rows = rows(&w, "out/crm.csv");
    assert_eq!(rows.len(), 300);
    assert!(rows.iter().all(|r| r["rocketreach_status"] == "found"));
}
