//! Locks on instances: expiring, fenced, released by compare-and-set.
//!
//! - Acquiring is `SET key token NX PX ttl` with a random 128-bit token, retried with jittered
//!   backoff until a deadline ([`LockOptions::wait`]); the same script gives it a fencing number
//!   ([`Lock::fence`]) larger than every earlier one of the same lock.
//! - A lock on an instance is refused with [`Error::NotFound`] when the instance does not exist,
//!   and writes nothing then. Its keys go with the instance: deleting the instance deletes its
//!   locks and their fencing memory, and an instance's TTL covers that memory too, so no
//!   workload leaves keys behind.
//! - Release and extend are compare-and-set scripts: they act only while the lock still holds
//!   our token, and report [`Error::LockLost`] otherwise. A lost lock is never deleted from its
//!   new owner.
//! - Writes through a lock ([`InstanceGuard::save`], [`Pipeline::require_lock`]) check in the
//!   same script that the lock is still held, so a holder whose lock expired cannot write.
//!   [`Pipeline::release_after`] also releases the locks in that script once the writes apply.
//! - Several locks are taken all or nothing, so two tasks locking the same instances in
//!   opposite orders never deadlock: on one server by one script that takes every lock or none,
//!   with the instances read in the same round trip (the locked path of a transfer is then
//!   two round trips: lock and read, then write and release); on a cluster one after another
//!   in one canonical order (sorted by key).
//!
//! Rust has no async drop. Release a lock with [`Lock::release`] (or
//! [`InstanceGuard::release`]); a lock dropped without it is released by a task spawned on the
//! current tokio runtime, if there is one, and otherwise expires after its TTL. The TTL is the
//! backstop in every case, including a crashed process; keep it short and use the watchdog
//! ([`LockOptions::watchdog`]) for work of unknown length.
//!
//! [`Pipeline::require_lock`]: crate::Pipeline::require_lock
//! [`Pipeline::release_after`]: crate::Pipeline::release_after

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use crate::client::Client;
use crate::conn::{Call, Effect};
use crate::error::{Error, Result};
use crate::keys::Keyspace;
use crate::meta::PkRef;
use crate::meta::TtlRefresh;
use crate::model::Model;
use crate::ops::HandedLock;
use crate::ops::Pipeline;
use crate::repo::{Repo, WriteMode};
use crate::{scripts, stored};
use redis::Value;

/// How to acquire and hold a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockOptions {
    /// How long the lock lives without being extended: the longest another task waits when the
    /// holder dies. Default 10 s.
    pub ttl: Duration,
    /// How long acquiring may keep retrying before [`Error::LockTimeout`]. Default 5 s.
    pub wait: Duration,
    /// Renew the lock every `ttl / 3` until it is released or dropped. Default off.
    pub watchdog: bool,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            ttl: Duration::from_secs(10),
            wait: Duration::from_secs(5),
            watchdog: false,
        }
    }
}

