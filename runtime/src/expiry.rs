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

use redis::{Cmd, Value};

use crate::client::Client;
use crate::conn::{Call, Effect};
use crate::error::{Error, Result};
use crate::meta::ModelMeta;
use crate::protocol::ScriptError;
use crate::script::Lua;
use crate::scripts;

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
