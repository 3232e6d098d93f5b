//! Agent benchmark: `rudder run` on one test-bed apiserver (with an audit
//! log) following a fleet repository served by `git daemon`, managing and
//! watching the 1,001-object set of `bench-sync` in `clusters/us-east-1`.
//!
//! It measures, in one run:
//! - push to applied through the signed webhook, one object changed, over
//!   N pushes (p50, p99), side by side with the peer a team would script
//!   without an agent (`git pull`, then `kubectl kustomize | kubectl apply
//!   --server-side`), as a ratio;
//! - a minute of 1 s polls with no new commit: the agent's apiserver
//!   requests (audit log, WATCH aside) and renders (its own metric);
//! - a commit that touches only another region's overlay: requests;
//! - the agent's steady RSS and its CPU while idle between polls.
//!
//! Run it as:
//!
//!     bench/agent.sh            # builds rudder (release) and runs this
//!     bench-agent --rudder target/release/rudder [--pushes 20] [--idle 60]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use integration_tests::agent::{AgentProcess, Audit, hmac_sha256_hex};
use integration_tests::bench_set::{objects, yaml_stream};
use integration_tests::git_server::{FleetRepo, GitDaemon};
use integration_tests::{Cluster, ClusterOptions};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use serde_json::Value;

#[derive(Parser)]
struct Args {
    /// The rudder binary to measure (build it with --release).
    #[arg(long)]
    rudder: PathBuf,
    /// kubectl for the peer pipeline.
    #[arg(long, default_value = "kubectl")]
    kubectl: String,
    /// Apps in the set (4 objects each, plus one ConfigMap).
    #[arg(long, default_value_t = 250)]
    apps: usize,
    /// Webhook-driven pushes timed.
    #[arg(long, default_value_t = 20)]
    pushes: usize,
    /// Runs of the peer pipeline.
    #[arg(long, default_value_t = 3)]
    peer_runs: usize,
    /// Seconds of idle polling measured.
    #[arg(long, default_value_t = 60)]
    idle: u64,
    /// The agent's poll interval (the idle phase polls at this pace).
    #[arg(long, default_value = "1s")]
    interval: String,
}

const SECRET: &str = "bench-webhook-secret";
const NAMESPACE: &str = "bench";

/// The set with app-000's ConfigMap carrying `marker`.
fn set_with(apps: usize, marker: &str) -> String {
    let mut set = objects(NAMESPACE, apps);
    for object in &mut set {
        if object.pointer("/metadata/name").and_then(Value::as_str) == Some("app-000-config") {
            object["data"]["LOG_LEVEL"] = Value::String(marker.to_string());
        }
    }
    let mut text = yaml_stream(&[serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}
    })]);
    text.push_str(&yaml_stream(&set));
    text
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat; 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

/// VmRSS and VmHWM of a process, in MiB.
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn metric(agent: &AgentProcess, name: &str) -> f64 {
    let text = agent.get("/metrics").map(|r| r.1).unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

async fn log_level(client: &kube::Client) -> Option<String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), NAMESPACE);
    api.get_opt("app-000-config")
        .await
        .ok()
        .flatten()
        .and_then(|cm| cm.data)
        .and_then(|d| d.get("LOG_LEVEL").cloned())
}

