//! Drawing plans from a seed.

use std::ops::RangeInclusive;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use zk_core::proto::ErrorCode;

use super::{Fault, FaultKind, FaultPlan};
use crate::fault::RequestMatcher;

/// How often each kind of fault is drawn, relative to the others (0 = never).
///
/// The default draws every realistic kind and never the adversarial
/// [`FaultKind::ExpireNow`]; start from [`FaultWeights::none`] to draw only a few kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultWeights {
    /// [`FaultKind::Expire`] (default 1).
    pub expire: u32,
    /// [`FaultKind::ExpireNow`], adversarial (default 0).
    pub expire_now: u32,
    /// [`FaultKind::DropConnection`] (default 2).
    pub drop_connection: u32,
    /// [`FaultKind::Partition`] (default 2).
    pub partition: u32,
    /// [`FaultKind::PauseAll`] (default 1).
    pub pause_all: u32,
    /// [`FaultKind::LoseReply`] (default 1).
    pub lose_reply: u32,
    /// [`FaultKind::Fail`] (default 1).
    pub fail: u32,
    /// [`FaultKind::Latency`] (default 1).
    pub latency: u32,
    /// [`FaultKind::Restart`] (default 1).
    pub restart: u32,
}

impl FaultWeights {
    /// Every weight 0: `FaultWeights { partition: 1, ..FaultWeights::none() }` draws only
    /// partitions.
    pub fn none() -> Self {
        FaultWeights {
            expire: 0,
            expire_now: 0,
            drop_connection: 0,
            partition: 0,
            pause_all: 0,
            lose_reply: 0,
            fail: 0,
            latency: 0,
            restart: 0,
        }
    }
}

impl Default for FaultWeights {
    fn default() -> Self {
        FaultWeights {
            expire: 1,
            expire_now: 0,
            drop_connection: 2,
            partition: 2,
            pause_all: 1,
            lose_reply: 1,
            fail: 1,
            latency: 1,
            restart: 1,
        }
    }
}

/// What [`FaultPlanConfig::draw`] draws: how many faults, when, which kinds, how long.
///
/// Times and durations are drawn in whole milliseconds, so printed plans stay short. A range
/// given backwards is taken the right way round. Kinds that cannot be drawn get no weight:
/// session faults without participants, request faults without matchers, `Fail` without
/// error codes. When no kind has weight, the plan is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPlanConfig {
    /// Session faults aim at participants `0..participants` (default 1).
    pub participants: usize,
    /// The number of faults (default 1 to 5).
    pub faults: RangeInclusive<usize>,
    /// Faults happen between the plan's start and this long after it (default 60 s).
    pub horizon: Duration,
    /// The length of partitions, pauses and latencies (default 100 ms to 20 s).
    pub durations: RangeInclusive<Duration>,
    /// The delay of a latency (default 1 ms to 500 ms).
    pub delays: RangeInclusive<Duration>,
    /// How often each kind is drawn.
    pub weights: FaultWeights,
    /// The requests a lost reply or a failure aims at, one drawn per fault (default: any
    /// request).
    pub matchers: Vec<RequestMatcher>,
    /// The error codes a failure answers with, one drawn per fault (default `THROTTLEDOP`,
    /// which a real server sends under load and clients retry).
    pub errors: Vec<ErrorCode>,
}

impl Default for FaultPlanConfig {
    fn default() -> Self {
        FaultPlanConfig {
            participants: 1,
            faults: 1..=5,
            horizon: Duration::from_secs(60),
            durations: Duration::from_millis(100)..=Duration::from_secs(20),
            delays: Duration::from_millis(1)..=Duration::from_millis(500),
            weights: FaultWeights::default(),
            matchers: vec![RequestMatcher::any()],
            errors: vec![ErrorCode::ThrottledOp],
        }
    }
}

/// The kinds, in the order weights are laid out for a draw.
#[derive(Debug, Clone, Copy)]
enum Pick {
    Expire,
    ExpireNow,
    DropConnection,
    Partition,
    PauseAll,
    LoseReply,
    Fail,
    Latency,
    Restart,
}

