//! Handles on fields stored in the instance hash: `int`, `float`, the other scalars, and
//! `optional<T>` (struct leaves too: their path is `stats.wins`).

use std::borrow::Cow;
use std::marker::PhantomData;

use crate::codec::{Codec, CodecError, Element, Plain};
use crate::error::{Error, Result};
use crate::ops::instance::{Instance, Target};
use crate::ops::op::{self, OpSpec, int_arg};
use crate::ops::sink::{Direct, Sink};
use crate::protocol::OpCode;

fn encode_error(path: &str) -> impl FnOnce(CodecError) -> Error + '_ {
    move |e| Error::Encode {
        field: path.to_string(),
        reason: e.to_string(),
    }
}

/// A hash field that is missing although the instance exists: the instance predates the field.
fn missing(spec: &OpSpec) -> Error {
    Error::Decode {
        key: spec.key.clone(),
        field: spec.field.to_string(),
        reason: "field is missing".into(),
    }
}

/// HGET of a field, decoded; a missing field gives `default`, or an error without one.
// A `&Cow` rather than `&str`: cloning a borrowed `Cow` for the op's field name allocates nothing.
#[allow(clippy::ptr_arg)]
fn get<T: Codec + Send + 'static, S: Sink>(
    instance: &Instance<S>,
    path: &Cow<'static, str>,
    default: Option<T>,
) -> S::Out<T> {
    instance.op(
        Target::Hash,
        path.clone(),
        OpCode::Hget,
        Ok(vec![path.as_bytes().to_vec()]),
        Box::new(move |v, spec| match op::bytes(v, spec)? {
            Some(raw) => T::decode(&raw).map_err(|e| spec.decode_error(e)),
            None => default.ok_or_else(|| missing(spec)),
        }),
    )
}

/// HSET of one encoded field.
#[allow(clippy::ptr_arg)]
fn set<S: Sink>(
    instance: &Instance<S>,
    path: &Cow<'static, str>,
    raw: Result<Vec<u8>>,
) -> S::Out<()> {
    let args = raw.map(|raw| vec![path.as_bytes().to_vec(), raw]);
    instance.op(
        Target::Hash,
        path.clone(),
        OpCode::Hset,
        args,
        Box::new(op::unit),
    )
}

/// A condition on the field at `path` (see `OpCode::Cond`): added to a pipeline, the pipeline
/// writes nothing unless it holds ([`Error::ConditionFailed`]); alone, it only checks.
#[allow(clippy::ptr_arg)]
fn condition<S: Sink>(
    instance: &Instance<S>,
    path: &Cow<'static, str>,
    comparator: &'static str,
    kind: &'static str,
    value: Result<Vec<u8>>,
    default: Vec<u8>,
) -> S::Out<()> {
    let args = value.map(|value| {
        vec![
            path.as_bytes().to_vec(),
            comparator.as_bytes().to_vec(),
            kind.as_bytes().to_vec(),
            value,
            default,
        ]
    });
    instance.op(
        Target::Hash,
        path.clone(),
        OpCode::Cond,
        args,
        Box::new(op::unit),
    )
}

/// Compare-and-set of the field at `path` (stored texts, `None` for unset).
#[allow(clippy::ptr_arg)]
fn compare_and_set<S: Sink>(
    instance: &Instance<S>,
    path: &Cow<'static, str>,
    expected: Result<Option<Vec<u8>>>,
    new: Result<Option<Vec<u8>>>,
) -> S::Out<bool> {
    let arg = |v: Option<Vec<u8>>| match v {
        Some(raw) => [b"=".as_slice(), &raw].concat(),
        None => b"-".to_vec(),
    };
    let args = expected.and_then(|e| Ok(vec![path.as_bytes().to_vec(), arg(e), arg(new?)]));
    instance.op(
        Target::Hash,
        path.clone(),
        OpCode::Cas,
        args,
        Box::new(op::flag),
    )
}

/// Declares `expect_<cmp>` condition methods on a field handle: `$kind` is how the script
/// compares, `$encode` turns the value into its stored text, `$default` the field's default.
macro_rules! expect_methods {
    ($value:ty, $kind:literal, $encode:expr, $default:expr; $($name:ident $cmp:literal $doc:literal),+) => {
        $(
            #[doc = concat!("A condition: the field ", $doc, " `value`. Added to a pipeline, the pipeline writes nothing unless it holds ([`Error::ConditionFailed`]), checked in the same script as its writes.")]
            pub fn $name(&self, value: impl Into<$value>) -> S::Out<()> {
                #[allow(clippy::redundant_closure_call)]
                let raw = ($encode)(self, value.into());
                #[allow(clippy::redundant_closure_call)]
                let default = ($default)(self);
                condition(&self.instance, &self.path, $cmp, $kind, raw, default)
            }
        )+
    };
}

