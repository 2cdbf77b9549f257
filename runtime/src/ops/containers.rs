//! Handles on container fields, each in a key of its own: `list<T>` (LIST), `set<T>` (SET),
//! `map<string, T>` (HASH). An emptied container has no key, as Redis deletes empty ones.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;

use redis::Value;

use crate::codec::{Codec, CodecError, Element, Plain};
use crate::error::{Error, Result};
use crate::ops::instance::{Instance, Target};
use crate::ops::op::{self, Op, OpSpec, int_arg};
use crate::ops::sink::{Direct, Sink};
use crate::protocol::OpCode;

/// What every container handle holds.
#[derive(Debug, Clone)]
struct Container<S: Sink> {
    instance: Instance<S>,
    path: Cow<'static, str>,
}

impl<S: Sink> Container<S> {
    fn op<T: Send + 'static>(
        &self,
        code: OpCode,
        field: Cow<'static, str>,
        args: Result<Vec<Vec<u8>>>,
        decode: op::Decoder<T>,
    ) -> S::Out<T> {
        self.instance.emit(self.build(code, field, args, decode))
    }

    fn build<T>(
        &self,
        code: OpCode,
        field: Cow<'static, str>,
        args: Result<Vec<Vec<u8>>>,
        decode: op::Decoder<T>,
    ) -> Op<T> {
        let target = Target::Container { path: &self.path };
        self.instance.build(target, field, code, args, decode)
    }

    /// An op on the whole container, named by its path.
    fn whole<T: Send + 'static>(
        &self,
        code: OpCode,
        args: Result<Vec<Vec<u8>>>,
        decode: op::Decoder<T>,
    ) -> S::Out<T> {
        self.op(code, self.path.clone(), args, decode)
    }

    fn encode_error(&self, e: CodecError) -> Error {
        Error::Encode {
            field: self.path.to_string(),
            reason: e.to_string(),
        }
    }

    fn encode<T, E: Element<T>>(&self, value: &T) -> Result<Vec<u8>> {
        E::encode(value).map_err(|e| self.encode_error(e))
    }

    fn encode_all<T, E: Element<T>>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Vec<Vec<u8>>> {
        items.into_iter().map(|v| self.encode::<T, E>(&v)).collect()
    }
}

fn decode_one<T, E: Element<T>>(v: Value, spec: &OpSpec) -> Result<Option<T>> {
    op::bytes(v, spec)?
        .map(|raw| E::decode(&raw).map_err(|e| spec.decode_error(e)))
        .transpose()
}

fn decode_many<T, E: Element<T>>(v: Value, spec: &OpSpec) -> Result<Vec<T>> {
    op::array(v, spec)?
        .into_iter()
        .map(|item| match op::bytes(item, spec)? {
            Some(raw) => E::decode(&raw).map_err(|e| spec.decode_error(e)),
            None => Err(spec.unexpected("an element", &Value::Nil)),
        })
        .collect()
}

/// A `list<T>` field. `E` is how elements are stored: [`Plain`], or
/// [`AsJson`](crate::codec::AsJson) for structs and nested containers.
#[derive(Debug, Clone)]
pub struct ListField<T, E = Plain, S: Sink = Direct> {
    c: Container<S>,
    codec: PhantomData<fn() -> (T, E)>,
}

impl<T: Send + 'static, E: Element<T> + 'static, S: Sink> ListField<T, E, S> {
    /// The list at `path` of `instance`.
    pub fn new(instance: Instance<S>, path: impl Into<Cow<'static, str>>) -> Self {
        ListField {
            c: Container {
                instance,
                path: path.into(),
            },
            codec: PhantomData,
        }
    }

    /// Appends a value (RPUSH); returns the new length.
    pub fn push_back(&self, value: impl Into<T>) -> S::Out<u64> {
        let args = self.c.encode::<T, E>(&value.into()).map(|raw| vec![raw]);
        self.c.whole(OpCode::Rpush, args, Box::new(op::count))
    }

