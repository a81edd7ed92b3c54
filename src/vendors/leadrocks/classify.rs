//! How LeadRocks' replies are classified: its envelope's error code decides
//! before the HTTP status.

use crate::vendors::http::{Reply, Verdict, by_status, error_message, retry_after, status_text};

/// LeadRocks: the envelope `{"status":"failed","error":{"code":N}}` decides
/// before the HTTP status (codes are not mapped to statuses in the contract):
/// 100 bad token → fatal; 103 credits and 110 instant-verify quota → out of
/// credits; 102 → retry; 111 "try again later" → throttle; 109 (bulk cap:
/// wait for a running list) and 101, 104–108 (bad request/file) → record.
pub fn classify(reply: &Reply<'_>) -> Verdict {
    #[derive(serde::Deserialize)]
    struct Envelope {
        status: Option<String>,
        error: Option<Code>,
    }
    #[derive(serde::Deserialize)]
    struct Code {
        code: Option<u64>,
    }
    // Skip the parse for bodies that cannot be a failure (CSV downloads, successes).
    let maybe_failed = reply.body.windows(8).any(|w| w == b"\"failed\"");
    let envelope = maybe_failed
        .then(|| serde_json::from_slice::<Envelope>(reply.body).ok())
        .flatten()
        .filter(|e| e.status.as_deref() == Some("failed"));
    let Some(envelope) = envelope else {
        return by_status(reply);
    };
    let msg = error_message(reply.body).unwrap_or_else(|| "failed".into());
    let msg = format!("{}: {msg}", status_text(reply.status));
    match envelope.error.and_then(|e| e.code) {
        Some(100) => Verdict::Fatal(msg),
        Some(103 | 110) => Verdict::OutOfCredits(msg),
        Some(102) => Verdict::Retry(msg),
        Some(111) => Verdict::Throttle {
            retry_after: retry_after(reply.headers),
            reason: msg,
        },
        Some(101 | 104..=109) => Verdict::Record(msg),
        _ if reply.status.is_success() => Verdict::Record(msg),
        _ => by_status(reply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendors::http::classify::tests::verdict;

    #[test]
    fn leadrocks_rules() {
        let failed = |code: u32| format!(r#"{{"status":"failed","error":{{"code":{code},"message":"m{code}"}}}}"#);
        for status in [200, 400, 401, 403, 500] {
            assert!(matches!(verdict(classify, status, &failed(100)), Verdict::Fatal(_)));
            assert!(matches!(
                verdict(classify, status, &failed(103)),
                Verdict::OutOfCredits(_)
            ));
            assert!(matches!(
                verdict(classify, status, &failed(110)),
                Verdict::OutOfCredits(_)
            ));
            assert!(matches!(verdict(classify, status, &failed(102)), Verdict::Retry(_)));
            assert!(matches!(
                verdict(classify, status, &failed(111)),
                Verdict::Throttle { .. }
            ));
            for code in [101, 104, 105, 106, 107, 108, 109] {
                assert!(matches!(verdict(classify, status, &failed(code)), Verdict::Record(_)));
            }
        }
        assert_eq!(
            verdict(classify, 403, &failed(103)),
            Verdict::OutOfCredits("HTTP 403 Forbidden: error 103: m103".into())
        );
        // Unknown codes fall back to the HTTP status.
        assert!(matches!(verdict(classify, 503, &failed(999)), Verdict::Retry(_)));
        assert!(matches!(verdict(classify, 200, &failed(999)), Verdict::Record(_)));
        // No envelope: by status.
        assert_eq!(
            verdict(classify, 200, r#"{"status":"success","data":{"credits":10}}"#),
            Verdict::Ok
        );
        assert!(matches!(
            verdict(classify, 524, "<html>timeout</html>"),
            Verdict::Retry(_)
        ));
        assert!(matches!(verdict(classify, 401, ""), Verdict::Fatal(_)));
    }
}
