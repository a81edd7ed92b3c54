//! How RocketReach's replies are classified: the generic rule by status,
//! plus what its contract says of 403 (out of credits or a refused key) and of
//! a 429 whose wait is written in its body.

use std::time::Duration;

use crate::vendors::http::{Reply, Verdict, by_status, describe, error_message, retry_after};

/// RocketReach: a 403 about credits or quota is out-of-credits, any other 403
/// a refused key; a 429 without `Retry-After` may say "Expected available in
/// N seconds" in its body.
pub fn classify(reply: &Reply<'_>) -> Verdict {
    match reply.status.as_u16() {
        403 => {
            let msg = describe(reply.status, reply.body);
            let lower = msg.to_lowercase();
            if ["credit", "quota", "exhaust", "insufficient", "upgrade"]
                .iter()
                .any(|w| lower.contains(w))
            {
                Verdict::OutOfCredits(msg)
            } else {
                Verdict::Fatal(msg)
            }
        }
        429 => Verdict::Throttle {
            retry_after: retry_after(reply.headers).or_else(|| {
                let msg = error_message(reply.body)?;
                let (_, rest) = msg.split_once("available in ")?;
                let secs: f64 = rest.split_whitespace().next()?.parse().ok()?;
                Duration::try_from_secs_f64(secs).ok()
            }),
            reason: describe(reply.status, reply.body),
        },
        _ => by_status(reply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendors::http::classify::tests::{verdict, verdict_h};

    #[test]
    fn rocketreach_rules() {
        assert!(matches!(
            verdict(classify, 401, r#"{"detail":"Invalid API key","error_code":"authentication_failed"}"#),
            Verdict::Fatal(m) if m == "HTTP 401 Unauthorized: Invalid API key"
        ));
        assert!(matches!(
            verdict(classify, 403, r#"{"detail":"You have exhausted your lookup credits."}"#),
            Verdict::OutOfCredits(_)
        ));
        assert!(matches!(
            verdict(
                classify,
                403,
                r#"{"detail":"You do not have permission to perform this action."}"#
            ),
            Verdict::Fatal(_)
        ));
        assert_eq!(
            verdict(
                classify,
                429,
                r#"{"detail":"Request was throttled. Expected available in 12 seconds."}"#
            ),
            Verdict::Throttle {
                retry_after: Some(Duration::from_secs(12)),
                reason: "HTTP 429 Too Many Requests: Request was throttled. Expected available in 12 seconds.".into()
            }
        );
        // The header wins over the body.
        assert!(matches!(
            verdict_h(classify, 429, &[("retry-after", "2")], r#"{"detail":"Expected available in 12 seconds."}"#),
            Verdict::Throttle { retry_after: Some(d), .. } if d == Duration::from_secs(2)
        ));
        assert_eq!(
            verdict(
                classify,
                400,
                r#"{"current_employer":["This field is required with name."]}"#
            ),
            Verdict::Record("HTTP 400 Bad Request: current_employer: This field is required with name.".into())
        );
        assert!(matches!(verdict(classify, 404, ""), Verdict::Record(_)));
        assert!(matches!(verdict(classify, 500, ""), Verdict::Retry(_)));
    }
}
