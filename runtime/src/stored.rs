//! One instance as Redis holds it, for any model a [`ModelMeta`] describes: its keys, and its
//! whole-instance write, read and delete (each one script). [`Repo`](crate::Repo) wraps these
//! with typed values; copies between layouts ([`migrate`](crate::migrate)) use them raw.

use std::collections::HashMap;

use redis::Value;

use crate::claims::{self, Claims};
use crate::client::Client;
use crate::conn::{Call, Effect};
use crate::error::{Error, Result};
use crate::keys::Keyspace;
use crate::meta::{ContainerKind, IndexKind, IndexMeta, ModelMeta, TtlRefresh};
use crate::page::{Cursor, Page};
use crate::protocol::{self, ScriptError};
use crate::record::{ContainerData, RecordWriter, VERSION_FIELD};
use crate::reply::{array, bulk, text, unexpected};
use crate::script::ScriptArgs;
use crate::scripts;

/// The keys of one instance.
pub(crate) struct InstanceKeys {
    pub(crate) pk: String,
    pub(crate) hash: String,
    pub(crate) containers: Vec<String>,
    /// Its bucket (see [`Keyspace`]).
    pub(crate) bucket: u16,
}

impl InstanceKeys {
    /// The keys of the instance `pk` of `meta`'s model; an empty pk is refused.
    pub(crate) fn new(client: &Client, meta: &ModelMeta, pk: String) -> Result<InstanceKeys> {
        if pk.is_empty() {
            return Err(Error::InvalidKey {
                pk,
                reason: "a primary key cannot be empty",
            });
        }
        let hash = client.keys().instance(meta, &pk);
        let bucket = Keyspace::bucket_of(meta, &pk);
        let containers = meta
            .containers
            .iter()
            .map(|c| Keyspace::container(&hash, c.path))
            .collect();
        Ok(InstanceKeys {
            pk,
            hash,
            containers,
            bucket,
        })
    }
}

/// An instance as stored: its hash fields and its containers (by path).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stored {
    pub(crate) hash: HashMap<String, Vec<u8>>,
    pub(crate) containers: HashMap<String, ContainerData>,
}

/// The model's unique indexes, in `META.indexes` order.
fn unique_indexes(meta: &ModelMeta) -> impl Iterator<Item = &'static IndexMeta> {
    meta.indexes
        .iter()
        .filter(|ix| ix.kind == IndexKind::Unique)
}

/// The key of every index of the model for `bucket`, in `META.indexes` order.
fn index_keys(client: &Client, meta: &ModelMeta, bucket: u16) -> Vec<String> {
    meta.indexes
        .iter()
        .map(|ix| client.keys().index_key(meta, ix, bucket))
        .collect()
}

/// Appends the index keys kept in the instance's slot to `keys`; returns each index's position
/// in `keys` (1-based, as Lua counts), or 0 for a unique index kept apart (see `claims`).
fn place_indexes<'k>(
    meta: &ModelMeta,
    keys: &mut Vec<&'k str>,
    index_keys: &'k [String],
    apart: bool,
) -> Vec<usize> {
    meta.indexes
        .iter()
        .zip(index_keys)
        .map(|(ix, key)| {
            if apart && ix.kind == IndexKind::Unique {
                0
            } else {
                keys.push(key);
                keys.len()
            }
        })
        .collect()
}

/// How a whole-instance write treats an existing instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// Refused ([`Error::AlreadyExists`]) when the instance exists.
    Insert,
    /// Replaces whatever is there.
    Save,
    /// Refused ([`Error::NotFound`]) when the instance does not exist.
    Update,
    /// Reads the instance when it exists ([`Written::Found`]), inserts it otherwise.
    GetOrInsert,
}

impl WriteMode {
    fn wire(self) -> &'static str {
        match self {
            WriteMode::Insert => "insert",
            WriteMode::Save => "save",
            WriteMode::Update => "update",
            WriteMode::GetOrInsert => "get_or_insert",
        }
    }
}

/// What a whole-instance write did.
#[derive(Debug)]
pub(crate) enum Written {
    /// The instance was written.
    Done,
    /// A get-or-insert found the instance, written nothing, and read it.
    Found(Stored),
}