    /// Prepends a value (LPUSH); returns the new length.
    pub fn push_front(&self, value: impl Into<T>) -> S::Out<u64> {
        let args = self.c.encode::<T, E>(&value.into()).map(|raw| vec![raw]);
        self.c.whole(OpCode::Lpush, args, Box::new(op::count))
    }

    /// Appends every value, in order, in one step (RPUSH); returns the new length.
    pub fn extend(&self, values: impl IntoIterator<Item = T>) -> S::Out<u64> {
        match self.c.encode_all::<T, E>(values) {
            Ok(args) if args.is_empty() => self.len(),
            args => self.c.whole(OpCode::Rpush, args, Box::new(op::count)),
        }
    }

    /// Removes and returns the last value (RPOP); `None` when the list is empty.
    pub fn pop_back(&self) -> S::Out<Option<T>> {
        self.c
            .whole(OpCode::Rpop, Ok(vec![]), Box::new(decode_one::<T, E>))
    }

    /// Removes and returns the first value (LPOP); `None` when the list is empty.
    pub fn pop_front(&self) -> S::Out<Option<T>> {
        self.c
            .whole(OpCode::Lpop, Ok(vec![]), Box::new(decode_one::<T, E>))
    }

    /// The value at `index` (LINDEX; negative counts from the end); `None` when out of range.
    pub fn get(&self, index: i64) -> S::Out<Option<T>> {
        let args = Ok(vec![int_arg(index)]);
        self.c
            .whole(OpCode::Lindex, args, Box::new(decode_one::<T, E>))
    }

    /// Replaces the value at `index` (LSET). An index out of range fails with
    /// [`Error::IndexOutOfRange`] and writes nothing (inside a pipeline, the other operations
    /// still apply: this one changes nothing).
    pub fn set(&self, index: i64, value: impl Into<T>) -> S::Out<()> {
        let args = self
            .c
            .encode::<T, E>(&value.into())
            .map(|raw| vec![int_arg(index), raw]);
        self.c.whole(
            OpCode::Lset,
            args,
            Box::new(move |v, spec| {
                if op::flag(v, spec)? {
                    Ok(())
                } else {
                    Err(Error::IndexOutOfRange {
                        key: spec.key.clone(),
                        field: spec.field.to_string(),
                        index,
                    })
                }
            }),
        )
    }

    /// The values from `start` to `stop`, both included (LRANGE; negative counts from the end,
    /// so `range(0, -1)` is the whole list).
    pub fn range(&self, start: i64, stop: i64) -> S::Out<Vec<T>> {
        let args = Ok(vec![int_arg(start), int_arg(stop)]);
        self.c
            .whole(OpCode::Lrange, args, Box::new(decode_many::<T, E>))
    }

    /// The number of values (LLEN).
    pub fn len(&self) -> S::Out<u64> {
        self.c.whole(OpCode::Llen, Ok(vec![]), Box::new(op::count))
    }

    /// Removes occurrences of `value` (LREM): the first `count` from the front when `count > 0`,
    /// from the back when `count < 0`, all when `count == 0`. Returns how many were removed.
    pub fn remove(&self, value: impl Into<T>, count: i64) -> S::Out<u64> {
        let args = self
            .c
            .encode::<T, E>(&value.into())
            .map(|raw| vec![int_arg(count), raw]);
        self.c.whole(OpCode::Lrem, args, Box::new(op::count))
    }

    /// Keeps only the values from `start` to `stop`, both included (LTRIM).
    pub fn trim(&self, start: i64, stop: i64) -> S::Out<()> {
        let args = Ok(vec![int_arg(start), int_arg(stop)]);
        self.c.whole(OpCode::Ltrim, args, Box::new(op::unit))
    }

    /// Removes every value (DEL of the list's key).
    pub fn clear(&self) -> S::Out<()> {
        self.c.whole(OpCode::Del, Ok(vec![]), Box::new(op::unit))
    }
}

/// A `set<T>` field.
#[derive(Debug, Clone)]
pub struct SetField<T, S: Sink = Direct> {
    c: Container<S>,
    codec: PhantomData<fn() -> T>,
}

