//! The outcome of a failed vendor call, by what the caller must do next.

use std::time::Duration;

use super::settings::Vendor;

/// What [`CallError::VendorFatal`] names when the vendor refuses the key itself.
pub const API_KEY: &str = "the API key";

/// Why a vendor call failed. The first three stop the vendor: once one is
/// returned, every later call to that vendor returns the same error at once,
/// without touching the network. Messages never carry the API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The vendor refuses a credential (401/403, LeadRocks 100): fix it.
    /// `refused` names it: [`API_KEY`], or e.g. ReachStream's webhook secret
    /// with its pipeline key.
    #[error("{vendor}: the vendor refused {refused} ({message}); no more calls will be made to it")]
    VendorFatal {
        vendor: Vendor,
        status: Option<u16>,
        message: String,
        refused: &'static str,
    },
    /// Credits or a hard quota are exhausted (402, LeadRocks 103/110,
    /// RocketReach 403 about credits): checkpoint and stop; the next run continues.
    #[error("{vendor}: out of credits ({message}); no more calls will be made to it")]
    OutOfCredits { vendor: Vendor, message: String },
    /// The vendor keeps us throttled longer than the run waits (`max_pause`):
    /// a `Retry-After` beyond it, or 429s with no success in between for that long.
    #[error("{vendor}: still rate limited after waiting {} ({message}); no more calls will be made to it", humantime::format_duration(*waited))]
    Throttled {
        vendor: Vendor,
        waited: Duration,
        message: String,
    },
    /// A `[budget]` cap would be exceeded by the next request: nothing more is
    /// sent to the vendor this run; what is in flight finishes. Resumable once
    /// the budget is raised (or the day or month has turned).
    #[error("{vendor}: budget reached ({message}); no more paid requests will be sent to it")]
    BudgetReached { vendor: Vendor, message: String },
    /// This request failed; the record gets `reason` and the run goes on.
    /// `transient` is true when retries ran out on failures that might pass
    /// later (5xx, timeouts, connection errors, malformed bodies).
    #[error("{vendor}: {reason}")]
    Record {
        vendor: Vendor,
        status: Option<u16>,
        reason: String,
        transient: bool,
    },
}

impl CallError {
    pub fn vendor(&self) -> Vendor {
        match self {
            CallError::VendorFatal { vendor, .. }
            | CallError::OutOfCredits { vendor, .. }
            | CallError::Throttled { vendor, .. }
            | CallError::BudgetReached { vendor, .. }
            | CallError::Record { vendor, .. } => *vendor,
        }
    }

    /// True when the vendor is stopped for the rest of the run.
    pub fn stops_vendor(&self) -> bool {
        !matches!(self, CallError::Record { .. })
    }

    /// The HTTP status behind the error, if a reply was received.
    pub fn status(&self) -> Option<u16> {
        match self {
            CallError::VendorFatal { status, .. } | CallError::Record { status, .. } => *status,
            CallError::OutOfCredits { .. } | CallError::Throttled { .. } | CallError::BudgetReached { .. } => None,
        }
    }

    /// A low-cardinality label for logs and counters.
    pub fn class(&self) -> &'static str {
        match self {
            CallError::VendorFatal { .. } => "vendor_fatal",
            CallError::OutOfCredits { .. } => "out_of_credits",
            CallError::Throttled { .. } => "throttled",
            CallError::BudgetReached { .. } => "budget_reached",
            CallError::Record { transient: true, .. } => "gave_up",
            CallError::Record { .. } => "record",
        }
    }
}
