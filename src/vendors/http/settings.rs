//! Resolved vendor settings: a `[vendors.x]` table ([`VendorSpec`]) merged with
//! the vendor's [`Contract`] (`docs/contracts.md` says what leadpipe relies on).
//!
//! Owns the shape of a contract (base URL, how the key is sent, rate windows,
//! plan presets, timeouts, endpoint paths, classifier, balance reader; each
//! vendor's module fills one in) and the validation of every key, so that a
//! bad value is reported with its path (`vendors.rocketreach.plan: …`) before
//! any paid call. It names no vendor.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};

use crate::secret::Secret;
use crate::units::Rate;
pub use crate::vendors::Vendor;
use crate::vendors::spec::VendorSpec;

/// How the API key travels: always in a header, never in a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Auth {
    /// Header name, e.g. `Api-Key`, `X-API-Key`, `Authorization`.
    pub header: &'static str,
    /// Scheme written before the key, e.g. `Bearer` (`Authorization: Bearer <key>`).
    pub scheme: Option<&'static str>,
}

impl Auth {
    pub const fn raw(header: &'static str) -> Auth {
        Auth { header, scheme: None }
    }

    pub const fn bearer() -> Auth {
        Auth {
            header: "Authorization",
            scheme: Some("Bearer"),
        }
    }

    /// The header to send; the value is marked sensitive (kept out of HPACK
    /// tables and printed as `Sensitive` by `Debug`).
    pub(crate) fn header(&self, key: &Secret) -> Option<(HeaderName, HeaderValue)> {
        let name = HeaderName::from_bytes(self.header.as_bytes()).ok()?;
        let raw = match self.scheme {
            Some(scheme) => format!("{scheme} {}", key.expose()),
            None => key.expose().to_owned(),
        };
        let mut value = HeaderValue::from_str(&raw).ok()?;
        value.set_sensitive(true);
        Some((name, value))
    }
}

const MINUTE: u64 = 60;
const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;
const MONTH: u64 = 30 * DAY;

/// What leadpipe relies on of one vendor's contract (`docs/contracts/<name>.md`):
/// each vendor's module states its own as `CONTRACT`, and one line of the
/// registry in `vendors/mod.rs` makes the vendor known.
pub struct Contract {
    /// The name in pipeline files, logs and reports (`[vendors.<name>]`).
    pub name: &'static str,
    pub base_url: &'static str,
    pub auth: Auth,
    /// `bearer = true` may switch the key to `Authorization: Bearer`.
    pub bearer_option: bool,
    /// `(count, seconds)` windows that always apply (vendor-wide caps).
    pub rate_limits: &'static [(u32, u64)],
    /// Plan presets, per minute / hour / day / month, added on top of
    /// `rate_limits` (`plan = "<name>"`); none when the vendor has no plans.
    pub plans: &'static [(&'static str, [u32; 4])],
    /// The plan assumed when a table names none.
    pub default_plan: &'static str,
    pub timeout: Duration,
    /// Typical response time, used to size the default concurrency.
    pub latency: Duration,
    /// Endpoint names and their default paths.
    pub paths: &'static [(&'static str, &'static str)],
    /// Reply → verdict: which status or body means bad key, out of credits,
    /// record-level, retryable.
    pub classify: fn(&super::Reply<'_>) -> super::Verdict,
    /// Reads the key's credit balance (free), for vendors that show one.
    pub balance: Option<crate::vendors::balance::ReadBalance>,
    /// True when its answers cost credits (graph8, the CRM, charges none).
    pub charges: bool,
    /// Its route at the run's webhook receiver, for vendors that deliver by webhook.
    pub webhook: Option<&'static crate::vendors::webhook::WebhookRoute>,
}

