//! The test bed proves itself: several real clusters at once, isolation
//! between them, a regional outage and recovery, clean-up after a killed
//! test, and startup failures that show the component's log.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use integration_tests::{Cluster, ClusterOptions, Fleet, FleetOptions};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, PostParams};

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}
            }
        }
    }))
    .unwrap()
}

fn is_available(d: &Deployment) -> bool {
    let status = d.status.clone().unwrap_or_default();
    status.available_replicas == Some(3)
        && status
            .conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Available" && c.status == "True")
}

async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_clusters_run_at_once_and_stay_isolated() {
    let fleet = Fleet::start(FleetOptions {
        clusters: 3,
        ..Default::default()
    })
    .await
    .expect("three clusters start");
    let regions: Vec<&str> = fleet.clusters.iter().map(|c| c.region()).collect();
    assert_eq!(regions, ["us-east-1", "eu-west-1", "ap-southeast-1"]);
    let ports: BTreeSet<u16> = fleet.clusters.iter().map(|c| c.apiserver_port()).collect();
    assert_eq!(ports.len(), 3, "each cluster has its own apiserver");

    let [east, west, south] = &fleet.clusters[..] else {
        unreachable!()
    };
    let deployments: Api<Deployment> = Api::namespaced(east.client(), "default");
    deployments
        .create(&PostParams::default(), &deployment("web"))
        .await
        .unwrap();
    eventually(
        "Deployment web becomes Available in us-east-1",
        Duration::from_secs(60),
        || {
            let deployments = deployments.clone();
            async move {
                deployments
                    .get("web")
                    .await
                    .map(|d| is_available(&d))
                    .unwrap_or(false)
            }
        },
    )
    .await;

    for other in [west, south] {
        let api: Api<Deployment> = Api::namespaced(other.client(), "default");
        assert!(
            api.get_opt("web").await.unwrap().is_none(),
            "Deployment web leaked into {}",
            other.name()
        );
    }

    // A deleted Namespace really goes away (the namespace controller runs).
    let namespaces: Api<Namespace> = Api::all(west.client());
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "doomed"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(west.client(), "doomed");
    let cm: ConfigMap =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "c"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    eventually("Namespace doomed is gone", Duration::from_secs(60), || {
        let namespaces = namespaces.clone();
        async move { namespaces.get_opt("doomed").await.unwrap().is_none() }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apiserver_restart_keeps_data_and_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(ClusterOptions::new("outage", "eu-west-1"), dir.path())
        .await
        .expect("cluster starts");
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "survivor"}, "data": {"k": "v"}
    }))
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();

    cluster.stop_apiserver();
    assert!(!cluster.apiserver_running());
    assert!(
        cms.get("survivor").await.is_err(),
        "the apiserver still answers after being stopped"
    );

    cluster
        .start_apiserver()
        .await
        .expect("apiserver starts again");
    // A fresh client from the same kubeconfig file, as a user would build it.
    let client = integration_tests::cluster::client_from(cluster.kubeconfig_path())
        .await
        .unwrap();
    let again: Api<ConfigMap> = Api::namespaced(client, "default");
    let survivor = again
        .get("survivor")
        .await
        .expect("data survived the outage");
    assert_eq!(survivor.data.unwrap()["k"], "v");
}

#[tokio::test(flavor = "multi_thread")]
async fn startup_failure_reports_the_components_last_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = ClusterOptions::new("broken", "us-east-1");
    options
        .extra_apiserver_args
        .push("--no-such-flag-for-rudder".into());
    let error = match Cluster::start(options, dir.path()).await {
        Ok(_) => panic!("an apiserver with an unknown flag started"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.contains("kube-apiserver of cluster broken did not start"),
        "{error}"
    );
    assert!(
        error.contains("unknown flag: --no-such-flag-for-rudder"),
        "{error}"
    );
}

/// Processes whose command line mentions `dir`.
fn processes_mentioning(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .chars()
            .all(|c| c.is_ascii_digit())
        {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let zombie = std::fs::read_to_string(entry.path().join("stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true);
            if cmdline.contains(&needle) && !zombie {
                found.push(format!(
                    "{}: {cmdline}",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
    }
    found
}

fn start_testbed(dir: &Path) -> (std::process::Child, String) {
    let mut up = Command::new(env!("CARGO_BIN_EXE_testbed"))
        .args(["up", "--clusters", "1", "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(up.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (up, line)
}

async fn wait_until_no_process_mentions(dir: &Path) {
    let start = Instant::now();
    loop {
        let left = processes_mentioning(dir);
        if left.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "processes outlived the test bed:\n{}",
            left.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_testbed_leaves_no_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (mut up, line) = start_testbed(dir.path());
    let fields: Vec<&str> = line.trim_end().split(' ').collect();
    assert_eq!(fields.len(), 3, "NAME REGION KUBECONFIG, got {line:?}");
    assert_eq!(fields[..2], ["rudder-us-east-1", "us-east-1"]);
    assert!(Path::new(fields[2]).exists());
    assert!(
        !processes_mentioning(dir.path()).is_empty(),
        "the cluster's processes run"
    );

    up.kill().unwrap(); // SIGKILL: no chance to clean up in-process
    up.wait().unwrap();
    wait_until_no_process_mentions(dir.path()).await;
    let start = Instant::now();
    while dir.path().join("rudder-us-east-1").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the janitor left the cluster directory"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn testbed_down_stops_what_up_started() {
    let dir = tempfile::tempdir().unwrap();
    let (mut up, line) = start_testbed(dir.path());
    let kubeconfig = line.trim_end().split(' ').nth(2).unwrap().to_string();
    let kubectl = Command::new("kubectl")
        .args(["--kubeconfig", &kubeconfig, "get", "nodes", "-o", "name"])
        .output()
        .expect("kubectl is installed (.ci/run installs it when absent)");
    let nodes = String::from_utf8_lossy(&kubectl.stdout);
    assert!(
        nodes.contains("node/kwok-node-0"),
        "kubectl cannot use the printed kubeconfig: {nodes}"
    );

    let down = Command::new(env!("CARGO_BIN_EXE_testbed"))
        .args(["down", "--dir"])
        .arg(dir.path())
        .spawn()
        .unwrap();
    let status = up.wait().unwrap();
    assert!(
        status.success(),
        "testbed up exits cleanly on SIGTERM: {status}"
    );
    let down_status = down.wait_with_output().unwrap().status;
    assert!(down_status.success());
    wait_until_no_process_mentions(dir.path()).await;
    assert!(!dir.path().join("testbed.pid").exists());
}

#[test]
fn build_without_go_names_what_to_install() {
    let cache = tempfile::tempdir().unwrap();
    let output = Command::new("bash")
        .arg(integration_tests::controlplane::build_script())
        .env("PATH", "/usr/bin:/bin")
        .env("RUDDER_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("install Go"), "{stderr}");
    assert!(output.stdout.is_empty());
}
