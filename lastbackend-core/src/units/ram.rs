//! Memory sizes.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ScaleError, UnitError, split_number};

const WHAT: &str = "RAM size";
const ACCEPTED: &str = "bytes (1048576) or a number with a unit: k, kb, m, mb, g, gb, t, tb \
    (powers of 1000) or ki, kib, mi, mib, gi, gib, ti, tib (powers of 1024), any case, \
    e.g. 512Mi, 1gb, 1.5 GiB";

const KI: u64 = 1 << 10;

/// The units [`Ram`] parses, lowercased, with their size in bytes.
const UNITS: [(&str, u64); 17] = [
    ("", 1),
    ("k", 1000),
    ("kb", 1000),
    ("m", 1000_u64.pow(2)),
    ("mb", 1000_u64.pow(2)),
    ("g", 1000_u64.pow(3)),
    ("gb", 1000_u64.pow(3)),
    ("t", 1000_u64.pow(4)),
    ("tb", 1000_u64.pow(4)),
    ("ki", KI),
    ("kib", KI),
    ("mi", KI.pow(2)),
    ("mib", KI.pow(2)),
    ("gi", KI.pow(3)),
    ("gib", KI.pow(3)),
    ("ti", KI.pow(4)),
    ("tib", KI.pow(4)),
];

/// The units [`Ram`]'s `Display` picks from, largest first.
const DISPLAY_UNITS: [(&str, u64); 4] = [
    ("Ti", KI.pow(4)),
    ("Gi", KI.pow(3)),
    ("Mi", KI.pow(2)),
    ("Ki", KI),
];

/// A memory size in bytes.
///
/// Parses plain bytes, decimal units (`k`/`kb` … `t`/`tb`, powers of 1000) and
/// binary units (`ki`/`kib` … `ti`/`tib`, powers of 1024) in any case, with
/// optional whitespace before the unit and an optional fraction as long as the
/// result is a whole number of bytes. `512m` is 512 MB, not MiB.
///
/// Prints with the largest binary unit that divides it exactly (`512Mi`,
/// `1Gi`), else in bytes (`1500`). Serializes as that string; deserializes
/// from a string or from an unsigned integer of bytes.
///
/// ```
/// use lastbackend_core::units::Ram;
///
/// assert_eq!("128mib".parse::<Ram>()?, Ram::from_bytes(128 << 20));
/// assert_eq!("1gb".parse::<Ram>()?.bytes(), 1_000_000_000);
/// assert_eq!(Ram::from_bytes(1 << 30).to_string(), "1Gi");
/// # Ok::<(), lastbackend_core::units::UnitError>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ram(u64);

impl Ram {
    /// A size of `bytes` bytes.
    pub const fn from_bytes(bytes: u64) -> Self {
        Self(bytes)
    }

    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }

    /// Parses a size; the same as [`str::parse`].
    pub fn parse(s: &str) -> Result<Self, UnitError> {
        s.parse()
    }
}

impl FromStr for Ram {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, UnitError> {
        let error = |reason: String| UnitError {
            what: WHAT,
            value: s.to_owned(),
            reason,
            accepted: ACCEPTED,
        };
        let (number, unit) = split_number(s.trim()).map_err(error)?;
        if unit.contains(|c: char| !c.is_ascii_alphabetic()) {
            return Err(error(format!("unexpected {unit:?} after the number")));
        }
        let lowercase = unit.to_ascii_lowercase();
        let Some(&(_, multiplier)) = UNITS.iter().find(|(name, _)| *name == lowercase) else {
            return Err(error(format!("unknown unit {unit:?}")));
        };
        match number.scale(multiplier) {
            Ok(bytes) => Ok(Self(bytes)),
            Err(ScaleError::Overflow) => Err(error(format!(
                "larger than the maximum of {} bytes",
                u64::MAX
            ))),
            Err(ScaleError::NotWhole) => Err(error("not a whole number of bytes".into())),
        }
    }
}

impl fmt::Display for Ram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = DISPLAY_UNITS
            .iter()
            .find(|(_, size)| self.0 != 0 && self.0.is_multiple_of(*size));
        match unit {
            Some((name, size)) => write!(f, "{}{name}", self.0 / size),
            None => write!(f, "{}", self.0),
        }
    }
}

impl Serialize for Ram {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ram {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RamVisitor)
    }
}

struct RamVisitor;

