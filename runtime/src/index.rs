//! Index queries. Every write path keeps indexes in step with their fields (see
//! `lua/index.lua`); these handles read them. Generated repositories return them from
//! `by_<field>()`.
//!
//! | index | Redis | queries |
//! |---|---|---|
//! | sorted | ZSET pk -> value, per bucket | top, bottom, rank, around, range, count: O(B log N + B k) |
//! | unique | HASH value -> pk | pk, get: O(1) |
//! | lookup | ZSET of `<len>:<value><pk>` (lexicographic), per bucket | find (paged), count: O(B log N + B k) |
//! | sorted, partitioned | ZSET of `<len>:<partition><score, 8 bytes><pk>` (lexicographic), per bucket | the sorted queries within one partition: O(B log N + B k) |
//!
//! A model with `B` buckets has one sorted or lookup index key per bucket (see
//! [`Keyspace`](crate::keys::Keyspace)). A query asks every bucket (concurrently; on a cluster
//! each bucket is one slot) and merges the answers exactly: the result equals what one index
//! over all instances would give, ties included. Each bucket is read atomically; two buckets may
//! be read at slightly different moments, so a query never sees a torn instance but may see two
//! instances as of slightly different times. With one bucket (the default), every query is a
//! single command or script, as before.
//!
//! Queries returning instances read the index, then the instances found (each atomically with
//! its containers): two round trips. An instance deleted in between is left out.

use std::cmp::Ordering;
use std::marker::PhantomData;

use futures_util::Stream;
use redis::Value;

use crate::claims;
use crate::codec::Codec;
use crate::conn::{Call, Effect};
use crate::error::{Error, Result};
use crate::expiry;
use crate::keys::Keyspace;
use crate::meta::{IndexKind, IndexMeta, PkRef, PrimaryKey};
use crate::model::Model;
use crate::page::{Cursor, Page, score_text, walk};
use crate::reply;
use crate::repo::Repo;
use crate::scripts;

/// A value a sorted index orders by: its ZSET score.
pub trait Score {
    /// The score. Integers beyond 2^53 in magnitude lose precision (scores are doubles); datetimes
    /// count microseconds since the epoch.
    fn score(&self) -> f64;
}

impl Score for i64 {
    fn score(&self) -> f64 {
        *self as f64
    }
}
impl Score for f64 {
    fn score(&self) -> f64 {
        *self
    }
}
impl Score for chrono::DateTime<chrono::Utc> {
    fn score(&self) -> f64 {
        self.timestamp_micros() as f64
    }
}

/// One entry of a sorted index: member (pk) and score.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    pk: String,
    score: f64,
}

impl Entry {
    /// The index's own order, ascending: by score, then by pk bytes (as Redis orders ties).
    fn ascending(a: &Entry, b: &Entry) -> Ordering {
        a.score
            .total_cmp(&b.score)
            .then_with(|| a.pk.as_bytes().cmp(b.pk.as_bytes()))
    }

    fn descending(a: &Entry, b: &Entry) -> Ordering {
        Self::ascending(b, a)
    }
}

/// What every index handle holds: the index's key for each bucket (one key for a unique index).
struct IndexAt<M> {
    repo: Repo<M>,
    path: &'static str,
    keys: Vec<String>,
    /// For a model whose instances expire: each key's bucket's registry and memo, so that a
    /// query forgets expired instances first (see [`expiry`](crate::expiry)).
    purge_keys: Vec<Option<[String; 2]>>,
}

impl<M> Clone for IndexAt<M> {
    fn clone(&self) -> Self {
        IndexAt {
            repo: self.repo.clone(),
            path: self.path,
            keys: self.keys.clone(),
            purge_keys: self.purge_keys.clone(),
        }
    }
}

impl<M, V> Clone for SortedIndex<M, V> {
    fn clone(&self) -> Self {
        SortedIndex {
            at: self.at.clone(),
            partition: self.partition.clone(),
            value: PhantomData,
        }
    }
}

/// The partition a handle of a partitioned sorted index queries.
#[derive(Clone)]
struct Partition {
    /// The index.
    ix: &'static IndexMeta,
    /// The member prefix of the partition (`<len>:<stored text>`; see `lua/index.lua`), or why
    /// the partition cannot be queried.
    prefix: std::result::Result<Vec<u8>, Unusable>,
}

