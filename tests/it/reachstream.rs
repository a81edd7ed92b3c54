//! The ReachStream stage end to end: the real `leadpipe` binary against an
//! in-process sandbox whose webhook delivers to the run's receiver, checked on
//! what a user sees (exit code, report, output) and on what the vendor saw
//! (the sandbox's counters).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leadpipe::sandbox::{BadSecret, Company, Credits, EmailStatus, Person, Sandbox, SandboxConfig, Vendor};
use serde_json::{Value, json};

use crate::support::*;

const COUNT: &str = "POST /api/v2/request/records/count";
const FETCH: &str = "POST /api/v2/async/records/filter";
const KEY: &str = "rs_it_key_0c4d9e12";
const SECRET: &str = "rs_it_webhook_secret_7a51";

/// A sandbox with no rate limit, unlimited credits, and a fast redelivery schedule.
async fn sandbox(f: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let mut c = SandboxConfig::default();
    c.universe.people = 3_000;
    c.universe.companies = 300;
    c.reachstream.api_keys = vec![KEY.into()];
    c.reachstream.rate_limit.clear();
    c.reachstream.credits = Credits::Unlimited;
    c.reachstream.webhook.secret = SECRET.into();
    c.reachstream.webhook.retry_schedule_ms = vec![0, 300, 300, 300, 300, 300];
    c.reachstream.webhook.timeout_ms = 2_000;
    f(&mut c);
    Sandbox::start(c).await.expect("sandbox starts")
}

/// Point the sandbox's webhook at `url`.
fn deliver_to(sb: &Sandbox, url: &str) {
    let url = url.to_string();
    sb.update(move |c| {
        c.reachstream.webhook.url = Some(url);
        c.reachstream.webhook.active = true;
    })
    .unwrap();
}

/// A pipeline with one `reachstream_enrich` stage (`stage` holds its `key = value` lines),
/// its receiver on `port`, writing `out/rs.csv`.
fn pipeline(sb: &Sandbox, port: u16, stage: &str) -> String {
    format!(
        r#"
name = "rs"

[source]
kind = "csv"
path = "in.csv"

[vendors.reachstream]
api_key = "${{RS_KEY}}"
webhook_secret = "${{RS_SECRET}}"
base_url = "{base}"
rate_limits = ["1000/s"]
concurrency = 32
min_backoff = "10ms"
max_backoff = "50ms"

[webhook]
listen = "127.0.0.1:{port}"

[[stages]]
kind = "reachstream_enrich"
{stage}

[[sinks]]
kind = "csv"
path = "out/rs.csv"

[state]
path = "state/rs.db"
"#,
        base = sb.endpoints().reachstream.base_url,
    )
}

async fn run(w: &Work) -> Output {
    let mut cmd = w.command(&["run", "p.toml", "--report", "out/report.json"]);
    cmd.env("RS_KEY", KEY).env("RS_SECRET", SECRET);
    output_of(cmd).await
}

/// The output CSV as rows of column → value.
fn output(w: &Work) -> Vec<BTreeMap<String, String>> {
    w.csv_rows("out/rs.csv")
}

/// Emails of the contacts a row got.
fn contact_emails(row: &BTreeMap<String, String>) -> BTreeSet<String> {
    row["reachstream_contacts"]
        .split('|')
        .filter(|s| !s.is_empty())
        .map(|c| {
            let v: Value = serde_json::from_str(c).expect("a contact is a JSON object");
            v["email"].as_str().unwrap().to_string()
        })
        .collect()
}

/// `n` universe companies with at least `min_people` people whose email is valid.
fn companies(sb: &Sandbox, n: usize, min_people: usize) -> Vec<Company> {
    let u = sb.universe();
    let mut valid: HashMap<u32, usize> = HashMap::new();
    for p in u.people.iter().filter(|p| p.email_status == EmailStatus::Valid) {
        *valid.entry(p.company).or_default() += 1;
    }
    let v: Vec<Company> = u
        .companies
        .iter()
        .filter(|c| valid.get(&c.idx).copied().unwrap_or(0) >= min_people)
        .take(n)
        .cloned()
        .collect();
    assert_eq!(v.len(), n);
    v
}

fn people_of(sb: &Sandbox, c: &Company) -> Vec<Person> {
    sb.universe()
        .people
        .iter()
        .filter(|p| p.company == c.idx)
        .cloned()
        .collect()
}

/// Universe people of `c` a fetch of `level` contacts delivers, in the sandbox's order.
fn deliverable(sb: &Sandbox, c: &Company, level: &str, n: usize) -> BTreeSet<String> {
    people_of(sb, c)
        .into_iter()
        .filter(|p| p.email_status == EmailStatus::Valid && p.title_level.eq_ignore_ascii_case(level))
        .take(n)
        .map(|p| p.work_email.to_lowercase())
        .collect()
}

