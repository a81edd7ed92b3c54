use std::collections::HashSet;
use std::time::Duration;

use leadpipe::sandbox::{RateWindow, Sandbox};
use reqwest::Method;
use serde_json::{Value, json};

use super::{client, json, start, start_unlimited};

const KEY: &str = "g8_test_sandbox";

async fn call(sb: &Sandbox, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = client()
        .request(method, format!("{}{path}", sb.endpoints().graph8.base_url))
        .bearer_auth(KEY);
    if let Some(b) = body {
        r = r.json(&b);
    }
    json(r.send().await.unwrap()).await
}

async fn get(sb: &Sandbox, path: &str) -> (u16, Value) {
    call(sb, Method::GET, path, None).await
}

#[tokio::test]
async fn auth_errors_org_guard_and_rate_limit_headers() {
    let sb = start(|_| {}).await;
    let base = sb.endpoints().graph8.base_url.clone();
    let (s, v) = json(client().get(format!("{base}/lists")).send().await.unwrap()).await;
    assert_eq!(
        (s, v),
        (
            401,
            json!({"detail": "Missing Authorization header. Use: Authorization: Bearer <api_key>"})
        )
    );
    let (s, v) = json(
        client()
            .get(format!("{base}/lists"))
            .bearer_auth("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, v["detail"].clone()),
        (401, json!("JWT token provided instead of API key"))
    );
    let (s, v) = json(
        client()
            .get(format!("{base}/lists"))
            .bearer_auth("g8_live_other")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, v["detail"].clone()),
        (401, json!("API key not associated with an organization"))
    );
    let (s, _) = json(
        client()
            .get(format!("{base}/lists"))
            .bearer_auth("g8_live_sandbox")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "the key prefix is stripped before validation");
    let (s, _) = json(
        client()
            .get(format!("{base}/lists"))
            .bearer_auth(KEY)
            .header("X-Org-Id", "other_org")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 403);
    let r = client()
        .get(format!("{base}/lists"))
        .bearer_auth(KEY)
        .header("X-Org-Id", "ORG_SANDBOX")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert_eq!(h["x-ratelimit-limit-second"], "50");
    assert_eq!(h["x-ratelimit-limit-minute"], "1000");
    assert!(h["x-ratelimit-remaining"].to_str().unwrap().parse::<u32>().unwrap() < 1000);
    assert!(h["x-ratelimit-reset"].to_str().unwrap().parse::<u64>().unwrap() > 1_700_000_000);
}

#[tokio::test]
async fn both_windows_burst_into_429_with_retry_after_and_recover() {
    let sb = start(|c| {
        c.graph8.rate_limit = vec![
            RateWindow { limit: 5, per_ms: 200 },
            RateWindow { limit: 8, per_ms: 600 },
        ]
    })
    .await;
    let base = sb.endpoints().graph8.base_url.clone();
    let burst = |n: usize| {
        let base = base.clone();
        async move {
            let mut out = Vec::new();
            for _ in 0..n {
                let r = client()
                    .get(format!("{base}/lists"))
                    .bearer_auth(KEY)
                    .send()
                    .await
                    .unwrap();
                let ra = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
                let (s, v) = json(r).await;
                out.push((s, ra, v));
            }
            out
        }
    };
    // Per-second window.
    let got = burst(7).await;
    assert_eq!(got.iter().filter(|x| x.0 == 200).count(), 5);
    let t = got.iter().find(|x| x.0 == 429).unwrap();
    assert_eq!(t.2, json!({"detail": "Rate limit exceeded. Please slow down."}));
    assert!(t.1.as_deref().unwrap().parse::<u64>().unwrap() >= 1);
    tokio::time::sleep(Duration::from_millis(220)).await;
    // Per-minute window (8 per 600 ms here): 3 more pass, then 429 until it resets.
    let got = burst(5).await;
    assert_eq!(
        got.iter().filter(|x| x.0 == 200).count(),
        3,
        "{:?}",
        got.iter().map(|x| x.0).collect::<Vec<_>>()
    );
    tokio::time::sleep(Duration::from_millis(620)).await;
    assert_eq!(get(&sb, "/lists").await.0, 200);
}

