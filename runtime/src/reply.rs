//! Decoding Redis replies into the shapes rapyer expects, with an error naming the key when a
//! reply has another shape (junk in Redis is an error, never a panic).

use redis::Value;

use crate::error::{Error, Result};

/// The error for a reply of the wrong shape.
pub(crate) fn unexpected(key: &str, what: &str, found: &Value) -> Error {
    Error::Decode {
        key: key.to_string(),
        field: String::new(),
        reason: format!("expected {what} from Redis, found {found:?}"),
    }
}

/// The items of an array (or set) reply; nil is empty.
pub(crate) fn array(reply: Value, key: &str) -> Result<Vec<Value>> {
    match reply {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(unexpected(key, "an array", &other)),
    }
}

/// A string reply as text: taken as it is when it is UTF-8 (no copy), else with U+FFFD for what
/// is not.
pub(crate) fn text(v: Value, key: &str) -> Result<String> {
    Ok(String::from_utf8(bulk(v, key)?)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// The bytes of a string reply.
pub(crate) fn bulk(v: Value, key: &str) -> Result<Vec<u8>> {
    match v {
        Value::BulkString(b) => Ok(b),
        Value::SimpleString(s) => Ok(s.into_bytes()),
        other => Err(unexpected(key, "a string", &other)),
    }
}
