//! A JSON Schema checker for the keywords the API's schemas use, so the
//! tests can ask the document whether it accepts a body. An unknown keyword
//! fails the test rather than being skipped, so no constraint goes unread.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

/// Keywords that only describe.
const ANNOTATIONS: [&str; 6] = [
    "description",
    "default",
    "format",
    "title",
    "examples",
    "deprecated",
];

/// The components of a document.
pub(super) struct Components(pub(super) BTreeMap<String, Value>);

impl Components {
    /// Whether the component `name` accepts `value`.
    pub(super) fn accepts(&self, name: &str, value: &Value) -> bool {
        self.valid(&self.0[name], value)
    }

    fn valid(&self, schema: &Value, value: &Value) -> bool {
        let Value::Object(schema) = schema else {
            return schema
                .as_bool()
                .unwrap_or_else(|| panic!("bad schema {schema}"));
        };
        schema.iter().all(|(keyword, argument)| {
            if ANNOTATIONS.contains(&keyword.as_str()) {
                return true;
            }
            self.keyword(schema, keyword, argument, value)
        })
    }

    fn keyword(
        &self,
        schema: &serde_json::Map<String, Value>,
        keyword: &str,
        argument: &Value,
        value: &Value,
    ) -> bool {
        let number = |v: &Value| v.as_f64().expect("a numeric argument");
        match keyword {
            "$ref" => {
                let name = argument
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    .expect("a component reference");
                self.valid(&self.0[name], value)
            }
            "type" => match argument {
                Value::Array(types) => types.iter().any(|t| is_type(t, value)),
                one => is_type(one, value),
            },
            "enum" => argument.as_array().expect("values").contains(value),
            "anyOf" => items(argument).iter().any(|s| self.valid(s, value)),
            "oneOf" => {
                items(argument)
                    .iter()
                    .filter(|s| self.valid(s, value))
                    .count()
                    == 1
            }
            "allOf" => items(argument).iter().all(|s| self.valid(s, value)),
            "not" => !self.valid(argument, value),
            "pattern" | "minLength" | "maxLength" => {
                value.as_str().is_none_or(|text| match keyword {
                    "pattern" => Regex::new(argument.as_str().expect("a pattern"))
                        .expect("the pattern compiles")
                        .is_match(text),
                    "minLength" => text.chars().count() as f64 >= number(argument),
                    _ => text.chars().count() as f64 <= number(argument),
                })
            }
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {
                value.as_f64().is_none_or(|n| match keyword {
                    "minimum" => n >= number(argument),
                    "maximum" => n <= number(argument),
                    "exclusiveMinimum" => n > number(argument),
                    _ => n < number(argument),
                })
            }
            "minItems" | "maxItems" => value.as_array().is_none_or(|list| match keyword {
                "minItems" => list.len() as f64 >= number(argument),
                _ => list.len() as f64 <= number(argument),
            }),
            "items" => value
                .as_array()
                .is_none_or(|list| list.iter().all(|item| self.valid(argument, item))),
            "required" => value.as_object().is_none_or(|object| {
                items(argument)
                    .iter()
                    .all(|name| object.contains_key(name.as_str().expect("a name")))
            }),
            "properties" => value.as_object().is_none_or(|object| {
                let properties = argument.as_object().expect("properties");
                object.iter().all(|(name, field)| {
                    properties
                        .get(name)
                        .is_none_or(|schema| self.valid(schema, field))
                })
            }),
            "additionalProperties" => value.as_object().is_none_or(|object| {
                let known = schema.get("properties").and_then(Value::as_object);
                object
                    .iter()
                    .filter(|(name, _)| known.is_none_or(|known| !known.contains_key(*name)))
                    .all(|(_, field)| self.valid(argument, field))
            }),
            "propertyNames" => value.as_object().is_none_or(|object| {
                object
                    .keys()
                    .all(|name| self.valid(argument, &Value::String(name.clone())))
            }),
            other => panic!("the checker does not know the keyword {other:?}"),
        }
    }
}

fn items(argument: &Value) -> &Vec<Value> {
    argument.as_array().expect("a list")
}

fn is_type(name: &Value, value: &Value) -> bool {
    match name.as_str().expect("a type name") {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.as_f64().is_some_and(|n| n.fract() == 0.0),
        "array" => value.is_array(),
        "object" => value.is_object(),
        other => panic!("unknown type {other:?}"),
    }
}
