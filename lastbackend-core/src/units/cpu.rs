//! CPU amounts.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ScaleError, UnitError, split_number};

const WHAT: &str = "CPU amount";
const ACCEPTED: &str = "cores as a decimal (0.5, 2, 1.25) or millicores with m (500m)";
const MILLIS_PER_CORE: u64 = 1000;

/// CPU in millicores: one unit everywhere, 1 core = 1000.
///
/// Parses cores as a decimal (`0.5`, `2`, `1.25`) or millicores with `m`
/// (`500m`); anything finer than a millicore is an error. Prints whole cores
/// as a plain number (`2`) and anything else in millicores (`500m`).
/// Serializes as that string; deserializes from a string, an integer (cores)
/// or a float (cores, e.g. `0.5`).
///
/// ```
/// use lastbackend_core::units::Cpu;
///
/// assert_eq!("0.5".parse::<Cpu>()?, Cpu::from_millis(500));
/// assert_eq!("250m".parse::<Cpu>()?.millis(), 250);
/// assert_eq!(Cpu::from_millis(2000).to_string(), "2");
/// assert_eq!(Cpu::from_millis(1250).to_string(), "1250m");
/// # Ok::<(), lastbackend_core::units::UnitError>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Cpu(u64);

impl Cpu {
    /// An amount of `millis` millicores.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// The amount in millicores.
    pub const fn millis(self) -> u64 {
        self.0
    }

    /// Parses an amount; the same as [`str::parse`].
    pub fn parse(s: &str) -> Result<Self, UnitError> {
        s.parse()
    }
}

fn error(value: impl Into<String>, reason: String) -> UnitError {
    UnitError {
        what: WHAT,
        value: value.into(),
        reason,
        accepted: ACCEPTED,
    }
}

impl FromStr for Cpu {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, UnitError> {
        let (number, unit) = split_number(s.trim()).map_err(|reason| error(s, reason))?;
        let multiplier = match unit {
            "" => MILLIS_PER_CORE,
            "m" => 1,
            _ if unit.contains(|c: char| !c.is_ascii_alphabetic()) => {
                return Err(error(s, format!("unexpected {unit:?} after the number")));
            }
            _ => return Err(error(s, format!("unknown unit {unit:?}"))),
        };
        match number.scale(multiplier) {
            Ok(millis) => Ok(Self(millis)),
            Err(ScaleError::Overflow) => Err(error(
                s,
                format!("larger than the maximum of {}m", u64::MAX),
            )),
            Err(ScaleError::NotWhole) => {
                Err(error(s, "finer than 1m (a thousandth of a core)".into()))
            }
        }
    }
}

impl fmt::Display for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(MILLIS_PER_CORE) {
            write!(f, "{}", self.0 / MILLIS_PER_CORE)
        } else {
            write!(f, "{}m", self.0)
        }
    }
}

impl Serialize for Cpu {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cpu {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CpuVisitor)
    }
}

struct CpuVisitor;

