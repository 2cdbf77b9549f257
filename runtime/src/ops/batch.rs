//! Sends a batch of ops (one op, or a pipeline) as one call of `lua/ops.lua`, and turns the
//! script's errors into typed ones naming the key and field at fault.

use std::borrow::Cow;

use redis::Value;

use crate::claims::{self, Claims};
use crate::client::Client;
use crate::conn::{Call, Effect};
use crate::error::{Error, Result};
use crate::meta::IndexKind;
use crate::ops::op::OpSpec;
use crate::protocol::{self, GeneralOp, Layout, OpCode, OpsArgs, ScriptError};
use crate::scripts;

/// A lock a batch requires: it must still hold `token` when the batch runs, or nothing is
/// written. With `release` (an instance's lock, whose fencing number lives apart) the batch also
/// deletes it once its ops are applied, as `lua/lock.lua` releases such a lock.
#[derive(Debug, Clone)]
pub(crate) struct RequiredLock {
    pub(crate) key: String,
    pub(crate) token: String,
    pub(crate) release: bool,
}

/// Above this many arguments the general layout sends them in chunks (Lua's unpack limit).
const COMPACT_MAX_ARGS: usize = 1000;

/// Runs one op; returns its reply.
pub(crate) async fn run_one(client: &Client, spec: &OpSpec) -> Result<Value> {
    if spec.code.layout() == Layout::General
        || spec.args.len() > COMPACT_MAX_ARGS
        || spec.index.is_some()
        || !spec.partitions.is_empty()
        || spec.renamed_from.is_some()
        || spec.located.refreshed_by(spec.code)
        || !spec.also.is_empty()
    {
        let mut replies = run(client, &[spec]).await?;
        return Ok(replies.pop().unwrap_or(Value::Nil));
    }
    if client.coalesces() {
        return super::coalesce::run(client, spec).await;
    }
    run_compact(client, spec).await
}

/// Runs one op alone in the compact layout (see `lua/ops_single.lua`).
pub(crate) async fn run_compact(client: &Client, spec: &OpSpec) -> Result<Value> {
    let copy_ttl = spec.copies_ttl();
    let hash = spec.located.hash.as_str();
    let cmd = protocol::compact_call(
        &scripts::OPS,
        hash,
        &spec.key,
        spec.code,
        copy_ttl,
        &spec.args,
    );
    let effect = if spec.code.reads_only() {
        Effect::Reads
    } else {
        Effect::Writes
    };
    client
        .execute(Call::script(&scripts::OPS, &cmd, effect))
        .await
        .map_err(|e| e.map_redis(|e| script_error(e, &[(spec, true)], &[spec], &[])))
}

/// Runs `specs` atomically; returns one reply per op, in order.
pub(crate) async fn run(client: &Client, specs: &[&OpSpec]) -> Result<Vec<Value>> {
    run_locked(client, specs, &[]).await
}

/// Runs `specs` atomically, only while every lock in `locks` still holds its token (releasing
/// those marked so once applied).
pub(crate) async fn run_locked<'a>(
    client: &Client,
    specs: &[&'a OpSpec],
    locks: &'a [RequiredLock],
) -> Result<Vec<Value>> {
    if specs.iter().any(|s| claimed_apart(client, s)) {
        return run_claimed(client, specs, locks).await;
    }
    let batch = Batch::new(specs, locks);
    send(client, &batch).await
}

/// Sends one batch and reads its replies.
async fn send(client: &Client, batch: &Batch<'_, '_>) -> Result<Vec<Value>> {
    if client.is_cluster() {
        batch.check_one_slot()?;
    }
    let reply = client
        .execute(Call::script(&scripts::OPS, &batch.cmd, batch.effect()))
        .await
        .map_err(|e| e.map_redis(|e| batch.error(e)))?;
    batch.replies(reply)
}

/// True when `spec` writes a unique field whose index lives apart from the instance (see
/// [`claims`](crate::claims)).
pub(crate) fn claimed_apart(client: &Client, spec: &OpSpec) -> bool {
    matches!(&spec.index, Some((ix, _)) if ix.kind == IndexKind::Unique)
        && !spec.code.reads_only()
        && claims::apart(client, &spec.located.meta)
}

/// A unique field's change by one op: the value it must hold before, and the one it will hold.
pub(crate) struct UniqueChange<'s> {
    pub(crate) spec: &'s OpSpec,
    pub(crate) old: Option<Vec<u8>>,
    pub(crate) new: Option<Vec<u8>>,
}

