//! The layer against a loopback server (real time, small durations).

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as StdInstant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::secret::Secret;
use crate::vendors::spec::VendorSpec;

const KEY: &str = "sk-test-7f3a9c0d2e41b8";

/// A canned reply.
#[derive(Clone)]
struct Canned {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

fn reply(status: u16, body: &str) -> Canned {
    Canned {
        status,
        headers: Vec::new(),
        body: body.into(),
        delay: Duration::ZERO,
    }
}

impl Canned {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Canned {
        self.headers.push((name, value.into()));
        self
    }

    fn after(mut self, delay: Duration) -> Canned {
        self.delay = delay;
        self
    }
}

/// What the server saw.
#[derive(Clone, Debug)]
struct Seen {
    at: StdInstant,
    /// Path and query.
    target: String,
    headers: axum::http::HeaderMap,
}

#[derive(Default)]
struct Server {
    /// Replies by path, in order; the last one repeats.
    script: Mutex<HashMap<String, VecDeque<Canned>>>,
    seen: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Server {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn seen_on(&self, path: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.target.split('?').next() == Some(path))
            .collect()
    }
}

async fn handle(State(server): State<Arc<Server>>, req: Request) -> axum::response::Response {
    let path = req.uri().path().to_string();
    server.seen.lock().unwrap().push(Seen {
        at: StdInstant::now(),
        target: req.uri().to_string(),
        headers: req.headers().clone(),
    });
    let n = server.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    server.max_in_flight.fetch_max(n, Ordering::SeqCst);
    let canned = {
        let mut script = server.script.lock().unwrap();
        match script.get_mut(&path) {
            Some(q) if q.len() > 1 => q.pop_front().unwrap(),
            Some(q) => q.front().cloned().unwrap(),
            None => reply(404, r#"{"detail":"no such path in the test script"}"#),
        }
    };
    tokio::time::sleep(canned.delay).await;
    server.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut resp = axum::response::Response::builder().status(canned.status);
    for (k, v) in &canned.headers {
        resp = resp.header(*k, v);
    }
    resp.body(Body::from(canned.body)).unwrap()
}

/// Serves `script` on `127.0.0.1:0`; returns the base URL (with a path) and the server.
async fn serve(script: Vec<(&str, Vec<Canned>)>) -> (String, Arc<Server>) {
    let server = Arc::new(Server::default());
    *server.script.lock().unwrap() = script
        .into_iter()
        .map(|(p, r)| (format!("/api/v2{p}"), r.into()))
        .collect();
    let app = Router::new().fallback(handle).with_state(server.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    // A trailing slash on purpose: joining must not double it.
    (format!("http://{addr}/api/v2/"), server)
}

fn settings(vendor: Vendor, base: &str, tweak: impl FnOnce(&mut VendorSpec)) -> VendorSettings {
    let mut spec = VendorSpec {
        api_key: Some(Secret::new(KEY)),
        base_url: Some(base.into()),
        rate_limits: Some(vec!["1000/s".parse().unwrap()]),
        timeout: Some("1s".parse().unwrap()),
        max_attempts: Some(3),
        min_backoff: Some("10ms".parse().unwrap()),
        max_backoff: Some("40ms".parse().unwrap()),
        ..VendorSpec::default()
    };
    tweak(&mut spec);
    VendorSettings::resolve(vendor, &spec).unwrap()
}

fn http(vendor: Vendor, base: &str) -> VendorHttp {
    VendorHttp::new(settings(vendor, base, |_| {})).unwrap()
}

fn assert_no_key(text: &str) {
    assert!(!text.contains(KEY), "the key leaked: {text}");
}

#[tokio::test]
async fn url_join_query_and_auth_header() {
    let (base, server) = serve(vec![("/person/checkStatus", vec![reply(200, "[]")])]).await;
    let rr = http(Vendor::RocketReach, &base);
    let path = rr.path("check_status").to_owned();
    let r = rr
        .get("check_status", &path, &[("ids", "1"), ("ids", "2")])
        .await
        .unwrap();
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &b"[]"[..]));
    let seen = server.seen();
    assert_eq!(seen[0].target, "/api/v2/person/checkStatus?ids=1&ids=2");
    assert_eq!(seen[0].headers["api-key"], KEY);

    let g8 = http(Vendor::Graph8, &base);
    let _ = g8.get("contacts", "/contacts", &()).await;
    assert_eq!(server.seen()[1].headers["authorization"], format!("Bearer {KEY}"));
    let lr = http(Vendor::LeadRocks, &base);
    let _ = lr.get("credits", "/getcredits", &()).await;
    assert_eq!(server.seen()[2].headers["authorization"], KEY);
    let rs = http(Vendor::ReachStream, &base);
    let _ = rs.post_json("fetch", "/x", &json!({"fetchCount": 1})).await;
    let s = &server.seen()[3];
    assert_eq!(s.headers["x-api-key"], KEY);
    assert_eq!(s.headers["content-type"], "application/json");
}

#[tokio::test]
async fn server_error_then_success_is_retried_once() {
    let (base, server) = serve(vec![(
        "/person/lookup",
        vec![reply(500, "oops"), reply(200, r#"{"id":1,"status":"complete"}"#)],
    )])
    .await;
    let rr = http(Vendor::RocketReach, &base);
    let v: Value = rr
        .call_json("person_lookup", Method::GET, "/person/lookup", |r| r)
        .await
        .unwrap();
    assert_eq!(v["status"], "complete");
    assert_eq!(server.seen().len(), 2);
    let s = rr.snapshot();
    assert_eq!((s.calls, s.retries, s.errors.transient), (2, 1, 1));
    assert!(s.achieved_rate > 0.0);
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    // A raw server: the first connection is closed without a reply, the second answered.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let n = count.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            if n > 0 {
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"ok\":true}")
                    .await;
            }
            drop(sock);
        }
    });
    let g8 = http(Vendor::Graph8, &format!("http://{addr}"));
    let v: Value = g8.call_json("contacts", Method::GET, "/contacts", |r| r).await.unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    assert_eq!(g8.snapshot().retries, 1);
}

