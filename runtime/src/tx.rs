//! Optimistic transactions: read, decide in a closure, write only what changed, retry on conflict.
//!
//! `update` WATCHes every key of the instance on a connection no other task uses, reads the
//! instance, runs the closure on a copy, and sends the difference inside MULTI/EXEC as one call
//! of the field operations script (so indexes and unique checks move with the data), or as
//! plain commands when the WATCH already guarantees all the script would check
//! (`plain_commit`). If
//! another client wrote any watched key in between, EXEC applies nothing and the whole round
//! starts again after a jittered pause, up to [`TxOptions::max_attempts`] times; then
//! [`Error::Conflict`]. The closure may run several times: keep it free of side effects.
//!
//! Transactions of one client on the same instance take turns (see `turns`), so that they do
//! not spend rounds losing to each other, and share rounds: when a transaction has run its
//! closure and the next one of the same instance is waiting, it hands over the round (the
//! connection under WATCH, the values read and the values after its closure). The next one's
//! closure runs on those values, and the last one (at most `ROUND_MAX` closures) commits the
//! changes of all in one script call; each transaction then returns its own closure's result.
//! This is the same as running them one after another, each on what the previous one wrote, and
//! all of them or none are written. If the round conflicts, every member runs again. If its
//! commit is refused for a reason that may be any member's (a unique value taken, an
//! overflow...), each member runs again on its own to meet its own outcome.

use std::borrow::{Borrow, Cow};
use std::time::{Duration, Instant};

use redis::Value;
use redis::aio::ConnectionLike;
use tokio::sync::oneshot;

use crate::backoff::Backoff;
use crate::client::Dedicated;
use crate::conn::{self, Failure};
use crate::error::{Error, Result};
use crate::meta::PkRef;
use crate::model::Model;
use crate::ops::batch::{self, Batch, UniqueChange};
use crate::ops::instance::{Instance, Target};
use crate::ops::op::{self, OpSpec};
use crate::plain_commit::{self, PlainCommit};
use crate::protocol::OpCode;
use crate::record::{ContainerData, RecordWriter};
use crate::repo::{InstanceKeys, Repo, record_value};
use crate::scripts;
use crate::stored;
use crate::turns::{SharedRound, Turn};

/// How optimistic transactions retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxOptions {
    /// Rounds before giving up with [`Error::Conflict`]. Default 64: enough for dozens of
    /// writers piling onto one instance.
    pub max_attempts: u32,
    /// The first pause after a conflict; it doubles up to `max_backoff`, each pause a random
    /// fraction of the current step. Default 1 ms.
    pub backoff: Duration,
    /// The longest step. Default 50 ms.
    pub max_backoff: Duration,
}

impl Default for TxOptions {
    fn default() -> Self {
        TxOptions {
            max_attempts: 64,
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(50),
        }
    }
}

