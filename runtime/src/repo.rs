//! The generic repository: whole-instance operations for any [`Model`].

use std::borrow::{Borrow, Cow};
use std::marker::PhantomData;

use crate::client::Client;
use crate::conn::{Call, Effect};
use crate::error::{Error, Result};
use crate::meta::{PkRef, PrimaryKey};
use crate::model::Model;
use crate::ops::{Direct, FieldHandle, Instance};
use crate::page::{Cursor, Page};
use crate::record::{RecordReader, RecordWriter, VERSION_FIELD};
use crate::scripts;
use crate::stored;
pub(crate) use crate::stored::{InstanceKeys, Stored, WriteMode, Written};

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
        InstanceKeys::new(&self.client, &M::META, pk.pk_text().into_owned())
    }

    /// A handle on the instance with this pk, for field operations (no I/O). Generated code
    /// wraps it in a typed `<Model>Fields`.
    pub fn instance<Q: PkRef + ?Sized>(&self, pk: &Q) -> Instance
    where
        M::Pk: Borrow<Q>,
    {
        Instance::new(&self.client, M::META, pk.pk_text())
    }

    /// Typed handles on the fields of the instance with this pk (`<Model>Fields`), for atomic
    /// operations: `players.fields(&id).score().incr(10)`. No I/O happens until an operation is
    /// awaited or a pipeline runs.
    pub fn fields<Q: PkRef + ?Sized>(&self, pk: &Q) -> M::Fields<Direct>
    where
        M::Pk: Borrow<Q>,
    {
        <M::Fields<Direct> as FieldHandle>::at(self.instance(pk), Cow::Borrowed(""))
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
        self.write(value, WriteMode::Insert).await
    }

    /// Creates or replaces the whole instance (fields, containers, TTL) atomically (one script).
    pub async fn save(&self, value: &M) -> Result<()> {
        self.write(value, WriteMode::Save).await
    }

    /// Replaces the whole instance, which must exist: [`Error::NotFound`] and nothing written
    /// otherwise (the update-only form of [`save`](Self::save)). Atomic (one script).
    pub async fn replace(&self, value: &M) -> Result<()> {
        self.write(value, WriteMode::Update).await
    }

    /// Returns the stored instance with `value`'s pk and `false` when it exists, or inserts
    /// `value` and returns it with `true`: one atomic step, so of many callers racing on one
    /// pk exactly one inserts and all get the same instance. Unique values are checked as by
    /// [`insert`](Self::insert) ([`Error::UniqueViolation`], nothing written).
    pub async fn get_or_insert(&self, value: &M) -> Result<(M, bool)>
    where
        M: Clone,
    {
        let keys = self.instance_keys(value.pk())?;
        match self
            .write_locked(value, WriteMode::GetOrInsert, None)
            .await?
        {
            Written::Done => Ok((value.clone(), true)),
            Written::Found(found) => Ok((Self::decode(&keys, found)?, false)),
        }
    }

    /// Inserts every instance of `values`: one script call per hash slot and 500 instances,
    /// sent concurrently. Each instance is atomic and gets its own outcome, in order (as
    /// [`insert`](Self::insert): [`Error::AlreadyExists`], [`Error::UniqueViolation`]...);
    /// each sees the ones before it, so two of them with one unique value: the second fails.
    pub async fn insert_many(&self, values: &[M]) -> Vec<Result<()>> {
        self.write_many(values, WriteMode::Insert).await
    }

    /// Saves every instance of `values` as [`insert_many`](Self::insert_many) inserts them.
    pub async fn save_many(&self, values: &[M]) -> Vec<Result<()>> {
        self.write_many(values, WriteMode::Save).await
    }

    /// Deletes the instances of `pks` as [`insert_many`](Self::insert_many) writes: per pk
    /// whether it existed, in order.
    pub async fn delete_many<Q: PkRef + ?Sized>(&self, pks: &[&Q]) -> Vec<Result<bool>>
    where
        M::Pk: Borrow<Q>,
    {
        let mut out: Vec<Option<Result<bool>>> = Vec::with_capacity(pks.len());
        let mut keys = Vec::with_capacity(pks.len());
        let mut at = Vec::with_capacity(pks.len());
        for (i, pk) in pks.iter().enumerate() {
            match self.instance_keys(*pk) {
                Ok(k) => {
                    keys.push(k);
                    at.push(i);
                    out.push(None);
                }
                Err(e) => out.push(Some(Err(e))),
            }
        }
        let deleted = crate::bulk::delete_many(&self.client, &M::META, &keys).await;
        for (i, result) in at.into_iter().zip(deleted) {
            out[i] = Some(result);
        }
        out.into_iter().flatten().collect()
    }

    async fn write_many(&self, values: &[M], mode: WriteMode) -> Vec<Result<()>> {
        let mut out: Vec<Option<Result<()>>> = Vec::with_capacity(values.len());
        let mut items = Vec::with_capacity(values.len());
        let mut at = Vec::with_capacity(values.len());
        for (i, value) in values.iter().enumerate() {
            let prepared = self.instance_keys(value.pk()).and_then(|keys| {
                let mut record = RecordWriter::default();
                value.write_record(&mut record)?;
                Ok((keys, record))
            });
            match prepared {
                Ok(item) => {
                    items.push(item);
                    at.push(i);
                    out.push(None);
                }
                Err(e) => out.push(Some(Err(e))),
            }
        }
        let version = M::META.schema_version.to_string();
        let written =
            crate::bulk::write_many(&self.client, &M::META, items, version.as_bytes(), mode).await;
        for (i, result) in at.into_iter().zip(written) {
            out[i] = Some(result);
        }
        out.into_iter().flatten().collect()
    }

    async fn write(&self, value: &M, mode: WriteMode) -> Result<()> {
        self.write_locked(value, mode, None).await.map(drop)
    }

    /// Writes the whole instance; with `lock` (key, token), only while that lock holds the
    /// token, checked in the same script.
    pub(crate) async fn write_locked(
        &self,
        value: &M,
        mode: WriteMode,
        lock: Option<(&str, &str)>,
    ) -> Result<Written> {
        let keys = self.instance_keys(value.pk())?;
        let mut record = RecordWriter::default();
        value.write_record(&mut record)?;
        let version = M::META.schema_version.to_string();
        stored::write(
            &self.client,
            &M::META,
            &keys,
            record,
            version.as_bytes(),
            mode,
            lock,
        )
        .await
    }

    /// The typed value of a stored instance.
    pub(crate) fn decode(keys: &InstanceKeys, found: Stored) -> Result<M> {
        let mut reader = RecordReader::new(keys.hash.clone(), found.hash, found.containers);
        for (new, old) in M::META.renames {
            reader.alias(new, old);
        }
        M::read_record(&mut reader)
    }

    /// Writes the whole instance; with `lock` (key, token), only while that lock holds the token,
    /// checked in the same script.
    /// Reads the instance, or `None` if it does not exist. One round trip, atomic, so that fields
    /// and containers are read at the same instant: one MULTI/EXEC of the reads on one server,
    /// one read script on a cluster (where MULTI is not redirected).
    pub async fn get<Q: PkRef + ?Sized>(&self, pk: &Q) -> Result<Option<M>>
    where
        M::Pk: Borrow<Q>,
    {
        self.get_by_text(&pk.pk_text()).await
    }

    /// [`get`](Self::get) by the pk's text (for callers that hold only the text).
    pub(crate) async fn get_by_text(&self, pk: &str) -> Result<Option<M>> {
        let keys = self.instance_keys(pk)?;
        Ok(self
            .read_many(std::slice::from_ref(&keys))
            .await?
            .pop()
            .flatten())
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
        stored::read_many(&self.client, &M::META, keys)
            .await?
            .into_iter()
            .zip(keys)
            .map(|(found, keys)| found.map(|f| Self::decode(keys, f)).transpose())
            .collect()
    }

    /// True if the instance exists.
    pub async fn exists<Q: PkRef + ?Sized>(&self, pk: &Q) -> Result<bool>
    where
        M::Pk: Borrow<Q>,
    {
        stored::exists(&self.client, &self.instance_keys(pk)?).await
    }

    /// Deletes the instance and all its keys atomically. Returns whether it existed.
    pub async fn delete<Q: PkRef + ?Sized>(&self, pk: &Q) -> Result<bool>
    where
        M::Pk: Borrow<Q>,
    {
        stored::delete(&self.client, &M::META, &self.instance_keys(pk)?).await
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
        let page = stored::live_page(&self.client, &M::META, after, limit).await?;
        let items = page
            .items
            .iter()
            .map(|(text, registry)| {
                M::Pk::from_pk_text(text).map_err(|e| Error::Decode {
                    key: registry.clone(),
                    field: format!("member {text:?}"),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Page {
            items,
            next: page.next,
        })
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

    /// Rebuilds the model's indexes from its instances (see [`ReindexReport`](crate::ReindexReport)): after adding an
    /// index, after other code wrote the data, or to repair indexes on Redis Cluster. Safe while
    /// other clients write.
    pub async fn reindex(&self) -> Result<crate::ReindexReport> {
        crate::reindex::reindex(&self.client, &M::META).await
    }

    /// Makes the instance expire after `ttl` (at least a millisecond), replacing its expiry:
    /// every key of the instance and its registry and index entries, in one atomic step. An
    /// [`Op`](crate::Op): await it, or add it to a pipeline. A later whole-instance write
    /// (`save`, a guard's save) sets the model's `ttl` again. [`Error::NotFound`] when it does
    /// not exist; [`Error::Config`] for a model without a `ttl` in its schema (its indexes
    /// would keep expired instances).
    pub fn expire<Q: PkRef + ?Sized>(&self, pk: &Q, ttl: std::time::Duration) -> crate::Op<()>
    where
        M::Pk: Borrow<Q>,
    {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self.instance(pk).expiry(Some(ms))
    }

    /// Removes the instance's expiry (until the next whole-instance write sets the model's
    /// `ttl` again), in one atomic step; an [`Op`](crate::Op) like [`expire`](Self::expire).
    pub fn persist<Q: PkRef + ?Sized>(&self, pk: &Q) -> crate::Op<()>
    where
        M::Pk: Borrow<Q>,
    {
        self.instance(pk).expiry(None)
    }

    /// The time the instance has left, `None` when it does not expire (`PTTL`); an
    /// [`Op`](crate::Op). [`Error::NotFound`] when it does not exist.
    pub fn ttl<Q: PkRef + ?Sized>(&self, pk: &Q) -> crate::Op<Option<std::time::Duration>>
    where
        M::Pk: Borrow<Q>,
    {
        self.instance(pk).time_left()
    }

    /// Removes what expired instances left behind: their registry, index and memo entries.
    /// Queries and writes do this as they go (see the storage docs); this does it for the whole
    /// model at once, for instance from a periodic job. Nothing to do for a model without a
    /// `ttl`.
    pub async fn purge_expired(&self) -> Result<()> {
        crate::expiry::purge_all(&self.client, &M::META).await
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
