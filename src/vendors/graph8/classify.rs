//! How graph8's replies are classified, and its error bodies decoded into
//! clear messages: `{"detail": "…"}`, a validation list
//! `{"detail": [{"loc": […], "msg": …}]}`, or `{"type": …, "message": …}`.

use serde_json::Value;

use crate::vendors::http::{Reply, Verdict, by_status, status_text, tidy};

/// A graph8 error body, in any of its documented shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// `{"detail": "Company not found"}` (also every 401 message).
    Detail(String),
    /// `{"detail": [{"loc": ["body","work_email"], "msg": "…", "type": "…"}]}` (422, pydantic v1/v2).
    Fields(Vec<FieldProblem>),
    /// `{"type": "bad_request", "message": "Invalid cursor"}` (no `detail`).
    Typed { kind: String, message: Option<String> },
    /// Anything else, as text.
    Raw(String),
}

/// One entry of a validation error list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The last named segment of `loc` (`work_email`), if any.
    pub field: Option<String>,
    /// `loc` joined with dots (`body.contacts.3.work_email`).
    pub loc: String,
    pub message: String,
}

impl ApiError {
    pub fn decode(body: &[u8]) -> ApiError {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return ApiError::Raw(String::from_utf8_lossy(body).trim().to_string());
        };
        match v.get("detail") {
            Some(Value::String(s)) => return ApiError::Detail(s.clone()),
            Some(Value::Array(items)) => return ApiError::Fields(items.iter().map(FieldProblem::of).collect()),
            Some(other) if !other.is_null() => return ApiError::Detail(other.to_string()),
            _ => {}
        }
        if let Some(kind) = v.get("type").and_then(Value::as_str) {
            let message = ["message", "detail", "title", "msg"]
                .iter()
                .find_map(|k| v.get(*k).and_then(Value::as_str))
                .map(str::to_string);
            return ApiError::Typed {
                kind: kind.to_string(),
                message,
            };
        }
        ApiError::Raw(v.to_string())
    }
}

impl FieldProblem {
    pub(super) fn of(item: &Value) -> FieldProblem {
        let loc: Vec<String> = item
            .get("loc")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let field = item
            .get("loc")
            .and_then(Value::as_array)
            .and_then(|l| l.iter().rev().find_map(Value::as_str))
            .filter(|f| !matches!(*f, "body" | "query" | "path" | "contacts"))
            .map(str::to_string);
        FieldProblem {
            field,
            loc: loc.join("."),
            // A blank `msg` says no more than a missing one.
            message: item
                .get("msg")
                .and_then(Value::as_str)
                .filter(|m| !m.trim().is_empty())
                .unwrap_or("invalid")
                .to_string(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // An empty body still says something: a blank reason reads as no reason at all.
            ApiError::Detail(s) | ApiError::Raw(s) if s.trim().is_empty() => f.write_str("(the answer had no message)"),
            ApiError::Detail(s) | ApiError::Raw(s) => f.write_str(s),
            ApiError::Fields(items) if items.is_empty() => f.write_str("(the answer had no message)"),
            ApiError::Fields(items) => {
                for (i, p) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    match &p.field {
                        Some(field) => write!(f, "{field}: {}", p.message)?,
                        None if !p.loc.is_empty() => write!(f, "{}: {}", p.loc, p.message)?,
                        None => f.write_str(&p.message)?,
                    }
                }
                Ok(())
            }
            ApiError::Typed { kind, message: Some(m) } => write!(f, "{kind}: {m}"),
            ApiError::Typed { kind, message: None } => f.write_str(kind),
        }
    }
}