impl FaultPlanConfig {
    /// The plan this seed draws: the same seed and config always give the same plan (with
    /// the same version of `rand`).
    pub fn draw(&self, seed: u64) -> FaultPlan {
        self.draw_from(&mut StdRng::seed_from_u64(seed))
    }

    /// A plan drawn from `rng`, for a runner that derives every random choice from one root
    /// generator.
    pub fn draw_from<R: Rng + ?Sized>(&self, rng: &mut R) -> FaultPlan {
        let weights = self.weights_that_apply();
        let total: u64 = weights.iter().map(|(_, w)| u64::from(*w)).sum();
        if total == 0 {
            return FaultPlan::new();
        }
        let (lo, hi) = (*self.faults.start(), *self.faults.end());
        let n = rng.random_range(lo.min(hi)..=lo.max(hi));
        (0..n)
            .map(|_| {
                let at = millis(rng, &(Duration::ZERO..=self.horizon));
                let mut r = rng.random_range(0..total);
                let pick = weights
                    .iter()
                    .find(|(_, w)| {
                        let hit = r < u64::from(*w);
                        r = r.saturating_sub(u64::from(*w));
                        hit
                    })
                    .map_or(Pick::Restart, |(p, _)| *p);
                Fault { at, kind: self.kind(pick, rng) }
            })
            .collect()
    }

    /// The weights, with 0 for the kinds this config cannot draw.
    fn weights_that_apply(&self) -> [(Pick, u32); 9] {
        let w = &self.weights;
        let if_ = |ok: bool, weight: u32| if ok { weight } else { 0 };
        let clients = self.participants > 0;
        let matchers = !self.matchers.is_empty();
        [
            (Pick::Expire, if_(clients, w.expire)),
            (Pick::ExpireNow, if_(clients, w.expire_now)),
            (Pick::DropConnection, if_(clients, w.drop_connection)),
            (Pick::Partition, if_(clients, w.partition)),
            (Pick::PauseAll, w.pause_all),
            (Pick::LoseReply, if_(matchers, w.lose_reply)),
            (Pick::Fail, if_(matchers && !self.errors.is_empty(), w.fail)),
            (Pick::Latency, w.latency),
            (Pick::Restart, w.restart),
        ]
    }

    fn kind<R: Rng + ?Sized>(&self, pick: Pick, rng: &mut R) -> FaultKind {
        // Only reached for picks with weight, so participants, matchers and errors are there.
        let client = |rng: &mut R| rng.random_range(0..self.participants.max(1));
        let matcher = |rng: &mut R| one_of(rng, &self.matchers).unwrap_or_default();
        match pick {
            Pick::Expire => FaultKind::Expire { client: client(rng) },
            Pick::ExpireNow => FaultKind::ExpireNow { client: client(rng) },
            Pick::DropConnection => FaultKind::DropConnection { client: client(rng) },
            Pick::Partition => {
                FaultKind::Partition { client: client(rng), duration: millis(rng, &self.durations) }
            }
            Pick::PauseAll => FaultKind::PauseAll { duration: millis(rng, &self.durations) },
            Pick::LoseReply => FaultKind::LoseReply { matcher: matcher(rng) },
            Pick::Fail => FaultKind::Fail {
                matcher: matcher(rng),
                error: one_of(rng, &self.errors).unwrap_or(ErrorCode::ThrottledOp),
            },
            Pick::Latency => FaultKind::Latency {
                delay: millis(rng, &self.delays),
                duration: millis(rng, &self.durations),
            },
            Pick::Restart => FaultKind::Restart,
        }
    }
}

/// A whole number of milliseconds in `range` (either way round).
fn millis<R: Rng + ?Sized>(rng: &mut R, range: &RangeInclusive<Duration>) -> Duration {
    let ms = |d: &Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let (a, b) = (ms(range.start()), ms(range.end()));
    Duration::from_millis(rng.random_range(a.min(b)..=a.max(b)))
}

