//! Sends a batch of ops (one op, or a pipeline) as one call of `lua/ops.lua`, and turns the
//! script's errors into typed ones naming the key and field at fault.

use std::collections::HashMap;

use redis::Value;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::ops::op::OpSpec;
use crate::scripts;

/// Codes the compact single-op layout of the script cannot run (they need its precheck).
const NEEDS_GENERAL_LAYOUT: &[&str] = &["incrf", "lset"];
/// Above this many arguments the general layout sends them in chunks (Lua's unpack limit).
const COMPACT_MAX_ARGS: usize = 1000;

/// Runs one op; returns its reply.
pub(crate) async fn run_one(client: &Client, spec: &OpSpec) -> Result<Value> {
    if NEEDS_GENERAL_LAYOUT.contains(&spec.code)
        || spec.args.len() > COMPACT_MAX_ARGS
        || spec.index.is_some()
        || spec.renamed_from.is_some()
    {
        let mut replies = run(client, &[spec]).await?;
        return Ok(replies.pop().unwrap_or(Value::Nil));
    }
    let hash = spec.located.hash.as_str();
    let mut cmd = if spec.key == hash {
        scripts::OPS.call(&[hash])
    } else {
        scripts::OPS.call(&[hash, spec.key.as_str()])
    };
    let ttl = spec.creates_key && spec.located.meta.ttl_seconds.is_some();
    cmd.arg("s")
        .arg(spec.code)
        .arg(if ttl { "1" } else { "0" })
        .arg(&spec.args);
    scripts::OPS
        .invoke::<Value, _>(&cmd, &mut client.connection())
        .await
        .map_err(|e| script_error(e, &[spec], &[spec]))
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
    let reply = scripts::OPS
        .invoke::<Value, _>(&batch.cmd, &mut client.connection())
        .await
        .map_err(|e| batch.error(e))?;
    batch.replies(reply)
}

/// One call of the ops script in the general layout, built but not sent (transactions send it
/// inside MULTI/EXEC), with what is needed to read its reply and errors.
pub(crate) struct Batch<'s, 'a> {
    /// The EVALSHA command.
    pub(crate) cmd: redis::Cmd,
    specs: &'s [&'a OpSpec],
    /// Every op sent, by the spec it serves: a renamed field's value is first moved by an extra
    /// `mv` op, whose reply is dropped.
    sent: Vec<(&'a OpSpec, bool)>,
    guard_specs: Vec<&'a OpSpec>,
    locks: &'a [(String, String)],
}