/// Why a partition handle cannot query (reported by each query).
#[derive(Clone)]
enum Unusable {
    /// The partition value does not encode.
    Encode { field: &'static str, reason: String },
    /// The model has no partitioned index on the path.
    NoIndex(String),
}

impl Unusable {
    fn error(&self) -> Error {
        match self {
            Unusable::Encode { field, reason } => Error::Encode {
                field: field.to_string(),
                reason: reason.clone(),
            },
            Unusable::NoIndex(message) => Error::Config(message.clone()),
        }
    }
}

impl<M: Model> IndexAt<M> {
    fn new(repo: &Repo<M>, path: &'static str, kind: IndexKind) -> Self {
        Self::of(repo, &IndexMeta::new(path, kind))
    }

    fn of(repo: &Repo<M>, ix: &IndexMeta) -> Self {
        let (path, kind) = (ix.path, ix.kind);
        let space = repo.client().keys();
        let buckets = match kind {
            IndexKind::Unique => 1,
            _ => M::META.buckets.max(1),
        };
        let keys = (0..buckets)
            .map(|b| space.index_key(&M::META, ix, b))
            .collect();
        let purge_keys = (0..buckets)
            .map(|b| expiry::purge_keys(repo.client(), &M::META, b))
            .collect();
        IndexAt {
            repo: repo.clone(),
            path,
            keys,
            purge_keys,
        }
    }

    /// The key of the bucket holding `pk`.
    fn key_of(&self, pk: &str) -> &str {
        let bucket = if self.keys.len() == 1 {
            0
        } else {
            Keyspace::bucket_of(&M::META, pk)
        };
        &self.keys[usize::from(bucket)]
    }

    /// Runs one query script on the index key `key` (forgetting the expired instances of its
    /// bucket first, for a model whose instances expire).
    async fn query(&self, key: &str, query: &[&[u8]]) -> Result<Value> {
        self.query_reading(key, query, None).await
    }

    /// [`query`](Self::query), also declaring `hash`, an instance hash of the key's bucket that
    /// the query reads (the last key).
    async fn query_reading(&self, key: &str, query: &[&[u8]], hash: Option<&str>) -> Result<Value> {
        let bucket = self.keys.iter().position(|k| k == key).unwrap_or(0);
        let client = self.repo.client();
        if let Some(Some([registry, memo])) = self.purge_keys.get(bucket) {
            let keys: Vec<&str> = [key, registry, memo].into_iter().chain(hash).collect();
            let mut cmd = scripts::QUERY_EXPIRING.call(&keys);
            cmd.arg(query);
            return expiry::run_purging(client, &scripts::QUERY_EXPIRING, &cmd).await;
        }
        let keys: Vec<&str> = std::iter::once(key).chain(hash).collect();
        let mut cmd = scripts::QUERY.call(&keys);
        cmd.arg(query);
        client
            .execute(Call::script(&scripts::QUERY, &cmd, Effect::Reads))
            .await
    }

    /// Runs `query` on every bucket, concurrently; one reply per bucket.
    async fn query_all(&self, query: &[&[u8]]) -> Result<Vec<Value>> {
        futures_util::future::try_join_all(self.keys.iter().map(|key| self.query(key, query))).await
    }

    /// Runs a plain command on every bucket's key (built by `cmd` from the key), concurrently,
    /// after forgetting expired instances (for a model whose instances expire).
    async fn command_all<T: redis::FromRedisValue>(
        &self,
        cmd: impl Fn(&str) -> redis::Cmd,
    ) -> Result<Vec<T>> {
        let client = self.repo.client();
        expiry::purge_all(client, &M::META).await?;
        futures_util::future::try_join_all(self.keys.iter().map(|key| {
            let cmd = cmd(key);
            async move { client.query::<T>(Call::read(&cmd)).await }
        }))
        .await
    }

    /// The pks of a reply holding pks.
    fn pk_texts(&self, reply: Value) -> Result<Vec<String>> {
        reply::array(reply, &self.keys[0])?
            .into_iter()
            .map(|v| reply::text(v, &self.keys[0]))
            .collect()
    }

