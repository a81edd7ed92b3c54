//! RocketReach through the run's webhook receiver: bulk lookups (100 people
//! per request, results only by webhook) and signed deliveries, end to end
//! against the in-process sandbox.

use std::collections::BTreeMap;
use std::process::Output;
use std::time::{Duration, Instant};

use leadpipe::sandbox::{Credits, Person, Plan, RrOutcome, Sandbox, SandboxConfig, Vendor};

use crate::support::*;

const BULK: &str = "POST /api/v2/bulkLookup";
const LOOKUP: &str = "GET /api/v2/person/lookup";
const STATUS: &str = "GET /api/v2/person/checkStatus";
const KEY: &str = "rr_bulk_it_key_31d0";
const SECRET: &str = "rr_bulk_it_signing_secret_9e";

async fn sandbox(port: u16) -> Sandbox {
    let mut c = SandboxConfig::default();
    c.universe.people = 5_000;
    c.universe.companies = 500;
    c.rocketreach.api_keys = vec![KEY.into()];
    c.rocketreach.rate_limit.clear();
    c.rocketreach.plan = Plan::None;
    c.rocketreach.credits = Credits::Unlimited;
    c.rocketreach.webhook.url = Some(format!("http://127.0.0.1:{port}/rocketreach"));
    c.rocketreach.webhook.active = true;
    c.rocketreach.webhook.secret = Some(SECRET.into());
    c.rocketreach.webhook.retry_schedule_ms = vec![0, 300, 300, 300];
    Sandbox::start(c).await.expect("sandbox starts")
}

fn pipeline(sb: &Sandbox, port: u16, stage: &str) -> String {
    format!(
        r#"
name = "rrbulk"

[source]
kind = "csv"
path = "in.csv"

[vendors.rocketreach]
api_key = "{KEY}"
webhook_secret = "{SECRET}"
base_url = "{base}"
plan = "custom"
rate_limits = ["10/s"]

[webhook]
listen = "127.0.0.1:{port}"

[[stages]]
kind = "rocketreach_lookup"
poll_interval = "100ms"
{stage}

[[sinks]]
kind = "csv"
path = "out/rr.csv"

[state]
path = "state/rr.db"
"#,
        base = sb.endpoints().rocketreach.base_url,
    )
}

fn csv_of(people: &[Person]) -> String {
    let mut s = String::from("first_name,last_name,email\n");
    for p in people {
        s.push_str(&format!("{},{},{}\n", p.first_name, p.last_name, p.work_email));
    }
    s
}

fn output(w: &Work) -> Vec<BTreeMap<String, String>> {
    w.csv_rows("out/rr.csv")
}

async fn run(w: &Work) -> Output {
    output_of(w.command(&["run", "p.toml", "--report", "out/report.json"])).await
}

