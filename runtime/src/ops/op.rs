//! [`Op`]: one field operation, built but not yet sent.

use std::borrow::Cow;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;

use redis::Value;

use crate::client::Client;
use crate::codec::CodecError;
use crate::error::{Error, Result};
use crate::meta::IndexMeta;
use crate::ops::batch;
use crate::ops::instance::Located;
use crate::protocol::OpCode;

/// Turns the op's reply into its typed result.
pub(crate) type Decoder<T> = Box<dyn FnOnce(Value, &OpSpec) -> Result<T> + Send>;

/// What the batch script needs to run one op, and what errors need to name it.
#[derive(Debug, Clone)]
pub(crate) struct OpSpec {
    /// The instance that must exist.
    pub(crate) located: Arc<Located>,
    /// The key the command works on.
    pub(crate) key: String,
    /// The field, for messages (`stats.wins`, `metadata["k"]`).
    pub(crate) field: Cow<'static, str>,
    /// What the op does (see [`OpCode`]).
    pub(crate) code: OpCode,
    /// Arguments after the key.
    pub(crate) args: Vec<Vec<u8>>,
    /// The op can create a container key, which must then take the instance's TTL.
    pub(crate) creates_key: bool,
    /// The index on the field this op writes, with the index's key.
    pub(crate) index: Option<(&'static IndexMeta, String)>,
    /// The partitioned sorted indexes whose entry this op can move (on its field, or
    /// partitioned by it), with their keys.
    pub(crate) partitions: Vec<(&'static IndexMeta, String)>,
    /// The field's old name, when it was renamed: the value is moved first.
    pub(crate) renamed_from: Option<&'static str>,
    /// Further keys the op touches, besides `key` (an expiry: the instance's other keys).
    pub(crate) extra_keys: Vec<String>,
    /// Ops that run right after this one in the same script, their replies dropped (a whole
    /// struct's `set`: one op per leaf, each moving its own index).
    pub(crate) also: Vec<OpSpec>,
}

impl OpSpec {
    /// True when a key this op creates must take the instance's TTL.
    pub(crate) fn copies_ttl(&self) -> bool {
        self.creates_key && self.located.meta.ttl_seconds.is_some()
    }

    /// A decode error naming this op's key and field.
    pub(crate) fn decode_error(&self, e: CodecError) -> Error {
        Error::Decode {
            key: self.key.clone(),
            field: self.field.to_string(),
            reason: e.to_string(),
        }
    }

    /// An error for a reply of an unexpected shape (only a server that is not Redis, or a
    /// script bug, produces one).
    pub(crate) fn unexpected(&self, what: &str, found: &Value) -> Error {
        Error::Decode {
            key: self.key.clone(),
            field: self.field.to_string(),
            reason: format!("expected {what} from Redis, found {found:?}"),
        }
    }
}

/// One atomic operation on a field, returned by the methods of field handles. Await it to run it
/// alone (one round trip, one script call), or add it to a [`Pipeline`](crate::Pipeline) to run
/// it atomically with others.
///
/// Nothing is sent until then; an invalid argument (a NaN float, an empty pk) is reported at
/// that point, before anything is written.
#[must_use = "an operation does nothing until it is awaited or added to a pipeline"]
pub struct Op<T> {
    pub(crate) client: Client,
    pub(crate) spec: Result<OpSpec>,
    pub(crate) decode: Decoder<T>,
}

impl<T> std::fmt::Debug for Op<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Op").field("spec", &self.spec).finish()
    }
}

impl<T> Op<T> {
    pub(crate) fn new(client: Client, spec: Result<OpSpec>, decode: Decoder<T>) -> Self {
        Op {
            client,
            spec,
            decode,
        }
    }

    /// The spec, or why the op cannot run.
    pub(crate) fn into_spec(self) -> Result<OpSpec> {
        self.spec
    }

    /// The same operation touching `keys` too (see [`OpSpec::extra_keys`]).
    pub(crate) fn with_extra_keys(mut self, keys: Vec<String>) -> Self {
        if let Ok(spec) = &mut self.spec {
            spec.extra_keys = keys;
        }
        self
    }

    /// The same operation with its result dropped: for collecting operations of different result
    /// types, when only their effect matters.
    pub fn discard(self) -> Op<()>
    where
        T: 'static,
    {
        let decode = self.decode;
        Op {
            client: self.client,
            spec: self.spec,
            decode: Box::new(move |v, spec| decode(v, spec).map(drop)),
        }
    }

    /// Runs the operation alone.
    pub async fn run(self) -> Result<T> {
        let spec = self.spec?;
        let reply = batch::run_one(&self.client, &spec).await?;
        (self.decode)(reply, &spec)
    }
}

impl<T: Send + 'static> IntoFuture for Op<T> {
    type Output = Result<T>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<T>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// An integer argument, as decimal text.
pub(crate) fn int_arg(n: i64) -> Vec<u8> {
    n.to_string().into_bytes()
}

/// A reply as bytes: `None` for nil.
pub(crate) fn bytes(v: Value, spec: &OpSpec) -> Result<Option<Vec<u8>>> {
    match v {
        Value::Nil => Ok(None),
        Value::BulkString(b) => Ok(Some(b)),
        Value::SimpleString(s) => Ok(Some(s.into_bytes())),
        Value::Int(n) => Ok(Some(n.to_string().into_bytes())),
        other => Err(spec.unexpected("a string", &other)),
    }
}

/// An integer reply.
pub(crate) fn int(v: Value, spec: &OpSpec) -> Result<i64> {
    match v {
        Value::Int(n) => Ok(n),
        other => Err(spec.unexpected("an integer", &other)),
    }
}

/// An increment's result: an integer, or text beyond 2^53 (where a Lua number would round).
pub(crate) fn int_text(v: Value, spec: &OpSpec) -> Result<i64> {
    if let Value::Int(n) = v {
        return Ok(n);
    }
    let raw = bytes(v, spec)?.unwrap_or_default();
    <i64 as crate::codec::Codec>::decode(&raw).map_err(|e| spec.decode_error(e))
}

/// A count reply.
pub(crate) fn count(v: Value, spec: &OpSpec) -> Result<u64> {
    let n = int(v, spec)?;
    u64::try_from(n).map_err(|_| spec.unexpected("a count", &Value::Int(n)))
}

/// A 0/1 reply.
pub(crate) fn flag(v: Value, spec: &OpSpec) -> Result<bool> {
    Ok(int(v, spec)? != 0)
}

/// An array reply (nil as empty).
pub(crate) fn array(v: Value, spec: &OpSpec) -> Result<Vec<Value>> {
    match v {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(spec.unexpected("an array", &other)),
    }
}

/// Any reply, ignored.
pub(crate) fn unit(_: Value, _: &OpSpec) -> Result<()> {
    Ok(())
}