impl<M: Model + Clone + PartialEq> Repo<M> {
    /// Runs `f` on the instance and writes what it changed, atomically and only if nobody wrote
    /// the instance meanwhile (else retries). `f` returning `Err` aborts with nothing written
    /// ([`Error::Aborted`]). [`Error::NotFound`] if the instance does not exist.
    ///
    /// Updates of one instance issued concurrently on this client take turns, and several may
    /// share one round: each closure runs on what the previous one left, and one call writes
    /// all their changes, or none ([`ClientBuilder::take_turns`](crate::ClientBuilder::take_turns),
    /// `docs/transactions.md`).
    ///
    /// ```no_run
    /// # async fn demo<M: rapyer::Model + Clone + PartialEq>(repo: rapyer::Repo<M>, pk: &M::Pk) -> rapyer::Result<()> {
    /// let changed = repo
    ///     .update(pk, |value| -> Result<bool, std::convert::Infallible> {
    ///         // read and change `value` here
    ///         Ok(true)
    ///     })
    ///     .await?;
    /// # let _ = changed; Ok(()) }
    /// ```
    pub async fn update<Q, T, E, F>(&self, pk: &Q, f: F) -> Result<T>
    where
        Q: PkRef + ?Sized,
        M::Pk: Borrow<Q>,
        F: FnMut(&mut M) -> std::result::Result<T, E>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.update_with(pk, TxOptions::default(), f).await
    }

    /// [`update`](Self::update) with retry options.
    pub async fn update_with<Q, T, E, F>(&self, pk: &Q, opts: TxOptions, mut f: F) -> Result<T>
    where
        Q: PkRef + ?Sized,
        M::Pk: Borrow<Q>,
        F: FnMut(&mut M) -> std::result::Result<T, E>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let pk = pk.pk_text().into_owned();
        self.transact(vec![pk], opts, |values| f(&mut values[0]))
            .await
    }

    /// An optimistic transaction over several instances: `f` gets them in the order of `pks`,
    /// and every change is written atomically, or nothing.
    pub async fn update_many<Q, T, E, F>(&self, pks: &[&Q], f: F) -> Result<T>
    where
        Q: PkRef + ?Sized,
        M::Pk: Borrow<Q>,
        F: FnMut(&mut [M]) -> std::result::Result<T, E>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let pks = pks.iter().map(|pk| pk.pk_text().into_owned()).collect();
        self.transact(pks, TxOptions::default(), f).await
    }

    async fn transact<T, E>(
        &self,
        pks: Vec<String>,
        opts: TxOptions,
        mut f: impl FnMut(&mut [M]) -> std::result::Result<T, E>,
    ) -> Result<T>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let mut sorted = pks.clone();
        sorted.sort();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::Config(
                "the same instance was given twice to a transaction".into(),
            ));
        }
        let keys: Vec<InstanceKeys> = pks
            .iter()
            .map(|pk| self.instance_keys(pk.as_str()))
            .collect::<Result<_>>()?;
        let client = self.client();
        if client.is_cluster() {
            crate::slot::check_one_slot(keys.iter().map(|k| k.hash.as_str()))?;
        }
        let instances: Vec<Instance> = pks
            .iter()
            .map(|pk| Instance::new(client, M::META, Cow::Borrowed(pk.as_str())))
            .collect();
        // This client's transactions on one instance take turns and share rounds (see
        // `turns`): unless unique values live apart (reserved per change, see `claims`), or a
        // shared round failed in a way that may be another member's (`alone`).
        let shares = pks.len() == 1 && !crate::claims::apart(client, &M::META);
        let mut alone = false;
        let hashes: Vec<&str> = keys.iter().map(|k| k.hash.as_str()).collect();
        let mut turn: Option<Turn<'_>> = None;
        // Conflicts back off from `pause`; outages (a redirect, a failover) from `outage`, within
        // the client's retry budget.
        let mut pause = Backoff::contention(opts.backoff, opts.max_backoff, MIN_CONFLICT_PAUSE);
        let mut outage = Backoff::outage();
        let deadline = Instant::now() + client.retry_for();
        let mut conflicts = 0;
        // Set once the script was missing at a commit: later rounds send its body (see `commit`).
        let mut send_body = false;
        let mut held: Option<Dedicated> = None;
        loop {
            if conflicts >= opts.max_attempts {
                if let Some(conn) = held {
                    conn.finish(client);
                }
                return Err(Error::Conflict {
                    model: M::META.name,
                    pk: pks.first().cloned().unwrap_or_default(),
                    attempts: opts.max_attempts,
                });
            }
            // The turn is taken once and kept across this transaction's own rounds; it may
            // come with a round in progress to join.
            let mut joined: Option<Round<M>> = None;
            if let (None, Some(turns)) = (&turn, client.turns()) {
                if let [hash] = hashes.as_slice() {
                    let (taken, round) = turns.take_one(hash, shares && !alone).await;
                    turn = Some(taken);
                    joined = round
                        .and_then(|r| r.downcast::<Round<M>>().ok())
                        .map(|r| *r);
                } else {
                    turn = Some(turns.take(&hashes).await);
                }
            }
            let (conn, before, current, members) = match joined {
                Some(round) => (round.conn, round.before, round.values, round.members),
                None => match self
                    .read_round(&mut held, &keys, &mut outage, deadline)
                    .await?
                {
                    Some((conn, before)) => {
                        let current = before.clone();
                        (conn, before, current, Members::default())
                    }
                    // An outage was waited out: nothing was sent.
                    None => continue,
                },
            };
            let mut values = current.clone();
            let outcome = f(&mut values).map_err(|e| Error::Aborted(e.into()));
            // A closure that aborts changes nothing; the round still writes what the members
            // before it changed.
            let values = if outcome.is_ok() { values } else { current };
            let mut parts = (conn, before, values, members);
            // The next waiter joins: hand the round on and wait for its outcome.
            if shares
                && !alone
                && parts.3.waiting.len() + 1 < ROUND_MAX
                && let Some(taken) = turn.take_if(|t| t.next_joins())
            {
                let (conn, before, values, mut members) = parts;
                let (told, heard) = oneshot::channel();
                members.waiting.push(told);
                let round: SharedRound = Box::new(Round {
                    conn,
                    before,
                    values,
                    members,
                });
                match taken.pass(round) {
                    Ok(()) => match heard.await {
                        Ok(RoundOutcome::Applied) => return outcome,
                        Ok(RoundOutcome::Again) => {
                            conflicts += 1;
                            continue;
                        }
                        Ok(RoundOutcome::Alone) => {
                            alone = true;
                            continue;
                        }
                        Ok(RoundOutcome::Failed(e)) => return Err(e),
                        Err(_) => return Err(untold()),
                    },
                    // The waiter left meanwhile: this task ends the round itself.
                    Err((taken, round)) => {
                        turn = Some(taken);
                        let Ok(round) = round.downcast::<Round<M>>() else {
                            // Not this model's round (cannot happen: the key names the
                            // model); its members are told to run again.
                            continue;
                        };
                        let Round {
                            conn,
                            before,
                            values,
                            mut members,
                        } = *round;
                        members.waiting.pop();
                        parts = (conn, before, values, members);
                    }
                }
            }
            let (conn, before, values, members) = parts;
            let mut specs = Vec::new();
            let diff = before
                .iter()
                .zip(&values)
                .zip(&instances)
                .filter(|((old, new), _)| old != new)
                .try_for_each(|((old, new), instance)| changes(instance, old, new, &mut specs));
            if let Err(e) = diff {
                if members.is_empty() {
                    unwatch(client, conn).await?;
                    return Err(e);
                }
                // Some member's change cannot be written: each runs again alone.
                members.tell(|| RoundOutcome::Alone);
                alone = true;
                unwatch(client, conn).await?;
                continue;
            }
            // A round that writes nothing (an abort, or no change) ends with an empty
            // MULTI/EXEC, which proves that what the closures saw was one instant (see
            // `watch_and_read`); if it was not, the round runs again.
            if specs.is_empty() {
                match end_read_only(client, conn).await {
                    Ok(None) => {
                        members.tell(|| RoundOutcome::Applied);
                        return outcome;
                    }
                    Ok(Some(stale)) => {
                        members.tell(|| RoundOutcome::Again);
                        conflicts += 1;
                        held = Some(stale);
                        pause.pause(None).await;
                        continue;
                    }
                    // Nothing was written either way.
                    Err(e) => {
                        members.tell(|| RoundOutcome::Again);
                        return Err(e);
                    }
                }
            }
            // Unique values kept apart are reserved first (see `claims`); WATCH guards the
            // values read, so the old ones are those of `before`.
            let mut changes = Vec::new();
            for spec in specs.iter().filter(|s| batch::claimed_apart(client, s)) {
                let at = instances
                    .iter()
                    .position(|i| i.key().ok() == Some(spec.located.hash.as_str()))
                    .unwrap_or(0);
                changes.push(UniqueChange {
                    spec,
                    old: record_value(&before[at], &spec.field)?,
                    new: match spec.code {
                        OpCode::Hset => spec.args.get(1).cloned(),
                        _ => None,
                    },
                });
            }
            let claims = match batch::reserve(client, &changes).await {
                Ok(claims) => claims,
                // Nothing was written: reservations come before the commit.
                Err(e) => {
                    if members.is_empty() {
                        unwatch(client, conn).await?;
                        return Err(e);
                    }
                    members.tell(|| RoundOutcome::Alone);
                    alone = true;
                    unwatch(client, conn).await?;
                    continue;
                }
            };
            let stripped: Vec<OpSpec> = specs
                .iter()
                .map(|s| match batch::claimed_apart(client, s) {
                    true => batch::without_unique_index(s),
                    false => s.clone(),
                })
                .collect();
            let lease = claims.write_before();
            let shared = !members.is_empty();
            // Reserved unique values need the script's lease check.
            let plain = match lease {
                0 => plain_commit::commands(&stripped),
                _ => None,
            };
            let (committed, conn) = if shared {
                Self::commit_round(client, conn, stripped, plain, lease, send_body, members).await?
            } else {
                let mut conn = conn;
                let committed =
                    Self::commit(client, &mut conn, &stripped, lease, plain, send_body).await;
                (committed, conn)
            };
            // A shared round's members were told its outcome by `commit_round`.
            match committed {
                Ok(Commit::Applied) => {
                    conn.finish(client);
                    batch::settle(client, claims, &changes).await?;
                    return outcome;
                }
                Ok(Commit::Conflict) => {
                    claims.abort(client).await;
                    conflicts += 1;
                    pause.pause(None).await;
                    held = Some(conn);
                }
                Ok(Commit::NotRun(e)) => {
                    claims.abort(client).await;
                    send_body |= matches!(conn::classify(&e), Failure::NoScript);
                    self.recover(e, &mut outage, deadline).await?;
                }
                // EXEC may have run: the reservations stay pending and heal.
                Err(e @ Error::OutcomeUnknown { .. }) => return Err(e),
                Err(Error::LeaseExpired { .. }) => {
                    // Nothing written; the round starts again with new reservations.
                    claims.abort(client).await;
                    conflicts += 1;
                    held = Some(conn);
                }
                // Nothing written, maybe for another member's change: this one runs again alone
                // too, to meet its own outcome.
                Err(e) if shared && wrote_nothing(&e) => {
                    claims.abort(client).await;
                    alone = true;
                }
                Err(e) => {
                    claims.abort(client).await;
                    return Err(e);
                }
            }
        }
    }

    /// Starts a round of its own: WATCHes and reads the instances on the connection held from
    /// the last round, or on one from the pool. `None` when the round must start again after
    /// an outage or a moved slot (nothing was written); [`Error::NotFound`] for a missing
    /// instance.
    async fn read_round(
        &self,
        held: &mut Option<Dedicated>,
        keys: &[InstanceKeys],
        outage: &mut Backoff,
        deadline: Instant,
    ) -> Result<Option<(Dedicated, Vec<M>)>> {
        let client = self.client();
        let mut conn = match held.take() {
            Some(conn) => conn,
            None => match client.dedicated(keys[0].hash.as_str()).await {
                Ok(conn) => conn,
                // The node may be gone (a failover): nothing was sent; read the cluster's map
                // again and wait for it to settle.
                Err(Error::Redis(e)) if e.is_io_error() || conn::classify(&e).not_run() => {
                    client.after_trouble().await;
                    conn::backoff(outage, deadline, e).await?;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            },
        };
        match Self::watch_and_read(&mut conn, keys).await {
            Ok(Ok(values)) => Ok(Some((conn, values))),
            Ok(Err(missing)) => {
                unwatch(client, conn).await?;
                Err(Error::NotFound {
                    model: M::META.name,
                    pk: missing.pk.clone(),
                    key: missing.hash.clone(),
                })
            }
            // Nothing was written yet: a moved slot or an outage only costs a new round.
            Err(Error::Redis(e)) => {
                self.recover(e, outage, deadline).await?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Commits a shared round (see [`commit`](Self::commit)) in a task of its own, which tells
    /// the round's members its outcome: cancelling the task that ends the round cannot leave
    /// them untold, nor keep them waiting.
    async fn commit_round(
        client: &crate::Client,
        mut conn: Dedicated,
        specs: Vec<OpSpec>,
        plain: Option<PlainCommit>,
        lease: u64,
        send_body: bool,
        members: Members,
    ) -> Result<(Result<Commit>, Dedicated)> {
        let client = client.clone();
        let mut members = members;
        members.sent = true;
        let round = tokio::spawn(async move {
            let committed = Self::commit(&client, &mut conn, &specs, lease, plain, send_body).await;
            members.tell(|| member_outcome(&committed));
            (committed, conn)
        });
        // The task panicked (its members were told the outcome is unknown).
        round.await.map_err(|_| untold())
    }

    /// After an error that proves the round wrote nothing: notes a moved slot, waits out an
    /// outage (within the retry budget), or gives the error back when it is final.
    async fn recover(
        &self,
        e: redis::RedisError,
        outage: &mut Backoff,
        deadline: Instant,
    ) -> Result<()> {
        match conn::classify(&e) {
            Failure::Redirect {
                node,
                slot,
                asking: false,
            } => {
                self.client().note_moved(slot, node);
                Ok(())
            }
            // The script was loaded where it was missing: go again at once.
            Failure::NoScript => Ok(()),
            // A migrating slot (ASK, TRYAGAIN), a failover, a lost connection during the reads:
            // wait for the cluster to settle.
            Failure::Redirect { .. } | Failure::NotRun | Failure::Unknown => {
                if !matches!(conn::classify(&e), Failure::Redirect { .. }) {
                    self.client().after_trouble().await;
                }
                conn::backoff(outage, deadline, e).await
            }
            Failure::Final => Err(e.into()),
        }
    }

    /// Commits `specs` inside MULTI/EXEC on the watching connection: as the `plain` commands
    /// when there are (see `plain_commit`), else as one call of the ops script. With
    /// `send_body`, the script goes as its body (EVAL): a library or cached script loaded after
    /// it went missing can go missing again before the next round commits (another client's
    /// `FUNCTION FLUSH` or `SCRIPT FLUSH`), the body cannot.
    async fn commit(
        client: &crate::Client,
        conn: &mut Dedicated,
        specs: &[OpSpec],
        lease: u64,
        plain: Option<PlainCommit>,
        send_body: bool,
    ) -> Result<Commit> {
        if let Some(PlainCommit { commands, served }) = plain {
            return match exec_watched(client, conn, commands, false).await? {
                Exec::Ran { results, wait } => {
                    plain_outcome(&served, specs, results)?;
                    check_wait(client, wait)?;
                    Ok(Commit::Applied)
                }
                Exec::Conflict => Ok(Commit::Conflict),
                Exec::NotRun(e) => Ok(Commit::NotRun(e)),
            };
        }
        let refs: Vec<&OpSpec> = specs.iter().collect();
        let mut batch = Batch::new(&refs, &[]);
        batch.lease(lease);
        let script = match send_body {
            true => Some(scripts::OPS.eval_command(&batch.cmd)),
            false => scripts::OPS.for_mode(&batch.cmd, client.functions()),
        };
        let script = script.unwrap_or_else(|| batch.cmd.clone());
        match exec_watched(client, conn, vec![script], true).await? {
            Exec::Conflict => Ok(Commit::Conflict),
            Exec::NotRun(e) => Ok(Commit::NotRun(e)),
            Exec::Ran { mut results, wait } => match results.pop() {
                Some(Value::ServerError(e)) => {
                    let e = redis::RedisError::from(e);
                    if matches!(conn::classify(&e), Failure::NoScript) {
                        // Nothing applied (the script was the only command): load it for later
                        // calls, go again (with the body, see `send_body`).
                        scripts::OPS
                            .load(&mut conn.conn, client.functions())
                            .await?;
                        return Ok(Commit::NotRun(e));
                    }
                    Err(batch.error(e))
                }
                Some(reply) => {
                    batch.replies(reply)?;
                    check_wait(client, wait)?;
                    Ok(Commit::Applied)
                }
                None => Err(Error::Redis(redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "EXEC answered no reply for the script",
                )))),
            },
        }
    }

    /// WATCHes every key of the instances and reads them, in one round trip. The reads are
    /// plain commands, not a script (whose conversion of every reply to Lua values costs the
    /// server about 5x the reads) nor MULTI (whose EXEC would end the WATCH): they may straddle
    /// another client's write, but any write after WATCH fails the commit, and a round that
    /// commits nothing checks the same with an empty MULTI/EXEC ([`end_read_only`]), so no
    /// outcome rests on a torn read. `Err(keys)` names an instance that does not exist.
    async fn watch_and_read<'k>(
        conn: &mut Dedicated,
        keys: &'k [InstanceKeys],
    ) -> Result<std::result::Result<Vec<M>, &'k InstanceKeys>> {
        let mut pipe = redis::pipe();
        let watch = pipe.cmd("WATCH");
        for k in keys {
            watch.arg(&k.hash).arg(&k.containers);
        }
        let refs: Vec<&InstanceKeys> = keys.iter().collect();
        for read in stored::instance_reads(&M::META, &refs) {
            pipe.add_command(read);
        }
        let replies = conn
            .conn
            .req_packed_commands(&pipe, 0, pipe.len())
            .await?
            .into_iter()
            .map(Value::extract_error)
            .collect::<redis::RedisResult<Vec<Value>>>()?;
        // The first reply is WATCH's.
        let reply = stored::as_read_reply(&M::META, refs.len(), replies.into_iter().skip(1));
        let found = stored::decode_read(&M::META, &refs, reply)?;
        let mut out = Vec::with_capacity(found.len());
        for (k, found) in keys.iter().zip(found) {
            match found {
                Some(f) => out.push(Self::decode(k, f)?),
                None => return Ok(Err(k)),
            }
        }
        Ok(Ok(out))
    }
}

