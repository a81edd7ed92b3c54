//! How ReachStream's replies are classified: its envelope's status decides
//! over a 2xx, and a refused fetch may be the webhook secret, not the key.

use reqwest::StatusCode;
use serde_json::Value;

use crate::vendors::http::{Reply, Verdict, by_status};

/// ReachStream: the envelope `{"status":…,"message":…,"data":…}` repeats the
/// HTTP code (as a number or a string); when a 2xx carries an error status in
/// the envelope, that status decides. 401/403 bad key, 402 insufficient credit.
/// On the data fetch, which also carries the webhook secret, a 401/403 is
/// returned to the client as record-level: it may be the secret, not the key,
/// and the client finds out which before stopping the vendor.
pub fn classify(reply: &Reply<'_>) -> Verdict {
    match reachstream_envelope(reply) {
        Verdict::Fatal(why) if reply.endpoint == "fetch" => Verdict::Record(why),
        v => v,
    }
}

fn reachstream_envelope(reply: &Reply<'_>) -> Verdict {
    /// Only the envelope's status: the rest of the body is skipped, not built.
    #[derive(serde::Deserialize)]
    struct Envelope {
        status: Option<Value>,
    }
    if reply.status.is_success() {
        let inner = serde_json::from_slice::<Envelope>(reply.body)
            .ok()
            .and_then(|v| match v.status? {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
            .and_then(|n| StatusCode::from_u16(u16::try_from(n).ok()?).ok())
            .filter(|s| s.is_client_error() || s.is_server_error());
        if let Some(status) = inner {
            return by_status(&Reply { status, ..*reply });
        }
    }
    by_status(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendors::http::classify::tests::verdict;

    #[test]
    fn reachstream_rules() {
        assert!(matches!(
            verdict(classify, 401, r#"{"status":401,"message":"Unauthorized","data":null}"#),
            Verdict::Fatal(m) if m == "HTTP 401 Unauthorized: Unauthorized"
        ));
        assert!(matches!(verdict(classify, 403, ""), Verdict::Fatal(_)));
        assert!(matches!(
            verdict(
                classify,
                402,
                r#"{"status":402,"message":"Insufficient credit balance","data":{"available_credit":720,"requested_fetch_count":2000}}"#
            ),
            Verdict::OutOfCredits(m) if m.ends_with("Insufficient credit balance")
        ));
        assert!(matches!(
            verdict(
                classify,
                400,
                r#"{"status":400,"message":"Missing parameter filter","data":null}"#
            ),
            Verdict::Record(_)
        ));
        assert_eq!(
            verdict(classify, 200, r#"{"status":"200","message":"Success","data":[]}"#),
            Verdict::Ok
        );
        // An error status inside a 200 envelope decides.
        assert!(matches!(
            verdict(
                classify,
                200,
                r#"{"status":"402","message":"Insufficient credit balance","data":null}"#
            ),
            Verdict::OutOfCredits(_)
        ));
        assert!(matches!(
            verdict(
                classify,
                429,
                r#"{"status":429,"message":"Too Many Requests","data":null}"#
            ),
            Verdict::Throttle { retry_after: None, .. }
        ));
        assert!(matches!(verdict(classify, 500, "Server Error"), Verdict::Retry(_)));
    }
}
