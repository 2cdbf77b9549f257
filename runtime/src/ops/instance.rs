//! [`Instance`]: one instance of a model, addressed by pk, where field operations start.

use std::borrow::Cow;
use std::sync::Arc;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::keys::Keyspace;
use crate::meta::{IndexMeta, ModelMeta, TtlRefresh};
use crate::ops::op::{Decoder, Op, OpSpec};
use crate::ops::sink::{Direct, Sink};
use crate::protocol::{OpCode, TtlRefreshKeys};
use crate::record::{Flat, RecordReader, RecordWriter};

/// Where an instance lives.
#[derive(Debug)]
pub(crate) struct Located {
    /// The model's static facts (name for errors, TTL for new container keys).
    pub(crate) meta: ModelMeta,
    /// The pk as text.
    pub(crate) pk: String,
    /// The instance hash's key.
    pub(crate) hash: String,
    /// The memo of expiring instances of its bucket, if the model has one.
    pub(crate) memo: Option<String>,
    /// What re-arms its TTL, for a model with sliding expiry.
    pub(crate) refresh: Option<TtlRefreshKeys>,
}

impl Located {
    /// True when an op of `code` on the instance re-arms its TTL.
    pub(crate) fn refreshed_by(&self, code: OpCode) -> bool {
        match self.meta.ttl_refresh {
            TtlRefresh::Never => false,
            TtlRefresh::OnWrite => !code.reads_only(),
            TtlRefresh::OnRead => true,
        }
    }
}

/// One instance of a model, by pk: a cheap handle (no I/O) that field handles are built on.
/// Obtained from [`Repo::instance`](crate::Repo::instance); generated code wraps it in a typed
/// `<Model>Fields` handle.
///
/// `S` is where its handles' operations go: returned as [`Op`]s ([`Direct`]), or queued into a
/// [`Batch`](crate::Batch) ([`Batched`](crate::Batched)).
#[derive(Clone, Debug)]
pub struct Instance<S: Sink = Direct> {
    client: Client,
    // An unusable pk (empty) is reported when an operation built on it runs.
    located: std::result::Result<Arc<Located>, (String, &'static str)>,
    sink: S,
}

/// Which key of the instance an operation targets.
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    /// The instance hash (scalar fields and struct leaves).
    Hash,
    /// A container field's own key.
    Container { path: &'a str },
}

impl Instance {
    pub(crate) fn new(client: &Client, meta: ModelMeta, pk: Cow<'_, str>) -> Instance {
        let located = if pk.is_empty() {
            Err((String::new(), "a primary key cannot be empty"))
        } else {
            let hash = client.keys().instance(&meta, &pk);
            // Only models that expire need their bucket's keys here (not the hot path).
            let memo = meta.remembers_index_entries().then(|| {
                let bucket = Keyspace::bucket_of(&meta, &pk);
                client.keys().memo(&meta, bucket)
            });
            let refresh = match (meta.ttl_seconds, meta.ttl_refresh) {
                (Some(seconds), TtlRefresh::OnWrite | TtlRefresh::OnRead) => {
                    let bucket = Keyspace::bucket_of(&meta, &pk);
                    Some(TtlRefreshKeys {
                        ttl_ms: seconds.saturating_mul(1000),
                        registry: client.keys().registry(&meta, bucket),
                        keys: ttl_keys(&meta, &hash),
                    })
                }
                _ => None,
            };
            Ok(Arc::new(Located {
                meta,
                pk: pk.into_owned(),
                hash,
                memo,
                refresh,
            }))
        };
        Instance {
            client: client.clone(),
            located,
            sink: Direct,
        }
    }

    /// The same instance, its handles' operations going to `sink`.
    pub(crate) fn with_sink<S: Sink>(self, sink: S) -> Instance<S> {
        Instance {
            client: self.client,
            located: self.located,
            sink,
        }
    }

    /// Sets (`Some(ms)`, at least 1) or removes (`None`) the expiry of the whole instance, as
    /// one op: every key of the instance, its registry entry and its memo entry move together
    /// (see `set_expiry` in `lua/index.lua`). A model without a `ttl` is refused: its indexes
    /// keep no memo, so expired instances would stay in them.
    pub(crate) fn expiry(&self, ms: Option<u64>) -> Op<()> {
        let parts = match &self.located {
            Ok(located) if located.meta.ttl_seconds.is_none() => Err(Error::Config(format!(
                "model {} has no `ttl` in its schema, so its instances cannot expire; give it \
                 one (instances then expire after it unless persisted)",
                located.meta.name
            ))),
            Ok(located) => Ok(expiry_parts(&self.client, located, ms)),
            // Reported by `op` below.
            Err(_) => Ok((Vec::new(), Vec::new())),
        };
        let (extra, args) = match parts {
            Ok((extra, args)) => (extra, Ok(args)),
            Err(e) => (Vec::new(), Err(e)),
        };
        let field = Cow::Borrowed("(expiry)");
        self.op(
            Target::Hash,
            field,
            OpCode::Expiry,
            args,
            Box::new(|_, _| Ok(())),
        )
        .with_extra_keys(extra)
    }

