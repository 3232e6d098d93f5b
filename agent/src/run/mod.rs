//! `rudder run`: the agent. Wires the pieces together and owns their
//! lifetimes: the HTTP server (status, metrics, webhooks), optional leader
//! election, the Git source loop, and one loop per app, each around the
//! reconciler's long-lived [`rudder_reconciler::app::App`]. SIGTERM or
//! SIGINT: every app finishes the sync in flight, the Lease is released,
//! and the process exits 0.

pub mod app_loop;
pub mod config;
pub mod events;
pub mod parents;
pub mod source_loop;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rudder_reconciler::app::App;
use rudder_reconciler::applyset::ApplySetParent;
use rudder_reconciler::plan::PlanOptions;
use rudder_reconciler::sync::SyncOptions;
use tokio::sync::{mpsc, watch};

use crate::cluster_args::{connect, prune_guards};
use crate::leader::{Elector, default_identity};
use crate::parent_record;
use crate::server::{self, ServerState, metrics::Metrics};
use crate::source::{Auth, GitSource, SourceSpec};
use crate::status::{AppStatus, Board, LeaderStatus, SourceStatus, Status};
use config::{AppSpec, RunArgs};

/// How long the apps get to finish what they are doing on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let (apps_file, invalid_apps) = match &args.apps {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the apps file {}", path.display()))?;
            let (parsed, invalid) =
                config::parse_apps_file_lenient(&path.display().to_string(), &text)
                    .map_err(anyhow::Error::msg)?;
            for app in &invalid {
                tracing::error!(app = %app.name, error = %app.message, "app not run: its entry in the apps file is invalid");
            }
            (Some(parsed), invalid)
        }
        None => (None, Vec::new()),
    };
    let rules = crate::cluster_args::compile_health_rules(
        args.health_rules.as_deref(),
        apps_file
            .as_ref()
            .map(|f| f.health.clone())
            .unwrap_or_default(),
    );
    let mut specs = config::app_specs(&args, apps_file).map_err(anyhow::Error::msg)?;
    // A health rule that does not compile would let every app be judged
    // wrongly: none runs, each says why in /status, the agent keeps serving.
    let mut invalid_apps = invalid_apps;
    let health_rules = match rules {
        Ok(rules) => rules,
        Err(error) => {
            let message = format!("{error:#}");
            tracing::error!(error = %message, "no app runs: a health rule does not compile");
            invalid_apps.extend(specs.drain(..).map(|spec| config::InvalidApp {
                name: spec.name,
                line: 0,
                message: message.clone(),
            }));
            Arc::default()
        }
    };
    let guards = prune_guards(false, args.max_prune_share, args.allow_empty_prune)?;
    let webhook_secret = match &args.webhook_secret_file {
        Some(path) => {
            let secret = std::fs::read(path)
                .with_context(|| format!("reading the webhook secret file {}", path.display()))?;
            let secret = trim_newline(secret);
            if secret.is_empty() {
                anyhow::bail!("the webhook secret file {} is empty", path.display());
            }
            Some(Arc::new(secret))
        }
        None => None,
    };
    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let parent_namespace = args.parent_namespace();

    let board = Board::new(Status {
        cluster: args.cluster.clone(),
        region: args.region.clone(),
        version: env!("CARGO_PKG_VERSION"),
        source: SourceStatus {
            repo: redact_url(&args.repo),
            reference: args.reference.clone(),
            ..SourceStatus::default()
        },
        leader: LeaderStatus {
            enabled: args.leader_elect,
            ..LeaderStatus::default()
        },
        apps: specs
            .iter()
            .map(|s| AppStatus::new(&s.name, &s.path, &s.name, &s.field_manager))
            .chain(
                invalid_apps
                    .iter()
                    .map(|app| invalid_app_status(&args, app)),
            )
            .collect(),
    });
    let metrics = Arc::new(Metrics::new(&args.cluster, &args.region));
    for spec in &specs {
        metrics.register_app(&spec.name);
    }
    for app in &invalid_apps {
        metrics.register_app(&app.name);
        metrics.set_info(&app.name, "", "Failed", "Unknown");
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (trigger_tx, trigger_rx) = mpsc::channel(server::TRIGGER_QUEUE);
    // One queue of `rudder reconcile` requests per app, fed by the
    // parents' watch and the signed /hooks/reconcile.
    let mut reconcile_rx = BTreeMap::new();
    let mut reconcile_tx = BTreeMap::new();
    let mut signals = BTreeMap::new();
    let mut suspended_rx = BTreeMap::new();
    for spec in &specs {
        let (tx, rx) = mpsc::channel(4);
        let (suspended_tx, suspended) = watch::channel(None);
        reconcile_tx.insert(spec.name.clone(), tx.clone());
        reconcile_rx.insert(spec.name.clone(), rx);
        suspended_rx.insert(spec.name.clone(), suspended);
        signals.insert(
            spec.name.clone(),
            parents::ParentSignals {
                reconcile: tx,
                suspended: suspended_tx,
            },
        );
    }
    let state = ServerState {
        board: board.clone(),
        metrics: metrics.clone(),
        webhook_secret,
        triggers: trigger_tx.clone(),
        reconcile: Arc::new(reconcile_tx),
    };
    let mut server_shutdown = shutdown_rx.clone();
    let (addr, server_task) = server::serve(args.listen, state, async move {
        let _ = server_shutdown.wait_for(|stop| *stop).await;
    })
    .await?;
    tracing::info!(listen = %addr, cluster = %args.cluster, region = %args.region, "serving /status, /metrics and /hooks");

    let (target, default_namespace) =
        connect(args.kubeconfig.as_deref(), args.context.as_deref()).await?;

    let signal = shutdown_signal();
    tokio::pin!(signal);
    let mut elector = args.leader_elect.then(|| {
        Elector::new(
            target.client(),
            &parent_namespace,
            &args.lease_name,
            &identity,
            board.clone(),
        )
    });
    if let Some(elector) = elector.as_mut() {
        tracing::info!(identity = %elector.identity(), lease = %args.lease_name, "waiting to lead");
        tokio::select! {
            _ = elector.acquire() => {}
            _ = &mut signal => {
                let _ = shutdown_tx.send(true);
                let _ = server_task.await;
                println!("stopped before leading");
                return Ok(ExitCode::SUCCESS);
            }
        }
    }

    let spec = SourceSpec {
        repo: args.repo.clone(),
        reference: args.reference.clone(),
        cache_dir: args.cache_dir.clone(),
        auth: auth(&args),
    };
    let source_spec = spec.clone();
    let source = tokio::task::spawn_blocking(move || GitSource::open(spec))
        .await?
        .with_context(|| format!("opening the Git cache in {}", args.cache_dir.display()))?;

    // Apps that left the apps file: orphaned or deleted as their parents
    // say, before the apps that remain start (only the leader writes).
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    parents::remove_departed_apps(
        &target,
        &parent_namespace,
        &args.lease_name,
        &names,
        args.concurrency.max(1),
    )
    .await;

    let (snapshot_tx, snapshot_rx) = watch::channel(None);
    let mut tasks = Vec::new();
    for spec in specs {
        let mut options =
            sync_options(&args, &spec, &guards, &parent_namespace, &default_namespace);
        options.health_rules = health_rules.clone();
        let events = app_loop_events(&target, &identity, &parent_namespace, &spec);
        let (record_tx, record_rx) = watch::channel(None);
        let fixed = BTreeMap::from([
            (parent_record::AGENT, Some(args.lease_name.clone())),
            (
                parent_record::DELETION_POLICY,
                Some(spec.deletion_policy.as_str().to_string()),
            ),
            (
                parent_record::DEPENDS_ON,
                Some(spec.depends_on.join(",")).filter(|d| !d.is_empty()),
            ),
        ]);
        tasks.push(tokio::spawn(parents::record(
            target.clone(),
            options.parent.clone(),
            fixed,
            record_rx,
            shutdown_rx.clone(),
        )));
        let worker = app_loop::AppWorker {
            app: App::new(spec.name.clone(), target.clone(), options),
            reconcile_requests: reconcile_rx.remove(&spec.name).expect("a queue per app"),
            records: record_tx,
            suspended: suspended_rx.remove(&spec.name).expect("a state per app"),
            suspend_all: args.suspend,
            parent_namespace: parent_namespace.clone(),
            spec,
            board: board.clone(),
            metrics: metrics.clone(),
            events,
            resync_every: args.resync,
            retry_max: args
                .interval
                .clamp(Duration::from_secs(5), Duration::from_secs(60)),
        };
        tasks.push(tokio::spawn(
            worker.run(snapshot_rx.clone(), shutdown_rx.clone()),
        ));
    }
    tasks.push(tokio::spawn(parents::watch_parents(
        target.clone(),
        parent_namespace.clone(),
        signals,
        trigger_tx,
        shutdown_rx.clone(),
    )));
    let source_loop = source_loop::SourceLoop {
        source,
        spec: source_spec,
        interval: args.interval,
        triggers: trigger_rx,
        snapshots: snapshot_tx,
        board: board.clone(),
        metrics: metrics.clone(),
    };
    tasks.push(tokio::spawn(source_loop.run(shutdown_rx.clone())));

    let mut exit = ExitCode::SUCCESS;
    match elector.as_mut() {
        Some(elector) => tokio::select! {
            _ = &mut signal => {}
            _ = elector.keep() => {
                tracing::error!("leadership lost; stopping so that only one replica writes");
                exit = ExitCode::FAILURE;
            }
        },
        None => signal.await,
    }
    tracing::info!("stopping: finishing the syncs in flight");
    let _ = shutdown_tx.send(true);
    let all = futures::future::join_all(tasks);
    if tokio::time::timeout(SHUTDOWN_GRACE, all).await.is_err() {
        tracing::warn!(
            "some apps did not stop within {} s",
            SHUTDOWN_GRACE.as_secs()
        );
    }
    if let Some(elector) = elector.as_mut() {
        elector.release().await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), server_task).await;
    let corrections: u64 = board
        .snapshot()
        .apps
        .iter()
        .map(|a| a.drift_corrections)
        .sum();
    println!("stopped; {corrections} drift corrections");
    Ok(exit)
}

