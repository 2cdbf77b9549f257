//! Sends a batch of ops (one op, or a pipeline) as one call of `lua/ops.lua`, and turns the
//! script's errors into typed ones naming the key and field at fault.

use redis::Value;

use crate::client::Client;
use crate::conn::{Call, Effect};
use crate::error::{Error, Result};
use crate::ops::op::OpSpec;
use crate::protocol::{self, GeneralOp, Layout, OpCode, OpsArgs, ScriptError};
use crate::scripts;

/// Above this many arguments the general layout sends them in chunks (Lua's unpack limit).
const COMPACT_MAX_ARGS: usize = 1000;

/// Runs one op; returns its reply.
pub(crate) async fn run_one(client: &Client, spec: &OpSpec) -> Result<Value> {
    if spec.code.layout() == Layout::General
        || spec.args.len() > COMPACT_MAX_ARGS
        || spec.index.is_some()
        || spec.renamed_from.is_some()
    {
        let mut replies = run(client, &[spec]).await?;
        return Ok(replies.pop().unwrap_or(Value::Nil));
    }
    let copy_ttl = spec.creates_key && spec.located.meta.ttl_seconds.is_some();
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
        .execute(Call::script(&scripts::OPS, &cmd, hash, effect))
        .await
        .map_err(|e| e.map_redis(|e| script_error(e, &[(spec, true)], &[spec], &[])))
}

/// Runs `specs` atomically; returns one reply per op, in order.
pub(crate) async fn run(client: &Client, specs: &[&OpSpec]) -> Result<Vec<Value>> {
    run_locked(client, specs, &[]).await
}

/// Runs `specs` atomically, only while every lock in `locks` (key, token) still holds its token.
pub(crate) async fn run_locked<'a>(
    client: &Client,
    specs: &[&'a OpSpec],
    locks: &'a [(String, String)],
) -> Result<Vec<Value>> {
    let batch = Batch::new(specs, locks);
    if client.is_cluster() {
        batch.check_one_slot()?;
    }
    let reply = client
        .execute(Call::script(
            &scripts::OPS,
            &batch.cmd,
            batch.first_key(),
            batch.effect(),
        ))
        .await
        .map_err(|e| e.map_redis(|e| batch.error(e)))?;
    batch.replies(reply)
}

/// The extra op that moves a renamed field's value first.
const MV_ARGS: usize = 2;

/// One call of the ops script in the general layout, built but not sent (transactions send it
/// inside MULTI/EXEC), with what is needed to read its reply and errors.
pub(crate) struct Batch<'s, 'a> {
    /// The EVALSHA command.
    pub(crate) cmd: redis::Cmd,
    /// Every key, in KEYS order.
    keys: Vec<String>,
    specs: &'s [&'a OpSpec],
    /// Every op sent, by the spec it serves: a renamed field's value is first moved by an extra
    /// `mv` op, whose reply is dropped.
    sent: Vec<(&'a OpSpec, bool)>,
    guard_specs: Vec<&'a OpSpec>,
    locks: &'a [(String, String)],
}

impl<'s, 'a> Batch<'s, 'a> {
    pub(crate) fn new(specs: &'s [&'a OpSpec], locks: &'a [(String, String)]) -> Self {
        let mut args = OpsArgs::default();
        let mut guard_specs: Vec<&OpSpec> = Vec::new();
        for spec in specs {
            if args.guard(&spec.located.hash) {
                guard_specs.push(spec);
            }
        }
        for (key, token) in locks {
            args.lock(key, token);
        }
        let mv_args: Vec<Vec<Vec<u8>>> = specs
            .iter()
            .map(|spec| match spec.renamed_from {
                Some(old) => vec![spec.field.as_bytes().to_vec(), old.as_bytes().to_vec()],
                None => Vec::new(),
            })
            .collect();
        let mut sent: Vec<(&'a OpSpec, bool)> = Vec::with_capacity(specs.len());
        for (spec, mv) in specs.iter().zip(&mv_args) {
            if mv.len() == MV_ARGS {
                args.op(GeneralOp {
                    code: OpCode::Mv,
                    key: &spec.key,
                    ttl_from: None,
                    index: None,
                    args: mv,
                });
                sent.push((spec, false));
            }
            let copies_ttl = spec.creates_key && spec.located.meta.ttl_seconds.is_some();
            args.op(GeneralOp {
                code: spec.code,
                key: &spec.key,
                ttl_from: copies_ttl.then_some(spec.located.hash.as_str()),
                index: spec
                    .index
                    .as_ref()
                    .map(|(ix, key)| (ix.kind, key.as_str(), spec.located.pk.as_str())),
                args: &spec.args,
            });
            sent.push((spec, true));
        }
        Batch {
            cmd: args.command(&scripts::OPS),
            keys: args.keys().iter().map(|k| k.to_string()).collect(),
            specs,
            sent,
            guard_specs,
            locks,
        }
    }

    /// The key the call is routed by.
    pub(crate) fn first_key(&self) -> &str {
        self.keys.first().map_or("", String::as_str)
    }

    /// Whether the batch can write (a batch of reads alone is safe to resend).
    pub(crate) fn effect(&self) -> Effect {
        if self.sent.iter().all(|(spec, _)| spec.code.reads_only()) {
            Effect::Reads
        } else {
            Effect::Writes
        }
    }

    /// On a cluster, a script can only touch keys of one hash slot: refuses the batch otherwise,
    /// before anything is sent.
    pub(crate) fn check_one_slot(&self) -> Result<()> {
        crate::slot::check_one_slot(self.keys.iter().map(String::as_str))
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
    locks: &[(String, String)],
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
        ScriptError::LockLost { lock } => locks
            .get(lock)
            .map(|(key, _)| Error::LockLost { key: key.clone() }),
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
        ScriptError::Exists { .. } => None,
    };
    typed.unwrap_or_else(|| e.into())
}