    /// The time the instance has left (`PTTL`): `None` when it does not expire.
    pub(crate) fn time_left(&self) -> Op<Option<std::time::Duration>> {
        let field = Cow::Borrowed("(expiry)");
        let decode: Decoder<Option<std::time::Duration>> = Box::new(|v, spec| {
            let ms = super::op::int_text(v, spec)?;
            Ok(u64::try_from(ms).ok().map(std::time::Duration::from_millis))
        });
        self.op(Target::Hash, field, OpCode::Pttl, Ok(Vec::new()), decode)
    }
}

impl<S: Sink> Instance<S> {
    /// A condition that only requires the instance to exist (its version marker is set):
    /// [`Error::NotFound`] otherwise, like every operation.
    pub fn expect_exists(&self) -> S::Out<()> {
        let args = Ok(vec![
            crate::record::VERSION_FIELD.as_bytes().to_vec(),
            b"set".to_vec(),
            b"s".to_vec(),
            Vec::new(),
            Vec::new(),
        ]);
        let field = Cow::Borrowed("(instance)");
        self.op(
            Target::Hash,
            field,
            OpCode::Cond,
            args,
            Box::new(|_, _| Ok(())),
        )
    }

    /// The key of the container at `path` of this instance (`None` for an unusable pk).
    pub(crate) fn container_key(&self, path: &str) -> Option<String> {
        let located = self.located.as_ref().ok()?;
        Some(Keyspace::container(&located.hash, path))
    }

    /// The client operations on this instance run on.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The key of the instance's hash, or the reason the pk cannot be used.
    pub fn key(&self) -> Result<&str> {
        match &self.located {
            Ok(l) => Ok(&l.hash),
            Err((pk, reason)) => Err(Error::InvalidKey {
                pk: pk.clone(),
                reason,
            }),
        }
    }

    /// Builds an operation and hands it to the sink (see [`build`](Self::build)).
    pub(crate) fn op<T: Send + 'static>(
        &self,
        target: Target<'_>,
        field: Cow<'static, str>,
        code: OpCode,
        args: Result<Vec<Vec<u8>>>,
        decode: Decoder<T>,
    ) -> S::Out<T> {
        self.emit(self.build(target, field, code, args, decode))
    }

    /// Hands a built operation to the sink.
    pub(crate) fn emit<T: Send + 'static>(&self, op: Op<T>) -> S::Out<T> {
        self.sink.emit(op)
    }

    /// Builds an operation; `args` are the command's arguments after the key (an encoding
    /// error is reported when the operation runs, and fails a pipeline before it is sent).
    pub(crate) fn build<T>(
        &self,
        target: Target<'_>,
        field: Cow<'static, str>,
        code: OpCode,
        args: Result<Vec<Vec<u8>>>,
        decode: Decoder<T>,
    ) -> Op<T> {
        let spec = match (&self.located, args) {
            (Err((pk, reason)), _) => Err(Error::InvalidKey {
                pk: pk.clone(),
                reason,
            }),
            (Ok(_), Err(e)) => Err(e),
            (Ok(located), Ok(args)) => {
                let renamed_from = match target {
                    Target::Hash => located.meta.renamed_from(&field),
                    Target::Container { .. } => None,
                };
                let (key, in_container, index, partitions) = match target {
                    // Only a write can move an index entry.
                    Target::Hash if !code.reads_only() => {
                        let meta = &located.meta;
                        let key_of = |ix: &'static IndexMeta| {
                            let bucket = Keyspace::bucket_of(meta, &located.pk);
                            (ix, self.client.keys().index_key(meta, ix, bucket))
                        };
                        let index = meta.index_on(&field).map(key_of);
                        let partitions = meta.partitioned_by(&field).map(key_of).collect();
                        (located.hash.clone(), false, index, partitions)
                    }
                    Target::Hash => (located.hash.clone(), false, None, Vec::new()),
                    Target::Container { path } => (
                        Keyspace::container(&located.hash, path),
                        true,
                        None,
                        Vec::new(),
                    ),
                };
                Ok(OpSpec {
                    located: Arc::clone(located),
                    key,
                    field,
                    code,
                    args,
                    creates_key: in_container && code.creates_key(),
                    index,
                    partitions,
                    renamed_from,
                    extra_keys: Vec::new(),
                    also: Vec::new(),
                })
            }
        };
        Op::new(self.client.clone(), spec, decode)
    }
}

