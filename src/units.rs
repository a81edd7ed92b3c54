//! Human-written quantities in pipeline files: durations (`"500ms"`, `"30d"`)
//! and rates (`"10/s"`, `"100/min"`).
//!
//! Owns parsing and display of these strings only; what a rate limits is the
//! HTTP layer's business.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration written as a string with a unit: `"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"30d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub Duration);

impl Span {
    pub fn as_duration(self) -> Duration {
        self.0
    }
}

impl FromStr for Span {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty duration (expected e.g. \"500ms\", \"30s\", \"30d\")".into());
        }
        humantime::parse_duration(s)
            .map(Span)
            .map_err(|e| format!("invalid duration {s:?}: {e} (expected e.g. \"500ms\", \"30s\", \"30d\")"))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A rate: `count` events per `per` (written `"10/s"`, `"50/min"`, `"1000/hour"`, `"5000/day"`, `"3/2s"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    pub count: NonZeroU32,
    pub per: Duration,
}

impl Rate {
    pub fn new(count: u32, per: Duration) -> Option<Rate> {
        (!per.is_zero()).then_some(())?;
        Some(Rate {
            count: NonZeroU32::new(count)?,
            per,
        })
    }

    /// Events per second, for comparing windows and sizing concurrency.
    pub fn per_second(&self) -> f64 {
        f64::from(self.count.get()) / self.per.as_secs_f64()
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("invalid rate {s:?} (expected COUNT/UNIT, e.g. \"10/s\", \"100/min\", \"1000/hour\")");
        let (count, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let unit = unit.trim();
        let per = match unit {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "d" | "day" => Duration::from_secs(86_400),
            "mo" | "month" => Duration::from_secs(30 * 86_400),
            other => humantime::parse_duration(other).map_err(|_| bad())?,
        };
        Rate::new(count, per).ok_or_else(|| format!("{}: count and period must be non-zero", bad()))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s".to_string(),
            60 => "min".to_string(),
            3600 => "hour".to_string(),
            86_400 => "day".to_string(),
            2_592_000 => "month".to_string(),
            _ => humantime::format_duration(self.per).to_string(),
        };
        write!(f, "{}/{}", self.count, unit)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!("500ms".parse::<Span>().unwrap().0, Duration::from_millis(500));
        assert_eq!("30d".parse::<Span>().unwrap().0, Duration::from_secs(30 * 86_400));
        assert!("30".parse::<Span>().is_err());
        assert!("".parse::<Span>().is_err());
    }

    #[test]
    fn rates() {
        let r: Rate = "10/s".parse().unwrap();
        assert_eq!((r.count.get(), r.per), (10, Duration::from_secs(1)));
        let r: Rate = "100/min".parse().unwrap();
        assert_eq!(r.per, Duration::from_secs(60));
        assert_eq!(r.to_string(), "100/min");
        assert!("0/s".parse::<Rate>().is_err());
        assert!("10/fortnightly".parse::<Rate>().is_err());
        assert!("ten/s".parse::<Rate>().is_err());
    }
}