/// Attempts per request for transient failures, the first included.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(500);
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Longest a vendor may keep us throttled (one `Retry-After`, or 429s with no
/// success in between) before the run stops calling it and exits resumable.
pub const DEFAULT_MAX_PAUSE: Duration = Duration::from_secs(15 * 60);
/// Bounds of the default concurrency.
pub const MIN_DEFAULT_CONCURRENCY: usize = 4;
pub const MAX_DEFAULT_CONCURRENCY: usize = 64;
/// Upper bound accepted for `concurrency`.
pub const MAX_CONCURRENCY: u32 = 1_024;

/// Everything the HTTP layer needs to call one vendor, validated.
#[derive(Debug, Clone)]
pub struct VendorSettings {
    pub vendor: Vendor,
    /// No query, no fragment, no credentials; paths are appended to it.
    pub base_url: Url,
    pub api_key: Secret,
    pub auth: Auth,
    /// Windows enforced together: a request starts only when every window allows it.
    pub rate_limits: Vec<Rate>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Whole-request timeout (connect, send, and read the body).
    pub timeout: Duration,
    /// Attempts per request for transient failures (first included); 429s are not counted.
    pub max_attempts: u32,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// See [`DEFAULT_MAX_PAUSE`].
    pub max_pause: Duration,
    /// Endpoint name → path relative to `base_url`; every default name is present.
    pub paths: BTreeMap<String, String>,
}

/// A setting that cannot be used, named by its key in the pipeline file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SettingsError {
    /// e.g. `vendors.rocketreach.plan`
    pub key: String,
    pub message: String,
}

impl VendorSettings {
    /// Resolves a `[vendors.x]` table against the vendor's defaults.
    pub fn resolve(vendor: Vendor, spec: &VendorSpec) -> Result<VendorSettings, SettingsError> {
        let d = vendor.contract();
        let err = |key: &str, message: String| SettingsError {
            key: format!("vendors.{vendor}.{key}"),
            message,
        };

        let api_key = match &spec.api_key {
            Some(k) if !k.expose().trim().is_empty() => k.clone(),
            _ => {
                return Err(err(
                    "api_key",
                    format!(
                        "missing (e.g. api_key = \"${{{}_API_KEY}}\")",
                        vendor.name().to_uppercase()
                    ),
                ));
            }
        };

        let auth = match (d.bearer_option, spec.bearer) {
            (true, Some(true)) => Auth::bearer(),
            (_, None) | (true, Some(false)) => d.auth,
            (false, Some(_)) => {
                return Err(err(
                    "bearer",
                    format!(
                        "only {} takes this key (the others have a fixed auth header)",
                        names_with(|c| c.bearer_option)
                    ),
                ));
            }
        };
        if auth.header(&api_key).is_none() {
            // Never echo the value: it is a secret.
            return Err(err(
                "api_key",
                "not usable in an HTTP header (control characters or non-ASCII?)".into(),
            ));
        }

        let base_url =
            parse_base_url(spec.base_url.as_deref().unwrap_or(d.base_url)).map_err(|m| err("base_url", m))?;

        let rate_limits = rate_limits(vendor, spec, &err)?;

        let concurrency = match spec.concurrency {
            Some(0) => return Err(err("concurrency", "must be at least 1".into())),
            Some(n) if n > MAX_CONCURRENCY => {
                return Err(err(
                    "concurrency",
                    format!("{n} is more than the {MAX_CONCURRENCY} this layer allows"),
                ));
            }
            Some(n) => n as usize,
            None => default_concurrency(&rate_limits, d.latency),
        };

        let timeout = spec.timeout.map_or(d.timeout, |s| s.as_duration());
        if timeout.is_zero() {
            return Err(err("timeout", "must be longer than zero".into()));
        }
        let max_attempts = spec.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        if max_attempts == 0 {
            return Err(err("max_attempts", "must be at least 1 (1 = no retries)".into()));
        }
        let min_backoff = spec.min_backoff.map_or(DEFAULT_MIN_BACKOFF, |s| s.0);
        let max_backoff = spec.max_backoff.map_or(DEFAULT_MAX_BACKOFF, |s| s.0);
        if min_backoff.is_zero() {
            return Err(err("min_backoff", "must be longer than zero".into()));
        }
        if min_backoff > max_backoff {
            return Err(err(
                "min_backoff",
                format!(
                    "{} is longer than max_backoff ({})",
                    humantime::format_duration(min_backoff),
                    humantime::format_duration(max_backoff)
                ),
            ));
        }

        let mut paths: BTreeMap<String, String> = d.paths.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        for (name, path) in &spec.paths {
            let key = format!("paths.{name}");
            if !paths.contains_key(name) {
                let known: Vec<&str> = d.paths.iter().map(|(k, _)| *k).collect();
                return Err(err(&key, format!("unknown endpoint (expected {})", known.join(" | "))));
            }
            check_path(path).map_err(|m| err(&key, m))?;
            paths.insert(name.clone(), path.clone());
        }

        Ok(VendorSettings {
            vendor,
            base_url,
            api_key,
            auth,
            rate_limits,
            concurrency,
            timeout,
            max_attempts,
            min_backoff,
            max_backoff,
            max_pause: DEFAULT_MAX_PAUSE,
            paths,
        })
    }