/// The most closures one shared round runs before it commits: the first waits for them all,
/// and a longer round gives writers elsewhere a longer window to conflict with it.
const ROUND_MAX: usize = 16;

/// A round in progress, handed from one transaction of an instance to the next (see `turns`):
/// the connection holding the WATCH, the values read, the values after the closures so far, and
/// the tasks that ran them, waiting for the outcome.
struct Round<M> {
    conn: Dedicated,
    before: Vec<M>,
    values: Vec<M>,
    members: Members,
}

/// The tasks whose closures ran in a shared round before its last one, waiting for its outcome.
/// Dropped untold (a task cancelled or panicking mid-round, an early error), they are told to
/// run again if the round's commit was not sent, and that its outcome is unknown if it was.
#[derive(Default)]
struct Members {
    waiting: Vec<oneshot::Sender<RoundOutcome>>,
    /// Set once the commit is sent.
    sent: bool,
}

impl Members {
    fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Tells every member the outcome (one that left meanwhile is not told).
    fn tell(mut self, outcome: impl Fn() -> RoundOutcome) {
        for member in std::mem::take(&mut self.waiting) {
            let _ = member.send(outcome());
        }
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        let sent = self.sent;
        for member in std::mem::take(&mut self.waiting) {
            let _ = member.send(match sent {
                false => RoundOutcome::Again,
                true => RoundOutcome::Failed(untold()),
            });
        }
    }
}