fn one_of<R: Rng + ?Sized, T: Clone>(rng: &mut R, items: &[T]) -> Option<T> {
    if items.is_empty() {
        return None;
    }
    items.get(rng.random_range(0..items.len())).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_draws_one_plan_and_seeds_differ() {
        let config = FaultPlanConfig { participants: 3, ..FaultPlanConfig::default() };
        for seed in 0..200 {
            assert_eq!(config.draw(seed), config.draw(seed), "seed {seed}");
        }
        let distinct: std::collections::HashSet<String> =
            (0..200).map(|s| config.draw(s).to_string()).collect();
        assert!(distinct.len() > 190, "{} distinct plans of 200", distinct.len());
    }

    #[test]
    fn draws_stay_within_the_config() {
        let config = FaultPlanConfig {
            participants: 2,
            faults: RangeInclusive::new(8, 3),
            horizon: Duration::from_secs(10),
            durations: Duration::from_secs(2)..=Duration::from_millis(500),
            delays: Duration::from_millis(5)..=Duration::from_millis(5),
            weights: FaultWeights { expire_now: 1, ..FaultWeights::default() },
            ..FaultPlanConfig::default()
        };
        let (short, long) = (Duration::from_millis(500), Duration::from_secs(2));
        for seed in 0..300 {
            let plan = config.draw(seed);
            assert!((3..=8).contains(&plan.len()), "seed {seed}: {}", plan.len());
            for f in &plan {
                assert!(f.at <= config.horizon && f.at.subsec_nanos() % 1_000_000 == 0, "{f}");
                assert!(f.kind.client().is_none_or(|c| c < 2), "{f}");
                match &f.kind {
                    FaultKind::Partition { duration, .. } | FaultKind::PauseAll { duration } => {
                        assert!((short..=long).contains(duration), "{f}")
                    }
                    FaultKind::Latency { delay, duration } => {
                        assert!(
                            *delay == Duration::from_millis(5) && (short..=long).contains(duration),
                            "{f}"
                        )
                    }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn weights_are_honoured() {
        let count = |config: &FaultPlanConfig, pred: fn(&FaultKind) -> bool| -> usize {
            (0..300).map(|s| config.draw(s).iter().filter(|f| pred(&f.kind)).count()).sum()
        };
        let default = FaultPlanConfig { participants: 2, faults: 4..=4, ..FaultPlanConfig::default() };
        assert_eq!(count(&default, |k| k.is_adversarial()), 0, "no adversarial kind by default");
        assert!(count(&default, |k| matches!(k, FaultKind::Restart)) > 0);
        // Partitions are weighted twice as much as pauses: about 2/10 and 1/10 of 1,200.
        let partitions = count(&default, |k| matches!(k, FaultKind::Partition { .. }));
        let pauses = count(&default, |k| matches!(k, FaultKind::PauseAll { .. }));
        assert!((170..=310).contains(&partitions) && (70..=170).contains(&pauses), "{partitions} {pauses}");

        let only = FaultPlanConfig {
            weights: FaultWeights { partition: 1, restart: 3, ..FaultWeights::none() },
            ..default.clone()
        };
        assert_eq!(count(&only, |k| !matches!(k, FaultKind::Partition { .. } | FaultKind::Restart)), 0);
        let restarts = count(&only, |k| matches!(k, FaultKind::Restart));
        assert!((840..=960).contains(&restarts), "about 3/4 of 1,200: {restarts}");

        let nobody = FaultPlanConfig { participants: 0, matchers: vec![], ..default.clone() };
        assert_eq!(count(&nobody, |k| k.client().is_some()), 0, "session faults need participants");
        let no_requests = |k: &FaultKind| matches!(k, FaultKind::LoseReply { .. } | FaultKind::Fail { .. });
        assert_eq!(count(&nobody, no_requests), 0, "request faults need matchers");
        let none = FaultPlanConfig { weights: FaultWeights::none(), ..default };
        assert!((0..50).all(|s| none.draw(s).is_empty()));
    }
}