impl<T: Codec + Ord + Send + 'static, S: Sink> SetField<T, S> {
    /// The set at `path` of `instance`.
    pub fn new(instance: Instance<S>, path: impl Into<Cow<'static, str>>) -> Self {
        SetField {
            c: Container {
                instance,
                path: path.into(),
            },
            codec: PhantomData,
        }
    }

    fn one(&self, value: T) -> Result<Vec<Vec<u8>>> {
        self.c.encode::<T, Plain>(&value).map(|raw| vec![raw])
    }

    /// Adds a value (SADD); returns whether it was new.
    pub fn add(&self, value: impl Into<T>) -> S::Out<bool> {
        self.c
            .whole(OpCode::Sadd, self.one(value.into()), Box::new(op::flag))
    }

    /// Adds every value in one step (SADD); returns how many were new.
    pub fn add_many(&self, values: impl IntoIterator<Item = T>) -> S::Out<u64> {
        match self.c.encode_all::<T, Plain>(values) {
            // Nothing to add: still checks that the instance exists.
            Ok(args) if args.is_empty() => {
                self.c
                    .whole(OpCode::Scard, Ok(args), Box::new(|_, _| Ok(0)))
            }
            args => self.c.whole(OpCode::Sadd, args, Box::new(op::count)),
        }
    }

    /// Removes a value (SREM); returns whether it was there.
    pub fn remove(&self, value: impl Into<T>) -> S::Out<bool> {
        self.c
            .whole(OpCode::Srem, self.one(value.into()), Box::new(op::flag))
    }

    /// Whether the value is in the set (SISMEMBER).
    pub fn contains(&self, value: impl Into<T>) -> S::Out<bool> {
        self.c.whole(
            OpCode::Sismember,
            self.one(value.into()),
            Box::new(op::flag),
        )
    }

    /// Every value (SMEMBERS).
    pub fn members(&self) -> S::Out<BTreeSet<T>> {
        self.c.whole(
            OpCode::Smembers,
            Ok(vec![]),
            Box::new(|v, spec| Ok(decode_many::<T, Plain>(v, spec)?.into_iter().collect())),
        )
    }

    /// The number of values (SCARD).
    pub fn len(&self) -> S::Out<u64> {
        self.c.whole(OpCode::Scard, Ok(vec![]), Box::new(op::count))
    }

    /// Removes and returns a random value (SPOP); `None` when the set is empty.
    pub fn pop(&self) -> S::Out<Option<T>> {
        self.c
            .whole(OpCode::Spop, Ok(vec![]), Box::new(decode_one::<T, Plain>))
    }

    /// Removes every value (DEL of the set's key).
    pub fn clear(&self) -> S::Out<()> {
        self.c.whole(OpCode::Del, Ok(vec![]), Box::new(op::unit))
    }

    /// Removes every value in one step (SREM); returns how many were there.
    pub fn remove_many(&self, values: impl IntoIterator<Item = T>) -> S::Out<u64> {
        match self.c.encode_all::<T, Plain>(values) {
            // Nothing to remove: still checks that the instance exists.
            Ok(args) if args.is_empty() => {
                self.c
                    .whole(OpCode::Scard, Ok(args), Box::new(|_, _| Ok(0)))
            }
            args => self.c.whole(OpCode::Srem, args, Box::new(op::count)),
        }
    }

    /// The values in this set or in any of `others` (SUNION), read at one instant. The others
    /// are handles from `repo.fields(pk)` (in a batch too); they
    /// may be sets of other instances (a missing one counts as empty); on a cluster they must
    /// share this instance's hash slot ([`Error::CrossSlot`] otherwise, nothing sent).
    pub fn union(&self, others: &[&SetField<T>]) -> S::Out<BTreeSet<T>> {
        self.algebra(OpCode::Sunion, others)
    }

    /// The values in this set and in every one of `others` (SINTER); see [`union`](Self::union).
    pub fn intersection(&self, others: &[&SetField<T>]) -> S::Out<BTreeSet<T>> {
        self.algebra(OpCode::Sinter, others)
    }

    /// The values in this set and in none of `others` (SDIFF); see [`union`](Self::union).
    pub fn difference(&self, others: &[&SetField<T>]) -> S::Out<BTreeSet<T>> {
        self.algebra(OpCode::Sdiff, others)
    }

    fn algebra(&self, code: OpCode, others: &[&SetField<T>]) -> S::Out<BTreeSet<T>> {
        let keys: Option<Vec<String>> = others
            .iter()
            .map(|o| o.c.instance.container_key(&o.c.path))
            .collect();
        let op = self.c.build(
            code,
            self.c.path.clone(),
            Ok(vec![]),
            Box::new(|v, spec| Ok(decode_many::<T, Plain>(v, spec)?.into_iter().collect())),
        );
        match keys {
            Some(keys) => self.c.instance.emit(op.with_extra_keys(keys)),
            // An unusable pk among the others: refused before anything is sent.
            None => self.c.instance.emit(Op::new(
                self.c.instance.client().clone(),
                Err(Error::InvalidKey {
                    pk: String::new(),
                    reason: "a primary key cannot be empty",
                }),
                Box::new(|_, _| Ok(BTreeSet::new())),
            )),
        }
    }
}

