//! Value codecs: how each schema type is written as Redis bytes.
//!
//! | type | encoding |
//! |---|---|
//! | `int` | decimal (`-42`), so HINCRBY works on it |
//! | `float` | shortest round-trip decimal (`0.1`, `1e300`), which every reader parses back to the same `f64`; NaN and infinities are refused |
//! | `bool` | `true` / `false` |
//! | `string` | UTF-8, raw |
//! | `bytes` | raw |
//! | `datetime` | RFC 3339 in UTC, with as many fraction digits as needed (`2024-05-01T12:00:00.000001Z`) |
//! | `uuid` | hyphenated lower case |
//! | enum | the variant's schema name |
//! | `json`, structs and nested containers inside containers | JSON text |
//!
//! Nothing is pickled or bincoded: any language can read the data.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// Why a value could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    /// A float that Redis and JSON cannot carry faithfully.
    #[error("{0} cannot be stored faithfully (only finite floats can)")]
    NonFinite(f64),
    /// The stored bytes are not a valid value of the type.
    #[error("expected {expected}, found {found}")]
    Invalid {
        /// The type that was expected.
        expected: &'static str,
        /// A printable excerpt of what was found.
        found: String,
    },
}

impl CodecError {
    /// An `Invalid` error showing (a bounded excerpt of) the raw bytes.
    pub fn invalid(expected: &'static str, raw: &[u8]) -> Self {
        const MAX: usize = 64;
        let shown = String::from_utf8_lossy(&raw[..raw.len().min(MAX)]);
        let more = if raw.len() > MAX { "..." } else { "" };
        CodecError::Invalid {
            expected,
            found: format!("{shown:?}{more}"),
        }
    }
}

/// A type stored as one Redis value (a hash field, a list element, a set member).
pub trait Codec: Sized {
    /// The bytes stored in Redis.
    fn encode(&self) -> Result<Vec<u8>, CodecError>;
    /// Reads the bytes back.
    fn decode(raw: &[u8]) -> Result<Self, CodecError>;
}

fn utf8<'a>(raw: &'a [u8], expected: &'static str) -> Result<&'a str, CodecError> {
    std::str::from_utf8(raw).map_err(|_| CodecError::invalid(expected, raw))
}

impl Codec for i64 {
    fn encode(&self) -> Result<Vec<u8>, CodecError> {
        Ok(self.to_string().into_bytes())
    }
    fn decode(raw: &[u8]) -> Result<Self, CodecError> {
        const WHAT: &str = "an integer";
        utf8(raw, WHAT)?
            .parse()
            .map_err(|_| CodecError::invalid(WHAT, raw))
    }
}

impl Codec for f64 {
    fn encode(&self) -> Result<Vec<u8>, CodecError> {
        if !self.is_finite() {
            return Err(CodecError::NonFinite(*self));
        }
        Ok(ryu::Buffer::new().format_finite(*self).as_bytes().to_vec())
    }
    fn decode(raw: &[u8]) -> Result<Self, CodecError> {
        const WHAT: &str = "a finite float";
        // Rust's parser also accepts "inf" and "nan"; stored data must be finite.
        match utf8(raw, WHAT)?.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(CodecError::invalid(WHAT, raw)),
        }
    }
}

impl Codec for bool {
    fn encode(&self) -> Result<Vec<u8>, CodecError> {
        Ok(if *self {
            b"true".to_vec()
        } else {
            b"false".to_vec()
        })
    }
    fn decode(raw: &[u8]) -> Result<Self, CodecError> {
        match raw {
            b"true" => Ok(true),
            b"false" => Ok(false),
            _ => Err(CodecError::invalid("`true` or `false`", raw)),
        }
    }
}

impl Codec for String {
    fn encode(&self) -> Result<Vec<u8>, CodecError> {
        Ok(self.as_bytes().to_vec())
    }
    fn decode(raw: &[u8]) -> Result<Self, CodecError> {
        utf8(raw, "UTF-8 text").map(str::to_string)
    }
}

impl Codec for Vec<u8> {
    fn encode(&self) -> Result<Vec<u8>, CodecError> {
        Ok(self.clone())
    }
    fn decode(raw: &[u8]) -> Result<Self, CodecError> {
        Ok(raw.to_vec())
    }
}

impl Codec for DateTime<Utc> {
    fn encode(&self) -> Result<Vec<u8>, CodecError> {
        Ok(self
            .to_rfc3339_opts(SecondsFormat::AutoSi, true)
            .into_bytes())
    }
    fn decode(raw: &[u8]) -> Result<Self, CodecError> {
        const WHAT: &str = "an RFC 3339 datetime";
        DateTime::parse_from_rfc3339(utf8(raw, WHAT)?)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| CodecError::invalid(WHAT, raw))
    }
}

impl Codec for Uuid {
    fn encode(&self) -> Result<Vec<u8>, CodecError> {
        Ok(self.hyphenated().to_string().into_bytes())
    }
    fn decode(raw: &[u8]) -> Result<Self, CodecError> {
        const WHAT: &str = "a UUID";
        Uuid::parse_str(utf8(raw, WHAT)?).map_err(|_| CodecError::invalid(WHAT, raw))
    }
}