/// Writes the whole instance: hash (with `version` as its writer's schema version),
/// containers, registry entry, index entries and TTL, in one script (see
/// `lua/write_instance.lua`); with `lock` (key, token), only while that lock holds the token.
/// Unique values kept apart from the instances (see [`claims`]) are reserved first, and
/// confirmed and released after.
pub(crate) async fn write(
    client: &Client,
    meta: &ModelMeta,
    keys: &InstanceKeys,
    record: RecordWriter,
    version: &[u8],
    mode: WriteMode,
    lock: Option<(&str, &str)>,
) -> Result<Written> {
    let apart = claims::apart(client, meta);
    let new_values: Vec<Option<Vec<u8>>> = unique_indexes(meta)
        .map(|ix| {
            record
                .hash
                .iter()
                .find(|(f, _)| f == ix.path)
                .map(|(_, raw)| raw.clone())
        })
        .collect();
    let mut claims = Claims::default();
    if apart {
        // As on one server, an existing instance is reported before a unique value (the write
        // script checks again).
        if mode == WriteMode::Insert && exists(client, keys).await? {
            return Err(already_exists(meta, keys));
        }
        // Found here, it is returned; deleted before the script runs, the script inserts.
        if mode == WriteMode::GetOrInsert
            && let Some(found) = read_group(client, meta, &[keys]).await?.pop().flatten()
        {
            return Ok(Written::Found(found));
        }
        for (ix, new) in unique_indexes(meta).zip(&new_values) {
            if let Some(raw) = new {
                claims.reserve(client, meta, ix, raw, &keys.pk).await?;
            }
        }
        claims.before_write(client).await?;
    }
    let cmd = write_args(
        client,
        meta,
        keys,
        record,
        version,
        mode,
        lock,
        apart,
        claims.write_before(),
    )
    .command(&scripts::WRITE_INSTANCE);
    let result = client
        .execute(Call::script(&scripts::WRITE_INSTANCE, &cmd, Effect::Writes))
        .await;
    let olds = match result {
        Ok(reply) => match found_instead(meta, keys, reply)? {
            Ok(found) => {
                claims.abort(client).await;
                return Ok(Written::Found(found));
            }
            Err(olds) => olds,
        },
        Err(Error::Redis(e)) => {
            claims.abort(client).await;
            return Err(write_error(meta, e, keys, lock));
        }
        // The write may have landed: the reservations stay pending and heal.
        Err(e @ Error::OutcomeUnknown { .. }) => return Err(e),
        Err(e) => {
            claims.abort(client).await;
            return Err(e);
        }
    };
    if apart {
        claims.after_write(client)?;
        claims.confirm(client).await;
        Claims::after_confirm(client)?;
        for ((ix, old), new) in unique_indexes(meta).zip(olds).zip(&new_values) {
            if let Value::BulkString(old) = old
                && new.as_deref() != Some(old.as_slice())
            {
                claims::release(client, meta, ix, &old, &keys.pk).await;
            }
        }
    }
    Ok(Written::Done)
}

/// A write script's reply: the instance a get-or-insert found (`{ -1, item }`), or else the old
/// values of the unique indexes kept apart.
fn found_instead(
    meta: &ModelMeta,
    keys: &InstanceKeys,
    reply: Value,
) -> Result<std::result::Result<Stored, Vec<Value>>> {
    let items = array(reply, &keys.hash)?;
    match items.as_slice() {
        [Value::Int(-1), _] => {
            let item = items.into_iter().nth(1).unwrap_or(Value::Nil);
            let found = decode_instance(meta, keys, array(item, &keys.hash)?)?;
            found
                .map(Ok)
                .ok_or_else(|| unexpected(&keys.hash, "the instance found", &Value::Nil))
        }
        _ => Ok(Err(items)),
    }
}

fn already_exists(meta: &ModelMeta, keys: &InstanceKeys) -> Error {
    Error::AlreadyExists {
        model: meta.name,
        pk: keys.pk.clone(),
        key: keys.hash.clone(),
    }
}

