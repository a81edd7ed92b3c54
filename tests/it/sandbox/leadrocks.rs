use std::time::Duration;

use leadpipe::sandbox::{Credits, EmailStatus, RateWindow, Sandbox};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use super::{client, json, start_unlimited};

const TOKEN: &str = "lr_sandbox_token";

fn url(sb: &Sandbox, path: &str) -> String {
    format!("{}{path}", sb.endpoints().leadrocks.base_url)
}

async fn verify(sb: &Sandbox, body: &str) -> (u16, Value) {
    json(
        client()
            .post(url(sb, "/verify-instant"))
            .header("Authorization", TOKEN)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn upload(sb: &Sandbox, path: &str, name: &str, csv: Vec<u8>, column: Option<&str>) -> (u16, Value) {
    let mut form = Form::new().part(
        "file",
        Part::bytes(csv)
            .file_name(name.to_string())
            .mime_str("text/csv")
            .unwrap(),
    );
    if let Some(c) = column {
        form = form.text("email_column", c.to_string());
    }
    json(
        client()
            .post(url(sb, path))
            .header("Authorization", TOKEN)
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn code(v: &Value) -> u64 {
    assert_eq!(v["status"], "failed", "{v}");
    v["error"]["code"].as_u64().unwrap()
}

#[tokio::test]
async fn auth_credits_and_instant_verdicts() {
    let sb = start_unlimited(|c| c.leadrocks.credits = Credits::Amount(3)).await;
    let (s, v) = json(client().get(url(&sb, "/getcredits")).send().await.unwrap()).await;
    assert_eq!((s, code(&v)), (401, 100));
    let (s, v) = json(
        client()
            .get(url(&sb, "/getcredits"))
            .header("Authorization", "Bearer nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, code(&v)), (401, 100));
    let (s, v) = json(
        client()
            .get(url(&sb, "/getcredits"))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v), (200, json!({"status": "success", "data": {"credits": 3}})));

    let u = sb.universe();
    let valid = u
        .people
        .iter()
        .find(|p| p.email_status == EmailStatus::Valid)
        .unwrap()
        .work_email
        .clone();
    let ca = u.companies.iter().find(|c| c.catch_all).unwrap().domain.clone();
    let (s, v) = verify(&sb, &json!({"email": valid}).to_string()).await;
    assert_eq!(s, 200);
    assert_eq!(
        v["data"],
        json!({"email_address": valid, "status": "valid", "safe_to_send": "yes", "disposable": "no", "free_account": "no", "role_account": "no"})
    );
    let (_, v) = verify(&sb, &json!({"email": format!("info@{ca}")}).to_string()).await;
    assert_eq!(v["data"]["status"], "catch-all");
    assert_eq!(v["data"]["role_account"], "yes");
    let (s, v) = verify(&sb, "{not json").await;
    assert_eq!((s, code(&v)), (400, 101));
    let (s, v) = verify(&sb, "{}").await;
    assert_eq!((s, code(&v)), (400, 101));
    let (s, _) = verify(&sb, &json!({"email": "x@mailinator.com"}).to_string()).await;
    assert_eq!(s, 200);
    let (s, v) = verify(&sb, &json!({"email": "y@mailinator.com"}).to_string()).await;
    assert_eq!((s, code(&v)), (403, 103), "credits exhausted");
    assert_eq!(sb.stats().paid(&format!("leadrocks:verify:email={valid}")), 1);
    let (s, v) = json(
        client()
            .get(url(&sb, "/nope"))
            .header("Authorization", TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["error"]["message"].clone()), (404, json!("Route not found")));
}

#[tokio::test]
async fn bulk_job_goes_queued_running_completed_then_downloads_csv() {
    let sb = start_unlimited(|c| {
        c.leadrocks.bulk.queued_ms = 150;
        c.leadrocks.bulk.running_ms = 150;
    })
    .await;
    let u = sb.universe();
    let emails: Vec<String> = u.people.iter().take(5).map(|p| p.work_email.clone()).collect();
    let mut csv = String::from("name,Work Email\n");
    for (i, e) in emails.iter().enumerate() {
        csv.push_str(&format!("row{i},{e}\n"));
    }
    let (s, v) = upload(&sb, "/verify-bulk", "list.csv", csv.clone().into_bytes(), None).await;
    assert_eq!((s, code(&v)), (400, 106), "default column is email");
    let (s, v) = upload(&sb, "/verify-bulk", "list.csv", csv.into_bytes(), Some("Work Email")).await;
    assert_eq!(s, 200, "{v}");
    let id = v["data"]["list_id"].as_u64().unwrap();
    assert_eq!(id.to_string().len(), 16);
    let mut seen = Vec::new();
    for path in [
        "/verify-bulk-progress",
        "/progress-status",
        "/email_verify/bulk/progress_status",
    ] {
        let (s, v) = json(
            client()
                .get(url(&sb, &format!("{path}?list_id={id}")))
                .header("Authorization", TOKEN)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(v["data"]["list_id"], json!(id));
        seen.push(v["data"]["progress_status"].as_str().unwrap().to_string());
    }
    assert_eq!(seen[0], "queued");
    let (s, v) = json(
        client()
            .get(url(&sb, &format!("/verify-bulk-download?list_id={id}")))
            .header("Authorization", TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, code(&v)), (400, 108), "not downloadable before completion");
    tokio::time::sleep(Duration::from_millis(170)).await;
    let (_, v) = json(
        client()
            .get(url(&sb, &format!("/verify-bulk-progress?list_id={id}")))
            .header("Authorization", TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["data"]["progress_status"], "running");
    tokio::time::sleep(Duration::from_millis(170)).await;
    let (_, v) = json(
        client()
            .get(url(&sb, &format!("/verify-bulk-progress?list_id={id}")))
            .header("Authorization", TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["data"]["progress_status"], "completed");
    for path in ["/verify-bulk-download", "/download-result", "/download/result"] {
        let r = client()
            .get(url(&sb, &format!("{path}?list_id={id}")))
            .header("Authorization", TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let text = r.text().await.unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "name,Work Email,status,safe_to_send,disposable,free_account,role_account"
        );
        let first = lines.next().unwrap();
        let want = u.verdict(&emails[0]).status.as_str();
        assert!(first.starts_with(&format!("row0,{},{want},", emails[0])), "{first}");
        assert_eq!(lines.count(), 4);
    }
    let (s, v) = json(
        client()
            .get(url(&sb, "/verify-bulk-progress?list_id=123"))
            .header("Authorization", TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, code(&v)), (400, 108));
    let (s, v) = json(
        client()
            .get(url(&sb, "/verify-bulk-progress"))
            .header("Authorization", TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, code(&v)), (400, 108));
}

#[tokio::test]
async fn bulk_limits_and_codes_104_to_109() {
    let sb = start_unlimited(|c| c.leadrocks.bulk.queued_ms = 10_000).await;
    // 104: more than 10,000 lines (header included).
    let mut big = String::from("email\n");
    for i in 0..10_000 {
        big.push_str(&format!("user{i}@example.com\n"));
    }
    let (s, v) = upload(&sb, "/verify-bulk", "big.csv", big.into_bytes(), None).await;
    assert_eq!((s, code(&v)), (400, 104));
    // 104: more than 10 MB.
    let mut huge = String::from("email,pad\n");
    let pad = "x".repeat(1000);
    while huge.len() <= 10 * 1024 * 1024 + 10 {
        huge.push_str(&format!("a@example.com,{pad}\n"));
    }
    let (s, v) = upload(&sb, "/email_verify/bulk", "huge.csv", huge.into_bytes(), None).await;
    assert_eq!((s, code(&v)), (400, 104));
    // 105: not a .csv, or not multipart at all.
    let (s, v) = upload(&sb, "/verify-bulk", "list.xlsx", b"email\na@b.co\n".to_vec(), None).await;
    assert_eq!((s, code(&v)), (400, 105));
    let (s, v) = json(
        client()
            .post(url(&sb, "/verify-bulk"))
            .header("Authorization", TOKEN)
            .json(&json!({"file": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, code(&v)), (400, 105));
    // 106: no email column; 107: no rows.
    let (s, v) = upload(&sb, "/verify-bulk", "list.csv", b"name\nx\n".to_vec(), None).await;
    assert_eq!((s, code(&v)), (400, 106));
    let (s, v) = upload(&sb, "/verify-bulk", "list.csv", b"email\n".to_vec(), None).await;
    assert_eq!((s, code(&v)), (400, 107));
    // Exactly 10,000 lines is accepted; a second list while one runs is 109.
    let mut ok = String::from("email\n");
    for i in 0..9_999 {
        ok.push_str(&format!("user{i}@example.com\n"));
    }
    let (s, v) = upload(&sb, "/verify-bulk", "ok.csv", ok.into_bytes(), None).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = upload(&sb, "/verify-bulk", "two.csv", b"email\na@b.co\n".to_vec(), None).await;
    assert_eq!((s, code(&v)), (403, 109));
}

#[tokio::test]
async fn request_limit_111_and_instant_quota_110_recover() {
    let sb = start_unlimited(|c| {
        c.leadrocks.rate_limit = vec![RateWindow { limit: 4, per_ms: 250 }];
        c.leadrocks.instant_quota = vec![RateWindow { limit: 2, per_ms: 250 }];
    })
    .await;
    let mut codes = Vec::new();
    for _ in 0..6 {
        let (s, v) = json(
            client()
                .get(url(&sb, "/getcredits"))
                .header("Authorization", TOKEN)
                .send()
                .await
                .unwrap(),
        )
        .await;
        codes.push(if s == 200 { 0 } else { code(&v) });
    }
    assert_eq!(codes, [0, 0, 0, 0, 111, 111]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut codes = Vec::new();
    for _ in 0..3 {
        let (s, v) = verify(&sb, &json!({"email": "a@example.com"}).to_string()).await;
        codes.push(if s == 200 { 0 } else { code(&v) });
    }
    assert_eq!(codes, [0, 0, 110]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(verify(&sb, &json!({"email": "a@example.com"}).to_string()).await.0, 200);
}
