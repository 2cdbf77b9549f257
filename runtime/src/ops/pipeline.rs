//! [`Pipeline`]: several field operations, over any instances and models of one client, applied
//! atomically in one round trip.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use redis::Value;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::ops::batch::{self, RequiredLock};
use crate::ops::op::{Op, OpSpec};

type AnyResult = Result<Box<dyn Any + Send>>;
type AnyDecoder = Box<dyn FnOnce(Value, &OpSpec) -> AnyResult + Send>;

static NEXT_PIPELINE: AtomicU64 = AtomicU64::new(1);

/// A lock a pipeline gives up once it has run (see `Pipeline::release_after`, next to locks,
/// which implement it).
pub(crate) trait HandedLock: Send {
    /// The lock's key, its holder's token and the client it was taken on.
    fn required(&self) -> (&str, &str, &Client);
    /// Whether the pipeline's own script can release it (by deleting its key).
    fn released_by_batch(&self) -> bool;
    /// Notes that the pipeline's script released it.
    fn mark_released(self: Box<Self>);
    /// Releases it with a call of its own; the outcome is not reported.
    fn release_alone(self: Box<Self>) -> futures_util::future::BoxFuture<'static, ()>;
}

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
/// # async fn demo(db: rapyer::Client, a: rapyer::IntField, b: rapyer::IntField) -> rapyer::Result<()> {
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
    /// The ids whose slots this pipeline's results accept, each with the position of its first
    /// op: its own (at 0) and those of the pipelines and batches appended to it.
    parts: Vec<(u64, usize)>,
    /// Locks that must still be held when the pipeline runs.
    locks: Vec<RequiredLock>,
    /// Locks to give up once the pipeline has run (see `Pipeline::release_after`).
    releasing: Vec<Box<dyn HandedLock>>,
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
        let id = NEXT_PIPELINE.fetch_add(1, Ordering::Relaxed);
        Pipeline {
            client: client.clone(),
            id,
            ops: Vec::new(),
            parts: vec![(id, 0)],
            locks: Vec::new(),
            releasing: Vec::new(),
            foreign_lock: false,
        }
    }

    /// Everything queued so far, leaving an empty pipeline on the same client behind (under a
    /// new id, so that the slots handed out before go with what is taken).
    pub(crate) fn take(&mut self) -> Pipeline {
        let fresh = Pipeline::new(&self.client);
        std::mem::replace(self, fresh)
    }

    /// Makes the pipeline apply only while the lock `key` holds `token` (see
    /// `Pipeline::require_lock`, next to locks); `client` is the lock's.
    pub(crate) fn require_held(&mut self, key: &str, token: &str, client: &Client) -> &mut Self {
        self.require(key, token, client, false)
    }

    /// Requires `lock`, and gives it up once the pipeline has run (see
    /// `Pipeline::release_after`, next to locks): by the pipeline's own script when the
    /// operations apply and the lock allows it, otherwise by a call of its own.
    pub(crate) fn require_and_release(&mut self, lock: Box<dyn HandedLock>) -> &mut Self {
        let (key, token, client) = lock.required();
        self.require(key, token, client, lock.released_by_batch());
        self.releasing.push(lock);
        self
    }

    fn require(&mut self, key: &str, token: &str, client: &Client, release: bool) -> &mut Self {
        self.foreign_lock |= !client.same_connection(&self.client);
        self.locks.push(RequiredLock {
            key: key.to_string(),
            token: token.to_string(),
            release,
        });
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

    /// Queues every operation of `other` (another pipeline, or a per-instance
    /// [`Batch`](crate::Batch)) after those queued so far, with its required locks: they then
    /// run in this pipeline's step, all or nothing together. The slots `other` handed out take
    /// their results from this pipeline's [`Results`].
    pub fn append(&mut self, other: impl Into<Pipeline>) -> &mut Self {
        let other = other.into();
        let offset = self.ops.len();
        let same_client = other.client.same_connection(&self.client);
        self.parts
            .extend(other.parts.iter().map(|&(id, start)| (id, offset + start)));
        for (spec, decode) in other.ops {
            let spec = if same_client {
                spec
            } else {
                Err(Error::Pipeline(
                    "an operation was built on another client than the pipeline's",
                ))
            };
            self.ops.push((spec, decode));
        }
        self.foreign_lock |= other.foreign_lock;
        self.locks.extend(other.locks);
        self.releasing.extend(other.releasing);
        self
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
    pub async fn exec(mut self) -> Result<Results> {
        let releasing = std::mem::take(&mut self.releasing);
        let outcome = self.exec_held().await;
        // Released by the script only if it ran to the end; otherwise each by a call of its
        // own (safe even if the script did release it: a release checks the token).
        let released_by_script = outcome.is_ok();
        give_up(releasing, released_by_script).await;
        outcome
    }

    async fn exec_held(self) -> Result<Results> {
        let Checked {
            parts,
            client,
            locks,
            specs,
            decoders,
        } = self.checked()?;
        if specs.is_empty() && locks.iter().all(|lock| !lock.release) {
            return Ok(Results {
                parts,
                values: Vec::new(),
            });
        }
        let refs: Vec<&OpSpec> = specs.iter().collect();
        let replies = batch::run_locked(&client, &refs, &locks).await?;
        let values = replies
            .into_iter()
            .zip(decoders)
            .zip(&specs)
            .map(|((reply, decode), spec)| Some(decode(reply, spec)))
            .collect();
        Ok(Results { parts, values })
    }

    /// The queued operations, once every one of them and every required lock is usable.
    fn checked(self) -> Result<Checked> {
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
        Ok(Checked {
            parts: self.parts,
            client: self.client,
            locks: self.locks,
            specs,
            decoders,
        })
    }
}

/// Gives up the locks of `Pipeline::release_after` once the pipeline has run: those the
/// script released (when `released_by_script`) are only marked so, the others are released
/// now, together. A lock found lost here changes nothing: the pipeline's outcome stands.
async fn give_up(locks: Vec<Box<dyn HandedLock>>, released_by_script: bool) {
    let releases = locks.into_iter().filter_map(|lock| {
        if released_by_script && lock.released_by_batch() {
            lock.mark_released();
            None
        } else {
            Some(lock.release_alone())
        }
    });
    let _ = futures_util::future::join_all(releases).await;
}

/// A pipeline ready to send: its operations' specs and decoders, in order.
struct Checked {
    parts: Vec<(u64, usize)>,
    client: Client,
    locks: Vec<RequiredLock>,
    specs: Vec<OpSpec>,
    decoders: Vec<AnyDecoder>,
}

impl Pipeline {
    /// Runs the pipeline as one atomic step per hash slot (on one server: one step, as
    /// [`exec`](Self::exec)), the steps concurrently. Each step is all or nothing; steps are
    /// independent: there is no rollback across them, and the outcome of each is reported in
    /// [`SplitResults::groups`]. A required lock is checked by the step of its slot (a lock
    /// whose slot has no operation gets a step of its own that only checks it).
    pub async fn exec_split(mut self) -> Result<SplitResults> {
        // Each lock to give up is released by a call of its own once every step has run.
        let releasing = std::mem::take(&mut self.releasing);
        for lock in &mut self.locks {
            lock.release = false;
        }
        let outcome = self.exec_split_held().await;
        give_up(releasing, false).await;
        outcome
    }

    async fn exec_split_held(self) -> Result<SplitResults> {
        let Checked {
            parts,
            client,
            locks,
            specs,
            decoders,
        } = self.checked()?;
        let cluster = client.is_cluster();
        let slot_of = |key: &str| cluster.then(|| crate::slot::slot(key.as_bytes()));
        type Step = (Option<u16>, Vec<usize>, Vec<RequiredLock>);
        fn group_of(groups: &mut Vec<Step>, slot: Option<u16>) -> &mut Step {
            let at = match groups.iter().position(|g| g.0 == slot) {
                Some(at) => at,
                None => {
                    groups.push((slot, Vec::new(), Vec::new()));
                    groups.len() - 1
                }
            };
            &mut groups[at]
        }
        let mut groups: Vec<Step> = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            group_of(&mut groups, slot_of(&spec.located.hash)).1.push(i);
        }
        for lock in locks {
            let slot = slot_of(&lock.key);
            group_of(&mut groups, slot).2.push(lock);
        }
        let client = &client;
        let runs = groups.iter().map(|(_, ops, locks)| {
            let refs: Vec<&OpSpec> = ops.iter().map(|&i| &specs[i]).collect();
            async move { batch::run_locked(client, &refs, locks).await }
        });
        let outcomes = futures_util::future::join_all(runs).await;
        let mut values: Vec<Option<AnyResult>> = (0..specs.len()).map(|_| None).collect();
        let mut decoders: Vec<Option<AnyDecoder>> = decoders.into_iter().map(Some).collect();
        let mut reports = Vec::with_capacity(groups.len());
        for ((slot, ops, _), outcome) in groups.into_iter().zip(outcomes) {
            let outcome = match outcome {
                Ok(replies) => {
                    for (&i, reply) in ops.iter().zip(replies) {
                        if let Some(decode) = decoders[i].take() {
                            values[i] = Some(decode(reply, &specs[i]));
                        }
                    }
                    GroupOutcome::Applied
                }
                Err(e @ Error::OutcomeUnknown { .. }) => GroupOutcome::Unknown(e),
                Err(e) => GroupOutcome::Failed(e),
            };
            reports.push(Group { slot, ops, outcome });
        }
        Ok(SplitResults {
            results: Results { parts, values },
            groups: reports,
        })
    }
}

