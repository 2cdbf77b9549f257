//! [`Pipeline`]: several field operations, over any instances and models of one client, applied
//! atomically in one round trip.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use redis::Value;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::lock::Lock;
use crate::ops::batch;
use crate::ops::op::{Op, OpSpec};

type AnyResult = Result<Box<dyn Any + Send>>;
type AnyDecoder = Box<dyn FnOnce(Value, &OpSpec) -> AnyResult + Send>;

static NEXT_PIPELINE: AtomicU64 = AtomicU64::new(1);

/// A batch of field operations sent as one script call: one round trip, applied atomically
/// (no other client's command runs in between), all or nothing.
///
/// Before anything is written the whole batch is checked: every argument is encoded on the
/// client (a NaN fails the pipeline before it is sent), and on the server every instance must
/// exist, every key and stored number must have the right type, and every increment must stay in
/// range, each against the state the operations before it leave. If any check fails, nothing is
/// applied. See `docs/operations.md` for what Redis itself does and does not guarantee.
///
/// ```no_run
/// # async fn demo(db: rapyer::Client, a: rapyer::ops::IntField, b: rapyer::ops::IntField) -> rapyer::Result<()> {
/// let mut p = db.pipeline();
/// let from = p.add(a.decr(10));
/// let to = p.add(b.incr(10));
/// let mut results = p.exec().await?;
/// let (from, to) = (results.take(from)?, results.take(to)?);
/// # let _ = (from, to); Ok(()) }
/// ```
#[must_use = "a pipeline does nothing until `exec` is awaited"]
pub struct Pipeline {
    client: Client,
    id: u64,
    ops: Vec<(Result<OpSpec>, AnyDecoder)>,
    /// Locks (key, token) that must still be held when the pipeline runs.
    locks: Vec<(String, String)>,
    foreign_lock: bool,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("ops", &self.ops.len())
            .finish()
    }
}

/// Where the result of one operation of a [`Pipeline`] will be, typed.
#[derive(Debug)]
pub struct Slot<T> {
    pipeline: u64,
    index: usize,
    result: PhantomData<fn() -> T>,
}

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Slot<T> {}

impl Pipeline {
    pub(crate) fn new(client: &Client) -> Self {
        Pipeline {
            client: client.clone(),
            id: NEXT_PIPELINE.fetch_add(1, Ordering::Relaxed),
            ops: Vec::new(),
            locks: Vec::new(),
            foreign_lock: false,
        }
    }

    /// Makes the pipeline apply only while `lock` is still held: the script checks it before
    /// writing anything, and fails with [`Error::LockLost`] otherwise.
    pub fn require_lock(&mut self, lock: &Lock) -> &mut Self {
        self.foreign_lock |= !lock.client().same_connection(&self.client);
        self.locks
            .push((lock.key().to_string(), lock.token().to_string()));
        self
    }

    /// Queues an operation; its result is taken from [`Results`] with the returned slot.
    pub fn add<T: Send + 'static>(&mut self, op: Op<T>) -> Slot<T> {
        let spec = if op.client.same_connection(&self.client) {
            op.spec
        } else {
            Err(Error::Pipeline(
                "an operation was built on another client than the pipeline's",
            ))
        };
        let decode = op.decode;
        self.ops.push((
            spec,
            Box::new(move |v, spec| decode(v, spec).map(|t| Box::new(t) as Box<dyn Any + Send>)),
        ));
        Slot {
            pipeline: self.id,
            index: self.ops.len() - 1,
            result: PhantomData,
        }
    }

    /// Number of queued operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Sends every operation in one script call and applies them atomically. Fails, with nothing
    /// applied, on the first invalid argument, missing instance, wrongly typed stored value or
    /// out-of-range increment. Once applied, each operation's result (or its own error, such as
    /// [`Error::IndexOutOfRange`] or a value that does not decode) is in [`Results`].
    pub async fn exec(self) -> Result<Results> {
        if self.foreign_lock {
            return Err(Error::Pipeline(
                "a required lock was taken on another client than the pipeline's",
            ));
        }
        let mut specs = Vec::with_capacity(self.ops.len());
        let mut decoders = Vec::with_capacity(self.ops.len());
        for (spec, decode) in self.ops {
            specs.push(spec?);
            decoders.push(decode);
        }
        if specs.is_empty() {
            return Ok(Results {
                pipeline: self.id,
                values: Vec::new(),
            });
        }
        let refs: Vec<&OpSpec> = specs.iter().collect();
        let replies = batch::run_locked(&self.client, &refs, &self.locks).await?;
        let values = replies
            .into_iter()
            .zip(decoders)
            .zip(&specs)
            .map(|((reply, decode), spec)| Some(decode(reply, spec)))
            .collect();
        Ok(Results {
            pipeline: self.id,
            values,
        })
    }
}

/// The results of an executed [`Pipeline`].
pub struct Results {
    pipeline: u64,
    values: Vec<Option<AnyResult>>,
}

impl std::fmt::Debug for Results {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Results")
            .field("len", &self.values.len())
            .finish()
    }
}

impl Results {
    /// Takes the result of the operation queued as `slot`.
    pub fn take<T: 'static>(&mut self, slot: Slot<T>) -> Result<T> {
        if slot.pipeline != self.pipeline {
            return Err(Error::Pipeline("the slot belongs to another pipeline"));
        }
        let value = self
            .values
            .get_mut(slot.index)
            .and_then(Option::take)
            .ok_or(Error::Pipeline("this result was already taken"))??;
        value
            .downcast::<T>()
            .map(|b| *b)
            .map_err(|_| Error::Pipeline("the slot's type does not match its operation"))
    }
}
