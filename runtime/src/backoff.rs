//! Pauses between tries of something that could not happen yet: a command the server could not
//! run (an outage, a failover), a lock another holder has, a transaction that lost to another.
//! Each pause is a random part of a step that doubles up to a cap, so that many waiters spread
//! out instead of trying again in step.

use std::time::{Duration, Instant};

/// The steps of one series of tries.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    /// The current step; doubled after each pause, up to `max`.
    step: Duration,
    max: Duration,
    /// The least part of the step a pause takes (0 for full jitter).
    least: f64,
    /// The shortest pause.
    floor: Duration,
}

impl Backoff {
    /// For outages, within a client's retry budget: 5 ms doubling to 250 ms, each pause at least
    /// half its step, so that a server that is coming back is not asked again too soon.
    pub(crate) fn outage() -> Self {
        Backoff {
            step: Duration::from_millis(5),
            max: Duration::from_millis(250),
            least: 0.5,
            floor: Duration::ZERO,
        }
    }

    /// For contention (a taken lock, a lost transaction): `first` doubling to `max`, each pause
    /// anywhere up to its step (full jitter, which spreads waiters out best), never under
    /// `floor`.
    pub(crate) fn contention(first: Duration, max: Duration, floor: Duration) -> Self {
        Backoff {
            step: first,
            max,
            least: 0.0,
            floor,
        }
    }

    /// Sleeps the next pause, cut short to end at `deadline` if there is one, and doubles the
    /// step; `false` at once, without sleeping, when `deadline` has passed.
    pub(crate) async fn pause(&mut self, deadline: Option<Instant>) -> bool {
        let mut pause = self
            .step
            .mul_f64(self.least + fastrand::f64() * (1.0 - self.least))
            .max(self.floor);
        if let Some(deadline) = deadline {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            pause = pause.min(deadline - now);
        }
        tokio::time::sleep(pause).await;
        self.step = (self.step * 2).min(self.max);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn steps_double_up_to_the_cap_and_pauses_stay_within_them() {
        let mut b = Backoff::outage();
        let mut steps = Vec::new();
        for _ in 0..8 {
            let step = b.step;
            let before = tokio::time::Instant::now();
            assert!(b.pause(None).await);
            let slept = before.elapsed();
            assert!(
                slept >= step / 2 && slept <= step,
                "{slept:?} for a step of {step:?}"
            );
            steps.push(step.as_millis());
        }
        assert_eq!(steps, [5, 10, 20, 40, 80, 160, 250, 250]);
    }

    #[tokio::test(start_paused = true)]
    async fn full_jitter_keeps_its_floor_and_a_passed_deadline_ends_at_once() {
        let floor = Duration::from_millis(1);
        let mut b = Backoff::contention(Duration::from_millis(2), Duration::from_millis(4), floor);
        for _ in 0..20 {
            let before = tokio::time::Instant::now();
            assert!(b.pause(None).await);
            let slept = before.elapsed();
            assert!(
                slept >= floor && slept <= Duration::from_millis(4),
                "{slept:?}"
            );
        }
        let before = tokio::time::Instant::now();
        assert!(!b.pause(Some(Instant::now())).await);
        assert_eq!(before.elapsed(), Duration::ZERO);
    }
}
