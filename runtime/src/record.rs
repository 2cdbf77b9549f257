//! Records: an instance as Redis holds it, a hash of scalar fields plus one value per container
//! field. Generated code fills a [`RecordWriter`] and reads a [`RecordReader`]; the repository
//! moves records to and from Redis.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Codec, CodecError, Finite, decode_json, encode_json};
use crate::error::{Error, Result};

/// Hash field recording the schema version that wrote an instance. Its name is not a valid schema
/// field name, so it never collides with one; it also makes an instance exist when every optional
/// field is empty.
pub const VERSION_FIELD: &str = "@v";

/// The raw content of one container field.
#[derive(Debug, Clone, PartialEq)]
pub enum ContainerData {
    /// LIST elements, in order.
    List(Vec<Vec<u8>>),
    /// SET members.
    Set(Vec<Vec<u8>>),
    /// HASH entries.
    Map(Vec<(String, Vec<u8>)>),
    /// ZSET members with their scores.
    ZSet(Vec<(Vec<u8>, f64)>),
}

impl ContainerData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ContainerData::List(v) | ContainerData::Set(v) => v.len(),
            ContainerData::Map(v) => v.len(),
            ContainerData::ZSet(v) => v.len(),
        }
    }

    /// True when empty (Redis then holds no key at all).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Collects the encoded fields of an instance.
#[derive(Debug, Default)]
pub struct RecordWriter {
    pub(crate) hash: Vec<(String, Vec<u8>)>,
    pub(crate) containers: HashMap<String, ContainerData>,
}

fn encode_err(field: &str) -> impl FnOnce(CodecError) -> Error + '_ {
    move |e| Error::Encode {
        field: field.to_string(),
        reason: e.to_string(),
    }
}

impl RecordWriter {
    /// A scalar field.
    pub fn field<T: Codec>(&mut self, name: &str, value: &T) -> Result<()> {
        let raw = value.encode().map_err(encode_err(name))?;
        self.hash.push((name.to_string(), raw));
        Ok(())
    }

    /// An optional scalar field: absent from the hash when `None`.
    pub fn optional<T: Codec>(&mut self, name: &str, value: &Option<T>) -> Result<()> {
        match value {
            Some(v) => self.field(name, v),
            None => Ok(()),
        }
    }

    /// A composite value (`optional<Struct>`) stored as JSON in one hash field.
    pub fn optional_json<T: Serialize + Finite>(
        &mut self,
        name: &str,
        value: &Option<T>,
    ) -> Result<()> {
        if let Some(v) = value {
            let raw = encode_json(v).map_err(encode_err(name))?;
            self.hash.push((name.to_string(), raw));
        }
        Ok(())
    }

    fn encode_all<'a, T: 'a>(
        path: &str,
        items: impl Iterator<Item = &'a T>,
        encode: impl Fn(&T) -> Result<Vec<u8>, CodecError>,
    ) -> Result<Vec<Vec<u8>>> {
        items
            .enumerate()
            .map(|(i, v)| encode(v).map_err(|e| encode_err(&format!("{path}[{i}]"))(e)))
            .collect()
    }

    /// A struct, its fields flattened into the hash under `prefix` (`stats.`).
    pub fn flat<T: Flat>(&mut self, prefix: &str, value: &T) -> Result<()> {
        value.write_flat(self, prefix)
    }

    /// A `list<T>` of scalars.
    pub fn list<T: Codec>(&mut self, path: &str, items: &[T]) -> Result<()> {
        let data = Self::encode_all(path, items.iter(), T::encode)?;
        self.containers
            .insert(path.to_string(), ContainerData::List(data));
        Ok(())
    }

    /// A `list<T>` of composites (JSON elements).
    pub fn list_json<T: Serialize + Finite>(&mut self, path: &str, items: &[T]) -> Result<()> {
        let data = Self::encode_all(path, items.iter(), encode_json)?;
        self.containers
            .insert(path.to_string(), ContainerData::List(data));
        Ok(())
    }

    /// A `zset<T>`: members and their scores (finite).
    pub fn zset<T: Codec>(&mut self, path: &str, items: &BTreeMap<T, f64>) -> Result<()> {
        let mut data = Vec::with_capacity(items.len());
        for (member, score) in items {
            if !score.is_finite() {
                return Err(encode_err(path)(CodecError::NonFinite(*score)));
            }
            data.push((member.encode().map_err(encode_err(path))?, *score));
        }
        self.containers
            .insert(path.to_string(), ContainerData::ZSet(data));
        Ok(())
    }

    /// A `set<T>`.
    pub fn set<T: Codec>(&mut self, path: &str, items: &BTreeSet<T>) -> Result<()> {
        let data = Self::encode_all(path, items.iter(), T::encode)?;
        self.containers
            .insert(path.to_string(), ContainerData::Set(data));
        Ok(())
    }