impl LockOptions {
    /// These options with another TTL.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// These options with another acquiring deadline.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// These options with the watchdog on or off.
    pub fn watchdog(mut self, on: bool) -> Self {
        self.watchdog = on;
        self
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn new_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Config(format!("no secure randomness for a lock token: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// What a lock is taken on: its key and, for a lock on an instance, the instance.
#[derive(Debug, Clone)]
pub(crate) struct LockTarget {
    key: String,
    /// The lock's name on its instance; empty for a lock of its own.
    name: String,
    instance: Option<LockedInstance>,
}

/// The instance a lock is on: its fence hash (where the lock's last fencing number is kept),
/// its hash (checked to exist), and what an error names.
#[derive(Debug, Clone)]
struct LockedInstance {
    fences: String,
    hash: String,
    model: &'static str,
    pk: String,
}

impl LockTarget {
    /// A lock of its own at `key`, with no instance.
    fn own(key: &str) -> Self {
        LockTarget {
            key: key.to_string(),
            name: String::new(),
            instance: None,
        }
    }

    /// The script call for `mode`.
    fn call(&self, mode: &str, token: &str, ttl: Duration) -> redis::Cmd {
        let mut keys = vec![self.key.as_str()];
        if let Some(instance) = &self.instance {
            keys.extend([instance.fences.as_str(), instance.hash.as_str()]);
        }
        let mut cmd = scripts::LOCK.call(&keys);
        cmd.arg(mode).arg(token).arg(millis(ttl)).arg(&self.name);
        cmd
    }
}

/// A held lock.
#[derive(Debug)]
pub struct Lock {
    client: Client,
    target: LockTarget,
    key: String,
    token: String,
    fence: u64,
    ttl: Duration,
    /// Set by the watchdog when renewing found the lock lost.
    lost: Arc<AtomicBool>,
    watchdog: Option<tokio::task::JoinHandle<()>>,
    released: bool,
}

impl Lock {
    /// Tries to take the lock once; `None` when someone else holds it.
    async fn try_acquire(
        client: &Client,
        target: &LockTarget,
        opts: &LockOptions,
    ) -> Result<Option<Lock>> {
        let token = new_token()?;
        let cmd = target.call("acquire", &token, opts.ttl);
        let fence: Option<i64> = client
            .query(Call::script(&scripts::LOCK, &cmd, Effect::Writes))
            .await?;
        if let (Some(-1), Some(instance)) = (fence, &target.instance) {
            return Err(Error::NotFound {
                model: instance.model,
                pk: instance.pk.clone(),
                key: instance.hash.clone(),
            });
        }
        Ok(fence.map(|fence| Self::taken(client, target, token, fence, opts)))
    }

    /// The lock just taken on `target` with `token` and `fence` (its watchdog started when
    /// `opts` asks for one).
    fn taken(
        client: &Client,
        target: &LockTarget,
        token: String,
        fence: i64,
        opts: &LockOptions,
    ) -> Lock {
        let mut lock = Lock {
            client: client.clone(),
            target: target.clone(),
            key: target.key.clone(),
            token,
            fence: u64::try_from(fence).unwrap_or_default(),
            ttl: opts.ttl,
            lost: Arc::new(AtomicBool::new(false)),
            watchdog: None,
            released: false,
        };
        if opts.watchdog {
            lock.start_watchdog();
        }
        lock
    }

    /// Takes a lock of its own at `key` (not tied to an instance; after a release the key
    /// remembers the fencing number for another TTL, then disappears), retrying with jittered backoff until `opts.wait` has passed.
    pub async fn acquire(client: &Client, key: &str, opts: LockOptions) -> Result<Lock> {
        let deadline = Instant::now() + opts.wait;
        Self::acquire_by(client, &LockTarget::own(key), &opts, deadline).await
    }

    async fn acquire_by(
        client: &Client,
        target: &LockTarget,
        opts: &LockOptions,
        deadline: Instant,
    ) -> Result<Lock> {
        let start = Instant::now();
        let mut pause = lock_backoff();
        loop {
            if let Some(lock) = Self::try_acquire(client, target, opts).await? {
                return Ok(lock);
            }
            wait_to_retry(&target.key, &mut pause, start, deadline).await?;
        }
    }

    fn start_watchdog(&mut self) {
        let (client, target, token, ttl, lost) = (
            self.client.clone(),
            self.target.clone(),
            self.token.clone(),
            self.ttl,
            Arc::clone(&self.lost),
        );
        self.watchdog = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                match extend(&client, &target, &token, ttl).await {
                    Ok(true) => {}
                    Ok(false) => {
                        lost.store(true, Ordering::Relaxed);
                        return;
                    }
                    // The server may be restarting: keep trying; the TTL decides.
                    Err(_) => {}
                }
            }
        }));
    }

    /// The client the lock was taken on.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The lock's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The token this holder wrote (for checks in scripts of your own).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The fencing number of this acquisition: larger for every later acquisition of the same
    /// lock, also after the instance is deleted and re-created. Pass it along with writes to
    /// other systems, which refuse numbers lower than one they have seen.
    ///
    /// It is `max(server time in microseconds, the last number + 1)`: strictly increasing while
    /// the last number is remembered (with the instance, or for a lock of its own until it
    /// expires), and from the server's clock after that, which holds as long as the clock (after
    /// a failover, the new master's) does not step back past the last number given.
    pub fn fence(&self) -> u64 {
        self.fence
    }

