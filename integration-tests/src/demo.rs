//! The live multi-region demo behind the README's first command: three
//! test-bed clusters (us-east-1, eu-west-1, ap-southeast-1), a fleet
//! repository (`examples/fleet`) committed to a real Git repository and
//! served by `git daemon` on 127.0.0.1, and one real `rudder run` per
//! region. Once every region is Synced and Healthy it prints the status
//! pages, the fleet view and what to try next, then follows the fleet until
//! it is told to stop; with `until_synced` it returns as soon as the fleet
//! has converged, or with the reason it has not.
//!
//! Every push to the repository is forwarded to the agents as a signed
//! webhook, as a Git host would deliver it, so a commit converges in well
//! under a second rather than at the next poll. Everything the demo starts
//! lives in temporary directories and under the test bed's supervisor:
//! stopping it (or killing it) leaves nothing behind.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};
use serde_json::Value;

use crate::agent::{AgentProcess, agent_args, hmac_sha256_hex};
use crate::git_server::{FleetRepo, GitDaemon};
use crate::{Fleet, FleetOptions};

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The `rudder` binary to run, one process per region.
    pub rudder: PathBuf,
    /// The fleet repository's content (`examples/fleet`).
    pub fleet: PathBuf,
    /// Return once every region is Synced and Healthy.
    pub until_synced: bool,
    /// How long the fleet may take to converge before the demo gives up.
    pub timeout: Duration,
    /// The agents' poll interval (webhooks make pushes immediate anyway).
    pub interval: String,
    pub regions: usize,
}

impl DemoOptions {
    /// The demo of `examples/fleet` in this repository with `rudder`.
    pub fn new(rudder: impl Into<PathBuf>) -> Self {
        DemoOptions {
            rudder: rudder.into(),
            fleet: Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fleet"),
            until_synced: false,
            timeout: Duration::from_secs(300),
            interval: "30s".into(),
            regions: 3,
        }
    }
}

/// Why the demo stopped short.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Setup(String),
    #[error("the test bed did not start: {0}")]
    Testbed(#[from] crate::TestbedError),
    #[error("the fleet did not converge within {timeout:?}:\n{report}")]
    NotConverged { timeout: Duration, report: String },
    #[error("the agent for {region} exited ({status}):\n{log}")]
    AgentExited {
        region: String,
        status: String,
        log: String,
    },
}

const WEBHOOK_SECRET: &str = "rudder-demo-webhook-secret";

/// One region of the running demo.
struct Region {
    name: String,
    kubeconfig: PathBuf,
    agent: AgentProcess,
}

/// What a region's `/status` says, reduced to what the fleet view shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegionView {
    pub revision: Option<String>,
    pub sync: String,
    pub health: String,
    pub objects: u64,
    pub drift_corrections: u64,
    pub error: Option<String>,
}

impl RegionView {
    /// The first app of a `/status` document (the demo runs one per agent).
    pub fn from_status(status: &Value) -> RegionView {
        let app = &status["apps"][0];
        let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
        let error = app["error"]["message"]
            .as_str()
            .or_else(|| status["source"]["error"].as_str())
            .map(str::to_string);
        RegionView {
            revision: app["applied_revision"].as_str().map(str::to_string),
            sync: text(&app["sync"]),
            health: text(&app["health"]),
            objects: app["objects"]
                .as_object()
                .map(|states| states.values().filter_map(Value::as_u64).sum())
                .unwrap_or(0),
            drift_corrections: app["drift_corrections"].as_u64().unwrap_or(0),
            error,
        }
    }

    /// Synced and Healthy at `revision`.
    pub fn converged_at(&self, revision: &str) -> bool {
        self.sync == "Synced"
            && self.health == "Healthy"
            && self.revision.as_deref() == Some(revision)
    }
}

/// The fleet view: one line per region.
pub fn fleet_table(rows: &[(String, Option<RegionView>, String)]) -> String {
    let mut out = format!(
        "{:<16} {:<9} {:<8} {:<12} {:>7} {:>6}  {}\n",
        "REGION", "REVISION", "SYNC", "HEALTH", "OBJECTS", "HEALED", "STATUS PAGE"
    );
    for (region, view, url) in rows {
        let view = view.clone().unwrap_or_else(|| RegionView {
            sync: "(starting)".into(),
            health: "-".into(),
            ..RegionView::default()
        });
        let revision = view.revision.as_deref().map(short).unwrap_or("-");
        out.push_str(&format!(
            "{:<16} {:<9} {:<8} {:<12} {:>7} {:>6}  {}\n",
            region, revision, view.sync, view.health, view.objects, view.drift_corrections, url
        ));
        if let Some(error) = &view.error {
            out.push_str(&format!("{:<16} error: {error}\n", ""));
        }
    }
    out
}