    fn encode_map<T>(
        path: &str,
        items: &BTreeMap<String, T>,
        encode: impl Fn(&T) -> Result<Vec<u8>, CodecError>,
    ) -> Result<ContainerData> {
        items
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    encode(v).map_err(encode_err(&format!("{path}[{k:?}]")))?,
                ))
            })
            .collect::<Result<_>>()
            .map(ContainerData::Map)
    }

    /// A `map<string, T>` of scalars.
    pub fn map<T: Codec>(&mut self, path: &str, items: &BTreeMap<String, T>) -> Result<()> {
        let data = Self::encode_map(path, items, T::encode)?;
        self.containers.insert(path.to_string(), data);
        Ok(())
    }

    /// A `map<string, T>` of composites (JSON values).
    pub fn map_json<T: Serialize + Finite>(
        &mut self,
        path: &str,
        items: &BTreeMap<String, T>,
    ) -> Result<()> {
        let data = Self::encode_map(path, items, encode_json)?;
        self.containers.insert(path.to_string(), data);
        Ok(())
    }
}

/// An instance read back from Redis, consumed field by field by generated code.
#[derive(Debug)]
pub struct RecordReader {
    key: String,
    hash: HashMap<String, Vec<u8>>,
    containers: HashMap<String, ContainerData>,
}

impl RecordReader {
    /// A reader over the hash of `key` and its containers (by path).
    pub fn new(
        key: String,
        hash: HashMap<String, Vec<u8>>,
        containers: HashMap<String, ContainerData>,
    ) -> Self {
        RecordReader {
            key,
            hash,
            containers,
        }
    }

    /// The instance's key, for error messages.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Reads the field `new` from `old` when the instance was written before the rename (it has
    /// `old` and not `new`).
    pub fn alias(&mut self, new: &str, old: &str) {
        if !self.hash.contains_key(new)
            && let Some(value) = self.hash.remove(old)
        {
            self.hash.insert(new.to_string(), value);
        }
    }

    /// The schema version that wrote the instance, if recorded.
    pub fn writer_version(&self) -> Option<u32> {
        self.hash
            .get(VERSION_FIELD)
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
    }

    fn decode_err(&self, key: &str, field: &str) -> impl FnOnce(CodecError) -> Error {
        let (key, field) = (key.to_string(), field.to_string());
        move |e| Error::Decode {
            key,
            field,
            reason: e.to_string(),
        }
    }

    fn missing(&self, name: &str) -> Error {
        Error::Decode {
            key: self.key.clone(),
            field: name.to_string(),
            reason: "field is missing".into(),
        }
    }

    /// A required scalar field.
    pub fn field<T: Codec>(&mut self, name: &str) -> Result<T> {
        self.optional(name)?.ok_or_else(|| self.missing(name))
    }

    /// A scalar field with a schema default, used when the stored instance predates the field.
    pub fn field_or<T: Codec>(&mut self, name: &str, default: impl FnOnce() -> T) -> Result<T> {
        Ok(self.optional(name)?.unwrap_or_else(default))
    }

    /// An optional scalar field.
    pub fn optional<T: Codec>(&mut self, name: &str) -> Result<Option<T>> {
        match self.hash.remove(name) {
            None => Ok(None),
            Some(raw) => T::decode(&raw)
                .map(Some)
                .map_err(self.decode_err(&self.key, name)),
        }
    }

    /// An optional composite stored as JSON.
    pub fn optional_json<T: DeserializeOwned>(&mut self, name: &str) -> Result<Option<T>> {
        match self.hash.remove(name) {
            None => Ok(None),
            Some(raw) => decode_json(&raw)
                .map(Some)
                .map_err(self.decode_err(&self.key, name)),
        }
    }

    fn elements(&mut self, path: &str) -> (String, ContainerData) {
        let key = crate::keys::Keyspace::container(&self.key, path);
        let data = self
            .containers
            .remove(path)
            .unwrap_or(ContainerData::List(Vec::new()));
        (key, data)
    }

    fn decode_list<T>(
        &mut self,
        path: &str,
        decode: impl Fn(&[u8]) -> Result<T, CodecError>,
    ) -> Result<Vec<T>> {
        let (key, data) = self.elements(path);
        let items = match data {
            ContainerData::List(v) | ContainerData::Set(v) => v,
            ContainerData::Map(_) | ContainerData::ZSet(_) => Vec::new(),
        };
        items
            .iter()
            .enumerate()
            .map(|(i, raw)| decode(raw).map_err(self.decode_err(&key, &format!("{path}[{i}]"))))
            .collect()
    }

    /// A struct whose fields are flattened into the hash under `prefix` (`stats.`).
    pub fn flat<T: Flat>(&mut self, prefix: &str) -> Result<T> {
        T::read_flat(self, prefix)
    }

