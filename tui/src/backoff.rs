//! One backoff for everything in trawl that tries again: exponential
//! growth from a first wait to a ceiling, with full jitter (each wait is a
//! random time up to the current step, from a real RNG), so many clients
//! that failed together do not come back together.

use rand::Rng;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Backoff {
    first: Duration,
    ceiling: Duration,
    steps: u32,
}

impl Backoff {
    pub const fn new(first: Duration, ceiling: Duration) -> Self {
        Backoff {
            first,
            ceiling,
            steps: 0,
        }
    }

    /// The wait before the next try: a random time up to `first × 2^n`
    /// (n tries so far), at most the ceiling.
    pub fn next_wait(&mut self) -> Duration {
        let step = self.step();
        self.steps = self.steps.saturating_add(1);
        let nanos = u64::try_from(step.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    /// The current step: the longest the next wait can be.
    pub fn step(&self) -> Duration {
        let factor = 1u32 << self.steps.min(20);
        self.first.saturating_mul(factor).min(self.ceiling)
    }

    /// Tries so far since the last success.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// A try succeeded: the next failure starts from the first wait.
    pub fn reset(&mut self) {
        self.steps = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_to_the_ceiling_with_jitter_and_reset() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let steps: Vec<u128> = (0..7)
            .map(|_| {
                let step = b.step();
                let wait = b.next_wait();
                assert!(wait <= step, "{wait:?} > {step:?}");
                step.as_millis()
            })
            .collect();
        assert_eq!(steps, vec![100, 200, 400, 800, 1600, 2000, 2000]);
        // Jitter: a thousand waits at the ceiling are not all alike.
        let waits: std::collections::HashSet<Duration> = (0..1000).map(|_| b.next_wait()).collect();
        assert!(waits.len() > 900, "{}", waits.len());
        assert_eq!(b.steps(), 1007);
        b.reset();
        assert_eq!(b.step(), Duration::from_millis(100));
        // Many steps never overflow.
        for _ in 0..100 {
            b.next_wait();
        }
        assert_eq!(b.step(), Duration::from_secs(2));
    }
}
