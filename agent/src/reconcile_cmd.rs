//! `rudder reconcile APP`: asks the agent to fetch and sync an app now, as
//! `flux reconcile` does, and waits until it has. Through the cluster (the
//! default): writes `rudder.io/reconcile-requested-at` on the app's
//! ApplySet parent, so Kubernetes RBAC on that Secret decides who may; the
//! agent watches its parents and records the request as handled when the
//! sync is done. With `--url`: posts the same request to the agent's
//! `/hooks/reconcile`, signed with its webhook secret, and reads `/status`.
//! Exit 0 when the sync after the request succeeded, 1 when it failed, 2
//! when the request could not be made or was not handled in time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use rudder_reconciler::applyset::ApplySetParent;
use rudder_reconciler::inventory_store;
use rudder_reconciler::target::Target;

use crate::cluster_args::{KubeArgs, parse_duration};
use crate::http_client::{self, AgentUrl};
use crate::parent_record::{AppRecord, RECONCILE_REQUESTED_AT};
use crate::server::hooks::{Provider, hmac_sha256, to_hex};
use crate::status::rfc3339_micros;

/// The field manager of the request annotation.
const FIELD_MANAGER: &str = "rudder-reconcile";
/// How often the outcome is looked for.
const POLL: Duration = Duration::from_millis(100);

/// Arguments of `rudder reconcile`.
#[derive(clap::Args, Debug)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Ask an agent over HTTP instead, e.g. http://127.0.0.1:8080 (needs
    /// --webhook-secret-file).
    #[arg(long, value_name = "URL", requires = "webhook_secret_file")]
    pub url: Option<String>,
    /// File holding the agent's webhook secret, to sign the --url request.
    #[arg(long, value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// How long to wait for the agent's sync (e.g. 30s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// The app to sync.
    #[arg(value_name = "APP")]
    pub app: String,
}

pub async fn run(args: &ReconcileArgs) -> anyhow::Result<ExitCode> {
    let requested = rfc3339_micros(SystemTime::now());
    let started = Instant::now();
    let record = match &args.url {
        Some(url) => via_agent(args, &AgentUrl::parse(url)?, &requested).await?,
        None => via_cluster(args, &requested).await?,
    };
    let Some(record) = record else {
        anyhow::bail!(
            "the agent did not sync {} within {:?} of the request (is it running and leading? `rudder status {}` shows what it last did)",
            args.app,
            args.timeout,
            args.app
        );
    };
    println!(
        "{}: synced after {:.1} s: sync {}, health {}, revision {}",
        record.name,
        started.elapsed().as_secs_f64(),
        record.sync,
        record.health,
        record.applied_revision.as_deref().unwrap_or("-")
    );
    if let Some(error) = &record.error {
        println!("error: {} {}", error.code, error.message);
    }
    Ok(if record.sync == "Synced" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Annotates the parent, then waits for the agent's record to name the
/// request as handled.
async fn via_cluster(args: &ReconcileArgs, requested: &str) -> anyhow::Result<Option<AppRecord>> {
    let (target, _) = args.kube.target().await?;
    let parent = ApplySetParent::new(args.app.clone(), args.kube.parent_namespace.clone());
    let annotations = BTreeMap::from([(RECONCILE_REQUESTED_AT, Some(requested.to_string()))]);
    if !inventory_store::annotate(&target, &parent, FIELD_MANAGER, &annotations).await? {
        return Err(crate::cluster_args::no_such_app(&target, &parent));
    }
    let deadline = Instant::now() + args.timeout;
    while Instant::now() < deadline {
        let record = read_record(&target, &parent).await?;
        if record.reconcile_handled_at.as_deref() == Some(requested) {
            return Ok(Some(record));
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(None)
}

async fn read_record(target: &Target, parent: &ApplySetParent) -> anyhow::Result<AppRecord> {
    let api: Api<Secret> = Api::namespaced(target.client(), &parent.namespace);
    let secret = api
        .get(&parent.name)
        .await
        .with_context(|| format!("cluster {}: reading {}", target.name(), parent.reference()))?;
    Ok(AppRecord::from_annotations(
        &parent.name,
        &secret.metadata.annotations.unwrap_or_default(),
    ))
}

/// Posts the signed request, then waits for `/status` to name it handled.
async fn via_agent(
    args: &ReconcileArgs,
    agent: &AgentUrl,
    requested: &str,
) -> anyhow::Result<Option<AppRecord>> {
    let file = args
        .webhook_secret_file
        .as_ref()
        .context("--url needs --webhook-secret-file")?;
    let secret = std::fs::read(file)
        .with_context(|| format!("reading the webhook secret file {}", file.display()))?;
    let secret = secret.trim_ascii_end();
    let body =
        serde_json::to_vec(&serde_json::json!({"app": args.app, "requested_at": requested}))?;
    let signature = format!("sha256={}", to_hex(&hmac_sha256(secret, &body)));
    let (code, answer) = http_client::request(
        agent,
        http::Method::POST,
        "/hooks/reconcile",
        &[
            (Provider::Generic.header(), signature),
            ("content-type", "application/json".to_string()),
        ],
        body,
    )
    .await?;
    if code != 202 {
        anyhow::bail!("the agent refused the request ({code}): {}", answer.trim());
    }
    let deadline = Instant::now() + args.timeout;
    while Instant::now() < deadline {
        let status = http_client::status(agent).await?;
        let app = status
            .get("apps")
            .and_then(serde_json::Value::as_array)
            .and_then(|apps| apps.iter().find(|a| a["name"] == args.app.as_str()));
        if let Some(app) = app {
            let record: AppRecord = serde_json::from_value(app.clone())?;
            if record.reconcile_handled_at.as_deref() == Some(requested) {
                return Ok(Some(record));
            }
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(None)
}
