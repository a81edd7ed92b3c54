use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use leadpipe::sandbox::{Credits, Plan, RateWindow, RrOutcome, Sandbox, Vendor};
use serde_json::{Value, json};

use super::{Receiver, client, json, start_unlimited};
use crate::support::rr_people;

const KEY: &str = "rr_sandbox_key";

fn person(sb: &Sandbox, outcome: RrOutcome) -> leadpipe::sandbox::Person {
    sb.universe()
        .people
        .iter()
        .find(|p| p.rr == outcome && p.phone.is_some() && p.linkedin_url.is_some())
        .unwrap()
        .clone()
}

async fn get(sb: &Sandbox, path_query: &str) -> (u16, Value) {
    let url = format!("{}{path_query}", sb.endpoints().rocketreach.base_url);
    json(client().get(url).header("Api-Key", KEY).send().await.unwrap()).await
}

#[tokio::test]
async fn lookup_by_every_identity_returns_one_complete_profile() {
    let sb = start_unlimited(|_| {}).await;
    let p = person(&sb, RrOutcome::Instant);
    let c = sb.universe().company_of(&p).clone();
    let phone = p.phone.as_ref().unwrap().e164.clone();
    let li = p.linkedin_url.clone().unwrap();
    let queries = [
        format!("email={}", p.work_email.to_uppercase()),
        format!("name={}&current_employer={}", p.name, c.name),
        format!("name={} {}&current_employer={}", p.first_name, p.last_name, c.domain),
        format!("linkedin_url={li}"),
        format!("linkedin_ext_url={li}/"),
        format!("id={}", p.id),
        format!("phone={}", phone.replace('+', "%2B")),
    ];
    for q in queries {
        let resp = client()
            .get(format!("{}/person/lookup?{q}", sb.endpoints().rocketreach.base_url))
            .header("Api-Key", KEY)
            .send()
            .await
            .unwrap();
        assert!(
            resp.headers().get("rr-request-id").is_some(),
            "RR-Request-ID on every answer"
        );
        let (s, v) = json(resp).await;
        assert_eq!(s, 200, "{q}: {v}");
        assert!(v.is_object(), "a lookup answers one object");
        assert_eq!(v["id"], json!(p.id), "{q}");
        assert_eq!(v["status"], "complete");
        assert_eq!(v["current_employer"], json!(c.name));
        assert_eq!(v["current_employer_domain"], json!(c.domain));
        assert_eq!(v["current_work_email"], json!(p.work_email));
        assert!(v["links"].is_object());
        let e = &v["emails"][0];
        for k in ["email", "smtp_valid", "type", "grade", "last_validation_check"] {
            assert!(e.get(k).is_some(), "emails[].{k}");
        }
        let ph = &v["phones"][0];
        for k in ["number", "e164", "country_code", "type", "grade", "recommended"] {
            assert!(ph.get(k).is_some(), "phones[].{k}");
        }
    }
    // The deprecated api_key query parameter also authenticates; the v1 path is served.
    let (s, v) = json(
        client()
            .get(format!(
                "{}/person/lookup?email={}&api_key={KEY}",
                sb.endpoints().rocketreach.base_url,
                p.work_email
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["id"].clone()), (200, json!(p.id)));
    let root = sb.root_url(Vendor::RocketReach);
    let (s, _) = json(
        client()
            .get(format!("{root}/v1/api/lookupProfile?email={}", p.work_email))
            .header("Api-Key", KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    // profile-company/lookup adds the company.
    let (s, v) = get(&sb, &format!("/profile-company/lookup?email={}", p.work_email)).await;
    assert_eq!(s, 200);
    assert_eq!(v["company"]["domain"], json!(c.domain));
}

#[tokio::test]
async fn auth_and_validation_errors_have_the_vendor_bodies() {
    let sb = start_unlimited(|_| {}).await;
    let base = &sb.endpoints().rocketreach.base_url;
    let (s, v) = json(
        client()
            .get(format!("{base}/person/lookup?email=a@b.co"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(
        v["detail"],
        "Anonymous requests are not allowed. Please use the test API key."
    );
    assert_eq!(v["error_code"], "authentication_failed");
    assert_eq!(
        v["message"], v["detail"],
        "the docs' {{status,message}} shape is served too"
    );
    assert_eq!(v["status"], 401);
    let (s, v) = json(
        client()
            .get(format!("{base}/account"))
            .header("Api-Key", "nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["detail"].as_str().unwrap()), (401, "Invalid API key"));

    let (s, v) = get(&sb, "/person/lookup?name=Jane%20Doe").await;
    assert_eq!(s, 400);
    assert!(v["current_employer"].is_array(), "{v}");
    let (s, v) = get(&sb, "/person/lookup?current_employer=Acme").await;
    assert_eq!((s, v["name"].is_array()), (400, true));
    let (s, v) = get(&sb, "/person/lookup?email=x@y.co&lookup_type=gold").await;
    assert_eq!((s, v["lookup_type"].is_array()), (400, true));
    let (s, v) = get(&sb, "/person/lookup?id=abc").await;
    assert_eq!((s, v["id"].is_array()), (400, true));
    let (s, v) = get(&sb, "/person/lookup").await;
    assert_eq!((s, v["detail"].is_string()), (400, true));
    let (s, v) = get(&sb, "/person/lookup?email=nobody@nowhere-at-all.example").await;
    assert_eq!((s, v["detail"].is_string()), (404, true));
    let nf = person(&sb, RrOutcome::NotFound);
    let (s, _) = get(&sb, &format!("/person/lookup?email={}", nf.work_email)).await;
    assert_eq!(s, 404, "people RocketReach does not know are not found");
    let (s, v) = get(&sb, "/no/such/path").await;
    assert_eq!((s, v["detail"].is_string()), (404, true));
    let (s, v) = get(&sb, "/universal/person/lookup").await;
    assert_eq!((s, v["detail"].is_string()), (403, true));
    let (s, v) = get(&sb, "/person/checkStatus").await;
    assert_eq!((s, v["ids"].is_array()), (400, true));
    let (s, v) = get(&sb, "/person/checkStatus?ids=1,x").await;
    assert_eq!((s, v["ids"].is_array()), (400, true));
}

#[tokio::test]
async fn async_lookup_walks_the_lifecycle_by_polls_with_both_id_styles() {
    let sb = start_unlimited(|c| c.rocketreach.lifecycle.polls = 3).await;
    let a = person(&sb, RrOutcome::Async);
    let f = person(&sb, RrOutcome::Failed);
    let (_, v) = get(&sb, &format!("/person/lookup?email={}", a.work_email)).await;
    assert_eq!(v["status"], "waiting");
    assert_eq!(v["emails"], json!([]), "no contact data before complete");
    let (_, v) = get(&sb, &format!("/person/lookup?email={}", f.work_email)).await;
    assert_eq!(v["status"], "waiting");
    let (_, v) = get(&sb, &format!("/person/checkStatus?ids={}&ids={}", a.id, f.id)).await;
    assert!(v.is_array());
    assert_eq!(v[0]["status"], "searching");
    assert_eq!(v[1]["status"], "searching");
    let (_, v) = get(&sb, &format!("/person/checkStatus?ids={},{}", a.id, f.id)).await;
    assert_eq!(v[0]["status"], "progress");
    let (_, v) = get(&sb, &format!("/person/checkStatus?ids={},{}", a.id, f.id)).await;
    assert_eq!(v[0]["status"], "complete");
    assert_eq!(v[0]["current_work_email"], json!(a.work_email));
    assert_eq!(v[1]["status"], "failed");
    assert_eq!(v[1]["emails"], json!([]));
    // Terminal states stay terminal; a lookup now answers complete at once.
    let (_, v) = get(&sb, &format!("/person/lookup?email={}", a.work_email)).await;
    assert_eq!(v["status"], "complete");
    let stats = sb.stats();
    assert_eq!(stats.paid(&format!("rocketreach:lookup:email={}", a.work_email)), 2);
    assert_eq!(
        stats.paid(&format!("rocketreach:lookup:email={}", f.work_email)),
        0,
        "a failed lookup is not charged"
    );
}

#[tokio::test]
async fn async_lookup_completes_by_time() {
    let sb = start_unlimited(|c| {
        c.rocketreach.lifecycle.polls = 0;
        c.rocketreach.lifecycle.after_ms = 150;
    })
    .await;
    let a = person(&sb, RrOutcome::Async);
    let (_, v) = get(&sb, &format!("/person/lookup?id={}", a.id)).await;
    assert_ne!(v["status"], "complete");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, v) = get(&sb, &format!("/person/checkStatus?ids={}", a.id)).await;
    assert_eq!(v[0]["status"], "complete");
}

#[tokio::test]
async fn credits_run_out_with_403_and_each_lookup_is_counted() {
    let sb = start_unlimited(|c| c.rocketreach.credits = Credits::Amount(2)).await;
    let ps: Vec<_> = rr_people(&sb, RrOutcome::Instant, 3);
    for p in &ps[..2] {
        assert_eq!(get(&sb, &format!("/person/lookup?email={}", p.work_email)).await.0, 200);
    }
    let (s, v) = get(&sb, &format!("/person/lookup?email={}", ps[2].work_email)).await;
    assert_eq!(s, 403);
    assert_eq!(v["error_code"], "credits_exhausted");
    let (_, acc) = get(&sb, "/account").await;
    assert_eq!(acc["lookup_credit_balance"], 0);
    assert_eq!(acc["credit_usage"][0]["used"], 2);
    let st = sb.stats();
    assert_eq!(st.credits_charged(Vendor::RocketReach), 2);
    assert_eq!(st.paid(&format!("rocketreach:lookup:email={}", ps[0].work_email)), 1);
    assert!(st.paid_twice().is_empty());
}

#[tokio::test]
async fn global_limit_bursts_into_429_with_retry_after_and_recovers() {
    let sb = start_unlimited(|c| c.rocketreach.rate_limit = vec![RateWindow { limit: 5, per_ms: 300 }]).await;
    let mut codes = Vec::new();
    let mut retry_after = None;
    for _ in 0..12 {
        let r = client()
            .get(format!("{}/account", sb.endpoints().rocketreach.base_url))
            .header("Api-Key", KEY)
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
            let (_, v) = json(r).await;
            assert!(
                v["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with("Request was throttled. Expected available in ")
            );
            codes.push(429);
        } else {
            codes.push(r.status().as_u16());
        }
    }
    assert!(codes.contains(&429), "{codes:?}");
    let ra: u64 = retry_after.expect("Retry-After").parse().expect("integer seconds");
    assert!(ra >= 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(get(&sb, "/account").await.0, 200);
    assert!(sb.stats().rate_limited["rocketreach"] > 0);
}

#[tokio::test]
async fn plan_quota_per_minute_bursts_into_429_and_recovers() {
    let sb = start_unlimited(|c| {
        c.rocketreach.plan = Plan::Essentials; // lookup 15/min
        c.rocketreach.plan_time_scale = 0.005; // one minute = 300 ms
    })
    .await;
    let p = person(&sb, RrOutcome::Instant);
    let mut n429 = 0;
    for _ in 0..20 {
        let (s, _) = get(&sb, &format!("/person/lookup?email={}", p.work_email)).await;
        if s == 429 {
            n429 += 1;
        }
    }
    assert!(
        (1..=5).contains(&n429),
        "at most 15 of 20 pass within the window, got {n429} throttled"
    );
    let (s, _) = get(&sb, "/account").await;
    assert_eq!(s, 200, "plan lookup quota does not limit other APIs");
    tokio::time::sleep(Duration::from_millis(320)).await;
    assert_eq!(get(&sb, &format!("/person/lookup?email={}", p.work_email)).await.0, 200);
}

fn verify(secret: &str, body: &[u8], sig: &str) -> bool {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let want = base64::engine::general_purpose::STANDARD.decode(sig).unwrap();
    mac.verify_slice(&want).is_ok()
}

#[tokio::test]
async fn webhook_delivers_signed_profiles_and_retries_after_500() {
    let rx = Receiver::start(1).await;
    let url = rx.url.clone();
    let sb = start_unlimited(move |c| {
        c.rocketreach.webhook.url = Some(url);
        c.rocketreach.webhook.active = true;
        c.rocketreach.webhook.delay_ms = 20;
        c.rocketreach.webhook.retry_schedule_ms = vec![0, 50, 50];
    })
    .await;
    let a = person(&sb, RrOutcome::Async);
    let (_, v) = get(&sb, &format!("/person/lookup?email={}", a.work_email)).await;
    assert_ne!(v["status"], "complete");
    let hits = rx.wait_for(2).await;
    assert_eq!(hits[0].2, 500);
    assert_eq!(hits[1].2, 200);
    let (headers, body, _) = &hits[1];
    let sig = headers.get("x-rocketreach-signature").unwrap().to_str().unwrap();
    assert!(
        verify("rr_webhook_secret", body, sig),
        "signature is base64 HMAC-SHA256 of the raw body"
    );
    assert!(headers.get("rr-request-id").is_some());
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["id"], json!(a.id));
    assert_eq!(v["status"], "complete");
    assert_eq!(v["profile_list"]["name"], "API Lookups");
    let w = sb.stats().webhook(Vendor::RocketReach);
    assert_eq!((w.delivered, w.failed_attempts), (1, 1));
    // After delivery the lookup is complete for pollers too.
    let (_, v) = get(&sb, &format!("/person/checkStatus?ids={}", a.id)).await;
    assert_eq!(v[0]["status"], "complete");
}

#[tokio::test]
async fn bulk_lookup_delivers_a_list_by_webhook_only() {
    let rx = Receiver::start(0).await;
    let sb = start_unlimited(|_| {}).await;
    let base = sb.endpoints().rocketreach.base_url.clone();
    let ps: Vec<_> = rr_people(&sb, RrOutcome::Instant, 2);
    let body = json!({"queries": [{"email": ps[0].work_email}, {"id": ps[1].id, "metadata": {"row": 7}}, {"email": "ghost@nowhere.example"}], "webhook_id": 1});
    // No webhook configured yet: 400.
    let (s, v) = json(
        client()
            .post(format!("{base}/bulkLookup"))
            .header("Api-Key", KEY)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    let no_id = json!({"queries": [{"email": ps[0].work_email}]});
    let (s, _) = json(
        client()
            .post(format!("{base}/bulkLookup"))
            .header("Api-Key", KEY)
            .json(&no_id)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 400);
    sb.configure(&json!({"rocketreach": {"webhook": {"url": rx.url, "delay_ms": 0, "retry_schedule_ms": [0]}}}))
        .unwrap();
    let resp = client()
        .post(format!("{base}/bulkLookup"))
        .header("Api-Key", KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("rr-request-id").is_some());
    let (s, v) = json(resp).await;
    assert_eq!(s, 200, "{v}");
    let hits = rx.wait_for(1).await;
    let list: Value = serde_json::from_slice(&hits[0].1).unwrap();
    let list = list.as_array().expect("bulk delivers a list");
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["status"], "complete");
    assert_eq!(list[1]["metadata"], json!({"row": 7}));
    assert_eq!(list[2]["status"], "failed");
    assert_eq!(
        sb.stats().paid(&format!("rocketreach:bulk:email={}", ps[0].work_email)),
        1
    );
    // Form encoding works too; more than 100 queries does not.
    let form = [
        (
            "queries",
            serde_json::to_string(&json!([{"email": ps[0].work_email}])).unwrap(),
        ),
        ("webhook_id", "1".into()),
    ];
    let (s, _) = json(
        client()
            .post(format!("{base}/bulkLookup"))
            .header("Api-Key", KEY)
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    let many: Vec<Value> = (0..101).map(|i| json!({"id": 100_000 + i})).collect();
    let (s, v) = json(
        client()
            .post(format!("{base}/bulkLookup"))
            .header("Api-Key", KEY)
            .json(&json!({"queries": many, "webhook_id": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["queries"].is_array()), (400, true));
    let (s, v) = json(
        client()
            .post(format!("{base}/bulkLookup"))
            .header("Api-Key", KEY)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["detail"].is_string()), (400, true));
}

#[tokio::test]
async fn account_search_and_company_endpoints() {
    let sb = start_unlimited(|_| {}).await;
    let base = sb.endpoints().rocketreach.base_url.clone();
    for path in ["/account", "/account/"] {
        let (s, v) = get(&sb, path).await;
        assert_eq!(s, 200);
        for k in [
            "id",
            "state",
            "credit_usage",
            "rate_limits",
            "lookup_credit_balance",
            "plan",
            "api_key",
        ] {
            assert!(v.get(k).is_some(), "account.{k}");
        }
    }
    let p = person(&sb, RrOutcome::Instant);
    let c = sb.universe().company_of(&p).clone();
    // SDK search: POST /search → {profiles, pagination}
    let q = json!({"query": {"current_employer": [c.name]}, "start": 1, "page_size": 5});
    let (s, v) = json(
        client()
            .post(format!("{base}/search"))
            .header("Api-Key", KEY)
            .json(&q)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 201);
    assert!(
        v["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["current_employer"] == json!(c.name))
    );
    assert!(v["pagination"]["total"].as_u64().unwrap() >= 1);
    // OAS search: POST /person/search → 201 + array
    let (s, v) = json(
        client()
            .post(format!("{base}/person/search"))
            .header("Api-Key", KEY)
            .json(&q)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 201);
    assert!(v.is_array());
    assert!(v[0]["teaser"].is_object());
    let (s, v) = json(
        client()
            .post(format!("{base}/search"))
            .header("Api-Key", KEY)
            .json(&json!({"query": {}, "page_size": 500}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["page_size"].is_array()), (400, true));
    // Company lookup (with and without trailing slash), search.
    let (s, v) = get(&sb, &format!("/company/lookup/?domain={}", c.domain)).await;
    assert_eq!((s, v["name"].clone()), (200, json!(c.name)));
    let (s, _) = get(&sb, &format!("/company/lookup?name={}", c.name)).await;
    assert_eq!(s, 200);
    let (s, _) = get(&sb, "/company/lookup?domain=nothing-here.example").await;
    assert_eq!(s, 404);
    let (s, v) = json(
        client()
            .post(format!("{base}/searchCompany"))
            .header("Api-Key", KEY)
            .json(&json!({"query": {"domain": [c.domain]}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["companies"][0]["domain"], json!(c.domain));
    // Key rotation: the old key stops working, the new one works.
    let (s, v) = json(
        client()
            .post(format!("{base}/account/key"))
            .header("Api-Key", KEY)
            .form(&[("api_key", KEY)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    let new_key = v["api_key"].as_str().unwrap().to_string();
    assert_eq!(
        client()
            .get(format!("{base}/account"))
            .header("Api-Key", KEY)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        client()
            .get(format!("{base}/account"))
            .header("Api-Key", new_key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
