//! Vendor clients.
//!
//! `http` is the layer every client stands on: settings resolved from the
//! contracts, rate windows, concurrency, retries, failure classes, counters.
//! `paid` keeps every paid answer bought once: cache, coalescing, ledger.
//! `balance` reads each vendor's own balance, to reconcile credits.
//! `budget` reserves each paid request's worst case against the `[budget]` caps.
//! `spec` is the `[vendors.*]` tables of the pipeline file; `webhook` the run's
//! receiver of vendor deliveries.
//!
//! Each vendor's module states what leadpipe relies on of its contract as
//! `CONTRACT` (defaults, failure classifier, balance reader), and one line of
//! `registry!` below makes it a [`Vendor`].
pub mod balance;
pub mod budget;
pub mod decode;
pub mod graph8;
pub mod http;
pub mod leadrocks;
pub mod paid;
pub mod reachstream;
pub mod rocketreach;
pub mod spec;
pub mod webhook;

use http::settings::Contract;

/// The vendors: `Variant = module`, one line each, in the order reports
/// list them. Makes [`Vendor`] and its link to each module's `CONTRACT`.
macro_rules! registry {
    ($($variant:ident = $module:ident,)+) => {
        /// The vendors leadpipe talks to.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Vendor {
            $($variant,)+
        }

        impl Vendor {
            pub const ALL: &'static [Vendor] = &[$(Vendor::$variant,)+];

            /// What leadpipe relies on of the vendor's contract.
            pub fn contract(self) -> &'static Contract {
                match self {
                    $(Vendor::$variant => &$module::CONTRACT,)+
                }
            }
        }
    };
}

registry! {
    RocketReach = rocketreach,
    ReachStream = reachstream,
    LeadRocks = leadrocks,
    Graph8 = graph8,
}

impl Vendor {
    /// The name used in pipeline files, logs and reports (`[vendors.<name>]`).
    pub fn name(self) -> &'static str {
        self.contract().name
    }

    pub fn from_name(name: &str) -> Option<Vendor> {
        Vendor::ALL.iter().copied().find(|v| v.name() == name)
    }

    /// Endpoint names this vendor knows, with their default paths.
    pub fn default_paths(self) -> &'static [(&'static str, &'static str)] {
        self.contract().paths
    }
}

impl std::fmt::Display for Vendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Vendor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A vendor's name as a key of the pipeline file (`[vendors.<name>]`,
/// `[budget] <name> = …`); an unknown name is refused with the known ones.
impl<'de> serde::Deserialize<'de> for Vendor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Vendor::from_name(&name).ok_or_else(|| serde::de::Error::custom(unknown_vendor(&name)))
    }
}

/// "unknown vendor `x`, expected one of …", worded as serde words an unknown
/// field, so the pipeline file's diagnosis names it as the key.
pub fn unknown_vendor(name: &str) -> String {
    let known: Vec<String> = Vendor::ALL.iter().map(|v| format!("`{v}`")).collect();
    format!("unknown vendor `{name}`, expected one of {}", known.join(", "))
}
