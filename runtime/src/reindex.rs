//! Rebuilding a model's indexes from its instances: after adding an index to a schema, after data
//! was written by other code, or after a failover lost recent writes.
//!
//! Two phases, each made of atomic steps over small batches, so live writers may keep going:
//! 1. every live instance (from the registry) gets its index entries written;
//! 2. every index is scanned (ZSCAN/HSCAN) and entries that no longer match their instance are
//!    removed.

use redis::Value;

use crate::claims::{self, Claims};
use crate::client::Client;
use crate::conn::{Call, Effect};
use crate::error::{Error, Result};
use crate::keys::Keyspace;
use crate::meta::{IndexKind, IndexMeta, ModelMeta};
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
    // Expired instances first: what they left is forgotten, not rebuilt; a memo left by an
    // earlier schema (one with a ttl) goes.
    crate::expiry::purge_all(client, meta).await?;
    crate::expiry::drop_stale_memos(client, meta).await?;
    if meta.indexes.is_empty() {
        return Ok(report);
    }
    let space = client.keys();
    // Unique indexes kept apart from the instances (see `claims`) are rebuilt through claims;
    // every other index by scripts in the instances' slots.
    let apart = claims::apart(client, meta);
    let local: Vec<IndexMeta> = meta
        .indexes
        .iter()
        .filter(|ix| !(apart && ix.kind == IndexKind::Unique))
        .copied()
        .collect();
    let unique_apart: Vec<&IndexMeta> = meta
        .indexes
        .iter()
        .filter(|ix| apart && ix.kind == IndexKind::Unique)
        .collect();
    let header = |cmd: &mut redis::Cmd, mode: &str, indexes: &[IndexMeta]| {
        cmd.arg(mode).arg(indexes.len());
        for ix in indexes {
            let old = meta.renamed_from(ix.path).unwrap_or("");
            cmd.arg(protocol::index_wire(ix).as_ref())
                .arg(ix.path)
                .arg(old)
                .arg(ix.partition.unwrap_or(""));
        }
    };
    let hash = |pk: &str| space.instance(meta, pk);

    // 1. Write the entries of every live instance, bucket by bucket.
    for bucket in 0..meta.buckets.max(1) {
        let index_keys: Vec<String> = local
            .iter()
            .map(|ix| space.index_key(meta, ix, bucket))
            .collect();
        let registry = space.registry(meta, bucket);
        let mut live = scripts::LIVE_PKS.call(&[&registry]);
        live.arg("list");
        let pks: Vec<String> = client
            .query(Call::script(&scripts::LIVE_PKS, &live, Effect::Reads))
            .await?;
        report.instances += pks.len() as u64;
        for batch in pks.chunks(BATCH) {
            for ix in &unique_apart {
                claim_all(client, meta, ix, batch, &mut report).await?;
            }
            if local.is_empty() {
                continue;
            }
            let keys: Vec<String> = index_keys
                .iter()
                .cloned()
                .chain(batch.iter().map(|pk| hash(pk)))
                .collect();
            let mut cmd = scripts::REINDEX.call(&keys);
            header(&mut cmd, "set", &local);
            cmd.arg(batch);
            let reply: Vec<Value> = client
                .query(Call::script(&scripts::REINDEX, &cmd, Effect::Idempotent))
                .await?;
            let mut reply = reply.into_iter();
            if let Some(Value::Int(n)) = reply.next() {
                report.written += n as u64;
            }
            for held in reply {
                let Some((i, value, holder, pk)) = parse_held(held) else {
                    continue;
                };
                let Some(ix) = local.get(i) else {
                    continue;
                };
                let keys = [index_keys[i].clone(), hash(&holder)];
                let mut cmd = scripts::REINDEX.call(&keys);
                header(&mut cmd, "claim", std::slice::from_ref(ix));
                cmd.arg(&value).arg(&holder).arg(&pk);
                let claimed: i64 = client
                    .query(Call::script(&scripts::REINDEX, &cmd, Effect::Idempotent))
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
    for (i, ix) in local.iter().enumerate() {
        let buckets = if ix.kind == IndexKind::Unique {
            1
        } else {
            meta.buckets.max(1)
        };
        for bucket in 0..buckets {
            let index_keys: Vec<String> = local
                .iter()
                .map(|ix| space.index_key(meta, ix, bucket))
                .collect();
            report.removed += sweep(client, meta, &local, i, &index_keys, &header).await?;
        }
    }
    for ix in unique_apart {
        report.removed += sweep_claims(client, meta, ix).await?;
    }
    Ok(report)
}

/// Scans index `i` (its key in `index_keys`) and removes entries that no longer match their
/// instance, in atomic batches.
async fn sweep(
    client: &Client,
    meta: &ModelMeta,
    indexes: &[IndexMeta],
    i: usize,
    index_keys: &[String],
    header: &impl Fn(&mut redis::Cmd, &str, &[IndexMeta]),
) -> Result<u64> {
    let ix = &indexes[i];
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
        let (next, items): (u64, Vec<Vec<u8>>) = client.query(Call::read(&cmd)).await?;
        // HSCAN gives value, record pairs (kept); ZSCAN gives member, score pairs (scores
        // dropped).
        let (batch, pks): (Vec<&Vec<u8>>, Vec<String>) = match ix.kind {
            IndexKind::Unique => (
                items.iter().collect(),
                items
                    .iter()
                    .skip(1)
                    .step_by(2)
                    .map(|record| {
                        let record = String::from_utf8_lossy(record);
                        claims::record_holder(&record)
                            .unwrap_or_default()
                            .to_string()
                    })
                    .collect(),
            ),
            // A lookup member is the length-prefixed value then the pk; a partitioned one has
            // the score's 8 bytes between them.
            _ if ix.kind == IndexKind::Lookup || ix.partition.is_some() => {
                let members: Vec<&Vec<u8>> = items.iter().step_by(2).collect();
                let skip = if ix.partition.is_some() { 8 } else { 0 };
                let pks = members.iter().map(|m| prefixed_pk(m, skip)).collect();
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
            // An entry with no pk (malformed) or with a pk of another bucket (misplaced) has no
            // instance here: it gets a key of this slot that holds nothing, so it is removed.
            let nothing = format!("{key}:nothing");
            let keys: Vec<String> = index_keys
                .iter()
                .cloned()
                .chain(pks.iter().map(|pk| {
                    let here = ix.kind == IndexKind::Unique || meta.buckets <= 1 || {
                        let own = client
                            .keys()
                            .index_key(meta, ix, Keyspace::bucket_of(meta, pk));
                        own == *key
                    };
                    if pk.is_empty() || !here {
                        nothing.clone()
                    } else {
                        client.keys().instance(meta, pk)
                    }
                }))
                .collect();
            let mut cmd = scripts::REINDEX.call(&keys);
            header(&mut cmd, "sweep", indexes);
            cmd.arg(i + 1).arg(batch);
            removed += client
                .query::<u64>(Call::script(&scripts::REINDEX, &cmd, Effect::Idempotent))
                .await?;
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}

/// Claims the values of the unique index `ix` (kept apart) for the instances `pks`, through
/// the claim protocol: a value another live instance holds is a conflict.
async fn claim_all(
    client: &Client,
    meta: &ModelMeta,
    ix: &IndexMeta,
    pks: &[String],
    report: &mut ReindexReport,
) -> Result<()> {
    for pk in pks {
        let Some(value) = claims::indexed_value(client, meta, ix, pk).await? else {
            continue;
        };
        let mut claims = Claims::default();
        match claims.reserve(client, meta, ix, &value, pk).await {
            Ok(()) => {
                claims.confirm(client).await;
                report.written += 1;
            }
            Err(Error::UniqueViolation { holder, value, .. }) => {
                report.conflicts.push(UniqueConflict {
                    field: ix.path.to_string(),
                    value,
                    holder,
                    other: pk.clone(),
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Removes the claims of the unique index `ix` (kept apart) whose holder no longer has the
/// value; expired pending claims whose holder has it are committed.
async fn sweep_claims(client: &Client, meta: &ModelMeta, ix: &IndexMeta) -> Result<u64> {
    let key = client.keys().index(meta, IndexKind::Unique, ix.path, 0);
    let mut removed = 0;
    let mut cursor = 0u64;
    loop {
        let mut cmd = redis::cmd("HSCAN");
        cmd.arg(&key).arg(cursor).arg("COUNT").arg(BATCH);
        let (next, items): (u64, Vec<Vec<u8>>) = client.query(Call::read(&cmd)).await?;
        for pair in items.chunks(2) {
            let [value, record] = pair else { continue };
            let record = String::from_utf8_lossy(record).into_owned();
            let holds = match claims::record_holder(&record) {
                Some(holder) => claims::holds(client, meta, ix, holder, value).await?,
                None => false,
            };
            // A pending claim may belong to a write in flight: only the claims script may
            // decide it is stale, by its deadline.
            let step = match (holds, record.starts_with('?')) {
                (true, true) => "promote_expired",
                (true, false) => continue,
                (false, true) => "drop_expired",
                (false, false) => "drop",
            };
            let mut cmd = scripts::CLAIMS.call(&[&key]);
            cmd.arg(step).arg(value).arg(&record);
            let n: i64 = client
                .query(Call::script(&scripts::CLAIMS, &cmd, Effect::Idempotent))
                .await?;
            if step != "promote_expired" {
                removed += u64::try_from(n).unwrap_or(0);
            }
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}

/// The pk of a member `<len>:<value>` + `skip` bytes + pk: a lookup member (`skip` 0) or a
/// partitioned one (the score's 8 bytes); empty when malformed.
fn prefixed_pk(member: &[u8], skip: usize) -> String {
    let Some(colon) = member.iter().position(|&b| b == b':') else {
        return String::new();
    };
    let len = std::str::from_utf8(&member[..colon])
        .ok()
        .and_then(|len| len.parse::<usize>().ok());
    match len.and_then(|len| member.get(colon + 1 + len + skip..)) {
        Some(pk) => String::from_utf8_lossy(pk).into_owned(),
        None => String::new(),
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