    /// True if the watchdog found the lock lost.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// Whether the lock still holds our token (GET).
    pub async fn is_held(&self) -> Result<bool> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(&self.key);
        let value: Option<String> = self.client.query(Call::read(&cmd)).await?;
        Ok(value.as_deref() == Some(self.token.as_str()))
    }

    /// Resets the lock's TTL to `ttl`; [`Error::LockLost`] if it is no longer ours.
    pub async fn extend(&self, ttl: Duration) -> Result<()> {
        if extend(&self.client, &self.target, &self.token, ttl).await? {
            Ok(())
        } else {
            Err(Error::LockLost {
                key: self.key.clone(),
            })
        }
    }

    /// Notes that the lock is being released elsewhere (a batch's script, or a call for
    /// several locks): nothing is left to do on drop.
    fn mark_released(&mut self) {
        self.released = true;
        if let Some(w) = self.watchdog.take() {
            w.abort();
        }
    }

    /// Releases the lock; [`Error::LockLost`] if it had expired (and may belong to someone else,
    /// whose lock is left alone).
    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        if let Some(w) = self.watchdog.take() {
            w.abort();
        }
        if release(
            &self.client,
            &self.target,
            &self.token,
            self.ttl,
            self.fence,
        )
        .await?
        {
            Ok(())
        } else {
            Err(Error::LockLost {
                key: self.key.clone(),
            })
        }
    }
}

impl Lock {
    /// Releases every lock of `locks`, as [`release`](Self::release) each, with one script
    /// call for all the locks on instances that share a server (on a cluster, a slot), the
    /// calls concurrent. Every lock is released that still can be; then the first lost one is
    /// reported as [`Error::LockLost`] (and the new owner's lock is left alone).
    pub async fn release_all(locks: impl IntoIterator<Item = Lock>) -> Result<()> {
        // Locks of one call: on instances, same client, same slot (on one server, any).
        let mut calls: Vec<Vec<Lock>> = Vec::new();
        let mut alone = Vec::new();
        let slot = |l: &Lock| {
            l.client
                .is_cluster()
                .then(|| crate::slot::slot(l.key.as_bytes()))
        };
        for lock in locks {
            if lock.target.instance.is_none() {
                alone.push(lock);
                continue;
            }
            match calls.iter_mut().find(|call| {
                call[0].client.same_connection(&lock.client) && slot(&call[0]) == slot(&lock)
            }) {
                Some(call) => call.push(lock),
                None => calls.push(vec![lock]),
            }
        }
        let together = futures_util::future::join_all(calls.into_iter().map(release_together));
        let apart = futures_util::future::join_all(alone.into_iter().map(Lock::release));
        let (together, apart) = futures_util::future::join(together, apart).await;
        together.into_iter().chain(apart).collect()
    }
}

/// Releases `locks` (on instances, of one client and slot) with one script call.
async fn release_together(mut locks: Vec<Lock>) -> Result<()> {
    if locks.len() == 1
        && let Some(lock) = locks.pop()
    {
        return lock.release().await;
    }
    let keys: Vec<&str> = locks.iter().map(|l| l.key.as_str()).collect();
    let mut cmd = scripts::LOCK.call(&keys);
    cmd.arg("release_all");
    for lock in &mut locks {
        cmd.arg(&lock.token);
        // Asked for: from here on the TTL is the backstop, not a drop.
        lock.mark_released();
    }
    let client = locks[0].client.clone();
    let released: Vec<i64> = client
        .query(Call::script(&scripts::LOCK, &cmd, Effect::Writes))
        .await?;
    if released.len() != locks.len() {
        let count = i64::try_from(released.len()).unwrap_or(i64::MAX);
        return Err(crate::reply::unexpected(
            &locks[0].key,
            "one answer per lock",
            &Value::Int(count),
        ));
    }
    match locks.iter().zip(released).find(|(_, held)| *held != 1) {
        Some((lock, _)) => Err(Error::LockLost {
            key: lock.key.clone(),
        }),
        None => Ok(()),
    }
}

async fn extend(client: &Client, target: &LockTarget, token: &str, ttl: Duration) -> Result<bool> {
    let cmd = target.call("extend", token, ttl);
    let held: i64 = client
        .query(Call::script(&scripts::LOCK, &cmd, Effect::Writes))
        .await?;
    Ok(held == 1)
}

