use std::time::{Duration, Instant};

use leadpipe::sandbox::{EmailStatus, Latency, RrOutcome, Sandbox, SandboxConfig, Vendor};
use serde_json::{Value, json};

use super::{client, json, start, start_unlimited};

#[tokio::test]
async fn endpoints_json_has_the_documented_shape_on_loopback() {
    let sb = start(|_| {}).await;
    let v = serde_json::to_value(sb.endpoints()).unwrap();
    let keys = |o: &Value| o.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&v), ["graph8", "leadrocks", "reachstream", "rocketreach"]);
    assert_eq!(keys(&v["reachstream"]), ["api_key", "base_url", "webhook_secret"]);
    let text = serde_json::to_string(sb.endpoints()).unwrap();
    assert!(
        text.starts_with(r#"{"rocketreach":{"base_url":"http://127.0.0.1:"#),
        "{text}"
    );
    for (vendor, suffix) in [
        ("rocketreach", "/api/v2"),
        ("reachstream", ""),
        ("leadrocks", "/v1"),
        ("graph8", "/api/v1"),
    ] {
        let url = v[vendor]["base_url"].as_str().unwrap();
        assert!(url.starts_with("http://127.0.0.1:") && url.ends_with(suffix), "{url}");
    }
    for vendor in Vendor::ALL {
        assert!(sb.addr(vendor).ip().is_loopback());
    }
}

