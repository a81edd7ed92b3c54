//! Sandbox configuration: one strict serde tree, every default taken from the
//! vendor contracts (summarised in `docs/contracts.md`), or marked as a sandbox
//! decision where the contract leaves it open. Loadable from TOML or JSON; changeable at runtime
//! through a JSON merge patch (`POST /__sandbox/config`, [`super::Sandbox::configure`]).
//!
//! Owns what every vendor shares: loading, patching, the universe size,
//! rate windows, credits, latency and faults. Each vendor's own section
//! lives in its folder (`<vendor>/config.rs`, re-exported at the crate
//! root), and [`SandboxConfig`]'s field per vendor comes from the registry
//! (`simulator::registry!`); this module names no vendor.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{SandboxConfig, SandboxError, Vendor};

/// Seed of [`SandboxConfig::default`].
pub(crate) const DEFAULT_SEED: u64 = 42;
/// Address every vendor listens on by default: loopback.
pub(crate) const DEFAULT_BIND: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

impl SandboxConfig {
    /// Loads a config file: `.json` as JSON, anything else as TOML. Unknown keys
    /// are errors naming their path.
    pub fn from_file(path: &Path) -> Result<Self, SandboxError> {
        let text = std::fs::read_to_string(path).map_err(|e| SandboxError::Config {
            origin: path.display().to_string(),
            message: e.to_string(),
        })?;
        let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let origin = path.display().to_string();
        if is_json {
            Self::from_json_str(&text).map_err(|e| e.with_origin(&origin))
        } else {
            Self::from_toml_str(&text).map_err(|e| e.with_origin(&origin))
        }
    }

    /// Parses TOML text.
    pub fn from_toml_str(text: &str) -> Result<Self, SandboxError> {
        let de = toml::Deserializer::parse(text).map_err(|e| SandboxError::Config {
            origin: "<toml>".into(),
            message: e.to_string(),
        })?;
        serde_path_to_error::deserialize(de).map_err(|e| SandboxError::Config {
            origin: "<toml>".into(),
            message: format!("{}: {}", e.path(), e.inner()),
        })
    }

    /// Parses JSON text.
    pub fn from_json_str(text: &str) -> Result<Self, SandboxError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| SandboxError::Config {
            origin: "<json>".into(),
            message: format!("{}: {}", e.path(), e.inner()),
        })
    }

    /// Applies a JSON merge patch (RFC 7386) and re-validates the result.
    pub fn patched(&self, patch: &serde_json::Value) -> Result<Self, SandboxError> {
        let mut value = serde_json::to_value(self).expect("config serialises");
        merge_patch(&mut value, patch);
        let text = value.to_string();
        Self::from_json_str(&text)
    }

    /// A config with every rate limit, quota and fault switched off and
    /// unlimited credits: the sandbox as a fast, always-answering fixture.
    pub fn unlimited() -> Self {
        let mut c = Self::default();
        for v in Vendor::ALL {
            c.section_mut(v).unlimit();
        }
        c
    }
}

/// RFC 7386 JSON merge patch: objects merge recursively, `null` deletes (which
/// here means "back to the default"), anything else replaces.
pub(crate) fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    use serde_json::Value;
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            let t = target.as_object_mut().expect("object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Size of the synthetic universe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UniverseConfig {
    pub companies: u32,
    pub people: u32,
}

impl Default for UniverseConfig {
    fn default() -> Self {
        Self {
            companies: 1_000,
            people: 10_000,
        }
    }
}

/// A fixed window: at most `limit` requests per `per_ms` milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateWindow {
    pub limit: u32,
    pub per_ms: u64,
}

impl RateWindow {
    pub const fn per_second(limit: u32) -> Self {
        Self { limit, per_ms: 1_000 }
    }
    pub const fn per_minute(limit: u32) -> Self {
        Self { limit, per_ms: 60_000 }
    }
}

/// A credit balance: a number, or `"unlimited"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Credits {
    #[default]
    Unlimited,
    Amount(u64),
}

impl Credits {
    pub(crate) fn as_balance(self) -> i64 {
        match self {
            Credits::Unlimited => i64::MAX,
            Credits::Amount(n) => n.min(i64::MAX as u64 / 2) as i64,
        }
    }
}