#[tokio::test]
async fn prospects_list_pages_by_page_and_by_cursor() {
    let sb = start_unlimited(|c| {
        c.universe.people = 6_000;
        c.graph8.prospects_size = 5_000;
    })
    .await;
    let (s, v) = get(&sb, "/lists").await;
    assert_eq!(s, 200);
    let lists = v["data"].as_array().unwrap();
    assert_eq!(lists[0]["title"], "Prospects");
    assert_eq!(lists[0]["type"], "contacts");
    assert_eq!(lists[0]["total"], 5000);
    assert_eq!(lists[1]["type"], "suppressions");

    let (_, v) = get(&sb, "/lists/1/contacts").await;
    assert_eq!(
        v["pagination"],
        json!({"page": 1, "limit": 50, "total": 5000, "has_next": true, "next_cursor": "bzo1MA"})
    );
    let (_, v2) = get(&sb, "/lists/1/contacts?page=2&limit=50").await;
    let (_, v3) = get(&sb, "/lists/1/contacts?cursor=bzo1MA&page=7").await;
    assert_eq!(v2["data"], v3["data"], "cursor takes precedence over page");
    assert_eq!(v3["pagination"]["next_cursor"], "bzoxMDA");

    let mut by_page = Vec::new();
    for page in 1.. {
        let (_, v) = get(&sb, &format!("/contacts?list_id=1&page={page}&limit=200")).await;
        by_page.extend(v["data"].as_array().unwrap().iter().map(|c| c["id"].as_u64().unwrap()));
        if !v["pagination"]["has_next"].as_bool().unwrap() {
            assert_eq!(v["pagination"]["next_cursor"], Value::Null);
            break;
        }
    }
    let mut by_cursor = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/lists/1/contacts?limit=200&cursor={c}"),
            None => "/lists/1/contacts?limit=200".into(),
        };
        let (_, v) = get(&sb, &q).await;
        by_cursor.extend(v["data"].as_array().unwrap().iter().map(|c| c["id"].as_u64().unwrap()));
        match v["pagination"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(by_page.len(), 5000);
    assert_eq!(by_page, by_cursor);
    assert_eq!(by_page.iter().collect::<HashSet<_>>().len(), 5000);

    let (s, v) = get(&sb, "/lists/1/contacts?cursor=!!!").await;
    assert_eq!((s, v["type"].clone()), (400, json!("bad_request")));
    let (s, v) = get(&sb, "/lists/1/contacts?limit=201").await;
    assert_eq!(s, 422);
    assert_eq!(v["detail"][0]["loc"], json!(["query", "limit"]));
}

