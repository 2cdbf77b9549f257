//! Index queries. Every write path keeps indexes in step with their fields (see
//! `lua/index.lua`); these handles read them. Generated repositories return them from
//! `by_<field>()`.
//!
//! | index | Redis | queries |
//! |---|---|---|
//! | sorted | ZSET pk -> value | top, bottom, rank, around, range, count: O(log N + k) |
//! | unique | HASH value -> pk | pk, get: O(1) |
//! | lookup | ZSET of `<len>:<value><pk>` (lexicographic) | find (paged), count: O(log N + k) |
//!
//! Queries returning instances read them in the same script as the index: one round trip.

use std::marker::PhantomData;

use redis::Value;

use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::model::{IndexKind, Model, PkRef, PrimaryKey};
use crate::protocol;
use crate::repo::{self, Repo};
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

/// What every index handle holds.
struct IndexAt<M> {
    repo: Repo<M>,
    path: &'static str,
    key: String,
}

impl<M: Model> IndexAt<M> {
    fn new(repo: &Repo<M>, path: &'static str, kind: IndexKind) -> Self {
        let key = repo.client().keys().index(M::META.prefix, kind, path);
        IndexAt {
            repo: repo.clone(),
            path,
            key,
        }
    }

    /// Runs a query; `query` holds the query name and its arguments.
    async fn pks(&self, query: &[&[u8]]) -> Result<Vec<M::Pk>> {
        let mut cmd = scripts::QUERY.call(&[&self.key]);
        cmd.arg(query).arg("0");
        let reply: Value = scripts::QUERY
            .invoke(&cmd, &mut self.repo.client().connection())
            .await?;
        repo::array(reply, &self.key)?
            .into_iter()
            .map(|v| self.pk(v))
            .collect()
    }

    fn pk(&self, v: Value) -> Result<M::Pk> {
        let raw = repo::bulk(v, &self.key)?;
        let text = String::from_utf8_lossy(&raw);
        M::Pk::from_pk_text(&text).map_err(|e| Error::Decode {
            key: self.key.clone(),
            field: format!("member {text:?}"),
            reason: e.to_string(),
        })
    }

    /// Runs a query and reads the instances found, in the same script.
    async fn instances(&self, query: &[&[u8]]) -> Result<Vec<M>> {
        let keys = self.repo.client().keys();
        let mut cmd = scripts::QUERY.call(&[&self.key]);
        cmd.arg(query)
            .arg("1")
            .arg(keys.instance_prefix(M::META.prefix))
            .arg(M::META.containers.len());
        for c in M::META.containers {
            cmd.arg(c.path).arg(protocol::container_code(c.kind));
        }
        let reply: Value = scripts::QUERY
            .invoke(&cmd, &mut self.repo.client().connection())
            .await?;
        let mut out = Vec::new();
        for item in repo::array(reply, &self.key)? {
            let mut parts = repo::array(item, &self.key)?.into_iter();
            let pk = repo::bulk(parts.next().unwrap_or(Value::Nil), &self.key)?;
            let pk = String::from_utf8_lossy(&pk).into_owned();
            let instance = self.repo.instance_keys(pk.as_str())?;
            let rest: Vec<Value> = parts.collect();
            let reply = if M::META.containers.is_empty() {
                rest.into_iter().next().unwrap_or(Value::Nil)
            } else {
                Value::Array(rest)
            };
            out.extend(Repo::<M>::decode_instance(&instance, reply)?);
        }
        Ok(out)
    }
}

fn num(n: impl ToString) -> Vec<u8> {
    n.to_string().into_bytes()
}

/// Queries of a sorted index (`index: sorted` on an `int`, `float` or `datetime` field).
///
/// Ties: instances with equal values are ordered by pk text, bytewise: ascending queries (`bottom`,
/// `range`) list the smaller pk first, descending ones (`top`, `rank`, `around`) the larger pk
/// first. The order is total and stable, so `rank` and `top` always agree.
pub struct SortedIndex<M, V> {
    at: IndexAt<M>,
    value: PhantomData<fn() -> V>,
}

impl<M: Model, V: Score> SortedIndex<M, V> {
    /// The sorted index on the field at `path` of `repo`'s model (generated code calls this for
    /// the indexes the schema declares).
    pub fn new(repo: &Repo<M>, path: &'static str) -> Self {
        SortedIndex {
            at: IndexAt::new(repo, path, IndexKind::SortedInt),
            value: PhantomData,
        }
    }