/// An `int` field: HINCRBY, HSET, HGET.
#[derive(Debug, Clone)]
pub struct IntField<S: Sink = Direct> {
    instance: Instance<S>,
    path: Cow<'static, str>,
    default: Option<i64>,
}

impl<S: Sink> IntField<S> {
    /// The field at `path` (`score`, `stats.wins`) of `instance`.
    pub fn new(instance: Instance<S>, path: impl Into<Cow<'static, str>>) -> Self {
        IntField {
            instance,
            path: path.into(),
            default: None,
        }
    }

    /// The schema default: what `get` returns, and where `incr` starts, when an instance
    /// written before the field existed lacks it.
    pub fn with_default(mut self, default: i64) -> Self {
        self.default = Some(default);
        self
    }

    /// Adds `by` and returns the new value (HINCRBY). Fails with
    /// [`Error::Overflow`] if the result does not fit in an `i64`; nothing is written then.
    pub fn incr(&self, by: i64) -> S::Out<i64> {
        // Redis starts a missing field at 0; a non-zero default is seeded first (HSETNX).
        let seed = match self.default {
            Some(d) if d != 0 => d.to_string().into_bytes(),
            _ => Vec::new(),
        };
        let args = vec![
            self.path.as_bytes().to_vec(),
            by.to_string().into_bytes(),
            seed,
        ];
        self.instance.op(
            Target::Hash,
            self.path.clone(),
            OpCode::Incr,
            Ok(args),
            Box::new(op::int_text),
        )
    }

    /// Subtracts `by` and returns the new value (HINCRBY with `-by`).
    pub fn decr(&self, by: i64) -> S::Out<i64> {
        match by.checked_neg() {
            Some(neg) => self.incr(neg),
            None => self.instance.op(
                Target::Hash,
                self.path.clone(),
                OpCode::Incr,
                Err(Error::Overflow {
                    key: self.instance.key().unwrap_or_default().to_string(),
                    field: self.path.to_string(),
                    reason: format!("cannot subtract {by}: its negation is not an i64"),
                }),
                Box::new(op::int_text),
            ),
        }
    }

    /// Sets the value (HSET).
    pub fn set(&self, value: i64) -> S::Out<()> {
        set(
            &self.instance,
            &self.path,
            Ok(value.to_string().into_bytes()),
        )
    }

    expect_methods!(i64, "i", |_: &Self, v: i64| Ok(int_arg(v)), |s: &Self| s.default.map(int_arg).unwrap_or_default();
        expect_eq "eq" "equals", expect_ne "ne" "differs from", expect_lt "lt" "is less than",
        expect_le "le" "is at most", expect_gt "gt" "is greater than", expect_ge "ge" "is at least");

    /// Keeps the larger of the field and `value` in one step and returns it ("keep the best
    /// score"); a sorted index follows.
    pub fn max(&self, value: i64) -> S::Out<i64> {
        self.extreme(OpCode::Imax, value)
    }

    /// Keeps the smaller of the field and `value` in one step and returns it.
    pub fn min(&self, value: i64) -> S::Out<i64> {
        self.extreme(OpCode::Imin, value)
    }

    fn extreme(&self, code: OpCode, value: i64) -> S::Out<i64> {
        let default = self.default.map(int_arg).unwrap_or_default();
        let args = Ok(vec![self.path.as_bytes().to_vec(), int_arg(value), default]);
        self.instance.op(
            Target::Hash,
            self.path.clone(),
            code,
            args,
            Box::new(op::int_text),
        )
    }

    /// Sets the field to `new` only when it holds `expected`, in one step; returns whether it
    /// did. Of racing callers expecting one value, exactly one wins.
    pub fn compare_and_set(&self, expected: i64, new: i64) -> S::Out<bool> {
        let (expected, new) = (Ok(Some(int_arg(expected))), Ok(Some(int_arg(new))));
        compare_and_set(&self.instance, &self.path, expected, new)
    }

    /// Reads the value (HGET).
    pub fn get(&self) -> S::Out<i64> {
        get(&self.instance, &self.path, self.default)
    }
}