    /// The configured path of an endpoint.
    ///
    /// # Panics
    /// On a name the vendor's defaults table does not have: endpoint names are
    /// constants of the vendor client, so this is a programming error.
    pub fn path(&self, endpoint: &str) -> &str {
        match self.paths.get(endpoint) {
            Some(p) => p,
            None => panic!(
                "{}: no endpoint named {endpoint:?} (known: {:?})",
                self.vendor,
                self.paths.keys().collect::<Vec<_>>()
            ),
        }
    }
}

fn rate_limits(
    vendor: Vendor,
    spec: &VendorSpec,
    err: &impl Fn(&str, String) -> SettingsError,
) -> Result<Vec<Rate>, SettingsError> {
    let window =
        |count: u32, secs: u64| Rate::new(count, Duration::from_secs(secs)).expect("default windows are non-zero");
    let contract = vendor.contract();
    let global: Vec<Rate> = contract.rate_limits.iter().map(|&(c, s)| window(c, s)).collect();

    if contract.plans.is_empty() {
        if spec.plan.is_some() {
            return Err(err(
                "plan",
                format!("only {} has plan presets", names_with(|c| !c.plans.is_empty())),
            ));
        }
        return match &spec.rate_limits {
            Some(v) if v.is_empty() => Err(err("rate_limits", "give at least one window, e.g. [\"10/s\"]".into())),
            Some(v) => Ok(v.clone()),
            None => Ok(global),
        };
    }

    // With plans (RocketReach): the global windows always apply; the plan's
    // (or the user's `rate_limits`, which replace them) come on top. A user
    // window of one second or less replaces the global one.
    let plan_name = spec.plan.as_deref().unwrap_or(contract.default_plan);
    let Some((_, plan)) = contract.plans.iter().find(|(n, _)| *n == plan_name) else {
        let known: Vec<&str> = contract.plans.iter().map(|(n, _)| *n).collect();
        return Err(err(
            "plan",
            format!("unknown plan {plan_name:?} (expected {})", known.join(" | ")),
        ));
    };
    let windows = match &spec.rate_limits {
        Some(v) if v.is_empty() => {
            return Err(err("rate_limits", "give at least one window, e.g. [\"50/min\"]".into()));
        }
        Some(v) => v.clone(),
        None => [MINUTE, HOUR, DAY, MONTH]
            .iter()
            .zip(plan)
            .map(|(&secs, &count)| window(count, secs))
            .collect(),
    };
    let user_has_short = windows.iter().any(|r| r.per <= Duration::from_secs(1));
    let mut out = if user_has_short { Vec::new() } else { global };
    out.extend(windows);
    Ok(out)
}

/// The names of the vendors whose contract has `what`, e.g. `leadrocks`.
fn names_with(what: impl Fn(&Contract) -> bool) -> String {
    let names: Vec<&str> = Vendor::ALL
        .iter()
        .filter(|v| what(v.contract()))
        .map(|v| v.name())
        .collect();
    names.join(", ")
}

/// Enough requests in flight to keep the rate busy while each takes `latency`:
/// the number of requests the windows let start within one latency, clamped
/// to `MIN_DEFAULT_CONCURRENCY..=MAX_DEFAULT_CONCURRENCY` (4..=64).
pub fn default_concurrency(rates: &[Rate], latency: Duration) -> usize {
    let starts = rates
        .iter()
        .map(|r| {
            let count = u64::from(r.count.get());
            if r.per >= latency {
                count
            } else {
                count.saturating_mul(latency.as_nanos().div_ceil(r.per.as_nanos()) as u64)
            }
        })
        .min()
        .unwrap_or(MIN_DEFAULT_CONCURRENCY as u64);
    (starts as usize).clamp(MIN_DEFAULT_CONCURRENCY, MAX_DEFAULT_CONCURRENCY)
}