/// A `map<string, T>` field. `E` is how values are stored: [`Plain`], or
/// [`AsJson`](crate::codec::AsJson) for structs and nested containers.
#[derive(Debug, Clone)]
pub struct MapField<T, E = Plain, S: Sink = Direct> {
    c: Container<S>,
    codec: PhantomData<fn() -> (T, E)>,
}

impl<T: Send + 'static, E: Element<T> + 'static, S: Sink> MapField<T, E, S> {
    /// The map at `path` of `instance`.
    pub fn new(instance: Instance<S>, path: impl Into<Cow<'static, str>>) -> Self {
        MapField {
            c: Container {
                instance,
                path: path.into(),
            },
            codec: PhantomData,
        }
    }

    /// The path of one entry, for messages: `metadata["level"]`.
    fn entry(&self, key: &str) -> Cow<'static, str> {
        Cow::Owned(format!("{}[{key:?}]", self.c.path))
    }

    /// Inserts or replaces an entry (HSET); returns whether the key was new.
    pub fn insert(&self, key: impl Into<String>, value: impl Into<T>) -> S::Out<bool> {
        let key = key.into();
        let args = self
            .c
            .encode::<T, E>(&value.into())
            .map(|raw| vec![key.clone().into_bytes(), raw]);
        self.c
            .op(OpCode::Hset, self.entry(&key), args, Box::new(op::flag))
    }

    /// Inserts or replaces every entry in one step (HSET); returns how many keys were new.
    pub fn insert_many<K: Into<String>>(
        &self,
        entries: impl IntoIterator<Item = (K, T)>,
    ) -> S::Out<u64> {
        let args: Result<Vec<Vec<u8>>> =
            entries
                .into_iter()
                .try_fold(Vec::new(), |mut args, (k, v)| {
                    let raw = self.c.encode::<T, E>(&v)?;
                    args.push(k.into().into_bytes());
                    args.push(raw);
                    Ok(args)
                });
        match args {
            Ok(args) if args.is_empty() => {
                self.c.whole(OpCode::Hlen, Ok(args), Box::new(|_, _| Ok(0)))
            }
            args => self.c.whole(OpCode::Hset, args, Box::new(op::count)),
        }
    }

    /// Removes an entry (HDEL); returns whether it was there.
    pub fn remove(&self, key: &str) -> S::Out<bool> {
        let args = Ok(vec![key.as_bytes().to_vec()]);
        self.c
            .op(OpCode::Hdel, self.entry(key), args, Box::new(op::flag))
    }

    /// The value of an entry (HGET); `None` when the key is absent.
    pub fn get(&self, key: &str) -> S::Out<Option<T>> {
        let args = Ok(vec![key.as_bytes().to_vec()]);
        self.c.op(
            OpCode::Hget,
            self.entry(key),
            args,
            Box::new(decode_one::<T, E>),
        )
    }

    /// Gets and removes an entry in one step (HGET + HDEL); `None` when the key was absent.
    pub fn take(&self, key: &str) -> S::Out<Option<T>> {
        let args = Ok(vec![key.as_bytes().to_vec()]);
        self.c.op(
            OpCode::Take,
            self.entry(key),
            args,
            Box::new(decode_one::<T, E>),
        )
    }

    /// Inserts an entry only when the key is absent (HSETNX); returns whether it was inserted.
    pub fn insert_if_absent(&self, key: impl Into<String>, value: impl Into<T>) -> S::Out<bool> {
        let key = key.into();
        let args = self
            .c
            .encode::<T, E>(&value.into())
            .map(|raw| vec![key.clone().into_bytes(), raw]);
        self.c
            .op(OpCode::Hsetnx, self.entry(&key), args, Box::new(op::flag))
    }

    /// Whether the key is present (HEXISTS).
    pub fn contains(&self, key: &str) -> S::Out<bool> {
        let args = Ok(vec![key.as_bytes().to_vec()]);
        self.c
            .op(OpCode::Hexists, self.entry(key), args, Box::new(op::flag))
    }

    /// The number of entries (HLEN).
    pub fn len(&self) -> S::Out<u64> {
        self.c.whole(OpCode::Hlen, Ok(vec![]), Box::new(op::count))
    }

    /// Every key (HKEYS), in no particular order.
    pub fn keys(&self) -> S::Out<Vec<String>> {
        self.c.whole(
            OpCode::Hkeys,
            Ok(vec![]),
            Box::new(decode_many::<String, Plain>),
        )
    }

    /// Every entry (HGETALL).
    pub fn entries(&self) -> S::Out<BTreeMap<String, T>> {
        self.c.whole(
            OpCode::Hgetall,
            Ok(vec![]),
            Box::new(|v, spec| {
                let mut items = op::array(v, spec)?.into_iter();
                let mut out = BTreeMap::new();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    let k = op::bytes(k, spec)?.unwrap_or_default();
                    let k = String::decode(&k).map_err(|e| spec.decode_error(e))?;
                    let raw = op::bytes(v, spec)?.unwrap_or_default();
                    let value = E::decode(&raw).map_err(|e| Error::Decode {
                        key: spec.key.clone(),
                        field: format!("{}[{k:?}]", spec.field),
                        reason: e.to_string(),
                    })?;
                    out.insert(k, value);
                }
                Ok(out)
            }),
        )
    }

    /// Removes every entry (DEL of the map's key).
    pub fn clear(&self) -> S::Out<()> {
        self.c.whole(OpCode::Del, Ok(vec![]), Box::new(op::unit))
    }
}

