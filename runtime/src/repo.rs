//! The generic repository: whole-instance operations for any [`Model`].

use std::borrow::Borrow;
use std::collections::HashMap;
use std::marker::PhantomData;

use redis::Value;

use crate::claims::{self, Claims};
use crate::client::Client;
use crate::conn::{Call, Effect};
use crate::error::{Error, Result};
use crate::keys::Keyspace;
use crate::model::{ContainerKind, IndexKind, IndexMeta, Model, PkRef, PrimaryKey};
use crate::ops::Instance;
use crate::page::{Cursor, Page};
use crate::protocol::{self, ScriptError};
use crate::record::{ContainerData, RecordReader, RecordWriter, VERSION_FIELD};
use crate::scripts;

/// Whole-instance operations on one model. Generated repositories deref to this.
pub struct Repo<M> {
    client: Client,
    model: PhantomData<fn() -> M>,
}

impl<M> Clone for Repo<M> {
    fn clone(&self) -> Self {
        Repo {
            client: self.client.clone(),
            model: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for Repo<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("model", &std::any::type_name::<M>())
            .finish()
    }
}

/// The keys of one instance.
pub(crate) struct InstanceKeys {
    pub(crate) pk: String,
    pub(crate) hash: String,
    pub(crate) containers: Vec<String>,
    /// Its bucket (see [`Keyspace`]).
    pub(crate) bucket: u16,
}

impl<M: Model> Repo<M> {
    /// A repository over `client`.
    pub fn new(client: &Client) -> Self {
        Repo {
            client: client.clone(),
            model: PhantomData,
        }
    }

    /// The client this repository uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn instance_keys<Q: PkRef + ?Sized>(&self, pk: &Q) -> Result<InstanceKeys> {
        let pk = pk.pk_text().into_owned();
        if pk.is_empty() {
            return Err(Error::InvalidKey {
                pk,
                reason: "a primary key cannot be empty",
            });
        }
        let hash = self.client.keys().instance(&M::META, &pk);
        let bucket = Keyspace::bucket_of(&M::META, &pk);
        let containers = M::META
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

    /// A handle on the instance with this pk, for field operations (no I/O). Generated code
    /// wraps it in a typed `<Model>Fields`.
    pub fn instance<Q: PkRef + ?Sized>(&self, pk: &Q) -> Instance
    where
        M::Pk: Borrow<Q>,
    {
        Instance::new(&self.client, M::META, pk.pk_text())
    }

    /// The Redis key of the instance's hash, e.g. `Player:{9f0c...}`.
    pub fn key_of<Q: PkRef + ?Sized>(&self, pk: &Q) -> Result<String>
    where
        M::Pk: Borrow<Q>,
    {
        Ok(self.instance_keys(pk)?.hash)
    }

    /// Every key that belongs to the instance (hash and containers), for inspection and tests.
    pub fn keys_of<Q: PkRef + ?Sized>(&self, pk: &Q) -> Result<Vec<String>>
    where
        M::Pk: Borrow<Q>,
    {
        let keys = self.instance_keys(pk)?;
        Ok(std::iter::once(keys.hash).chain(keys.containers).collect())
    }

    fn registry(&self, bucket: u16) -> String {
        self.client.keys().registry(&M::META, bucket)
    }

    /// Creates the instance. If one with the same pk exists, fails with
    /// [`Error::AlreadyExists`] and changes nothing. Atomic (one script).
    pub async fn insert(&self, value: &M) -> Result<()> {
        self.write(value, "insert").await
    }

    /// Creates or replaces the whole instance (fields, containers, TTL) atomically (one script).
    pub async fn save(&self, value: &M) -> Result<()> {
        self.write(value, "save").await
    }

    async fn write(&self, value: &M, mode: &str) -> Result<()> {
        self.write_locked(value, mode, None).await
    }

