//! Turns: the tasks of one client that update the same instance take turns, and share rounds.
//!
//! An optimistic transaction (`update`) that loses to another writer runs again. When the other
//! writer is a task of the same process, that round is wasted: on one hot instance, tasks of one
//! client conflicted about once per successful update. So before its first round a transaction
//! waits for its turn on each instance it updates, behind the earlier transactions of the same
//! client, in arrival order. Writers elsewhere (other processes, plain field operations) still
//! meet `WATCH` as before: turns only order this client's transactions.
//!
//! A turn on one instance can also be passed on with a round in progress (see `tx.rs`): the
//! holder has read the instance under `WATCH` and run its closure; the next waiter runs its own
//! closure on the result, and so on, and the last one commits every change in one script call.
//! The round is passed as `Box<dyn Any + Send>`, since the queues serve every model alike.
//!
//! Turns on several instances are taken in key order, so two transactions over the same
//! instances in different orders cannot wait for each other. A queue exists while its instance
//! has a holder.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::oneshot;

/// A round in progress, of whatever model.
pub(crate) type SharedRound = Box<dyn Any + Send>;

/// The instances some task of this client holds a turn on, each with the tasks waiting for it.
#[derive(Debug, Default)]
pub(crate) struct Turns {
    queues: Mutex<HashMap<String, VecDeque<Waiter>>>,
}

/// A task waiting for its turn.
#[derive(Debug)]
struct Waiter {
    /// Whether it may be handed a round in progress (a transaction on this instance alone).
    joins: bool,
    /// Gets the turn: a round in progress, or [`NoRound`].
    tx: oneshot::Sender<SharedRound>,
}

/// What a waiter gets when its turn comes without a round (a zero-sized box: no allocation).
struct NoRound;

/// A task's turn on some instances: passed on to the next waiter when dropped (also when the
/// task's future is cancelled).
#[derive(Debug)]
pub(crate) struct Turn<'t> {
    turns: &'t Turns,
    keys: Vec<String>,
}