/// What a shared round's outcome means for a member.
enum RoundOutcome {
    /// Its change was written: it returns its closure's result.
    Applied,
    /// Nothing was written (a conflict, a moved slot...): it runs again.
    Again,
    /// Nothing was written, perhaps because of another member's change: it runs again without
    /// sharing rounds, to meet its own outcome.
    Alone,
    /// The round failed as a whole (its outcome unknown, say).
    Failed(Error),
}

/// A member's error when the round it joined ended without telling it whether its commit ran
/// (the task sending it was cancelled meanwhile).
fn untold() -> Error {
    Error::OutcomeUnknown {
        source: redis::RedisError::from((
            redis::ErrorKind::Client,
            "the transaction that sent this one's change was cancelled before its reply",
        )),
    }
}

/// Whether a shared round's commit that failed with `e` wrote nothing, for a reason that may be
/// any member's change (a unique value taken, an overflow, a refused command...).
fn wrote_nothing(e: &Error) -> bool {
    matches!(
        e,
        Error::UniqueViolation { .. }
            | Error::Overflow { .. }
            | Error::NotFound { .. }
            | Error::ConditionFailed { .. }
            | Error::Refused { .. }
            | Error::InvalidKey { .. }
            | Error::IndexOutOfRange { .. }
            | Error::Encode { .. }
            | Error::Config(_)
            | Error::CrossSlot { .. }
            | Error::OutOfMemory { .. }
            | Error::NoPermission { .. }
    )
}