/// A `float` field: an `f64` addition in a script, HSET, HGET.
#[derive(Debug, Clone)]
pub struct FloatField<S: Sink = Direct> {
    instance: Instance<S>,
    path: Cow<'static, str>,
    default: Option<f64>,
}

impl<S: Sink> FloatField<S> {
    /// The field at `path` of `instance`.
    pub fn new(instance: Instance<S>, path: impl Into<Cow<'static, str>>) -> Self {
        FloatField {
            instance,
            path: path.into(),
            default: None,
        }
    }

    /// The schema default (see [`IntField::with_default`]).
    pub fn with_default(mut self, default: f64) -> Self {
        self.default = Some(default);
        self
    }

    /// Adds `by` and returns the new value: exactly the `f64` sum Rust computes, stored as text
    /// that parses back to it (Redis's HINCRBYFLOAT would add in long double and keep 17
    /// decimals, so `1e-20 + 1e-20` would be 0). Fails with [`Error::Overflow`] if the result would not be a finite
    /// `f64`, and with [`Error::Encode`] if `by` is not finite; nothing is written then.
    pub fn incr(&self, by: f64) -> S::Out<f64> {
        let path = &self.path;
        let args = by.encode().map_err(encode_error(path)).map(|delta| {
            let seed = match self.default {
                Some(d) if d != 0.0 => d.encode().unwrap_or_default(),
                _ => Vec::new(),
            };
            vec![path.as_bytes().to_vec(), delta, seed]
        });
        self.instance.op(
            Target::Hash,
            path.clone(),
            OpCode::Incrf,
            args,
            Box::new(|v, spec| {
                let raw = op::bytes(v, spec)?.unwrap_or_default();
                f64::decode(&raw).map_err(|e| spec.decode_error(e))
            }),
        )
    }

    expect_methods!(f64, "f", |s: &Self, v: f64| v.encode().map_err(encode_error(&s.path)), |s: &Self| s.default.and_then(|d| d.encode().ok()).unwrap_or_default();
        expect_eq "eq" "equals", expect_ne "ne" "differs from", expect_lt "lt" "is less than",
        expect_le "le" "is at most", expect_gt "gt" "is greater than", expect_ge "ge" "is at least");

    /// Keeps the larger of the field and `value` in one step and returns it; a sorted index
    /// follows.
    pub fn max(&self, value: f64) -> S::Out<f64> {
        self.extreme(OpCode::Fmax, value)
    }

    /// Keeps the smaller of the field and `value` in one step and returns it.
    pub fn min(&self, value: f64) -> S::Out<f64> {
        self.extreme(OpCode::Fmin, value)
    }

    fn extreme(&self, code: OpCode, value: f64) -> S::Out<f64> {
        let default = self
            .default
            .and_then(|d| d.encode().ok())
            .unwrap_or_default();
        let args = value
            .encode()
            .map_err(encode_error(&self.path))
            .map(|raw| vec![self.path.as_bytes().to_vec(), raw, default]);
        self.instance.op(
            Target::Hash,
            self.path.clone(),
            code,
            args,
            Box::new(|v, spec| {
                let raw = op::bytes(v, spec)?.unwrap_or_default();
                f64::decode(&raw).map_err(|e| spec.decode_error(e))
            }),
        )
    }

    /// Sets the value (HSET). NaN and infinities are refused with [`Error::Encode`].
    pub fn set(&self, value: f64) -> S::Out<()> {
        let raw = value.encode().map_err(encode_error(&self.path));
        set(&self.instance, &self.path, raw)
    }

    /// Reads the value (HGET).
    pub fn get(&self) -> S::Out<f64> {
        get(&self.instance, &self.path, self.default)
    }
}

/// A field of any other scalar type (`bool`, `string`, `bytes`, `datetime`, `uuid`, an enum,
/// `json`): HSET, HGET.
#[derive(Debug, Clone)]
pub struct ValueField<T, S: Sink = Direct> {
    instance: Instance<S>,
    path: Cow<'static, str>,
    default: Option<T>,
}