/// A place in a queue: a turn handed to a task that was cancelled before receiving it is
/// passed on, not lost.
struct Pending<'t> {
    turns: &'t Turns,
    key: String,
    rx: oneshot::Receiver<SharedRound>,
    received: bool,
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
            keys: Vec::with_capacity(sorted.len()),
        };
        for key in sorted {
            // A round is only passed to a waiter that joins: none arrives here.
            let (key, _round) = self.wait(key, false).await;
            turn.keys.push(key);
        }
        turn
    }

    /// Waits for this task's turn on one instance; with `joins`, it may come with a round in
    /// progress.
    pub(crate) async fn take_one<'t>(
        &'t self,
        key: &str,
        joins: bool,
    ) -> (Turn<'t>, Option<SharedRound>) {
        let (key, round) = self.wait(key, joins).await;
        let turn = Turn {
            turns: self,
            keys: vec![key],
        };
        (turn, round)
    }

    /// Queues for `key` unless nobody holds it; returns once the turn is this task's.
    async fn wait(&self, key: &str, joins: bool) -> (String, Option<SharedRound>) {
        let rx = {
            let mut queues = self.lock();
            match queues.get_mut(key) {
                None => {
                    queues.insert(key.to_owned(), VecDeque::new());
                    return (key.to_owned(), None);
                }
                Some(waiting) => {
                    let (tx, rx) = oneshot::channel();
                    waiting.push_back(Waiter { joins, tx });
                    rx
                }
            }
        };
        let mut pending = Pending {
            turns: self,
            key: key.to_owned(),
            rx,
            received: false,
        };
        let arrival = (&mut pending.rx).await;
        pending.received = true;
        match arrival {
            Ok(round) if !round.is::<NoRound>() => (key.to_owned(), Some(round)),
            Ok(_) => (key.to_owned(), None),
            // The sender is only dropped unsent with the queue itself, that is with the
            // client: nobody else holds the turn then.
            Err(_) => (key.to_owned(), None),
        }
    }

    /// Hands `key`'s turn to the next waiter that is still there, or ends the queue.
    fn release(&self, key: &str) {
        let mut queues = self.lock();
        let Some(waiting) = queues.get_mut(key) else {
            return;
        };
        while let Some(next) = waiting.pop_front() {
            if next.tx.send(Box::new(NoRound)).is_ok() {
                return;
            }
        }
        queues.remove(key);
    }

    /// The map; a panic elsewhere while it was held leaves it usable (it only holds queues).
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Waiter>>> {
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many instances have a holder (for tests: none once every turn is over).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

impl<'t> Turn<'t> {
    /// Hands this turn, with `round`, to the next waiter if it joins rounds; otherwise gives
    /// both back (the caller then ends the round itself).
    pub(crate) fn pass(mut self, round: SharedRound) -> Result<(), (Turn<'t>, SharedRound)> {
        let [key] = self.keys.as_slice() else {
            return Err((self, round));
        };
        let mut queues = self.turns.lock();
        let Some(waiting) = queues.get_mut(key) else {
            drop(queues);
            return Err((self, round));
        };
        let mut round = round;
        while waiting.front().is_some_and(|w| w.joins) {
            let Some(next) = waiting.pop_front() else {
                break;
            };
            match next.tx.send(round) {
                Ok(()) => {
                    drop(queues);
                    // The turn is the receiver's now.
                    self.keys.clear();
                    return Ok(());
                }
                // Cancelled meanwhile: the next one, if it joins.
                Err(back) => round = back,
            }
        }
        drop(queues);
        Err((self, round))
    }

    /// Whether the next waiter would join a round (see [`pass`](Self::pass)).
    pub(crate) fn next_joins(&self) -> bool {
        let [key] = self.keys.as_slice() else {
            return false;
        };
        self.turns
            .lock()
            .get(key)
            .and_then(|waiting| waiting.front())
            .is_some_and(|w| w.joins)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        for key in self.keys.drain(..) {
            self.turns.release(&key);
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        // Cancelled while waiting: a turn (or round) already sent is passed on, not lost. A
        // round dropped here tells its members to run again (their senders go with it).
        if !self.received {
            self.rx.close();
            if self.rx.try_recv().is_ok() {
                self.turns.release(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
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
    async fn a_wait_cancelled_lets_go_of_its_place() {
        let turns = Turns::default();
        let held = turns.take(&["x"]).await;
        let waiting = tokio::time::timeout(Duration::from_millis(10), turns.take(&["y", "x"]));
        assert!(waiting.await.is_err(), "x is held");
        drop(held);
        assert_eq!(turns.len(), 0);
    }

    /// Polls `waiting` once, so that it queues; it must not have its turn yet.
    async fn queue<F: std::future::Future + Unpin>(waiting: &mut F) {
        tokio::select! {
            biased;
            _ = waiting => panic!("the turn is held"),
            _ = std::future::ready(()) => {}
        }
    }

    #[tokio::test]
    async fn a_turn_handed_to_a_task_cancelled_before_it_looked_is_passed_on() {
        let turns = Turns::default();
        // A plain turn.
        let holder = turns.take(&["k"]).await;
        let mut waiting = Box::pin(turns.take(&["k"]));
        queue(&mut waiting).await;
        drop(holder); // hands the turn to `waiting`...
        drop(waiting); // ...which never looks
        assert_eq!(turns.len(), 0);

        // A round: dropped with the turn (its members are told by their own drop, in tx.rs).
        struct Round(Arc<std::sync::atomic::AtomicBool>);
        impl Drop for Round {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (holder, _) = turns.take_one("k", true).await;
        let mut joining = Box::pin(turns.take_one("k", true));
        queue(&mut joining).await;
        assert!(holder.next_joins());
        assert!(holder.pass(Box::new(Round(Arc::clone(&dropped)))).is_ok());
        drop(joining);
        assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(turns.len(), 0);
        // Nothing is left held: the next one has its turn at once.
        let (next, round) = turns.take_one("k", true).await;
        assert!(round.is_none());
        drop(next);
        assert_eq!(turns.len(), 0);
    }

    #[tokio::test]
    async fn a_round_goes_to_a_waiter_that_joins_and_the_turn_with_it() {
        let turns = Arc::new(Turns::default());
        let (holder, none) = turns.take_one("k", true).await;
        assert!(none.is_none());
        assert!(!holder.next_joins(), "nobody waits");
        // Nobody waits: the round comes back.
        let (holder, back) = holder.pass(Box::new(7u32)).unwrap_err();
        assert_eq!(back.downcast_ref::<u32>(), Some(&7));
        let joiner = {
            let turns = Arc::clone(&turns);
            tokio::spawn(async move {
                let (turn, round) = turns.take_one("k", true).await;
                let got = round.and_then(|r| r.downcast::<u32>().ok()).map(|b| *b);
                drop(turn);
                got
            })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(holder.next_joins());
        holder.pass(Box::new(8u32)).unwrap();
        assert_eq!(joiner.await.unwrap(), Some(8));
        assert_eq!(turns.len(), 0);

        // A waiter that does not join gets the plain turn; the round comes back.
        let (holder, _) = turns.take_one("k", true).await;
        let plain = {
            let turns = Arc::clone(&turns);
            tokio::spawn(async move {
                let (turn, round) = turns.take_one("k", false).await;
                drop(turn);
                round.is_none()
            })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(!holder.next_joins());
        let (holder, _) = holder.pass(Box::new(9u32)).unwrap_err();
        drop(holder);
        assert!(plain.await.unwrap());
        assert_eq!(turns.len(), 0);
    }
}
