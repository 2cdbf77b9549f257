//! Coalescing of single operations: while one script call of a lane (the server, or one hash
//! slot of a cluster) is in flight, single operations issued on the same client wait for it,
//! and then go together in one call (`'m'` mode of `lua/ops_single.lua`). Nothing waits for a
//! timer: an operation issued when its lane is idle is sent at once, so latency at low load is
//! unchanged, and under load the server runs one script call for many operations.
//!
//! Each operation keeps its own outcome. The ops of one call are independent (not all or
//! nothing); an op that fails in a shared call wrote nothing (a single command applies whole or
//! not at all), and is then run alone, which reports its typed error exactly as an uncoalesced
//! op does. A shared call whose outcome is unknown reports that to every op in it: none is
//! sent again.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use redis::Value;
use tokio::sync::oneshot;

use crate::client::Client;
use crate::conn::{Call, Effect};
use crate::error::{Error, Result};
use crate::ops::batch::run_compact as alone;
use crate::ops::op::OpSpec;
use crate::protocol;
use crate::scripts;

/// Every busy lane of every client, by (connection id, lane). A lane is here only while it has a
/// call in flight, so an idle or dropped client leaves nothing behind. (Kept here rather than in
/// the client, which sits below the operations.)
static LANES: LazyLock<Mutex<HashMap<(u64, u16), Lane>>> = LazyLock::new(Default::default);

/// How many calls of one lane may be in flight before single operations wait to share the next
/// one: enough that a few concurrent callers are pipelined on the connection as before, few
/// enough that many callers share calls.
const IN_FLIGHT: usize = 32;

/// One lane: how many of its calls are in flight, and the ops waiting for one to end.
#[derive(Default)]
struct Lane {
    in_flight: usize,
    waiting: Vec<Waiting>,
}

/// An op waiting for its lane, and where its outcome goes.
struct Waiting {
    spec: OpSpec,
    outcome: oneshot::Sender<Result<Value>>,
}

/// Runs `spec` (an op of the compact layout): at once when its lane is idle, otherwise with the
/// ops that wait for the call in flight.
pub(crate) async fn run(client: &Client, spec: &OpSpec) -> Result<Value> {
    let lane = lane_of(client, spec);
    let receiver = {
        let mut lanes = LANES.lock().unwrap_or_else(PoisonError::into_inner);
        let state = lanes.entry((client.connection_id(), lane)).or_default();
        if state.in_flight >= IN_FLIGHT {
            let (outcome, receiver) = oneshot::channel();
            state.waiting.push(Waiting {
                spec: spec.clone(),
                outcome,
            });
            Some(receiver)
        } else {
            state.in_flight += 1;
            None
        }
    };
    match receiver {
        // The lane's driver ended without an answer (its runtime shut down).
        Some(receiver) => receiver
            .await
            .unwrap_or_else(|_| Err(unknown("the coalesced call was abandoned", String::new()))),
        None => {
            // This op drives the lane; whatever queued meanwhile is sent when it is done (also
            // when this future is dropped first).
            let _driver = Driver {
                client: client.clone(),
                lane,
            };
            alone(client, spec).await
        }
    }
}

/// The lane of `spec`: its hash slot on a cluster (a call cannot span slots), else one.
fn lane_of(client: &Client, spec: &OpSpec) -> u16 {
    if client.is_cluster() {
        crate::slot::slot(spec.located.hash.as_bytes())
    } else {
        0
    }
}

/// Hands the lane on when the op that drove it is done: sends what waits, in a task of its own,
/// until nothing does.
struct Driver {
    client: Client,
    lane: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Outside a runtime (a future dropped after its runtime) nothing can be sent: the
        // waiting ops are dropped, unsent, and their callers told (see `run`).
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            while next_batch(&self.client, self.lane).is_some() {}
            return;
        };
        if let Some(batch) = next_batch(&self.client, self.lane) {
            let (client, lane) = (self.client.clone(), self.lane);
            runtime.spawn(async move {
                let mut batch = batch;
                loop {
                    send_batch(&client, batch).await;
                    match next_batch(&client, lane) {
                        Some(next) => batch = next,
                        None => break,
                    }
                }
            });
        }
    }
}

