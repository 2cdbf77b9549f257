//! The only ways schema data reaches generated code. Each filter turns a value into one Rust token
//! (or a type built from tokens) and refuses anything else, so no schema text can inject code.

use std::collections::HashMap;

use tera::{Result, Value, to_value};

use super::view::{Handle, Init, InitValue, Literal};
use crate::check::is_keyword;
use crate::ir::Type;

/// Filter names; a test checks every `{{ }}` in every template ends with one of them.
pub const SAFE_FILTERS: &[&str] = &[
    "ident", "lit", "ty", "int", "uint", "float", "bool", "value", "init", "handle",
];

/// Registers every filter.
pub fn register(tera: &mut tera::Tera) {
    tera.register_filter("ident", ident);
    tera.register_filter("lit", lit);
    tera.register_filter("ty", ty);
    tera.register_filter("int", int);
    tera.register_filter("uint", uint);
    tera.register_filter("float", float);
    tera.register_filter("bool", boolean);
    tera.register_filter("value", value_filter);
    tera.register_filter("init", init_filter);
    tera.register_filter("handle", handle_filter);
}

fn err(filter: &str, value: &Value) -> tera::Error {
    tera::Error::msg(format!("filter `{filter}` refused {value}"))
}

/// An identifier: ASCII letters, digits and `_`, not starting with a digit, not a keyword.
fn ident(value: &Value, _: &HashMap<String, Value>) -> Result<Value> {
    let s = value.as_str().ok_or_else(|| err("ident", value))?;
    if !is_ident(s) {
        return Err(err("ident", value));
    }
    Ok(to_value(s)?)
}

/// A string literal, escaped by proc-macro2 (quotes, backslashes, newlines, unicode).
fn lit(value: &Value, _: &HashMap<String, Value>) -> Result<Value> {
    let s = value.as_str().ok_or_else(|| err("lit", value))?;
    Ok(to_value(proc_macro2::Literal::string(s).to_string())?)
}

/// An i64 literal with its suffix.
fn int(value: &Value, _: &HashMap<String, Value>) -> Result<Value> {
    let n = value.as_i64().ok_or_else(|| err("int", value))?;
    Ok(to_value(proc_macro2::Literal::i64_suffixed(n).to_string())?)
}

/// An unsuffixed non-negative integer literal (fits any unsigned type it is used as).
fn uint(value: &Value, _: &HashMap<String, Value>) -> Result<Value> {
    let n = value.as_u64().ok_or_else(|| err("uint", value))?;
    Ok(to_value(
        proc_macro2::Literal::u64_unsuffixed(n).to_string(),
    )?)
}

/// An f64 literal with its suffix (finite only: checked before).
fn float(value: &Value, _: &HashMap<String, Value>) -> Result<Value> {
    let f = value
        .as_f64()
        .filter(|f| f.is_finite())
        .ok_or_else(|| err("float", value))?;
    Ok(to_value(proc_macro2::Literal::f64_suffixed(f).to_string())?)
}

/// `true` or `false`.
fn boolean(value: &Value, _: &HashMap<String, Value>) -> Result<Value> {
    let b = value.as_bool().ok_or_else(|| err("bool", value))?;
    Ok(to_value(if b { "true" } else { "false" })?)
}

/// The Rust type of a schema type (a serialized [`Type`]). Std types are named through `rt`
/// (the generated files' alias of `rapyer::__private`, which re-exports them), so that a schema
/// type called `String` or `Vec` cannot shadow them.
fn ty(value: &Value, _: &HashMap<String, Value>) -> Result<Value> {
    let t: Type = serde_json::from_value(value.clone()).map_err(|_| err("ty", value))?;
    Ok(to_value(rust_type(&t).ok_or_else(|| err("ty", value))?)?)
}