    /// The entries of a reply holding member, score pairs.
    fn entries(&self, reply: Value) -> Result<Vec<Entry>> {
        let key = &self.keys[0];
        let items = match reply {
            // RESP3 answers WITHSCORES as [member, score] pairs.
            Value::Array(items) if items.iter().all(|i| matches!(i, Value::Array(_))) => items
                .into_iter()
                .flat_map(|i| reply::array(i, key).unwrap_or_default())
                .collect(),
            other => reply::array(other, key)?,
        };
        let mut out = Vec::with_capacity(items.len() / 2);
        let mut items = items.into_iter();
        while let (Some(member), Some(score)) = (items.next(), items.next()) {
            let pk = reply::text(member, key)?;
            let score = match score {
                Value::Double(d) => d,
                other => {
                    let raw = reply::bulk(other, key)?;
                    let text = String::from_utf8_lossy(&raw);
                    text.parse::<f64>().map_err(|_| Error::Decode {
                        key: key.clone(),
                        field: format!("score of {pk:?}"),
                        reason: format!("{text:?} is not a number"),
                    })?
                }
            };
            out.push(Entry { pk, score });
        }
        Ok(out)
    }

    fn pk(&self, text: &str) -> Result<M::Pk> {
        M::Pk::from_pk_text(text).map_err(|e| Error::Decode {
            key: self.key_of(text).to_string(),
            field: format!("member {text:?}"),
            reason: e.to_string(),
        })
    }

    fn pks(&self, texts: &[String]) -> Result<Vec<M::Pk>> {
        texts.iter().map(|t| self.pk(t)).collect()
    }

    /// Reads the instances of `texts` (each atomically), in order; missing ones are left out.
    async fn instances(&self, texts: &[String]) -> Result<Vec<M>> {
        let keys = texts
            .iter()
            .map(|pk| self.repo.instance_keys(pk.as_str()))
            .collect::<Result<Vec<_>>>()?;
        let found = self.repo.read_many(&keys).await?;
        Ok(found.into_iter().flatten().collect())
    }
}

fn num(n: impl ToString) -> Vec<u8> {
    n.to_string().into_bytes()
}

/// The LIMIT a bucket's query gets: a single bucket applies the offset itself; several each
/// give their first `offset + limit` for the merge. Redis takes counts up to `i64::MAX`.
fn redis_limit(single: bool, offset: usize, limit: usize) -> (usize, usize) {
    const MAX: usize = i64::MAX as usize;
    if single {
        (offset.min(MAX), limit.min(MAX))
    } else {
        (0, offset.saturating_add(limit).min(MAX))
    }
}

/// Takes `limit` entries after skipping `offset` of `entries` sorted by `order`.
fn page(
    mut entries: Vec<Entry>,
    order: fn(&Entry, &Entry) -> Ordering,
    offset: usize,
    limit: usize,
) -> Vec<String> {
    entries.sort_by(order);
    entries
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|e| e.pk)
        .collect()
}

/// Queries of a sorted index (`index: sorted` on an `int`, `float` or `datetime` field), or of
/// one partition of a partitioned one (`index: { sorted, partition_by: region }`: every query
/// then answers within the instances whose partition field holds the value given, each as fast
/// as on an index of that partition alone).
///
/// Ties: instances with equal values are ordered by pk text, bytewise: ascending queries (`bottom`,
/// `range`) list the smaller pk first, descending ones (`top`, `rank`, `around`) the larger pk
/// first. The order is total and stable, so `rank` and `top` always agree, with one bucket or
/// many.
pub struct SortedIndex<M, V> {
    at: IndexAt<M>,
    partition: Option<Partition>,
    value: PhantomData<fn() -> V>,
}

impl<M: Model, V: Score> SortedIndex<M, V> {
    /// The sorted index on the field at `path` of `repo`'s model (generated code calls this for
    /// the indexes the schema declares).
    pub fn new(repo: &Repo<M>, path: &'static str) -> Self {
        SortedIndex {
            at: IndexAt::new(repo, path, IndexKind::SortedInt),
            partition: None,
            value: PhantomData,
        }
    }

