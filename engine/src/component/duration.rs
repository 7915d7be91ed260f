//! Durations as written in production files: an integer followed by a unit,
//! `ms`, `s`, `m`, `h` or `d` (`"250ms"`, `"5s"`, `"10m"`, `"1h"`, `"7d"`).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A duration written with a unit, e.g. `"500ms"` or `"30s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HumanDuration(pub Duration);

/// A duration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {0:?}: write a whole number and a unit, e.g. \"500ms\", \"30s\", \"5m\" or \"1h\""
)]
pub struct InvalidDuration(pub String);

impl HumanDuration {
    /// A duration of whole milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    /// A duration of whole seconds.
    pub const fn from_secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }

    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl std::str::FromStr for HumanDuration {
    type Err = InvalidDuration;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || InvalidDuration(s.to_string());
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let (digits, unit) = t.split_at(split);
        let n: u64 = digits.parse().map_err(|_| err())?;
        let ms = match unit.trim() {
            "ms" => Some(n),
            "s" => n.checked_mul(1_000),
            "m" | "min" => n.checked_mul(60_000),
            "h" => n.checked_mul(3_600_000),
            "d" => n.checked_mul(86_400_000),
            _ => None,
        }
        .ok_or_else(err)?;
        Ok(Self(Duration::from_millis(ms)))
    }
}

impl TryFrom<String> for HumanDuration {
    type Error = InvalidDuration;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms != 0 && ms.is_multiple_of(86_400_000) {
            write!(f, "{}d", ms / 86_400_000)
        } else if ms != 0 && ms.is_multiple_of(3_600_000) {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms != 0 && ms.is_multiple_of(60_000) {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1_000) {
            write!(f, "{}s", ms / 1_000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl From<HumanDuration> for String {
    fn from(value: HumanDuration) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_refuses_the_rest() {
        assert_eq!("250ms".parse(), Ok(HumanDuration::from_millis(250)));
        assert_eq!("5s".parse(), Ok(HumanDuration::from_secs(5)));
        assert_eq!("2m".parse(), Ok(HumanDuration::from_secs(120)));
        assert_eq!("1h".parse(), Ok(HumanDuration::from_secs(3600)));
        for bad in ["", "5", "s", "1.5s", "-1s", "5 days"] {
            assert!(bad.parse::<HumanDuration>().is_err(), "{bad}");
        }
        assert_eq!(HumanDuration::from_secs(120).to_string(), "2m");
        assert_eq!(HumanDuration::from_millis(1500).to_string(), "1500ms");
    }
}
