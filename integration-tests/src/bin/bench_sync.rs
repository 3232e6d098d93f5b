//! Sync benchmark: `rudder sync` against `kubectl apply --server-side` and
//! against raw parallel server-side apply of the same objects, side by side
//! in one run, on one apiserver of the test bed (with an audit log).
//!
//! Each tool gets its own namespace holding the same 1,001 objects (250
//! apps: Deployment, headless Service, ConfigMap, HPA; plus one ConfigMap).
//! Deployments have `replicas: 0` so that controller and kwok traffic for
//! pods does not disturb the timings; the objects applied are the same
//! size either way. Requests are counted twice: from the audit log (only the
//! tool's own identity, `rudder`, so controllers are not counted) and from
//! the apiserver's `apiserver_request_total` (APPLY requests).
//!
//! Then `rudder sync --watch` runs on the same set: a resync window with
//! nothing changed (requests counted), then 100 external deletions and 100
//! external edits, each timed until healed.
//!
//!     bench/sync.sh            # builds rudder (release) and runs this
//!     bench-sync --rudder target/release/rudder [--apps 250] [--tries 100]

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use futures::StreamExt as _;
use integration_tests::bench_set::{objects, yaml_stream};
use integration_tests::{Cluster, ClusterOptions};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
};
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    /// The rudder binary to measure (build it with --release).
    #[arg(long)]
    rudder: PathBuf,
    /// kubectl to compare with.
    #[arg(long, default_value = "kubectl")]
    kubectl: String,
    /// Apps per set (4 objects each, plus one ConfigMap).
    #[arg(long, default_value_t = 250)]
    apps: usize,
    /// Deletions and edits each, healed by `rudder sync --watch`.
    #[arg(long, default_value_t = 100)]
    tries: usize,
    /// Measure rudder only (no kubectl, no raw apply): for quick iterations.
    #[arg(long)]
    rudder_only: bool,
    /// Working directory (default: a temporary one).
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn write_yaml(path: &Path, objects: &[Value]) -> Result<()> {
    std::fs::write(path, yaml_stream(objects))
        .with_context(|| format!("writing {}", path.display()))
}

/// Requests seen in the audit log since `offset` by user `rudder`.
#[derive(Debug, Default, Clone, Copy)]
struct Requests {
    total: usize,
    writes: usize,
    lists: usize,
    gets: usize,
    watches: usize,
}

impl std::fmt::Display for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} writes, {} lists, {} gets, {} watches)",
            self.total, self.writes, self.lists, self.gets, self.watches
        )
    }
}

struct Audit {
    path: PathBuf,
}

impl Audit {
    fn offset(&self) -> Result<u64> {
        Ok(std::fs::metadata(&self.path)?.len())
    }

    fn since(&self, offset: u64) -> Result<Requests> {
        let mut file = std::fs::File::open(&self.path)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        let mut seen = BTreeSet::new();
        let mut requests = Requests::default();
        for line in text.lines() {
            let Ok(event) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if event.pointer("/user/username").and_then(Value::as_str) != Some("rudder") {
                continue;
            }
            let id = event["auditID"].as_str().unwrap_or_default().to_string();
            if !seen.insert(id) {
                continue;
            }
            requests.total += 1;
            match event["verb"].as_str().unwrap_or_default() {
                "create" | "update" | "patch" | "delete" | "deletecollection" => {
                    requests.writes += 1
                }
                "list" => requests.lists += 1,
                "get" => requests.gets += 1,
                "watch" => requests.watches += 1,
                _ => {}
            }
        }
        Ok(requests)
    }
}

/// Sum of `apiserver_request_total` for verb APPLY.
async fn apply_requests(client: &kube::Client) -> Result<u64> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    let mut total = 0u64;
    for line in text.lines() {
        if line.starts_with("apiserver_request_total{") && line.contains("verb=\"APPLY\"") {
            let value = line.rsplit(' ').next().unwrap_or("0");
            total += value.parse::<f64>().unwrap_or(0.0) as u64;
        }
    }
    Ok(total)
}

/// One whole-process run, with peak RSS from wait4 (bench/measure.py).
struct Run {
    seconds: f64,
    peak_rss_mib: f64,
    exit: i32,
    stdout: String,
}

fn run_measured(root: &Path, work: &Path, command: &[String]) -> Result<Run> {
    let out = work.join("run.out");
    let output = Command::new("python3")
        .arg(root.join("bench/measure.py"))
        .arg("1")
        .arg(&out)
        .arg("--")
        .args(command)
        .output()
        .context("running bench/measure.py (needs python3)")?;
    let report: Value = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "measure.py said: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    Ok(Run {
        seconds: report["median_s"].as_f64().unwrap_or(f64::NAN),
        peak_rss_mib: report["peak_rss_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
        exit: report["exit"].as_i64().unwrap_or(-1) as i32,
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
    })
}

struct Row {
    what: String,
    seconds: f64,
    requests: Requests,
    applies: u64,
    peak_rss_mib: Option<f64>,
}