/// What a shared round's commit means for its members.
fn member_outcome(committed: &Result<Commit>) -> RoundOutcome {
    match committed {
        Ok(Commit::Applied) => RoundOutcome::Applied,
        Ok(Commit::Conflict | Commit::NotRun(_)) | Err(Error::LeaseExpired { .. }) => {
            RoundOutcome::Again
        }
        Err(e) if wrote_nothing(e) => RoundOutcome::Alone,
        Err(e) => RoundOutcome::Failed(e.for_another()),
    }
}

/// How a commit went.
enum Commit {
    Applied,
    /// A watched key changed: nothing applied.
    Conflict,
    /// Refused before anything ran (a moved slot, a lost script...).
    NotRun(redis::RedisError),
}

/// What EXEC answered for the commands of a commit.
enum Exec {
    /// They ran: EXEC's results, and `WAIT`'s reply when the client asks for durable writes.
    Ran {
        results: Vec<Value>,
        wait: Option<Value>,
    },
    /// A watched key changed: nothing ran.
    Conflict,
    /// Refused before anything ran (a moved slot, a lost script...).
    NotRun(redis::RedisError),
}

/// Sends `commands` inside MULTI/EXEC on the watching connection (then `WAIT`, when the client
/// asks for durable writes). `script`: the one command is a script call, whose refusal may
/// mean functions are refused to this user.
async fn exec_watched(
    client: &crate::Client,
    conn: &mut Dedicated,
    commands: Vec<redis::Cmd>,
    script: bool,
) -> Result<Exec> {
    let mut pipe = redis::pipe();
    pipe.cmd("MULTI");
    let queued_count = commands.len();
    for command in commands {
        pipe.add_command(command);
    }
    pipe.cmd("EXEC");
    let wait = client.wait_replicas();
    if let Some((n, timeout)) = wait {
        pipe.cmd("WAIT")
            .arg(n)
            .arg(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
    }
    let count = pipe.len();
    let replies = match conn.conn.req_packed_commands(&pipe, 0, count).await {
        Ok(replies) => replies,
        // EXEC may have run: the outcome is unknown, and the round is not retried.
        Err(e) if e.is_io_error() => return Err(Error::OutcomeUnknown { source: e }),
        Err(e) => return Err(e.into()),
    };
    let mut replies = replies.into_iter();
    let _multi = replies.next();
    // The first refusal while queueing (MOVED, TRYAGAIN, OOM...): EXEC aborted, nothing ran.
    // Out of memory is not worth retrying.
    let queued = replies
        .by_ref()
        .take(queued_count)
        .find(|reply| matches!(reply, Value::ServerError(_)));
    let exec = replies.next().unwrap_or(Value::Nil);
    if let Some(Value::ServerError(e)) = queued {
        let e = redis::RedisError::from(e);
        if crate::error::is_out_of_memory(&e) {
            return Err(e.into());
        }
        // Functions refused by this user: the next round calls the script instead.
        if script && client.functions().refused(&e) {
            return Ok(Exec::NotRun(redis::RedisError::from((
                redis::ErrorKind::Server(redis::ServerErrorKind::NoScript),
                "functions refused: calling the script instead",
            ))));
        }
        return Ok(Exec::NotRun(e));
    }
    match exec {
        // Someone wrote a watched key: nothing applied.
        Value::Nil => Ok(Exec::Conflict),
        Value::Array(results) => Ok(Exec::Ran {
            results,
            wait: wait.and_then(|_| replies.next()),
        }),
        Value::ServerError(e) => {
            let e = redis::RedisError::from(e);
            // Discarded for lack of memory: nothing ran, and retrying will not help.
            if crate::error::is_out_of_memory(&e) {
                return Err(e.into());
            }
            match conn::classify(&e) {
                Failure::Final
                    if e.kind() != redis::ErrorKind::Server(redis::ServerErrorKind::ExecAbort) =>
                {
                    Err(e.into())
                }
                _ => Ok(Exec::NotRun(e)),
            }
        }
        other => Err(Error::Redis(redis::RedisError::from((
            redis::ErrorKind::Client,
            "unexpected reply to EXEC",
            format!("{other:?}"),
        )))),
    }
}

/// Checks `WAIT`'s reply, when the client asks for durable writes.
fn check_wait(client: &crate::Client, wait: Option<Value>) -> Result<()> {
    match client.wait_replicas() {
        Some((n, _)) => conn::check_wait(n, wait.as_ref()),
        None => Ok(()),
    }
}

/// The outcome of a plain commit's commands (`results`, EXEC's reply). WATCH keeps the
/// instance's keys as read, so Redis refuses a command only when something outside rapyer put
/// another type under an index key: the other commands are applied (MULTI has no rollback; the
/// script stopped at the same command, keeping the ones before it), and the error names the
/// first refused. `served`: the spec of each command.
fn plain_outcome(served: &[usize], specs: &[OpSpec], results: Vec<Value>) -> Result<()> {
    let unexpected = |got: &Value| match specs.first() {
        Some(spec) => spec.unexpected("one reply per command", got),
        None => Error::Pipeline("empty batch"),
    };
    if results.len() != served.len() {
        return Err(unexpected(&Value::Array(results)));
    }
    for (&at, result) in served.iter().zip(results) {
        if let Value::ServerError(e) = result {
            let Some(spec) = specs.get(at) else {
                return Err(unexpected(&Value::ServerError(e)));
            };
            return Err(Error::PartiallyApplied {
                op: at,
                key: spec.key.clone(),
                field: spec.field.to_string(),
                reason: redis::RedisError::from(e).to_string(),
            });
        }
    }
    Ok(())
}

/// The shortest pause after a conflict.
const MIN_CONFLICT_PAUSE: Duration = Duration::from_micros(100);

/// Ends a round that writes nothing with an empty MULTI/EXEC, which ends the WATCH and answers
/// whether every watched key stayed unchanged since it: then the round's reads saw one instant
/// and the connection goes back to the pool (`None`); else the connection is given back to run
/// the round again.
async fn end_read_only(client: &crate::Client, mut conn: Dedicated) -> Result<Option<Dedicated>> {
    let mut pipe = redis::pipe();
    pipe.cmd("MULTI").cmd("EXEC");
    let exec = conn
        .conn
        .req_packed_commands(&pipe, 1, 1)
        .await?
        .pop()
        .unwrap_or(Value::Nil)
        .extract_error()?;
    match exec {
        Value::Nil => Ok(Some(conn)),
        _ => {
            conn.finish(client);
            Ok(None)
        }
    }
}

/// Ends a transaction that writes nothing and returns the connection to the pool.
async fn unwatch(client: &crate::Client, mut conn: Dedicated) -> Result<()> {
    redis::cmd("UNWATCH")
        .query_async::<()>(&mut conn.conn)
        .await?;
    conn.finish(client);
    Ok(())
}

/// The operations that turn `old` into `new`: changed fields are set, cleared ones deleted,
/// changed containers patched (lists replaced whole).
fn changes<M: Model>(instance: &Instance, old: &M, new: &M, out: &mut Vec<OpSpec>) -> Result<()> {
    let (mut before, mut after) = (RecordWriter::default(), RecordWriter::default());
    old.write_record(&mut before)?;
    new.write_record(&mut after)?;
    let spec_of = |target: Target<'_>, field: String, code: OpCode, args: Vec<Vec<u8>>| {
        let op = instance.op(
            target,
            Cow::Owned(field),
            code,
            Ok(args),
            Box::new(op::unit),
        );
        op.spec
    };
    if old.pk().pk_text() != new.pk().pk_text() {
        return Err(Error::Config(
            "a transaction cannot change an instance's primary key".into(),
        ));
    }
    let old_fields: std::collections::HashMap<&String, &Vec<u8>> =
        before.hash.iter().map(|(f, v)| (f, v)).collect();
    // Changed fields that no index, partition or rename concerns go as one HSET: each op the
    // script runs costs it far more than a field more in one command.
    let mut plain: Option<OpSpec> = None;
    for (field, value) in &after.hash {
        if old_fields.get(field) == Some(&value) {
            continue;
        }
        let args = vec![field.clone().into_bytes(), value.clone()];
        let spec = spec_of(Target::Hash, field.clone(), OpCode::Hset, args)?;
        let alone = spec.index.is_some()
            || !spec.partitions.is_empty()
            || spec.renamed_from.is_some()
            || !spec.also.is_empty()
            || !spec.extra_keys.is_empty();
        match (&mut plain, alone) {
            (_, true) => out.push(spec),
            (Some(merged), false) => merged.args.extend(spec.args),
            (None, false) => plain = Some(spec),
        }
    }
    out.extend(plain);
    let mut push = |target: Target<'_>, field: String, code: OpCode, args: Vec<Vec<u8>>| {
        spec_of(target, field, code, args).map(|spec| out.push(spec))
    };
    for (field, _) in &before.hash {
        if !after.hash.iter().any(|(f, _)| f == field) {
            push(
                Target::Hash,
                field.clone(),
                OpCode::Hdel,
                vec![field.clone().into_bytes()],
            )?;
        }
    }
    for meta in M::META.containers {
        let was = before.containers.remove(meta.path);
        let now = after.containers.remove(meta.path);
        if was == now {
            continue;
        }
        let target = Target::Container { path: meta.path };
        let path = meta.path.to_string();
        match (was, now) {
            (Some(ContainerData::Set(was)), Some(ContainerData::Set(now))) => {
                let gone: Vec<Vec<u8>> = was.iter().filter(|v| !now.contains(v)).cloned().collect();
                let new: Vec<Vec<u8>> = now.iter().filter(|v| !was.contains(v)).cloned().collect();
                if !gone.is_empty() {
                    push(target, path.clone(), OpCode::Srem, gone)?;
                }
                if !new.is_empty() {
                    push(target, path, OpCode::Sadd, new)?;
                }
            }
            (Some(ContainerData::Map(was)), Some(ContainerData::Map(now))) => {
                let gone: Vec<Vec<u8>> = was
                    .iter()
                    .filter(|(k, _)| !now.iter().any(|(n, _)| n == k))
                    .map(|(k, _)| k.clone().into_bytes())
                    .collect();
                let set: Vec<Vec<u8>> = now
                    .iter()
                    .filter(|entry| !was.contains(entry))
                    .flat_map(|(k, v)| [k.clone().into_bytes(), v.clone()])
                    .collect();
                if !gone.is_empty() {
                    push(target, path.clone(), OpCode::Hdel, gone)?;
                }
                if !set.is_empty() {
                    push(target, path, OpCode::Hset, set)?;
                }
            }
            (Some(ContainerData::ZSet(was)), Some(ContainerData::ZSet(now))) => {
                let gone: Vec<Vec<u8>> = was
                    .iter()
                    .filter(|(m, _)| !now.iter().any(|(n, _)| n == m))
                    .map(|(m, _)| m.clone())
                    .collect();
                let set: Vec<Vec<u8>> = now
                    .iter()
                    .filter(|entry| !was.contains(entry))
                    .flat_map(|(m, s)| [score_arg(*s), m.clone()])
                    .collect();
                if !gone.is_empty() {
                    push(target, path.clone(), OpCode::Zrem, gone)?;
                }
                if !set.is_empty() {
                    push(target, path, OpCode::Zadd, set)?;
                }
            }
            (_, now) => {
                // Lists (order matters) are replaced whole; so is anything unexpected.
                push(target, path.clone(), OpCode::Del, vec![])?;
                let (code, items) = match now {
                    Some(ContainerData::List(items)) => (OpCode::Rpush, items),
                    Some(ContainerData::Set(items)) => (OpCode::Sadd, items),
                    Some(ContainerData::Map(entries)) => (
                        OpCode::Hset,
                        entries
                            .into_iter()
                            .flat_map(|(k, v)| [k.into_bytes(), v])
                            .collect(),
                    ),
                    Some(ContainerData::ZSet(entries)) => (
                        OpCode::Zadd,
                        entries
                            .into_iter()
                            .flat_map(|(m, s)| [score_arg(s), m])
                            .collect(),
                    ),
                    None => (OpCode::Rpush, Vec::new()),
                };
                if !items.is_empty() {
                    push(target, path, code, items)?;
                }
            }
        }
    }
    Ok(())
}

/// A score as ZADD takes it: the float's stored text.
fn score_arg(score: f64) -> Vec<u8> {
    crate::codec::Codec::encode(&score).unwrap_or_default()
}