impl<T: Codec + Clone + Send + 'static, S: Sink> ValueField<T, S> {
    /// The field at `path` of `instance`.
    pub fn new(instance: Instance<S>, path: impl Into<Cow<'static, str>>) -> Self {
        ValueField {
            instance,
            path: path.into(),
            default: None,
        }
    }

    /// The schema default, returned by `get` for an instance written before the field existed.
    pub fn with_default(mut self, default: T) -> Self {
        self.default = Some(default);
        self
    }

    /// Sets the value (HSET).
    pub fn set(&self, value: impl Into<T>) -> S::Out<()> {
        let raw = value.into().encode().map_err(encode_error(&self.path));
        set(&self.instance, &self.path, raw)
    }

    /// Reads the value (HGET).
    pub fn get(&self) -> S::Out<T> {
        get(&self.instance, &self.path, self.default.clone())
    }

    expect_methods!(T, "s", |s: &Self, v: T| v.encode().map_err(encode_error(&s.path)), |s: &Self| s.default.as_ref().and_then(|d| d.encode().ok()).unwrap_or_default();
        expect_eq "eq" "equals", expect_ne "ne" "differs from");

    /// Sets the field to `new` only when it holds `expected`, in one step; returns whether it
    /// did. Of racing callers expecting one value, exactly one wins. Indexes follow.
    pub fn compare_and_set(&self, expected: impl Into<T>, new: impl Into<T>) -> S::Out<bool> {
        let encode = |v: T| v.encode().map(Some).map_err(encode_error(&self.path));
        let (expected, new) = (encode(expected.into()), encode(new.into()));
        compare_and_set(&self.instance, &self.path, expected, new)
    }
}

/// Appends `suffix` to the stored bytes of the field at `path`; the new length in bytes.
#[allow(clippy::ptr_arg)]
fn append<S: Sink>(instance: &Instance<S>, path: &Cow<'static, str>, suffix: &[u8]) -> S::Out<u64> {
    let args = Ok(vec![path.as_bytes().to_vec(), suffix.to_vec()]);
    instance.op(
        Target::Hash,
        path.clone(),
        OpCode::Append,
        args,
        Box::new(op::count),
    )
}

impl<S: Sink> ValueField<String, S> {
    /// Appends `suffix` in one step and returns the new length in bytes (UTF-8). A unique or
    /// lookup index on the field follows.
    pub fn append(&self, suffix: &str) -> S::Out<u64> {
        append(&self.instance, &self.path, suffix.as_bytes())
    }
}

impl<S: Sink> ValueField<Vec<u8>, S> {
    /// Appends `suffix` in one step and returns the new length.
    pub fn append(&self, suffix: &[u8]) -> S::Out<u64> {
        append(&self.instance, &self.path, suffix)
    }
}

type DateTime = chrono::DateTime<chrono::Utc>;

/// Adds `by` to the datetime field at `path` in the script (from `default` when missing).
#[allow(clippy::ptr_arg)]
fn add_duration<S: Sink>(
    instance: &Instance<S>,
    path: &Cow<'static, str>,
    by: chrono::TimeDelta,
    default: Option<&DateTime>,
) -> S::Out<DateTime> {
    // Whole seconds and nanoseconds in [0, 1e9), as the script adds them.
    let (secs, nanos) = (by.num_seconds(), by.subsec_nanos());
    let (secs, nanos) = if nanos < 0 {
        (secs - 1, nanos + 1_000_000_000)
    } else {
        (secs, nanos)
    };
    let default = default.and_then(|d| d.encode().ok()).unwrap_or_default();
    let args = Ok(vec![
        path.as_bytes().to_vec(),
        secs.to_string().into_bytes(),
        nanos.to_string().into_bytes(),
        default,
    ]);
    instance.op(
        Target::Hash,
        path.clone(),
        OpCode::Dtadd,
        args,
        Box::new(|v, spec| {
            let raw = op::bytes(v, spec)?.unwrap_or_default();
            DateTime::decode(&raw).map_err(|e| spec.decode_error(e))
        }),
    )
}

impl<S: Sink> ValueField<DateTime, S> {
    expect_methods!(DateTime, "t", |s: &Self, v: DateTime| v.encode().map_err(encode_error(&s.path)), |s: &Self| s.default.as_ref().and_then(|d| d.encode().ok()).unwrap_or_default();
        expect_lt "lt" "is before", expect_le "le" "is at or before", expect_gt "gt" "is after",
        expect_ge "ge" "is at or after");

    /// Adds `by` (negative to go back) in one step and returns the new value, computed by the
    /// script from the stored one (a sorted index follows). [`Error::Overflow`] when the result
    /// falls outside the years 0 to 9999, which RFC 3339 cannot write; nothing is written then.
    pub fn add(&self, by: chrono::TimeDelta) -> S::Out<DateTime> {
        add_duration(&self.instance, &self.path, by, self.default.as_ref())
    }
}