/// Renders a type; `None` if a declared name is not a plain identifier (cannot happen after check).
pub fn rust_type(t: &Type) -> Option<String> {
    Some(match t {
        Type::Bool => "bool".into(),
        Type::Int => "i64".into(),
        Type::Float => "f64".into(),
        Type::String => "rt::String".into(),
        Type::Bytes => "rt::Vec<u8>".into(),
        Type::DateTime => "::rapyer::DateTime".into(),
        Type::Uuid => "::rapyer::Uuid".into(),
        Type::Json => "::rapyer::Json".into(),
        Type::Enum(n) | Type::Struct(n) => {
            if !n.chars().all(|c| c.is_ascii_alphanumeric()) || is_keyword(n) {
                return None;
            }
            format!("super::{n}")
        }
        Type::Ref(n) => {
            if !n.chars().all(|c| c.is_ascii_alphanumeric()) || is_keyword(n) {
                return None;
            }
            format!("::rapyer::Ref<super::{n}>")
        }
        Type::Optional(t) => format!("rt::Option<{}>", rust_type(t)?),
        Type::List(t) => format!("rt::Vec<{}>", rust_type(t)?),
        Type::Set(t) => format!("rt::BTreeSet<{}>", rust_type(t)?),
        Type::ZSet(t) => format!("rt::BTreeMap<{}, f64>", rust_type(t)?),
        Type::Map(t) => format!("rt::BTreeMap<rt::String, {}>", rust_type(t)?),
    })
}

/// Deserializes a filter's typed input, refusing anything else.
fn typed<T: serde::de::DeserializeOwned>(filter: &str, value: &Value) -> Result<T> {
    serde_json::from_value(value.clone()).map_err(|_| err(filter, value))
}

/// `ident`'s check, for names inside typed values.
fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !is_keyword(s)
}

/// A value known at generation time (a serialized [`Literal`]) as a Rust expression.
fn value_filter(value: &Value, _: &HashMap<String, Value>) -> Result<Value> {
    let literal: Literal = typed("value", value)?;
    Ok(to_value(
        render_literal(&literal).ok_or_else(|| err("value", value))?,
    )?)
}

/// Renders a literal; `None` for what no checked schema produces (a non-finite float, a bad
/// uuid or variant name).
pub fn render_literal(literal: &Literal) -> Option<String> {
    use proc_macro2::Literal as Token;
    Some(match literal {
        Literal::None => "rt::None".into(),
        Literal::Some(inner) => format!("rt::Some({})", render_literal(inner)?),
        Literal::Bool(b) => b.to_string(),
        Literal::Int(i) => Token::i64_suffixed(*i).to_string(),
        Literal::Float(f) if f.is_finite() => Token::f64_suffixed(*f).to_string(),
        Literal::Float(_) => return None,
        Literal::String(s) => format!("rt::String::from({})", Token::string(s)),
        Literal::Bytes(s) => format!("{}.as_bytes().to_vec()", Token::string(s)),
        Literal::DateTime { secs, nanos } => format!(
            "rt::datetime_default({}, {})",
            Token::i64_suffixed(*secs),
            Token::u32_suffixed(*nanos)
        ),
        Literal::Uuid(text) => format!(
            "::rapyer::Uuid::from_u128({})",
            Token::u128_suffixed(uuid::Uuid::parse_str(text).ok()?.as_u128())
        ),
        Literal::Variant { ty, rust_name } if is_ident(rust_name) => {
            format!("<{}>::{rust_name}", rust_type(ty)?)
        }
        Literal::Variant { .. } => return None,
        Literal::Json(text) => {
            format!("rt::json_default({})", Token::string(text))
        }
    })
}

/// A constructor's entry for one field (a serialized [`Init`]): `name: value`, or `name` alone
/// when the parameter of that name is the value.
fn init_filter(value: &Value, _: &HashMap<String, Value>) -> Result<Value> {
    let init: Init = typed("init", value)?;
    if !is_ident(&init.name) {
        return Err(err("init", value));
    }
    let name = &init.name;
    let expr = match &init.value {
        InitValue::Param { into: false } => return Ok(to_value(name)?),
        InitValue::Param { into: true } => format!("{name}.into()"),
        InitValue::NewUuid => "::rapyer::Uuid::new_v4()".into(),
        InitValue::Literal(l) => render_literal(l).ok_or_else(|| err("init", value))?,
        InitValue::EmptyList => "rt::Vec::new()".into(),
        InitValue::EmptySet => "rt::BTreeSet::new()".into(),
        InitValue::EmptyMap => "rt::BTreeMap::new()".into(),
        InitValue::StructNew(ty) => format!(
            "<{}>::new()",
            rust_type(ty).ok_or_else(|| err("init", value))?
        ),
    };
    Ok(to_value(format!("{name}: {expr}"))?)
}