    /// Writes the whole instance; with `lock` (key, token), only while that lock holds the token,
    /// checked in the same script.
    pub(crate) async fn write_locked(
        &self,
        value: &M,
        mode: &str,
        lock: Option<(&str, &str)>,
    ) -> Result<()> {
        let keys = self.instance_keys(value.pk())?;
        let mut record = RecordWriter::default();
        value.write_record(&mut record)?;
        let apart = claims::apart(&self.client, &M::META);
        // A unique index kept apart: its new value is reserved first (see `claims`).
        let mut claims = Claims::default();
        if apart {
            // As on one server, an existing instance is reported before a unique value (the
            // write script checks again).
            if mode == "insert" && self.exists(value.pk()).await? {
                return Err(Error::AlreadyExists {
                    model: M::META.name,
                    pk: keys.pk,
                    key: keys.hash,
                });
            }
            for ix in unique_indexes::<M>() {
                if let Some((_, raw)) = record.hash.iter().find(|(f, _)| f == ix.path) {
                    claims
                        .reserve(&self.client, &M::META, ix, raw, &keys.pk)
                        .await?;
                }
            }
            claims.before_write(&self.client).await?;
        }
        let cmd = self.write_command(&keys, record, mode, lock, apart, claims.write_before());
        let result = self
            .client
            .execute(Call::script(&scripts::WRITE_INSTANCE, &cmd, Effect::Writes))
            .await;
        let olds = match result {
            Ok(reply) => array(reply, &keys.hash)?,
            Err(Error::Redis(e)) => {
                claims.abort(&self.client).await;
                return Err(self.write_error(e, &keys, lock));
            }
            // The write may have landed: the reservations stay pending and heal.
            Err(e @ Error::OutcomeUnknown { .. }) => return Err(e),
            Err(e) => {
                claims.abort(&self.client).await;
                return Err(e);
            }
        };
        if apart {
            claims.after_write(&self.client)?;
            claims.confirm(&self.client).await;
            Claims::after_confirm(&self.client)?;
            for (ix, old) in unique_indexes::<M>().zip(olds) {
                let Value::BulkString(old) = old else {
                    continue;
                };
                let new = record_value(value, ix.path)?;
                if new.as_deref() != Some(old.as_slice()) {
                    claims::release(&self.client, &M::META, ix, &old, &keys.pk).await;
                }
            }
        }
        Ok(())
    }

    /// The write script's command (see `lua/write_instance.lua`); unique indexes kept apart get
    /// no key and report their old value.
    fn write_command(
        &self,
        keys: &InstanceKeys,
        mut record: RecordWriter,
        mode: &str,
        lock: Option<(&str, &str)>,
        apart: bool,
        write_before: u64,
    ) -> redis::Cmd {
        let ttl_ms = M::META.ttl_seconds.map_or(0, |s| s.saturating_mul(1000));
        let registry = self.registry(keys.bucket);
        let index_keys = self.index_keys(keys.bucket);
        let mut all_keys: Vec<&str> = [keys.hash.as_str(), registry.as_str()]
            .into_iter()
            .chain(keys.containers.iter().map(String::as_str))
            .collect();
        let positions = place_indexes::<M>(&mut all_keys, &index_keys, apart);
        let lock_position = match lock {
            Some((lock_key, _)) => {
                all_keys.push(lock_key);
                all_keys.len()
            }
            None => 0,
        };
        let mut cmd = scripts::WRITE_INSTANCE.call(&all_keys);
        cmd.arg(mode)
            .arg(&keys.pk)
            .arg(ttl_ms)
            .arg(keys.containers.len())
            .arg(index_keys.len())
            .arg(lock.map_or("", |(_, token)| token))
            .arg(lock_position)
            .arg(write_before);
        cmd.arg(record.hash.len() + 1);
        cmd.arg(VERSION_FIELD).arg(M::META.schema_version);
        for (field, raw) in &record.hash {
            cmd.arg(field).arg(raw);
        }
        for meta in M::META.containers {
            let data = record.containers.remove(meta.path);
            let len = data.as_ref().map_or(0, ContainerData::len);
            cmd.arg(protocol::container_code(meta.kind)).arg(len);
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
                None => {}
            }
        }
        for (ix, at) in M::META.indexes.iter().zip(positions) {
            cmd.arg(protocol::index_code(ix.kind)).arg(ix.path).arg(at);
        }
        cmd
    }