// ---------------------------------------------------------------- company mode

/// Acceptance 1: every row whose company is in the universe gets its
/// firmographics, and the count API is called once per distinct company.
#[tokio::test(flavor = "multi_thread")]
async fn company_mode_enriches_every_known_company_with_one_count_per_company() {
    let sb = sandbox(|_| {}).await;
    let known = companies(&sb, 30, 3);
    let mut csv = String::from("first_name,last_name,email,company,website\n");
    let mut expected = Vec::new();
    for c in &known {
        // Three people of each company; the website written three ways.
        for (i, p) in people_of(&sb, c).iter().take(3).enumerate() {
            let site = match i {
                0 => c.website.clone(),
                1 => format!("https://www.{}/about", c.domain),
                _ => c.domain.to_uppercase(),
            };
            csv.push_str(&format!(
                "{},{},{},\"{}\",{}\n",
                p.first_name, p.last_name, p.work_email, c.name, site
            ));
            expected.push(Some(c.clone()));
        }
    }
    for i in 0..5 {
        csv.push_str(&format!(
            "Ann,Other{i},ann{i}@nowhere{i}.example,Nowhere {i} Ltd,nowhere{i}.example\n"
        ));
        expected.push(None);
    }
    let w = Work::new();
    w.write("in.csv", csv);
    let port = free_port();
    w.write("p.toml", pipeline(&sb, port, r#"mode = "company""#));
    let out = run(&w).await;
    check(&out, 0);

    let rows = output(&w);
    assert_eq!(rows.len(), expected.len());
    for (row, want) in rows.iter().zip(&expected) {
        match want {
            Some(c) => {
                assert_eq!(row["reachstream_status"], "found", "{row:?}");
                assert_eq!(row["company_industry"], c.industry);
                assert_eq!(row["company_employee_size"], c.employee_size);
                assert_eq!(row["company_revenue"], c.revenue);
                assert_eq!(row["company_sic"], c.sic_code);
                assert_eq!(row["company_website"], c.domain);
                assert!(row["company_address"].contains(&c.street), "{row:?}");
                let keywords: Vec<&str> = row["company_tech_keywords"].split('|').collect();
                assert_eq!(keywords, c.tech_keywords);
            }
            None => {
                assert_eq!(row["reachstream_status"], "not_found", "{row:?}");
                assert_eq!(row["company_industry"], "");
            }
        }
    }
    let stats = sb.stats();
    let counts = stats.calls_to(Vendor::ReachStream, COUNT);
    eprintln!(
        "{} rows, {} distinct companies: {counts} count calls",
        rows.len(),
        known.len() + 5
    );
    assert_eq!(counts, (known.len() + 5) as u64, "one count call per distinct company");
    assert_eq!(stats.calls_to(Vendor::ReachStream, FETCH), 0);
    let report = w.report("out/report.json");
    assert_eq!(report["stages"]["reachstream_enrich"]["rows_found"], 90);
    assert_eq!(report["stages"]["reachstream_enrich"]["rows_not_found"], 5);
}

/// The count path is configurable; a 404 on it falls back to the alternate path once, then sticks to it.
#[tokio::test(flavor = "multi_thread")]
async fn a_count_path_answering_404_falls_back_to_the_alternate_path() {
    let sb = sandbox(|_| {}).await;
    let known = companies(&sb, 5, 1);
    let mut csv = String::from("full_name,company,website\n");
    for c in &known {
        csv.push_str(&format!("Pat Doe,\"{}\",{}\n", c.name, c.domain));
    }
    let w = Work::new();
    w.write("in.csv", csv);
    let p = pipeline(&sb, free_port(), "mode = \"company\"\nwindow = 1").replace(
        "max_backoff = \"50ms\"",
        "max_backoff = \"50ms\"\npaths = { count = \"/api/v2/records/count-moved\" }",
    );
    w.write("p.toml", p);
    let out = run(&w).await;
    check(&out, 0);
    let rows = output(&w);
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r["reachstream_status"] == "found"), "{rows:?}");
    let stats = sb.stats();
    assert_eq!(stats.calls_to(Vendor::ReachStream, COUNT), 0);
    let report = w.report("out/report.json");
    let balance_reads = stats.calls_to(Vendor::ReachStream, "POST /api/v2/retrive/users/active/credits");
    assert_eq!(
        report["vendors"]["reachstream"]["calls"],
        6 + balance_reads,
        "one 404 on the configured path, then the alternate path only"
    );
    assert_eq!(
        stats.calls_to(Vendor::ReachStream, "POST /api/v2/async/records/filter/count"),
        5
    );
}

// ---------------------------------------------------------------- contacts mode

