//! A sandbox with a state file (`leadpipe sandbox --state FILE`) remembers
//! what the vendors did across a SIGKILL: balances, bulk lists, processing
//! ids, webhook deliveries still due, and the counters of its stats. Without
//! a file, ids still never repeat across starts.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use leadpipe::sandbox::{
    Credits, EmailStatus, Endpoints, Sandbox, SandboxConfig, SandboxOptions, Simulators, StatsSnapshot, Vendor,
};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use super::{Receiver, client, json};
use crate::support::*;

const LR_TOKEN: &str = "lr_sandbox_token";
const RS_KEY: &str = "rs_sandbox_key";
const RS_SECRET: &str = "rs_webhook_secret";

fn config(hook: &str) -> SandboxConfig {
    let mut c = SandboxConfig::default();
    c.universe.people = 3_000;
    c.universe.companies = 300;
    c.reachstream.credits = Credits::Amount(1_000);
    c.reachstream.webhook.url = Some(hook.to_string());
    // The first attempt fails (the receiver says 500); the next is due 3 s
    // later, long after the kill.
    c.reachstream.webhook.retry_schedule_ms = vec![0, 3_000, 3_000, 3_000];
    c.leadrocks.credits = Credits::Amount(100);
    c.leadrocks.bulk.queued_ms = 200;
    c.leadrocks.bulk.running_ms = 200;
    c
}

