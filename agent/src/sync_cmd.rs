//! `rudder sync`: render, apply, prune, optionally wait for health, print the
//! summary; with `--watch`, stay and heal drift until SIGINT or SIGTERM.
//! Exit 0 only when everything applied (and, with `--wait`, became healthy).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use rudder_reconciler::health::AggregateHealth;
use rudder_reconciler::sync;
use rudder_reconciler::wait;
use rudder_reconciler::watch::{DriftWatcher, WatchReport};

use crate::cluster_args::{ClusterArgs, parse_duration};

/// Arguments of `rudder sync`.
#[derive(clap::Args, Debug)]
pub struct SyncArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Wait until every object is healthy (kstatus rules).
    #[arg(long)]
    pub wait: bool,
    /// How long `--wait` waits (e.g. 90s, 5m).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Stay running and heal drift of the set's members until SIGINT or
    /// SIGTERM.
    #[arg(long)]
    pub watch: bool,
    /// With `--watch`: how often to run a full sync again from the watch
    /// cache (no request when nothing changed).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub resync: Duration,
}

/// First and largest pause between attempts of a sync that could not reach
/// the cluster, in `--watch` mode.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

pub async fn run(args: &SyncArgs) -> anyhow::Result<ExitCode> {
    let rendered = args.cluster.render()?;
    let (target, default_namespace) = args.cluster.target().await?;
    let options = args.cluster.sync_options(default_namespace)?;
    let mut backoff = RETRY_FIRST;
    let (desired, report) = loop {
        let attempt = async {
            let desired = sync::prepare(&target, rendered.clone(), &options).await?;
            let report = sync::sync_desired(&target, Ok(desired.clone()), &options).await?;
            Ok::<_, sync::SyncError>((desired, report))
        };
        match attempt.await {
            Ok(done) => break done,
            // The agent's loop does not give up on a cluster that is down.
            Err(error) if args.watch => {
                tracing::warn!(%error, retry_in_s = backoff.as_secs(), "sync failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown_signal() => return Ok(ExitCode::FAILURE),
                }
                backoff = (backoff * 2).min(RETRY_MAX);
            }
            Err(error) => return Err(error.into()),
        }
    };
    print!("{}", report.summary);
    let mut ok = report.succeeded();

    if args.wait && ok {
        let members: Vec<_> = desired.iter().map(|d| d.reference.clone()).collect();
        let health = wait::wait_for_health(&target, &options.parent, &members, args.timeout)
            .await
            .context("waiting for health")?;
        let how = if health.timed_out {
            format!("after the {:?} timeout", args.timeout)
        } else {
            format!("after {:.1} s", health.waited.as_secs_f64())
        };
        println!("health: {} {how}", health.aggregate);
        for line in health.unhealthy_lines() {
            println!("  {line}");
        }
        ok = health.aggregate == AggregateHealth::Healthy;
    }

    if args.watch {
        watch(target, options, desired, &report, args.resync).await?;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The agent's loop without Git: heal each drifted member as it happens,
/// resync from the cache now and then, stop on a signal.
async fn watch(
    target: rudder_reconciler::target::Target,
    options: sync::SyncOptions,
    desired: Vec<rudder_reconciler::object::DesiredObject>,
    report: &sync::SyncReport,
    resync_every: Duration,
) -> anyhow::Result<()> {
    let mut watcher = DriftWatcher::start(target, options, desired, report).await?;
    tracing::info!("watching for drift");
    let mut resync = tokio::time::interval(resync_every);
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    resync.tick().await;
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            report = watcher.next() => match report {
                WatchReport::Corrected(c) => match c.result {
                    Ok(()) => tracing::info!(
                        object = %c.reference, cause = %c.cause,
                        took_ms = c.took.as_millis() as u64, "drift healed"),
                    Err(error) => tracing::warn!(
                        object = %c.reference, cause = %c.cause, %error, "drift not healed"),
                },
                WatchReport::WatchFailed { kind, error } => {
                    tracing::warn!(%kind, %error, "watch failed; retrying with backoff")
                }
            },
            _ = resync.tick() => match watcher.resync().await {
                Ok(report) => {
                    let counts = report.summary.counts();
                    if counts.created + counts.configured + counts.pruned + counts.failed > 0 {
                        tracing::info!(summary = %report.summary.to_string().trim_end(), "resync");
                    }
                }
                Err(error) => tracing::warn!(%error, "resync failed; will retry"),
            },
            _ = &mut shutdown => break,
        }
    }
    println!("stopped; {} drift corrections", watcher.corrections());
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match terminate.as_mut() {
                Some(signal) => { signal.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