#[tokio::test]
async fn timeouts_are_retried_then_fail_the_record() {
    let (base, server) = serve(vec![(
        "/verify-instant",
        vec![reply(200, "{}").after(Duration::from_secs(5))],
    )])
    .await;
    let lr = VendorHttp::new(settings(Vendor::LeadRocks, &base, |s| {
        s.timeout = Some("150ms".parse().unwrap());
        s.max_attempts = Some(2);
    }))
    .unwrap();
    let t0 = StdInstant::now();
    let err = lr
        .post_json(
            "verify_instant",
            "/verify-instant",
            &json!({"email": "jane@example.com"}),
        )
        .await
        .unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(
        err,
        CallError::Record {
            vendor: Vendor::LeadRocks,
            status: None,
            reason: "gave up after 2 attempts: timed out after 150ms".into(),
            transient: true,
        }
    );
    assert_eq!(
        err.to_string(),
        "leadrocks: gave up after 2 attempts: timed out after 150ms"
    );
    assert_eq!(server.seen().len(), 2);
    assert_eq!(lr.snapshot().errors.gave_up, 1);
}

#[tokio::test]
async fn malformed_json_is_retried_then_fails_the_record() {
    let (base, server) = serve(vec![("/contacts", vec![reply(200, "{\"data\": [")])]).await;
    let g8 = http(Vendor::Graph8, &base);
    let err = g8
        .call_json::<Value>("contacts", Method::GET, "/contacts", |r| r)
        .await
        .unwrap_err();
    let CallError::Record {
        status,
        reason,
        transient,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*status, *transient), (Some(200), true));
    assert!(
        reason.starts_with("gave up after 3 attempts: malformed response body: EOF while parsing"),
        "{reason}"
    );
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn record_level_failures_are_not_retried() {
    let (base, server) = serve(vec![(
        "/person/lookup",
        vec![reply(404, r#"{"detail":"Profile not found"}"#)],
    )])
    .await;
    let rr = http(Vendor::RocketReach, &base);
    let err = rr
        .get("person_lookup", "/person/lookup", &[("email", "jane@example.com")])
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "rocketreach: HTTP 404 Not Found: Profile not found");
    assert!(!err.stops_vendor());
    assert_eq!(server.seen().len(), 1);
    // The vendor is not stopped: the next call goes out.
    let _ = rr.get("person_lookup", "/person/lookup", &()).await;
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn a_refused_key_stops_the_vendor_and_later_calls_fail_fast() {
    let (base, server) = serve(vec![
        (
            "/contacts",
            vec![reply(
                401,
                r#"{"detail":"API key not associated with an organization"}"#,
            )],
        ),
        ("/lists", vec![reply(500, "")]),
    ])
    .await;
    let g8 = VendorHttp::new(settings(Vendor::Graph8, &base, |s| {
        s.max_attempts = Some(10);
        s.min_backoff = Some("300ms".parse().unwrap());
        s.max_backoff = Some("1s".parse().unwrap());
    }))
    .unwrap();
    // A request sleeping in its backoff when the vendor stops.
    let sleeper = {
        let g8 = g8.clone();
        tokio::spawn(async move { g8.get("lists", "/lists", &()).await })
    };
    while server.seen_on("/api/v2/lists").is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let err = g8.get("contacts", "/contacts", &()).await.unwrap_err();
    let expected = CallError::VendorFatal {
        vendor: Vendor::Graph8,
        status: Some(401),
        message: "HTTP 401 Unauthorized: API key not associated with an organization".into(),
        refused: API_KEY,
    };
    assert_eq!(err, expected);
    assert!(err.stops_vendor());
    let t0 = StdInstant::now();
    assert_eq!(sleeper.await.unwrap().unwrap_err(), expected);
    assert!(t0.elapsed() < Duration::from_millis(200), "the retry woke at once");
    for _ in 0..3 {
        assert_eq!(g8.get("contacts", "/contacts", &()).await.unwrap_err(), expected);
    }
    assert_eq!(server.seen_on("/api/v2/contacts").len(), 1);
    assert_eq!(server.seen_on("/api/v2/lists").len(), 1);
    assert_eq!(g8.stopped(), Some(expected));
    let s = g8.snapshot();
    assert_eq!((s.calls, s.errors.vendor_fatal), (2, 5));
}

#[tokio::test]
async fn leadrocks_envelope_out_of_credits_stops_the_vendor() {
    let (base, server) = serve(vec![(
        "/verify-instant",
        vec![reply(
            200,
            r#"{"status":"failed","error":{"code":103,"message":"You have exhausted your credits"}}"#,
        )],
    )])
    .await;
    let lr = http(Vendor::LeadRocks, &base);
    for _ in 0..2 {
        let err = lr
            .post_json("verify_instant", "/verify-instant", &json!({"email": "a@b.co"}))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            CallError::OutOfCredits {
                vendor: Vendor::LeadRocks,
                message: "HTTP 200 OK: error 103: You have exhausted your credits".into()
            }
        );
    }
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn retry_after_seconds_pauses_every_request_of_the_vendor() {
    let (base, server) = serve(vec![
        (
            "/contacts",
            vec![
                reply(429, r#"{"detail":"Rate limit exceeded. Please slow down."}"#).header("retry-after", "1"),
                reply(200, r#"{"data":[]}"#),
            ],
        ),
        ("/lists", vec![reply(200, r#"{"data":[]}"#)]),
    ])
    .await;
    let g8 = http(Vendor::Graph8, &base);
    let first = {
        let g8 = g8.clone();
        tokio::spawn(async move { g8.get("contacts", "/contacts", &()).await })
    };
    while server.seen().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Another request, started while the vendor is paused.
    let other = g8.get("lists", "/lists", &()).await.unwrap();
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(first.await.unwrap().unwrap().status, StatusCode::OK);
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    let t429 = seen[0].at;
    for s in &seen[1..] {
        assert!(
            s.at - t429 >= Duration::from_millis(990),
            "{} sent {:?} after the 429",
            s.target,
            s.at - t429
        );
    }
    let s = g8.snapshot();
    assert_eq!((s.calls, s.rate_limited, s.retries, s.errors.transient), (3, 1, 1, 0));
}

#[tokio::test]
async fn retry_after_as_an_http_date() {
    let at = SystemTime::now() + Duration::from_millis(2_500);
    let (base, server) = serve(vec![(
        "/contacts",
        vec![
            reply(429, "").header("retry-after", httpdate::fmt_http_date(at)),
            reply(200, "{}"),
        ],
    )])
    .await;
    let g8 = http(Vendor::Graph8, &base);
    g8.get("contacts", "/contacts", &()).await.unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    // The date has one-second resolution: it is 1.5 to 2.5 s after the
    // script was written, a few ms before the 429 went out.
    let waited = seen[1].at - seen[0].at;
    assert!(waited >= Duration::from_millis(1_200), "{waited:?}");
}

#[tokio::test]
async fn many_429s_do_not_use_up_attempts() {
    let mut script: Vec<Canned> = (0..5).map(|_| reply(429, "").header("retry-after", "0")).collect();
    script.push(reply(200, "{}"));
    let (base, server) = serve(vec![("/contacts", script)]).await;
    let g8 = VendorHttp::new(settings(Vendor::Graph8, &base, |s| {
        s.max_attempts = Some(1);
    }))
    .unwrap();
    g8.get("contacts", "/contacts", &()).await.unwrap();
    assert_eq!(server.seen().len(), 6);
    assert_eq!(g8.snapshot().rate_limited, 5);
}

#[tokio::test]
async fn a_retry_after_beyond_max_pause_stops_the_vendor() {
    let (base, server) = serve(vec![("/contacts", vec![reply(429, "").header("retry-after", "86400")])]).await;
    let g8 = http(Vendor::Graph8, &base);
    let err = g8.get("contacts", "/contacts", &()).await.unwrap_err();
    let CallError::Throttled { message, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("asked to wait 1day"), "{message}");
    assert_eq!(g8.get("contacts", "/contacts", &()).await.unwrap_err(), err);
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn concurrency_bounds_requests_in_flight() {
    let (base, server) = serve(vec![(
        "/contacts",
        vec![reply(200, "{}").after(Duration::from_millis(50))],
    )])
    .await;
    let g8 = VendorHttp::new(settings(Vendor::Graph8, &base, |s| {
        s.concurrency = Some(2);
    }))
    .unwrap();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let g8 = g8.clone();
            tokio::spawn(async move { g8.get("contacts", "/contacts", &()).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    assert_eq!(server.seen().len(), 8);
    assert_eq!(server.max_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn paths_stay_on_the_vendor_host() {
    let (base, server) = serve(vec![]).await;
    let g8 = http(Vendor::Graph8, &base);
    for bad in ["contacts", "//evil.example/x", "/x?api_key=1", "/a/../b"] {
        let err = g8.get("contacts", bad, &()).await.unwrap_err();
        assert!(
            matches!(&err, CallError::Record { transient: false, .. }),
            "{bad}: {err:?}"
        );
    }
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn redirects_are_followed_only_within_the_vendor_origin() {
    let (base, server) = serve(vec![
        ("/account", vec![reply(301, "").header("location", "/api/v2/account/")]),
        ("/account/", vec![reply(200, r#"{"id":1}"#)]),
        (
            "/elsewhere",
            vec![reply(302, "").header("location", "http://127.0.0.1:9/steal")],
        ),
    ])
    .await;
    let rr = http(Vendor::RocketReach, &base);
    let r = rr.get("account", "/account", &()).await.unwrap();
    assert_eq!(&r.body[..], br#"{"id":1}"#);
    assert_eq!(server.seen_on("/api/v2/account/")[0].headers["api-key"], KEY);
    let err = rr.get("account", "/elsewhere", &()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "rocketreach: HTTP 302 Found: unexpected redirect away from the API"
    );
}

/// A `MakeWriter` collecting log output.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// Calls that fail in every way a vendor that echoes the key can make them fail.
async fn leaky_calls(base: &str) -> (VendorHttp, Vec<CallError>) {
    let rr = http(Vendor::RocketReach, base);
    let mut errors = Vec::new();
    for path in ["/a", "/b", "/c", "/a"] {
        let query = [("email", "jane@example.com")];
        errors.push(rr.get("person_lookup", path, &query).await.unwrap_err());
    }
    (rr, errors)
}

#[tokio::test]
async fn the_key_never_reaches_errors_or_logs() {
    // A vendor that echoes the key in its error messages.
    let (base, _server) = serve(vec![
        ("/a", vec![reply(500, &format!(r#"{{"detail":"bad key {KEY}"}}"#))]),
        (
            "/b",
            vec![reply(400, &format!(r#"{{"message":"key {KEY} rejected"}}"#))],
        ),
        (
            "/c",
            vec![reply(401, &format!(r#"{{"detail":"Invalid API key {KEY}"}}"#))],
        ),
    ])
    .await;
    // With a single scoped subscriber alive, tracing computes a callsite's
    // interest from the default of whichever thread registers it (maybe
    // another test's, with no subscriber) and may cache "never". A second live
    // dispatcher makes it ask every registered dispatcher instead.
    let _second = tracing::Dispatch::new(tracing_subscriber::registry());
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (rr, mut errors) = leaky_calls(&base).await;
    // A connection error and a timeout too.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let rs = http(Vendor::ReachStream, &dead_url);
    errors.push(rs.get("count", "/x", &()).await.unwrap_err());

    for e in &errors {
        assert_no_key(&format!("{e} {e:?}"));
    }
    assert!(errors[0].to_string().contains("bad key ***"), "{}", errors[0]);
    assert!(errors[4].to_string().contains("could not connect"), "{}", errors[4]);
    assert_no_key(&format!("{rr:?} {:?}", rr.settings()));
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("vendor_request"), "logs were captured: {logs}");
    assert!(logs.contains("endpoint=\"person_lookup\""), "{logs}");
    assert_no_key(&logs);
    assert!(
        !logs.contains("jane@example.com"),
        "no URL with its query in the logs: {logs}"
    );
}