impl Visitor<'_> for RamVisitor {
    type Value = Ram;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a RAM size such as \"512Mi\" or a number of bytes")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Ram, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ram, E> {
        Ok(Ram(v))
    }

    // Some formats (YAML among them) hand every integer over as i64.
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ram, E> {
        u64::try_from(v).map(Ram).map_err(|_| {
            E::custom(format_args!(
                "invalid {WHAT} {v}: negative values are not allowed; accepted forms: {ACCEPTED}"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MI: u64 = 1 << 20;

    #[test]
    fn parses_every_accepted_form() {
        let cases: &[(&str, u64)] = &[
            ("0", 0),
            ("1048576", MI),
            ("  1048576 ", MI),
            ("128mib", 128 * MI),
            ("128MiB", 128 * MI),
            ("512Mi", 512 * MI),
            ("512m", 512_000_000),
            ("512M", 512_000_000),
            ("512 mb", 512_000_000),
            ("1gb", 1_000_000_000),
            ("1.5gb", 1_500_000_000),
            ("0.5Gi", 512 * MI),
            ("1.5 GiB", 3 * 512 * MI),
            ("2k", 2000),
            ("2KB", 2000),
            ("2ki", 2048),
            ("2Kib", 2048),
            ("3g", 3_000_000_000),
            ("1t", 1_000_000_000_000),
            ("1TB", 1_000_000_000_000),
            ("1ti", 1 << 40),
            ("1tib", 1 << 40),
            ("1.000", 1),
            ("007", 7),
            ("0.0009765625ki", 1),
            ("18446744073709551615", u64::MAX),
        ];
        for &(input, bytes) in cases {
            assert_eq!(
                input.parse::<Ram>(),
                Ok(Ram::from_bytes(bytes)),
                "{input:?}"
            );
        }
    }

    #[test]
    fn rejects_malformed_sizes_naming_the_value_and_the_accepted_forms() {
        let cases: &[(&str, &str)] = &[
            ("", "empty value"),
            ("   ", "empty value"),
            ("-1", "negative values are not allowed"),
            ("-1Gi", "negative values are not allowed"),
            ("NaN", "expected a number"),
            ("inf", "expected a number"),
            ("gb", "expected a number"),
            (".5gb", "expected a number"),
            ("+5", "expected a number"),
            ("1.", "expected digits after the decimal point"),
            ("1.gb", "expected digits after the decimal point"),
            ("1.2.3", "malformed number \"1.2.3\""),
            ("1e9", "unexpected \"e9\" after the number"),
            ("5xb", "unknown unit \"xb\""),
            ("5 bytes", "unknown unit \"bytes\""),
            ("1gb x", "unexpected \"gb x\" after the number"),
            ("1gb!", "unexpected \"gb!\" after the number"),
            ("1.5", "not a whole number of bytes"),
            ("0.0001k", "not a whole number of bytes"),
            (
                "18446744073709551616",
                "larger than the maximum of 18446744073709551615 bytes",
            ),
            (
                "16777216ti",
                "larger than the maximum of 18446744073709551615 bytes",
            ),
        ];
        for &(input, reason) in cases {
            let err = input.parse::<Ram>().unwrap_err();
            assert_eq!(err.value, input);
            assert_eq!(err.reason, reason, "{input:?}");
            let message = err.to_string();
            assert!(message.contains(&format!("{input:?}")), "{message}");
            assert!(
                message.contains("accepted forms: bytes (1048576)"),
                "{message}"
            );
            assert!(message.contains("mib"), "{message}");
        }
    }

    #[test]
    fn displays_with_the_largest_exact_binary_unit() {
        let cases: &[(u64, &str)] = &[
            (0, "0"),
            (1, "1"),
            (1500, "1500"),
            (1024, "1Ki"),
            (1536, "1536"),
            (3072, "3Ki"),
            (512 * MI, "512Mi"),
            (1 << 30, "1Gi"),
            (3 << 40, "3Ti"),
            (1 << 62, "4194304Ti"),
            (512_000_000, "500000Ki"),
            (u64::MAX, "18446744073709551615"),
        ];
        for &(bytes, text) in cases {
            assert_eq!(Ram::from_bytes(bytes).to_string(), text);
        }
    }

    #[test]
    fn serde_uses_the_display_string_and_accepts_integers() {
        let ram = Ram::from_bytes(512 * MI);
        assert_eq!(serde_json::to_string(&ram).unwrap(), "\"512Mi\"");
        assert_eq!(serde_json::from_str::<Ram>("\"512Mi\"").unwrap(), ram);
        assert_eq!(serde_json::from_str::<Ram>("536870912").unwrap(), ram);
        assert_eq!(yaml_serde::from_str::<Ram>("536870912").unwrap(), ram);
        assert_eq!(
            yaml_serde::from_str::<Ram>("1.5gb").unwrap().bytes(),
            1_500_000_000
        );

        let negative = serde_json::from_str::<Ram>("-1").unwrap_err().to_string();
        assert!(negative.contains("negative"), "{negative}");
        let garbage = serde_json::from_str::<Ram>("\"5xb\"")
            .unwrap_err()
            .to_string();
        assert!(garbage.contains("unknown unit"), "{garbage}");
        assert!(serde_json::from_str::<Ram>("1.5").is_err());
    }
}
