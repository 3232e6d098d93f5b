//! The README's first command, as the suite runs it: the demo with
//! `--until-synced` (three test-bed clusters, `examples/fleet` served by
//! `git daemon`, one real `rudder run` per region) must converge, every
//! region Synced and Healthy at the pushed revision.

use std::time::Duration;

use integration_tests::demo::{self, DemoOptions};

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_brings_every_region_to_synced_and_healthy() {
    let mut options = DemoOptions::new(env!("CARGO_BIN_EXE_rudder"));
    options.until_synced = true;
    options.timeout = Duration::from_secs(300);
    demo::run(options, std::future::pending())
        .await
        .expect("the demo fleet converges");
}