async fn release(
    client: &Client,
    target: &LockTarget,
    token: &str,
    ttl: Duration,
    fence: u64,
) -> Result<bool> {
    let mut cmd = target.call("release", token, ttl);
    cmd.arg(fence);
    let held: i64 = client
        .query(Call::script(&scripts::LOCK, &cmd, Effect::Writes))
        .await?;
    Ok(held == 1)
}

impl Drop for Lock {
    fn drop(&mut self) {
        if let Some(w) = self.watchdog.take() {
            w.abort();
        }
        if self.released {
            return;
        }
        // No async drop: release from a task when a runtime is around; otherwise the TTL does.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (client, target, token, ttl, fence) = (
                self.client.clone(),
                self.target.clone(),
                self.token.clone(),
                self.ttl,
                self.fence,
            );
            runtime.spawn(async move {
                let _ = release(&client, &target, &token, ttl, fence).await;
            });
        }
    }
}

/// The pauses before trying a taken lock again: 2 ms doubling to 100 ms, each a random part of
/// its step (at least 1 ms), so waiters spread out. Shorter pauses (1 ms to 10 ms) were measured
/// and gave no more hot-pair transfers (`workloads` bench): the holder's round trips bound them.
fn lock_backoff() -> Backoff {
    Backoff::contention(
        Duration::from_millis(2),
        Duration::from_millis(100),
        Duration::from_millis(1),
    )
}

/// Sleeps before trying the taken lock `key` again (never past `deadline`), or gives up with
/// [`Error::LockTimeout`] once it has passed (the wait began at `start`).
async fn wait_to_retry(
    key: &str,
    pause: &mut Backoff,
    start: Instant,
    deadline: Instant,
) -> Result<()> {
    if pause.pause(Some(deadline)).await {
        return Ok(());
    }
    Err(Error::LockTimeout {
        key: key.to_string(),
        waited: start.elapsed(),
    })
}

/// Takes every lock of `targets` in sorted key order (duplicates once), all or nothing.
async fn lock_targets(
    client: &Client,
    mut targets: Vec<LockTarget>,
    opts: LockOptions,
) -> Result<Vec<Lock>> {
    targets.sort_by(|a, b| a.key.cmp(&b.key));
    targets.dedup_by(|a, b| a.key == b.key);
    let deadline = Instant::now() + opts.wait;
    let mut held = Vec::with_capacity(targets.len());
    for target in &targets {
        match Lock::acquire_by(client, target, &opts, deadline).await {
            Ok(lock) => held.push(lock),
            Err(e) => {
                let _ = Lock::release_all(held).await;
                return Err(e);
            }
        }
    }
    Ok(held)
}

/// A lock on one instance with a snapshot of the instance read after acquiring it. Change the
/// value and [`save`](Self::save) it: the write checks, in the same script, that the lock is
/// still held.
#[derive(Debug)]
pub struct InstanceGuard<M> {
    repo: Repo<M>,
    lock: Lock,
    value: M,
}

impl<M: Model> InstanceGuard<M> {
    /// The lock.
    pub fn lock(&self) -> &Lock {
        &self.lock
    }

    /// The instance as read after the lock was taken (with the changes made since).
    pub fn value(&self) -> &M {
        &self.value
    }

    /// The instance, to change before [`save`](Self::save).
    pub fn value_mut(&mut self) -> &mut M {
        &mut self.value
    }

    /// Writes the whole instance (as `Repo::save`, indexes included) if the lock is still held;
    /// [`Error::LockLost`] and nothing written otherwise.
    pub async fn save(&self) -> Result<()> {
        self.repo
            .write_locked(
                &self.value,
                WriteMode::Save,
                Some((&self.lock.key, &self.lock.token)),
            )
            .await
            .map(drop)
    }

    /// Releases the lock (see [`Lock::release`]).
    pub async fn release(self) -> Result<()> {
        self.lock.release().await
    }

    /// The lock, giving up the snapshot (to hand it to [`Pipeline::release_after`]).
    pub fn into_lock(self) -> Lock {
        self.lock
    }
}

impl<M: Model> Repo<M> {
    /// The key of lock `name` on the instance with this pk.
    pub fn lock_key<Q: PkRef + ?Sized>(&self, pk: &Q, name: &str) -> Result<String>
    where
        M::Pk: std::borrow::Borrow<Q>,
    {
        Ok(self.lock_target(pk, name)?.key)
    }