impl<S: Sink> OptionalField<DateTime, Plain, S> {
    /// Adds `by` to the value, as [`ValueField::add`]; an unset value is an
    /// [`Error::Decode`] ("field is missing"), nothing written.
    pub fn add(&self, by: chrono::TimeDelta) -> S::Out<DateTime> {
        add_duration(&self.instance, &self.path, by, None)
    }
}

impl<S: Sink> OptionalField<String, Plain, S> {
    /// Appends `suffix` in one step (to an empty string when unset); the new length in bytes.
    pub fn append(&self, suffix: &str) -> S::Out<u64> {
        append(&self.instance, &self.path, suffix.as_bytes())
    }
}

/// An `optional<T>` field: absent from the hash when `None`. HSET, HDEL, HGET.
/// `E` is how the value is stored: [`Plain`], or [`AsJson`](crate::codec::AsJson) for structs.
#[derive(Debug, Clone)]
pub struct OptionalField<T, E = Plain, S: Sink = Direct> {
    instance: Instance<S>,
    path: Cow<'static, str>,
    codec: PhantomData<fn() -> (T, E)>,
}

impl<T: Send + 'static, E: Element<T> + 'static, S: Sink> OptionalField<T, E, S> {
    /// The field at `path` of `instance`.
    pub fn new(instance: Instance<S>, path: impl Into<Cow<'static, str>>) -> Self {
        OptionalField {
            instance,
            path: path.into(),
            codec: PhantomData,
        }
    }

    /// Sets a value (HSET).
    pub fn set(&self, value: impl Into<T>) -> S::Out<()> {
        let raw = E::encode(&value.into()).map_err(encode_error(&self.path));
        set(&self.instance, &self.path, raw)
    }

    /// A condition: the value is set (see the `expect_*` methods of [`IntField`]).
    pub fn expect_set(&self) -> S::Out<()> {
        condition(
            &self.instance,
            &self.path,
            "set",
            "s",
            Ok(Vec::new()),
            Vec::new(),
        )
    }

    /// A condition: the value is unset.
    pub fn expect_unset(&self) -> S::Out<()> {
        condition(
            &self.instance,
            &self.path,
            "unset",
            "s",
            Ok(Vec::new()),
            Vec::new(),
        )
    }

    /// A condition: the value is set and equals `value`.
    pub fn expect_eq(&self, value: impl Into<T>) -> S::Out<()> {
        let raw = E::encode(&value.into()).map_err(encode_error(&self.path));
        condition(&self.instance, &self.path, "eq", "s", raw, Vec::new())
    }

    /// Sets the value to `new` (`None`: clears it) only when it is `expected` (`None`: unset),
    /// in one step; returns whether it did.
    pub fn compare_and_set(&self, expected: Option<T>, new: Option<T>) -> S::Out<bool> {
        let encode = |v: Option<T>| {
            v.map(|v| E::encode(&v).map_err(encode_error(&self.path)))
                .transpose()
        };
        let (expected, new) = (encode(expected), encode(new));
        compare_and_set(&self.instance, &self.path, expected, new)
    }

    /// Clears the value (HDEL); returns whether there was one.
    pub fn clear(&self) -> S::Out<bool> {
        self.instance.op(
            Target::Hash,
            self.path.clone(),
            OpCode::Hdel,
            Ok(vec![self.path.as_bytes().to_vec()]),
            Box::new(op::flag),
        )
    }

    /// Reads the value (HGET).
    pub fn get(&self) -> S::Out<Option<T>> {
        self.instance.op(
            Target::Hash,
            self.path.clone(),
            OpCode::Hget,
            Ok(vec![self.path.as_bytes().to_vec()]),
            Box::new(|v, spec| {
                op::bytes(v, spec)?
                    .map(|raw| E::decode(&raw).map_err(|e| spec.decode_error(e)))
                    .transpose()
            }),
        )
    }
}

super::instance::field_handle! {
    impl[S: Sink] IntField<S>;
    impl[S: Sink] FloatField<S>;
    impl[T: Codec + Clone + Send + 'static, S: Sink] ValueField<T, S>;
    impl[T: Send + 'static, E: Element<T> + 'static, S: Sink] OptionalField<T, E, S>;
}