impl Serialize for Credits {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Credits::Unlimited => s.serialize_str("unlimited"),
            Credits::Amount(n) => s.serialize_u64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for Credits {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Credits::Amount(n)),
            Raw::S(s) if s.eq_ignore_ascii_case("unlimited") => Ok(Credits::Unlimited),
            Raw::S(s) => Err(serde::de::Error::custom(format!(
                "expected a number or \"unlimited\", got {s:?}"
            ))),
        }
    }
}

/// Latency added before every vendor answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    #[default]
    None,
    Fixed {
        ms: u64,
    },
    Uniform {
        min_ms: u64,
        max_ms: u64,
    },
}

/// Seeded fault injection. Rates are probabilities in `0.0..=1.0`, drawn per
/// request from (seed, vendor, request number). Everything off by default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    pub latency: Latency,
    /// Share of requests answered with `error_status` in the vendor's envelope.
    pub error_rate: f64,
    pub error_status: u16,
    /// Share of requests answered only after `slow_ms` (past a client timeout).
    pub slow_rate: f64,
    pub slow_ms: u64,
    /// Share of requests whose connection is closed without a complete response.
    pub drop_rate: f64,
    /// Share of responses whose body is cut in half (malformed JSON).
    pub truncate_rate: f64,
    /// Share of requests that start a throttling burst: for `throttle_ms`
    /// every request gets the vendor's rate-limit answer (429 with
    /// `Retry-After` where the vendor sends one).
    pub throttle_rate: f64,
    pub throttle_ms: u64,
    /// Share of webhook deliveries sent a second time after a success.
    pub webhook_duplicate_rate: f64,
    /// Extra delay before the first webhook attempt (late webhooks).
    pub webhook_late_ms: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency: Latency::None,
            error_rate: 0.0,
            error_status: 500,
            slow_rate: 0.0,
            slow_ms: 30_000,
            drop_rate: 0.0,
            truncate_rate: 0.0,
            throttle_rate: 0.0,
            throttle_ms: 2_000,
            webhook_duplicate_rate: 0.0,
            webhook_late_ms: 0,
        }
    }
}

impl Faults {
    pub(crate) fn any_request_fault(&self) -> bool {
        self.latency != Latency::None
            || self.error_rate > 0.0
            || self.slow_rate > 0.0
            || self.drop_rate > 0.0
            || self.truncate_rate > 0.0
            || self.throttle_rate > 0.0
    }
}

/// Contract default webhook schedule: attempts at 0 s, 30 s, 2 min, 10 min, 1 h.
pub(crate) fn default_schedule() -> Vec<u64> {
    vec![0, 30_000, 120_000, 600_000, 3_600_000]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml_and_json() {
        let c = SandboxConfig::default();
        let toml_text = toml::to_string(&c).unwrap();
        assert_eq!(SandboxConfig::from_toml_str(&toml_text).unwrap(), c);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(SandboxConfig::from_json_str(&json).unwrap(), c);
    }

    #[test]
    fn unknown_keys_are_named_with_their_path() {
        let name = Vendor::ALL[0].as_str();
        let err = SandboxConfig::from_toml_str(&format!("[{name}]\nratelimit = []\n")).unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
    }

    #[test]
    fn merge_patch_changes_one_key() {
        let c = SandboxConfig::default();
        let v = Vendor::ALL[0];
        let p = serde_json::json!({v.as_str(): {"port": 4321}});
        let n = c.patched(&p).unwrap();
        assert_eq!(n.section(v).port(), 4321);
        assert_eq!(n.section(v).api_keys(), c.section(v).api_keys());
        assert!(c.patched(&serde_json::json!({"nope": 1})).is_err());
    }

    #[test]
    fn unlimited_lifts_every_vendors_credits() {
        let json = serde_json::to_value(SandboxConfig::unlimited()).unwrap();
        for v in Vendor::ALL {
            let credits = &json[v.as_str()]["credits"];
            assert!(credits.is_null() || credits == "unlimited", "{}: {credits}", v.as_str());
        }
    }
}
