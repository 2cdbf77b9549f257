//! [`Assign`]: writing a field's whole value inside a per-instance batch, as a generated
//! `<Model>Patch` does for each field it carries.

use std::collections::{BTreeMap, BTreeSet};

use crate::codec::{Codec, Element};
use crate::ops::containers::{ListField, MapField, SetField, ZSetField};
use crate::ops::scalars::{FloatField, IntField, OptionalField, ValueField};
use crate::ops::sink::Batched;

/// A field handle of a batch that can replace the field's whole value: a scalar is set, an
/// optional set or cleared, a container cleared and refilled, each step queued into the batch
/// (so the whole replacement is part of its one atomic step).
pub trait Assign<V> {
    /// Queues the replacement of the field's value by `value`.
    fn assign(&self, value: &V);
}

/// Queues `handle.assign(value)` when `value` is given: one field of a patch.
pub fn assign<V, H: Assign<V>>(handle: H, value: Option<&V>) {
    if let Some(value) = value {
        handle.assign(value);
    }
}

impl Assign<i64> for IntField<Batched> {
    fn assign(&self, value: &i64) {
        self.set(*value);
    }
}

impl Assign<f64> for FloatField<Batched> {
    fn assign(&self, value: &f64) {
        self.set(*value);
    }
}

impl<T: Codec + Clone + Send + 'static> Assign<T> for ValueField<T, Batched> {
    fn assign(&self, value: &T) {
        self.set(value.clone());
    }
}

impl<T: Clone + Send + 'static, E: Element<T> + 'static> Assign<Option<T>>
    for OptionalField<T, E, Batched>
{
    fn assign(&self, value: &Option<T>) {
        match value {
            Some(v) => {
                self.set(v.clone());
            }
            None => {
                self.clear();
            }
        }
    }
}

impl<T: Clone + Send + 'static, E: Element<T> + 'static> Assign<Vec<T>>
    for ListField<T, E, Batched>
{
    fn assign(&self, value: &Vec<T>) {
        self.clear();
        self.extend(value.iter().cloned());
    }
}

impl<T: Codec + Ord + Clone + Send + 'static> Assign<BTreeSet<T>> for SetField<T, Batched> {
    fn assign(&self, value: &BTreeSet<T>) {
        self.clear();
        self.add_many(value.iter().cloned());
    }
}

impl<T: Clone + Send + 'static, E: Element<T> + 'static> Assign<BTreeMap<String, T>>
    for MapField<T, E, Batched>
{
    fn assign(&self, value: &BTreeMap<String, T>) {
        self.clear();
        self.insert_many(value.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

impl<T: Codec + Ord + Clone + Send + 'static> Assign<BTreeMap<T, f64>> for ZSetField<T, Batched> {
    fn assign(&self, value: &BTreeMap<T, f64>) {
        self.clear();
        for (member, score) in value {
            self.add(member.clone(), *score);
        }
    }
}
