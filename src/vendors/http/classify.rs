//! Failure classes, decided before acting.
//!
//! Every reply is turned into a [`Verdict`] by the vendor's classifier, which
//! sees the status, the headers and the body bytes; the HTTP layer then acts
//! on the verdict alone (return, retry, pause the vendor, stop the vendor).
//! [`by_status`] is the generic rule; each vendor's module adds what its
//! contract says on top of it, in the classifier its `CONTRACT` names. A
//! vendor client with other needs passes its own [`Classify`] (any
//! `Fn(&Reply) -> Verdict` is one).

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;

use super::settings::Vendor;

/// A reply as the classifier sees it.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    /// Low-cardinality endpoint name, e.g. `person_lookup`.
    pub endpoint: &'a str,
    pub status: StatusCode,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// What to do with a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Hand the reply to the caller.
    Ok,
    /// Transient (5xx, 408, vendor "try again"): back off and retry; counts toward `max_attempts`.
    Retry(String),
    /// Throttled: pause the whole vendor for `retry_after` (or a backoff when
    /// the vendor gave none) and retry; does not count toward `max_attempts`.
    Throttle {
        retry_after: Option<Duration>,
        reason: String,
    },
    /// This request cannot succeed (400/404/422, "not found"): the record gets the reason.
    Record(String),
    /// The vendor refuses our key (401/403): stop calling it.
    Fatal(String),
    /// Credits or a hard quota are exhausted: stop calling it; the next run continues.
    OutOfCredits(String),
}

/// A vendor's rule from reply to verdict.
pub trait Classify: Send + Sync + 'static {
    fn classify(&self, reply: &Reply<'_>) -> Verdict;
}