/// Built by generated code: the handle of the field stored at `path` in `instance` (for a struct
/// nested in a model, its `<Struct>Fields`, whose fields are stored under the prefix `path`,
/// `stats.`). A trait rather than an inherent constructor, so that no schema field name can
/// collide with it, and one for every handle, so that generated code builds them all alike.
pub trait FieldHandle<S: Sink = Direct> {
    /// The handle of the field at `path` of `instance`.
    fn at(instance: Instance<S>, path: Cow<'static, str>) -> Self;
}

/// Where the fields of a generated `<Model>Fields` or `<Struct>Fields` are stored: an instance,
/// and the prefix of a nested struct's fields (empty for a model's own fields).
#[derive(Clone, Debug)]
pub struct Place<S: Sink = Direct> {
    instance: Instance<S>,
    prefix: Cow<'static, str>,
}

impl<S: Sink> Place<S> {
    /// The fields stored under `prefix` in `instance`.
    pub fn new(instance: Instance<S>, prefix: Cow<'static, str>) -> Self {
        Place { instance, prefix }
    }

    /// The handle of the field `name` stored here (for a struct, `name` is its prefix, `stats.`).
    pub fn field<H: FieldHandle<S>>(&self, name: &'static str) -> H {
        let path = if self.prefix.is_empty() {
            Cow::Borrowed(name)
        } else {
            Cow::Owned([self.prefix.as_ref(), name].concat())
        };
        H::at(self.instance.clone(), path)
    }
}

impl<S: Sink> Place<S> {
    /// Reads the whole struct stored here in one step (HGETALL of the instance's hash).
    pub fn get_whole<T: Flat + Send + 'static>(&self) -> S::Out<T> {
        let prefix = self.prefix.clone();
        self.instance.op(
            Target::Hash,
            self.prefix.clone(),
            OpCode::Hgetall,
            Ok(Vec::new()),
            Box::new(move |v, spec| {
                let hash = crate::stored::pairs(v, &spec.key)?
                    .into_iter()
                    .filter(|(f, _)| f.starts_with(prefix.as_ref()))
                    .collect();
                let mut reader = RecordReader::new(spec.key.clone(), hash, Default::default());
                T::read_flat(&mut reader, &prefix)
            }),
        )
    }

    /// Writes the whole struct stored here in one step: every leaf set (or, for an unset
    /// optional, cleared), each moving its own index, in one script.
    pub fn set_whole<T: Flat>(&self, value: &T) -> S::Out<()> {
        self.instance.emit(self.whole_set_op(value))
    }

    fn whole_set_op<T: Flat>(&self, value: &T) -> Op<()> {
        match self.leaf_specs(value) {
            Ok(mut specs) if !specs.is_empty() => {
                // The first leaf's op carries the others (run after it, replies dropped).
                let mut first = specs.remove(0);
                first.also = specs;
                Op::new(
                    self.instance.client().clone(),
                    Ok(first),
                    Box::new(|_, _| Ok(())),
                )
            }
            Ok(_) => self.failed(Error::Pipeline(
                "a struct holding a container is not written whole",
            )),
            Err(e) => self.failed(e),
        }
    }

    /// One op per leaf of `value`: HSET of its stored text, or HDEL for an unset optional.
    fn leaf_specs<T: Flat>(&self, value: &T) -> Result<Vec<OpSpec>> {
        let mut record = RecordWriter::default();
        value.write_flat(&mut record, &self.prefix)?;
        let mut specs = Vec::with_capacity(T::LEAVES.len());
        for leaf in T::LEAVES {
            let path = [self.prefix.as_ref(), leaf].concat();
            let raw = record.hash.iter().find(|(f, _)| *f == path);
            let (code, args) = match raw {
                Some((_, raw)) => (OpCode::Hset, vec![path.clone().into_bytes(), raw.clone()]),
                None => (OpCode::Hdel, vec![path.clone().into_bytes()]),
            };
            let op: Op<()> = self.instance.build(
                Target::Hash,
                Cow::Owned(path),
                code,
                Ok(args),
                Box::new(|_, _| Ok(())),
            );
            let spec = op.into_spec()?;
            if super::batch::claimed_apart(self.instance.client(), &spec) {
                return Err(Error::Pipeline(
                    "a unique index of a model with several buckets is claimed in steps: set the struct's fields one by one",
                ));
            }
            specs.push(spec);
        }
        Ok(specs)
    }