/// The write script's KEYS and ARGV for one instance (see `lua/write_instance.lua`); unique
/// indexes kept apart get no key and report their old value.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_args(
    client: &Client,
    meta: &ModelMeta,
    keys: &InstanceKeys,
    mut record: RecordWriter,
    version: &[u8],
    mode: WriteMode,
    lock: Option<(&str, &str)>,
    apart: bool,
    write_before: u64,
) -> ScriptArgs {
    let ttl_ms = meta.ttl_seconds.map_or(0, |s| s.saturating_mul(1000));
    let registry = client.keys().registry(meta, keys.bucket);
    let index_keys = index_keys(client, meta, keys.bucket);
    let mut all_keys: Vec<&str> = [keys.hash.as_str(), registry.as_str()]
        .into_iter()
        .chain(keys.containers.iter().map(String::as_str))
        .collect();
    let positions = place_indexes(meta, &mut all_keys, &index_keys, apart);
    let memo = client.keys().memo_of(meta, keys.bucket);
    let memo_position = push_key(&mut all_keys, memo.as_deref());
    let lock_position = push_key(&mut all_keys, lock.map(|(lock_key, _)| lock_key));
    let mut cmd = ScriptArgs::new(&all_keys);
    cmd.arg(mode.wire())
        .arg(&keys.pk)
        .arg(ttl_ms)
        .arg(keys.containers.len())
        .arg(index_keys.len())
        .arg(lock.map_or("", |(_, token)| token))
        .arg(lock_position)
        .arg(write_before)
        .arg(memo_position);
    record.hash.retain(|(field, _)| field != VERSION_FIELD);
    cmd.arg(record.hash.len() + 1);
    cmd.arg(VERSION_FIELD).arg(version);
    for (field, raw) in &record.hash {
        cmd.arg(field).arg(raw);
    }
    for c in meta.containers {
        let data = record.containers.remove(c.path);
        let len = data.as_ref().map_or(0, ContainerData::len);
        cmd.arg(protocol::container_code(c.kind)).arg(len);
        match data {
            Some(ContainerData::List(items) | ContainerData::Set(items)) => {
                for item in items {
                    cmd.arg(item);
                }
            }
            Some(ContainerData::Map(entries)) => {
                for (k, v) in entries {
                    cmd.arg(k).arg(v);
                }
            }
            // ZADD takes score, member; a score as the codec writes a float.
            Some(ContainerData::ZSet(entries)) => {
                for (member, score) in entries {
                    cmd.arg(crate::codec::Codec::encode(&score).unwrap_or_default())
                        .arg(member);
                }
            }
            None => {}
        }
    }
    for (ix, at) in meta.indexes.iter().zip(positions) {
        index_arg(&mut cmd, ix, at);
    }
    cmd
}

/// Adds `key` (if any) to a script's KEYS; its 1-based position, 0 for none.
fn push_key<'k>(keys: &mut Vec<&'k str>, key: Option<&'k str>) -> usize {
    match key {
        Some(key) => {
            keys.push(key);
            keys.len()
        }
        None => 0,
    }
}

/// The typed error for an error reply of the write script.
fn write_error(
    meta: &ModelMeta,
    e: redis::RedisError,
    keys: &InstanceKeys,
    lock: Option<(&str, &str)>,
) -> Error {
    match ScriptError::from_redis(&e).and_then(|se| script_write_error(meta, se, keys, lock)) {
        Some(typed) => typed,
        None => e.into(),
    }
}

/// The typed error of a write script's error, if it is one the script sends.
pub(crate) fn script_write_error(
    meta: &ModelMeta,
    error: ScriptError,
    keys: &InstanceKeys,
    lock: Option<(&str, &str)>,
) -> Option<Error> {
    match error {
        ScriptError::LockLost { .. } => Some(Error::LockLost {
            key: lock.map(|(k, _)| k.to_string()).unwrap_or_default(),
        }),
        ScriptError::Exists { .. } => Some(already_exists(meta, keys)),
        ScriptError::NotFound { .. } => Some(Error::NotFound {
            model: meta.name,
            pk: keys.pk.clone(),
            key: keys.hash.clone(),
        }),
        ScriptError::Lease { .. } => Some(Error::LeaseExpired {
            model: meta.name,
            pk: keys.pk.clone(),
        }),
        ScriptError::Unique { at, holder, value } => {
            meta.indexes.get(at).map(|ix| Error::UniqueViolation {
                model: meta.name,
                field: ix.path.to_string(),
                value,
                holder,
            })
        }
        _ => None,
    }
}

