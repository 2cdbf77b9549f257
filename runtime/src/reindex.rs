//! Rebuilding a model's indexes from its instances: after adding an index to a schema, after data
//! was written by other code, or after a failover lost recent writes.
//!
//! Two phases, each made of atomic steps over small batches, so live writers may keep going:
//! 1. every live instance (from the registry) gets its index entries written;
//! 2. every index is scanned (ZSCAN/HSCAN) and entries that no longer match their instance are
//!    removed.

use redis::Value;

use crate::client::Client;
use crate::conn::{Call, Effect};
use crate::error::{Error, Result};
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
///
/// Per bucket, so that each step touches one hash slot: every live instance of the bucket gets
/// its entries written, in atomic batches; a unique value the index gives to another instance is
/// checked against that instance and taken over only if it no longer holds the value (else it is
/// reported as a conflict). Then every index entry is checked against its instance and removed
/// when stale.
pub async fn reindex(client: &Client, meta: &ModelMeta) -> Result<ReindexReport> {
    let mut report = ReindexReport::default();
    if meta.indexes.is_empty() {
        return Ok(report);
    }
    let space = client.keys();
    if client.is_cluster()
        && meta.buckets > 1
        && meta.indexes.iter().any(|ix| ix.kind == IndexKind::Unique)
    {
        return Err(Error::Config(format!(
            "model `{}`: reindex of a unique index of a model with several buckets needs one \
             script per slot, which this version does not do on a cluster",
            meta.name
        )));
    }
    let header = |cmd: &mut redis::Cmd, mode: &str, indexes: &[crate::model::IndexMeta]| {
        cmd.arg(mode).arg(indexes.len());
        for ix in indexes {
            cmd.arg(protocol::index_code(ix.kind)).arg(ix.path);
        }
    };
    let hash = |pk: &str| space.instance(meta, pk);

    // 1. Write the entries of every live instance, bucket by bucket.
    for bucket in 0..meta.buckets.max(1) {
        let index_keys: Vec<String> = meta
            .indexes
            .iter()
            .map(|ix| space.index(meta, ix.kind, ix.path, bucket))
            .collect();
        let registry = space.registry(meta, bucket);
        let mut live = scripts::LIVE_PKS.call(&[&registry]);
        live.arg("list");
        let pks: Vec<String> = client
            .query(Call::script(
                &scripts::LIVE_PKS,
                &live,
                &registry,
                Effect::Reads,
            ))
            .await?;
        report.instances += pks.len() as u64;
        for batch in pks.chunks(BATCH) {
            let keys: Vec<String> = index_keys
                .iter()
                .cloned()
                .chain(batch.iter().map(|pk| hash(pk)))
                .collect();
            let mut cmd = scripts::REINDEX.call(&keys);
            header(&mut cmd, "set", meta.indexes);
            cmd.arg(batch);
            let reply: Vec<Value> = client
                .query(Call::script(
                    &scripts::REINDEX,
                    &cmd,
                    &keys[0],
                    Effect::Writes,
                ))
                .await?;
            let mut reply = reply.into_iter();
            if let Some(Value::Int(n)) = reply.next() {
                report.written += n as u64;
            }
            for held in reply {
                let Some((i, value, holder, pk)) = parse_held(held) else {
                    continue;
                };
                let Some(ix) = meta.indexes.get(i) else {
                    continue;
                };
                let keys = [index_keys[i].clone(), hash(&holder)];
                let mut cmd = scripts::REINDEX.call(&keys);
                header(&mut cmd, "claim", std::slice::from_ref(ix));
                cmd.arg(&value).arg(&holder).arg(&pk);
                let claimed: i64 = client
                    .query(Call::script(
                        &scripts::REINDEX,
                        &cmd,
                        &keys[0],
                        Effect::Writes,
                    ))
                    .await?;
                match claimed {
                    1 => report.written += 1,
                    -1 => report.conflicts.push(UniqueConflict {
                        field: ix.path.to_string(),
                        value,
                        holder,
                        other: pk,
                    }),
                    _ => {}
                }
            }
        }
    }

    // 2. Remove entries that no longer match their instance.
    for (i, ix) in meta.indexes.iter().enumerate() {
        let buckets = if ix.kind == IndexKind::Unique {
            1
        } else {
            meta.buckets.max(1)
        };
        for bucket in 0..buckets {
            let index_keys: Vec<String> = meta
                .indexes
                .iter()
                .map(|ix| space.index(meta, ix.kind, ix.path, bucket))
                .collect();
            report.removed += sweep(client, meta, i, &index_keys, &header).await?;
        }
    }
    Ok(report)
}