    /// Lock `name` on the instance with this pk, as the lock script takes it.
    fn lock_target<Q: PkRef + ?Sized>(&self, pk: &Q, name: &str) -> Result<LockTarget>
    where
        M::Pk: std::borrow::Borrow<Q>,
    {
        if name.is_empty() || name.contains(['{', '}']) {
            return Err(Error::Config(format!(
                "lock name {name:?} must be non-empty and contain no braces"
            )));
        }
        let hash = self.key_of(pk)?;
        Ok(LockTarget {
            key: Keyspace::lock(&hash, name),
            name: name.to_string(),
            instance: Some(LockedInstance {
                fences: Keyspace::fences(&hash),
                hash,
                model: M::META.name,
                pk: pk.pk_text().into_owned(),
            }),
        })
    }

    /// Locks the instance (lock `name`, default options) and reads it: the guard holds a fresh
    /// snapshot. [`Error::NotFound`] (lock released) when it does not exist.
    pub async fn lock<Q: PkRef + ?Sized>(&self, pk: &Q, name: &str) -> Result<InstanceGuard<M>>
    where
        M::Pk: std::borrow::Borrow<Q>,
    {
        self.lock_with(pk, name, LockOptions::default()).await
    }

    /// [`lock`](Self::lock) with options.
    pub async fn lock_with<Q: PkRef + ?Sized>(
        &self,
        pk: &Q,
        name: &str,
        opts: LockOptions,
    ) -> Result<InstanceGuard<M>>
    where
        M::Pk: std::borrow::Borrow<Q>,
    {
        let mut set = LockSet::new(self.client());
        let ticket = set.add(self, pk, name)?;
        set.acquire(opts).await?.take(ticket)
    }

    /// Locks two instances in canonical order (so opposite transfers never deadlock), all or
    /// nothing, and reads both. The guards come back in argument order.
    pub async fn lock_pair<Q: PkRef + ?Sized>(
        &self,
        a: &Q,
        b: &Q,
        name: &str,
        opts: LockOptions,
    ) -> Result<(InstanceGuard<M>, InstanceGuard<M>)>
    where
        M::Pk: std::borrow::Borrow<Q>,
    {
        let mut set = LockSet::new(self.client());
        let ta = set.add(self, a, name)?;
        let tb = set.add(self, b, name)?;
        let mut held = set.acquire(opts).await?;
        Ok((held.take(ta)?, held.take(tb)?))
    }
}

/// Several instances, of any models of one client, to lock together: in canonical order, all or
/// nothing, each read after locking.
#[derive(Debug)]
pub struct LockSet {
    client: Client,
    entries: Vec<LockEntry>,
}

/// Reads an entry's instance (boxed `M`), after its lock is taken.
type Reader = Box<
    dyn FnOnce() -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Box<dyn Any + Send>>> + Send>,
        > + Send,
>;
/// Makes the typed guard (boxed `InstanceGuard<M>`) from the lock and the value read.
type Wrapper = Box<dyn FnOnce(Lock, Box<dyn Any + Send>) -> Result<Box<dyn Any + Send>> + Send>;

/// An instance read for a [`LockSet`] (boxed `M`).
type Instance = Box<dyn Any + Send>;

/// An entry's instance read in the round trip that takes the locks (see
/// [`LockSet::acquire`]): its plain reads, and how their replies decode (boxed `M`, `None` when
/// the instance is missing).
struct ReadAlong {
    reads: Vec<redis::Cmd>,
    decode: Box<dyn FnOnce(Vec<Value>) -> Result<Option<Instance>> + Send>,
}

struct LockEntry {
    target: LockTarget,
    read: Reader,
    /// `None` for a model whose reads re-arm its TTL, which takes the read script.
    read_along: Option<ReadAlong>,
    wrap: Wrapper,
}

impl std::fmt::Debug for LockEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockEntry")
            .field("key", &self.target.key)
            .finish()
    }
}

/// Where a guard of a [`LockSet`] will be.
#[derive(Debug)]
pub struct Ticket<M> {
    index: usize,
    model: PhantomData<fn() -> M>,
}

impl LockSet {
    /// An empty set on `client`.
    pub fn new(client: &Client) -> Self {
        LockSet {
            client: client.clone(),
            entries: Vec::new(),
        }
    }