impl Codec for serde_json::Value {
    fn encode(&self) -> Result<Vec<u8>, CodecError> {
        // serde_json::Value cannot hold NaN, so this never loses anything.
        Ok(serde_json::to_vec(self).expect("a JSON value always serializes"))
    }
    fn decode(raw: &[u8]) -> Result<Self, CodecError> {
        serde_json::from_slice(raw).map_err(|_| CodecError::invalid("JSON", raw))
    }
}

/// Types whose floats are all finite can be written as JSON without loss (serde_json would
/// silently turn NaN into `null`). Implemented by every schema type; generated structs check
/// the fields that may hold a float, and types without one keep the default.
pub trait Finite {
    /// True if every float inside is finite.
    fn all_finite(&self) -> bool {
        true
    }
}

macro_rules! always_finite {
    ($($t:ty),*) => { $(impl Finite for $t {})* };
}
always_finite!(
    i64,
    u8,
    bool,
    String,
    DateTime<Utc>,
    Uuid,
    serde_json::Value
);

impl Finite for f64 {
    fn all_finite(&self) -> bool {
        self.is_finite()
    }
}
impl<T: Finite> Finite for Option<T> {
    fn all_finite(&self) -> bool {
        self.as_ref().is_none_or(Finite::all_finite)
    }
}
impl<T: Finite> Finite for Vec<T> {
    fn all_finite(&self) -> bool {
        self.iter().all(Finite::all_finite)
    }
}
impl<T: Finite> Finite for BTreeSet<T> {
    fn all_finite(&self) -> bool {
        self.iter().all(Finite::all_finite)
    }
}
impl<T: Finite> Finite for BTreeMap<String, T> {
    fn all_finite(&self) -> bool {
        self.values().all(Finite::all_finite)
    }
}

/// How the elements of a container (or an optional value) are stored: [`Plain`] for scalar types,
/// [`AsJson`] for structs and nested containers. Generated code picks one per field.
pub trait Element<T> {
    /// The bytes stored in Redis.
    fn encode(value: &T) -> Result<Vec<u8>, CodecError>;
    /// Reads the bytes back.
    fn decode(raw: &[u8]) -> Result<T, CodecError>;
}

/// Elements stored with their scalar [`Codec`].
#[derive(Debug, Clone, Copy)]
pub struct Plain;

impl<T: Codec> Element<T> for Plain {
    fn encode(value: &T) -> Result<Vec<u8>, CodecError> {
        value.encode()
    }
    fn decode(raw: &[u8]) -> Result<T, CodecError> {
        T::decode(raw)
    }
}

/// Elements stored as JSON text.
#[derive(Debug, Clone, Copy)]
pub struct AsJson;

impl<T: Serialize + DeserializeOwned + Finite> Element<T> for AsJson {
    fn encode(value: &T) -> Result<Vec<u8>, CodecError> {
        encode_json(value)
    }
    fn decode(raw: &[u8]) -> Result<T, CodecError> {
        decode_json(raw)
    }
}

/// Encodes a composite value (struct, nested container, optional element) as JSON.
pub fn encode_json<T: Serialize + Finite>(value: &T) -> Result<Vec<u8>, CodecError> {
    if !value.all_finite() {
        return Err(CodecError::NonFinite(f64::NAN));
    }
    serde_json::to_vec(value).map_err(|e| CodecError::Invalid {
        expected: "serializable value",
        found: e.to_string(),
    })
}

/// Decodes a composite value written by [`encode_json`].
pub fn decode_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, CodecError> {
    serde_json::from_slice(raw).map_err(|_| CodecError::invalid("JSON of the schema's type", raw))
}

/// Parses a JSON default written by the generator (always valid: checked at generation time).
pub fn json_default(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_default()
}

/// A datetime default written by the generator (always in range: checked at generation time).
pub fn datetime_default(secs: i64, nanos: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, nanos).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Codec + PartialEq + std::fmt::Debug>(v: T) {
        let bytes = v.encode().unwrap();
        assert_eq!(T::decode(&bytes).unwrap(), v);
    }

    #[test]
    fn scalars_round_trip() {
        round_trip(i64::MIN);
        round_trip(i64::MAX);
        round_trip(0.1f64);
        round_trip(1e300f64);
        round_trip(-0.0f64);
        round_trip(f64::MIN_POSITIVE);
        round_trip(String::from("ünï\0code"));
        round_trip(vec![0u8, 255, 0]);
        round_trip(true);
        round_trip(DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap());
        round_trip(Uuid::from_u128(42));
    }

    #[test]
    fn floats_use_shortest_text_and_refuse_nan() {
        assert_eq!(0.1f64.encode().unwrap(), b"0.1");
        assert!(matches!(f64::NAN.encode(), Err(CodecError::NonFinite(_))));
        assert!(f64::INFINITY.encode().is_err());
        assert!(f64::decode(b"nan").is_err());
        assert!(encode_json(&vec![1.0, f64::NAN]).is_err());
    }

    #[test]
    fn junk_is_reported_with_an_excerpt() {
        let err = i64::decode(b"12abc").unwrap_err();
        assert_eq!(err.to_string(), "expected an integer, found \"12abc\"");
    }
}