/// Scans index `i` (its key in `index_keys`) and removes entries that no longer match their
/// instance, in atomic batches.
async fn sweep(
    client: &Client,
    meta: &ModelMeta,
    i: usize,
    index_keys: &[String],
    header: &impl Fn(&mut redis::Cmd, &str, &[crate::model::IndexMeta]),
) -> Result<u64> {
    let ix = &meta.indexes[i];
    let key = &index_keys[i];
    let scan = if ix.kind == IndexKind::Unique {
        "HSCAN"
    } else {
        "ZSCAN"
    };
    let mut removed = 0;
    let mut cursor = 0u64;
    loop {
        let mut cmd = redis::cmd(scan);
        cmd.arg(key).arg(cursor).arg("COUNT").arg(BATCH);
        let (next, items): (u64, Vec<Vec<u8>>) = client.query(Call::read(&cmd, key)).await?;
        // HSCAN gives value, pk pairs (kept); ZSCAN gives member, score pairs (scores dropped).
        let (batch, pks): (Vec<&Vec<u8>>, Vec<String>) = match ix.kind {
            IndexKind::Unique => (
                items.iter().collect(),
                items
                    .iter()
                    .skip(1)
                    .step_by(2)
                    .map(|pk| String::from_utf8_lossy(pk).into_owned())
                    .collect(),
            ),
            IndexKind::Lookup => {
                let members: Vec<&Vec<u8>> = items.iter().step_by(2).collect();
                let pks = members.iter().map(|m| lookup_pk(m)).collect();
                (members, pks)
            }
            _ => {
                let members: Vec<&Vec<u8>> = items.iter().step_by(2).collect();
                let pks = members
                    .iter()
                    .map(|m| String::from_utf8_lossy(m).into_owned())
                    .collect();
                (members, pks)
            }
        };
        if !batch.is_empty() {
            // A malformed lookup member has no pk: its key is the index's own (same slot).
            let keys: Vec<String> = index_keys
                .iter()
                .cloned()
                .chain(pks.iter().map(|pk| match pk.is_empty() {
                    true => key.clone(),
                    false => client.keys().instance(meta, pk),
                }))
                .collect();
            let mut cmd = scripts::REINDEX.call(&keys);
            header(&mut cmd, "sweep", meta.indexes);
            cmd.arg(i + 1).arg(batch);
            removed += client
                .query::<u64>(Call::script(&scripts::REINDEX, &cmd, key, Effect::Writes))
                .await?;
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}

/// The pk of a lookup member `<len>:<value><pk>` (empty when malformed).
fn lookup_pk(member: &[u8]) -> String {
    let text = String::from_utf8_lossy(member);
    let Some((len, rest)) = text.split_once(':') else {
        return String::new();
    };
    match len.parse::<usize>() {
        Ok(len) if rest.len() >= len => rest[len..].to_string(),
        _ => String::new(),
    }
}

/// A unique value the index gives to another pk: `index_no<TAB>value<TAB>holder<TAB>pk`.
fn parse_held(v: Value) -> Option<(usize, String, String, String)> {
    let Value::BulkString(raw) = v else {
        return None;
    };
    let text = String::from_utf8_lossy(&raw);
    let mut parts = text.splitn(4, '\t');
    let index: usize = parts.next()?.parse().ok()?;
    Some((
        index.checked_sub(1)?,
        parts.next()?.to_string(),
        parts.next()?.to_string(),
        parts.next()?.to_string(),
    ))
}