impl<S: Sink> MapField<i64, Plain, S> {
    /// Adds `by` to an entry (starting from 0 when absent) and returns the new value (HINCRBY).
    /// Fails with [`Error::Overflow`] when the result does not fit in an `i64`.
    pub fn incr(&self, key: &str, by: i64) -> S::Out<i64> {
        let args = Ok(vec![key.as_bytes().to_vec(), int_arg(by), Vec::new()]);
        self.c
            .op(OpCode::Incr, self.entry(key), args, Box::new(op::int_text))
    }
}

impl<S: Sink> MapField<f64, Plain, S> {
    /// Adds `by` to an entry (starting from 0 when absent) and returns the new value, exactly
    /// the `f64` sum (see [`FloatField::incr`](crate::FloatField::incr)). Fails with [`Error::Overflow`] when the result would not be finite.
    pub fn incr(&self, key: &str, by: f64) -> S::Out<f64> {
        let args = self
            .c
            .encode::<f64, Plain>(&by)
            .map(|delta| vec![key.as_bytes().to_vec(), delta, Vec::new()]);
        self.c.op(
            OpCode::Incrf,
            self.entry(key),
            args,
            Box::new(|v, spec| {
                let raw = op::bytes(v, spec)?.unwrap_or_default();
                f64::decode(&raw).map_err(|e| spec.decode_error(e))
            }),
        )
    }
}