    /// Adds lock `name` on an instance; its guard is taken from [`HeldLocks`] with the ticket.
    /// The same lock twice is an error when acquiring.
    pub fn add<M: Model, Q: PkRef + ?Sized>(
        &mut self,
        repo: &Repo<M>,
        pk: &Q,
        name: &str,
    ) -> Result<Ticket<M>>
    where
        M::Pk: std::borrow::Borrow<Q>,
    {
        let target = repo.lock_target(pk, name)?;
        let (reader, pk) = (repo.clone(), pk.pk_text().into_owned());
        let guard_repo = repo.clone();
        let refreshes = M::META.ttl_seconds.is_some() && M::META.ttl_refresh == TtlRefresh::OnRead;
        let read_along = match refreshes {
            true => None,
            false => {
                let keys = repo.instance_keys(pk.as_str())?;
                Some(ReadAlong {
                    reads: stored::instance_reads(&M::META, &[&keys]),
                    decode: Box::new(move |replies| {
                        let reply = stored::as_read_reply(&M::META, 1, replies);
                        let found = stored::decode_read(&M::META, &[&keys], reply)?
                            .pop()
                            .flatten();
                        found
                            .map(|f| Repo::<M>::decode(&keys, f))
                            .transpose()
                            .map(|m| m.map(|m| Box::new(m) as Instance))
                    }),
                })
            }
        };
        self.entries.push(LockEntry {
            target,
            read_along,
            read: Box::new(move || {
                Box::pin(async move {
                    match reader.get_by_text(&pk).await? {
                        Some(value) => Ok(Box::new(value) as Box<dyn Any + Send>),
                        None => Err(Error::NotFound {
                            model: M::META.name,
                            key: reader.client().keys().instance(&M::META, &pk),
                            pk,
                        }),
                    }
                })
            }),
            wrap: Box::new(move |lock, value| {
                let value = *value
                    .downcast::<M>()
                    .map_err(|_| Error::Pipeline("a LockSet entry read another model"))?;
                Ok(Box::new(InstanceGuard {
                    repo: guard_repo,
                    lock,
                    value,
                }))
            }),
        });
        Ok(Ticket {
            index: self.entries.len() - 1,
            model: PhantomData,
        })
    }