/// Reserves the new values of `changes` (see [`claims`](crate::claims)).
pub(crate) async fn reserve(client: &Client, changes: &[UniqueChange<'_>]) -> Result<Claims> {
    let mut claims = Claims::default();
    for change in changes {
        let (Some(new), Some((ix, _))) = (&change.new, &change.spec.index) else {
            continue;
        };
        if change.old.as_ref() != Some(new) {
            let located = &change.spec.located;
            claims
                .reserve(client, &located.meta, ix, new, &located.pk)
                .await?;
        }
    }
    claims.before_write(client).await?;
    Ok(claims)
}

/// After the write: confirms the reservations and releases the old values.
pub(crate) async fn settle(
    client: &Client,
    claims: Claims,
    changes: &[UniqueChange<'_>],
) -> Result<()> {
    claims.after_write(client)?;
    claims.confirm(client).await;
    Claims::after_confirm(client)?;
    for change in changes {
        let (Some(old), Some((ix, _))) = (&change.old, &change.spec.index) else {
            continue;
        };
        if change.new.as_ref() != Some(old) {
            let located = &change.spec.located;
            claims::release(client, &located.meta, ix, old, &located.pk).await;
        }
    }
    Ok(())
}

/// The same op without its unique index (kept apart by claims instead).
pub(crate) fn without_unique_index(spec: &OpSpec) -> OpSpec {
    let mut spec = spec.clone();
    if matches!(&spec.index, Some((ix, _)) if ix.kind == IndexKind::Unique) {
        spec.index = None;
    }
    spec
}

/// Runs a batch that changes unique fields kept apart: reads their values, reserves the new
/// ones, runs the batch guarded by `expect` ops on the values read and by the lease, then
/// confirms and releases (see [`claims`](crate::claims)).
async fn run_claimed(
    client: &Client,
    specs: &[&OpSpec],
    locks: &[RequiredLock],
) -> Result<Vec<Value>> {
    const ATTEMPTS: usize = 8;
    let unique: Vec<&OpSpec> = specs
        .iter()
        .copied()
        .filter(|s| claimed_apart(client, s))
        .collect();
    for (i, a) in unique.iter().enumerate() {
        if unique[..i]
            .iter()
            .any(|b| b.located.hash == a.located.hash && b.field == a.field)
        {
            return Err(Error::Config(format!(
                "on a cluster, one pipeline may change the unique field `{}` of an instance only once",
                a.field
            )));
        }
    }
    for _ in 0..ATTEMPTS {
        let mut changes = Vec::with_capacity(unique.len());
        for spec in &unique {
            let mut cmd = redis::cmd("HGET");
            cmd.arg(&spec.located.hash).arg(spec.field.as_ref());
            let old: Option<Vec<u8>> = client.query(Call::read(&cmd)).await?;
            let new = new_value(spec, old.as_deref());
            changes.push(UniqueChange { spec, old, new });
        }
        let claims = reserve(client, &changes).await?;
        let expects: Vec<OpSpec> = changes
            .iter()
            .map(|c| {
                let mut expect = without_unique_index(c.spec);
                expect.code = OpCode::Expect;
                expect.key = c.spec.located.hash.clone();
                expect.renamed_from = None;
                expect.creates_key = false;
                expect.args = std::iter::once(c.spec.field.as_bytes().to_vec())
                    .chain(c.old.clone())
                    .collect();
                expect
            })
            .collect();
        let stripped: Vec<OpSpec> = specs
            .iter()
            .map(|s| match claimed_apart(client, s) {
                true => without_unique_index(s),
                false => (*s).clone(),
            })
            .collect();
        let refs: Vec<&OpSpec> = expects.iter().chain(&stripped).collect();
        let mut batch = Batch::with_hidden(&refs, expects.len(), locks);
        batch.lease(claims.write_before());
        match send(client, &batch).await {
            Ok(replies) => {
                settle(client, claims, &changes).await?;
                return Ok(replies);
            }
            // A value changed since it was read, or the lease ran out: nothing was written.
            Err(Error::Conflict { .. } | Error::LeaseExpired { .. }) => claims.abort(client).await,
            // The batch may have landed: the reservations stay pending and heal.
            Err(e @ Error::OutcomeUnknown { .. }) => return Err(e),
            Err(e) => {
                claims.abort(client).await;
                return Err(e);
            }
        }
    }
    let first = unique[0];
    Err(Error::Conflict {
        model: first.located.meta.name,
        pk: first.located.pk.clone(),
        attempts: ATTEMPTS as u32,
    })
}

/// The stored text a unique field will hold after `spec`, from `old`.
fn new_value(spec: &OpSpec, old: Option<&[u8]>) -> Option<Vec<u8>> {
    match spec.code {
        OpCode::Hset => spec.args.get(1).cloned(),
        OpCode::Incr => {
            let start = match old {
                Some(text) => text,
                None => spec
                    .args
                    .get(2)
                    .map(Vec::as_slice)
                    .filter(|d| !d.is_empty())
                    .unwrap_or(b"0"),
            };
            let parse = |b: &[u8]| std::str::from_utf8(b).ok()?.parse::<i64>().ok();
            let delta = spec.args.get(1).and_then(|d| parse(d))?;
            // An overflow is the script's to report; nothing is reserved for it.
            parse(start)?
                .checked_add(delta)
                .map(|n| n.to_string().into_bytes())
        }
        _ => None,
    }
}

/// One call of the ops script in the general layout, built but not sent (transactions send it
/// inside MULTI/EXEC), with what is needed to read its reply and errors.
pub(crate) struct Batch<'s, 'a> {
    /// The EVALSHA command.
    pub(crate) cmd: redis::Cmd,
    /// Its arguments, kept to rebuild it with a lease.
    args: OpsArgs<'a>,
    specs: &'s [&'a OpSpec],
    /// Every op sent, by the spec it serves: a renamed field's value is first moved by an extra
    /// `mv` op, whose reply is dropped.
    sent: Vec<(&'a OpSpec, bool)>,
    guard_specs: Vec<&'a OpSpec>,
    locks: &'a [RequiredLock],
}

impl<'s, 'a> Batch<'s, 'a> {
    pub(crate) fn new(specs: &'s [&'a OpSpec], locks: &'a [RequiredLock]) -> Self {
        Self::with_hidden(specs, 0, locks)
    }

    /// A batch whose first `hidden` ops are the runtime's own (their replies are dropped).
    pub(crate) fn with_hidden(
        specs: &'s [&'a OpSpec],
        hidden: usize,
        locks: &'a [RequiredLock],
    ) -> Self {
        let mut args = OpsArgs::default();
        let mut guard_specs: Vec<&OpSpec> = Vec::new();
        for spec in specs {
            if args.guard(&spec.located.hash) {
                guard_specs.push(spec);
            }
        }
        for lock in locks {
            args.lock(&lock.key, &lock.token, lock.release);
        }
        // Sliding expiry: each instance once, if one of its ops re-arms it, unless the batch
        // sets its expiry itself.
        let mut refreshed: Vec<&str> = specs
            .iter()
            .filter(|s| s.code == OpCode::Expiry)
            .map(|s| s.located.hash.as_str())
            .collect();
        for spec in specs {
            let located = &spec.located;
            if let Some(refresh) = &located.refresh
                && located.refreshed_by(spec.code)
                && !refreshed.contains(&located.hash.as_str())
            {
                refreshed.push(&located.hash);
                args.refresh(refresh, &located.pk);
            }
        }
        let mut sent: Vec<(&'a OpSpec, bool)> = Vec::with_capacity(specs.len());
        // Each op, then the ops that go with it (their replies dropped).
        let flat = specs.iter().copied().enumerate().flat_map(|(i, spec)| {
            std::iter::once((spec, i >= hidden)).chain(spec.also.iter().map(|a| (a, false)))
        });
        for (spec, real) in flat {
            if let Some(old) = spec.renamed_from {
                args.op(GeneralOp {
                    code: OpCode::Mv,
                    key: &spec.key,
                    ttl_from: None,
                    index: None,
                    partitions: &[],
                    owner: None,
                    extra: Vec::new(),
                    args: Cow::Owned(vec![
                        spec.field.as_bytes().to_vec(),
                        old.as_bytes().to_vec(),
                    ]),
                });
                sent.push((spec, false));
            }
            args.op(GeneralOp {
                code: spec.code,
                key: &spec.key,
                ttl_from: spec.copies_ttl().then_some(spec.located.hash.as_str()),
                index: spec.index.as_ref().map(|(ix, key)| (ix.kind, key.as_str())),
                partitions: &spec.partitions,
                owner: Some((spec.located.pk.as_str(), spec.located.memo.as_deref())),
                extra: spec.extra_keys.iter().map(String::as_str).collect(),
                args: Cow::Borrowed(&spec.args),
            });
            sent.push((spec, real));
        }
        Batch {
            cmd: args.command(&scripts::OPS),
            args,
            specs,
            sent,
            guard_specs,
            locks,
        }
    }

    /// Sets the lease (see `OpsArgs::lease`).
    pub(crate) fn lease(&mut self, write_before: u64) {
        self.args.lease(write_before);
        self.cmd = self.args.command(&scripts::OPS);
    }

    /// Whether the batch can write (a batch of reads alone is safe to resend).
    pub(crate) fn effect(&self) -> Effect {
        if self.sent.iter().all(|(spec, _)| spec.code.reads_only())
            && !self.locks.iter().any(|lock| lock.release)
        {
            Effect::Reads
        } else {
            Effect::Writes
        }
    }

    /// On a cluster, a script can only touch keys of one hash slot: refuses the batch otherwise,
    /// before anything is sent.
    pub(crate) fn check_one_slot(&self) -> Result<()> {
        crate::slot::check_one_slot(self.args.keys().iter().copied())
    }

    /// The typed error for an error reply of the script.
    pub(crate) fn error(&self, e: redis::RedisError) -> Error {
        script_error(e, &self.sent, &self.guard_specs, self.locks)
    }

    /// The per-op replies of a successful call.
    pub(crate) fn replies(&self, reply: Value) -> Result<Vec<Value>> {
        match reply {
            Value::Array(replies) if replies.len() == self.sent.len() => Ok(replies
                .into_iter()
                .zip(&self.sent)
                .filter(|(_, (_, real))| *real)
                .map(|(reply, _)| reply)
                .collect()),
            other => Err(self
                .specs
                .first()
                .map(|s| s.unexpected("one reply per operation", &other))
                .unwrap_or(Error::Pipeline("empty batch"))),
        }
    }
}

/// Maps the script's error replies (see [`ScriptError`]) to typed errors; any other error is
/// Redis's own and passes through. `sent` are the ops as sent, each with whether it is one of
/// the caller's (or an extra `mv`).
fn script_error(
    e: redis::RedisError,
    sent: &[(&OpSpec, bool)],
    guards: &[&OpSpec],
    locks: &[RequiredLock],
) -> Error {
    let Some(parsed) = ScriptError::from_redis(&e) else {
        return e.into();
    };
    let specs: Vec<&OpSpec> = sent.iter().map(|(s, _)| *s).collect();
    let op = |i: usize| specs.get(i).map(|s| (s.key.clone(), s.field.to_string()));
    // The caller's position of the op sent at `i`.
    let position = |i: usize| sent.iter().take(i).filter(|(_, real)| *real).count();
    let typed = match parsed {
        ScriptError::NotFound { guard } => guards.get(guard).map(|spec| Error::NotFound {
            model: spec.located.meta.name,
            pk: spec.located.pk.clone(),
            key: spec.located.hash.clone(),
        }),
        ScriptError::LockLost { lock } => locks.get(lock).map(|lock| Error::LockLost {
            key: lock.key.clone(),
        }),
        ScriptError::Type { op: i, message } => op(i).map(|(key, field)| Error::Decode {
            key,
            field,
            reason: message,
        }),
        ScriptError::Overflow { op: i, message } => op(i).map(|(key, field)| Error::Overflow {
            key,
            field,
            reason: message,
        }),
        ScriptError::Unique { at, holder, value } => {
            specs.get(at).map(|spec| Error::UniqueViolation {
                model: spec.located.meta.name,
                field: spec.field.to_string(),
                value,
                holder,
            })
        }
        ScriptError::Failed { op: i, message } => op(i).map(|(key, field)| Error::Refused {
            key,
            field,
            reason: message,
        }),
        ScriptError::Partial { op: i, message } => {
            op(i).map(|(key, field)| Error::PartiallyApplied {
                op: position(i),
                key,
                field,
                reason: message,
            })
        }
        // Only the claims path sends guards and leases; it retries on these.
        ScriptError::Changed { op: i } => specs.get(i).map(|s| Error::Conflict {
            model: s.located.meta.name,
            pk: s.located.pk.clone(),
            attempts: 1,
        }),
        ScriptError::Lease { .. } => specs.first().map(|s| Error::LeaseExpired {
            model: s.located.meta.name,
            pk: s.located.pk.clone(),
        }),
        ScriptError::Condition { op: i, message } => specs.get(i).map(|s| {
            // The args of a condition: field, comparator, kind, value, default.
            let text = |j: usize| {
                s.args
                    .get(j)
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .unwrap_or_default()
            };
            let comparator = text(1);
            let condition = match comparator.as_str() {
                "set" | "unset" => comparator,
                _ => format!("{comparator} {}", text(3)),
            };
            Error::ConditionFailed {
                key: s.key.clone(),
                field: s.field.to_string(),
                condition,
                found: match message.strip_prefix('=') {
                    Some(found) => found.to_string(),
                    None => "unset".to_string(),
                },
            }
        }),
        ScriptError::Exists { .. } | ScriptError::Purging { .. } => None,
    };
    typed.unwrap_or_else(|| e.into())
}