/// The ops waiting in `lane` (their callers still waiting), or `None` after giving up the
/// caller's place in flight when there are none.
fn next_batch(client: &Client, lane: u16) -> Option<Vec<Waiting>> {
    let mut lanes = LANES.lock().unwrap_or_else(PoisonError::into_inner);
    let key = (client.connection_id(), lane);
    let state = lanes.entry(key).or_default();
    // A caller that gave up before its op was sent: the op is not sent at all.
    let waiting: Vec<Waiting> = std::mem::take(&mut state.waiting)
        .into_iter()
        .filter(|w| !w.outcome.is_closed())
        .collect();
    if !waiting.is_empty() {
        return Some(waiting);
    }
    state.in_flight = state.in_flight.saturating_sub(1);
    if state.in_flight == 0 {
        lanes.remove(&key);
    }
    None
}

/// Sends `batch` and delivers each op's outcome.
async fn send_batch(client: &Client, batch: Vec<Waiting>) {
    if batch.len() == 1 {
        let Some(w) = batch.into_iter().next() else {
            return;
        };
        let outcome = alone(client, &w.spec).await;
        let _ = w.outcome.send(outcome);
        return;
    }
    let ops: Vec<protocol::CompactOp<'_>> = batch
        .iter()
        .map(|w| {
            let s = &w.spec;
            let hash = s.located.hash.as_str();
            (hash, s.key.as_str(), s.code, s.copies_ttl(), &s.args[..])
        })
        .collect();
    let cmd = protocol::coalesced_call(&scripts::OPS, &ops);
    let effect = if batch.iter().all(|w| w.spec.code.reads_only()) {
        Effect::Reads
    } else {
        Effect::Writes
    };
    let reply = client
        .execute(Call::script(&scripts::OPS, &cmd, effect))
        .await;
    match reply.map(protocol::coalesced_replies) {
        Ok(Some(replies)) if replies.len() == batch.len() => {
            let mut again = Vec::new();
            for (w, reply) in batch.into_iter().zip(replies) {
                match reply {
                    Some(reply) => {
                        let _ = w.outcome.send(Ok(reply));
                    }
                    // Nothing of this op was written: run alone, it reports why.
                    None => again.push(w),
                }
            }
            for w in again {
                let outcome = alone(client, &w.spec).await;
                let _ = w.outcome.send(outcome);
            }
        }
        // The server refused the call before running it (out of memory, a missing permission):
        // each op runs alone and reports that as it would.
        Err(Error::Redis(e)) if matches!(e.code(), Some("OOM" | "NOPERM")) => {
            for w in batch {
                let outcome = alone(client, &w.spec).await;
                let _ = w.outcome.send(outcome);
            }
        }
        Err(e @ Error::Redis(_)) => {
            // Any other failure of the script may have come after some ops applied.
            for w in batch {
                let _ = w.outcome.send(Err(unknown(
                    "a coalesced call failed part way",
                    e.to_string(),
                )));
            }
        }
        Err(e) => {
            for w in batch {
                let _ = w.outcome.send(Err(e.for_another()));
            }
        }
        Ok(_) => {
            // Only a server that is not Redis answers otherwise: the outcome is unknown.
            for w in batch {
                let _ = w.outcome.send(Err(unknown(
                    "unexpected reply to a coalesced call",
                    String::new(),
                )));
            }
        }
    }
}

/// An unknown outcome, and why.
fn unknown(what: &'static str, detail: String) -> Error {
    Error::OutcomeUnknown {
        source: redis::RedisError::from((redis::ErrorKind::Client, what, detail)),
    }
}