#[tokio::test]
async fn suppressions_list_holds_universe_emails() {
    let sb = start_unlimited(|_| {}).await;
    let (_, v) = get(&sb, "/lists/2/contacts?limit=200").await;
    let emails: HashSet<String> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["work_email"].as_str().unwrap().to_string())
        .collect();
    let flagged: HashSet<String> = sb
        .universe()
        .people
        .iter()
        .filter(|p| p.suppressed)
        .map(|p| p.work_email.clone())
        .collect();
    assert!(!emails.is_empty());
    assert_eq!(emails, flagged);
    let e = emails.iter().next().unwrap();
    let (_, v) = get(&sb, &format!("/contacts?list_id=2&email={}", e.to_uppercase())).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn contacts_crud_assert_and_batch() {
    let sb = start_unlimited(|_| {}).await;
    let (s, v) = call(
        &sb,
        Method::POST,
        "/contacts",
        Some(json!({"first_name": "Ann", "work_email": "ann@newco.example"})),
    )
    .await;
    assert_eq!(
        (s, v),
        (400, json!({"detail": "list_id is required when creating contacts"}))
    );
    let (s, v) = call(
        &sb,
        Method::POST,
        "/contacts",
        Some(json!({"list_id": 1, "work_email": "not-an-email"})),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(
        v["detail"][0],
        json!({"loc": ["body", "work_email"], "msg": "value is not a valid email address", "type": "value_error.email"})
    );
    let (s, v) = call(&sb, Method::POST, "/contacts", Some(json!({"list_id": 1, "first_name": "Ann", "work_email": "ann@newco.example", "company_domain": "newco.example"}))).await;
    assert_eq!(
        (s, v),
        (
            201,
            json!({"data": {"status": "ok", "count": 1, "validation_errors": []}})
        )
    );
    let (_, v) = get(&sb, "/contacts?email=ann@newco.example").await;
    let id = v["data"][0]["id"].as_u64().unwrap();
    let (s, v) = get(&sb, &format!("/contacts/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["company"]["domain"], "newco.example");
    for k in [
        "full_name",
        "personal_emails",
        "confidence_score",
        "created_at",
        "updated_at",
        "meta_data",
    ] {
        assert!(v["data"].get(k).is_some(), "{k}");
    }
    let (s, v) = call(
        &sb,
        Method::PATCH,
        &format!("/contacts/{id}"),
        Some(json!({"job_title": "CTO"})),
    )
    .await;
    assert_eq!((s, v), (200, json!({"data": {"updated": 1}})));
    let (s, v) = call(&sb, Method::PATCH, &format!("/contacts/{id}"), Some(json!({}))).await;
    assert_eq!((s, v), (400, json!({"detail": "No fields to update"})));
    let (s, _) = get(&sb, "/contacts/abc").await;
    assert_eq!(s, 422);

    let (s, v) = call(
        &sb,
        Method::PUT,
        "/contacts/assert",
        Some(json!({"list_id": 1, "work_email": "ANN@newco.example", "job_title": "CEO"})),
    )
    .await;
    assert_eq!((s, v), (200, json!({"data": {"action": "updated", "count": 1}})));
    let (_, v) = call(
        &sb,
        Method::PUT,
        "/contacts/assert",
        Some(json!({"list_id": 1, "linkedin_url": "https://linkedin.com/in/bob-x", "first_name": "Bob"})),
    )
    .await;
    assert_eq!(v["data"]["action"], "created");
    let (_, v) = call(
        &sb,
        Method::PUT,
        "/contacts/assert",
        Some(json!({"list_id": 1, "linkedin_url": "https://www.linkedin.com/in/Bob-X/", "last_name": "X"})),
    )
    .await;
    assert_eq!(v["data"]["action"], "updated", "matched on linkedin_url");
    let (s, _) = call(
        &sb,
        Method::PUT,
        "/contacts/assert",
        Some(json!({"list_id": 1, "first_name": "Nobody"})),
    )
    .await;
    assert_eq!(s, 400);

    let batch = json!({"list_id": 1, "contacts": [
        {"work_email": "c1@batch.example", "first_name": "C1"},
        {"work_email": "broken-email", "first_name": "C2"},
        {"work_email": "ann@newco.example", "city": "Paris"},
    ]});
    let (s, v) = call(&sb, Method::PUT, "/contacts/assert/batch", Some(batch)).await;
    assert_eq!(s, 200);
    assert_eq!(
        (
            v["data"]["total"].clone(),
            v["data"]["created"].clone(),
            v["data"]["updated"].clone()
        ),
        (json!(3), json!(1), json!(1))
    );
    let errs = v["data"]["errors"].as_array().unwrap();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0]["index"], 1);
    assert_eq!(errs[0]["loc"], json!(["body", "contacts", 1, "work_email"]));
    let too_many: Vec<Value> = (0..101)
        .map(|i| json!({"work_email": format!("u{i}@x.example")}))
        .collect();
    let (s, v) = call(
        &sb,
        Method::PUT,
        "/contacts/assert/batch",
        Some(json!({"list_id": 1, "contacts": too_many})),
    )
    .await;
    assert_eq!(
        (s, v["detail"][0]["type"].clone()),
        (422, json!("value_error.list.max_items"))
    );

    let (s, v) = call(&sb, Method::DELETE, &format!("/contacts/{id}"), None).await;
    assert_eq!((s, v), (200, json!({"data": {"deleted": true}})));
    let (s, v) = get(&sb, &format!("/contacts/{id}")).await;
    assert_eq!((s, v), (404, json!({"detail": "Contact not found"})));

    let (s, v) = get(&sb, "/contacts/columns?list_id=1").await;
    assert_eq!(s, 200);
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("data_type").is_some())
    );
    let (s, v) = call(
        &sb,
        Method::POST,
        "/contacts/columns/create",
        Some(json!({"title": "Lead Source", "data_type": "text", "list_id": 1})),
    )
    .await;
    assert_eq!((s, v["data"]["name"].clone()), (201, json!("lead_source")));
}