impl Visitor<'_> for CpuVisitor {
    type Value = Cpu;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CPU amount such as \"500m\" or a number of cores")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cpu, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cpu, E> {
        v.checked_mul(MILLIS_PER_CORE).map(Cpu).ok_or_else(|| {
            E::custom(error(
                v.to_string(),
                format!("larger than the maximum of {}m", u64::MAX),
            ))
        })
    }

    // Some formats (YAML among them) hand every integer over as i64.
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cpu, E> {
        match u64::try_from(v) {
            Ok(cores) => self.visit_u64(cores),
            Err(_) => Err(E::custom(error(
                v.to_string(),
                "negative values are not allowed".into(),
            ))),
        }
    }

    // Floats go through their shortest decimal form ("0.1", not
    // 0.1000000000000000055…), which is what the manifest said; f64's Display
    // never uses an exponent, so the string parser takes it as is.
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cpu, E> {
        self.visit_str(&v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_accepted_form() {
        let cases: &[(&str, u64)] = &[
            ("0", 0),
            ("2", 2000),
            ("0.5", 500),
            ("1.25", 1250),
            (" 1.25 ", 1250),
            ("0.001", 1),
            ("0.0010", 1),
            ("500m", 500),
            ("500 m", 500),
            ("1m", 1),
            ("0m", 0),
            ("1.0m", 1),
            ("18446744073709551", 18_446_744_073_709_551_000),
            ("18446744073709551615m", u64::MAX),
        ];
        for &(input, millis) in cases {
            assert_eq!(
                input.parse::<Cpu>(),
                Ok(Cpu::from_millis(millis)),
                "{input:?}"
            );
        }
    }

    #[test]
    fn rejects_malformed_amounts_naming_the_value_and_the_accepted_forms() {
        let cases: &[(&str, &str)] = &[
            ("", "empty value"),
            ("-1", "negative values are not allowed"),
            ("-500m", "negative values are not allowed"),
            ("NaN", "expected a number"),
            ("inf", "expected a number"),
            ("m", "expected a number"),
            ("1.", "expected digits after the decimal point"),
            ("0.0.5", "malformed number \"0.0.5\""),
            ("0.0005", "finer than 1m (a thousandth of a core)"),
            ("1.5m", "finer than 1m (a thousandth of a core)"),
            ("500M", "unknown unit \"M\""),
            ("2 cores", "unknown unit \"cores\""),
            ("500m!", "unexpected \"m!\" after the number"),
            ("1e3", "unexpected \"e3\" after the number"),
            (
                "18446744073709552",
                "larger than the maximum of 18446744073709551615m",
            ),
            (
                "18446744073709551616m",
                "larger than the maximum of 18446744073709551615m",
            ),
        ];
        for &(input, reason) in cases {
            let err = input.parse::<Cpu>().unwrap_err();
            assert_eq!(err.value, input);
            assert_eq!(err.reason, reason, "{input:?}");
            let message = err.to_string();
            assert!(message.contains(&format!("{input:?}")), "{message}");
            assert!(
                message.contains(&format!("accepted forms: {ACCEPTED}")),
                "{message}"
            );
        }
    }

    #[test]
    fn displays_whole_cores_plainly_and_the_rest_in_millicores() {
        let cases: &[(u64, &str)] = &[
            (0, "0"),
            (1, "1m"),
            (500, "500m"),
            (1000, "1"),
            (1250, "1250m"),
            (64_000, "64"),
        ];
        for &(millis, text) in cases {
            assert_eq!(Cpu::from_millis(millis).to_string(), text);
        }
    }

    #[test]
    fn serde_uses_the_display_string_and_accepts_numbers_of_cores() {
        let half = Cpu::from_millis(500);
        assert_eq!(serde_json::to_string(&half).unwrap(), "\"500m\"");
        assert_eq!(serde_json::from_str::<Cpu>("\"500m\"").unwrap(), half);
        assert_eq!(serde_json::from_str::<Cpu>("0.5").unwrap(), half);
        assert_eq!(
            serde_json::from_str::<Cpu>("0.1").unwrap(),
            Cpu::from_millis(100)
        );
        assert_eq!(
            serde_json::from_str::<Cpu>("2").unwrap(),
            Cpu::from_millis(2000)
        );
        assert_eq!(yaml_serde::from_str::<Cpu>("0.5").unwrap(), half);
        assert_eq!(
            yaml_serde::from_str::<Cpu>("2").unwrap(),
            Cpu::from_millis(2000)
        );
        assert_eq!(yaml_serde::from_str::<Cpu>("500m").unwrap(), half);

        for (json, reason) in [
            ("-1", "negative"),
            ("-0.5", "negative"),
            ("0.0005", "finer than 1m"),
            ("18446744073709552", "larger than the maximum"),
            ("1e300", "larger than the maximum"),
        ] {
            let message = serde_json::from_str::<Cpu>(json).unwrap_err().to_string();
            assert!(message.contains(reason), "{json}: {message}");
        }
    }
}
