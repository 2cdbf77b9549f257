//! Turns: the tasks of one client that update the same instance take turns.
//!
//! An optimistic transaction (`update`) that loses to another writer runs again. When the other
//! writer is a task of the same process, that round trip is wasted: on one hot instance, tasks
//! of one client conflicted about once per successful game, each conflict costing a read, a
//! commit and a pause. So before its first round a transaction waits for its turn on each
//! instance it updates, behind the earlier tasks of the same client, in arrival order (tokio's
//! mutex is fair). Writers elsewhere (other processes, plain field operations) still meet
//! `WATCH` as before: turns only order this client's transactions, they guard nothing.
//!
//! Turns are taken in key order, so two transactions over the same instances in different
//! orders cannot wait for each other. An entry lives while someone holds or waits for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as Queue, OwnedMutexGuard};

/// The instances some task of this client is updating, each with its queue of tasks.
#[derive(Debug, Default)]
pub(crate) struct Turns {
    queues: Mutex<HashMap<String, Arc<Queue<()>>>>,
}

/// A task's turn on some instances: held until dropped (also when its future is cancelled while
/// waiting).
pub(crate) struct Turn<'t> {
    turns: &'t Turns,
    held: Vec<Place>,
}

/// A task's place in the queue of one instance.
struct Place {
    key: String,
    queue: Arc<Queue<()>>,
    /// Set once the task's turn has come.
    turn: Option<OwnedMutexGuard<()>>,
}

impl Turns {
    /// Waits for this task's turn on every key of `keys` (instance hash keys; any order,
    /// duplicates allowed).
    pub(crate) async fn take<'t>(&'t self, keys: &[&str]) -> Turn<'t> {
        let mut sorted: Vec<&str> = keys.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut turn = Turn {
            turns: self,
            held: Vec::with_capacity(sorted.len()),
        };
        for key in sorted {
            let queue = Arc::clone(
                self.lock()
                    .entry(key.to_owned())
                    .or_insert_with(|| Arc::new(Queue::new(()))),
            );
            // Listed before waiting: a cancelled wait still lets go of the entry.
            turn.held.push(Place {
                key: key.to_owned(),
                queue: Arc::clone(&queue),
                turn: None,
            });
            let reached = queue.lock_owned().await;
            if let Some(last) = turn.held.last_mut() {
                last.turn = Some(reached);
            }
        }
        turn
    }

    /// The map; a panic elsewhere while it was held leaves it usable (it only holds queues).
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Queue<()>>>> {
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many instances have a queue (for tests: none once every turn is over).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        for place in self.held.drain(..) {
            drop(place.turn);
            let mut queues = self.turns.lock();
            // The map's reference and this one: nobody else holds or waits for the queue (a
            // newcomer clones it under the same lock), so it goes.
            if Arc::strong_count(&place.queue) == 2 {
                queues.remove(&place.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn tasks_take_turns_in_arrival_order_and_leave_nothing_behind() {
        let turns = Arc::new(Turns::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let first = turns.take(&["b", "a"]).await;
        let mut waiters = Vec::new();
        for i in 0..4 {
            let (turns, order) = (Arc::clone(&turns), Arc::clone(&order));
            waiters.push(tokio::spawn(async move {
                let _turn = turns.take(&["a", "a"]).await;
                order.lock().unwrap().push(i);
            }));
            // Each waiter queues before the next one starts.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            order.lock().unwrap().is_empty(),
            "nobody runs before the holder is done"
        );
        drop(first);
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(turns.len(), 0);
    }

    #[tokio::test]
    async fn a_wait_cancelled_lets_go_of_its_queue() {
        let turns = Turns::default();
        let held = turns.take(&["x"]).await;
        let waiting = tokio::time::timeout(Duration::from_millis(10), turns.take(&["y", "x"]));
        assert!(waiting.await.is_err(), "x is held");
        drop(held);
        assert_eq!(turns.len(), 0);
    }
}
