//! What one simulator is to the machinery all of them share, and the
//! registry that lists them.
//!
//! A simulator is a module of its own (`src/<name>/`): its `State`
//! implements [`Simulator`] (its routes, its error and rate-limit answers,
//! its key ring, what it keeps in the state file), its `Config` implements
//! [`Section`] (port, keys, faults, and what "unlimited" means for it), and
//! `BASE_PATH` is the path prefix of its base URL. One line of [`registry!`]
//! in `lib.rs` then makes it a [`Vendor`](crate::Vendor) and gives it its
//! field in [`SandboxConfig`](crate::SandboxConfig), in
//! [`Endpoints`](crate::Endpoints) and in the core's per-vendor state. The
//! shared modules (`lib.rs`, `config`, `stats`, `persist`, `faults`,
//! `webhook`) reach a simulator only through these two traits, and keep
//! per-vendor counters in `[_; Vendor::COUNT]` arrays indexed by
//! `Vendor::idx`.
//!
//! Owns the two traits and the macro; must not touch any route or answer of
//! a vendor. A `macro_rules!` rather than a crate: what it derives is a
//! handful of items that need the vendor list at compile time (a struct
//! field per vendor keeps the config file's and the endpoints' shape, and
//! `c.rocketreach.credits` style access for tests), and no crate generates
//! those from a list.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::response::Response;

use crate::config::Faults;
use crate::limits::Keyring;
use crate::persist::Journal;
use crate::universe::Universe;
use crate::{Core, SandboxConfig};

/// One simulator's state, as the shared machinery drives it. Object safe:
/// the core holds one of each and reaches it as `&dyn Simulator`.
pub(crate) trait Simulator: Send + Sync {
    /// The state at start, before any key is built ([`Simulator::apply`] follows).
    fn new(universe: &Universe, config: &SandboxConfig, journal: &Arc<Journal>) -> Self
    where
        Self: Sized;

    /// The vendor's API routes; the fault, counter and state-file layers are
    /// put around them, and `/__sandbox/*` beside them.
    fn routes(&self, core: &Arc<Core>) -> Router<Arc<Core>>;

    /// An error in the vendor's own envelope (an injected fault).
    fn error(&self, status: StatusCode, message: &str) -> Response;

    /// The vendor's rate-limit answer, as its own limiter would give it (a
    /// throttling burst).
    fn throttled(&self, core: &Core, retry_after_secs: u64) -> Response;

    /// The accepted keys with their balances and limiters.
    fn keys(&self) -> &Keyring;

    /// Rebuilds keys and limiters from `config`; with `carry`, keys that stay
    /// keep their balance and counters.
    fn apply(&self, config: &SandboxConfig, carry: bool);

    /// Forgets what the vendor was asked (a reset): back to its seeded state.
    fn reset(&self, universe: &Universe, config: &SandboxConfig);

    /// The id counter the vendor hands ids out of, kept in the state file so
    /// no id is handed out twice.
    fn seq(&self) -> Option<&AtomicU64> {
        None
    }

    /// The record spaces the vendor keeps in the state file.
    fn spaces(&self) -> &'static [&'static str] {
        &[]
    }

    /// Record `key` of `space` as it is now, to be written to the state file.
    fn save(&self, _space: &str, _key: &str) -> Save {
        Save::Keep
    }

    /// Puts the records of one of its spaces back, at start.
    fn restore(&self, _space: &str, _records: Vec<(String, Vec<u8>)>) -> Result<(), String> {
        Ok(())
    }

    /// A record written after every request of `method`, whatever its handler
    /// noted, and also when the caller goes away mid-request: `(space, key)`.
    fn rewritten_after(&self, _method: &Method) -> Option<(&'static str, String)> {
        None
    }
}

/// What to do with a record the journal says changed.
pub(crate) enum Save {
    Put(Vec<u8>),
    Delete,
    /// Leave the file's copy as it is.
    Keep,
}