/// The runtime handle type of a field (a serialized [`Handle`]).
fn handle_filter(value: &Value, _: &HashMap<String, Value>) -> Result<Value> {
    let handle: Handle = typed("handle", value)?;
    let codec = |json: bool| {
        if json {
            "::rapyer::AsJson"
        } else {
            "::rapyer::Plain"
        }
    };
    let ty = |t: &Type| rust_type(t).ok_or_else(|| err("handle", value));
    // Every handle is generic over where its operations go (`S`, a `rapyer::Sink`).
    Ok(to_value(match &handle {
        Handle::Int => "::rapyer::IntField<S>".to_string(),
        Handle::Float => "::rapyer::FloatField<S>".to_string(),
        Handle::Value(t) => format!("::rapyer::ValueField<{}, S>", ty(t)?),
        Handle::Optional { elem, json } => {
            format!(
                "::rapyer::OptionalField<{}, {}, S>",
                ty(elem)?,
                codec(*json)
            )
        }
        Handle::List { elem, json } => {
            format!("::rapyer::ListField<{}, {}, S>", ty(elem)?, codec(*json))
        }
        Handle::Set(t) => format!("::rapyer::SetField<{}, S>", ty(t)?),
        Handle::ZSet(t) => format!("::rapyer::ZSetField<{}, S>", ty(t)?),
        Handle::Map { elem, json } => {
            format!("::rapyer::MapField<{}, {}, S>", ty(elem)?, codec(*json))
        }
        Handle::Struct(name) if is_ident(name) => format!("super::{name}<S>"),
        Handle::Struct(_) => return Err(err("handle", value)),
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(f: fn(&Value, &HashMap<String, Value>) -> Result<Value>, v: Value) -> Result<String> {
        f(&v, &HashMap::new()).map(|v| v.as_str().unwrap().to_string())
    }

    #[test]
    fn filters_refuse_what_is_not_a_token() {
        assert!(apply(ident, "score".into()).is_ok());
        assert!(apply(ident, "a b".into()).is_err());
        assert!(apply(ident, "fn".into()).is_err());
        assert!(apply(ident, "x}; fn evil() {".into()).is_err());
        assert_eq!(apply(lit, "a\"b\n".into()).unwrap(), "\"a\\\"b\\n\"");
        assert_eq!(apply(int, (-5).into()).unwrap(), "-5i64");
        assert!(apply(float, "1.0".into()).is_err());
        assert_eq!(
            apply(ty, serde_json::json!({"List": {"Struct": "PlayerStats"}})).unwrap(),
            "rt::Vec<super::PlayerStats>"
        );
        assert!(apply(ty, serde_json::json!({"Struct": "X>; fn evil"})).is_err());
        assert_eq!(
            apply(
                value_filter,
                serde_json::json!({"Some": {"String": "a\"b"}})
            )
            .unwrap(),
            "rt::Some(rt::String::from(\"a\\\"b\"))"
        );
        assert!(apply(value_filter, serde_json::json!({"Uuid": "not a uuid"})).is_err());
        assert!(
            apply(
                value_filter,
                serde_json::json!({"Variant": {"ty": {"Enum": "E"}, "rust_name": "A; evil()"}})
            )
            .is_err()
        );
        assert_eq!(
            apply(
                init_filter,
                serde_json::json!({"name": "stats", "value": {"Param": {"into": false}}})
            )
            .unwrap(),
            "stats"
        );
        assert!(
            apply(
                init_filter,
                serde_json::json!({"name": "a: evil()", "value": "NewUuid"})
            )
            .is_err()
        );
        assert_eq!(
            apply(
                handle_filter,
                serde_json::json!({"List": {"elem": {"Struct": "S"}, "json": true}})
            )
            .unwrap(),
            "::rapyer::ListField<super::S, ::rapyer::AsJson, S>"
        );
        assert!(apply(handle_filter, serde_json::json!({"Struct": "S>; evil"})).is_err());
    }
}
