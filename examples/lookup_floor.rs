//! The floor under the lookup stage's overhead: the same HTTP client the
//! vendor layer builds (reqwest, rustls, one pool), the same concurrency, the
//! same lookups decoded as JSON, and nothing else: no rate gate, cache,
//! ledger, state store or sink. Used by `benches/rocketreach.sh overhead`
//! to show how much of the gap to wrk is the HTTP client's and how much the
//! stage's.
//!
//! ```text
//! cargo run --release --example lookup_floor -- BASE_URL API_KEY EMAILS_FILE CONCURRENCY
//! ```
//! Prints `lookups/s` of one pass over the emails.

use std::time::Instant;

use futures::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, key, emails, concurrency] = args.as_slice() else {
        return Err("usage: lookup_floor BASE_URL API_KEY EMAILS_FILE CONCURRENCY".into());
    };
    let concurrency: usize = concurrency.parse()?;
    let emails: Vec<String> = std::fs::read_to_string(emails)?.lines().map(str::to_string).collect();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let url = format!("{}/person/lookup", base.trim_end_matches('/'));
    let started = Instant::now();
    let ok = futures::stream::iter(&emails)
        .map(|email| {
            let request = client.get(&url).header("Api-Key", key).query(&[("email", email)]);
            async move {
                let resp = request.send().await.ok()?;
                let body = resp.bytes().await.ok()?;
                serde_json::from_slice::<serde_json::Value>(&body).ok()
            }
        })
        .buffer_unordered(concurrency)
        .filter(|v| futures::future::ready(v.is_some()))
        .count()
        .await;
    let secs = started.elapsed().as_secs_f64();
    println!("{:.0}", ok as f64 / secs);
    if ok != emails.len() {
        return Err(format!("{} of {} lookups failed", emails.len() - ok, emails.len()).into());
    }
    Ok(())
}
