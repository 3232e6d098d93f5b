//! Sync waves benchmark (bench/waves.sh): the same 300 ConfigMaps (Current
//! the moment they exist) synced by `rudder sync --wait` in one wave and in
//! three waves of 100 (`rudder.io/wave` -1, 0, 1), alternately, each run
//! into a fresh namespace of one test-bed apiserver. The difference of the
//! medians is what the waves cost: each wave starts the moment the one
//! before is Current (one LIST per wave boundary), where Argo CD pauses 2 s
//! between waves.
//!
//!     bench/waves.sh
//!     bench-waves --rudder target/release/rudder [--objects 300] [--reps 7]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use integration_tests::{Cluster, ClusterOptions};

#[derive(Parser)]
struct Args {
    /// The rudder binary to measure (build it with --release).
    #[arg(long)]
    rudder: PathBuf,
    /// Objects per set (split into three waves in the waved runs).
    #[arg(long, default_value_t = 300)]
    objects: usize,
    /// Runs of each form.
    #[arg(long, default_value_t = 7)]
    reps: usize,
}

/// An overlay of `objects` ConfigMaps in namespace `ns`, in three waves
/// when `waves`.
fn write_overlay(dir: &Path, ns: &str, objects: usize, waves: bool) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut docs = vec![format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  annotations: {{rudder.io/wave: \"{}\"}}\n",
        if waves { "-1" } else { "0" }
    )];
    for i in 0..objects {
        let wave = if waves {
            (i * 3 / objects) as i64 - 1
        } else {
            0
        };
        docs.push(format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: {ns}\n  annotations: {{rudder.io/wave: \"{wave}\"}}\ndata: {{index: \"{i}\"}}\n"
        ));
    }
    std::fs::write(dir.join("objects.yaml"), docs.join("---\n"))?;
    std::fs::write(
        dir.join("kustomization.yaml"),
        "resources: [objects.yaml]\n",
    )?;
    Ok(())
}

fn sync(rudder: &Path, dir: &Path, kubeconfig: &Path, name: &str) -> Result<Duration> {
    let started = Instant::now();
    let out = Command::new(rudder)
        .args([
            "sync",
            "--wait",
            "--timeout",
            "2m",
            "--name",
            name,
            "--path",
        ])
        .arg(dir)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("RUDDER_LOG", "warn")
        .output()
        .context("running rudder sync")?;
    let took = started.elapsed();
    if !out.status.success() {
        bail!(
            "rudder sync failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(took)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let work = tempfile::tempdir()?;
    let cluster = Cluster::start(ClusterOptions::new("bench-waves", "us-east-1"), work.path())
        .await
        .context("starting the test bed")?;
    let kubeconfig = cluster.kubeconfig_path().to_path_buf();
    let (mut one, mut three) = (Vec::new(), Vec::new());
    // A first run of each warms discovery and the apiserver's caches.
    for rep in 0..=args.reps {
        for waves in [false, true] {
            let name = format!("{}-{rep}", if waves { "three" } else { "one" });
            let dir = work.path().join(&name);
            write_overlay(&dir, &name, args.objects, waves)?;
            let took = sync(&args.rudder, &dir, &kubeconfig, &name)?;
            if rep > 0 {
                if waves {
                    three.push(took)
                } else {
                    one.push(took)
                }
            }
        }
    }
    let (one, three) = (median(one), median(three));
    println!("objects  one_wave_ms  three_waves_ms  waves_cost_ms");
    println!(
        "{:>7}  {:>11.0}  {:>14.0}  {:>13.0}",
        args.objects,
        one.as_secs_f64() * 1e3,
        three.as_secs_f64() * 1e3,
        (three.as_secs_f64() - one.as_secs_f64()) * 1e3
    );
    Ok(())
}
