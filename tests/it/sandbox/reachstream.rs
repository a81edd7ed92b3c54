use std::time::Duration;

use leadpipe::sandbox::{Credits, EmailStatus, RateWindow, Sandbox, Vendor, WebhookStats};
use serde_json::{Value, json};

use super::{Receiver, client, json, start, start_unlimited};

const KEY: &str = "rs_sandbox_key";
const SECRET: &str = "rs_webhook_secret";

async fn post(sb: &Sandbox, path: &str, body: Option<Value>, secret: Option<&str>) -> (u16, Value) {
    let mut r = client()
        .post(format!("{}{path}", sb.endpoints().reachstream.base_url))
        .header("X-API-Key", KEY)
        .header("Accept", "application/json");
    if let Some(s) = secret {
        r = r.header("webhook_secret_key", s);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    json(r.send().await.unwrap()).await
}

/// A filter on the country of some company with valid-email people.
fn filter_for(sb: &Sandbox) -> (Value, usize) {
    let u = sb.universe();
    let p = u.people.iter().find(|p| p.email_status == EmailStatus::Valid).unwrap();
    let c = u.company_of(p);
    let n = u
        .people
        .iter()
        .filter(|q| q.company == p.company && q.email_status == EmailStatus::Valid)
        .count();
    (
        json!({"company_website": {"0": c.domain}, "company_address_state": {}}),
        n,
    )
}

#[tokio::test]
async fn auth_presets_credits_and_counts() {
    let sb = start_unlimited(|_| {}).await;
    let base = sb.endpoints().reachstream.base_url.clone();
    let (s, v) = json(
        client()
            .post(format!("{base}/api/v2/retrive/users/active/credits"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, v),
        (401, json!({"status": 401, "message": "Unauthorized", "data": null}))
    );
    let (s, v) = json(
        client()
            .post(format!("{base}/api/v2/retrive/users/active/credits"))
            .header("X-API-Key", "bad")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["message"].clone()), (401, json!("Unauthorized")));

    let (s, v) = post(&sb, "/api/v2/retrive/users/active/credits", None, None).await;
    assert_eq!(
        (s, v["status"].clone(), v["data"]["available_credit"].clone()),
        (200, json!(200), json!(10_000))
    );

    let (s, v) = json(
        client()
            .get(format!("{base}/api/v2/predefined/records/preset-values?job_title=dev"))
            .header("X-API-Key", KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["message"].clone()), (200, json!("Success")));
    let titles: Vec<String> = serde_json::from_value(v["data"].clone()).unwrap();
    assert!(
        titles.iter().any(|t| t == "DevOps Engineer") && titles.iter().all(|t| t.to_lowercase().contains("dev")),
        "{titles:?}"
    );
    let (s, _) = json(
        client()
            .get(format!("{base}/api/v2/predefined/records/preset-values"))
            .header("X-API-Key", KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 400);
    let (s, v) = json(
        client()
            .get(format!("{base}/api/v2/predefined/records/preset-values?job_title=zzzz"))
            .header("X-API-Key", KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["message"].clone()), (404, json!("Not Found")));
    // The SDK's public predefined lists.
    let v: Value = client()
        .get(format!("{base}/v1/predefined/retrieve-data/get-emp-size"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v.as_array().unwrap().iter().any(|x| x == "10 to 50"));

    let (filter, n) = filter_for(&sb);
    for path in ["/api/v2/request/records/count", "/api/v2/async/records/filter/count"] {
        let (s, v) = post(&sb, path, Some(json!({"filter": filter})), None).await;
        assert_eq!(s, 200, "{path}: {v}");
        assert!(v["data"]["counts"].as_u64().unwrap() as usize >= n);
        let recs = v["data"]["records"].as_array().unwrap();
        assert!(recs.len() <= 2);
        assert_eq!(recs[0]["contact_name"], "xxxxx");
        assert_eq!(recs[0]["contact_email_1"], Value::Null);
        assert_eq!(
            recs[0].as_object().unwrap().len(),
            31,
            "28 contract fields + contact_address_*"
        );
    }
    let (s, v) = post(&sb, "/api/v2/request/records/count", Some(json!({})), None).await;
    assert_eq!(
        (s, v),
        (
            400,
            json!({"status": 400, "message": "Missing parameter filter", "data": null})
        )
    );
    let (s, _) = post(
        &sb,
        "/api/v2/request/records/count",
        Some(json!({"filter": {"job_title": ["x"]}})),
        None,
    )
    .await;
    assert_eq!(s, 400, "arrays are rejected by default");
    let (s, v) = post(&sb, "/api/v2/nope", None, None).await;
    assert_eq!((s, v["message"].clone()), (404, json!("Page Not Found")));
    let (s, v) = json(
        client()
            .post(format!("{base}/api/v2/request/records/count"))
            .header("X-API-Key", KEY)
            .header("content-type", "application/json")
            .body("{oops")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["status"].clone()), (400, json!(400)));
}

#[tokio::test]
async fn fetch_validates_then_delivers_to_the_webhook_and_charges_after() {
    let rx = Receiver::start(0).await;
    let sb = start_unlimited(|c| {
        c.reachstream.credits = Credits::Amount(500);
        c.reachstream.webhook.retry_schedule_ms = vec![0];
    })
    .await;
    let (filter, n) = filter_for(&sb);
    let body = json!({"fetchCount": 1000, "filter": filter});
    let (s, v) = post(
        &sb,
        "/api/v2/async/records/filter",
        Some(json!({"filter": filter})),
        Some(SECRET),
    )
    .await;
    assert_eq!(
        (s, v["message"].clone()),
        (400, json!("Required fetchCount and filter"))
    );
    let (s, v) = post(&sb, "/api/v2/async/records/filter", Some(body.clone()), Some(SECRET)).await;
    assert_eq!((s, v["message"].clone()), (400, json!("Webhook feature is inactive")));
    sb.configure(&json!({"reachstream": {"webhook": {"url": rx.url}}}))
        .unwrap();
    let (s, v) = post(&sb, "/api/v2/async/records/filter", Some(body.clone()), None).await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = post(&sb, "/api/v2/async/records/filter", Some(body.clone()), Some("wrong")).await;
    assert_eq!(s, 401);
    let (s, v) = post(&sb, "/api/v2/async/records/filter", Some(body), Some(SECRET)).await;
    assert_eq!(s, 402);
    assert_eq!(v["message"], "Insufficient credit balance");
    assert_eq!(
        v["data"],
        json!({"available_credit": 500, "requested_fetch_count": 1000})
    );

    let (s, v) = post(
        &sb,
        "/api/v2/async/records/filter",
        Some(json!({"fetchCount": "100", "filter": filter})),
        Some(SECRET),
    )
    .await;
    assert_eq!((s, v["message"].clone()), (200, json!("Records processing initiated")));
    let id = v["data"]["unique_processing_id"].as_u64().unwrap();
    let hits = rx.wait_for(1).await;
    let (headers, raw, _) = &hits[0];
    assert_eq!(headers.get("webhook_secret_key").unwrap(), SECRET);
    let d: Value = serde_json::from_slice(raw).unwrap();
    assert_eq!(d["unique_processing_id"], json!(id));
    assert_eq!(d["event"], "data_notification");
    let recs = d["data"].as_array().unwrap();
    assert_eq!(recs.len(), n.min(100));
    assert!(
        recs.iter().all(|r| r["contact_email_1"].is_string()),
        "only records with valid emails"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let st = sb.stats();
    assert_eq!(
        st.credits_charged(Vendor::ReachStream),
        recs.len() as u64,
        "1 credit per delivered record"
    );
    let (_, v) = post(&sb, "/api/v2/retrive/users/active/credits", None, None).await;
    assert_eq!(v["data"]["available_credit"], json!(500 - recs.len()));
}

#[tokio::test]
async fn webhook_is_redelivered_after_500_and_can_be_sent_twice() {
    let rx = Receiver::start(1).await;
    let url = rx.url.clone();
    let sb = start_unlimited(move |c| {
        c.reachstream.webhook.url = Some(url);
        c.reachstream.webhook.retry_schedule_ms = vec![0, 40, 40];
    })
    .await;
    let (filter, _) = filter_for(&sb);
    let (s, _) = post(
        &sb,
        "/api/v2/async/records/filter",
        Some(json!({"fetchCount": 3, "filter": filter})),
        Some(SECRET),
    )
    .await;
    assert_eq!(s, 200);
    let hits = rx.wait_for(2).await;
    assert_eq!((hits[0].2, hits[1].2), (500, 200));
    assert_eq!(hits[0].1, hits[1].1, "the same payload is retried");
    let w = settled_webhook_stats(&sb, |w| w.delivered == 1).await;
    assert_eq!((w.attempts, w.delivered, w.failed_attempts), (2, 1, 1));

    sb.configure(&json!({"reachstream": {"webhook": {"deliver_twice": true}}}))
        .unwrap();
    let (s, _) = post(
        &sb,
        "/api/v2/async/records/filter",
        Some(json!({"fetchCount": 3, "filter": filter})),
        Some(SECRET),
    )
    .await;
    assert_eq!(s, 200);
    let hits = rx.wait_for(4).await;
    assert_eq!(hits[2].1, hits[3].1, "a duplicate delivery");
    let w = settled_webhook_stats(&sb, |w| w.duplicates == 1).await;
    assert_eq!(w.duplicates, 1);
}

/// The webhook counters once `settled` holds (the sandbox counts a delivery
/// after the receiver's answer has reached it, a moment after the receiver
/// has seen the request), or as they are after two seconds.
async fn settled_webhook_stats(sb: &Sandbox, settled: impl Fn(&WebhookStats) -> bool) -> WebhookStats {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let w = sb.stats().webhook(Vendor::ReachStream);
        if settled(&w) || std::time::Instant::now() > deadline {
            return w;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn rate_limit_bursts_into_429_and_recovers() {
    let sb = start(|c| c.reachstream.rate_limit = vec![RateWindow { limit: 10, per_ms: 300 }]).await;
    let mut got = Vec::new();
    for _ in 0..15 {
        got.push(post(&sb, "/api/v2/retrive/users/active/credits", None, None).await);
    }
    let throttled: Vec<_> = got.iter().filter(|(s, _)| *s == 429).collect();
    assert!(!throttled.is_empty());
    assert_eq!(
        throttled[0].1,
        json!({"status": 429, "message": "Too Many Requests", "data": null})
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        post(&sb, "/api/v2/retrive/users/active/credits", None, None).await.0,
        200
    );
}