    /// The partition `value` of the partitioned sorted index on the field at `path` (generated
    /// code calls this from `by_<field>(partition)`). A model without such an index gives a
    /// handle whose queries fail with [`Error::Config`].
    pub fn partition<P: Codec>(repo: &Repo<M>, path: &'static str, value: &P) -> Self {
        static NONE: IndexMeta = IndexMeta::partitioned("", IndexKind::SortedInt, "");
        let found = M::META
            .indexes
            .iter()
            .find(|ix| ix.path == path && ix.partition.is_some());
        let prefix = match found {
            Some(ix) => value
                .encode()
                .map(|text| [format!("{}:", text.len()).into_bytes(), text].concat())
                .map_err(|e| Unusable::Encode {
                    field: ix.partition.unwrap_or(""),
                    reason: e.to_string(),
                }),
            None => Err(Unusable::NoIndex(format!(
                "model {} has no partitioned index on `{path}`",
                M::META.name
            ))),
        };
        let ix = found.unwrap_or(&NONE);
        SortedIndex {
            at: IndexAt::of(repo, ix),
            partition: Some(Partition { ix, prefix }),
            value: PhantomData,
        }
    }

    /// The arguments of query `verb`: as given, or for a partition the partition's own verb
    /// (`p` + verb) and its member prefix first.
    fn args(&self, verb: &str, rest: &[&[u8]]) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::with_capacity(rest.len() + 2);
        match &self.partition {
            None => out.push(verb.as_bytes().to_vec()),
            Some(p) => {
                let prefix = p.prefix.as_ref().map_err(Unusable::error)?;
                out.push(format!("p{verb}").into_bytes());
                out.push(prefix.clone());
            }
        }
        out.extend(rest.iter().map(|a| a.to_vec()));
        Ok(out)
    }

    /// Runs query `verb` on every bucket.
    async fn ask_all(&self, verb: &str, rest: &[&[u8]]) -> Result<Vec<Value>> {
        let args = self.args(verb, rest)?;
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        self.at.query_all(&refs).await
    }

    /// The counts of every bucket's reply, summed.
    fn sum(&self, replies: Vec<Value>) -> Result<u64> {
        let mut total = 0;
        for reply in replies {
            match reply {
                Value::Int(n) => total += u64::try_from(n).unwrap_or(0),
                other => {
                    return Err(Error::Decode {
                        key: self.at.keys[0].clone(),
                        field: String::new(),
                        reason: format!("expected a count from Redis, found {other:?}"),
                    });
                }
            }
        }
        Ok(total)
    }

    /// The field the index follows.
    pub fn path(&self) -> &'static str {
        self.at.path
    }

    /// The `n` highest entries, highest first: each bucket's `n` highest, merged.
    async fn ends(&self, n: usize, top: bool) -> Result<Vec<String>> {
        // One bucket of an index whose instances never expire: the ZSET's own order is the
        // answer, a plain command (no script to run, no merge).
        if self.at.keys.len() == 1 && self.partition.is_none() && self.at.purge_keys[0].is_none() {
            if n == 0 {
                return Ok(Vec::new());
            }
            let mut cmd = redis::cmd(if top { "ZREVRANGE" } else { "ZRANGE" });
            let last = i64::try_from(n - 1).unwrap_or(i64::MAX);
            cmd.arg(&self.at.keys[0]).arg(0).arg(last);
            let reply = self.at.repo.client().execute(Call::read(&cmd)).await?;
            return self.at.pk_texts(reply);
        }
        let q = if top { "top" } else { "bottom" };
        let mut entries = Vec::new();
        for reply in self.ask_all(q, &[&num(n)]).await? {
            entries.extend(self.at.entries(reply)?);
        }
        let order = if top {
            Entry::descending
        } else {
            Entry::ascending
        };
        Ok(page(entries, order, 0, n))
    }

    /// The pks of the `n` highest values, highest first.
    pub async fn top(&self, n: usize) -> Result<Vec<M::Pk>> {
        self.at.pks(&self.ends(n, true).await?)
    }

    /// The instances with the `n` highest values, highest first.
    pub async fn top_instances(&self, n: usize) -> Result<Vec<M>> {
        self.at.instances(&self.ends(n, true).await?).await
    }

    /// The pks of the `n` lowest values, lowest first.
    pub async fn bottom(&self, n: usize) -> Result<Vec<M::Pk>> {
        self.at.pks(&self.ends(n, false).await?)
    }

    /// The instances with the `n` lowest values, lowest first.
    pub async fn bottom_instances(&self, n: usize) -> Result<Vec<M>> {
        self.at.instances(&self.ends(n, false).await?).await
    }

    /// `pk`'s score as stored (text), or `None` when it is not in the index.
    async fn score_of(&self, pk: &str) -> Result<Option<String>> {
        let key = self.at.key_of(pk);
        let reply = match &self.partition {
            None => self.at.query(key, &[b"score", pk.as_bytes()]).await?,
            // The instance's entry, computed from its fields by the script that writes it.
            Some(p) => {
                let ix = p.ix;
                let kind = crate::protocol::index_wire(ix);
                let rest: [&[u8]; 3] = [
                    kind.as_bytes(),
                    ix.path.as_bytes(),
                    ix.partition.unwrap_or("").as_bytes(),
                ];
                let args = self.args("score", &rest)?;
                let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                let hash = self.at.repo.instance_keys(pk)?.hash;
                self.at.query_reading(key, &refs, Some(&hash)).await?
            }
        };
        match reply {
            Value::Nil => Ok(None),
            Value::Double(d) => Ok(Some(d.to_string())),
            other => Ok(Some(reply::text(other, self.at.key_of(pk))?)),
        }
    }

    /// The rank of `pk` from the top (0 is the highest value), or `None` when it is not in the
    /// index. One bucket: ZREVRANK. Several: the entries before `pk` in every bucket, summed.
    pub async fn rank<Q: PkRef + ?Sized>(&self, pk: &Q) -> Result<Option<u64>> {
        let pk = pk.pk_text();
        if self.at.keys.len() == 1 && self.partition.is_none() {
            let mut cmd = redis::cmd("ZREVRANK");
            cmd.arg(&self.at.keys[0]).arg(pk.as_ref());
            return self.at.repo.client().query(Call::read(&cmd)).await;
        }
        let Some(score) = self.score_of(&pk).await? else {
            return Ok(None);
        };
        let replies = self
            .ask_all("above", &[score.as_bytes(), pk.as_bytes()])
            .await?;
        Ok(Some(self.sum(replies)?))
    }

    /// `pk` and up to `k` neighbours on each side, highest first; empty when `pk` is not in
    /// the index.
    async fn around_texts(&self, pk: &str, k: usize) -> Result<Vec<String>> {
        let Some(score) = self.score_of(pk).await? else {
            return Ok(Vec::new());
        };
        let query: [&[u8]; 3] = [score.as_bytes(), pk.as_bytes(), &num(k)];
        let mut entries = Vec::new();
        for reply in self.ask_all("window", &query).await? {
            let mut parts = reply::array(reply, &self.at.keys[0])?.into_iter();
            let _first = parts.next();
            entries.extend(self.at.entries(parts.next().unwrap_or(Value::Nil))?);
        }
        entries.sort_by(Entry::descending);
        // The entry itself may have moved between the two reads: then there is nothing around.
        let Some(at) = entries.iter().position(|e| e.pk == pk) else {
            return Ok(Vec::new());
        };
        let from = at.saturating_sub(k);
        Ok(entries
            .into_iter()
            .skip(from)
            .take(at - from + k + 1)
            .map(|e| e.pk)
            .collect())
    }

    /// `pk` and up to `k` neighbours on each side, highest first; empty when `pk` is not in the
    /// index.
    pub async fn around<Q: PkRef + ?Sized>(&self, pk: &Q, k: usize) -> Result<Vec<M::Pk>> {
        self.at.pks(&self.around_texts(&pk.pk_text(), k).await?)
    }

    /// Like [`around`](Self::around), returning the instances.
    pub async fn around_instances<Q: PkRef + ?Sized>(&self, pk: &Q, k: usize) -> Result<Vec<M>> {
        let texts = self.around_texts(&pk.pk_text(), k).await?;
        self.at.instances(&texts).await
    }

    /// The entries in `[min, max]`, lowest first, `offset` skipped, at most `limit`: each bucket
    /// gives its first `offset + limit` (a single bucket applies the offset itself).
    async fn range_texts(
        &self,
        min: V,
        max: V,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<String>> {
        let (min, max) = (num(min.score()), num(max.score()));
        let single = self.at.keys.len() == 1;
        let (skip, take) = redis_limit(single, offset, limit);
        let mut entries = Vec::new();
        for reply in self
            .ask_all("range", &[&min, &max, &num(skip), &num(take)])
            .await?
        {
            entries.extend(self.at.entries(reply)?);
        }
        let skip_here = if single { 0 } else { offset };
        Ok(page(entries, Entry::ascending, skip_here, limit))
    }

    /// The pks whose value is in `[min, max]`, lowest first, skipping `offset` and returning at
    /// most `limit`.
    pub async fn range(&self, min: V, max: V, offset: usize, limit: usize) -> Result<Vec<M::Pk>> {
        self.at
            .pks(&self.range_texts(min, max, offset, limit).await?)
    }

    /// Like [`range`](Self::range), returning the instances.
    pub async fn range_instances(
        &self,
        min: V,
        max: V,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<M>> {
        let texts = self.range_texts(min, max, offset, limit).await?;
        self.at.instances(&texts).await
    }

    /// One page of the pks whose value is in `[min, max]`, lowest first, starting after
    /// `after` (the previous page's [`Page::next`]; `None` for the first page): keyset paging,
    /// so every page costs what the first costs, and an instance that keeps its value is seen
    /// once however the index changes meanwhile.
    pub async fn range_page(
        &self,
        min: V,
        max: V,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<M::Pk>> {
        let (min, max) = (score_text(min.score()), score_text(max.score()));
        let limit_arg = num(limit.min(i64::MAX as usize));
        let mut query: Vec<&[u8]> = vec![min.as_bytes(), max.as_bytes(), &limit_arg];
        let cursor = after.map(|c| (c.score_arg(), c.pk.clone()));
        if let Some((score, pk)) = &cursor {
            query.push(score.as_bytes());
            query.push(pk.as_bytes());
        }
        let mut entries = Vec::new();
        for reply in self.ask_all("after", &query).await? {
            entries.extend(self.at.entries(reply)?);
        }
        entries.sort_by(Entry::ascending);
        entries.truncate(limit);
        let next = (entries.len() == limit && limit > 0)
            .then(|| {
                entries.last().map(|e| Cursor {
                    score: e.score,
                    pk: e.pk.clone(),
                })
            })
            .flatten();
        let texts: Vec<String> = entries.into_iter().map(|e| e.pk).collect();
        Ok(Page {
            items: self.at.pks(&texts)?,
            next,
        })
    }

    /// Every instance whose value is in `[min, max]`, lowest first, read `batch` at a time
    /// (pages of [`range_page`](Self::range_page), then their instances): for jobs that walk a
    /// whole index. An instance deleted between a page and its read is left out.
    pub fn stream(
        &self,
        min: V,
        max: V,
        batch: usize,
    ) -> impl Stream<Item = Result<M>> + Send + 'static
    where
        V: Clone + Send + Sync + 'static,
    {
        let index = SortedIndex {
            at: self.at.clone(),
            partition: self.partition.clone(),
            value: PhantomData,
        };
        walk(batch, move |after, limit| {
            let (index, min, max) = (index.clone(), min.clone(), max.clone());
            async move {
                let page = index.range_page(min, max, after.as_ref(), limit).await?;
                let texts: Vec<String> = page
                    .items
                    .iter()
                    .map(|pk| pk.pk_text().into_owned())
                    .collect();
                Ok((index.at.instances(&texts).await?, page.next))
            }
        })
    }

    /// How many values are in `[min, max]` (ZCOUNT of every bucket, summed; ZLEXCOUNT in a
    /// partition).
    pub async fn count(&self, min: V, max: V) -> Result<u64> {
        let (min, max) = (min.score(), max.score());
        if self.partition.is_some() {
            let replies = self.ask_all("count", &[&num(min), &num(max)]).await?;
            return self.sum(replies);
        }
        let counts: Vec<u64> = self
            .at
            .command_all(|key| {
                let mut cmd = redis::cmd("ZCOUNT");
                cmd.arg(key).arg(min).arg(max);
                cmd
            })
            .await?;
        Ok(counts.into_iter().sum())
    }

    /// The number of instances in the index, or in the partition (ZCARD of every bucket,
    /// summed; ZLEXCOUNT in a partition).
    pub async fn len(&self) -> Result<u64> {
        if self.partition.is_some() {
            let replies = self.ask_all("len", &[]).await?;
            return self.sum(replies);
        }
        let counts: Vec<u64> = self
            .at
            .command_all(|key| {
                let mut cmd = redis::cmd("ZCARD");
                cmd.arg(key);
                cmd
            })
            .await?;
        Ok(counts.into_iter().sum())
    }
}

/// Queries of a unique index (`index: unique` on a `string`, `int`, `uuid` or enum field).
pub struct UniqueIndex<M, V> {
    at: IndexAt<M>,
    value: PhantomData<fn() -> V>,
}

impl<M: Model, V: Codec> UniqueIndex<M, V> {
    /// The unique index on the field at `path` of `repo`'s model.
    pub fn new(repo: &Repo<M>, path: &'static str) -> Self {
        UniqueIndex {
            at: IndexAt::new(repo, path, IndexKind::Unique),
            value: PhantomData,
        }
    }

    fn encode(&self, value: &V) -> Result<Vec<u8>> {
        value.encode().map_err(|e| Error::Encode {
            field: self.at.path.to_string(),
            reason: e.to_string(),
        })
    }

    /// The holder of `value`, as text. Where the index lives apart from the instances (see
    /// [`claims`](crate::claims)), the holder is checked to hold the value: a claim left by a
    /// crashed writer is never answered.
    async fn holder(&self, value: &V) -> Result<Vec<String>> {
        let raw = self.encode(value)?;
        let key = &self.at.keys[0];
        let reply = self.at.query(key, &[b"unique", &raw]).await?;
        let Some(record) = self.at.pk_texts(reply)?.pop() else {
            return Ok(Vec::new());
        };
        let holder = claims::record_holder(&record).ok_or_else(|| Error::Decode {
            key: key.clone(),
            field: format!("value {:?}", String::from_utf8_lossy(&raw)),
            reason: format!("{record:?} is not a claim record"),
        })?;
        let client = self.at.repo.client();
        if claims::apart(client, &M::META) {
            let ix = M::META.index_on(self.at.path).ok_or_else(|| {
                Error::Config(format!(
                    "model `{}` has no unique index on `{}`",
                    M::META.name,
                    self.at.path
                ))
            })?;
            if !claims::holds(client, &M::META, ix, holder, &raw).await? {
                return Ok(Vec::new());
            }
        }
        Ok(vec![holder.to_string()])
    }

    /// The pk of the instance holding `value` (HGET).
    pub async fn pk(&self, value: impl Into<V>) -> Result<Option<M::Pk>> {
        let texts = self.holder(&value.into()).await?;
        Ok(self.at.pks(&texts)?.pop())
    }

    /// The instance holding `value`.
    pub async fn get(&self, value: impl Into<V>) -> Result<Option<M>> {
        let texts = self.holder(&value.into()).await?;
        Ok(self.at.instances(&texts).await?.pop())
    }
}

/// Queries of a lookup index (`index: lookup` on a `string`, `bool`, `int` or enum field).
pub struct LookupIndex<M, V> {
    at: IndexAt<M>,
    value: PhantomData<fn() -> V>,
}

impl<M: Model, V: Codec> LookupIndex<M, V> {
    /// The lookup index on the field at `path` of `repo`'s model.
    pub fn new(repo: &Repo<M>, path: &'static str) -> Self {
        LookupIndex {
            at: IndexAt::new(repo, path, IndexKind::Lookup),
            value: PhantomData,
        }
    }

    /// The member prefix of a value: its stored text, length-prefixed (see `lua/index.lua`).
    fn prefix(&self, value: &V) -> Result<Vec<u8>> {
        let raw = value.encode().map_err(|e| Error::Encode {
            field: self.at.path.to_string(),
            reason: e.to_string(),
        })?;
        let mut prefix = format!("{}:", raw.len()).into_bytes();
        prefix.extend_from_slice(&raw);
        Ok(prefix)
    }

    /// The pks with `value`, in pk order (bytewise), `offset` skipped, at most `limit`: each
    /// bucket gives its first `offset + limit` (a single bucket applies the offset itself).
    async fn find_texts(&self, value: V, offset: usize, limit: usize) -> Result<Vec<String>> {
        let prefix = self.prefix(&value)?;
        let single = self.at.keys.len() == 1;
        let (skip, take) = redis_limit(single, offset, limit);
        let mut pks = Vec::new();
        for reply in self
            .at
            .query_all(&[b"lookup", &prefix, &num(skip), &num(take)])
            .await?
        {
            pks.extend(self.at.pk_texts(reply)?);
        }
        pks.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let skip_here = if single { 0 } else { offset };
        Ok(pks.into_iter().skip(skip_here).take(limit).collect())
    }

    /// The pks of instances with `value`, in pk order, skipping `offset` and returning at most
    /// `limit`.
    pub async fn find(
        &self,
        value: impl Into<V>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<M::Pk>> {
        let texts = self.find_texts(value.into(), offset, limit).await?;
        self.at.pks(&texts)
    }

    /// Like [`find`](Self::find), returning the instances.
    pub async fn find_instances(
        &self,
        value: impl Into<V>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<M>> {
        let texts = self.find_texts(value.into(), offset, limit).await?;
        self.at.instances(&texts).await
    }

    /// One page of the pks with `value`, in pk order, after `after` (the previous page's
    /// [`Page::next`]; `None` for the first page): keyset paging.
    pub async fn find_page(
        &self,
        value: impl Into<V>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<M::Pk>> {
        let prefix = self.prefix(&value.into())?;
        let limit_arg = num(limit.min(i64::MAX as usize));
        let mut query: Vec<&[u8]> = vec![b"lookup_after", &prefix, &limit_arg];
        if let Some(c) = after {
            query.push(c.pk.as_bytes());
        }
        let mut pks = Vec::new();
        for reply in self.at.query_all(&query).await? {
            pks.extend(self.at.pk_texts(reply)?);
        }
        pks.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        pks.truncate(limit);
        let next = (pks.len() == limit && limit > 0)
            .then(|| {
                pks.last().map(|pk| Cursor {
                    score: 0.0,
                    pk: pk.clone(),
                })
            })
            .flatten();
        Ok(Page {
            items: self.at.pks(&pks)?,
            next,
        })
    }

    /// How many instances have `value` (ZLEXCOUNT of every bucket, summed).
    pub async fn count(&self, value: impl Into<V>) -> Result<u64> {
        let prefix = self.prefix(&value.into())?;
        let mut min = b"[".to_vec();
        min.extend_from_slice(&prefix);
        let mut max = b"(".to_vec();
        max.extend_from_slice(&prefix);
        max.push(0xff);
        let counts: Vec<u64> = self
            .at
            .command_all(|key| {
                let mut cmd = redis::cmd("ZLEXCOUNT");
                cmd.arg(key).arg(&min).arg(&max);
                cmd
            })
            .await?;
        Ok(counts.into_iter().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(pk: &str, score: f64) -> Entry {
        Entry {
            pk: pk.into(),
            score,
        }
    }

    #[test]
    fn the_merge_order_is_redis_order() {
        let entries = vec![
            e("b", 1.0),
            e("a", 1.0),
            e("é", 1.0),
            e("c", 2.0),
            e("z", -1.0),
        ];
        let top = page(entries.clone(), Entry::descending, 0, 10);
        assert_eq!(top, ["c", "é", "b", "a", "z"]);
        let bottom = page(entries, Entry::ascending, 1, 3);
        assert_eq!(bottom, ["a", "b", "é"]);
    }
}