/// A fixed script of paid and free calls across the four vendors.
async fn script(sb: &Sandbox) -> Vec<String> {
    let e = sb.endpoints().clone();
    let c = client();
    let u = sb.universe();
    let a = u.people.iter().find(|p| p.rr == RrOutcome::Async).unwrap();
    let i = u.people.iter().find(|p| p.rr == RrOutcome::Instant).unwrap();
    let mut out = Vec::new();
    let mut push = |s: String| out.push(s);
    for q in [format!("email={}", i.work_email), format!("id={}", a.id)] {
        push(
            c.get(format!("{}/person/lookup?{q}", e.rocketreach.base_url))
                .header("Api-Key", &e.rocketreach.api_key)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    for _ in 0..3 {
        push(
            c.get(format!("{}/person/checkStatus?ids={}", e.rocketreach.base_url, a.id))
                .header("Api-Key", &e.rocketreach.api_key)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    push(
        c.post(format!("{}/search", e.rocketreach.base_url))
            .header("Api-Key", &e.rocketreach.api_key)
            .json(&json!({"query": {"current_title": ["engineer"]}}))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    push(
        c.post(format!("{}/api/v2/request/records/count", e.reachstream.base_url))
            .header("X-API-Key", &e.reachstream.api_key)
            .json(&json!({"filter": {"job_title_level": {"0": "C-Suite"}}}))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    for email in [
        i.work_email.as_str(),
        "someone@unknown-domain.example",
        "info@gmail.com",
    ] {
        push(
            c.post(format!("{}/verify-instant", e.leadrocks.base_url))
                .header("Authorization", &e.leadrocks.api_key)
                .json(&json!({"email": email}))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    push(
        c.get(format!("{}/lists/1/contacts?page=3&limit=20", e.graph8.base_url))
            .bearer_auth(&e.graph8.api_key)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    push(
        c.get(format!("{}/contacts/7", e.graph8.base_url))
            .bearer_auth(&e.graph8.api_key)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    out
}

#[tokio::test]
async fn same_seed_same_answers_across_restarts() {
    let first = start(|c| c.seed = 7).await;
    let a = script(&first).await;
    first.shutdown().await;
    let second = start(|c| c.seed = 7).await;
    let b = script(&second).await;
    assert_eq!(a, b);
    assert!(
        a[4].contains("\"complete\""),
        "the async lookup completes within the script"
    );
    let other = start(|c| c.seed = 8).await;
    assert_ne!(script(&other).await, a, "another seed is another universe");
}

#[tokio::test]
async fn the_universe_is_consistent_across_vendors() {
    let sb = start_unlimited(|_| {}).await;
    let u = sb.universe();
    let p = u
        .people
        .iter()
        .find(|p| p.rr == RrOutcome::Instant && p.email_status == EmailStatus::Valid)
        .unwrap();
    let c = u.company_of(p);
    let e = sb.endpoints().clone();
    let (_, rr) = json(
        client()
            .get(format!(
                "{}/person/lookup?email={}",
                e.rocketreach.base_url, p.work_email
            ))
            .header("Api-Key", &e.rocketreach.api_key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let domain = rr["current_employer_domain"].as_str().unwrap();
    assert_eq!(domain, c.domain);
    let (_, rs) = json(
        client()
            .post(format!("{}/api/v2/request/records/count", e.reachstream.base_url))
            .header("X-API-Key", &e.reachstream.api_key)
            .json(&json!({"filter": {"company_website": {"0": domain}}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        rs["data"]["counts"].as_u64().unwrap() >= 1,
        "ReachStream knows the employer"
    );
    assert_eq!(rs["data"]["records"][0]["company_company_name"], json!(c.name));
    let (_, lr) = json(
        client()
            .post(format!("{}/verify-instant", e.leadrocks.base_url))
            .header("Authorization", &e.leadrocks.api_key)
            .json(&json!({"email": p.work_email}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(lr["data"]["status"], "valid");
    let first = &u.people[0].work_email;
    let (_, g8) = json(
        client()
            .get(format!("{}/contacts?list_id=1&email={first}", e.graph8.base_url))
            .bearer_auth(&e.graph8.api_key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        g8["data"][0]["work_email"],
        json!(first),
        "graph8's Prospects hold universe people"
    );
}

#[tokio::test]
async fn admin_stats_reset_and_config_over_http_and_in_process() {
    let sb = start_unlimited(|_| {}).await;
    let e = sb.endpoints().clone();
    let p = sb
        .universe()
        .people
        .iter()
        .find(|p| p.rr == RrOutcome::Instant)
        .unwrap()
        .clone();
    for _ in 0..2 {
        client()
            .get(format!(
                "{}/person/lookup?email={}",
                e.rocketreach.base_url, p.work_email
            ))
            .header("Api-Key", &e.rocketreach.api_key)
            .send()
            .await
            .unwrap();
    }
    client()
        .get(format!(
            "{}/person/lookup?email={}",
            e.rocketreach.base_url, p.work_email
        ))
        .send()
        .await
        .unwrap();
    // Admin lives on every vendor's port.
    let (s, http) = json(
        client()
            .get(format!("{}/__sandbox/stats", sb.root_url(Vendor::Graph8)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    let local = sb.stats();
    assert_eq!(http, serde_json::to_value(&local).unwrap());
    assert_eq!(
        local.calls_with_status(Vendor::RocketReach, "GET /api/v2/person/lookup", 200),
        2
    );
    assert_eq!(
        local.calls_with_status(Vendor::RocketReach, "GET /api/v2/person/lookup", 401),
        1
    );
    assert_eq!(local.paid(&format!("rocketreach:lookup:email={}", p.work_email)), 2);
    assert_eq!(local.paid_twice().len(), 1, "the same lookup was bought twice");
    assert_eq!(http["credits_charged"]["rocketreach"]["rr_sandbox_key"], 2);

    let root = sb.root_url(Vendor::LeadRocks);
    let (s, v) = json(
        client()
            .post(format!("{root}/__sandbox/config"))
            .json(&json!({"leadrocks": {"credits": 1}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["leadrocks"]["credits"].clone()), (200, json!(1)));
    let (s, v) = json(
        client()
            .post(format!("{root}/__sandbox/config"))
            .json(&json!({"leadrocks": {"credit": 1}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("credit"), "{v}");
    let (s, _) = json(
        client()
            .post(format!("{root}/__sandbox/config"))
            .json(&json!({"seed": 99}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 400, "the universe is fixed while running");
    let (_, v) = leadrocks_credits(&e).await;
    assert_eq!(v["data"]["credits"], 1);

    let (s, _) = json(client().post(format!("{root}/__sandbox/reset")).send().await.unwrap()).await;
    assert_eq!(s, 200);
    let st = sb.stats();
    assert!(st.paid_requests.is_empty() && st.calls.is_empty());
    assert_eq!(st.credits_charged(Vendor::RocketReach), 0);
    sb.update(|c| c.leadrocks.credits = leadpipe::sandbox::Credits::Amount(5))
        .unwrap();
    assert_eq!(sb.stats().credits_remaining["leadrocks"]["lr_sandbox_token"], Some(5));
    let (s, v) = json(
        client()
            .get(format!("{root}/__sandbox/people?limit=3"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["people"].as_array().unwrap().len()), (200, 3));
}

#[tokio::test]
async fn faults_errors_drops_truncation_latency_and_slowness() {
    let sb = start_unlimited(|c| c.graph8.faults.error_rate = 1.0).await;
    let e = sb.endpoints().clone();
    let (s, v) = json(
        client()
            .get(format!("{}/lists", e.graph8.base_url))
            .bearer_auth(&e.graph8.api_key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, v["detail"].is_string()),
        (500, true),
        "5xx in the vendor's envelope"
    );
    sb.configure(&json!({"graph8": {"faults": {"error_rate": 0.0}}, "reachstream": {"faults": {"error_rate": 1.0, "error_status": 503}}})).unwrap();
    let (s, v) = json(
        client()
            .post(format!(
                "{}/api/v2/retrive/users/active/credits",
                e.reachstream.base_url
            ))
            .header("X-API-Key", &e.reachstream.api_key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["status"].clone()), (503, json!(503)));
    let (s, v) = json(
        client()
            .post(format!("{}/verify-instant", e.leadrocks.base_url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (401, json!(100)),
        "other vendors unaffected"
    );

    sb.configure(&json!({"reachstream": {"faults": {"error_rate": 0.0}}, "leadrocks": {"faults": {"drop_rate": 1.0}}}))
        .unwrap();
    let r = client()
        .get(format!("{}/getcredits", e.leadrocks.base_url))
        .header("Authorization", &e.leadrocks.api_key)
        .send()
        .await;
    let failed = match r {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "a dropped connection is an error for the client");

    sb.configure(&json!({"leadrocks": {"faults": {"drop_rate": 0.0, "truncate_rate": 1.0}}}))
        .unwrap();
    let text = client()
        .get(format!("{}/getcredits", e.leadrocks.base_url))
        .header("Authorization", &e.leadrocks.api_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "truncated: {text}");

    sb.update(|c| {
        c.leadrocks.faults.truncate_rate = 0.0;
        c.rocketreach.faults.latency = Latency::Fixed { ms: 80 };
    })
    .unwrap();
    let t = Instant::now();
    client()
        .get(format!("{}/account", e.rocketreach.base_url))
        .header("Api-Key", &e.rocketreach.api_key)
        .send()
        .await
        .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(80));

    sb.update(|c| {
        c.rocketreach.faults.latency = Latency::None;
        c.rocketreach.faults.slow_rate = 1.0;
        c.rocketreach.faults.slow_ms = 2_000;
    })
    .unwrap();
    let r = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap()
        .get(format!("{}/account", e.rocketreach.base_url))
        .send()
        .await;
    assert!(r.unwrap_err().is_timeout());
    let f = sb.stats().faults;
    assert_eq!(
        (
            f["graph8"].error,
            f["leadrocks"].dropped,
            f["leadrocks"].truncated,
            f["rocketreach"].slow
        ),
        (1, 1, 1, 1)
    );
}

/// A throttling burst answers every request with the vendor's own rate-limit
/// reply until it has passed, `Retry-After` counting down where the vendor sends one.
#[tokio::test]
async fn a_throttling_burst_refuses_everything_until_it_has_passed() {
    let sb = start_unlimited(|c| {
        c.rocketreach.faults.throttle_rate = 1.0;
        c.rocketreach.faults.throttle_ms = 1_500;
        c.leadrocks.faults.throttle_rate = 1.0;
    })
    .await;
    let e = sb.endpoints().clone();
    let account = || {
        client()
            .get(format!("{}/account", e.rocketreach.base_url))
            .header("Api-Key", &e.rocketreach.api_key)
            .send()
    };
    // The burst begins when the sandbox sees the first request: after it was
    // sent, before its answer came back. Both bounds are known here, so the
    // checks below hold however slowly the machine runs.
    let burst = Duration::from_millis(1_500);
    let first_sent = Instant::now();
    let mut first_answered = None;
    for _ in 0..3 {
        let r = account().await.unwrap();
        first_answered.get_or_insert_with(Instant::now);
        assert_eq!(r.status(), 429);
        let secs: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=2).contains(&secs), "Retry-After {secs}");
    }
    sb.update(|c| c.rocketreach.faults.throttle_rate = 0.0).unwrap();
    sb.update(|c| c.rocketreach.faults.error_rate = 0.0001).unwrap(); // keeps the fault layer on
    let sent = Instant::now();
    let r = account().await.unwrap();
    if sent < first_sent + burst {
        assert_eq!(r.status(), 429, "the burst outlives a config change");
    }
    let fourth_limited = u64::from(r.status() == 429);
    tokio::time::sleep_until((first_answered.unwrap() + burst + Duration::from_millis(50)).into()).await;
    assert_eq!(account().await.unwrap().status(), 200, "over after throttle_ms");

    let (s, v) = leadrocks_credits(&e).await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (403, json!(111)),
        "LeadRocks' limit answer: {v}"
    );

    let stats = sb.stats();
    assert_eq!(
        (stats.faults["rocketreach"].bursts, stats.rate_limited["rocketreach"]),
        (1, 3 + fourth_limited)
    );
    assert_eq!(stats.faults["leadrocks"].bursts, 1);
}

#[tokio::test]
async fn oversized_and_malformed_requests_get_vendor_shaped_400s() {
    let sb = start_unlimited(|_| {}).await;
    let e = sb.endpoints().clone();
    let big = vec![b'x'; 5 * 1024 * 1024];
    let (s, v) = json(
        client()
            .post(format!("{}/search", e.rocketreach.base_url))
            .header("Api-Key", &e.rocketreach.api_key)
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(s == 413 || s == 400, "{s}");
    assert!(v["detail"].is_string());
    let (s, v) = json(
        client()
            .put(format!("{}/contacts/assert/batch", e.graph8.base_url))
            .bearer_auth(&e.graph8.api_key)
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["detail"].is_string()), (413, true));
    let (s, v) = json(
        client()
            .put(format!("{}/contacts/assert/batch", e.graph8.base_url))
            .bearer_auth(&e.graph8.api_key)
            .header("content-type", "application/json")
            .body("{\"list_id\": 1, ")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(v["detail"][0]["type"], "value_error.jsondecode");
    let (s, v) = json(
        client()
            .post(format!("{}/lists", e.graph8.base_url))
            .bearer_auth(&e.graph8.api_key)
            .json(&json!([1, 2]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["detail"][0]["type"].clone()), (422, json!("type_error.dict")));
    let (s, v) = json(
        client()
            .put(format!("{}/lists", e.graph8.base_url))
            .bearer_auth(&e.graph8.api_key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["detail"].is_string()), (405, true));
    let (s, v) = json(
        client()
            .post(format!("{}/api/v2/async/records/filter", e.reachstream.base_url))
            .header("X-API-Key", &e.reachstream.api_key)
            .body(vec![b'{'; 2 * 1024 * 1024])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["status"].clone()), (413, json!(413)));
}

#[test]
fn config_files_load_from_toml_and_json_and_reject_unknown_keys() {
    let dir = std::env::temp_dir().join(format!("leadpipe-sandbox-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml_path = dir.join("sandbox.toml");
    std::fs::write(
        &toml_path,
        "seed = 9\n[graph8]\nprospects_size = 10\nrate_limit = []\n[leadrocks]\ncredits = \"unlimited\"\n",
    )
    .unwrap();
    let c = SandboxConfig::from_file(&toml_path).unwrap();
    assert_eq!((c.seed, c.graph8.prospects_size, c.graph8.rate_limit.len()), (9, 10, 0));
    let json_path = dir.join("sandbox.json");
    std::fs::write(&json_path, r#"{"rocketreach": {"lifecycle": {"polls": 5}}}"#).unwrap();
    assert_eq!(
        SandboxConfig::from_file(&json_path)
            .unwrap()
            .rocketreach
            .lifecycle
            .polls,
        5
    );
    std::fs::write(&json_path, r#"{"rocketreach": {"lifecycle": {"pols": 5}}}"#).unwrap();
    let err = SandboxConfig::from_file(&json_path).unwrap_err().to_string();
    assert!(
        err.contains("rocketreach.lifecycle") && err.contains("sandbox.json"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// LeadRocks' `GET /getcredits` with the sandbox's key.
async fn leadrocks_credits(e: &leadpipe::sandbox::Endpoints) -> (u16, Value) {
    json(
        client()
            .get(format!("{}/getcredits", e.leadrocks.base_url))
            .header("Authorization", &e.leadrocks.api_key)
            .send()
            .await
            .unwrap(),
    )
    .await
}
