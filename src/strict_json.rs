//! JSON read strictly: a key twice in one object is refused.
//!
//! `serde_json` keeps the last of duplicate keys, so `{"alerts": [benign], "alerts":
//! [real]}` would be read differently by the service and by whatever logged or checked the
//! text on its way in, and a model answer's shadowed `"summary"` would never be checked.
//! Request bodies and engine answers are parsed once into a [`Value`] by a visitor that
//! refuses duplicates, then deserialized from that value.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a text is not acceptable JSON.
#[derive(Debug, thiserror::Error)]
pub enum StrictJsonError {
    #[error("duplicate key `{key}` in one object{at}")]
    DuplicateKey { key: String, at: String },
    #[error("the body is not JSON: {0}")]
    Syntax(serde_json::Error),
}

impl crate::error_code::Coded for StrictJsonError {
    fn code(&self) -> crate::error_code::ErrorCode {
        match self {
            StrictJsonError::DuplicateKey { .. } => crate::error_code::ErrorCode::DuplicateKey,
            StrictJsonError::Syntax(_) => crate::error_code::ErrorCode::InvalidJson,
        }
    }
}

/// Marks the error raised for a duplicate key, so it can be told from a syntax error.
const DUPLICATE: &str = "\u{1}duplicate key:";

/// Parses `bytes` as one JSON value, refusing any object that repeats a key.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, StrictJsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = StrictValue::deserialize(&mut de).and_then(|v| de.end().map(|()| v.0));
    parsed.map_err(|e| {
        let msg = e.to_string();
        match msg.strip_prefix(DUPLICATE) {
            Some(rest) => {
                let (key, at) = rest.split_once('\u{1}').unwrap_or((rest, ""));
                StrictJsonError::DuplicateKey { key: key.to_string(), at: at.to_string() }
            }
            None => StrictJsonError::Syntax(e),
        }
    })
}

struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("a number JSON cannot hold"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        StrictValue::deserialize(d).map(|v| v.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                // serde_json appends " at line L column C" to custom errors.
                return Err(de::Error::custom(format!("{DUPLICATE}{key}\u{1}")));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        let e = parse_strict(br#"{"alerts": [], "alerts": [1]}"#).unwrap_err();
        assert!(matches!(&e, StrictJsonError::DuplicateKey { key, .. } if key == "alerts"), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
        assert!(matches!(parse_strict(br#"{"a": [{"b": 1, "b": 2}]}"#), Err(StrictJsonError::DuplicateKey { .. })));
        assert!(matches!(parse_strict(br#"{"a": 1} x"#), Err(StrictJsonError::Syntax(_))));
        assert!(matches!(parse_strict(b"{not json"), Err(StrictJsonError::Syntax(_))));
    }

    #[test]
    fn a_clean_body_reads_as_serde_json_reads_it() {
        let text = br#"{"case_id": null, "alerts": [{"id": "a", "n": -1, "f": 1.5, "big": 18446744073709551615, "s": "\u00e9", "t": true, "o": {}}]}"#;
        assert_eq!(parse_strict(text).unwrap(), serde_json::from_slice::<Value>(text).unwrap());
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse_strict(deep.as_bytes()).is_err(), "the recursion limit holds");
    }
}