fn parse_base_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("invalid URL {raw:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{raw:?}: expected an http:// or https:// URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{raw:?}: no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Credentials in a URL end up in error messages; keys go in headers.
        return Err("must not carry credentials (put the key in api_key)".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{raw:?}: must not have a query or fragment"));
    }
    Ok(url)
}

/// A path stays under the base URL: absolute, no scheme or host, no query.
pub(crate) fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') || path.starts_with("//") {
        return Err(format!("{path:?}: must start with a single '/'"));
    }
    if path.contains("://") || path.contains(['?', '#', ' ', '\\']) || path.contains("/../") {
        return Err(format!(
            "{path:?}: must be a plain path (no host, query, fragment, spaces or '..')"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(key: &str) -> VendorSpec {
        VendorSpec {
            api_key: Some(Secret::new(key)),
            ..VendorSpec::default()
        }
    }

    fn rates(v: &[&str]) -> Vec<Rate> {
        v.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn defaults_follow_the_contracts() {
        let rr = VendorSettings::resolve(Vendor::RocketReach, &spec("k")).unwrap();
        assert_eq!(rr.base_url.as_str(), "https://api.rocketreach.co/api/v2");
        assert_eq!(rr.auth, Auth::raw("Api-Key"));
        assert_eq!(
            rr.rate_limits,
            rates(&["10/s", "15/min", "100/hour", "500/day", "5000/month"])
        );
        assert_eq!(rr.concurrency, 15, "15/min lets 15 start within 2 s");
        assert_eq!(rr.path("person_lookup"), "/person/lookup");
        assert_eq!(rr.path("check_status"), "/person/checkStatus");
        assert_eq!(rr.path("account"), "/account/");

        let rs = VendorSettings::resolve(Vendor::ReachStream, &spec("k")).unwrap();
        assert_eq!(rs.base_url.as_str(), "https://api-prd.reachstream.com/");
        assert_eq!(rs.auth, Auth::raw("X-API-Key"));
        assert_eq!(rs.rate_limits, rates(&["10/s"]));
        assert_eq!(rs.concurrency, 20);
        assert_eq!(rs.path("count"), "/api/v2/request/records/count");
        assert_eq!(rs.path("count_alternate"), "/api/v2/async/records/filter/count");

        let lr = VendorSettings::resolve(Vendor::LeadRocks, &spec("k")).unwrap();
        assert_eq!(lr.auth, Auth::raw("Authorization"));
        assert!(lr.timeout >= Duration::from_secs(110));
        assert_eq!(lr.path("bulk_progress"), "/verify-bulk-progress");

        let g8 = VendorSettings::resolve(Vendor::Graph8, &spec("k")).unwrap();
        assert_eq!(g8.base_url.as_str(), "https://be.graph8.com/api/v1");
        assert_eq!(g8.auth, Auth::bearer());
        assert_eq!(g8.rate_limits, rates(&["50/s", "1000/min"]));
        assert_eq!(g8.concurrency, 50);
        assert_eq!(g8.max_attempts, DEFAULT_MAX_ATTEMPTS);
    }

    #[test]
    fn plan_presets_and_overrides() {
        let mut s = spec("k");
        s.plan = Some("ultimate".into());
        let rr = VendorSettings::resolve(Vendor::RocketReach, &s).unwrap();
        assert_eq!(
            rr.rate_limits,
            rates(&["10/s", "100/min", "1000/hour", "3000/day", "50000/month"])
        );
        assert_eq!(rr.concurrency, 20);

        // rate_limits replaces the plan windows; the global 10/s stays…
        s.rate_limits = Some(rates(&["40/min"]));
        let rr = VendorSettings::resolve(Vendor::RocketReach, &s).unwrap();
        assert_eq!(rr.rate_limits, rates(&["10/s", "40/min"]));
        // …unless a per-second window is given.
        s.rate_limits = Some(rates(&["5/s", "40/min"]));
        let rr = VendorSettings::resolve(Vendor::RocketReach, &s).unwrap();
        assert_eq!(rr.rate_limits, rates(&["5/s", "40/min"]));

        let mut s = spec("k");
        s.rate_limits = Some(rates(&["2/s"]));
        s.concurrency = Some(3);
        s.bearer = Some(true);
        let lr = VendorSettings::resolve(Vendor::LeadRocks, &s).unwrap();
        assert_eq!((lr.rate_limits, lr.concurrency), (rates(&["2/s"]), 3));
        assert_eq!(lr.auth, Auth::bearer());
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = |vendor, f: fn(&mut VendorSpec)| {
            let mut s = spec("k");
            f(&mut s);
            VendorSettings::resolve(vendor, &s).unwrap_err().to_string()
        };
        assert_eq!(
            e(Vendor::RocketReach, |s| s.plan = Some("gold".into())),
            "vendors.rocketreach.plan: unknown plan \"gold\" (expected essentials | pro | ultimate | custom)"
        );
        assert_eq!(
            e(Vendor::Graph8, |s| s.concurrency = Some(0)),
            "vendors.graph8.concurrency: must be at least 1"
        );
        assert!(
            e(Vendor::LeadRocks, |s| s.base_url = Some("not a url".into()))
                .starts_with("vendors.leadrocks.base_url: invalid URL \"not a url\"")
        );
        assert!(
            e(Vendor::LeadRocks, |s| s.base_url = Some("ftp://x".into())).starts_with("vendors.leadrocks.base_url:")
        );
        assert_eq!(
            e(Vendor::Graph8, |s| s.base_url = Some("https://u:p@h/".into())),
            "vendors.graph8.base_url: must not carry credentials (put the key in api_key)"
        );
        assert_eq!(
            e(Vendor::LeadRocks, |s| {
                s.paths.insert("verify".into(), "/v".into());
            }),
            "vendors.leadrocks.paths.verify: unknown endpoint (expected credits | verify_instant | verify_bulk | bulk_progress | bulk_download)"
        );
        assert!(
            e(Vendor::LeadRocks, |s| {
                s.paths.insert("verify_bulk".into(), "https://evil.example/x".into());
            })
            .starts_with("vendors.leadrocks.paths.verify_bulk:")
        );
        assert!(e(Vendor::Graph8, |s| s.plan = Some("pro".into())).starts_with("vendors.graph8.plan:"));
        assert!(e(Vendor::Graph8, |s| s.bearer = Some(false)).starts_with("vendors.graph8.bearer:"));
        assert!(e(Vendor::Graph8, |s| s.max_attempts = Some(0)).starts_with("vendors.graph8.max_attempts:"));
        assert!(e(Vendor::Graph8, |s| s.rate_limits = Some(vec![])).starts_with("vendors.graph8.rate_limits:"));
        assert!(e(Vendor::Graph8, |s| s.api_key = None).starts_with("vendors.graph8.api_key: missing"));
    }

    #[test]
    fn a_key_unfit_for_a_header_is_rejected_without_being_echoed() {
        let msg = VendorSettings::resolve(Vendor::Graph8, &spec("sk-live\nX-Evil: 1"))
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("vendors.graph8.api_key:"), "{msg}");
        assert!(!msg.contains("sk-live"), "{msg}");
    }

    #[test]
    fn auth_headers() {
        let key = Secret::new("k1");
        let (n, v) = Auth::bearer().header(&key).unwrap();
        assert_eq!((n.as_str(), v.to_str().unwrap()), ("authorization", "Bearer k1"));
        assert!(v.is_sensitive());
        assert_eq!(format!("{v:?}"), "Sensitive");
        let (n, v) = Auth::raw("X-API-Key").header(&key).unwrap();
        assert_eq!((n.as_str(), v.to_str().unwrap()), ("x-api-key", "k1"));
    }

    #[test]
    fn concurrency_covers_one_latency_of_starts() {
        let c = |r: &[&str], ms| default_concurrency(&rates(r), Duration::from_millis(ms));
        assert_eq!(c(&["10/s"], 2_000), 20);
        assert_eq!(c(&["10/s", "15/min"], 2_000), 15);
        assert_eq!(c(&["1/s"], 2_000), MIN_DEFAULT_CONCURRENCY);
        assert_eq!(c(&["1000/s"], 2_000), MAX_DEFAULT_CONCURRENCY);
        assert_eq!(c(&["3/500ms"], 1_200), 9);
    }
}
