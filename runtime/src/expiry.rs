//! Expiring instances and their index entries.
//!
//! Redis expires an instance's keys by itself, but not the entries the instance has in its
//! model's registry and indexes. For a model whose instances expire and are indexed, every
//! script that writes an index entry of an expiring instance also records it in its bucket's
//! memo (`lua/index.lua`), and the entries of an expired instance are removed ("forgotten"):
//!
//! - by every query of its indexes, first, in the same script (so no query sees an expired
//!   instance, and ranks and counts are exact);
//! - by every whole-instance write of its bucket (a few per write), and by a write that meets
//!   an expired holder of a unique value (the value is free in the same step);
//! - by [`Repo::purge_expired`](crate::Repo::purge_expired) and `reindex`, all of them.
//!
//! A purge forgets at most 1000 instances per call and answers `E_PURGING` when more are left;
//! the call is then sent again, so a burst of expiries never blocks the server for long.

use std::time::Duration;

use redis::{Cmd, Value};

use crate::client::Client;
use crate::conn::{Call, Effect};
use crate::error::{Error, Result};
use crate::keys::Keyspace;
use crate::meta::ModelMeta;
use crate::protocol::{self, ScriptError};
use crate::script::Lua;
use crate::scripts;
use crate::stored::{self, InstanceKeys};

/// The keys a purge of bucket `bucket` needs (registry, memo), for a model that has a memo.
pub(crate) fn purge_keys(client: &Client, meta: &ModelMeta, bucket: u16) -> Option<[String; 2]> {
    let memo = client.keys().memo_of(meta, bucket)?;
    Some([client.keys().registry(meta, bucket), memo])
}

/// Runs `cmd`, a call of `script` that starts with `lua/purge.lua`, until it no longer answers
/// that expired instances are left. Safe to resend: forgetting is idempotent, the rest reads.
pub(crate) async fn run_purging(client: &Client, script: &Lua, cmd: &Cmd) -> Result<Value> {
    loop {
        match client
            .execute(Call::script(script, cmd, Effect::Idempotent))
            .await
        {
            Err(Error::Redis(e))
                if matches!(
                    ScriptError::from_redis(&e),
                    Some(ScriptError::Purging { .. })
                ) => {}
            other => return other,
        }
    }
}

/// Forgets every expired instance of `meta`'s model (all buckets, concurrently); nothing to do
/// for a model without a TTL.
pub(crate) async fn purge_all(client: &Client, meta: &ModelMeta) -> Result<()> {
    if meta.ttl_seconds.is_none() {
        return Ok(());
    }
    futures_util::future::try_join_all((0..meta.buckets.max(1)).map(|bucket| async move {
        let registry = client.keys().registry(meta, bucket);
        let memo = client.keys().memo_of(meta, bucket);
        // KEYS[1] is unused by a purge alone; the registry stands in for it (same slot).
        let mut keys = vec![registry.as_str(), registry.as_str()];
        keys.extend(memo.as_deref());
        let cmd = scripts::PURGE.call(&keys);
        run_purging(client, &scripts::PURGE, &cmd).await
    }))
    .await?;
    Ok(())
}

/// What [`set_expiry`] does to an instance.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expiry {
    /// Expire after this many milliseconds (at least 1).
    After(u64),
    /// Never expire.
    Never,
}

/// Sets or removes the expiry of one instance, in one script: every key of the instance, its
/// registry entry and its memo entry (see `lua/expire.lua`). [`Error::NotFound`] when it does
/// not exist; a model without a `ttl` is refused ([`Error::Config`]): its indexes keep no memo,
/// so expired instances would stay in them.
pub(crate) async fn set_expiry(
    client: &Client,
    meta: &ModelMeta,
    keys: &InstanceKeys,
    expiry: Expiry,
) -> Result<()> {
    if meta.ttl_seconds.is_none() {
        return Err(Error::Config(format!(
            "model {} has no `ttl` in its schema, so its instances cannot expire; give it one \
             (instances then expire after it unless persisted)",
            meta.name
        )));
    }
    let registry = client.keys().registry(meta, keys.bucket);
    let fences = Keyspace::fences(&keys.hash);
    let index_keys = stored::index_keys(client, meta, keys.bucket);
    let memo = client.keys().memo_of(meta, keys.bucket);
    let mut all_keys: Vec<&str> = [keys.hash.as_str(), registry.as_str(), fences.as_str()]
        .into_iter()
        .chain(keys.containers.iter().map(String::as_str))
        .collect();
    let memo_position = stored::push_key(&mut all_keys, memo.as_deref());
    let positions = stored::place_indexes(meta, &mut all_keys, &index_keys, false);
    let mut cmd = scripts::EXPIRE.call(&all_keys);
    match expiry {
        Expiry::After(ms) => cmd.arg("expire").arg(&keys.pk).arg(ms.max(1)),
        Expiry::Never => cmd.arg("persist").arg(&keys.pk).arg(0),
    };
    cmd.arg(keys.containers.len())
        .arg(memo_position)
        .arg(meta.indexes.len());
    for (ix, at) in meta.indexes.iter().zip(positions) {
        cmd.arg(protocol::index_code(ix.kind))
            .arg(ix.path)
            .arg(meta.renamed_from(ix.path).unwrap_or(""))
            .arg(at);
    }
    match client
        .execute(Call::script(&scripts::EXPIRE, &cmd, Effect::Writes))
        .await
    {
        Ok(_) => Ok(()),
        Err(Error::Redis(e))
            if matches!(
                ScriptError::from_redis(&e),
                Some(ScriptError::NotFound { .. })
            ) =>
        {
            Err(Error::NotFound {
                model: meta.name,
                pk: keys.pk.clone(),
                key: keys.hash.clone(),
            })
        }
        Err(e) => Err(e),
    }
}

/// The time an instance has left: `None` when it does not expire. [`Error::NotFound`] when it
/// does not exist.
pub(crate) async fn time_left(
    client: &Client,
    meta: &ModelMeta,
    keys: &InstanceKeys,
) -> Result<Option<Duration>> {
    let mut cmd = redis::cmd("PTTL");
    cmd.arg(&keys.hash);
    let ms: i64 = client.query(Call::read(&cmd)).await?;
    match ms {
        -2 => Err(Error::NotFound {
            model: meta.name,
            pk: keys.pk.clone(),
            key: keys.hash.clone(),
        }),
        ms if ms < 0 => Ok(None),
        ms => Ok(Some(Duration::from_millis(ms.unsigned_abs()))),
    }
}

/// Deletes the memos of a model that keeps none (its schema no longer has a `ttl` or an index):
/// they can only be left from an earlier schema. Their instances' index entries are swept by
/// `reindex` like any entry whose instance is gone.
pub(crate) async fn drop_stale_memos(client: &Client, meta: &ModelMeta) -> Result<()> {
    if meta.remembers_index_entries() {
        return Ok(());
    }
    for bucket in 0..meta.buckets.max(1) {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(client.keys().memo(meta, bucket));
        client
            .query::<i64>(Call::plain(&cmd, Effect::Idempotent))
            .await?;
    }
    Ok(())
}