    /// Acquires every lock, all or nothing, under one deadline, then reads every instance. On
    /// one server (or a Sentinel's master) the locks are taken by one script and the instances
    /// read right behind it, in one round trip; on a cluster, where the instances may live on
    /// different nodes, one lock after another in canonical order (sorted keys), then the
    /// reads. On any failure every lock taken is released.
    pub async fn acquire(self, opts: LockOptions) -> Result<HeldLocks> {
        let mut sorted: Vec<String> = self.entries.iter().map(|e| e.target.key.clone()).collect();
        sorted.sort();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::Config(
                "the same lock was added twice to a LockSet".into(),
            ));
        }
        if self.entries.is_empty() {
            return Ok(HeldLocks::default());
        }
        if !self.client.is_cluster() && self.entries.iter().all(|e| e.read_along.is_some()) {
            return self.acquire_at_once(opts).await;
        }
        let targets: Vec<LockTarget> = self.entries.iter().map(|e| e.target.clone()).collect();
        let locks = lock_targets(&self.client, targets, opts).await?;
        // `lock_targets` returns locks in sorted order; read every instance (concurrently: one
        // round trip) before building guards, so that a failure can release every lock.
        let mut by_key: Vec<Option<Lock>> = locks.into_iter().map(Some).collect();
        let mut reads = Vec::with_capacity(self.entries.len());
        let mut wrappers = Vec::with_capacity(self.entries.len());
        for entry in self.entries {
            reads.push((entry.read)());
            wrappers.push((entry.target.key, entry.wrap));
        }
        let read = match futures_util::future::try_join_all(reads).await {
            Ok(read) => read,
            Err(e) => {
                let _ = Lock::release_all(by_key.into_iter().flatten()).await;
                return Err(e);
            }
        };
        let mut guards = Vec::with_capacity(wrappers.len());
        for ((key, wrap), value) in wrappers.into_iter().zip(read) {
            let lock = sorted
                .binary_search(&key)
                .ok()
                .and_then(|pos| by_key[pos].take())
                .ok_or(Error::Pipeline("a LockSet lock went missing"))?;
            guards.push(Some(wrap(lock, value)?));
        }
        Ok(HeldLocks { guards })
    }

    /// [`acquire`](Self::acquire) on one server: each attempt is one round trip, the script
    /// taking every lock or none, then MULTI, the plain reads of every instance and EXEC. The
    /// reads run after the script (same connection, in order), so they see the instances
    /// under the locks; an attempt that took no lock discards them. Should the reads fail (a
    /// server out of memory refuses commands queued in MULTI), the instances are read again as
    /// `get` reads them.
    async fn acquire_at_once(self, opts: LockOptions) -> Result<HeldLocks> {
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        order.sort_by(|&a, &b| self.entries[a].target.key.cmp(&self.entries[b].target.key));
        let mut then = vec![redis::cmd("MULTI")];
        for entry in &self.entries {
            if let Some(along) = &entry.read_along {
                then.extend(along.reads.iter().cloned());
            }
        }
        then.push(redis::cmd("EXEC"));
        let mut keys: Vec<&str> = Vec::with_capacity(3 * order.len());
        for &i in &order {
            let target = &self.entries[i].target;
            if let Some(instance) = &target.instance {
                keys.extend([target.key.as_str(), &instance.fences, &instance.hash]);
            }
        }
        let start = Instant::now();
        let deadline = start + opts.wait;
        let mut pause = lock_backoff();
        // One command for every attempt: an attempt that took no lock wrote nothing.
        let tokens: Vec<String> = order.iter().map(|_| new_token()).collect::<Result<_>>()?;
        let mut cmd = scripts::LOCK.call(&keys);
        cmd.arg("acquire_all").arg(millis(opts.ttl));
        for (&i, token) in order.iter().zip(&tokens) {
            cmd.arg(token).arg(&self.entries[i].target.name);
        }
        let (fences, replies) = loop {
            let call = Call::script(&scripts::LOCK, &cmd, Effect::Writes);
            let (reply, replies) = self.client.execute_then(call, &then).await?;
            // Which lock of `order` stopped the attempt: held (positive) or missing (negative).
            let stopped = match reply {
                Value::Array(fences) => break (fences, replies),
                Value::Int(at) => at,
                other => return Err(crate::reply::unexpected(keys[0], "fencing numbers", &other)),
            };
            let target = usize::try_from(stopped.unsigned_abs())
                .ok()
                .and_then(|at| order.get(at.checked_sub(1)?))
                .map(|&i| &self.entries[i].target)
                .ok_or_else(|| {
                    crate::reply::unexpected(keys[0], "a lock's position", &Value::Int(stopped))
                })?;
            if let (true, Some(instance)) = (stopped < 0, &target.instance) {
                return Err(Error::NotFound {
                    model: instance.model,
                    pk: instance.pk.clone(),
                    key: instance.hash.clone(),
                });
            }
            wait_to_retry(&target.key, &mut pause, start, deadline).await?;
        };
        let fences: Vec<i64> = fences
            .into_iter()
            .map(|f| redis::from_redis_value(f).map_err(|e| Error::Redis(e.into())))
            .collect::<Result<_>>()?;
        if fences.len() != order.len() {
            // Taken, but not as asked: the locks expire after their TTL.
            let count = i64::try_from(fences.len()).unwrap_or(i64::MAX);
            return Err(crate::reply::unexpected(
                keys[0],
                "one fencing number per lock",
                &Value::Int(count),
            ));
        }
        let mut locks: Vec<Option<Lock>> = std::iter::repeat_with(|| None)
            .take(self.entries.len())
            .collect();
        for ((&i, token), fence) in order.iter().zip(tokens).zip(fences) {
            let target = &self.entries[i].target;
            locks[i] = Some(Lock::taken(&self.client, target, token, fence, &opts));
        }
        let count = self.entries.len();
        let (mut alongs, mut readers, mut rest) = (
            Vec::with_capacity(count),
            Vec::with_capacity(count),
            Vec::with_capacity(count),
        );
        for entry in self.entries {
            alongs.push(entry.read_along);
            readers.push(entry.read);
            rest.push((entry.target, entry.wrap));
        }
        let values = match decode_along(alongs, replies) {
            Some(values) => values,
            // The reads were refused: read again, as `get` does.
            None => futures_util::future::try_join_all(readers.into_iter().map(|read| read()))
                .await
                .map(|values| values.into_iter().map(Some).collect()),
        };
        // Every instance read, or every lock released.
        let missing = values.as_ref().ok().and_then(|values| {
            let at = values.iter().position(Option::is_none)?;
            rest[at].0.instance.clone()
        });
        let values = match (values, missing) {
            (Ok(values), None) => values,
            (failed, missing) => {
                let _ = Lock::release_all(locks.into_iter().flatten()).await;
                return Err(match (failed, missing) {
                    (Err(e), _) => e,
                    // Deleted by someone between the script and the reads.
                    (Ok(_), Some(instance)) => Error::NotFound {
                        model: instance.model,
                        pk: instance.pk,
                        key: instance.hash,
                    },
                    (Ok(_), None) => Error::Pipeline("a LockSet read went missing"),
                });
            }
        };
        let mut guards = Vec::with_capacity(rest.len());
        for (((_, wrap), lock), value) in rest.into_iter().zip(locks).zip(values) {
            match (lock, value) {
                (Some(lock), Some(value)) => guards.push(Some(wrap(lock, value)?)),
                _ => return Err(Error::Pipeline("a LockSet lock went missing")),
            }
        }
        Ok(HeldLocks { guards })
    }
}

