//! `rudder sync`: render, apply, prune, optionally wait for health, print the
//! summary; with `--watch`, stay and heal drift until SIGINT or SIGTERM.
//! Exit 0 only when everything applied (and, with `--wait`, became healthy).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use rudder_reconciler::app::{App, Observe, SyncResult};
use rudder_reconciler::health::AggregateHealth;
use rudder_reconciler::sync;
use rudder_reconciler::wait;
use rudder_reconciler::watch::WatchReport;

use crate::cli_output::{OutputArgs, print_json, sync_json};
use crate::cluster_args::{ClusterArgs, HealthRulesArg, parse_duration};
use crate::run::shutdown_signal;

/// Arguments of `rudder sync`.
#[derive(clap::Args, Debug)]
pub struct SyncArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Delete and recreate any object whose change hits an immutable field.
    #[arg(long)]
    pub recreate: bool,
    /// Requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub concurrency: usize,
    /// How long a sync wave (`rudder.io/wave`) may take to become healthy
    /// before the sync stops there.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub wave_timeout: Duration,
    #[command(flatten)]
    pub health: HealthRulesArg,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Wait until every object is healthy (kstatus rules, or
    /// --health-rules).
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
    let (target, default_namespace, rendered) = args.cluster.render_for_cluster().await?;
    let mut options = args.cluster.sync_options(default_namespace)?;
    options.apply.recreate = args.recreate;
    options.concurrency = args.concurrency.max(1);
    options.wave_timeout = args.wave_timeout;
    options.health_rules = args.health.compile()?;
    if args.watch {
        return watch(args, target, options, rendered).await;
    }
    let desired = sync::prepare(&target, rendered, &options).await?;
    let report = sync::sync_desired(&target, Ok(desired.clone()), &options).await?;
    let synced = report.succeeded();
    if !args.output.json() {
        print!("{}", report.summary);
    }
    let health = if args.wait && synced {
        let members: Vec<_> = desired.iter().map(|d| d.reference.clone()).collect();
        let health = wait::wait_for_health(
            &target,
            &options.parent,
            &members,
            &options.health_rules,
            args.timeout,
        )
        .await
        .context("waiting for health")?;
        Some(health)
    } else {
        None
    };
    let ok = synced
        && health
            .as_ref()
            .is_none_or(|h| h.aggregate == AggregateHealth::Healthy);
    if args.output.json() {
        let mut out = sync_json(
            &report.summary,
            report.prune_refusal.as_deref(),
            report.held.as_ref().map(ToString::to_string),
            synced,
        );
        if let Some(health) = &health {
            out["health"] = serde_json::json!({
                "aggregate": health.aggregate,
                "timed_out": health.timed_out,
                "waited_s": health.waited.as_secs_f64(),
                "unhealthy": health.unhealthy_lines(),
            });
        }
        print_json(&out);
    } else if let Some(health) = &health {
        let how = if health.timed_out {
            format!("after the {:?} timeout", args.timeout)
        } else {
            format!("after {:.1} s", health.waited.as_secs_f64())
        };
        println!("health: {} {how}", health.aggregate);
        for line in health.unhealthy_lines() {
            println!("  {line}");
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The agent's loop without Git, as a thin client of the reconciler's
/// [`App`]: sync (retrying while the cluster is unreachable), optionally
/// wait for health from the watch cache, then heal each drifted member as
/// it happens and resync from the cache now and then, until a signal.
async fn watch(
    args: &SyncArgs,
    target: rudder_reconciler::target::Target,
    options: sync::SyncOptions,
    rendered: Vec<serde_json::Value>,
) -> anyhow::Result<ExitCode> {
    const REVISION: &str = "local";
    let name = options.parent.name.clone();
    let mut app = App::new(name, target, options);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut backoff = RETRY_FIRST;
    let report = loop {
        let report = app.sync(REVISION, rendered.clone(), Observe::Fresh).await;
        match &report.error {
            // The agent's loop does not give up on a cluster that is down.
            Some(error) => {
                tracing::warn!(error = %error.message, retry_in_s = backoff.as_secs(), "sync failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = &mut shutdown => return Ok(ExitCode::FAILURE),
                }
                backoff = (backoff * 2).min(RETRY_MAX);
            }
            None => break report,
        }
    };
    print!("{report}");
    let mut ok = report.result == SyncResult::Synced;
    if args.wait && ok {
        let started = std::time::Instant::now();
        let verdict = loop {
            let verdict = app.health();
            let settled = verdict
                .as_ref()
                .is_some_and(|v| v.aggregate != AggregateHealth::Progressing);
            if settled || started.elapsed() >= args.timeout {
                break verdict;
            }
            tokio::select! {
                drift = app.next_drift() => log_drift(drift),
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        };
        if let Some(verdict) = verdict {
            println!(
                "health: {} after {:.1} s",
                verdict.aggregate,
                started.elapsed().as_secs_f64()
            );
            for o in &verdict.not_current {
                println!("  {}: {}: {}", o.object, o.status, o.message);
            }
            ok = verdict.aggregate == AggregateHealth::Healthy;
        }
    }
    tracing::info!("watching for drift");
    let mut resync = tokio::time::interval(args.resync);
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    resync.tick().await;
    loop {
        tokio::select! {
            drift = app.next_drift() => log_drift(drift),
            _ = resync.tick() => {
                let report = app.sync(REVISION, rendered.clone(), Observe::Cached).await;
                if report.counts.changed() || report.result != SyncResult::Synced {
                    tracing::info!(summary = %report.to_string().trim_end(), "resync");
                }
            }
            _ = &mut shutdown => break,
        }
    }
    println!("stopped; {} drift corrections", app.corrections());
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn log_drift(report: WatchReport) {
    match report {
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
    }
}
