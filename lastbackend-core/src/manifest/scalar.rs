//! Lenient deserializers for what people write in YAML by hand.
//!
//! YAML turns `name: 2048`, `cpu: 0.5` and `debug: true` into numbers and
//! booleans; the manifest keeps them as the strings the user meant. A float
//! comes back in Rust's shortest form (`1.10` is `"1.1"`), so text that must
//! stay exact, such as a version in an env value, should be quoted. These
//! helpers are used with `#[serde(deserialize_with = ..)]` and never go through
//! `#[serde(untagged)]`, which would buffer the input and hide unknown fields
//! from [`serde_ignored`].

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Visits a string, number or boolean and keeps its text.
struct ScalarVisitor;

impl Visitor<'_> for ScalarVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    /// `name:` with nothing after it is an empty value, which validation
    /// reports as "required" like a missing one.
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    /// A float beyond 2^53 has lost digits on the way (a JSON or YAML
    /// reader keeps integers exact only up to `u64::MAX`), so its text
    /// would not be what was written: refused.
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        if v.abs() > MAX_EXACT_FLOAT {
            return Err(E::custom(format!(
                "{v} has more digits than a number keeps: quote it"
            )));
        }
        Ok(v.to_string())
    }
}

/// The largest float whose integers are all exact: 2^53.
const MAX_EXACT_FLOAT: f64 = 9_007_199_254_740_992.0;

/// A scalar as its text.
pub(crate) fn string<'de, D: Deserializer<'de>>(de: D) -> Result<String, D::Error> {
    de.deserialize_any(ScalarVisitor)
}

/// An optional scalar as its text; `null` is `None`.
pub(crate) fn option<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    struct OptionVisitor;

    impl<'de> Visitor<'de> for OptionVisitor {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, number, boolean or null")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
            string(de).map(Some)
        }
    }

    de.deserialize_option(OptionVisitor)
}

/// Deserializes one scalar as its text, for use inside hand-written visitors.
pub(crate) struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<String, D::Error> {
        string(de)
    }
}

/// A map of scalars as a map of strings (labels, secret data); `null` is empty.
pub(crate) fn map<'de, D: Deserializer<'de>>(de: D) -> Result<BTreeMap<String, String>, D::Error> {
    struct MapVisitor;

    impl<'de> Visitor<'de> for MapVisitor {
        type Value = BTreeMap<String, String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of strings")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }

        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut map = BTreeMap::new();
            while let Some((key, value)) = access.next_entry_seed(ScalarSeed, ScalarSeed)? {
                map.insert(key, value);
            }
            Ok(map)
        }
    }

    de.deserialize_any(MapVisitor)
}

/// A command line: a string split on whitespace, or a list of strings.
pub(crate) fn words<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    struct WordsVisitor;

    impl<'de> Visitor<'de> for WordsVisitor {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a list of strings")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.split_whitespace().map(str::to_owned).collect())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut words = Vec::new();
            while let Some(word) = seq.next_element_seed(ScalarSeed)? {
                words.push(word);
            }
            Ok(words)
        }
    }

    de.deserialize_any(WordsVisitor)
}

/// A count or a percentage, as Kubernetes' `IntOrString`: `max_surge: 1` or
/// `max_surge: "25%"`. Validation checks that a string is a percentage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntOrString {
    /// An absolute count.
    Int(u32),
    /// Text as written, a percentage such as `"25%"` once validated.
    String(String),
}

impl IntOrString {
    /// The percentage a valid `"N%"` string stands for, `None` for a count or
    /// for text that is not a percentage.
    pub fn percent(&self) -> Option<u32> {
        match self {
            Self::Int(_) => None,
            Self::String(s) => s.strip_suffix('%')?.parse().ok(),
        }
    }
}

impl Serialize for IntOrString {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Int(n) => ser.serialize_u32(*n),
            Self::String(s) => ser.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrString {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct IntOrStringVisitor;

        impl Visitor<'_> for IntOrStringVisitor {
            type Value = IntOrString;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or a percentage such as \"25%\"")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrString, E> {
                u32::try_from(v)
                    .map(IntOrString::Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrString, E> {
                u32::try_from(v)
                    .map(IntOrString::Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<IntOrString, E> {
                Ok(IntOrString::String(v.to_owned()))
            }
        }

        de.deserialize_any(IntOrStringVisitor)
    }
}