/// One simulator's section of [`SandboxConfig`](crate::SandboxConfig), as the
/// shared code reads it.
pub(crate) trait Section {
    /// 0 = ephemeral.
    fn port(&self) -> u16;
    /// Accepted keys; the first is reported in the endpoints.
    fn api_keys(&self) -> &[String];
    fn faults(&self) -> &Faults;
    /// Switches off every rate limit and quota and makes credits unlimited
    /// ([`SandboxConfig::unlimited`](crate::SandboxConfig::unlimited)).
    fn unlimit(&mut self);
    /// Checks the knobs only this vendor has: `Err("key: why")`.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
    /// The webhook secret a client must send back, if the vendor has one.
    fn webhook_secret(&self) -> Option<String> {
        None
    }
    /// Where a delivery remembered from an earlier start goes now (`None`
    /// while no active webhook is set).
    fn webhook_url(&self) -> Option<String> {
        None
    }
}

/// The simulators: `Variant = module`, one line each, in the order stats
/// list them and the state file keeps per-vendor counters (so a new vendor
/// goes at the end). The module name is the vendor's name in the config,
/// the endpoints, the stats and the state file.
///
/// Declares each module and re-exports its `config` submodule, and derives
/// [`Vendor`](crate::Vendor) (`ALL`, `COUNT`, names, base paths), the core's
/// `Sims` (one `State` each, reached as `&dyn Simulator`),
/// [`SandboxConfig`](crate::SandboxConfig) (one `Config` section each) and
/// [`Endpoints`](crate::Endpoints) (one [`Endpoint`](crate::Endpoint) each).
macro_rules! registry {
    ($($variant:ident = $module:ident,)+) => {
        $(mod $module;)+
        $(pub use $module::config::*;)+

        /// One of the simulated vendors.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Vendor {
            $($variant,)+
        }

        impl Vendor {
            pub const COUNT: usize = [$(stringify!($variant),)+].len();
            pub const ALL: [Vendor; Vendor::COUNT] = [$(Vendor::$variant,)+];

            /// Its name in the config, the endpoints, the stats and the state file.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Vendor::$variant => stringify!($module),)+
                }
            }

            /// Path prefix of the vendor's base URL.
            pub fn base_path(self) -> &'static str {
                match self {
                    $(Vendor::$variant => $module::BASE_PATH,)+
                }
            }
        }

        /// Each simulator's own state.
        pub(crate) struct Sims {
            $(pub(crate) $module: $module::State,)+
        }

        impl Sims {
            fn new(universe: &Universe, config: &SandboxConfig, journal: &Arc<persist::Journal>) -> Self {
                Self {
                    $($module: simulator::Simulator::new(universe, config, journal),)+
                }
            }

            pub(crate) fn get(&self, v: Vendor) -> &dyn simulator::Simulator {
                match v {
                    $(Vendor::$variant => &self.$module,)+
                }
            }
        }

        /// The whole sandbox: seed, bind address, universe size and one
        /// section per vendor (see [`config`]).
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct SandboxConfig {
            /// Seed of the synthetic universe and of fault injection.
            pub seed: u64,
            /// Address every vendor listens on. Loopback by default.
            pub bind: std::net::IpAddr,
            pub universe: UniverseConfig,
            $(pub $module: $module::Config,)+
        }

        impl Default for SandboxConfig {
            fn default() -> Self {
                Self {
                    seed: config::DEFAULT_SEED,
                    bind: config::DEFAULT_BIND,
                    universe: UniverseConfig::default(),
                    $($module: Default::default(),)+
                }
            }
        }

        impl SandboxConfig {
            pub(crate) fn section(&self, v: Vendor) -> &dyn simulator::Section {
                match v {
                    $(Vendor::$variant => &self.$module,)+
                }
            }

            pub(crate) fn section_mut(&mut self, v: Vendor) -> &mut dyn simulator::Section {
                match v {
                    $(Vendor::$variant => &mut self.$module,)+
                }
            }
        }

        /// What `leadpipe sandbox` prints on one line: one [`Endpoint`] per
        /// vendor, by name (`{"rocketreach":{"base_url","api_key"},…}`).
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub struct Endpoints {
            $(pub $module: Endpoint,)+
        }

        impl Endpoints {
            fn build(mut endpoint: impl FnMut(Vendor) -> Endpoint) -> Self {
                Self {
                    $($module: endpoint(Vendor::$variant),)+
                }
            }

            /// The endpoint of a vendor.
            pub fn of(&self, v: Vendor) -> &Endpoint {
                match v {
                    $(Vendor::$variant => &self.$module,)+
                }
            }
        }
    };
}