    fn failed(&self, e: Error) -> Op<()> {
        Op::new(
            self.instance.client().clone(),
            Err(e),
            Box::new(|_, _| Ok(())),
        )
    }
}

/// [`FieldHandle`] for handle types with an inherent `new(instance, path)`.
macro_rules! field_handle {
    ($(impl[$($g:tt)*] $ty:ty;)*) => {$(
        impl<$($g)*> $crate::ops::FieldHandle<S> for $ty {
            fn at(instance: $crate::ops::Instance<S>, path: std::borrow::Cow<'static, str>) -> Self {
                Self::new(instance, path)
            }
        }
    )*};
}
pub(crate) use field_handle;

/// Every key of an instance that carries its TTL: the hash (first), each container key, and
/// the fence hash of its locks.
fn ttl_keys(meta: &ModelMeta, hash: &str) -> Vec<String> {
    std::iter::once(hash.to_string())
        .chain(
            meta.containers
                .iter()
                .map(|c| Keyspace::container(hash, c.path)),
        )
        .chain(std::iter::once(Keyspace::fences(hash)))
        .collect()
}

/// The further keys and the arguments of an expiry op (see `OpCode::Expiry` in `lua/ops.lua`).
fn expiry_parts(
    client: &Client,
    located: &Located,
    ms: Option<u64>,
) -> (Vec<String>, Vec<Vec<u8>>) {
    let meta = &located.meta;
    let bucket = Keyspace::bucket_of(meta, &located.pk);
    let instance_keys = ttl_keys(meta, &located.hash);
    let mut extra = vec![client.keys().registry(meta, bucket)];
    extra.extend(located.memo.clone());
    extra.extend(instance_keys.iter().cloned());
    let mut args: Vec<Vec<u8>> = vec![
        ms.map_or_else(Vec::new, |ms| ms.max(1).to_string().into_bytes()),
        located.pk.clone().into_bytes(),
        if located.memo.is_some() {
            b"1".to_vec()
        } else {
            b"0".to_vec()
        },
        instance_keys.len().to_string().into_bytes(),
        meta.indexes.len().to_string().into_bytes(),
    ];
    for ix in meta.indexes {
        extra.push(client.keys().index_key(meta, ix, bucket));
        args.push(crate::protocol::index_wire(ix).as_bytes().to_vec());
        args.push(ix.path.as_bytes().to_vec());
        args.push(meta.renamed_from(ix.path).unwrap_or("").as_bytes().to_vec());
        args.push(ix.partition.unwrap_or("").as_bytes().to_vec());
    }
    (extra, args)
}

/// A generated `<Model>Fields` or `<Struct>Fields`: the handles type over a [`Place`], from one
/// line per field, `name: HandleType = "stored name"`, with `default <expr>` after it for a
/// scalar that has a schema default (the handle's `with_default`). Each accessor is documented as
/// the atomic operations on `<Owner>::<name>`. Used by generated code
/// (`rapyer::__private::handles!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __handles {
    (
        $(#[$attr:meta])*
        $ty:ident of $owner:ident:
        $($field:ident: $handle:ty = $stored:literal $(default $default:expr)?),* $(,)?
    ) => {
        $(#[$attr])*
        #[derive(::core::fmt::Debug, ::core::clone::Clone)]
        pub struct $ty<S: $crate::Sink = $crate::Direct>($crate::__private::Place<S>);

        impl<S: $crate::Sink> $crate::__private::FieldHandle<S> for $ty<S> {
            fn at(
                instance: $crate::__private::Instance<S>,
                prefix: ::std::borrow::Cow<'static, str>,
            ) -> Self {
                Self($crate::__private::Place::new(instance, prefix))
            }
        }

        impl<S: $crate::Sink> $ty<S> {
            $(
                #[doc = concat!(
                    " Atomic operations on [`", stringify!($owner), "::", stringify!($field), "`]."
                )]
                pub fn $field(&self) -> $handle {
                    self.0.field::<$handle>($stored)$(.with_default($default))?
                }
            )*
        }
    };
}