/// What happened to one step of [`Pipeline::exec_split`].
#[derive(Debug)]
pub enum GroupOutcome {
    /// Every operation of the group was applied.
    Applied,
    /// Nothing of the group was applied, for this reason.
    Failed(Error),
    /// The group was sent but no reply came: it may or may not have been applied.
    Unknown(Error),
}

/// One step of [`Pipeline::exec_split`]: the operations of one hash slot.
#[derive(Debug)]
pub struct Group {
    /// The slot (`None` on one server, where the whole pipeline is one step).
    pub slot: Option<u16>,
    /// The positions of its operations in the pipeline, from 0.
    pub ops: Vec<usize>,
    /// What happened to it.
    pub outcome: GroupOutcome,
}

/// The results of [`Pipeline::exec_split`].
#[derive(Debug)]
pub struct SplitResults {
    results: Results,
    groups: Vec<Group>,
}

impl SplitResults {
    /// Every step, with its outcome.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// True when every step was applied.
    pub fn all_applied(&self) -> bool {
        self.groups
            .iter()
            .all(|g| matches!(g.outcome, GroupOutcome::Applied))
    }

    /// Takes the result of the operation queued as `slot`; an operation whose step was not
    /// applied has none ([`Error::Pipeline`]; its step's error is in [`groups`](Self::groups)).
    pub fn take<T: 'static>(&mut self, slot: Slot<T>) -> Result<T> {
        let index = self.results.position(slot)?;
        let applied = self
            .groups
            .iter()
            .any(|g| g.ops.contains(&index) && matches!(g.outcome, GroupOutcome::Applied));
        if !applied {
            return Err(Error::Pipeline(
                "this operation's slot group was not applied (see SplitResults::groups)",
            ));
        }
        self.results.take(slot)
    }
}

/// The results of an executed [`Pipeline`].
pub struct Results {
    /// The pipeline ids whose slots are accepted, each with the position of its first op.
    parts: Vec<(u64, usize)>,
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
        let index = self.position(slot)?;
        let value = self
            .values
            .get_mut(index)
            .and_then(Option::take)
            .ok_or(Error::Pipeline("this result was already taken"))??;
        value
            .downcast::<T>()
            .map(|b| *b)
            .map_err(|_| Error::Pipeline("the slot's type does not match its operation"))
    }

    /// Where the result of `slot` is.
    fn position<T>(&self, slot: Slot<T>) -> Result<usize> {
        self.parts
            .iter()
            .find(|(id, _)| *id == slot.pipeline)
            .map(|(_, start)| start + slot.index)
            .ok_or(Error::Pipeline("the slot belongs to another pipeline"))
    }
}

impl Client {
    /// A new, empty pipeline on this client (see [`Pipeline`]).
    pub fn pipeline(&self) -> Pipeline {
        Pipeline::new(self)
    }
}