    /// The field the index follows.
    pub fn path(&self) -> &'static str {
        self.at.path
    }

    /// The pks of the `n` highest values, highest first (ZREVRANGE).
    pub async fn top(&self, n: usize) -> Result<Vec<M::Pk>> {
        self.at.pks(&[b"top", &num(n)]).await
    }

    /// The instances with the `n` highest values, highest first, in one round trip.
    pub async fn top_instances(&self, n: usize) -> Result<Vec<M>> {
        self.at.instances(&[b"top", &num(n)]).await
    }

    /// The pks of the `n` lowest values, lowest first (ZRANGE).
    pub async fn bottom(&self, n: usize) -> Result<Vec<M::Pk>> {
        self.at.pks(&[b"bottom", &num(n)]).await
    }

    /// The instances with the `n` lowest values, lowest first, in one round trip.
    pub async fn bottom_instances(&self, n: usize) -> Result<Vec<M>> {
        self.at.instances(&[b"bottom", &num(n)]).await
    }

    /// The rank of `pk` from the top (0 is the highest value), or `None` when it is not in the
    /// index (ZREVRANK).
    pub async fn rank<Q: PkRef + ?Sized>(&self, pk: &Q) -> Result<Option<u64>> {
        let rank: Option<u64> = redis::cmd("ZREVRANK")
            .arg(&self.at.key)
            .arg(pk.pk_text().as_ref())
            .query_async(&mut self.at.repo.client().connection())
            .await?;
        Ok(rank)
    }

    /// `pk` and up to `k` neighbours on each side, highest first; empty when `pk` is not in the
    /// index.
    pub async fn around<Q: PkRef + ?Sized>(&self, pk: &Q, k: usize) -> Result<Vec<M::Pk>> {
        let text = pk.pk_text();
        self.at.pks(&[b"around", text.as_bytes(), &num(k)]).await
    }

    /// Like [`around`](Self::around), returning the instances.
    pub async fn around_instances<Q: PkRef + ?Sized>(&self, pk: &Q, k: usize) -> Result<Vec<M>> {
        let text = pk.pk_text();
        self.at
            .instances(&[b"around", text.as_bytes(), &num(k)])
            .await
    }

    fn range_query(min: &V, max: &V, offset: usize, limit: usize) -> [Vec<u8>; 5] {
        [
            b"range".to_vec(),
            num(min.score()),
            num(max.score()),
            num(offset),
            num(limit),
        ]
    }

    /// The pks whose value is in `[min, max]`, lowest first, skipping `offset` and returning at
    /// most `limit` (ZRANGEBYSCORE ... LIMIT).
    pub async fn range(&self, min: V, max: V, offset: usize, limit: usize) -> Result<Vec<M::Pk>> {
        let q = Self::range_query(&min, &max, offset, limit);
        let q: Vec<&[u8]> = q.iter().map(Vec::as_slice).collect();
        self.at.pks(&q).await
    }

    /// Like [`range`](Self::range), returning the instances.
    pub async fn range_instances(
        &self,
        min: V,
        max: V,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<M>> {
        let q = Self::range_query(&min, &max, offset, limit);
        let q: Vec<&[u8]> = q.iter().map(Vec::as_slice).collect();
        self.at.instances(&q).await
    }

    /// How many values are in `[min, max]` (ZCOUNT).
    pub async fn count(&self, min: V, max: V) -> Result<u64> {
        let n: u64 = redis::cmd("ZCOUNT")
            .arg(&self.at.key)
            .arg(min.score())
            .arg(max.score())
            .query_async(&mut self.at.repo.client().connection())
            .await?;
        Ok(n)
    }

    /// The number of instances in the index (ZCARD).
    pub async fn len(&self) -> Result<u64> {
        let n: u64 = redis::cmd("ZCARD")
            .arg(&self.at.key)
            .query_async(&mut self.at.repo.client().connection())
            .await?;
        Ok(n)
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

    /// The pk of the instance holding `value` (HGET).
    pub async fn pk(&self, value: impl Into<V>) -> Result<Option<M::Pk>> {
        let raw = self.encode(&value.into())?;
        Ok(self.at.pks(&[b"unique", &raw]).await?.pop())
    }

    /// The instance holding `value`, in one round trip.
    pub async fn get(&self, value: impl Into<V>) -> Result<Option<M>> {
        let raw = self.encode(&value.into())?;
        Ok(self.at.instances(&[b"unique", &raw]).await?.pop())
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

    /// The pks of instances with `value`, in pk order, skipping `offset` and returning at most
    /// `limit` (ZRANGEBYLEX ... LIMIT).
    pub async fn find(
        &self,
        value: impl Into<V>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<M::Pk>> {
        let prefix = self.prefix(&value.into())?;
        self.at
            .pks(&[b"lookup", &prefix, &num(offset), &num(limit)])
            .await
    }

    /// Like [`find`](Self::find), returning the instances in one round trip.
    pub async fn find_instances(
        &self,
        value: impl Into<V>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<M>> {
        let prefix = self.prefix(&value.into())?;
        self.at
            .instances(&[b"lookup", &prefix, &num(offset), &num(limit)])
            .await
    }

    /// How many instances have `value` (ZLEXCOUNT).
    pub async fn count(&self, value: impl Into<V>) -> Result<u64> {
        let prefix = self.prefix(&value.into())?;
        let mut min = b"[".to_vec();
        min.extend_from_slice(&prefix);
        let mut max = b"(".to_vec();
        max.extend_from_slice(&prefix);
        max.push(0xff);
        let n: u64 = redis::cmd("ZLEXCOUNT")
            .arg(&self.at.key)
            .arg(min)
            .arg(max)
            .query_async(&mut self.at.repo.client().connection())
            .await?;
        Ok(n)
    }
}
