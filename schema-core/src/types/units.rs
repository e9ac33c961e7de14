//! Quantities written with units: sizes (`100M`) and durations (`10s`). They compare by value
//! (`1024K == 1M`), so rewriting a value in another unit is not a change.

use std::fmt;

use serde_json::{Map, Value as Json, json};

use crate::constraint::RangeConstraint;
use crate::value::quote_for_message;

/// Splits `"100M"` into `(100, "M")`.
fn split_number(text: &str) -> Option<(u64, &str)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let number = text[..digits].parse().ok()?;
    Some((number, &text[digits..]))
}

/// Writes `amount` in the largest unit that divides it exactly.
fn write_in_units(f: &mut fmt::Formatter<'_>, amount: u64, units: &[(&str, u64)]) -> fmt::Result {
    for (suffix, factor) in units.iter().rev() {
        if amount.is_multiple_of(*factor) && (amount != 0 || *factor == 1) {
            return write!(f, "{}{suffix}", amount / factor);
        }
    }
    write!(f, "{amount}{}", units[0].0)
}

/// Implements `Schema` for a unit-suffixed quantity stored as a `u64` of its smallest unit.
macro_rules! quantity {
    ($name:ident, $what:literal, $example:literal, $pattern:literal, $units:expr) => {
        impl $name {
            const UNITS: &'static [(&'static str, u64)] = $units;

            /// Parses the textual form (`"100M"`).
            pub fn parse(text: &str) -> Result<$name, String> {
                let invalid = || {
                    format!(
                        "{} is not a {} (expected digits and a unit, e.g. {}; units: {})",
                        quote_for_message(text),
                        $what,
                        $example,
                        Self::UNITS.iter().map(|(u, _)| *u).collect::<Vec<_>>().join(", ")
                    )
                };
                let (number, unit) = split_number(text).ok_or_else(invalid)?;
                let factor = Self::UNITS.iter().find(|(u, _)| *u == unit).map(|(_, f)| *f).ok_or_else(invalid)?;
                number
                    .checked_mul(factor)
                    .map($name)
                    .ok_or_else(|| format!("{} is too large", quote_for_message(text)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_in_units(f, self.0, Self::UNITS)
            }
        }

        crate::string_value!(
            $name,
            title: $what,
            expecting: concat!("a ", $what, " such as ", $example),
            pattern: $pattern
        );

        impl RangeConstraint for $name {
            /// JSON Schema cannot compare unit-suffixed strings: the bounds are recorded as
            /// annotations, which the reference docs show.
            fn range_schema(schema: &mut Map<String, Json>, min: Option<&Self>, max: Option<&Self>) {
                if let Some(min) = min {
                    schema.insert("x-minimum".into(), json!(min.to_string()));
                }
                if let Some(max) = max {
                    schema.insert("x-maximum".into(), json!(max.to_string()));
                }
            }
        }
    };
}

/// A size in bytes, written `<digits><unit>` with unit `B`, `K`, `M` or `G` (powers of 1024).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Size(pub u64);

impl Size {
    pub fn bytes(self) -> u64 {
        self.0
    }
}

quantity!(Size, "size", "100M", "^[0-9]+(B|K|M|G)$", &[("B", 1), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30)]);

/// A duration in microseconds, written `<digits><unit>` with unit `us`, `ms`, `s`, `m`, `h`
/// or `d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub u64);

impl Duration {
    pub fn micros(self) -> u64 {
        self.0
    }

    pub fn millis(self) -> u64 {
        self.0 / 1000
    }

    pub fn seconds(self) -> u64 {
        self.0 / 1_000_000
    }

    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_micros(self.0)
    }
}

quantity!(
    Duration,
    "duration",
    "10s",
    "^[0-9]+(us|ms|s|m|h|d)$",
    &[("us", 1), ("ms", 1_000), ("s", 1_000_000), ("m", 60_000_000), ("h", 3_600_000_000), ("d", 86_400_000_000)]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_compare_by_value() {
        assert_eq!(Size::parse("1024K").unwrap(), Size::parse("1M").unwrap());
        assert_eq!(Size::parse("1024K").unwrap().to_string(), "1M");
        assert_eq!(Size::parse("1500B").unwrap().to_string(), "1500B");
        assert_eq!(Size::parse("0M").unwrap().to_string(), "0B");
        assert!(Size::parse("100").is_err());
        assert!(Size::parse("100T").is_err());
        assert!(Size::parse("M").is_err());
        assert!(Size::parse("99999999999999999999G").is_err());
        assert!(Size::parse("18446744073709551615G").unwrap_err().contains("too large"));
    }

    #[test]
    fn durations() {
        assert_eq!(Duration::parse("1m").unwrap(), Duration::parse("60s").unwrap());
        assert_eq!(Duration::parse("90s").unwrap().to_string(), "90s");
        assert_eq!(Duration::parse("1500ms").unwrap().to_string(), "1500ms");
        assert_eq!(Duration::parse("1d").unwrap().seconds(), 86_400);
        assert!(Duration::parse("10").is_err());
        assert!(Duration::parse("10 s").is_err());
    }
}