fn short(revision: &str) -> &str {
    &revision[..revision.len().min(7)]
}

/// Runs the demo until `stop` resolves (or, with `until_synced`, until the
/// fleet has converged). Prints what a person follows to stdout.
pub async fn run(options: DemoOptions, stop: impl Future<Output = ()>) -> Result<(), DemoError> {
    if !options.rudder.is_file() {
        return Err(DemoError::Setup(format!(
            "no rudder binary at {}: build it with `cargo build --release -p rudder`",
            options.rudder.display()
        )));
    }
    let fleet_dir = options.fleet.canonicalize().map_err(|e| {
        DemoError::Setup(format!(
            "the example fleet {}: {e}",
            options.fleet.display()
        ))
    })?;
    let scratch = tempfile::Builder::new()
        .prefix("rudder-demo-")
        .tempdir()
        .map_err(|e| DemoError::Setup(format!("creating a temporary directory: {e}")))?;

    let repo = FleetRepo::new();
    repo.write_tree(&fleet_dir);
    let revision = repo.commit("The example fleet");
    let daemon = GitDaemon::start(&repo);
    let secret_file = scratch.path().join("webhook-secret");
    std::fs::write(&secret_file, WEBHOOK_SECRET)
        .map_err(|e| DemoError::Setup(format!("writing {}: {e}", secret_file.display())))?;
    println!(
        "fleet repository {} served at {}",
        short(&revision),
        daemon.url()
    );

    println!(
        "starting {} clusters (real kube-apiservers on 127.0.0.1) ...",
        options.regions
    );
    let started = Instant::now();
    let fleet = Fleet::start(FleetOptions {
        clusters: options.regions,
        dir: None,
        audit_log: false,
    })
    .await?;
    println!(
        "clusters ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut regions = Vec::new();
    for cluster in &fleet.clusters {
        let cache = scratch.path().join(format!("cache-{}", cluster.region()));
        let secret = secret_file.display().to_string();
        let args = agent_args(
            &daemon.url(),
            cluster,
            &cache,
            &options.interval,
            &["--webhook-secret-file", &secret],
        );
        regions.push(Region {
            name: cluster.region().to_string(),
            kubeconfig: cluster.kubeconfig_path().to_path_buf(),
            agent: AgentProcess::start(&options.rudder, cluster.region(), &args, scratch.path()),
        });
    }

    let converged = converge(&mut regions, &revision, options.timeout).await;
    let rows = views(&regions);
    match converged {
        Ok(took) => {
            println!(
                "\nevery region is Synced and Healthy, {took:.1} s after the agents started\n"
            );
            print!("{}", fleet_table(&rows));
        }
        Err(error) => {
            stop_agents(&mut regions);
            return Err(error);
        }
    }
    if options.until_synced {
        stop_agents(&mut regions);
        return Ok(());
    }
    print_next_steps(&repo, &regions, &fleet.clusters[0].client(), scratch.path()).await;
    follow(&mut regions, &repo, stop).await;
    println!("\nstopping the agents, the clusters and the Git server");
    stop_agents(&mut regions);
    drop(daemon);
    drop(fleet);
    Ok(())
}

fn views(regions: &[Region]) -> Vec<(String, Option<RegionView>, String)> {
    regions
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                r.agent.status().as_ref().map(RegionView::from_status),
                format!("http://{}/", r.agent.addr()),
            )
        })
        .collect()
}

