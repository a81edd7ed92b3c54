//! Contract tests of the vendor simulators: each test starts its own sandbox
//! in-process on 127.0.0.1:0 and talks to it with reqwest.

mod general;
mod graph8;
mod leadrocks;
mod reachstream;
mod remember;
mod rocketreach;
mod sdk;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use leadpipe::sandbox::{Sandbox, SandboxConfig};

/// A sandbox with limits and faults at their defaults, changed by `f`.
pub async fn start(f: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let mut c = SandboxConfig::default();
    c.universe.people = 3_000;
    c.universe.companies = 300;
    f(&mut c);
    Sandbox::start(c).await.expect("sandbox starts")
}

/// A sandbox with every limit and balance off.
pub async fn start_unlimited(f: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    start(|c| {
        let u = SandboxConfig::unlimited();
        c.rocketreach.rate_limit = u.rocketreach.rate_limit;
        c.rocketreach.plan = u.rocketreach.plan;
        c.rocketreach.credits = u.rocketreach.credits;
        c.reachstream.rate_limit = u.reachstream.rate_limit;
        c.leadrocks.rate_limit = u.leadrocks.rate_limit;
        c.graph8.rate_limit = u.graph8.rate_limit;
        f(c)
    })
    .await
}

thread_local! {
    /// One client per test thread (each test runs on its own thread and
    /// runtime); building a client is costly.
    static CLIENT: reqwest::Client = {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().expect("client")
    };
}

pub fn client() -> reqwest::Client {
    CLIENT.with(|c| c.clone())
}

/// A webhook receiver on 127.0.0.1:0 that answers 500 to the first
/// `fail_first` deliveries and 200 afterwards, recording every request.
pub struct Receiver {
    pub url: String,
    hits: Arc<Mutex<Vec<(HeaderMap, Bytes, u16)>>>,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Receiver {
        let hits: Arc<Mutex<Vec<(HeaderMap, Bytes, u16)>>> = Arc::default();
        let h = hits.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let h = h.clone();
                async move {
                    let mut g = h.lock().unwrap();
                    let status = if g.len() < fail_first { 500 } else { 200 };
                    g.push((headers, body, status));
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, hits }
    }

    pub fn hits(&self) -> Vec<(HeaderMap, Bytes, u16)> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (at most 5 s).
    pub async fn wait_for(&self, n: usize) -> Vec<(HeaderMap, Bytes, u16)> {
        for _ in 0..500 {
            if self.hits.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let h = self.hits();
        assert!(h.len() >= n, "expected {n} webhook deliveries, got {}", h.len());
        h
    }
}

pub async fn json(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text}"));
    (status, v)
}
