//! [`Ref`]: a field that names an instance of another model (schema type `ref<Model>`).
//!
//! A reference is stored as the target's pk text, like any scalar (so it can be indexed: a
//! lookup index on it lists the instances that refer to a target). It is not a foreign key:
//! Redis cannot check one atomically across models and slots, so a reference may outlive its
//! target. Fetching a dangling reference gives `None`; deleting a target touches no reference
//! (find them with a lookup index and clean them up if the model needs it).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::{Codec, CodecError, Finite};
use crate::error::Result;
use crate::meta::PkRef;
use crate::model::Model;
use crate::repo::Repo;

/// A reference to an instance of `M`: its primary key.
pub struct Ref<M: Model> {
    pk: M::Pk,
    target: PhantomData<fn() -> M>,
}

impl<M: Model> Ref<M> {
    /// A reference to the instance with this pk.
    pub fn new(pk: M::Pk) -> Self {
        Ref {
            pk,
            target: PhantomData,
        }
    }

    /// A reference to `instance`.
    pub fn to(instance: &M) -> Self {
        Self::new(instance.pk().clone())
    }

    /// The target's primary key.
    pub fn pk(&self) -> &M::Pk {
        &self.pk
    }

    /// Reads the target (one round trip); `None` when it does not exist (a dangling reference).
    pub async fn get(&self, repo: &Repo<M>) -> Result<Option<M>> {
        repo.get(&self.pk).await
    }

    /// Reads the targets of `refs`, in order, in one read per hash slot (concurrent); `None`
    /// for a dangling reference.
    pub async fn get_all(refs: &[Ref<M>], repo: &Repo<M>) -> Result<Vec<Option<M>>> {
        repo.get_many(refs.iter().map(|r| &r.pk)).await
    }
}

impl<M: Model> Codec for Ref<M> {
    fn encode(&self) -> std::result::Result<Vec<u8>, CodecError> {
        Ok(self.pk.pk_text().into_owned().into_bytes())
    }

    fn decode(raw: &[u8]) -> std::result::Result<Self, CodecError> {
        let text = std::str::from_utf8(raw).map_err(|_| CodecError::invalid("a reference", raw))?;
        Ok(Self::new(crate::meta::PrimaryKey::from_pk_text(text)?))
    }
}

impl<M: Model> Finite for Ref<M> {}

impl<M: Model> Clone for Ref<M> {
    fn clone(&self) -> Self {
        Self::new(self.pk.clone())
    }
}

impl<M: Model> fmt::Debug for Ref<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ref<{}>({:?})", M::META.name, self.pk)
    }
}

// Compared, ordered and hashed by the stored pk text, so that sets of references order as
// Redis would store them.
impl<M: Model> PartialEq for Ref<M> {
    fn eq(&self, other: &Self) -> bool {
        self.pk.pk_text() == other.pk.pk_text()
    }
}

impl<M: Model> Eq for Ref<M> {}

impl<M: Model> PartialOrd for Ref<M> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<M: Model> Ord for Ref<M> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.pk.pk_text().cmp(&other.pk.pk_text())
    }
}

impl<M: Model> Hash for Ref<M> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.pk.pk_text().hash(state);
    }
}

impl<M: Model> Serialize for Ref<M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.pk.pk_text())
    }
}

impl<'de, M: Model> Deserialize<'de> for Ref<M> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        crate::meta::PrimaryKey::from_pk_text(&text)
            .map(Self::new)
            .map_err(serde::de::Error::custom)
    }
}