/// Acceptance 6: 1,000 people in at most 10 bulk requests and nothing else
/// paid; every result joined to its row; a forged delivery (bad signature) is
/// refused and changes nothing. Prints the figures of poll mode on the first
/// `RR_POLL_ROWS` (default 100) of the same people for comparison.
#[tokio::test(flavor = "multi_thread")]
async fn bulk_mode_looks_up_1000_people_in_10_requests_through_the_webhook() {
    let port = free_port();
    let sb = sandbox(port).await;
    let people: Vec<Person> = sb
        .universe()
        .people
        .iter()
        .filter(|p| matches!(p.rr, RrOutcome::Instant | RrOutcome::Async))
        .take(1_000)
        .cloned()
        .collect();
    assert_eq!(people.len(), 1_000);
    let w = Work::new();
    w.write("in.csv", csv_of(&people));
    // A linger long enough that a busy machine feeding rows slowly still fills each request.
    w.write(
        "p.toml",
        pipeline(&sb, port, "bulk = \"auto\"\nbulk_min_rows = 200\nbulk_linger = \"3s\""),
    );
    let started = Instant::now();
    let child = w
        .command(&["run", "p.toml", "--report", "out/report.json"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    // A forged delivery for the first person, as soon as the receiver listens.
    let victim = &people[0];
    let forged = serde_json::json!([{"id": victim.id, "status": "complete", "name": "Eve Forger",
        "emails": [{"email": "eve@forged.example", "type": "professional", "grade": "A"}],
        "metadata": {"leadpipe_key": format!("email={}", victim.work_email.to_lowercase())}}]);
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let refused = loop {
        let sent = client
            .post(format!("http://127.0.0.1:{port}/rocketreach"))
            .header("X-RocketReach-Signature", "c2lnbmVkIGJ5IG5vYm9keQ==")
            .json(&forged)
            .send()
            .await;
        if let Ok(resp) = sent {
            break resp.status().as_u16();
        }
        assert!(Instant::now() < deadline, "the receiver never listened");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(refused, 401, "a delivery with a bad signature is refused");

    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let bulk_wall = started.elapsed().as_secs_f64();
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let stats = sb.stats();
    let bulk_calls = stats.calls_to(Vendor::RocketReach, BULK);
    assert!(bulk_calls <= 10, "{bulk_calls} bulk requests");
    assert_eq!(stats.calls_to(Vendor::RocketReach, LOOKUP), 0);
    assert_eq!(stats.calls_to(Vendor::RocketReach, STATUS), 0);
    assert!(stats.paid_twice().is_empty(), "{:?}", stats.paid_twice());
    assert!(stats.paid_requests.keys().all(|k| k.starts_with("rocketreach:bulk:")));
    assert_eq!(stats.paid_requests.len(), 1_000);
    let rows = output(&w);
    assert_eq!(rows.len(), 1_000);
    for (row, p) in rows.iter().zip(&people) {
        assert_eq!(row["rocketreach_status"], "found", "{row:?}");
        assert_eq!(row["rocketreach_id"], p.id.to_string(), "joined to the right row");
        assert!(!row["emails"].contains("forged"));
    }
    let conn = rusqlite::Connection::open(w.path("state/rr.db")).unwrap();
    let forged_rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM webhook_deliveries WHERE payload LIKE '%forged%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(forged_rows, 0);

    // Poll mode on the same people (the first RR_POLL_ROWS), for the figures.
    let n: usize = std::env::var("RR_POLL_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let poll_port = free_port();
    let poll_sb = sandbox(poll_port).await;
    poll_sb.update(|c| c.rocketreach.webhook.active = false).unwrap();
    let pw = Work::new();
    pw.write("in.csv", csv_of(&people[..n]));
    pw.write("p.toml", pipeline(&poll_sb, poll_port, ""));
    let started = Instant::now();
    let out = run(&pw).await;
    let poll_wall = started.elapsed().as_secs_f64();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ps = poll_sb.stats();
    eprintln!(
        "bulk: 1000 people, {bulk_calls} bulk requests, {bulk_wall:.1}s; poll: {n} people, {} lookups + {} status polls, {poll_wall:.1}s",
        ps.calls_to(Vendor::RocketReach, LOOKUP),
        ps.calls_to(Vendor::RocketReach, STATUS),
    );
}

/// `delivery = "webhook"`: non-final single lookups are collected from signed
/// webhook deliveries instead of `checkStatus` polls.
#[tokio::test(flavor = "multi_thread")]
async fn webhook_delivery_replaces_status_polls() {
    let port = free_port();
    let sb = sandbox(port).await;
    let people: Vec<Person> = rr_people(&sb, RrOutcome::Async, 20);
    let w = Work::new();
    w.write("in.csv", csv_of(&people));
    w.write("p.toml", pipeline(&sb, port, "delivery = \"webhook\""));
    let out = run(&w).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stats = sb.stats();
    assert_eq!(stats.calls_to(Vendor::RocketReach, LOOKUP), 20);
    assert_eq!(stats.calls_to(Vendor::RocketReach, STATUS), 0, "no status polls");
    let rows = output(&w);
    for (row, p) in rows.iter().zip(&people) {
        assert_eq!(row["rocketreach_status"], "found", "{row:?}");
        assert_eq!(row["rocketreach_id"], p.id.to_string());
    }
}

/// Kill -9 after the bulk requests are paid and before their results are
/// delivered: the next run waits for the deliveries instead of buying the
/// people again, and every row ends up found and joined to its person.
#[tokio::test(flavor = "multi_thread")]
async fn bulk_lookups_paid_before_a_kill_are_not_bought_again() {
    let port = free_port();
    let sb = sandbox(port).await;
    // Results come 4 s after each bulk request: the kill lands before any,
    // and the next run listens before they come.
    sb.update(|c| c.rocketreach.faults.webhook_late_ms = 4_000).unwrap();
    let people: Vec<Person> = rr_people(&sb, RrOutcome::Instant, 250);
    let w = Work::new();
    w.write("in.csv", csv_of(&people));
    // A missed delivery fails its row after a minute instead of hanging the test.
    w.write(
        "p.toml",
        pipeline(&sb, port, "bulk = \"on\"\nbulk_linger = \"200ms\"\ndeadline = \"60s\""),
    );

    let mut child = w.command(&["run", "p.toml", "--quiet"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while sb.stats().calls_to(Vendor::RocketReach, BULK) < 3 {
        assert!(Instant::now() < deadline, "the bulk requests did not go out");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The accepted queries reach the state store within a commit interval.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sb.stats().webhooks["rocketreach"].delivered,
        0,
        "killed before any delivery"
    );
    child.kill().unwrap(); // SIGKILL
    assert!(child.wait().unwrap().code().is_none(), "killed mid-run");

    let out = run(&w).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(w.report("out/report.json")["resumed"], true);
    let stats = sb.stats();
    assert_eq!(
        stats.calls_to(Vendor::RocketReach, BULK),
        3,
        "no bulk request sent again"
    );
    assert_eq!(stats.calls_to(Vendor::RocketReach, LOOKUP), 0);
    assert!(stats.paid_twice().is_empty(), "{:?}", stats.paid_twice());
    assert_eq!(stats.paid_requests.len(), 250);
    let rows = output(&w);
    assert_eq!(rows.len(), 250);
    for (row, p) in rows.iter().zip(&people) {
        assert_eq!(row["rocketreach_status"], "found", "{row:?}");
        assert_eq!(row["rocketreach_id"], p.id.to_string(), "joined to the right row");
    }
}

/// The contract does not say bulk deliveries echo `metadata`, nor that they
/// carry the request's `RR-Request-ID`. Against a vendor that does neither,
/// every found person is still joined to its row by identity, the people
/// the delivery left out (failed, unknown) end not found, the credits
/// reported are those charged, and a second run buys nothing.
#[tokio::test(flavor = "multi_thread")]
async fn bulk_deliveries_without_metadata_are_matched_by_identity() {
    let port = free_port();
    let sb = sandbox(port).await;
    sb.update(|c| {
        c.rocketreach.bulk_echo_metadata = false;
        c.rocketreach.webhook.same_request_id = false;
    })
    .unwrap();
    let mut people = rr_people(&sb, RrOutcome::Instant, 60);
    people.extend(rr_people(&sb, RrOutcome::Async, 20));
    people.extend(rr_people(&sb, RrOutcome::Failed, 10));
    people.extend(rr_people(&sb, RrOutcome::NotFound, 10));
    let w = Work::new();
    w.write("in.csv", csv_of(&people));
    w.write(
        "p.toml",
        pipeline(&sb, port, "bulk = \"on\"\nbulk_linger = \"200ms\"\ndeadline = \"60s\""),
    );
    let out = run(&w).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rows = output(&w);
    for (row, p) in rows.iter().zip(&people) {
        let found = matches!(p.rr, RrOutcome::Instant | RrOutcome::Async);
        let want = if found { "found" } else { "not_found" };
        assert_eq!(row["rocketreach_status"], want, "{:?}: {row:?}", p.rr);
        if found {
            assert_eq!(row["rocketreach_id"], p.id.to_string(), "joined to the right row");
        }
    }
    let stats = sb.stats();
    let report = w.report("out/report.json");
    let rr = &report["vendors"]["rocketreach"];
    assert_eq!(
        rr["credits"].as_u64(),
        Some(stats.credits_charged(Vendor::RocketReach)),
        "{rr}"
    );
    assert_eq!(rr["credits_differ"], false, "{rr}");
    assert_eq!(rr["answers_refused"], 0);

    let bulks = stats.calls_to(Vendor::RocketReach, BULK);
    std::fs::remove_file(w.path("out/rr.csv")).unwrap();
    let out = output_of(w.command(&["run", "p.toml", "--fresh", "--report", "out/report.json"])).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        sb.stats().calls_to(Vendor::RocketReach, BULK),
        bulks,
        "nothing bought again"
    );
    assert_eq!(output(&w).len(), people.len());
}

/// The contract's bulk minimum is 1 on the bulk page and 10 in the OpenAPI
/// schema. Against a vendor that refuses fewer than 10, a bulk request of 5
/// people draws one 400; those people are then looked up one by one, each
/// found as the sandbox's truth says, the credits reported are the credits
/// charged, and a rerun buys nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_request_below_the_vendors_minimum_is_looked_up_singly() {
    let port = free_port();
    let sb = sandbox(port).await;
    sb.update(|c| c.rocketreach.bulk_min_queries = 10).unwrap();
    let mut people = rr_people(&sb, RrOutcome::Instant, 4);
    people.extend(rr_people(&sb, RrOutcome::NotFound, 1));
    let w = Work::new();
    w.write("in.csv", csv_of(&people));
    w.write(
        "p.toml",
        pipeline(&sb, port, "bulk = \"on\"\nbulk_linger = \"500ms\"\ndeadline = \"60s\""),
    );
    let out = run(&w).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rows = output(&w);
    assert_eq!(rows.len(), people.len());
    for (row, p) in rows.iter().zip(&people) {
        let want = if p.rr == RrOutcome::Instant {
            "found"
        } else {
            "not_found"
        };
        assert_eq!(row["rocketreach_status"], want, "{row:?}");
        if p.rr == RrOutcome::Instant {
            assert_eq!(row["rocketreach_id"], p.id.to_string(), "joined to the right row");
        }
    }
    let stats = sb.stats();
    assert_eq!(stats.calls_to(Vendor::RocketReach, BULK), 1, "one refused bulk request");
    assert_eq!(stats.calls_with_status(Vendor::RocketReach, BULK, 400), 1);
    assert_eq!(stats.calls_to(Vendor::RocketReach, LOOKUP), people.len() as u64);
    let report = w.report("out/report.json");
    let rr = &report["vendors"]["rocketreach"];
    assert_eq!(
        rr["credits"].as_u64(),
        Some(stats.credits_charged(Vendor::RocketReach)),
        "{rr}"
    );
    assert_eq!(rr["credits_differ"], false, "{rr}");

    let out = output_of(w.command(&["run", "p.toml", "--fresh", "--report", "out/report.json"])).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let again = sb.stats();
    assert_eq!(again.calls_to(Vendor::RocketReach, BULK), 1, "nothing bought again");
    assert_eq!(again.calls_to(Vendor::RocketReach, LOOKUP), people.len() as u64);
}