/// A `zset<T>` field: members with scores (a ZSET), for priority queues and per-instance
/// leaderboards. Scores are finite `f64`; ties order by member bytes, as Redis orders them.
#[derive(Debug, Clone)]
pub struct ZSetField<T, S: Sink = Direct> {
    c: Container<S>,
    codec: PhantomData<fn() -> T>,
}

/// Member, score pairs of a WITHSCORES reply (flat, as the script returns it).
fn decode_scored<T: Codec>(v: Value, spec: &OpSpec) -> Result<Vec<(T, f64)>> {
    let items = op::array(v, spec)?;
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let (Some(member), Some(score)) = (items.next(), items.next()) {
        let member = op::bytes(member, spec)?.unwrap_or_default();
        let member = T::decode(&member).map_err(|e| spec.decode_error(e))?;
        let score = op::bytes(score, spec)?.unwrap_or_default();
        let score = f64::decode(&score).map_err(|e| spec.decode_error(e))?;
        out.push((member, score));
    }
    Ok(out)
}

fn first_scored<T: Codec>(v: Value, spec: &OpSpec) -> Result<Option<(T, f64)>> {
    Ok(decode_scored(v, spec)?.into_iter().next())
}

impl<T: Codec + Ord + Send + 'static, S: Sink> ZSetField<T, S> {
    /// The sorted set at `path` of `instance`.
    pub fn new(instance: Instance<S>, path: impl Into<Cow<'static, str>>) -> Self {
        ZSetField {
            c: Container {
                instance,
                path: path.into(),
            },
            codec: PhantomData,
        }
    }

    fn member(&self, member: T) -> Result<Vec<u8>> {
        self.c.encode::<T, Plain>(&member)
    }

    /// Adds a member with `score`, or moves it to `score` (ZADD); returns whether it was new.
    /// A score that is not finite is refused ([`Error::Encode`]).
    pub fn add(&self, member: impl Into<T>, score: f64) -> S::Out<bool> {
        let args = score
            .encode()
            .map_err(|e| self.c.encode_error(e))
            .and_then(|s| Ok(vec![s, self.member(member.into())?]));
        self.c.whole(OpCode::Zadd, args, Box::new(op::flag))
    }

    /// Adds `by` to a member's score (from 0 when absent) in `f64` arithmetic and returns the
    /// new score; [`Error::Overflow`] when it would not be finite (nothing written).
    pub fn incr(&self, member: impl Into<T>, by: f64) -> S::Out<f64> {
        let args = self
            .member(member.into())
            .and_then(|m| Ok(vec![m, by.encode().map_err(|e| self.c.encode_error(e))?]));
        self.c.whole(
            OpCode::Zincr,
            args,
            Box::new(|v, spec| {
                let raw = op::bytes(v, spec)?.unwrap_or_default();
                f64::decode(&raw).map_err(|e| spec.decode_error(e))
            }),
        )
    }

    /// Removes and returns the member with the lowest score (ZPOPMIN); `None` when empty.
    pub fn pop_min(&self) -> S::Out<Option<(T, f64)>> {
        self.c
            .whole(OpCode::Zpopmin, Ok(vec![]), Box::new(first_scored::<T>))
    }

    /// Removes and returns the member with the highest score (ZPOPMAX); `None` when empty.
    pub fn pop_max(&self) -> S::Out<Option<(T, f64)>> {
        self.c
            .whole(OpCode::Zpopmax, Ok(vec![]), Box::new(first_scored::<T>))
    }

    /// The member with the lowest score, left in place; `None` when empty.
    pub fn peek_min(&self) -> S::Out<Option<(T, f64)>> {
        let args = Ok(vec![b"0".to_vec(), b"0".to_vec(), b"WITHSCORES".to_vec()]);
        self.c
            .whole(OpCode::Zrange, args, Box::new(first_scored::<T>))
    }

    /// The member with the highest score, left in place; `None` when empty.
    pub fn peek_max(&self) -> S::Out<Option<(T, f64)>> {
        let args = Ok(vec![b"-1".to_vec(), b"-1".to_vec(), b"WITHSCORES".to_vec()]);
        self.c
            .whole(OpCode::Zrange, args, Box::new(first_scored::<T>))
    }

    /// Members from rank `start` to `stop` (both included, lowest score first; negative
    /// counts from the highest), with their scores (ZRANGE).
    pub fn range_by_rank(&self, start: i64, stop: i64) -> S::Out<Vec<(T, f64)>> {
        let args = Ok(vec![int_arg(start), int_arg(stop), b"WITHSCORES".to_vec()]);
        self.c
            .whole(OpCode::Zrange, args, Box::new(decode_scored::<T>))
    }

    /// Members with a score in `[min, max]`, lowest first, with their scores (ZRANGEBYSCORE).
    pub fn range_by_score(&self, min: f64, max: f64) -> S::Out<Vec<(T, f64)>> {
        let bound = |b: f64| crate::page::score_text(b).into_bytes();
        let args = Ok(vec![bound(min), bound(max), b"WITHSCORES".to_vec()]);
        self.c
            .whole(OpCode::Zrangebyscore, args, Box::new(decode_scored::<T>))
    }

    /// A member's rank from the lowest score (ZRANK); `None` when absent.
    pub fn rank(&self, member: impl Into<T>) -> S::Out<Option<u64>> {
        let args = self.member(member.into()).map(|m| vec![m]);
        self.c.whole(OpCode::Zrank, args, Box::new(optional_count))
    }

    /// A member's rank from the highest score (ZREVRANK); `None` when absent.
    pub fn rank_from_top(&self, member: impl Into<T>) -> S::Out<Option<u64>> {
        let args = self.member(member.into()).map(|m| vec![m]);
        self.c
            .whole(OpCode::Zrevrank, args, Box::new(optional_count))
    }

    /// A member's score (ZSCORE); `None` when absent.
    pub fn score(&self, member: impl Into<T>) -> S::Out<Option<f64>> {
        let args = self.member(member.into()).map(|m| vec![m]);
        self.c.whole(
            OpCode::Zscore,
            args,
            Box::new(|v, spec| {
                op::bytes(v, spec)?
                    .map(|raw| f64::decode(&raw).map_err(|e| spec.decode_error(e)))
                    .transpose()
            }),
        )
    }

    /// Removes a member (ZREM); returns whether it was there.
    pub fn remove(&self, member: impl Into<T>) -> S::Out<bool> {
        let args = self.member(member.into()).map(|m| vec![m]);
        self.c.whole(OpCode::Zrem, args, Box::new(op::flag))
    }

    /// The number of members (ZCARD).
    pub fn len(&self) -> S::Out<u64> {
        self.c.whole(OpCode::Zcard, Ok(vec![]), Box::new(op::count))
    }

    /// Removes every member (DEL of the key).
    pub fn clear(&self) -> S::Out<()> {
        self.c.whole(OpCode::Del, Ok(vec![]), Box::new(op::unit))
    }
}

/// A rank or count that may be absent (nil).
fn optional_count(v: Value, spec: &OpSpec) -> Result<Option<u64>> {
    match v {
        Value::Nil => Ok(None),
        other => op::count(other, spec).map(Some),
    }
}

super::instance::field_handle! {
    impl[T: Send + 'static, E: Element<T> + 'static, S: Sink] ListField<T, E, S>;
    impl[T: Codec + Ord + Send + 'static, S: Sink] SetField<T, S>;
    impl[T: Send + 'static, E: Element<T> + 'static, S: Sink] MapField<T, E, S>;
    impl[T: Codec + Ord + Send + 'static, S: Sink] ZSetField<T, S>;
}