    /// The typed error for an error reply of the write script.
    fn write_error(
        &self,
        e: redis::RedisError,
        keys: &InstanceKeys,
        lock: Option<(&str, &str)>,
    ) -> Error {
        match ScriptError::from_redis(&e) {
            Some(ScriptError::LockLost { .. }) => Error::LockLost {
                key: lock.map(|(k, _)| k.to_string()).unwrap_or_default(),
            },
            Some(ScriptError::Exists { .. }) => Error::AlreadyExists {
                model: M::META.name,
                pk: keys.pk.clone(),
                key: keys.hash.clone(),
            },
            Some(ScriptError::Lease { .. }) => Error::LeaseExpired {
                model: M::META.name,
                pk: keys.pk.clone(),
            },
            Some(ScriptError::Unique { at, holder, value }) => match M::META.indexes.get(at) {
                Some(ix) => Error::UniqueViolation {
                    model: M::META.name,
                    field: ix.path.to_string(),
                    value,
                    holder,
                },
                None => e.into(),
            },
            _ => e.into(),
        }
    }

    /// The key of every index of the model for `bucket`, in `META.indexes` order.
    fn index_keys(&self, bucket: u16) -> Vec<String> {
        M::META
            .indexes
            .iter()
            .map(|ix| self.client.keys().index(&M::META, ix.kind, ix.path, bucket))
            .collect()
    }

    /// The read script's command for `instances` (see `lua/read_instances.lua`).
    pub(crate) fn read_command(instances: &[&InstanceKeys]) -> redis::Cmd {
        let keys: Vec<&str> = instances
            .iter()
            .flat_map(|k| {
                std::iter::once(k.hash.as_str()).chain(k.containers.iter().map(String::as_str))
            })
            .collect();
        let mut cmd = scripts::READ_INSTANCES.call(&keys);
        cmd.arg(M::META.containers.len());
        for c in M::META.containers {
            cmd.arg(protocol::container_code(c.kind));
        }
        cmd
    }

    /// Reads `instances` in one atomic step (they must share a slot on a cluster).
    async fn read_group(&self, instances: &[&InstanceKeys]) -> Result<Vec<Option<M>>> {
        if instances.is_empty() {
            return Ok(Vec::new());
        }
        let cmd = Self::read_command(instances);
        let reply = self
            .client
            .execute(Call::script(&scripts::READ_INSTANCES, &cmd, Effect::Reads))
            .await?;
        Self::decode_read(instances, reply)
    }

    /// Decodes the reply of the read script for `instances`.
    pub(crate) fn decode_read(instances: &[&InstanceKeys], reply: Value) -> Result<Vec<Option<M>>> {
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
            .map(|(keys, item)| Self::decode_instance(keys, array(item, &keys.hash)?))
            .collect()
    }

    /// Turns the parts read for one instance (hash fields, then each container) into a value,
    /// or `None` if it does not exist.
    pub(crate) fn decode_instance(keys: &InstanceKeys, parts: Vec<Value>) -> Result<Option<M>> {
        let mut parts = parts.into_iter();
        let hash = pairs(parts.next().unwrap_or(Value::Nil), &keys.hash)?;
        if hash.is_empty() {
            return Ok(None);
        }
        let hash: HashMap<String, Vec<u8>> = hash.into_iter().collect();
        let mut containers = HashMap::new();
        for ((key, meta), reply) in keys.containers.iter().zip(M::META.containers).zip(parts) {
            let data = match meta.kind {
                ContainerKind::List => ContainerData::List(bulk_items(reply, key)?),
                ContainerKind::Set => ContainerData::Set(bulk_items(reply, key)?),
                ContainerKind::Map => ContainerData::Map(pairs(reply, key)?),
            };
            containers.insert(meta.path.to_string(), data);
        }
        let mut reader = RecordReader::new(keys.hash.clone(), hash, containers);
        for (new, old) in M::META.renames {
            reader.alias(new, old);
        }
        M::read_record(&mut reader).map(Some)
    }