impl<F> Classify for F
where
    F: Fn(&Reply<'_>) -> Verdict + Send + Sync + 'static,
{
    fn classify(&self, reply: &Reply<'_>) -> Verdict {
        self(reply)
    }
}

/// The classifier that follows the vendor's contract.
pub fn for_vendor(vendor: Vendor) -> fn(&Reply<'_>) -> Verdict {
    vendor.contract().classify
}

/// The generic rule, by HTTP status: 2xx ok; 429 throttle (honouring
/// `Retry-After`); 401/403 fatal; 402 out of credits; 408 and 5xx retry;
/// 3xx (redirects are followed only within the vendor's origin) and other
/// 4xx are record-level.
pub fn by_status(reply: &Reply<'_>) -> Verdict {
    let s = reply.status;
    let what = || describe(s, reply.body);
    match s.as_u16() {
        200..=299 => Verdict::Ok,
        429 => Verdict::Throttle {
            retry_after: retry_after(reply.headers),
            reason: what(),
        },
        401 | 403 => Verdict::Fatal(what()),
        402 => Verdict::OutOfCredits(what()),
        408 | 500..=599 => Verdict::Retry(what()),
        300..=399 => Verdict::Record(format!("{}: unexpected redirect away from the API", status_text(s))),
        _ => Verdict::Record(what()),
    }
}

/// `Retry-After` as delay-seconds or an HTTP date (a date in the past is zero).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = raw.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at = httpdate::parse_http_date(raw).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

pub fn status_text(s: StatusCode) -> String {
    match s.canonical_reason() {
        Some(r) => format!("HTTP {} {r}", s.as_u16()),
        None => format!("HTTP {}", s.as_u16()),
    }
}

/// `HTTP 404 Not Found: <the vendor's message>`.
pub fn describe(status: StatusCode, body: &[u8]) -> String {
    match error_message(body) {
        Some(m) => format!("{}: {m}", status_text(status)),
        None => status_text(status),
    }
}

const MAX_MESSAGE: usize = 300;

/// The human part of a vendor error body, whatever its shape: `detail`
/// (string, or FastAPI's list of `{loc,msg}`), `error` (`{code,message}` or a
/// string), `message`, a DRF field map `{"field":["msg"]}`, or the raw text.
pub fn error_message(body: &[u8]) -> Option<String> {
    let msg = match serde_json::from_slice::<Value>(body) {
        Ok(v) => json_message(&v).unwrap_or_else(|| v.to_string()),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    tidy(&msg).filter(|m| m != "null")
}

/// A vendor's message made fit for a reason: whitespace collapsed, at most
/// `MAX_MESSAGE` characters; `None` when nothing is left.
pub fn tidy(msg: &str) -> Option<String> {
    let msg = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    if msg.is_empty() {
        return None;
    }
    Some(match msg.char_indices().nth(MAX_MESSAGE) {
        Some((i, _)) => format!("{}…", &msg[..i]),
        None => msg,
    })
}

fn json_message(v: &Value) -> Option<String> {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    if let Some(d) = v.get("detail") {
        return match d {
            Value::Array(items) => Some(
                items
                    .iter()
                    .map(|i| {
                        let msg = i.get("msg").and_then(Value::as_str).unwrap_or("invalid");
                        match i.get("loc").and_then(Value::as_array) {
                            Some(loc) => {
                                let loc: Vec<String> =
                                    loc.iter().map(|p| text(p).unwrap_or_else(|| p.to_string())).collect();
                                format!("{}: {msg}", loc.join("."))
                            }
                            None => msg.to_owned(),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => text(other).or_else(|| Some(other.to_string())),
        };
    }
    match v.get("error") {
        Some(Value::Object(e)) => {
            let msg = e.get("message").and_then(text);
            return match (e.get("code"), msg) {
                (Some(c), Some(m)) => Some(format!("error {c}: {m}")),
                (None, Some(m)) => Some(m),
                (Some(c), None) => Some(format!("error {c}")),
                (None, None) => None,
            };
        }
        Some(Value::String(s)) => return Some(s.clone()),
        _ => {}
    }
    if let Some(m) = v.get("message").and_then(text) {
        return Some(m);
    }
    // Django REST Framework validation errors: {"field": ["msg", …], …}.
    let obj = v.as_object()?;
    let fields: Vec<String> = obj
        .iter()
        .filter_map(|(k, v)| {
            let msgs: Vec<&str> = v.as_array()?.iter().filter_map(Value::as_str).collect();
            (!msgs.is_empty()).then(|| format!("{k}: {}", msgs.join(", ")))
        })
        .collect();
    (!fields.is_empty()).then(|| fields.join("; "))
}

#[cfg(test)]
pub(crate) mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    pub(crate) fn verdict(f: fn(&Reply<'_>) -> Verdict, status: u16, body: &str) -> Verdict {
        verdict_h(f, status, &[], body)
    }

    pub(crate) fn verdict_h(
        f: fn(&Reply<'_>) -> Verdict,
        status: u16,
        headers: &[(&'static str, &str)],
        body: &str,
    ) -> Verdict {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        f(&Reply {
            endpoint: "test",
            status: StatusCode::from_u16(status).unwrap(),
            headers: &h,
            body: body.as_bytes(),
        })
    }

    #[test]
    fn generic_rule_by_status() {
        assert_eq!(verdict(by_status, 200, "{}"), Verdict::Ok);
        assert_eq!(verdict(by_status, 201, ""), Verdict::Ok);
        assert!(matches!(verdict(by_status, 401, ""), Verdict::Fatal(_)));
        assert!(matches!(verdict(by_status, 403, ""), Verdict::Fatal(_)));
        assert!(matches!(verdict(by_status, 402, ""), Verdict::OutOfCredits(_)));
        assert!(matches!(verdict(by_status, 500, ""), Verdict::Retry(_)));
        assert!(matches!(verdict(by_status, 524, ""), Verdict::Retry(_)));
        assert!(matches!(verdict(by_status, 408, ""), Verdict::Retry(_)));
        assert!(matches!(verdict(by_status, 301, ""), Verdict::Record(_)));
        assert_eq!(
            verdict(by_status, 404, r#"{"detail":"Company not found"}"#),
            Verdict::Record("HTTP 404 Not Found: Company not found".into())
        );
        assert_eq!(
            verdict_h(by_status, 429, &[("retry-after", "3")], ""),
            Verdict::Throttle {
                retry_after: Some(Duration::from_secs(3)),
                reason: "HTTP 429 Too Many Requests".into()
            }
        );
        assert!(matches!(
            verdict(by_status, 429, ""),
            Verdict::Throttle { retry_after: None, .. }
        ));
    }

    #[test]
    fn retry_after_as_seconds_or_date() {
        let h = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
            retry_after(&h)
        };
        assert_eq!(h("7"), Some(Duration::from_secs(7)));
        assert_eq!(h(" 1.5 "), Some(Duration::from_millis(1_500)));
        assert_eq!(h("soon"), None);
        assert_eq!(h("-1"), None);
        let at = SystemTime::now() + Duration::from_secs(120);
        let d = h(&httpdate::fmt_http_date(at)).unwrap();
        assert!(d > Duration::from_secs(118) && d <= Duration::from_secs(120), "{d:?}");
        assert_eq!(h("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn messages_are_short_and_single_line() {
        let long = "x ".repeat(1_000);
        let m = error_message(long.as_bytes()).unwrap();
        assert!(m.chars().count() <= MAX_MESSAGE + 1);
        assert_eq!(error_message(b"  \n "), None);
        assert_eq!(error_message(b"null"), None);
        assert_eq!(error_message(b"line one\nline two").unwrap(), "line one line two");
        assert_eq!(error_message(br#"{"error":"bad thing"}"#).unwrap(), "bad thing");
    }
}
