//! `rudder sync` and `rudder diff` as a user runs them, against a real
//! apiserver of the test bed: the summary and exit codes, a no-op second
//! sync, diffs with Secret values redacted, a render error that changes
//! nothing, an unreachable cluster, and `--watch` healing a deletion until
//! SIGTERM.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use integration_tests::agent::output_text;
use integration_tests::{Cluster, ClusterOptions};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams};

const RUDDER: &str = env!("CARGO_BIN_EXE_rudder");
/// A Secret value that must never be printed, and its base64.
const SECRET: &str = "hunter2-do-not-print";
const SECRET_B64: &str = "aHVudGVyMi1kby1ub3QtcHJpbnQ=";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A repository with `clusters/us-east-1` over `base`.
fn repository(root: &Path, replicas: u32, password: &str) {
    std::fs::create_dir_all(root.join(".git")).unwrap();
    write(
        &root.join("base/kustomization.yaml"),
        "resources: [namespace.yaml, settings.yaml]\n",
    );
    write(
        &root.join("base/namespace.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
    );
    write(
        &root.join("base/settings.yaml"),
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: shop}}\ndata: {{replicas: \"{replicas}\"}}\n"
        ),
    );
    write(
        &root.join("clusters/us-east-1/kustomization.yaml"),
        &format!(
            "resources: [../../base]\nsecretGenerator:\n- name: creds\n  namespace: shop\n  literals: [password={password}]\n"
        ),
    );
}

fn rudder(args: &[&str], dir: &Path, kubeconfig: &Path) -> Output {
    Command::new(RUDDER)
        .args(args)
        .arg("--path")
        .arg(dir)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("NO_COLOR", "1")
        .output()
        .expect("rudder runs")
}

fn assert_no_secret(output: &Output) {
    let all = output_text(output);
    assert!(
        !all.contains(SECRET) && !all.contains(SECRET_B64),
        "a Secret value was printed:\n{all}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_diff_and_errors_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(ClusterOptions::new("cli", "us-east-1"), dir.path())
        .await
        .expect("cluster starts");
    let repo = dir.path().join("repo");
    repository(&repo, 2, SECRET);
    let overlay = repo.join("clusters/us-east-1");
    let kubeconfig = cluster.kubeconfig_path();

    let diff = rudder(&["diff"], &overlay, kubeconfig);
    assert_eq!(diff.status.code(), Some(1), "{}", output_text(&diff));
    assert!(String::from_utf8_lossy(&diff.stdout).contains("+++ desired/ConfigMap/shop/settings"));
    assert_no_secret(&diff);

    let first = rudder(
        &["sync", "--prune", "--wait", "--timeout", "60s"],
        &overlay,
        kubeconfig,
    );
    assert_eq!(first.status.code(), Some(0), "{}", output_text(&first));
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(
        out.starts_with("created 3, configured 0, unchanged 0, pruned 0, failed 0\n"),
        "{out}"
    );
    assert!(out.contains("created ConfigMap/shop/settings"), "{out}");
    assert!(out.contains("health: Healthy"), "{out}");
    assert_no_secret(&first);
    // The set is named after the overlay's path in the repository.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(cluster.client(), "rudder-system");
    assert!(
        secrets
            .get_opt("clusters-us-east-1")
            .await
            .unwrap()
            .is_some()
    );

    let again = rudder(&["sync", "--prune"], &overlay, kubeconfig);
    assert_eq!(again.status.code(), Some(0), "{}", output_text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).starts_with("created 0, configured 0, unchanged 3,")
    );
    let same = rudder(&["diff"], &overlay, kubeconfig);
    assert_eq!(same.status.code(), Some(0), "{}", output_text(&same));
    assert!(same.stdout.is_empty(), "{}", output_text(&same));

    // A changed Secret: the diff says so without the value.
    repository(&repo, 3, "another-secret-value");
    let changed = rudder(&["diff", "--prune"], &overlay, kubeconfig);
    assert_eq!(changed.status.code(), Some(1), "{}", output_text(&changed));
    let out = String::from_utf8_lossy(&changed.stdout);
    assert!(
        out.contains("-  replicas: \"2\"\n+  replicas: \"3\""),
        "{out}"
    );
    assert!(out.contains("redacted"), "{out}");
    assert!(
        !out.contains("another-secret-value") && !out.contains("YW5vdGhlci1zZWNyZXQtdmFsdWU="),
        "{out}"
    );
    assert_no_secret(&changed);

    // A render error: exit 1, the file named, nothing changed.
    write(
        &repo.join("base/settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n",
    );
    let broken = rudder(&["sync", "--prune"], &overlay, kubeconfig);
    assert_eq!(broken.status.code(), Some(1), "{}", output_text(&broken));
    let err = String::from_utf8_lossy(&broken.stderr);
    assert!(err.contains("settings.yaml"), "{err}");
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client(), "shop");
    assert_eq!(
        cms.get("settings").await.unwrap().data.unwrap()["replicas"],
        "2"
    );

    // An unreachable cluster: exit 1 (2 for diff), the cluster named.
    repository(&repo, 3, SECRET);
    let bad_config = dir.path().join("unreachable.kubeconfig");
    let config = std::fs::read_to_string(kubeconfig).unwrap();
    let port = cluster.server().rsplit(':').next().unwrap().to_string();
    std::fs::write(&bad_config, config.replace(&port, "1")).unwrap();
    let down = rudder(&["sync"], &overlay, &bad_config);
    assert_eq!(down.status.code(), Some(1), "{}", output_text(&down));
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("cluster "),
        "{}",
        output_text(&down)
    );
    let down = rudder(&["diff"], &overlay, &bad_config);
    assert_eq!(down.status.code(), Some(2), "{}", output_text(&down));
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_watch_waits_for_a_cluster_that_is_down_heals_a_deletion_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(ClusterOptions::new("cli-watch", "us-east-1"), dir.path())
        .await
        .expect("cluster starts");
    let repo = dir.path().join("repo");
    repository(&repo, 2, SECRET);
    // The cluster is down when the agent starts: it retries with backoff.
    cluster.stop_apiserver();
    let mut child = Command::new(RUDDER)
        .args(["sync", "--watch", "--path"])
        .arg(repo.join("clusters/us-east-1"))
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig_path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.start_apiserver().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client(), "shop");
    let mut exists = false;
    for _ in 0..600 {
        if cms.get_opt("settings").await.unwrap().is_some() {
            exists = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(exists, "the first sync did not create the ConfigMap");
    // The watch starts after the sync: give it a moment to list.
    tokio::time::sleep(Duration::from_secs(2)).await;
    cms.delete("settings", &DeleteParams::default())
        .await
        .unwrap();
    let mut healed = false;
    for _ in 0..100 {
        if cms.get_opt("settings").await.unwrap().is_some() {
            healed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || {
        let _ = &mut child;
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(healed, "not healed within 5 s:\n{}", output_text(&output));
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        out.contains("stopped; 1 drift corrections"),
        "{}",
        output_text(&output)
    );
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("drift healed") && err.contains("ConfigMap/shop/settings"),
        "{err}"
    );
    assert_no_secret(&output);
}
