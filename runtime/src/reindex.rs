//! Rebuilding a model's indexes from its instances: after adding an index to a schema, after data
//! was written by other code, or to repair indexes on Redis Cluster (where an index follows its
//! field in a second step).
//!
//! Two phases, each made of atomic steps over small batches, so live writers may keep going:
//! 1. every live instance (from the registry) gets its index entries written;
//! 2. every index is scanned (ZSCAN/HSCAN) and entries that no longer match their instance are
//!    removed.

use redis::Value;

use crate::client::Client;
use crate::error::Result;
use crate::model::{IndexKind, ModelMeta};
use crate::protocol;
use crate::scripts;

/// What a reindex did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReindexReport {
    /// Live instances visited.
    pub instances: u64,
    /// Index entries written (already correct ones included).
    pub written: u64,
    /// Stale entries removed.
    pub removed: u64,
    /// Unique values held by several instances: the index keeps the first holder.
    pub conflicts: Vec<UniqueConflict>,
}

/// Two live instances with one value of a unique field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueConflict {
    /// The unique field.
    pub field: String,
    /// The value, as stored.
    pub value: String,
    /// The pk the index maps the value to.
    pub holder: String,
    /// The other pk with the value.
    pub other: String,
}

const BATCH: usize = 200;

/// Rebuilds every index of the model described by `meta`. `Repo::reindex` calls this; so does
/// `rapyer-gen reindex`, which builds `meta` from the schema.
pub async fn reindex(client: &Client, meta: &ModelMeta) -> Result<ReindexReport> {
    let mut report = ReindexReport::default();
    if meta.indexes.is_empty() {
        return Ok(report);
    }
    let keys = client.keys();
    let index_keys: Vec<String> = meta
        .indexes
        .iter()
        .map(|ix| keys.index(meta.prefix, ix.kind, ix.path))
        .collect();
    let header = |cmd: &mut redis::Cmd, mode: &str| {
        cmd.arg(mode)
            .arg(keys.instance_prefix(meta.prefix))
            .arg(meta.indexes.len());
        for ix in meta.indexes {
            cmd.arg(protocol::index_code(ix.kind)).arg(ix.path);
        }
    };
    let mut conn = client.connection();

    // 1. Write the entries of every live instance.
    let mut live = scripts::LIVE_PKS.call(&[keys.registry(meta.prefix)]);
    live.arg("list");
    let pks: Vec<String> = scripts::LIVE_PKS.invoke(&live, &mut conn).await?;
    report.instances = pks.len() as u64;
    for batch in pks.chunks(BATCH) {
        let mut cmd = scripts::REINDEX.call(&index_keys);
        header(&mut cmd, "set");
        cmd.arg(batch);
        let reply: Vec<Value> = scripts::REINDEX.invoke(&cmd, &mut conn).await?;
        let mut reply = reply.into_iter();
        if let Some(Value::Int(n)) = reply.next() {
            report.written += n as u64;
        }
        for conflict in reply {
            if let Some(c) = parse_conflict(meta, conflict) {
                report.conflicts.push(c);
            }
        }
    }

    // 2. Remove entries that no longer match their instance.
    for (i, (ix, key)) in meta.indexes.iter().zip(&index_keys).enumerate() {
        let scan = if ix.kind == IndexKind::Unique {
            "HSCAN"
        } else {
            "ZSCAN"
        };
        let mut cursor = 0u64;
        loop {
            let (next, items): (u64, Vec<Vec<u8>>) = redis::cmd(scan)
                .arg(key)
                .arg(cursor)
                .arg("COUNT")
                .arg(BATCH)
                .query_async(&mut conn)
                .await?;
            // HSCAN gives value, pk pairs (kept); ZSCAN gives member, score pairs (scores dropped).
            let batch: Vec<&Vec<u8>> = if ix.kind == IndexKind::Unique {
                items.iter().collect()
            } else {
                items.iter().step_by(2).collect()
            };
            if !batch.is_empty() {
                let mut cmd = scripts::REINDEX.call(&index_keys);
                header(&mut cmd, "sweep");
                cmd.arg(i + 1).arg(batch);
                let removed: u64 = scripts::REINDEX.invoke(&cmd, &mut conn).await?;
                report.removed += removed;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    Ok(report)
}

fn parse_conflict(meta: &ModelMeta, v: Value) -> Option<UniqueConflict> {
    let Value::BulkString(raw) = v else {
        return None;
    };
    let text = String::from_utf8_lossy(&raw);
    let mut parts = text.splitn(4, '\t');
    let index: usize = parts.next()?.parse().ok()?;
    let field = meta.indexes.get(index.checked_sub(1)?)?.path.to_string();
    Some(UniqueConflict {
        field,
        value: parts.next()?.to_string(),
        holder: parts.next()?.to_string(),
        other: parts.next()?.to_string(),
    })
}