/// `leadpipe sandbox --config c.json --state s.db`, and the endpoints it printed.
fn start_cli(w: &Work) -> (Child, Endpoints) {
    let mut child = w
        .command(&["sandbox", "--config", "c.json", "--state", "s.db"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("leadpipe sandbox starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoints = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    (child, endpoints)
}

async fn lr_get(e: &Endpoints, path: &str) -> (u16, Value) {
    json(
        client()
            .get(format!("{}{path}", e.leadrocks.base_url))
            .header("Authorization", LR_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn lr_upload(e: &Endpoints, emails: &[String]) -> u64 {
    let csv = format!("email\n{}\n", emails.join("\n"));
    let form = Form::new().part("file", Part::bytes(csv.into_bytes()).file_name("list.csv"));
    let (s, v) = json(
        client()
            .post(format!("{}/verify-bulk", e.leadrocks.base_url))
            .header("Authorization", LR_TOKEN)
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["data"]["list_id"].as_u64().unwrap()
}

async fn rs_fetch(e: &Endpoints, filter: &Value) -> Value {
    let (s, v) = json(
        client()
            .post(format!("{}/api/v2/async/records/filter", e.reachstream.base_url))
            .header("X-API-Key", RS_KEY)
            .header("webhook_secret_key", RS_SECRET)
            .json(&json!({"fetchCount": 2, "filter": filter}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["data"]["unique_processing_id"].clone()
}

async fn stats(e: &Endpoints) -> StatsSnapshot {
    let root = e.leadrocks.base_url.trim_end_matches("/v1");
    let resp = client().get(format!("{root}/__sandbox/stats")).send().await.unwrap();
    resp.json().await.unwrap()
}

async fn g8(e: &Endpoints, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = client()
        .request(method, format!("{}{path}", e.graph8.base_url))
        .bearer_auth("g8_test_sandbox");
    if let Some(b) = body {
        r = r.json(&b);
    }
    json(r.send().await.unwrap()).await
}

fn kill(mut child: Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_and_started_again_on_its_state_file_the_sandbox_is_the_same_vendor() {
    let rx = Receiver::start(1).await;
    let w = Work::new();
    let c = config(&rx.url);
    w.write("c.json", serde_json::to_string(&c).unwrap());
    let sims = Simulators::new(c.clone()).unwrap();
    let u = sims.universe();
    let emails: Vec<String> = u.people.iter().take(3).map(|p| p.work_email.clone()).collect();
    let p = u.people.iter().find(|p| p.email_status == EmailStatus::Valid).unwrap();
    let filter = json!({"company_website": {"0": u.company_of(p).domain}});

    // First start: a bulk list, a fetch whose delivery fails once, then SIGKILL.
    let (first, e) = start_cli(&w);
    let list = lr_upload(&e, &emails).await;
    let processing = rs_fetch(&e, &filter).await;
    let ann = json!({"list_id": 3, "first_name": "Ann", "work_email": "ann@newco.example"});
    let (s, v) = g8(&e, reqwest::Method::POST, "/contacts", Some(ann)).await;
    assert_eq!(s, 201, "{v}");
    let hits = rx.wait_for(1).await;
    kill(first);
    assert_eq!(hits[0].2, 500, "the first attempt was refused");

    // Second start on the same file: new ports, the same vendor.
    let (second, e) = start_cli(&w);
    for _ in 0..400 {
        if rx.hits().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hits = rx.wait_for(2).await;
    let redelivered: Value = serde_json::from_slice(&hits[1].1).unwrap();
    assert_eq!(
        (hits[1].2, &redelivered["unique_processing_id"]),
        (200, &processing),
        "the delivery still due went out from the new start"
    );
    let delivered = redelivered["data"].as_array().unwrap().len() as u64;
    assert!(delivered > 0);
    let mut charged = 0;
    for _ in 0..100 {
        charged = stats(&e).await.credits_charged(Vendor::ReachStream);
        if charged == delivered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(charged, delivered, "the redelivered records are charged once delivered");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (s, v) = lr_get(&e, &format!("/verify-bulk-progress?list_id={list}")).await;
    assert_eq!((s, &v["data"]["progress_status"]), (200, &json!("completed")), "{v}");
    let (_, v) = g8(
        &e,
        reqwest::Method::GET,
        "/contacts?list_id=3&email=ann@newco.example",
        None,
    )
    .await;
    assert_eq!(v["data"][0]["first_name"], "Ann", "graph8 keeps what was written: {v}");
    let (_, v) = lr_get(&e, "/getcredits").await;
    assert_eq!(
        v["data"]["credits"],
        json!(100 - emails.len()),
        "the balance is remembered"
    );
    assert_ne!(lr_upload(&e, &emails).await, list, "list ids never repeat");
    assert_ne!(rs_fetch(&e, &filter).await, processing, "processing ids never repeat");
    let st = stats(&e).await;
    assert_eq!(st.paid_calls(Vendor::LeadRocks), 2, "both starts' uploads are counted");
    assert_eq!(
        st.paid_calls(Vendor::ReachStream),
        2,
        "both starts' fetches are counted"
    );

    // The file is this sandbox's alone while it runs.
    let out = w.run(&["sandbox", "--config", "c.json", "--state", "s.db"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("s.db: in use by another running sandbox"),
        "{}",
        stderr(&out)
    );
    kill(second);
}

#[tokio::test]
async fn without_a_state_file_ids_still_never_repeat_across_starts() {
    let mut ids = Vec::new();
    for _ in 0..2 {
        let rx = Receiver::start(0).await;
        let sb = Sandbox::start(config(&rx.url)).await.unwrap();
        let u = sb.universe();
        let p = u.people.iter().find(|p| p.email_status == EmailStatus::Valid).unwrap();
        let filter = json!({"company_website": {"0": u.company_of(p).domain}});
        ids.push(rs_fetch(sb.endpoints(), &filter).await);
        sb.shutdown().await;
    }
    assert_ne!(ids[0], ids[1], "a new sandbox hands out new processing ids");

    // Where a test needs the same ids every run, it fixes the base.
    let mut fixed = Vec::new();
    for _ in 0..2 {
        let rx = Receiver::start(0).await;
        let options = SandboxOptions {
            state: None,
            id_base: Some(7),
        };
        let sb = Sandbox::start_with(config(&rx.url), options).await.unwrap();
        let u = sb.universe();
        let p = u.people.iter().find(|p| p.email_status == EmailStatus::Valid).unwrap();
        let filter = json!({"company_website": {"0": u.company_of(p).domain}});
        fixed.push(rs_fetch(sb.endpoints(), &filter).await);
        sb.shutdown().await;
    }
    assert_eq!(fixed[0], fixed[1]);
}

/// A file of the build before the simulator registry: `leadpipe sandbox
/// --config state-v1.config.json --state FILE`, asked for a RocketReach
/// lookup left in progress and one bought (re-lookups free), a LeadRocks
/// bulk list and an instant check, a ReachStream fetch whose delivery failed
/// once, a graph8 contact, then killed; dumped as SQL, beside the stats it
/// served just before the kill.
const V1_SQL: &str = include_str!("fixtures/state-v1.sql");
const V1_CONFIG: &str = include_str!("fixtures/state-v1.config.json");
const V1_STATS: &str = include_str!("fixtures/state-v1.stats.json");
const V1_LIST: u64 = 1_100_924_741_969_766;
const V1_BOUGHT: &str = "janet@novapartners.com";

#[tokio::test(flavor = "multi_thread")]
async fn a_state_file_written_before_the_simulator_registry_loads_as_it_was() {
    let w = Work::new();
    let path = w.path("v1.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(V1_SQL)
        .unwrap();
    let config = SandboxConfig::from_json_str(V1_CONFIG).unwrap();
    let served: StatsSnapshot = serde_json::from_str(V1_STATS).unwrap();
    let remembered = Sandbox::remembered_stats(config.clone(), &path).unwrap();
    assert_eq!(remembered, served, "every counter comes back as it was served");

    let options = SandboxOptions {
        state: Some(path),
        id_base: None,
    };
    let sb = Sandbox::start_with(config, options).await.unwrap();
    let e = sb.endpoints();
    let (s, v) = lr_get(e, &format!("/verify-bulk-progress?list_id={V1_LIST}")).await;
    assert_eq!(s, 200, "the bulk list is still there: {v}");
    let resp = client()
        .get(format!("{}/person/lookup", e.rocketreach.base_url))
        .query(&[("email", V1_BOUGHT)])
        .header("Api-Key", "rr_sandbox_key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        sb.stats().credits_charged(Vendor::RocketReach),
        served.credits_charged(Vendor::RocketReach),
        "a profile bought before is not charged again"
    );
    let (_, v) = g8(
        e,
        reqwest::Method::GET,
        "/contacts?list_id=3&email=ann@newco.example",
        None,
    )
    .await;
    assert_eq!(v["data"][0]["first_name"], "Ann", "graph8 keeps what was written: {v}");
    sb.shutdown().await;
}

#[test]
fn a_state_file_whose_vendors_are_in_another_order_is_refused() {
    let w = Work::new();
    let path = w.path("s.db");
    let config = || SandboxConfig::from_json_str(V1_CONFIG).unwrap();
    Sandbox::remembered_stats(config(), &path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let noted: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'vendors'", [], |r| r.get(0))
        .unwrap();
    let mut names: Vec<&str> = Vendor::ALL.iter().map(|v| v.as_str()).collect();
    assert_eq!(noted, names.join(" "), "the file notes the registry's order");
    names.swap(0, 1);
    conn.execute("UPDATE meta SET value = ?1 WHERE key = 'vendors'", [names.join(" ")])
        .unwrap();
    drop(conn);
    let err = Sandbox::remembered_stats(config(), &path).unwrap_err().to_string();
    assert!(err.contains("s.db") && err.contains("would be mixed up"), "{err}");
}
