//! Optimistic transactions: read, decide in a closure, write only what changed, retry on conflict.
//!
//! `update` WATCHes every key of the instance on a connection no other task uses, reads the
//! instance, runs the closure on a copy, and sends the difference as one script call (the field
//! operations script, so indexes and unique checks move with the data) inside MULTI/EXEC. If
//! another client wrote any watched key in between, EXEC applies nothing and the whole round
//! starts again after a jittered pause, up to [`TxOptions::max_attempts`] times; then
//! [`Error::Conflict`]. The closure may run several times: keep it free of side effects.

use std::borrow::{Borrow, Cow};
use std::time::Duration;

use redis::Value;

use crate::client::Dedicated;
use crate::error::{Error, Result};
use crate::model::{Model, PkRef};
use crate::ops::batch::Batch;
use crate::ops::instance::{Instance, Target};
use crate::ops::op::{self, OpSpec};
use crate::protocol::OpCode;
use crate::record::{ContainerData, RecordWriter};
use crate::repo::{InstanceKeys, Repo};
use crate::scripts;

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
        let instances: Vec<Instance> = pks
            .iter()
            .map(|pk| Instance::new(self.client(), M::META, Cow::Borrowed(pk.as_str())))
            .collect();
        let mut conn = self.client().dedicated().await?;
        let mut pause = opts.backoff;
        for _ in 0..opts.max_attempts {
            let before = match Self::watch_and_read(&mut conn, &keys).await? {
                Ok(values) => values,
                Err(missing) => {
                    unwatch(conn).await?;
                    return Err(Error::NotFound {
                        model: M::META.name,
                        pk: missing.pk.clone(),
                        key: missing.hash.clone(),
                    });
                }
            };
            let mut values = before.clone();
            let out = match f(&mut values) {
                Ok(out) => out,
                Err(e) => {
                    unwatch(conn).await?;
                    return Err(Error::Aborted(e.into()));
                }
            };
            let mut specs = Vec::new();
            let diff = before
                .iter()
                .zip(&values)
                .zip(&instances)
                .filter(|((old, new), _)| old != new)
                .try_for_each(|((old, new), instance)| changes(instance, old, new, &mut specs));
            if let Err(e) = diff {
                unwatch(conn).await?;
                return Err(e);
            }
            if specs.is_empty() {
                unwatch(conn).await?;
                return Ok(out);
            }
            let refs: Vec<&OpSpec> = specs.iter().collect();
            let batch = Batch::new(&refs, &[]);
            let mut pipe = redis::pipe();
            pipe.cmd("MULTI").ignore();
            pipe.add_command(batch.cmd.clone()).ignore();
            pipe.cmd("EXEC");
            let replies: Vec<Value> = match pipe.query_async(&mut conn.conn).await {
                Ok(replies) => replies,
                // EXEC ran (so no WATCH is left) and the script failed before writing: a lost
                // script cache is reloaded and the round retried; anything else is the answer.
                Err(e) if e.code() == Some("NOSCRIPT") => {
                    scripts::OPS.load(&mut conn.conn).await?;
                    continue;
                }
                Err(e) if e.code().is_some() => {
                    conn.finish();
                    return Err(batch.error(e));
                }
                // The connection failed: it is dropped, not returned to the pool.
                Err(e) => return Err(e.into()),
            };
            match replies.into_iter().next_back() {
                // Someone wrote a watched key: nothing applied; try again.
                Some(Value::Nil) => {}
                Some(Value::Array(mut results)) => match results.pop() {
                    Some(Value::ServerError(e)) => {
                        let e = redis::RedisError::from(e);
                        if e.code() == Some("NOSCRIPT") {
                            // Nothing applied (the script was the only command): load, retry.
                            scripts::OPS.load(&mut conn.conn).await?;
                            continue;
                        }
                        conn.finish();
                        return Err(batch.error(e));
                    }
                    Some(reply) => {
                        batch.replies(reply)?;
                        conn.finish();
                        return Ok(out);
                    }
                    None => {
                        return Err(specs[0].unexpected("the script's reply", &Value::Nil));
                    }
                },
                other => {
                    let other = other.unwrap_or(Value::Nil);
                    return Err(specs[0].unexpected("the reply of EXEC", &other));
                }
            }
            let step = pause
                .mul_f64(fastrand::f64())
                .max(Duration::from_micros(100));
            tokio::time::sleep(step).await;
            pause = (pause * 2).min(opts.max_backoff);
        }
        conn.finish();
        Err(Error::Conflict {
            model: M::META.name,
            pk: pks.first().cloned().unwrap_or_default(),
            attempts: opts.max_attempts,
        })
    }

    /// WATCHes every key of the instances, then reads them (without MULTI: an EXEC would drop
    /// the WATCH). `Err(keys)` names an instance that does not exist.
    async fn watch_and_read<'k>(
        conn: &mut Dedicated,
        keys: &'k [InstanceKeys],
    ) -> Result<std::result::Result<Vec<M>, &'k InstanceKeys>> {
        let mut watch = redis::cmd("WATCH");
        for k in keys {
            watch.arg(&k.hash).arg(&k.containers);
        }
        let mut pipe = redis::pipe();
        pipe.add_command(watch).ignore();
        for k in keys {
            Self::queue_reads(&mut pipe, k, false);
        }
        let replies: Vec<Value> = pipe.query_async(&mut conn.conn).await?;
        let mut replies = replies.into_iter();
        let mut values = Vec::with_capacity(keys.len());
        for k in keys {
            let parts: Vec<Value> = replies.by_ref().take(1 + k.containers.len()).collect();
            let reply = if k.containers.is_empty() {
                parts.into_iter().next().unwrap_or(Value::Nil)
            } else {
                Value::Array(parts)
            };
            match Self::decode_instance(k, reply)? {
                Some(v) => values.push(v),
                None => return Ok(Err(k)),
            }
        }
        Ok(Ok(values))
    }
}

/// Ends a transaction that writes nothing and returns the connection to the pool.
async fn unwatch(mut conn: Dedicated) -> Result<()> {
    redis::cmd("UNWATCH")
        .query_async::<()>(&mut conn.conn)
        .await?;
    conn.finish();
    Ok(())
}

/// The operations that turn `old` into `new`: changed fields are set, cleared ones deleted,
/// changed containers patched (lists replaced whole).
fn changes<M: Model>(instance: &Instance, old: &M, new: &M, out: &mut Vec<OpSpec>) -> Result<()> {
    let (mut before, mut after) = (RecordWriter::default(), RecordWriter::default());
    old.write_record(&mut before)?;
    new.write_record(&mut after)?;
    let mut push = |target: Target<'_>, field: String, code: OpCode, args: Vec<Vec<u8>>| {
        let op = instance.op(
            target,
            Cow::Owned(field),
            code,
            Ok(args),
            Box::new(op::unit),
        );
        op.spec.map(|spec| out.push(spec))
    };
    if old.pk().pk_text() != new.pk().pk_text() {
        return Err(Error::Config(
            "a transaction cannot change an instance's primary key".into(),
        ));
    }
    let old_fields: std::collections::HashMap<&String, &Vec<u8>> =
        before.hash.iter().map(|(f, v)| (f, v)).collect();
    for (field, value) in &after.hash {
        if old_fields.get(field) != Some(&value) {
            push(
                Target::Hash,
                field.clone(),
                OpCode::Hset,
                vec![field.clone().into_bytes(), value.clone()],
            )?;
        }
    }
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