/// Waits until every region is Synced and Healthy at `revision`.
async fn converge(
    regions: &mut [Region],
    revision: &str,
    timeout: Duration,
) -> Result<f64, DemoError> {
    let started = Instant::now();
    let mut last_progress = String::new();
    loop {
        for region in regions.iter_mut() {
            if let Some(status) = region.agent.exited() {
                return Err(DemoError::AgentExited {
                    region: region.name.clone(),
                    status: status.to_string(),
                    log: region.agent.log_tail(30),
                });
            }
        }
        let rows = views(regions);
        if rows
            .iter()
            .all(|(_, view, _)| view.as_ref().is_some_and(|v| v.converged_at(revision)))
        {
            return Ok(started.elapsed().as_secs_f64());
        }
        let progress: Vec<String> = rows
            .iter()
            .map(|(region, view, _)| match view {
                Some(v) => format!("{region} {}/{}", v.sync, v.health),
                None => format!("{region} starting"),
            })
            .collect();
        let progress = progress.join(", ");
        if progress != last_progress {
            println!("  {progress}");
            last_progress = progress;
        }
        if started.elapsed() > timeout {
            let mut report = fleet_table(&rows);
            for region in regions.iter() {
                report.push_str(&format!(
                    "--- {} log (last lines)\n{}\n",
                    region.name,
                    region.agent.log_tail(15)
                ));
            }
            return Err(DemoError::NotConverged { timeout, report });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn print_next_steps(
    repo: &FleetRepo,
    regions: &[Region],
    client: &kube::Client,
    logs: &Path,
) {
    let work = repo.work_path().display();
    println!("\nstatus pages (HTML at /, JSON at /status, Prometheus at /metrics):");
    for region in regions {
        println!("  {:<16} http://{}/", region.name, region.agent.addr());
    }
    println!("\ntry next:");
    println!("  # change one region and watch only that region converge");
    println!("  cd {work}");
    println!("  $EDITOR clusters/{}/kustomization.yaml", regions[0].name);
    println!(
        "  git commit -am 'change {}' && git push origin HEAD:main",
        regions[0].name
    );
    let deployments: Api<Deployment> = Api::all(client.clone());
    let managed = deployments
        .list(&ListParams::default().labels("applyset.kubernetes.io/part-of"))
        .await
        .ok()
        .and_then(|list| list.items.into_iter().next());
    if let Some(deployment) = managed {
        println!("  # delete a Deployment by hand and watch it come back");
        println!(
            "  kubectl --kubeconfig {} -n {} delete deployment {}",
            regions[0].kubeconfig.display(),
            deployment.metadata.namespace.unwrap_or_default(),
            deployment.metadata.name.unwrap_or_default()
        );
    }
    println!(
        "  # break a file (bad YAML), commit, and read the error with file and line on the status page"
    );
    println!(
        "\nagent logs: {}/<region>.log; Ctrl-C stops everything and removes it.\n",
        logs.display()
    );
}

/// Until `stop`: forwards each push to every agent as a signed webhook and
/// prints each change of a region's revision, sync, health or corrections.
async fn follow(regions: &mut [Region], repo: &FleetRepo, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut head = repo.served_head();
    let mut seen: BTreeMap<String, RegionView> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
        let now = repo.served_head();
        if now != head {
            head = now;
            let commit = head.clone();
            println!(
                "push {}: sending each agent a signed webhook",
                short(&commit)
            );
            let body = format!(r#"{{"ref":"refs/heads/main","after":"{commit}"}}"#);
            let signature = format!(
                "sha256={}",
                hmac_sha256_hex(WEBHOOK_SECRET.as_bytes(), body.as_bytes())
            );
            for region in regions.iter() {
                region.agent.post(
                    "/hooks/generic",
                    &[
                        ("X-Rudder-Signature", &signature),
                        ("Content-Type", "application/json"),
                    ],
                    body.as_bytes(),
                );
            }
        }
        for region in regions.iter_mut() {
            if let Some(status) = region.agent.exited() {
                println!(
                    "the agent for {} exited ({status}); its log:\n{}",
                    region.name,
                    region.agent.log_tail(20)
                );
                return;
            }
            let Some(view) = region.agent.status().as_ref().map(RegionView::from_status) else {
                continue;
            };
            if seen.get(&region.name) != Some(&view) {
                let revision = view.revision.as_deref().map(short).unwrap_or("-");
                let mut line = format!(
                    "{:<16} {revision} {} {} ({} objects, {} healed)",
                    region.name, view.sync, view.health, view.objects, view.drift_corrections
                );
                if let Some(error) = &view.error {
                    line.push_str(&format!("\n{:<16} error: {error}", ""));
                }
                println!("{line}");
                seen.insert(region.name.clone(), view);
            }
        }
    }
}

fn stop_agents(regions: &mut [Region]) {
    for region in regions.iter_mut() {
        region.agent.terminate(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_region_view_reads_the_first_app_and_sums_object_states() {
        let status = json!({"source": {"error": null}, "apps": [{
            "sync": "Synced", "health": "Healthy", "applied_revision": "abcdef0123",
            "objects": {"Current": 5, "InProgress": 2}, "drift_corrections": 3, "error": null
        }]});
        let view = RegionView::from_status(&status);
        assert_eq!(view.objects, 7);
        assert_eq!(view.drift_corrections, 3);
        assert!(view.converged_at("abcdef0123"));
        assert!(!view.converged_at("other"));
        assert_eq!(view.error, None);
    }

    #[test]
    fn an_app_error_or_a_source_error_shows_in_the_view_and_table() {
        let status = json!({"source": {"error": "git unreachable"}, "apps": [{"sync": "Failed", "health": "Healthy"}]});
        let view = RegionView::from_status(&status);
        assert_eq!(view.error.as_deref(), Some("git unreachable"));
        assert!(!view.converged_at("x"));
        let table = fleet_table(&[("eu-west-1".into(), Some(view), "http://x/".into())]);
        assert!(table.contains("eu-west-1"), "{table}");
        assert!(table.contains("error: git unreachable"), "{table}");
        let starting = fleet_table(&[("us-east-1".into(), None, "http://y/".into())]);
        assert!(starting.contains("(starting)"), "{starting}");
    }
}
