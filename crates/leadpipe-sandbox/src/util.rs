//! Small shared helpers: deterministic hashing, raw query parsing (repeated
//! keys kept), normalisation of the identities used as lookup keys, and the
//! plumbing every vendor's handlers share (poison-tolerant locks, header and
//! body reading, the `Reply` type). The lock policy is the client's, kept here
//! as the sandbox's own copy so the sandbox needs nothing of the client.

use axum::extract::Request;
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine as _;
use serde_json::Value;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// What a handler answers: `Err` is a ready vendor-shaped error, so request
/// checks written as `fn …() -> Result<T, Response>` compose with `?`.
pub(crate) type Reply = Result<Response, Response>;

/// Lock `m`, taking it over if a panicking holder poisoned it: every value
/// the simulators keep behind a lock is whole after each statement that
/// changes it, and the panic already failed its request.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-lock `l`, taking it over if poisoned (see [`lock`]).
pub(crate) fn read_lock<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-lock `l`, taking it over if poisoned (see [`lock`]).
pub(crate) fn write_lock<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

/// A header's value, trimmed; `""` when absent or not visible ASCII.
pub(crate) fn header_str(headers: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("")
}

/// The token after `Bearer ` (either case of the `b`), if the value has that prefix.
pub(crate) fn strip_bearer(value: &str) -> Option<&str> {
    value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))
}

/// The map of a JSON object (empty for any other value).
pub(crate) fn into_object(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// Why a JSON body could not be read; each vendor words it in its own envelope.
pub(crate) enum BodyError {
    TooLarge,
    Invalid(serde_json::Error),
}

/// A request body of at most `limit` bytes parsed as JSON; `None` when the
/// body is empty or whitespace.
pub(crate) async fn json_body(req: Request, limit: usize) -> Result<Option<Value>, BodyError> {
    let bytes = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| BodyError::TooLarge)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes).map(Some).map_err(BodyError::Invalid)
}

/// Stable 64-bit hash of (seed, tag, value): the only source of "randomness"
/// for universe entities, so a value never depends on request order.
pub(crate) fn hash3(seed: u64, tag: &str, value: u64) -> u64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&value.to_le_bytes());
    let h = xxhash_rust::xxh3::xxh3_64_with_seed(tag.as_bytes(), seed);
    xxhash_rust::xxh3::xxh3_64_with_seed(&buf, h)
}

pub(crate) fn hash_str(seed: u64, tag: &str, value: &str) -> u64 {
    let h = xxhash_rust::xxh3::xxh3_64_with_seed(tag.as_bytes(), seed);
    xxhash_rust::xxh3::xxh3_64_with_seed(value.as_bytes(), h)
}

/// SplitMix64: a tiny deterministic generator seeded from [`hash3`].
#[derive(Clone, Debug)]
pub(crate) struct Mix(u64);

impl Mix {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }
}

/// `application/x-www-form-urlencoded` pairs, in order, repeated keys kept.
pub(crate) fn parse_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(kv), String::new()),
        })
        .collect()
}

pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (b.get(i + 1).and_then(|c| hex(*c)), b.get(i + 2).and_then(|c| hex(*c))) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query parameters with helpers for first value and all values.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params(pub(crate) Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        Self(raw.map(parse_pairs).unwrap_or_default())
    }
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    /// First non-blank value, trimmed.
    pub(crate) fn get_nonblank(&self, key: &str) -> Option<&str> {
        self.get(key).map(str::trim).filter(|v| !v.is_empty())
    }
    pub(crate) fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

pub(crate) fn normalize_email(e: &str) -> String {
    e.trim().to_ascii_lowercase()
}

/// Name key: lowercase ASCII letters/digits, single spaces.
pub(crate) fn normalize_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&w.to_lowercase());
    }
    out
}

/// Employer key: name or domain, lowercase alphanumerics, legal suffix dropped,
/// `www.`/scheme/TLD-path noise dropped for domains.
pub(crate) fn normalize_employer(s: &str) -> String {
    let s = s.trim().to_lowercase();
    let s = s
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_start_matches("www.");
    let s = s.split('/').next().unwrap_or("");
    let mut words: Vec<&str> = s
        .split(|c: char| !c.is_alphanumeric() && c != '.')
        .filter(|w| !w.is_empty())
        .collect();
    while let Some(last) = words.last() {
        if [
            "inc", "inc.", "llc", "ltd", "ltd.", "corp", "corp.", "co", "co.", "gmbh", "plc",
        ]
        .contains(last)
            && words.len() > 1
        {
            words.pop();
        } else {
            break;
        }
    }
    words.concat().replace('.', "")
}

/// Domain from a website/URL/email-ish string.
pub(crate) fn normalize_domain(s: &str) -> String {
    let s = s.trim().to_ascii_lowercase();
    let s = s.rsplit('@').next().unwrap_or("").to_string();
    let s = s
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_start_matches("www.");
    s.split(['/', '?', '#'])
        .next()
        .unwrap_or("")
        .trim_end_matches('.')
        .to_string()
}

/// LinkedIn profile key: `linkedin.com/in/<slug>` lowercase, whatever the
/// scheme, subdomain, query or trailing slash.
pub(crate) fn normalize_linkedin(s: &str) -> String {
    let s = s.trim().to_ascii_lowercase();
    let s = s.trim_start_matches("https://").trim_start_matches("http://");
    let s = match s.find("linkedin.com") {
        Some(i) => &s[i..],
        None => s,
    };
    let s = s.split(['?', '#']).next().unwrap_or("");
    s.trim_end_matches('/').to_string()
}

pub(crate) fn phone_digits(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_digit()).collect()
}

pub(crate) fn b64url(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

pub(crate) fn b64url_decode(s: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// A UUID-shaped id from a 128-bit value.
pub(crate) fn uuid_from(a: u64, b: u64) -> String {
    let b = (b & 0xffff_ffff_ffff_0fff) | 0x4000; // version nibble
    let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keeps_repeated_keys_and_decodes() {
        let p = Params::parse(Some("ids=1&ids=2&name=Jane+Doe&e=a%40b.com&x=%zz"));
        assert_eq!(p.all("ids").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(p.get("name"), Some("Jane Doe"));
        assert_eq!(p.get("e"), Some("a@b.com"));
        assert_eq!(p.get("x"), Some("%zz"));
    }

    #[test]
    fn cursor_encoding_matches_the_contract_examples() {
        assert_eq!(b64url("o:50"), "bzo1MA");
        assert_eq!(b64url("o:100"), "bzoxMDA");
        assert_eq!(b64url_decode("bzo1MA").as_deref(), Some("o:50"));
    }

    #[test]
    fn identities_normalise() {
        assert_eq!(
            normalize_linkedin("HTTPS://www.LinkedIn.com/in/Jane-Doe/?x=1"),
            "linkedin.com/in/jane-doe"
        );
        assert_eq!(normalize_employer("Acme Labs, Inc."), "acmelabs");
        assert_eq!(normalize_employer("https://www.acme.io/about"), "acmeio");
        assert_eq!(normalize_domain("https://www.Acme.io/about"), "acme.io");
        assert_eq!(normalize_name("  Jane   O'Doe "), "jane o doe");
    }
}
