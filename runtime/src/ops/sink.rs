//! Where a field handle's operations go: returned to the caller as [`Op`]s ([`Direct`], the
//! handles of `repo.fields(pk)`), or queued into a per-instance [`Batch`](crate::Batch) that
//! hands back typed [`Slot`]s ([`Batched`]). One set of handle types serves both: a handle is
//! generic over its sink, and each method returns `S::Out<T>`.

use std::sync::{Arc, Mutex, PoisonError};

use crate::client::Client;
use crate::ops::op::Op;
use crate::ops::pipeline::{Pipeline, Slot};

/// What a field handle does with the operations its methods build. Implemented by [`Direct`]
/// and [`Batched`] only (sealed).
pub trait Sink: Clone + Send + Sync + std::fmt::Debug + sealed::Sealed + 'static {
    /// What a handle method returns for an operation whose result is a `T`.
    type Out<T: Send + 'static>;

    /// Hands `op` on.
    #[doc(hidden)]
    fn emit<T: Send + 'static>(&self, op: Op<T>) -> Self::Out<T>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Direct {}
    impl Sealed for super::Batched {}
}

/// The sink of ordinary handles: each method returns its [`Op`], to await or add to a
/// [`Pipeline`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Direct;

impl Sink for Direct {
    type Out<T: Send + 'static> = Op<T>;

    fn emit<T: Send + 'static>(&self, op: Op<T>) -> Op<T> {
        op
    }
}

/// The sink of a [`Batch`](crate::Batch)'s handles: each method queues its operation into the
/// batch and returns the [`Slot`] of its result.
#[derive(Debug, Clone)]
pub struct Batched {
    // Shared by every handle of one batch; locked only to queue an op or to take the queue.
    queue: Arc<Mutex<Pipeline>>,
}

impl Batched {
    pub(crate) fn new(client: &Client) -> Self {
        Batched {
            queue: Arc::new(Mutex::new(Pipeline::new(client))),
        }
    }

    /// The operations queued so far, leaving an empty queue behind (see [`Pipeline::take`]).
    pub(crate) fn take(&self) -> Pipeline {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl Sink for Batched {
    type Out<T: Send + 'static> = Slot<T>;

    fn emit<T: Send + 'static>(&self, op: Op<T>) -> Slot<T> {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(op)
    }
}