impl<'s, 'a> Batch<'s, 'a> {
    pub(crate) fn new(specs: &'s [&'a OpSpec], locks: &'a [(String, String)]) -> Self {
        // Every distinct key once; ops refer to keys by their 1-based position.
        let mut keys: Vec<&'a str> = Vec::new();
        let mut positions: HashMap<&'a str, usize> = HashMap::new();
        let mut intern = |key: &'a str| {
            *positions.entry(key).or_insert_with(|| {
                keys.push(key);
                keys.len()
            })
        };
        let specs_keys: Vec<(usize, usize, usize)> = specs
            .iter()
            .map(|spec| {
                let hash = intern(&spec.located.hash);
                let key = intern(&spec.key);
                let index = spec.index.as_ref().map_or(0, |(_, k)| intern(k));
                (hash, key, index)
            })
            .collect();
        let lock_keys: Vec<usize> = locks.iter().map(|(key, _)| intern(key)).collect();
        let mut guards: Vec<usize> = Vec::new();
        let mut guard_specs: Vec<&OpSpec> = Vec::new();
        for (spec, (hash, _, _)) in specs.iter().zip(&specs_keys) {
            if !guards.contains(hash) {
                guards.push(*hash);
                guard_specs.push(spec);
            }
        }

        let mut cmd = scripts::OPS.call(&keys);
        cmd.arg(guards.len()).arg(&guards).arg(locks.len());
        for (index, (_, token)) in lock_keys.iter().zip(locks) {
            cmd.arg(*index).arg(token);
        }
        let mut sent: Vec<(&'a OpSpec, bool)> = Vec::with_capacity(specs.len());
        for spec in specs {
            if spec.renamed_from.is_some() {
                sent.push((spec, false));
            }
            sent.push((spec, true));
        }
        cmd.arg(sent.len());
        for (spec, (hash, key, index_key)) in specs.iter().zip(&specs_keys) {
            if let Some(old) = spec.renamed_from {
                cmd.arg("mv").arg(*key).arg(0).arg("-").arg(2);
                cmd.arg(spec.field.as_ref()).arg(old);
            }
            let ttl_from = if spec.creates_key && spec.located.meta.ttl_seconds.is_some() {
                *hash
            } else {
                0
            };
            cmd.arg(spec.code).arg(*key).arg(ttl_from);
            match &spec.index {
                Some((ix, _)) => cmd
                    .arg(ix.kind.code())
                    .arg(*index_key)
                    .arg(&spec.located.pk),
                None => cmd.arg("-"),
            };
            cmd.arg(spec.args.len()).arg(&spec.args);
        }
        Batch {
            cmd,
            specs,
            sent,
            guard_specs,
            locks,
        }
    }

    /// The typed error for an error reply of the script.
    pub(crate) fn error(&self, e: redis::RedisError) -> Error {
        match e.code() {
            Some(scripts::LOCK_LOST_CODE) => {
                let n: usize = e.detail().and_then(|d| d.trim().parse().ok()).unwrap_or(1);
                Error::LockLost {
                    key: self
                        .locks
                        .get(n.saturating_sub(1))
                        .map(|(k, _)| k.clone())
                        .unwrap_or_default(),
                }
            }
            _ => {
                let sent: Vec<&OpSpec> = self.sent.iter().map(|(s, _)| *s).collect();
                script_error(e, &sent, &self.guard_specs)
            }
        }
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

/// Maps the script's `RAPYER_*` errors (see `lua/ops.lua`) to typed errors.
fn script_error(e: redis::RedisError, specs: &[&OpSpec], guards: &[&OpSpec]) -> Error {
    let Some(code) = e.code() else {
        return e.into();
    };
    let detail = e.detail().unwrap_or_default();
    if !code.starts_with("RAPYER_") {
        // A single op run with the compact layout: Redis's own error, nothing applied.
        return match specs {
            [spec] => {
                let message = format!("{code} {detail}");
                classify(e, spec.key.clone(), spec.field.to_string(), message)
            }
            _ => e.into(),
        };
    }
    let (index, message) = detail.split_once(' ').unwrap_or((detail, ""));
    let Some(index) = index.parse::<usize>().ok().and_then(|i| i.checked_sub(1)) else {
        return e.into();
    };
    let message = message.to_string();
    if code == "RAPYER_NOTFOUND" {
        return match guards.get(index) {
            Some(spec) => Error::NotFound {
                model: spec.located.meta.name,
                pk: spec.located.pk.clone(),
                key: spec.located.hash.clone(),
            },
            None => e.into(),
        };
    }
    let Some(spec) = specs.get(index) else {
        return e.into();
    };
    let (key, field) = (spec.key.clone(), spec.field.to_string());
    match code {
        "RAPYER_TYPE" => Error::Decode {
            key,
            field,
            reason: message,
        },
        "RAPYER_OVERFLOW" => Error::Overflow {
            key,
            field,
            reason: message,
        },
        "RAPYER_FAILED" => classify(e, key, field, message),
        scripts::UNIQUE_CODE => match scripts::unique_detail(&message) {
            Some((holder, value)) => Error::UniqueViolation {
                model: spec.located.meta.name,
                field: spec.field.to_string(),
                value,
                holder,
            },
            None => e.into(),
        },
        "RAPYER_PARTIAL" => Error::PartiallyApplied {
            op: index,
            key,
            field,
            reason: message,
        },
        _ => e.into(),
    }
}

/// A Redis error from a single op that changed nothing: junk or overflow get typed errors.
/// Redis appends where in the script the error happened; that is dropped.
fn classify(e: redis::RedisError, key: String, field: String, mut message: String) -> Error {
    if let Some(at) = message.find(" script: ") {
        message.truncate(at);
    }
    if message.contains("overflow") {
        Error::Overflow {
            key,
            field,
            reason: message,
        }
    } else if message.contains("WRONGTYPE")
        || message.contains("not an integer")
        || message.contains("not a valid float")
    {
        Error::Decode {
            key,
            field,
            reason: message,
        }
    } else {
        e.into()
    }
}