/// graph8's classifier: the generic rule by status, with the message taken
/// from whichever error shape the body has (401 texts pass through as sent,
/// e.g. "JWT token provided instead of API key").
pub fn classify(reply: &Reply<'_>) -> Verdict {
    let status = reply.status;
    let message = || match tidy(&ApiError::decode(reply.body).to_string()) {
        Some(what) => format!("{}: {what}", status_text(status)),
        None => status_text(status),
    };
    match by_status(reply) {
        Verdict::Ok => Verdict::Ok,
        Verdict::Retry(_) => Verdict::Retry(message()),
        Verdict::Throttle { retry_after, .. } => Verdict::Throttle {
            retry_after,
            reason: message(),
        },
        Verdict::Record(_) if (300..400).contains(&status.as_u16()) => by_status(reply),
        Verdict::Record(_) => Verdict::Record(message()),
        Verdict::Fatal(_) => Verdict::Fatal(message()),
        Verdict::OutOfCredits(_) => Verdict::OutOfCredits(message()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::vendors::http::classify::tests::{verdict as reply, verdict_h};

    #[test]
    fn three_error_shapes_decode_to_clear_messages() {
        assert_eq!(
            ApiError::decode(br#"{"detail":"Company not found"}"#).to_string(),
            "Company not found"
        );
        let fields = ApiError::decode(
            br#"{"detail":[{"loc":["body","work_email"],"msg":"value is not a valid email address","type":"value_error.email"}]}"#,
        );
        assert_eq!(fields.to_string(), "work_email: value is not a valid email address");
        // pydantic v2 adds input, ctx and url.
        let v2 = ApiError::decode(
            br#"{"detail":[{"type":"missing","loc":["body","list_id"],"msg":"Field required","input":{},"url":"https://errors.pydantic.dev/2/v/missing"}]}"#,
        );
        assert_eq!(v2.to_string(), "list_id: Field required");
        assert_eq!(
            ApiError::decode(br#"{"type":"bad_request","message":"Invalid cursor"}"#).to_string(),
            "bad_request: Invalid cursor"
        );
        assert_eq!(ApiError::decode(b"<html>oops</html>").to_string(), "<html>oops</html>");
    }

    #[test]
    fn classifier_passes_401_messages_through() {
        assert_eq!(
            reply(classify, 401, r#"{"detail":"JWT token provided instead of API key"}"#),
            Verdict::Fatal("HTTP 401 Unauthorized: JWT token provided instead of API key".into())
        );
        assert_eq!(
            reply(classify, 400, r#"{"type":"bad_request","message":"Invalid cursor"}"#),
            Verdict::Record("HTTP 400 Bad Request: bad_request: Invalid cursor".into())
        );
        assert_eq!(
            reply(
                classify,
                422,
                r#"{"detail":[{"loc":["body","list_id"],"msg":"field required"}]}"#
            ),
            Verdict::Record("HTTP 422 Unprocessable Entity: list_id: field required".into())
        );
        assert!(matches!(reply(classify, 500, ""), Verdict::Retry(_)));
        assert!(matches!(reply(classify, 429, "{}"), Verdict::Throttle { .. }));
        assert_eq!(reply(classify, 200, "{}"), Verdict::Ok);
    }

    #[test]
    fn graph8_rules() {
        assert_eq!(
            reply(
                classify,
                422,
                r#"{"detail":[{"loc":["body","work_email"],"msg":"value is not a valid email address","type":"value_error.email"}]}"#
            ),
            Verdict::Record("HTTP 422 Unprocessable Entity: work_email: value is not a valid email address".into())
        );
        assert!(matches!(
            reply(classify, 401, r#"{"detail":"JWT token provided instead of API key"}"#),
            Verdict::Fatal(m) if m.ends_with("JWT token provided instead of API key")
        ));
        assert!(matches!(reply(classify, 403, ""), Verdict::Fatal(_)));
        assert!(matches!(
            reply(classify, 400, r#"{"type":"bad_request","title":"bad cursor"}"#),
            Verdict::Record(m) if m.contains("bad_request")
        ));
        assert!(matches!(
            verdict_h(classify, 429, &[("retry-after", "1")], r#"{"detail":"Rate limit exceeded. Please slow down."}"#),
            Verdict::Throttle { retry_after: Some(d), .. } if d == Duration::from_secs(1)
        ));
    }
}
