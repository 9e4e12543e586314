//! A correct scenario passes for 200 seeds.

use std::time::Duration;

use zk_testing::prop::Runner;
use zk_testing::FaultPlanConfig;

use crate::scenarios::cas_counter;

#[test]
fn a_compare_and_set_counter_passes_for_200_seeds() {
    let plans = FaultPlanConfig {
        participants: 3,
        faults: 1..=8,
        horizon: Duration::from_secs(30),
        ..FaultPlanConfig::default()
    };
    let stats = Runner::new().seeds(200).config(plans).check(cas_counter);
    assert_eq!((stats.seeds, stats.runs), (200, 200));
    eprintln!("cas counter: {stats}");
}