/// A stand-in for a flaky receiver in front of the real one: answers 500 to
/// the first delivery of each processing id, forwards everything else.
async fn flaky_proxy(target: String) -> (u16, Arc<Mutex<Vec<u16>>>) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let answers: Arc<Mutex<Vec<u16>>> = Arc::default();
    let client = reqwest::Client::new();
    let answers2 = answers.clone();
    let handler = move |headers: HeaderMap, body: Bytes| {
        let (seen, answers, client, target) = (seen.clone(), answers2.clone(), client.clone(), target.clone());
        async move {
            let v: Value = serde_json::from_slice(&body).unwrap_or_default();
            let id = v["unique_processing_id"].to_string();
            let first = {
                let mut seen = seen.lock().unwrap();
                let first = !seen.contains(&id);
                seen.push(id);
                first
            };
            let status = if first {
                500
            } else {
                let mut req = client.post(&target).body(body.to_vec());
                for (k, v) in &headers {
                    if k != "host" && k != "content-length" {
                        req = req.header(k, v);
                    }
                }
                req.send().await.map_or(502, |r| r.status().as_u16())
            };
            answers.lock().unwrap().push(status);
            StatusCode::from_u16(status).unwrap()
        }
    };
    let app = axum::Router::new().route("/hook", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, answers)
}

/// Acceptance 2: contacts delivered by webhook are joined to the rows of
/// their company; a duplicate delivery adds nothing; a forged delivery (wrong
/// secret) gets 401 and changes nothing; a receiver that answered 500 still
/// gets the data on the vendor's retry.
#[tokio::test(flavor = "multi_thread")]
async fn contacts_round_trip_through_the_webhook() {
    let sb = sandbox(|c| {
        c.reachstream.webhook.deliver_twice = true;
        // Time to send a forged delivery while the fetches are pending.
        c.reachstream.faults.webhook_late_ms = 1_500;
    })
    .await;
    let level = "C-Suite";
    let known = companies(&sb, 6, 4);
    let mut csv = String::from("first_name,last_name,email,company,website\n");
    let mut rows_of: Vec<(Company, Person)> = Vec::new();
    for c in &known {
        // Two rows per company; the C-Suite person (if any) without an email, to be filled.
        let mut people = people_of(&sb, c);
        people.sort_by_key(|p| !(p.title_level == level && p.email_status == EmailStatus::Valid));
        for p in people.iter().take(2) {
            let email = if p.title_level == level {
                ""
            } else {
                p.work_email.as_str()
            };
            csv.push_str(&format!(
                "{},{},{},\"{}\",{}\n",
                p.first_name, p.last_name, email, c.name, c.domain
            ));
            rows_of.push((c.clone(), p.clone()));
        }
    }
    let w = Work::new();
    w.write("in.csv", csv);
    let port = free_port();
    let receiver = format!("http://127.0.0.1:{port}/reachstream");
    let (proxy, answers) = flaky_proxy(receiver.clone()).await;
    deliver_to(&sb, &format!("http://127.0.0.1:{proxy}/hook"));
    w.write(
        "p.toml",
        pipeline(
            &sb,
            port,
            &format!("mode = \"contacts\"\ncriteria = {{ job_title_level = [\"{level}\"] }}\nfetch_count = 5"),
        ),
    );
    let mut cmd = w.command(&["run", "p.toml", "--report", "out/report.json"]);
    cmd.env("RS_KEY", KEY).env("RS_SECRET", SECRET);
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    // While the fetches wait for their webhooks: forge the first one's delivery.
    let deadline = Instant::now() + Duration::from_secs(30);
    while sb.stats().calls_to(Vendor::ReachStream, FETCH) < known.len() as u64 {
        assert!(Instant::now() < deadline, "fetches did not go out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let forged = serde_json::json!({"unique_processing_id": 1300, "event": "data_notification",
        "data": [{"id": 1, "contact_name": "Eve Forger", "contact_email_1": "eve@forged.example",
                  "company_website": known[0].domain}]});
    let client = reqwest::Client::new();
    for secret in ["wrong-secret", ""] {
        let resp = client
            .post(&receiver)
            .header("webhook_secret_key", secret)
            .json(&forged)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            401,
            "a delivery with secret {secret:?} is refused"
        );
    }
    let resp = client.post(&receiver).json(&forged).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401, "a delivery without the secret is refused");

    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    check(&out, 0);

    let rows = output(&w);
    assert_eq!(rows.len(), rows_of.len());
    let mut filled = 0;
    for (row, (c, p)) in rows.iter().zip(&rows_of) {
        let want = deliverable(&sb, c, level, 5);
        assert!(!want.is_empty());
        assert_eq!(
            contact_emails(row),
            want,
            "the contacts of {} joined to its rows",
            c.name
        );
        assert!(!row["reachstream_contacts"].contains("forged"));
        assert_eq!(row["company_industry"], c.industry);
        if p.title_level == level && want.contains(&p.work_email.to_lowercase()) {
            assert_eq!(
                row["email"],
                p.work_email.to_lowercase(),
                "the row's missing email is filled"
            );
            assert_eq!(row["reachstream_contact_title"], p.title.to_lowercase());
            filled += 1;
        }
    }
    assert!(filled > 0, "some rows had an email to fill");

    let stats = sb.stats();
    let hooks = stats.webhook(Vendor::ReachStream);
    let answers = answers.lock().unwrap().clone();
    eprintln!("webhooks: {hooks:?}; proxy answers: {answers:?}");
    assert_eq!(
        stats.calls_to(Vendor::ReachStream, FETCH),
        known.len() as u64,
        "one fetch per company"
    );
    assert!(stats.paid_twice().is_empty(), "{:?}", stats.paid_twice());
    assert_eq!(
        hooks.failed_attempts,
        known.len() as u64,
        "each first delivery got a 500"
    );
    assert_eq!(hooks.delivered, known.len() as u64, "each was delivered on the retry");
    assert_eq!(hooks.duplicates, known.len() as u64, "and delivered a second time");
    // A duplicate sent after the run ended finds no receiver (502 from the proxy); the
    // others reached it while it ran, were acknowledged, and (below) stored nothing new.
    let acknowledged = answers.iter().filter(|s| **s == 200).count();
    assert!(
        acknowledged > known.len(),
        "some duplicates reached the receiver: {answers:?}"
    );

    // The store holds one delivery per processing id, none of them forged.
    let conn = rusqlite::Connection::open(w.path("state/rs.db")).unwrap();
    let (n, forged_rows): (i64, i64) = conn
        .query_row(
            "SELECT count(*), coalesce(sum(payload LIKE '%forged%'), 0) FROM webhook_deliveries WHERE provider = 'reachstream'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((n, forged_rows), (known.len() as i64, 0));
    let delivered: usize = rows_of
        .iter()
        .map(|(c, _)| c.idx)
        .collect::<BTreeSet<_>>()
        .iter()
        .map(|&i| deliverable(&sb, &sb.universe().companies[i as usize].clone(), level, 5).len())
        .sum();
    let report = w.report("out/report.json");
    assert_eq!(
        report["vendors"]["reachstream"]["credits"].as_u64().unwrap(),
        delivered as u64,
        "credits = contacts delivered, duplicates not counted"
    );
    assert_eq!(stats.credits_charged(Vendor::ReachStream), delivered as u64);
}