/// The instances read along with the locks (see [`LockSet::acquire`]), by entry, from the
/// replies to MULTI, the reads and EXEC; `None` when the server refused the reads.
fn decode_along(
    alongs: Vec<Option<ReadAlong>>,
    replies: Vec<Value>,
) -> Option<Result<Vec<Option<Instance>>>> {
    let Some(Value::Array(read)) = replies.into_iter().last() else {
        return None;
    };
    let mut read = read.into_iter();
    let mut values = Vec::with_capacity(alongs.len());
    for along in alongs {
        let along = along?;
        let replies: Vec<Value> = read.by_ref().take(along.reads.len()).collect();
        if replies.len() != along.reads.len() {
            return None;
        }
        values.push((along.decode)(replies));
    }
    Some(values.into_iter().collect())
}

/// The guards of an acquired [`LockSet`].
#[derive(Debug, Default)]
pub struct HeldLocks {
    guards: Vec<Option<Box<dyn Any + Send>>>,
}

impl HeldLocks {
    /// Takes the guard of `ticket`.
    pub fn take<M: Model>(&mut self, ticket: Ticket<M>) -> Result<InstanceGuard<M>> {
        let guard = self
            .guards
            .get_mut(ticket.index)
            .and_then(Option::take)
            .ok_or(Error::Pipeline("this lock guard was already taken"))?;
        guard
            .downcast::<InstanceGuard<M>>()
            .map(|g| *g)
            .map_err(|_| Error::Pipeline("the ticket belongs to another lock set"))
    }
}

impl Pipeline {
    /// Makes the pipeline apply only while `lock` is still held: the script checks it before
    /// writing anything, and fails with [`Error::LockLost`] otherwise.
    pub fn require_lock(&mut self, lock: &Lock) -> &mut Self {
        self.require_held(lock.key(), lock.token(), lock.client())
    }

    /// Requires `lock` as [`require_lock`](Self::require_lock) does, and gives it up once the
    /// pipeline has run, whatever its outcome. When the operations apply, an instance's lock is
    /// released by the same script, so that a locked write and its release are one round trip;
    /// otherwise (the pipeline failed, a lock of its own, or [`exec_split`](Self::exec_split))
    /// it is released by a call of its own right after. A lock found already lost at that
    /// point changes nothing: the pipeline's outcome is what `exec` returns.
    pub fn release_after(&mut self, lock: Lock) -> &mut Self {
        self.require_and_release(Box::new(lock))
    }
}

impl HandedLock for Lock {
    fn required(&self) -> (&str, &str, &Client) {
        (&self.key, &self.token, &self.client)
    }

    /// An instance's lock is deleted on release; a lock of its own leaves a marker (see
    /// `lua/lock.lua`), so it is released by the lock script.
    fn released_by_batch(&self) -> bool {
        self.target.instance.is_some()
    }

    fn mark_released(mut self: Box<Self>) {
        Lock::mark_released(&mut self);
    }

    fn release_alone(self: Box<Self>) -> futures_util::future::BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = self.release().await;
        })
    }
}
