//! Secrets (API keys, webhook secrets) in a type that cannot leak by accident.
//!
//! `Debug` and `Display` print `***`; the value is reachable only through
//! [`Secret::expose`], which every call site must name explicitly.

use std::fmt;

use serde::{Deserialize, Deserializer};

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The raw value, for an HTTP header or a constant-time comparison only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A connection string fit for a log line or an error: the password of a
/// URL (`postgres://user:pw@host/db`) or of a `key=value` string
/// (`password=pw`) replaced by `***`; everything else kept, so the reader
/// still sees which server and database were meant.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        // The authority ends at the first '/', '?' or '#'; its userinfo at the last '@' in it.
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let tail = redact_query(tail);
        return match authority.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
                None => format!("{scheme}://{userinfo}@{host}{tail}"),
            },
            None => format!("{scheme}://{authority}{tail}"),
        };
    }
    url.split_whitespace()
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `?password=...` in a URL's query.
fn redact_query(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_string();
    };
    let query = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{path}?{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_lose_their_password() {
        assert_eq!(
            redact_url("postgres://app:s3cr@t@db.internal:5432/crm?sslmode=require"),
            "postgres://app:***@db.internal:5432/crm?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://db/crm?user=a&password=pw"),
            "postgres://db/crm?user=a&password=***"
        );
        assert_eq!(redact_url("postgresql://app@db/crm"), "postgresql://app@db/crm");
        assert_eq!(
            redact_url("host=db user=app password=pw dbname=crm"),
            "host=db user=app password=*** dbname=crm"
        );
    }

    #[test]
    fn never_printed() {
        let s = Secret::new("sk_live_123");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(s.expose(), "sk_live_123");
    }
}