// ---------------------------------------------------------------- resume

/// Acceptance 3: kill -9 after the fetches were submitted and before their
/// webhooks arrive; the next run re-opens the receiver, collects the
/// redeliveries without a second submit, and writes what an uninterrupted run writes.
#[tokio::test(flavor = "multi_thread")]
async fn a_kill_while_waiting_for_webhooks_is_collected_from_the_redelivery() {
    let slow = |c: &mut SandboxConfig| {
        // First attempt 2 s after the submit, then every 500 ms.
        c.reachstream.faults.webhook_late_ms = 2_000;
        c.reachstream.webhook.retry_schedule_ms = vec![0, 500, 500, 500, 500, 500, 500, 500, 500, 500];
    };
    let sb = sandbox(slow).await;
    let reference_sb = sandbox(slow).await;
    let known = companies(&sb, 4, 3);
    let mut csv = String::from("first_name,last_name,email,company,website\n");
    for c in &known {
        for p in people_of(&sb, c).iter().take(2) {
            csv.push_str(&format!(
                "{},{},,\"{}\",{}\n",
                p.first_name, p.last_name, c.name, c.domain
            ));
        }
    }
    let stage = "mode = \"contacts\"\nfetch_count = 4";

    let reference = Work::new();
    reference.write("in.csv", &csv);
    let port = free_port();
    deliver_to(&reference_sb, &format!("http://127.0.0.1:{port}/reachstream"));
    reference.write("p.toml", pipeline(&reference_sb, port, stage));
    check(&run(&reference).await, 0);

    let w = Work::new();
    w.write("in.csv", &csv);
    let port = free_port();
    deliver_to(&sb, &format!("http://127.0.0.1:{port}/reachstream"));
    w.write("p.toml", pipeline(&sb, port, stage));
    let mut cmd = w.command(&["run", "p.toml", "--quiet"]);
    cmd.env("RS_KEY", KEY).env("RS_SECRET", SECRET);
    let mut child = cmd.spawn().unwrap();
    // Wait until every fetch is submitted and its processing id committed.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending: i64 = rusqlite::Connection::open(w.path("state/rs.db"))
            .and_then(|c| {
                c.query_row(
                    "SELECT count(*) FROM pending_jobs WHERE provider = 'reachstream' AND state = 'pending'",
                    [],
                    |r| r.get(0),
                )
            })
            .unwrap_or(0);
        if pending == known.len() as i64 {
            break;
        }
        assert!(Instant::now() < deadline, "fetches were not submitted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        sb.stats().webhook(Vendor::ReachStream).attempts,
        0,
        "killed before any delivery"
    );
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(status.code().is_none(), "killed while waiting");
    // The vendor's first attempts find nobody listening…
    let deadline = Instant::now() + Duration::from_secs(30);
    while sb.stats().webhook(Vendor::ReachStream).failed_attempts < known.len() as u64 {
        assert!(Instant::now() < deadline, "no delivery was attempted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // …and the next run collects a redelivery.

    let out = run(&w).await;
    check(&out, 0);
    let stats = sb.stats();
    assert_eq!(
        stats.calls_to(Vendor::ReachStream, FETCH),
        known.len() as u64,
        "no second submit"
    );
    assert!(stats.paid_twice().is_empty(), "{:?}", stats.paid_twice());
    let hooks = stats.webhook(Vendor::ReachStream);
    eprintln!("webhooks after the restart: {hooks:?}");
    assert_eq!(hooks.delivered, known.len() as u64);
    assert!(hooks.failed_attempts >= known.len() as u64);
    assert_eq!(w.report("out/report.json")["resumed"], true);

    let business = |rows: Vec<BTreeMap<String, String>>| -> Vec<BTreeMap<String, String>> {
        rows.into_iter()
            .map(|mut r| {
                for k in ["reachstream_at", "reachstream_cached", "reachstream_credits"] {
                    assert!(r.remove(k).is_some(), "{k} is an output column");
                }
                r
            })
            .collect()
    };
    let (got, want) = (business(output(&w)), business(output(&reference)));
    assert!(got.iter().all(|r| r["reachstream_status"] == "found"), "{got:?}");
    assert_eq!(got, want, "the resumed run writes what an uninterrupted run writes");
}

// ---------------------------------------------------------------- credits

/// One row per company of `known`, without emails (contacts mode input).
fn one_row_per_company(sb: &Sandbox, known: &[Company]) -> String {
    let mut csv = String::from("first_name,last_name,email,company,website\n");
    for c in known {
        let p = &people_of(sb, c)[0];
        csv.push_str(&format!(
            "{},{},,\"{}\",{}\n",
            p.first_name, p.last_name, c.name, c.domain
        ));
    }
    csv
}

/// Acceptance 4, first half: a balance short of what the stage will request
/// is refused before anything is bought, with the balance and the need.
#[tokio::test(flavor = "multi_thread")]
async fn insufficient_credits_are_refused_before_any_fetch() {
    let sb = sandbox(|c| c.reachstream.credits = Credits::Amount(10)).await;
    let known = companies(&sb, 4, 5);
    let w = Work::new();
    w.write("in.csv", one_row_per_company(&sb, &known));
    let port = free_port();
    deliver_to(&sb, &format!("http://127.0.0.1:{port}/reachstream"));
    w.write("p.toml", pipeline(&sb, port, "mode = \"contacts\"\nfetch_count = 5"));
    let out = run(&w).await;
    check(&out, 4);
    let err = stderr(&out);
    assert!(
        err.contains("the balance is 10 credits") && err.contains("needs up to 20 (4 companies × fetch_count 5)"),
        "{err}"
    );
    assert!(err.contains("allow_partial"), "{err}");
    let stats = sb.stats();
    assert_eq!(stats.calls_to(Vendor::ReachStream, FETCH), 0, "nothing bought");
    assert_eq!(stats.credits_charged(Vendor::ReachStream), 0);
    assert!(!w.path("out/rs.csv").exists(), "no output from a refused run");
}

/// Acceptance 4, second half: with `allow_partial`, a 402 mid-run stops the
/// vendor (exit 4); once credits are added, the next run finishes the job
/// without fetching any delivered company again.
#[tokio::test(flavor = "multi_thread")]
async fn a_402_mid_run_exits_4_and_the_next_run_finishes_without_repeating_work() {
    // 5 records per company: two companies fit in 12 credits, the third gets a 402.
    let sb = sandbox(|c| c.reachstream.credits = Credits::Amount(12)).await;
    let known = companies(&sb, 4, 5);
    let w = Work::new();
    w.write("in.csv", one_row_per_company(&sb, &known));
    let port = free_port();
    deliver_to(&sb, &format!("http://127.0.0.1:{port}/reachstream"));
    w.write(
        "p.toml",
        pipeline(
            &sb,
            port,
            "mode = \"contacts\"\nfetch_count = 5\nallow_partial = true\nwindow = 1",
        ),
    );
    let out = run(&w).await;
    check(&out, 4);
    let err = stderr(&out);
    assert!(
        err.contains("out of credits") && err.contains("run the same command again"),
        "{err}"
    );
    let stats = sb.stats();
    // The vendor charges after its delivery is acknowledged, which races with the
    // next submit: two or three companies get in before the 402.
    let first = stats.calls_with_status(Vendor::ReachStream, FETCH, 200);
    assert!((2..=3).contains(&first), "{first} fetches before the 402");
    assert_eq!(stats.calls_with_status(Vendor::ReachStream, FETCH, 402), 1);
    assert_eq!(stats.credits_charged(Vendor::ReachStream), 12.min(5 * first));

    sb.update(|c| c.reachstream.credits = Credits::Amount(1_000)).unwrap();
    let out = run(&w).await;
    check(&out, 0);
    let stats = sb.stats();
    assert_eq!(
        stats.calls_with_status(Vendor::ReachStream, FETCH, 200),
        4,
        "only the companies not delivered yet were fetched"
    );
    assert!(stats.paid_twice().is_empty(), "{:?}", stats.paid_twice());
    let rows = output(&w);
    assert_eq!(rows.len(), 4);
    for (row, c) in rows.iter().zip(&known) {
        assert_eq!(contact_emails(row).len(), 5, "{row:?}");
        assert!(contact_emails(row).iter().all(|e| e.ends_with(&c.domain)));
    }
    assert_eq!(w.report("out/report.json")["resumed"], true);
}

/// A wrong webhook secret is named as such, not as a refused API key, however
/// the vendor refuses it (the contract leaves 401, 400 or 403 open; 401 and
/// 403 come in the same envelope as a bad key): the vendor is stopped (exit 4)
/// with the pipeline key to fix, and nothing is bought.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_webhook_secret_is_named_under_every_refusal_status() {
    for (reading, status) in [
        (BadSecret::Unauthorized, 401),
        (BadSecret::BadRequest, 400),
        (BadSecret::Forbidden, 403),
    ] {
        let sb = sandbox(|c| c.reachstream.webhook.bad_secret = reading).await;
        let known = companies(&sb, 3, 5);
        let w = Work::new();
        w.write("in.csv", one_row_per_company(&sb, &known));
        let port = free_port();
        deliver_to(&sb, &format!("http://127.0.0.1:{port}/reachstream"));
        w.write("p.toml", pipeline(&sb, port, "mode = \"contacts\"\nfetch_count = 5"));
        let mut cmd = w.command(&["run", "p.toml", "--report", "out/report.json"]);
        cmd.env("RS_KEY", KEY).env("RS_SECRET", "not-the-secret");
        let out = output_of(cmd).await;
        check(&out, 4);
        let err = stderr(&out);
        assert!(
            err.contains("refused the webhook secret") && err.contains("vendors.reachstream.webhook_secret"),
            "{reading:?}: {err}"
        );
        assert!(!err.contains("refused the API key"), "{reading:?}: {err}");
        let stats = sb.stats();
        assert!(
            stats.calls_with_status(Vendor::ReachStream, FETCH, status) >= 1,
            "{reading:?}"
        );
        assert_eq!(
            stats.calls_with_status(Vendor::ReachStream, FETCH, 200),
            0,
            "{reading:?}"
        );
        assert_eq!(stats.credits_charged(Vendor::ReachStream), 0, "{reading:?}");
    }
}

/// Bad stage keys are refused before any call, with file, line and key.
#[test]
fn bad_stage_keys_are_refused_with_their_line() {
    let w = Work::new();
    w.write("in.csv", "email\na@b.com\n");
    w.write(
        "p.toml",
        r#"[source]
kind = "csv"
path = "in.csv"

[[stages]]
kind = "reachstream_enrich"
mode = "contacts"
criteria = { job_titel = ["CEO"] }

[[sinks]]
kind = "csv"
path = "out/x.csv"

[state]
path = "state/x.db"
"#,
    );
    let out = w.run(&["validate", "p.toml", "--sandbox"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.contains("p.toml:8: stages[0].criteria: unknown filter key \"job_titel\""),
        "{err}"
    );
    w.write(
        "p.toml",
        std::fs::read_to_string(w.path("p.toml"))
            .unwrap()
            .replace("criteria = { job_titel = [\"CEO\"] }", "mode2 = 1"),
    );
    let out = w.run(&["validate", "p.toml", "--sandbox"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("p.toml:8: stages[0].mode2: unknown field"),
        "{}",
        stderr(&out)
    );
    let out = w.run(&["validate", "p.toml"]);
    assert_eq!(code(&out), 2);
}

// ---------------------------------------------------------------- rate

/// Acceptance 5: at 10 requests/s on both sides, the stage keeps to the limit
/// (at most the first window's 429s, see below), and runs at the same time as the RocketReach stage: a run of
/// both takes about as long as the slower one, not the sum. Rows (distinct
/// companies): `RS_RATE_ROWS`, default 100 (the acceptance figure is 500).
#[tokio::test(flavor = "multi_thread")]
async fn stays_within_10_per_second_and_runs_beside_rocketreach() {
    let rows: usize = std::env::var("RS_RATE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    // The client's ReachStream window (`RS_RATE`, default the contract's 10/s).
    let rate = std::env::var("RS_RATE").unwrap_or_else(|_| "10/s".into());
    let sb = sandbox(|c| {
        c.universe.companies = (rows * 2).max(300) as u32;
        c.universe.people = (rows * 20).max(3_000) as u32;
        c.reachstream.rate_limit = vec![leadpipe::sandbox::RateWindow::per_second(10)];
        c.reachstream.faults.latency = leadpipe::sandbox::Latency::Fixed { ms: 100 };
        c.rocketreach.api_keys = vec!["rr_rate_key".into()];
        c.rocketreach.rate_limit = vec![leadpipe::sandbox::RateWindow::per_second(10)];
        c.rocketreach.plan = leadpipe::sandbox::Plan::None;
        c.rocketreach.credits = Credits::Unlimited;
        c.rocketreach.faults.latency = leadpipe::sandbox::Latency::Fixed { ms: 100 };
    })
    .await;
    // One person of each of `rows` companies, found at once by RocketReach.
    let u = sb.universe();
    let mut seen = BTreeSet::new();
    let picked: Vec<&Person> = u
        .people
        .iter()
        .filter(|p| p.rr == leadpipe::sandbox::RrOutcome::Instant && seen.insert(p.company))
        .take(rows)
        .collect();
    assert_eq!(picked.len(), rows);
    let mut csv = String::from("first_name,last_name,email,company,website\n");
    for p in &picked {
        let c = u.company_of(p);
        csv.push_str(&format!(
            "{},{},{},\"{}\",{}\n",
            p.first_name, p.last_name, p.work_email, c.name, c.domain
        ));
    }
    let w = Work::new();
    w.write("in.csv", csv);
    let p = pipeline(&sb, free_port(), "mode = \"company\"")
        .replace("rate_limits = [\"1000/s\"]", &format!("rate_limits = [\"{rate}\"]"))
        .replace(
            "[webhook]",
            &format!(
                "[vendors.rocketreach]\napi_key = \"rr_rate_key\"\nbase_url = \"{}\"\nrate_limits = [\"10/s\"]\nconcurrency = 20\n\n[[stages]]\nkind = \"rocketreach_lookup\"\n\n[webhook]",
                sb.endpoints().rocketreach.base_url
            ),
        );
    // The RocketReach stage goes first in the file.
    let p = {
        let rs_stage = "[[stages]]\nkind = \"reachstream_enrich\"\nmode = \"company\"\n";
        let without = p.replacen(rs_stage, "", 1);
        without.replacen("[[sinks]]", &format!("{rs_stage}\n[[sinks]]"), 1)
    };
    w.write("p.toml", p);
    let started = Instant::now();
    let out = run(&w).await;
    let wall = started.elapsed().as_secs_f64();
    check(&out, 0);

    let report = w.report("out/report.json");
    let stats = sb.stats();
    let (rs, rr) = (&report["vendors"]["reachstream"], &report["vendors"]["rocketreach"]);
    let (rs_secs, rr_secs) = (rs["active_secs"].as_f64().unwrap(), rr["active_secs"].as_f64().unwrap());
    eprintln!(
        "{rows} distinct companies: ReachStream {} calls in {rs_secs:.1}s ({:.2}/s, {} 429s); \
         RocketReach {} calls in {rr_secs:.1}s; run {wall:.1}s vs sum {:.1}s",
        rs["calls"],
        rs["achieved_rate"].as_f64().unwrap(),
        stats.status_count(Vendor::ReachStream, 429),
        rr["calls"],
        rs_secs + rr_secs
    );
    let limited = stats.status_count(Vendor::ReachStream, 429);
    assert_eq!(
        stats.calls_to(Vendor::ReachStream, COUNT) - limited,
        rows as u64,
        "one count per company"
    );
    // Known issue (shared with RocketReach, see docs/benchmarks.md): at exactly the
    // limit, requests of the first window open new connections and reach the vendor
    // late, so the next window's can land in the same vendor second. Those 429s are
    // honoured (the vendor pauses). On a loaded machine (the whole suite on two
    // cores) arrival jitter adds a few more; they stay a small share.
    assert!(limited * 5 <= rows as u64, "{limited} 429s for {rows} requests");
    // A 10/s window sends a burst of 10 at once and then 10 a second, so n calls
    // take at least (n - 10) / 10 seconds: more would be over the limit.
    let calls = rs["calls"].as_f64().unwrap();
    assert!(calls <= 10.0 * rs_secs + 10.0, "{calls} calls in {rs_secs:.2}s");
    assert!(
        wall < 0.75 * (rs_secs + rr_secs),
        "the two vendors worked at the same time: {wall:.1}s vs {rs_secs:.1}s + {rr_secs:.1}s"
    );
    let out_rows = output(&w);
    assert!(
        out_rows
            .iter()
            .all(|r| r["reachstream_status"] == "found" && r["rocketreach_status"] == "found")
    );
}

/// Ctrl-C while rows wait for their webhooks: the run exits resumable at once
/// (not at the fetch deadline), and the next run collects the deliveries
/// without submitting again.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_while_waiting_exits_3_and_the_next_run_collects() {
    let sb = sandbox(|c| {
        c.reachstream.faults.webhook_late_ms = 3_000;
        c.reachstream.webhook.retry_schedule_ms = vec![0, 300, 300, 300, 300, 300, 300, 300, 300, 300];
    })
    .await;
    let known = companies(&sb, 3, 3);
    let w = Work::new();
    w.write("in.csv", one_row_per_company(&sb, &known));
    let port = free_port();
    deliver_to(&sb, &format!("http://127.0.0.1:{port}/reachstream"));
    w.write("p.toml", pipeline(&sb, port, "mode = \"contacts\"\nfetch_count = 3"));
    let mut cmd = w.command(&["run", "p.toml", "--quiet"]);
    cmd.env("RS_KEY", KEY).env("RS_SECRET", SECRET);
    let child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while sb.stats().calls_to(Vendor::ReachStream, FETCH) < known.len() as u64 {
        assert!(Instant::now() < deadline, "fetches did not go out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let interrupted = Instant::now();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        interrupted.elapsed() < Duration::from_secs(2),
        "exited without waiting for the webhooks"
    );

    let out = run(&w).await;
    check(&out, 0);
    let stats = sb.stats();
    assert_eq!(
        stats.calls_to(Vendor::ReachStream, FETCH),
        known.len() as u64,
        "no second submit"
    );
    assert!(output(&w).iter().all(|r| r["reachstream_status"] == "found"));
}

/// A delivery that answers another request (another company's records under
/// the processing id of this row's fetch) is refused: the row gets nothing
/// of it, fails with the reason, and the report counts it.
#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_of_another_companys_records_is_refused() {
    let sb = sandbox(|_| {}).await;
    let [asked, other]: [Company; 2] = companies(&sb, 2, 3).try_into().unwrap();
    // The vendor's own deliveries go nowhere: only the forged one reaches the run.
    deliver_to(&sb, &format!("http://127.0.0.1:{}/reachstream", free_port()));
    let port = free_port();
    let w = Work::new();
    w.write(
        "in.csv",
        format!(
            "first_name,last_name,company,website\nAda,Row,{},{}\n",
            asked.name, asked.domain
        ),
    );
    w.write(
        "p.toml",
        pipeline(&sb, port, "mode = \"contacts\"\nfetch_count = 3\ndeadline = \"20s\""),
    );
    let mut cmd = w.command(&["run", "p.toml", "--report", "out/report.json"]);
    cmd.env("RS_KEY", KEY).env("RS_SECRET", SECRET);
    let run = tokio::spawn(output_of(cmd));
    let id = pending_job_id(&w, "state/rs.db", "reachstream", &run).await;
    let theirs: Vec<Value> = people_of(&sb, &other)
        .iter()
        .take(2)
        .map(|p| json!({"id": p.id, "contact_email_1": p.work_email, "company_company_name": other.name, "company_website": other.domain}))
        .collect();
    let forged =
        json!({"unique_processing_id": id.parse::<u64>().unwrap(), "event": "data_notification", "data": theirs});
    let url = format!("http://127.0.0.1:{port}/reachstream");
    let status = post_delivery(&url, &[("webhook_secret_key", SECRET)], &forged).await;
    assert_eq!(status, 200, "stored, as any authentic delivery is");
    let out = run.await.unwrap();
    check(&out, 1);
    let row = &output(&w)[0];
    assert_eq!(row["reachstream_status"], "failed");
    assert!(row["reachstream_reason"].contains("refused"), "{row:?}");
    assert_eq!(row["reachstream_contacts"], "", "nothing of the other company's");
    assert_eq!(row["company_website"], "");
    let report = w.report("out/report.json");
    assert_eq!(report["vendors"]["reachstream"]["answers_refused"], 1, "{report}");
}