/// True when the instance exists.
pub(crate) async fn exists(client: &Client, keys: &InstanceKeys) -> Result<bool> {
    let mut cmd = redis::cmd("EXISTS");
    cmd.arg(&keys.hash);
    let n: i64 = client.query(Call::read(&cmd)).await?;
    Ok(n == 1)
}

/// Deletes the instance and all its keys, registry and index entries in one script; unique
/// values kept apart are released after. Returns whether it existed.
pub(crate) async fn delete(client: &Client, meta: &ModelMeta, keys: &InstanceKeys) -> Result<bool> {
    let cmd = delete_args(client, meta, keys).command(&scripts::DELETE_INSTANCE);
    let reply = client
        .execute(Call::script(
            &scripts::DELETE_INSTANCE,
            &cmd,
            Effect::Writes,
        ))
        .await?;
    deleted(client, meta, keys, reply).await
}

/// What the delete script's reply for `keys` says: whether it existed. Unique values kept apart
/// are released once the instance is gone (a crash in between leaves a claim naming a missing
/// instance, which the next writer takes over).
pub(crate) async fn deleted(
    client: &Client,
    meta: &ModelMeta,
    keys: &InstanceKeys,
    reply: Value,
) -> Result<bool> {
    let mut reply = array(reply, &keys.hash)?.into_iter();
    let existed = matches!(reply.next(), Some(Value::Int(1)));
    for (ix, old) in unique_indexes(meta).zip(reply) {
        if let Value::BulkString(old) = old {
            claims::release(client, meta, ix, &old, &keys.pk).await;
        }
    }
    Ok(existed)
}

/// The delete script's KEYS and ARGV for one instance (see `lua/delete_instance.lua`).
pub(crate) fn delete_args(client: &Client, meta: &ModelMeta, keys: &InstanceKeys) -> ScriptArgs {
    let apart = claims::apart(client, meta);
    let registry = client.keys().registry(meta, keys.bucket);
    let index_keys = index_keys(client, meta, keys.bucket);
    let fences = Keyspace::fences(&keys.hash);
    let mut all_keys: Vec<&str> = [keys.hash.as_str(), registry.as_str(), fences.as_str()]
        .into_iter()
        .chain(keys.containers.iter().map(String::as_str))
        .collect();
    let positions = place_indexes(meta, &mut all_keys, &index_keys, apart);
    let memo = client.keys().memo_of(meta, keys.bucket);
    let memo_position = push_key(&mut all_keys, memo.as_deref());
    let mut cmd = ScriptArgs::new(&all_keys);
    cmd.arg(&keys.pk)
        .arg(keys.containers.len())
        .arg(meta.indexes.len())
        .arg(memo_position);
    for (ix, at) in meta.indexes.iter().zip(positions) {
        index_arg(&mut cmd, ix, at);
    }
    cmd
}

/// One index of a write or delete script: kind, path, partition path, key position.
fn index_arg(cmd: &mut ScriptArgs, ix: &IndexMeta, at: usize) {
    cmd.arg(protocol::index_wire(ix).as_ref())
        .arg(ix.path)
        .arg(ix.partition.unwrap_or(""))
        .arg(at);
}

