//! Field operations: one atomic server-side step per call, on one field of one instance.
//!
//! A repository hands out a handle per field (`players.fields(&pk).score()` is an
//! [`IntField`]); each method of a handle builds an [`Op`], which is either awaited on its own or
//! added to a [`Pipeline`] together with others. Either way it runs inside one Lua script
//! (`lua/ops.lua`) that first checks that every instance it touches exists, so an operation on a
//! missing pk fails with [`Error::NotFound`](crate::Error::NotFound) and creates nothing.
//!
//! | handle | schema type |
//! |---|---|
//! | [`IntField`] | `int` |
//! | [`FloatField`] | `float` |
//! | [`ValueField`] | `bool`, `string`, `bytes`, `datetime`, `uuid`, enums, `json` |
//! | [`OptionalField`] | `optional<T>` |
//! | [`ListField`] | `list<T>` |
//! | [`SetField`] | `set<T>` |
//! | [`MapField`] | `map<string, T>` |
//! | [`ZSetField`] | `zset<T>` |
//!
//! `docs/operations.md` in the repository lists every operation with the Redis commands it issues.

mod assign;
pub(crate) mod batch;
pub(crate) mod coalesce;
mod containers;
pub(crate) mod instance;
pub(crate) mod op;
mod pipeline;
mod scalars;
mod sink;

pub use assign::{Assign, assign};
pub use containers::{ListField, MapField, SetField, ZSetField};
pub use instance::{FieldHandle, Instance, Place};
pub use op::Op;
pub(crate) use pipeline::HandedLock;
pub use pipeline::{Group, GroupOutcome, Pipeline, Results, Slot, SplitResults};
pub use scalars::{FloatField, IntField, OptionalField, ValueField};
pub use sink::{Batched, Direct, Sink};