async fn wait_level(client: &kube::Client, want: &str, timeout: Duration) -> Result<Duration> {
    let started = Instant::now();
    loop {
        if log_level(client).await.as_deref() == Some(want) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > timeout {
            bail!("LOG_LEVEL never became {want}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn run(program: &str, args: &[&str], dir: &Path) -> Result<()> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !output.status.success() {
        bail!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let work = tempfile::tempdir()?;
    let mut options = ClusterOptions::new("rudder-us-east-1", "us-east-1");
    options.audit_log = true;
    let cluster = Cluster::start(options, work.path()).await?;
    let admin = cluster.client();

    let repo = FleetRepo::new();
    repo.write(
        "clusters/us-east-1/kustomization.yaml",
        "resources: [set.yaml]\n",
    );
    repo.write("clusters/us-east-1/set.yaml", &set_with(args.apps, "info"));
    repo.write(
        "clusters/eu-west-1/kustomization.yaml",
        "resources: [cm.yaml]\n",
    );
    repo.write(
        "clusters/eu-west-1/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: eu, namespace: default}\ndata: {n: \"0\"}\n",
    );
    let first = repo.commit("bench: the set");
    let daemon = GitDaemon::start(&repo);
    let secret_file = work.path().join("secret");
    std::fs::write(&secret_file, SECRET)?;
    let agent_args: Vec<String> = [
        "--repo",
        &daemon.url(),
        "--path",
        "clusters/{region}",
        "--region",
        "us-east-1",
        "--cluster",
        "rudder-us-east-1",
        "--prune",
        "--interval",
        &args.interval,
        "--webhook-secret-file",
        secret_file.to_str().unwrap_or_default(),
        "--kubeconfig",
        cluster
            .rudder_kubeconfig_path()
            .to_str()
            .unwrap_or_default(),
        "--cache-dir",
        work.path().join("cache").to_str().unwrap_or_default(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let started = Instant::now();
    let agent = AgentProcess::start(&args.rudder, "agent", &agent_args, work.path());
    agent
        .wait_for("synced", Duration::from_secs(300), |s| {
            s["apps"][0]["applied_revision"] == first.as_str() && s["apps"][0]["sync"] == "Synced"
        })
        .await;
    let first_sync = started.elapsed();
    eprintln!(
        "first sync of {} objects: {:.2} s",
        args.apps * 4 + 2,
        first_sync.as_secs_f64()
    );
    // Let the watches settle and the controllers finish with the new set.
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Idle: a minute of 1 s polls, no new commit.
    let audit = Audit::new(cluster.audit_log_path());
    let offset = audit.offset();
    let renders = metric(&agent, "rudder_renders_total{");
    let polls = metric(&agent, "rudder_source_polls_total{");
    let cpu = cpu_seconds(agent.pid());
    let idle_started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.idle)).await;
    let idle_secs = idle_started.elapsed().as_secs_f64();
    let idle_cpu = (cpu_seconds(agent.pid()) - cpu) / idle_secs * 100.0;
    let idle_requests = audit.since(offset, "rudder");
    let idle_renders = metric(&agent, "rudder_renders_total{") - renders;
    let idle_polls = metric(&agent, "rudder_source_polls_total{") - polls;
    let (rss, _) = memory_mib(agent.pid());

    // A commit touching only another region's overlay.
    let offset = audit.offset();
    repo.write(
        "clusters/eu-west-1/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: eu, namespace: default}\ndata: {n: \"1\"}\n",
    );
    let other = repo.commit("eu-west-1 only");
    // A delivery, so a long --interval does not slow this phase down.
    let body = br#"{"ref":"refs/heads/main"}"#;
    let signature = format!("sha256={}", hmac_sha256_hex(SECRET.as_bytes(), body));
    agent.post(
        "/hooks/github",
        &[("X-Hub-Signature-256", &signature)],
        body,
    );
    agent
        .wait_for(
            "recording the other region's commit",
            Duration::from_secs(60),
            |s| s["apps"][0]["applied_revision"] == other.as_str(),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let other_requests = audit.since(offset, "rudder");

    // Push to applied through the signed webhook.
    let mut times = Vec::new();
    for i in 0..args.pushes {
        let marker = format!("push-{i}");
        repo.write("clusters/us-east-1/set.yaml", &set_with(args.apps, &marker));
        repo.commit(&marker);
        let pushed = Instant::now();
        let body = format!(r#"{{"ref":"refs/heads/main","push":{i}}}"#);
        let signature = format!(
            "sha256={}",
            hmac_sha256_hex(SECRET.as_bytes(), body.as_bytes())
        );
        let (code, _) = agent
            .post(
                "/hooks/github",
                &[("X-Hub-Signature-256", &signature)],
                body.as_bytes(),
            )
            .context("posting the webhook")?;
        if code != 202 {
            bail!("the webhook answered {code}");
        }
        wait_level(&admin, &marker, Duration::from_secs(60)).await?;
        times.push(pushed.elapsed());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (rss_after, peak) = memory_mib(agent.pid());
    times.sort();
    // The agent would heal the peer's writes back: stop it first.
    drop(agent);

    // The peer: pull, render with kubectl kustomize, apply server-side.
    let clone = work.path().join("peer");
    run(
        "git",
        &[
            "clone",
            "-q",
            &daemon.url(),
            clone.to_str().unwrap_or_default(),
        ],
        work.path(),
    )?;
    let kubeconfig = cluster.kubeconfig_path().display().to_string();
    let mut peer = Vec::new();
    for i in 0..args.peer_runs {
        let marker = format!("peer-{i}");
        repo.write("clusters/us-east-1/set.yaml", &set_with(args.apps, &marker));
        repo.commit(&marker);
        let pushed = Instant::now();
        run("git", &["pull", "-q", "--ff-only"], &clone)?;
        let script = format!(
            "{k} kustomize clusters/us-east-1 | {k} --kubeconfig {kubeconfig} apply --server-side --force-conflicts --field-manager peer -f - >/dev/null",
            k = args.kubectl
        );
        run("bash", &["-c", &script], &clone)?;
        wait_level(&admin, &marker, Duration::from_secs(60)).await?;
        peer.push(pushed.elapsed());
    }
    peer.sort();

    let p50 = percentile(&times, 50.0);
    let p99 = percentile(&times, 99.0);
    let peer_median = percentile(&peer, 50.0);
    println!(
        "| what | rudder run | peer (git pull + kubectl kustomize + kubectl apply --server-side) | ratio |"
    );
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| push to applied, one object of {} changed (p50 / p99 over {} pushes) | {:.0} ms / {:.0} ms | {:.2} s (median of {}) | {:.0}x |",
        args.apps * 4 + 1,
        times.len(),
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0,
        peer_median.as_secs_f64(),
        peer.len(),
        peer_median.as_secs_f64() / p50.as_secs_f64().max(1e-9)
    );
    println!(
        "| {:.0} s of {} polls, no new commit | {} requests ({} watches restarted), {} renders, {} polls | - | - |",
        idle_secs,
        args.interval,
        idle_requests.non_watch,
        idle_requests.watches,
        idle_renders,
        idle_polls
    );
    println!(
        "| a commit touching only another region | {} requests | - | - |",
        other_requests.non_watch
    );
    println!(
        "| steady RSS managing and watching the set | {rss:.1} MiB idle, {rss_after:.1} MiB after the pushes, {peak:.1} MiB peak | - | - |"
    );
    println!("| CPU while idle between polls | {idle_cpu:.2} % of one core | - | - |");
    println!(
        "| first sync (start to Synced) | {:.2} s | - | - |",
        first_sync.as_secs_f64()
    );
    Ok(())
}