/// The `/status` record of an app the apps file describes wrongly: Failed
/// with the problem, never run.
fn invalid_app_status(args: &RunArgs, app: &config::InvalidApp) -> AppStatus {
    let mut status = AppStatus::new(&app.name, "", &app.name, "");
    status.sync = crate::status::SyncState::Failed;
    status.error = Some(crate::status::ErrorStatus {
        code: crate::status::ErrorCode::ConfigInvalid,
        message: app.message.clone(),
        file: args.apps.as_ref().map(|p| p.display().to_string()),
        // 0: the problem is not on the app's own line (a health rule).
        line: (app.line > 0).then_some(app.line as u64),
    });
    status
}

fn app_loop_events(
    target: &rudder_reconciler::target::Target,
    identity: &str,
    namespace: &str,
    spec: &AppSpec,
) -> events::EventSink {
    events::EventSink::new(target.client(), identity, namespace, &spec.name)
}

fn sync_options(
    args: &RunArgs,
    spec: &AppSpec,
    guards: &PlanOptions,
    parent_namespace: &str,
    default_namespace: &str,
) -> SyncOptions {
    let mut options = SyncOptions::new(ApplySetParent::new(spec.name.clone(), parent_namespace));
    options.plan = PlanOptions {
        prune: spec.prune,
        ..guards.clone()
    };
    options.apply.recreate = args.recreate;
    options.apply.field_manager = spec.field_manager.clone();
    options.concurrency = args.concurrency.max(1);
    options.wave_timeout = args.wave_timeout;
    options.default_namespace = spec
        .target_namespace
        .clone()
        .unwrap_or_else(|| default_namespace.to_string());
    options
}

fn auth(args: &RunArgs) -> Auth {
    if let (Some(key), Some(known_hosts)) = (&args.ssh_key_file, &args.known_hosts_file) {
        return Auth::Ssh {
            private_key: key.clone(),
            known_hosts: known_hosts.clone(),
        };
    }
    match (&args.https_password_file, &args.https_token_file) {
        (Some(file), _) | (None, Some(file)) => Auth::Basic {
            username: args.https_username.clone(),
            password_file: file.clone(),
        },
        (None, None) => Auth::None,
    }
}

fn trim_newline(mut bytes: Vec<u8>) -> Vec<u8> {
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    bytes
}

/// A repository URL without any password in it, for status and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("https://bot:s3cret@git.example/fleet.git"),
            "https://bot@git.example/fleet.git"
        );
        assert_eq!(
            redact_url("git://127.0.0.1:9418/fleet"),
            "git://127.0.0.1:9418/fleet"
        );
        assert_eq!(
            redact_url("git@github.com:org/fleet.git"),
            "git@github.com:org/fleet.git"
        );
    }

    #[test]
    fn secret_files_lose_their_trailing_newline_only() {
        assert_eq!(trim_newline(b"abc \n\r\n".to_vec()), b"abc ".to_vec());
    }
}