#[tokio::test]
async fn lists_and_companies() {
    let sb = start_unlimited(|_| {}).await;
    let (s, v) = call(
        &sb,
        Method::POST,
        "/lists",
        Some(json!({"title": "X", "type": "people"})),
    )
    .await;
    assert_eq!((s, v), (400, json!({"detail": "Invalid list type"})));
    let (s, v) = call(&sb, Method::POST, "/lists", Some(json!({"title": "Tonight"}))).await;
    assert_eq!(s, 201);
    assert_eq!(v["data"]["type"], "contacts");
    let lid = v["data"]["id"].as_u64().unwrap();
    let (s, v) = call(
        &sb,
        Method::POST,
        &format!("/lists/{lid}/contacts"),
        Some(json!({"contact_ids": [1, 2, 3]})),
    )
    .await;
    assert_eq!((s, v), (201, json!({"data": {"added": 3}})));
    let (s, v) = call(
        &sb,
        Method::DELETE,
        &format!("/lists/{lid}/contacts"),
        Some(json!({"contact_ids": [2, 3]})),
    )
    .await;
    assert_eq!((s, v), (200, json!({"data": {"removed": 2}})));
    let (_, v) = get(&sb, &format!("/lists/{lid}/contacts")).await;
    assert_eq!(v["pagination"]["total"], 1);
    let (s, _) = get(&sb, "/contacts/1").await;
    assert_eq!(s, 200, "membership removal keeps the contact");
    let (s, _) = call(&sb, Method::DELETE, &format!("/lists/{lid}"), None).await;
    assert_eq!(s, 200);
    let (s, v) = get(&sb, &format!("/lists/{lid}/contacts")).await;
    assert_eq!((s, v), (404, json!({"detail": "List not found"})));

    let p = &sb.universe().people[0];
    let c = sb.universe().company_of(p).clone();
    let (s, v) = get(&sb, &format!("/companies?domain={}", c.domain)).await;
    assert_eq!(s, 200);
    let cid = v["data"][0]["id"].as_u64().unwrap();
    assert!(
        v["data"][0]["employee_count"].is_string(),
        "counts are strings in responses"
    );
    let (s, v) = get(&sb, &format!("/companies/{cid}")).await;
    assert_eq!(s, 200);
    assert!(v["data"]["contact_count"].as_u64().unwrap() >= 1);
    let (s, v) = get(&sb, &format!("/companies/{cid}/contacts?limit=1&offset=0")).await;
    assert_eq!((s, v["data"].as_array().unwrap().len()), (200, 1));
    let (s, v) = call(&sb, Method::PATCH, &format!("/companies/{cid}"), Some(json!({}))).await;
    assert_eq!((s, v), (400, json!({"detail": "No fields to update"})));
    let (s, _) = call(
        &sb,
        Method::PATCH,
        &format!("/companies/{cid}"),
        Some(json!({"employee_count": 42})),
    )
    .await;
    assert_eq!(s, 200);
    let (_, v) = get(&sb, "/companies?employee_count_min=42&employee_count_max=42").await;
    assert!(v["data"].as_array().unwrap().iter().any(|x| x["id"] == json!(cid)));
    let (s, v) = call(
        &sb,
        Method::PUT,
        "/companies/assert",
        Some(json!({"list_id": 1, "domain": c.domain, "industry": "Robots"})),
    )
    .await;
    assert_eq!((s, v["data"]["action"].clone()), (200, json!("updated")));
    let (s, v) = call(
        &sb,
        Method::PUT,
        "/companies/assert",
        Some(json!({"list_id": 1, "domain": "brand-new.example"})),
    )
    .await;
    assert_eq!((s, v["data"]["action"].clone()), (200, json!("created")));
    let (s, _) = call(
        &sb,
        Method::PUT,
        "/companies/assert",
        Some(json!({"domain": "x.example"})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, v) = get(&sb, "/companies/columns?list_id=1").await;
    assert_eq!(s, 200);
    assert!(v.is_array(), "companies/columns answers a bare array");
    let (s, _) = call(
        &sb,
        Method::POST,
        "/companies/columns/create",
        Some(json!({"list_id": 1, "title": "Tier 2", "name": "tier2", "data_type": "text"})),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = call(&sb, Method::DELETE, &format!("/companies/{cid}"), None).await;
    assert_eq!(s, 200);
    let (s, v) = get(&sb, &format!("/companies/{cid}")).await;
    assert_eq!((s, v), (404, json!({"detail": "Company not found"})));
}