/// One page of the live pks of `meta`'s model after `after`, in (expiry, pk) order, merged
/// over its buckets (see [`Repo::page`](crate::Repo::page)): each pk with its registry key.
pub(crate) async fn live_page(
    client: &Client,
    meta: &ModelMeta,
    after: Option<&Cursor>,
    limit: usize,
) -> Result<Page<(String, String)>> {
    let limit_arg = limit.min(i64::MAX as usize);
    let cursor = after.map(|c| (c.score_arg(), c.pk.clone()));
    let reads = (0..meta.buckets.max(1)).map(|bucket| {
        let registry = client.keys().registry(meta, bucket);
        let cursor = &cursor;
        async move {
            let mut cmd = scripts::LIVE_PKS.call(&[&registry]);
            cmd.arg("page").arg(limit_arg);
            if let Some((score, pk)) = cursor {
                cmd.arg(score).arg(pk);
            }
            let reply = client
                .execute(Call::script(&scripts::LIVE_PKS, &cmd, Effect::Reads))
                .await?;
            Ok::<_, Error>((registry, reply))
        }
    });
    let mut entries: Vec<(f64, String, String)> = Vec::new();
    for (registry, reply) in futures_util::future::try_join_all(reads).await? {
        for pair in array(reply, &registry)?.chunks(2) {
            let [member, score] = pair else { continue };
            let pk = text(member.clone(), &registry)?;
            let score = match score {
                Value::Double(d) => *d,
                other => {
                    let raw = bulk(other.clone(), &registry)?;
                    match String::from_utf8_lossy(&raw).as_ref() {
                        "inf" | "+inf" => f64::INFINITY,
                        text => text.parse().map_err(|_| Error::Decode {
                            key: registry.clone(),
                            field: format!("member {pk:?}"),
                            reason: format!("expiry {text:?} is not a number"),
                        })?,
                    }
                }
            };
            entries.push((score, pk, registry.clone()));
        }
    }
    entries.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then_with(|| a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    entries.truncate(limit);
    let next = (entries.len() == limit && limit > 0)
        .then(|| {
            entries.last().map(|(score, pk, _)| Cursor {
                score: *score,
                pk: pk.clone(),
            })
        })
        .flatten();
    Ok(Page {
        items: entries.into_iter().map(|(_, pk, reg)| (pk, reg)).collect(),
        next,
    })
}

/// The read script's command for `instances` (see `lua/read_instances.lua`).
pub(crate) fn read_command(meta: &ModelMeta, instances: &[&InstanceKeys]) -> redis::Cmd {
    let keys: Vec<&str> = instances
        .iter()
        .flat_map(|k| {
            std::iter::once(k.hash.as_str()).chain(k.containers.iter().map(String::as_str))
        })
        .collect();
    let mut cmd = scripts::READ_INSTANCES.call(&keys);
    cmd.arg(meta.containers.len());
    for c in meta.containers {
        cmd.arg(protocol::container_code(c.kind));
    }
    cmd
}

fn hgetall(key: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("HGETALL");
    cmd.arg(key);
    cmd
}

/// The command reading every element of a container key, as `read_container` in
/// `lua/common.lua` does (the two are decoded alike, by [`decode_read`]).
fn container_read(kind: ContainerKind, key: &str) -> redis::Cmd {
    let mut cmd = match kind {
        ContainerKind::List => redis::cmd("LRANGE"),
        ContainerKind::Set => redis::cmd("SMEMBERS"),
        ContainerKind::Map => redis::cmd("HGETALL"),
        ContainerKind::ZSet => redis::cmd("ZRANGE"),
    };
    cmd.arg(key);
    match kind {
        ContainerKind::List => {
            cmd.arg(0).arg(-1);
        }
        ContainerKind::ZSet => {
            cmd.arg(0).arg(-1).arg("WITHSCORES");
        }
        ContainerKind::Set | ContainerKind::Map => {}
    }
    cmd
}

/// Reads `instances` in one atomic step (they must share a slot on a cluster).
pub(crate) async fn read_group(
    client: &Client,
    meta: &ModelMeta,
    instances: &[&InstanceKeys],
) -> Result<Vec<Option<Stored>>> {
    if instances.is_empty() {
        return Ok(Vec::new());
    }
    let reply = match (meta.ttl_seconds, meta.ttl_refresh) {
        (Some(seconds), TtlRefresh::OnRead) => {
            let cmd = read_refreshing_command(client, meta, instances, seconds);
            // Re-arming twice is as good as once: safe to resend.
            let call = Call::script(
                &scripts::READ_INSTANCES_REFRESHING,
                &cmd,
                Effect::Idempotent,
            );
            client.execute(call).await?
        }
        // One server: the same reads in one MULTI/EXEC, at a fifth of the script's server cost
        // (see `Client::read_atomically`), shaped like the script's reply. A server past
        // `maxmemory` refuses every command queued in MULTI, reads included, but still runs
        // read-only scripts: reads then fall back to the script.
        _ if !client.is_cluster() => match read_transaction(client, meta, instances).await {
            Err(Error::OutOfMemory { .. }) => read_script(client, meta, instances).await?,
            other => other?,
        },
        _ => read_script(client, meta, instances).await?,
    };
    decode_read(meta, instances, reply)
}

/// The read script's reply for `instances`.
async fn read_script(
    client: &Client,
    meta: &ModelMeta,
    instances: &[&InstanceKeys],
) -> Result<Value> {
    let cmd = read_command(meta, instances);
    client
        .execute(Call::script(&scripts::READ_INSTANCES, &cmd, Effect::Reads))
        .await
}

/// The reads of `instances` in one MULTI/EXEC, as the read script's reply.
async fn read_transaction(
    client: &Client,
    meta: &ModelMeta,
    instances: &[&InstanceKeys],
) -> Result<Value> {
    let replies = client
        .read_atomically(instance_reads(meta, instances))
        .await?;
    Ok(as_read_reply(meta, instances.len(), replies))
}

/// The plain commands reading `instances` (each its hash, then its containers in the model's
/// order), as the read script does.
pub(crate) fn instance_reads(meta: &ModelMeta, instances: &[&InstanceKeys]) -> Vec<redis::Cmd> {
    instances
        .iter()
        .flat_map(|k| {
            std::iter::once(hgetall(&k.hash)).chain(
                meta.containers
                    .iter()
                    .zip(&k.containers)
                    .map(|(c, key)| container_read(c.kind, key)),
            )
        })
        .collect()
}

/// The replies of [`instance_reads`] for `count` instances, shaped as the read script's reply
/// (one array per instance), for [`decode_read`].
pub(crate) fn as_read_reply(
    meta: &ModelMeta,
    count: usize,
    replies: impl IntoIterator<Item = Value>,
) -> Value {
    let mut replies = replies.into_iter();
    let per_instance = 1 + meta.containers.len();
    Value::Array(
        (0..count)
            .map(|_| Value::Array(replies.by_ref().take(per_instance).collect()))
            .collect(),
    )
}

/// The read script's command re-arming the TTL of what it reads (`refresh: read`).
fn read_refreshing_command(
    client: &Client,
    meta: &ModelMeta,
    instances: &[&InstanceKeys],
    ttl_seconds: u64,
) -> redis::Cmd {
    let extra: Vec<[String; 2]> = instances
        .iter()
        .map(|k| {
            [
                Keyspace::fences(&k.hash),
                client.keys().registry(meta, k.bucket),
            ]
        })
        .collect();
    let keys: Vec<&str> = instances
        .iter()
        .zip(&extra)
        .flat_map(|(k, [fences, registry])| {
            std::iter::once(k.hash.as_str())
                .chain(k.containers.iter().map(String::as_str))
                .chain([fences.as_str(), registry.as_str()])
        })
        .collect();
    let mut cmd = scripts::READ_INSTANCES_REFRESHING.call(&keys);
    cmd.arg(meta.containers.len());
    for c in meta.containers {
        cmd.arg(protocol::container_code(c.kind));
    }
    cmd.arg(ttl_seconds.saturating_mul(1000));
    for k in instances {
        cmd.arg(&k.pk);
    }
    cmd
}

/// Reads `keys`: on one server in calls of up to 256 instances, on a cluster one call per slot
/// (and per 256), all sent concurrently. `None` for a missing instance.
pub(crate) async fn read_many(
    client: &Client,
    meta: &ModelMeta,
    keys: &[InstanceKeys],
) -> Result<Vec<Option<Stored>>> {
    const GROUP: usize = 256;
    // One instance (every `get`): one read, without grouping by slot.
    if let [one] = keys {
        return read_group(client, meta, &[one]).await;
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_slot: HashMap<u16, usize> = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        let slot = if client.is_cluster() {
            crate::slot::slot(k.hash.as_bytes())
        } else {
            0
        };
        let group = match by_slot.get(&slot) {
            Some(&g) if groups[g].len() < GROUP => g,
            _ => {
                groups.push(Vec::new());
                by_slot.insert(slot, groups.len() - 1);
                groups.len() - 1
            }
        };
        groups[group].push(i);
    }
    let reads = groups.iter().map(|group| {
        let members: Vec<&InstanceKeys> = group.iter().map(|&i| &keys[i]).collect();
        async move { read_group(client, meta, &members).await }
    });
    let results = futures_util::future::try_join_all(reads).await?;
    let mut out: Vec<Option<Stored>> = std::iter::repeat_with(|| None).take(keys.len()).collect();
    for (group, values) in groups.iter().zip(results) {
        for (&i, value) in group.iter().zip(values) {
            out[i] = value;
        }
    }
    Ok(out)
}

/// Decodes the reply of the read script for `instances`.
pub(crate) fn decode_read(
    meta: &ModelMeta,
    instances: &[&InstanceKeys],
    reply: Value,
) -> Result<Vec<Option<Stored>>> {
    let items = array(reply, &instances[0].hash)?;
    if items.len() != instances.len() {
        return Err(unexpected(
            &instances[0].hash,
            "one reply per instance",
            &Value::Int(items.len() as i64),
        ));
    }
    instances
        .iter()
        .zip(items)
        .map(|(keys, item)| decode_instance(meta, keys, array(item, &keys.hash)?))
        .collect()
}

/// The parts read for one instance (hash fields, then each container), or `None` when it does
/// not exist.
fn decode_instance(
    meta: &ModelMeta,
    keys: &InstanceKeys,
    parts: Vec<Value>,
) -> Result<Option<Stored>> {
    let mut parts = parts.into_iter();
    let hash = pairs(parts.next().unwrap_or(Value::Nil), &keys.hash)?;
    if hash.is_empty() {
        return Ok(None);
    }
    let mut containers = HashMap::new();
    for ((key, c), reply) in keys.containers.iter().zip(meta.containers).zip(parts) {
        let data = match c.kind {
            ContainerKind::List => ContainerData::List(bulk_items(reply, key)?),
            ContainerKind::Set => ContainerData::Set(bulk_items(reply, key)?),
            ContainerKind::Map => ContainerData::Map(pairs(reply, key)?),
            ContainerKind::ZSet => ContainerData::ZSet(scored(reply, key)?),
        };
        containers.insert(c.path.to_string(), data);
    }
    Ok(Some(Stored {
        hash: hash.into_iter().collect(),
        containers,
    }))
}

/// Member/score pairs of a ZRANGE WITHSCORES reply (flat, as a script returns it).
fn scored(reply: Value, key: &str) -> Result<Vec<(Vec<u8>, f64)>> {
    // RESP2 (and a script's reply): member, score, member, score...; RESP3: [member, score]
    // pairs, each score a double.
    let mut items = array(reply, key)?
        .into_iter()
        .flat_map(|item| match item {
            Value::Array(pair) if pair.len() == 2 => pair,
            other => vec![other],
        })
        .map(|v| match v {
            Value::Double(d) => Value::BulkString(d.to_string().into_bytes()),
            other => other,
        });
    let mut out = Vec::new();
    while let (Some(member), Some(score)) = (items.next(), items.next()) {
        let member = bulk(member, key)?;
        let text = bulk(score, key)?;
        let score = String::from_utf8_lossy(&text)
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite())
            .ok_or_else(|| Error::Decode {
                key: key.to_string(),
                field: format!("score of {:?}", String::from_utf8_lossy(&member)),
                reason: format!(
                    "{:?} is not a finite number",
                    String::from_utf8_lossy(&text)
                ),
            })?;
        out.push((member, score));
    }
    Ok(out)
}

fn bulk_items(reply: Value, key: &str) -> Result<Vec<Vec<u8>>> {
    array(reply, key)?
        .into_iter()
        .map(|v| bulk(v, key))
        .collect()
}

/// Field/value pairs of an HGETALL reply (RESP2 flat array or RESP3 map).
pub(crate) fn pairs(reply: Value, key: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let flat: Vec<(Value, Value)> = match reply {
        Value::Map(entries) => entries,
        other => {
            let mut items = array(other, key)?.into_iter();
            let mut out = Vec::new();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                out.push((k, v));
            }
            out
        }
    };
    flat.into_iter()
        .map(|(k, v)| {
            let name = bulk(k, key)?;
            let name = String::from_utf8(name).map_err(|e| Error::Decode {
                key: key.to_string(),
                field: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                reason: "field name is not UTF-8".into(),
            })?;
            Ok((name, bulk(v, key)?))
        })
        .collect()
}