/// Measures runs side by side: wall time, the tool's requests (audit log)
/// and APPLY requests (apiserver_request_total).
struct Meter<'a> {
    audit: &'a Audit,
    admin: &'a kube::Client,
    root: &'a Path,
    work: &'a Path,
}

/// Where the counters stood when a run started.
struct Mark {
    offset: u64,
    applies: u64,
}

impl Meter<'_> {
    async fn mark(&self) -> Result<Mark> {
        Ok(Mark {
            offset: self.audit.offset()?,
            applies: apply_requests(self.admin).await?,
        })
    }

    async fn row(
        &self,
        what: &str,
        seconds: f64,
        mark: Mark,
        peak_rss_mib: Option<f64>,
    ) -> Result<Row> {
        Ok(Row {
            what: what.into(),
            seconds,
            requests: self.audit.since(mark.offset)?,
            applies: apply_requests(self.admin).await? - mark.applies,
            peak_rss_mib,
        })
    }

    /// One whole-process run of `command`, which must succeed.
    async fn process(&self, what: &str, command: &[String]) -> Result<Row> {
        let mark = self.mark().await?;
        let run = run_measured(self.root, self.work, command)?;
        if run.exit != 0 {
            bail!("{what} failed (exit {}): {}", run.exit, run.stdout);
        }
        eprintln!("{what}: {:.2} s", run.seconds);
        self.row(what, run.seconds, mark, Some(run.peak_rss_mib))
            .await
    }
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// Server-side apply of every object, 16 requests in flight, in-process.
async fn raw_parallel_apply(client: &kube::Client, objects: &[Value]) -> Result<()> {
    let params = PatchParams::apply("raw-bench").force();
    let results = futures::stream::iter(objects.iter().map(|object| {
        let client = client.clone();
        let params = params.clone();
        async move {
            let kind = object["kind"].as_str().unwrap_or_default();
            let ar = match kind {
                "Deployment" => resource("apps", "v1", kind, "deployments"),
                "Service" => resource("", "v1", kind, "services"),
                "ConfigMap" => resource("", "v1", kind, "configmaps"),
                _ => resource("autoscaling", "v2", kind, "horizontalpodautoscalers"),
            };
            let ns = object["metadata"]["namespace"].as_str().unwrap_or_default();
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            let api: Api<DynamicObject> = Api::namespaced_with(client, ns, &ar);
            api.patch(name, &params, &Patch::Apply(object)).await
        }
    }))
    .buffer_unordered(16)
    .collect::<Vec<_>>()
    .await;
    for result in results {
        result?;
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let temp = tempfile::tempdir()?;
    let work = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&work)?;
    let rudder = std::fs::canonicalize(&args.rudder)
        .with_context(|| format!("no rudder binary at {}", args.rudder.display()))?;

    eprintln!("starting one cluster with an audit log...");
    let mut options = ClusterOptions::new("bench", "us-east-1");
    options.audit_log = true;
    let cluster = Cluster::start(options, &work.join("cluster")).await?;
    let admin = cluster.client();
    let audit = Audit {
        path: cluster.audit_log_path(),
    };
    let kubeconfig = cluster.rudder_kubeconfig_path().to_path_buf();
    let rudder_client = integration_tests::cluster::client_from(&kubeconfig).await?;

    let namespaces: Api<Namespace> = Api::all(admin.clone());
    for ns in ["bench-kubectl", "bench-raw", "bench-rudder"] {
        namespaces
            .create(
                &Default::default(),
                &serde_json::from_value(json!({"metadata": {"name": ns}}))?,
            )
            .await?;
    }
    let kubectl_file = work.join("kubectl.yaml");
    write_yaml(&kubectl_file, &objects("bench-kubectl", args.apps))?;
    let rudder_dir = work.join("rudder-set");
    std::fs::create_dir_all(&rudder_dir)?;
    write_yaml(
        &rudder_dir.join("objects.yaml"),
        &objects("bench-rudder", args.apps),
    )?;
    std::fs::write(
        rudder_dir.join("kustomization.yaml"),
        "resources: [objects.yaml]\n",
    )?;
    let count = args.apps * 4 + 1;
    eprintln!("{count} objects per tool");

    let mut rows = Vec::new();

    let meter = Meter {
        audit: &audit,
        admin: &admin,
        root: &root,
        work: &work,
    };

    // kubectl apply --server-side, twice.
    let kubectl_apply = [
        args.kubectl.clone(),
        "--kubeconfig".into(),
        kubeconfig.display().to_string(),
        "apply".into(),
        "--server-side".into(),
        "-f".into(),
        kubectl_file.display().to_string(),
    ];
    for label in [
        "kubectl apply --server-side (first)",
        "kubectl apply --server-side (again, no change)",
    ] {
        if !args.rudder_only {
            rows.push(meter.process(label, &kubectl_apply).await?);
        }
    }

    // Raw parallel server-side apply.
    if !args.rudder_only {
        let mark = meter.mark().await?;
        let started = Instant::now();
        raw_parallel_apply(&rudder_client, &objects("bench-raw", args.apps)).await?;
        let seconds = started.elapsed().as_secs_f64();
        rows.push(
            meter
                .row(
                    "raw parallel apply, 16 in flight (in-process)",
                    seconds,
                    mark,
                    None,
                )
                .await?,
        );
    }

    // rudder sync, twice.
    let sync_command = |extra: &[&str]| -> Vec<String> {
        let mut command = vec![
            rudder.display().to_string(),
            "sync".into(),
            "--path".into(),
            rudder_dir.display().to_string(),
            "--kubeconfig".into(),
            kubeconfig.display().to_string(),
            "--name".into(),
            "bench".into(),
        ];
        command.extend(extra.iter().map(|s| s.to_string()));
        command
    };
    for label in ["rudder sync (first)", "rudder sync (again, no change)"] {
        rows.push(meter.process(label, &sync_command(&[])).await?);
    }

    // rudder sync --watch: a quiet resync window, then heals.
    let mut child = Command::new(&rudder)
        .args(sync_command(&["--watch", "--resync", "1s"]).iter().skip(1))
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().expect("piped");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let log = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("watching for drift") {
                let _ = ready_tx.send(());
            }
            lines.push(line);
        }
        lines
    });
    ready_rx
        .recv_timeout(Duration::from_secs(120))
        .context("rudder sync --watch did not start watching")?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let offset = audit.offset()?;
    let window = Duration::from_millis(3500);
    tokio::time::sleep(window).await;
    let quiet = audit.since(offset)?;

    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), "bench-rudder");
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    let mut deletions = Vec::new();
    let mut edits = Vec::new();
    for i in 0..args.tries {
        let name = format!("app-{:03}-config", i % args.apps);
        let started = Instant::now();
        cms.delete(&name, &DeleteParams::default()).await?;
        loop {
            if cms.get_opt(&name).await?.is_some() {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("{name}: deletion not healed within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        deletions.push(started.elapsed());

        let started = Instant::now();
        cms.patch(
            &name,
            &edit,
            &Patch::Merge(json!({"data": {"LOG_LEVEL": "debug"}})),
        )
        .await?;
        loop {
            let live = cms.get(&name).await?;
            if live
                .data
                .as_ref()
                .and_then(|d| d.get("LOG_LEVEL"))
                .map(String::as_str)
                == Some("info")
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("{name}: edit not healed within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        edits.push(started.elapsed());
    }
    let watch_rss = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<f64>().ok())
                })
        })
        .map(|kib| kib / 1024.0);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut stdout)?;
    child.wait()?;
    let _ = log.join();

    // Report.
    println!(
        "sync benchmark: {count} objects per tool, one apiserver (Kubernetes {}), {} cores",
        integration_tests::versions::kubernetes(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!();
    println!(
        "| run | wall time | requests by the tool (audit log) | APPLY requests (apiserver_request_total) | peak RSS |"
    );
    println!("| --- | ---: | --- | ---: | ---: |");
    for row in &rows {
        println!(
            "| {} | {:.2} s | {} | {} | {} |",
            row.what,
            row.seconds,
            row.requests,
            row.applies,
            row.peak_rss_mib
                .map(|m| format!("{m:.1} MiB"))
                .unwrap_or_else(|| "-".into())
        );
    }
    let find = |prefix: &str| {
        rows.iter()
            .find(|r| r.what.starts_with(prefix))
            .map(|r| r.seconds)
    };
    println!();
    if let (Some(kubectl_first), Some(raw), Some(rudder_first)) = (
        find("kubectl apply --server-side (first)"),
        find("raw parallel"),
        find("rudder sync (first)"),
    ) {
        println!(
            "first sync: rudder is {:.1}x faster than kubectl apply --server-side, and takes {:.2}x the time of raw parallel apply",
            kubectl_first / rudder_first,
            rudder_first / raw
        );
    }
    if let Some(again) = find("kubectl apply --server-side (again") {
        let rudder_again = find("rudder sync (again").unwrap_or(f64::NAN);
        println!(
            "no-change sync: rudder {rudder_again:.3} s vs kubectl {again:.2} s ({:.0}x)",
            again / rudder_again
        );
    }
    println!(
        "rudder sync --watch, resync every 1 s, nothing changed, {:.1} s window: {} requests",
        window.as_secs_f64(),
        quiet
    );
    for (what, mut times) in [("deletion", deletions), ("edit", edits)] {
        times.sort();
        println!(
            "{what} healed ({} tries, time from the change to the healed object read back, 5 ms polling): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            times.len(),
            percentile(&times, 50.0).as_secs_f64() * 1000.0,
            percentile(&times, 99.0).as_secs_f64() * 1000.0,
            times.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
        );
    }
    if let Some(rss) = watch_rss {
        println!("rudder sync --watch peak RSS after the heals: {rss:.1} MiB");
    }
    println!("rudder sync --watch said: {}", stdout.trim());
    drop(cluster);
    Ok(())
}
