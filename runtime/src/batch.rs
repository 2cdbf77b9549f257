//! [`Batch`]: operations on the fields of one instance, queued through its typed handles and
//! applied as one atomic step; and [`Patch`], several of its fields written at once.

use std::borrow::{Borrow, Cow};

use crate::error::Result;
use crate::meta::PkRef;
use crate::model::Model;
use crate::ops::{Batched, FieldHandle, Instance, Pipeline, Results, Slot};
use crate::repo::Repo;

/// Operations on one instance, queued through its field handles and applied in one script call:
/// one round trip, atomically, all or nothing (a [`Pipeline`] underneath, so every rule of a
/// pipeline holds, conditions included). Obtained from [`Repo::batch`](crate::Repo::batch).
///
/// Each method of a handle from [`fields`](Self::fields) queues its operation and returns the
/// [`Slot`] of its result, taken from the [`Results`] of [`exec`](Self::exec). With the
/// generated `Player` of the README:
///
/// ```text
/// let batch = players.batch(&id);
/// let f = batch.fields();
/// f.wins().expect_eq(0);                  // a condition: nothing is written unless it holds
/// let wins = f.wins().incr(1);            // a Slot<i64>
/// f.achievements().push_back(Achievement::FirstWin);
/// let wins = batch.exec().await?.take(wins)?;
/// ```
///
/// A batch can also be [appended](Pipeline::append) to a pipeline, to run in one step with
/// operations on other instances.
#[must_use = "a batch does nothing until `exec` is awaited or it is appended to a pipeline"]
pub struct Batch<M: Model> {
    instance: Instance<Batched>,
    sink: Batched,
    _model: std::marker::PhantomData<fn() -> M>,
}

impl<M: Model> std::fmt::Debug for Batch<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("model", &M::META.name)
            .field("instance", &self.instance.key().ok())
            .finish()
    }
}

impl<M: Model> Batch<M> {
    pub(crate) fn new(instance: Instance) -> Self {
        let sink = Batched::new(instance.client());
        Batch {
            instance: instance.with_sink(sink.clone()),
            sink,
            _model: std::marker::PhantomData,
        }
    }

    /// The typed handles on the instance's fields (`<Model>Fields`); their methods queue into
    /// this batch and return slots.
    pub fn fields(&self) -> M::Fields<Batched> {
        <M::Fields<Batched> as FieldHandle<Batched>>::at(self.instance.clone(), Cow::Borrowed(""))
    }

    /// Queues a condition that the instance exists ([`Error::NotFound`](crate::Error::NotFound)
    /// otherwise, nothing written). Every operation already requires it; this one also makes a
    /// batch of reads, or an empty batch, fail on a missing instance.
    pub fn expect_exists(&self) -> Slot<()> {
        self.instance.expect_exists()
    }

    /// Queues the writes of `patch` (every field it carries).
    pub fn patch<P: Patch<Model = M>>(&self, patch: &P) {
        patch.queue(&self.fields());
    }

    /// Applies every queued operation in one step (see [`Pipeline::exec`]).
    pub async fn exec(self) -> Result<Results> {
        Pipeline::from(self).exec().await
    }
}

impl<M: Model> From<Batch<M>> for Pipeline {
    fn from(batch: Batch<M>) -> Pipeline {
        batch.sink.take()
    }
}

/// Several fields of one instance written in one atomic step: implemented by the generated
/// `<Model>Patch` (every field an `Option`, `None` leaving the field as it is), applied with
/// [`Repo::patch`](crate::Repo::patch) or queued into a [`Batch`] beside other operations.
/// Indexes follow and unique values are checked as for each field's own `set`; containers are
/// replaced whole.
pub trait Patch: Send + Sync {
    /// The model whose fields it writes.
    type Model: Model;

    /// Queues a write of every field it carries.
    fn queue(&self, fields: &<Self::Model as Model>::Fields<Batched>);
}

impl<M: Model> Repo<M> {
    /// A per-instance batch on the instance with this pk (see [`Batch`]): its field handles
    /// queue operations that [`Batch::exec`] applies in one atomic step.
    pub fn batch<Q: PkRef + ?Sized>(&self, pk: &Q) -> Batch<M>
    where
        M::Pk: Borrow<Q>,
    {
        Batch::new(self.instance(pk))
    }

    /// Writes every field `patch` carries in one atomic step (indexes and unique checks
    /// included); [`Error::NotFound`](crate::Error::NotFound) when the instance does not exist,
    /// nothing written.
    pub async fn patch<Q, P>(&self, pk: &Q, patch: &P) -> Result<()>
    where
        Q: PkRef + ?Sized,
        M::Pk: Borrow<Q>,
        P: Patch<Model = M>,
    {
        let batch = self.batch(pk);
        batch.expect_exists();
        batch.patch(patch);
        batch.exec().await.map(drop)
    }
}

/// A generated `<Model>Patch`, from one line per field, `name: ValueType`: the struct (each field
/// an `Option` of the value, documented as the new value of `<Model>::<name>`) and its [`Patch`]
/// implementation, which assigns every field it carries through the model's batched handles.
/// Used by generated code (`rapyer::__private::patch!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __patch {
    (
        $(#[$attr:meta])*
        $ty:ident of $model:ident:
        $($field:ident: $value:ty),* $(,)?
    ) => {
        $(#[$attr])*
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            ::core::default::Default,
            ::core::cmp::PartialEq
        )]
        pub struct $ty {
            $(
                #[doc = concat!(" The new [`", stringify!($model), "::", stringify!($field), "`].")]
                pub $field: ::core::option::Option<$value>,
            )*
        }

        impl $crate::Patch for $ty {
            type Model = $model;

            fn queue(&self, f: &<$model as $crate::Model>::Fields<$crate::Batched>) {
                let _ = f;
                $( $crate::__private::assign(f.$field(), self.$field.as_ref()); )*
            }
        }
    };
}