    /// A `list<T>` of scalars.
    pub fn list<T: Codec>(&mut self, path: &str) -> Result<Vec<T>> {
        self.decode_list(path, T::decode)
    }

    /// A `list<T>` of composites.
    pub fn list_json<T: DeserializeOwned>(&mut self, path: &str) -> Result<Vec<T>> {
        self.decode_list(path, decode_json)
    }

    /// A `zset<T>`: members and their scores.
    pub fn zset<T: Codec + Ord>(&mut self, path: &str) -> Result<BTreeMap<T, f64>> {
        let (key, data) = self.elements(path);
        let ContainerData::ZSet(entries) = data else {
            return Ok(BTreeMap::new());
        };
        entries
            .iter()
            .map(|(raw, score)| {
                let member = T::decode(raw).map_err(self.decode_err(&key, path))?;
                Ok((member, *score))
            })
            .collect()
    }

    /// A `set<T>`.
    pub fn set<T: Codec + Ord>(&mut self, path: &str) -> Result<BTreeSet<T>> {
        Ok(self.decode_list(path, T::decode)?.into_iter().collect())
    }

    fn decode_map<T>(
        &mut self,
        path: &str,
        decode: impl Fn(&[u8]) -> Result<T, CodecError>,
    ) -> Result<BTreeMap<String, T>> {
        let (key, data) = self.elements(path);
        let ContainerData::Map(entries) = data else {
            return Ok(BTreeMap::new());
        };
        entries
            .into_iter()
            .map(|(k, raw)| {
                let v = decode(&raw).map_err(self.decode_err(&key, &format!("{path}[{k:?}]")))?;
                Ok((k, v))
            })
            .collect()
    }

    /// A `map<string, T>` of scalars.
    pub fn map<T: Codec>(&mut self, path: &str) -> Result<BTreeMap<String, T>> {
        self.decode_map(path, T::decode)
    }

    /// A `map<string, T>` of composites.
    pub fn map_json<T: DeserializeOwned>(&mut self, path: &str) -> Result<BTreeMap<String, T>> {
        self.decode_map(path, decode_json)
    }
}

/// A schema struct nested in a model: its fields are flattened into the instance's hash under
/// `<field>.` (and its containers get keys of their own). Implemented by generated code.
pub trait Flat: Sized {
    /// Every hash field the struct writes, relative to its prefix (nested structs' leaves as
    /// `inner.n`); empty for a struct holding a container, which is not written whole.
    const LEAVES: &'static [&'static str];
    /// Writes the fields, each name prefixed with `prefix`.
    fn write_flat(&self, w: &mut RecordWriter, prefix: &str) -> Result<()>;
    /// Reads the fields back.
    fn read_flat(r: &mut RecordReader, prefix: &str) -> Result<Self>;
}

/// The record methods of a model (`model:`, [`Model::write_record`](crate::Model::write_record)
/// and `read_record`) or of a struct (`flat:`, [`Flat`]'s), from one line per field:
/// `name: method("stored name")`, or `name: field("stored name", default)` for a scalar read
/// with a default when absent. `method` is the [`RecordWriter`] method that writes the field
/// and the [`RecordReader`] method that reads it, so each field is named once for both
/// directions. Used by generated code (`rapyer::__private::record!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __record {
    (model: $($field:ident: $how:ident($stored:literal $(, $default:expr)?)),* $(,)?) => {
        fn write_record(&self, w: &mut $crate::__private::RecordWriter) -> $crate::Result<()> {
            $( w.$how($stored, &self.$field)?; )*
            ::core::result::Result::Ok(())
        }

        fn read_record(r: &mut $crate::__private::RecordReader) -> $crate::Result<Self> {
            ::core::result::Result::Ok(Self {
                $( $field: $crate::__record!(@read r.$how($stored) $(, $default)?), )*
            })
        }
    };
    (flat: $($field:ident: $how:ident($stored:literal $(, $default:expr)?)),* $(,)?) => {
        fn write_flat(
            &self,
            w: &mut $crate::__private::RecordWriter,
            prefix: &str,
        ) -> $crate::Result<()> {
            $( w.$how(&[prefix, $stored].concat(), &self.$field)?; )*
            ::core::result::Result::Ok(())
        }

        fn read_flat(r: &mut $crate::__private::RecordReader, prefix: &str) -> $crate::Result<Self> {
            ::core::result::Result::Ok(Self {
                $( $field: $crate::__record!(@read r.$how(&[prefix, $stored].concat()) $(, $default)?), )*
            })
        }
    };
    (@read $r:ident.$how:ident($name:expr)) => { $r.$how($name)? };
    (@read $r:ident.$how:ident($name:expr), $default:expr) => { $r.field_or($name, || $default)? };
}