    /// Reads the instance, or `None` if it does not exist. One round trip: one read script, so
    /// that fields and containers are read at the same instant.
    pub async fn get<Q: PkRef + ?Sized>(&self, pk: &Q) -> Result<Option<M>>
    where
        M::Pk: Borrow<Q>,
    {
        self.get_by_text(&pk.pk_text()).await
    }

    /// [`get`](Self::get) by the pk's text (for callers that hold only the text).
    pub(crate) async fn get_by_text(&self, pk: &str) -> Result<Option<M>> {
        let keys = self.instance_keys(pk)?;
        Ok(self.read_group(&[&keys]).await?.pop().flatten())
    }

    /// Reads several instances; `None` for each pk that does not exist. Each instance is read
    /// atomically; on one server all of them in one round trip, on a cluster one read per hash
    /// slot, sent concurrently.
    pub async fn get_many<'q, Q>(
        &self,
        pks: impl IntoIterator<Item = &'q Q>,
    ) -> Result<Vec<Option<M>>>
    where
        Q: PkRef + ?Sized + 'q,
        M::Pk: Borrow<Q>,
    {
        let keys: Vec<InstanceKeys> = pks
            .into_iter()
            .map(|pk| self.instance_keys(pk))
            .collect::<Result<_>>()?;
        self.read_many(&keys).await
    }

    /// Reads the instances of `keys` (see [`get_many`](Self::get_many)).
    pub(crate) async fn read_many(&self, keys: &[InstanceKeys]) -> Result<Vec<Option<M>>> {
        // Groups of instances read by one script call: by slot on a cluster, in chunks.
        const GROUP: usize = 256;
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut by_slot: HashMap<u16, usize> = HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            let slot = if self.client.is_cluster() {
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
            async move { self.read_group(&members).await }
        });
        let results = futures_util::future::try_join_all(reads).await?;
        let mut out: Vec<Option<M>> = std::iter::repeat_with(|| None).take(keys.len()).collect();
        for (group, values) in groups.iter().zip(results) {
            for (&i, value) in group.iter().zip(values) {
                out[i] = value;
            }
        }
        Ok(out)
    }

    /// True if the instance exists.
    pub async fn exists<Q: PkRef + ?Sized>(&self, pk: &Q) -> Result<bool>
    where
        M::Pk: Borrow<Q>,
    {
        let keys = self.instance_keys(pk)?;
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(&keys.hash);
        let n: i64 = self.client.query(Call::read(&cmd)).await?;
        Ok(n == 1)
    }

    /// Deletes the instance and all its keys atomically. Returns whether it existed.
    pub async fn delete<Q: PkRef + ?Sized>(&self, pk: &Q) -> Result<bool>
    where
        M::Pk: Borrow<Q>,
    {
        let keys = self.instance_keys(pk)?;
        let apart = claims::apart(&self.client, &M::META);
        let registry = self.registry(keys.bucket);
        let index_keys = self.index_keys(keys.bucket);
        let mut all_keys: Vec<&str> = [keys.hash.as_str(), registry.as_str()]
            .into_iter()
            .chain(keys.containers.iter().map(String::as_str))
            .collect();
        let positions = place_indexes::<M>(&mut all_keys, &index_keys, apart);
        let mut cmd = scripts::DELETE_INSTANCE.call(&all_keys);
        cmd.arg(&keys.pk)
            .arg(keys.containers.len())
            .arg(M::META.indexes.len());
        for (ix, at) in M::META.indexes.iter().zip(positions) {
            cmd.arg(protocol::index_code(ix.kind)).arg(ix.path).arg(at);
        }
        let reply = self
            .client
            .execute(Call::script(
                &scripts::DELETE_INSTANCE,
                &cmd,
                Effect::Writes,
            ))
            .await?;
        let mut reply = array(reply, &keys.hash)?.into_iter();
        let existed = matches!(reply.next(), Some(Value::Int(1)));
        // Unique values kept apart are released once the instance is gone (a crash in between
        // leaves a claim naming a missing instance, which the next writer takes over).
        for (ix, old) in unique_indexes::<M>().zip(reply) {
            if let Value::BulkString(old) = old {
                claims::release(&self.client, &M::META, ix, &old, &keys.pk).await;
            }
        }
        Ok(existed)
    }

    /// The live pks of every bucket (text), one list per bucket, each from one atomic read.
    pub(crate) async fn live_pks(&self) -> Result<Vec<(String, Vec<String>)>> {
        let reads = (0..M::META.buckets.max(1)).map(|bucket| {
            let registry = self.registry(bucket);
            async move {
                let mut cmd = scripts::LIVE_PKS.call(&[&registry]);
                cmd.arg("list");
                let pks: Vec<String> = self
                    .client
                    .query(Call::script(&scripts::LIVE_PKS, &cmd, Effect::Reads))
                    .await?;
                Ok::<_, Error>((registry, pks))
            }
        });
        futures_util::future::try_join_all(reads).await
    }

    /// The pks of every live instance, read from the model's registry (no KEYS, no SCAN), sorted
    /// by pk text (bytewise).
    pub async fn all(&self) -> Result<Vec<M::Pk>> {
        let mut all = Vec::new();
        for (registry, pks) in self.live_pks().await? {
            for text in pks {
                let pk = M::Pk::from_pk_text(&text).map_err(|e| Error::Decode {
                    key: registry.clone(),
                    field: format!("member {text:?}"),
                    reason: e.to_string(),
                })?;
                all.push((text, pk));
            }
        }
        all.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        Ok(all.into_iter().map(|(_, pk)| pk).collect())
    }

    /// One page of the pks of live instances, after `after` (the previous page's
    /// [`Page::next`]; `None` for the first page), in the registry's order: by expiry, then by
    /// pk (by pk alone for a model without TTL). Keyset paging: every page costs what the first
    /// costs, and an instance that lives through the whole walk is seen exactly once.
    pub async fn page(&self, after: Option<&Cursor>, limit: usize) -> Result<Page<M::Pk>> {
        let limit_arg = limit.min(i64::MAX as usize);
        let cursor = after.map(|c| (c.score_arg(), c.pk.clone()));
        let reads = (0..M::META.buckets.max(1)).map(|bucket| {
            let registry = self.registry(bucket);
            let cursor = &cursor;
            async move {
                let mut cmd = scripts::LIVE_PKS.call(&[&registry]);
                cmd.arg("page").arg(limit_arg);
                if let Some((score, pk)) = cursor {
                    cmd.arg(score).arg(pk);
                }
                let reply = self
                    .client
                    .execute(Call::script(&scripts::LIVE_PKS, &cmd, Effect::Reads))
                    .await?;
                Ok::<_, Error>((registry, reply))
            }
        });
        let mut entries: Vec<(f64, String, String)> = Vec::new();
        for (registry, reply) in futures_util::future::try_join_all(reads).await? {
            let items = array(reply, &registry)?;
            for pair in items.chunks(2) {
                let [member, score] = pair else { continue };
                let pk = String::from_utf8_lossy(&bulk(member.clone(), &registry)?).into_owned();
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
        let items = entries
            .iter()
            .map(|(_, text, registry)| {
                M::Pk::from_pk_text(text).map_err(|e| Error::Decode {
                    key: registry.clone(),
                    field: format!("member {text:?}"),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Page { items, next })
    }

    /// Every live instance, read `batch` at a time (pages of [`page`](Self::page), then their
    /// instances): for jobs that walk a whole model. An instance deleted between a page and its
    /// read is left out.
    pub fn stream(
        &self,
        batch: usize,
    ) -> impl futures_util::Stream<Item = Result<M>> + Send + 'static {
        let repo = self.clone();
        crate::page::walk(batch, move |after, limit| {
            let repo = repo.clone();
            async move {
                let page = repo.page(after.as_ref(), limit).await?;
                let keys = page
                    .items
                    .iter()
                    .map(|pk| repo.instance_keys(pk))
                    .collect::<Result<Vec<_>>>()?;
                let found = repo.read_many(&keys).await?;
                Ok((found.into_iter().flatten().collect(), page.next))
            }
        })
    }

    /// Rebuilds the model's indexes from its instances (see [`crate::reindex`]): after adding an
    /// index, after other code wrote the data, or to repair indexes on Redis Cluster. Safe while
    /// other clients write.
    pub async fn reindex(&self) -> Result<crate::ReindexReport> {
        crate::reindex::reindex(&self.client, &M::META).await
    }

    /// The schema version that last wrote the whole instance (`None` if it does not exist or
    /// predates version markers).
    pub async fn writer_version<Q: PkRef + ?Sized>(&self, pk: &Q) -> Result<Option<u32>>
    where
        M::Pk: Borrow<Q>,
    {
        let keys = self.instance_keys(pk)?;
        let mut cmd = redis::cmd("HGET");
        cmd.arg(&keys.hash).arg(VERSION_FIELD);
        let raw: Option<String> = self.client.query(Call::read(&cmd)).await?;
        Ok(raw.and_then(|v| v.parse().ok()))
    }

    /// The number of live instances: O(log N) per bucket.
    pub async fn count(&self) -> Result<u64> {
        let counts = (0..M::META.buckets.max(1)).map(|bucket| {
            let registry = self.registry(bucket);
            async move {
                let mut cmd = scripts::LIVE_PKS.call(&[&registry]);
                cmd.arg("count");
                self.client
                    .query::<u64>(Call::script(&scripts::LIVE_PKS, &cmd, Effect::Reads))
                    .await
            }
        });
        Ok(futures_util::future::try_join_all(counts)
            .await?
            .into_iter()
            .sum())
    }
}

/// Appends the index keys kept in the instance's slot to `keys`; returns each index's position
/// in `keys` (1-based, as Lua counts), or 0 for a unique index kept apart (see `claims`).
fn place_indexes<'k, M: Model>(
    keys: &mut Vec<&'k str>,
    index_keys: &'k [String],
    apart: bool,
) -> Vec<usize> {
    M::META
        .indexes
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

/// The model's unique indexes, in `META.indexes` order.
pub(crate) fn unique_indexes<M: Model>() -> impl Iterator<Item = &'static IndexMeta> {
    M::META
        .indexes
        .iter()
        .filter(|ix| ix.kind == IndexKind::Unique)
}

/// The stored text of the hash field `path` of `value`, if set.
pub(crate) fn record_value<M: Model>(value: &M, path: &str) -> Result<Option<Vec<u8>>> {
    let mut record = RecordWriter::default();
    value.write_record(&mut record)?;
    Ok(record
        .hash
        .into_iter()
        .find(|(f, _)| f == path)
        .map(|(_, raw)| raw))
}

fn unexpected(key: &str, what: &str, found: &Value) -> Error {
    Error::Decode {
        key: key.to_string(),
        field: String::new(),
        reason: format!("expected {what} from Redis, found {found:?}"),
    }
}

pub(crate) fn array(reply: Value, key: &str) -> Result<Vec<Value>> {
    match reply {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(unexpected(key, "an array", &other)),
    }
}

pub(crate) fn bulk(v: Value, key: &str) -> Result<Vec<u8>> {
    match v {
        Value::BulkString(b) => Ok(b),
        Value::SimpleString(s) => Ok(s.into_bytes()),
        other => Err(unexpected(key, "a string", &other)),
    }
}

fn bulk_items(reply: Value, key: &str) -> Result<Vec<Vec<u8>>> {
    array(reply, key)?
        .into_iter()
        .map(|v| bulk(v, key))
        .collect()
}

/// Field/value pairs of an HGETALL reply (RESP2 flat array or RESP3 map).
fn pairs(reply: Value, key: &str) -> Result<Vec<(String, Vec<u8>)>> {
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
