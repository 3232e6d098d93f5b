//! What ships beside the binary, checked against real parts: the example
//! fleet (`examples/fleet`) renders as `kubectl kustomize` renders it and
//! becomes Synced and Healthy in three test-bed regions, where the failover
//! runbook's one commit moves the active role; the install manifests
//! (`manifests/`) and the Helm chart (`helm/rudder`) are accepted by a
//! test-bed kube-apiserver (`kubectl apply --server-side --dry-run=server`)
//! and `helm lint` passes; and their RBAC is proven by running the real
//! `rudder run`, configured by the rendered Deployment's environment, with
//! nothing but a ServiceAccount token (TokenRequest) against the example
//! fleet served by `git daemon`: it syncs, prunes and heals with the
//! chart's ClusterRole, and with the namespaced variant of `manifests/` an
//! object outside the allowed namespaces fails with an RBAC error naming
//! it. helm must be on PATH (`scripts/test.sh` builds it from Go modules
//! when absent).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use integration_tests::agent::{AgentProcess, agent_args};
use integration_tests::git_server::{FleetRepo, GitDaemon};
use integration_tests::{Cluster, ClusterOptions};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::Value;

const RUDDER: &str = env!("CARGO_BIN_EXE_rudder");
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];
/// The pinned helm, as `scripts/test.sh` builds it.
const HELM_VERSION: &str = "v3.22.0";
/// Three regions' worth of HPA scaling and kwok pods on two busy cores.
const LONG: Duration = Duration::from_secs(300);
/// The demo Secret value of `environments/production`: never in a log or
/// `/status`.
const FLEET_SECRET: &str = "demo-production-key-not-a-secret";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository root")
}

/// Runs a command to completion, feeding `stdin`.
fn run(program: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(program)
        .args(args)
        .current_dir(root())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} does not start: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input).expect("writing stdin");
    }
    child.wait_with_output().expect("waiting for the command")
}

/// stdout of a command that must succeed.
fn run_ok(program: &str, args: &[&str], stdin: Option<&[u8]>) -> String {
    let out = run(program, args, stdin);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Panics with how to get helm when it is not on PATH.
fn require_helm() {
    let found = Command::new("helm")
        .args(["version", "--short"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "helm is not on PATH: run scripts/test.sh (it builds helm {HELM_VERSION} from Go modules into the cache), \
         or `go install helm.sh/helm/v3/cmd/helm@{HELM_VERSION}` and put $(go env GOPATH)/bin on PATH"
    );
}

fn kustomize(dir: &str) -> String {
    run_ok("kubectl", &["kustomize", dir], None)
}

/// `helm template rudder helm/rudder -n rudder-system` with the CI values
/// and `sets`.
fn helm_template(sets: &[&str]) -> String {
    require_helm();
    let mut args = vec![
        "template",
        "rudder",
        "helm/rudder",
        "--namespace",
        "rudder-system",
        "--values",
        "helm/rudder/ci/example-values.yaml",
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    run_ok("helm", &args, None)
}

/// The YAML documents of a stream, without empty ones.
fn documents(stream: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in stream.lines() {
        if line == "---" {
            docs.push(String::new());
        } else {
            let last = docs.last_mut().expect("one document");
            last.push_str(line);
            last.push('\n');
        }
    }
    docs.retain(|d| {
        d.lines()
            .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
    });
    docs
}

fn kind_of(document: &str) -> &str {
    document
        .lines()
        .find_map(|l| l.strip_prefix("kind: "))
        .unwrap_or("")
        .trim()
}

fn parse(document: &str) -> Value {
    serde_saphyr::from_str(document).expect("a YAML document")
}

/// The documents of `stream` whose kind is in `kinds`, as one stream.
fn only_kinds(stream: &str, kinds: &[&str]) -> String {
    documents(stream)
        .into_iter()
        .filter(|d| kinds.contains(&kind_of(d)))
        .collect::<Vec<_>>()
        .join("---\n")
}

/// A team's overlay of us-east-1: the region without its Namespace, which
/// the cluster's administrators create in the namespaced variant.
const TEAM_OVERLAY: &str = "resources: [../us-east-1]\npatches:\n- patch: |-\n    $patch: delete\n    apiVersion: v1\n    kind: Namespace\n    metadata:\n      name: storefront\n";

/// The ServiceAccount and RBAC objects of an install.
fn rbac_of(stream: &str) -> String {
    only_kinds(
        stream,
        &[
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "ClusterRole",
            "ClusterRoleBinding",
        ],
    )
}

/// The one document of `kind` named `name`, parsed.
fn find(stream: &str, kind: &str, name: &str) -> Value {
    documents(stream)
        .iter()
        .filter(|d| kind_of(d) == kind)
        .map(|d| parse(d))
        .find(|v| v["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in:\n{stream}"))
}

#[test]
fn example_regions_render_as_kubectl_kustomize() {
    for region in REGIONS {
        let dir = format!("examples/fleet/clusters/{region}");
        let expected = kustomize(&dir);
        let ours = run_ok(RUDDER, &["render", &dir], None);
        assert_eq!(
            ours, expected,
            "rudder render {dir} differs from kubectl kustomize {dir}"
        );
        // What the demo and the runbook rely on, read from the oracle.
        let kinds: Vec<String> = documents(&expected)
            .iter()
            .map(|d| kind_of(d).to_string())
            .collect();
        for kind in [
            "Namespace",
            "ConfigMap",
            "Secret",
            "Service",
            "Deployment",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "Ingress",
            "NetworkPolicy",
        ] {
            assert!(
                kinds.iter().any(|k| k == kind),
                "{region}: no {kind} in {kinds:?}"
            );
        }
        let deployment = find(&expected, "Deployment", "web");
        assert_eq!(
            deployment["metadata"]["annotations"]["rudder.io/ignore-fields"],
            "/spec/replicas"
        );
        let zones = &deployment["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            [0]["preference"]["matchExpressions"][0];
        assert_eq!(zones["key"], "topology.kubernetes.io/zone");
        assert!(
            zones["values"][0]
                .as_str()
                .is_some_and(|z| z.starts_with(region)),
            "{region}: {zones}"
        );
        let image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default();
        assert!(image.contains(&format!(".{region}.")), "{region}: {image}");
        let ingress = find(&expected, "Ingress", "web");
        assert!(
            ingress["spec"]["rules"][0]["host"]
                .as_str()
                .is_some_and(|h| h.contains(region)),
            "{region}: {ingress}"
        );
    }
    // The active/passive pair: one active, one passive, the staging region neither.
    let role = |region: &str| {
        let out = kustomize(&format!("examples/fleet/clusters/{region}"));
        documents(&out)
            .iter()
            .map(|d| parse(d))
            .find(|v| v["kind"] == "ConfigMap" && v["metadata"]["name"] == "region-role")
            .map(|v| v["data"]["role"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(role("us-east-1").as_deref(), Some("active"));
    assert_eq!(role("eu-west-1").as_deref(), Some("passive"));
    assert_eq!(role("ap-southeast-1"), None);
}

#[test]
fn helm_lint_passes_and_the_chart_refuses_to_render_without_its_required_values() {
    require_helm();
    // The CI values alone, then with the optional parts switched on.
    for sets in [
        "",
        "rbac.scope=namespaced,rbac.namespaces={storefront,shop}",
        "replicas=2,serviceMonitor.enabled=true,gitAuth.type=https-basic,gitAuth.secretName=git",
    ] {
        let mut args = vec![
            "lint",
            "helm/rudder",
            "--strict",
            "--values",
            "helm/rudder/ci/example-values.yaml",
        ];
        if !sets.is_empty() {
            args.extend(["--set", sets]);
        }
        let out = run_ok("helm", &args, None);
        assert!(
            out.contains("1 chart(s) linted, 0 chart(s) failed"),
            "{sets}: {out}"
        );
    }
    // Without repo, region and cluster the schema refuses, naming them.
    let bare = run("helm", &["lint", "helm/rudder"], None);
    let text =
        String::from_utf8_lossy(&bare.stdout).to_string() + &String::from_utf8_lossy(&bare.stderr);
    assert!(
        !bare.status.success(),
        "lint without values passed:\n{text}"
    );
    for value in ["repo", "region", "cluster"] {
        assert!(text.contains(value), "no mention of {value}:\n{text}");
    }
    // A namespaced scope without namespaces is refused with the reason.
    let out = run(
        "helm",
        &[
            "template",
            "rudder",
            "helm/rudder",
            "--values",
            "helm/rudder/ci/example-values.yaml",
            "--set",
            "rbac.scope=namespaced",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rbac.namespaces"));
}

#[test]
fn chart_and_manifests_grant_the_same_permissions_and_namespace_every_object() {
    let chart = helm_template(&[]);
    let manifests = kustomize("manifests/overlays/us-east-1");
    let namespaced = helm_template(&["rbac.scope=namespaced", "rbac.namespaces={storefront}"]);
    let team = kustomize("manifests/overlays/us-east-1-team");
    for (chart_stream, manifest_stream, kind, name) in [
        (&chart, &manifests, "ClusterRole", "rudder"),
        (&chart, &manifests, "Role", "rudder"),
        (&namespaced, &team, "Role", "rudder-manage"),
        (&namespaced, &team, "ClusterRole", "rudder-read"),
    ] {
        assert_eq!(
            find(chart_stream, kind, name)["rules"],
            find(manifest_stream, kind, name)["rules"],
            "{kind} {name}: the chart and manifests/ grant different rules"
        );
    }
    // A team may not touch Namespaces, not even its own.
    assert!(
        !find(&team, "Role", "rudder-manage")
            .to_string()
            .contains("\"namespaces\"")
    );
    let cluster_scoped = [
        "ClusterRole",
        "ClusterRoleBinding",
        "Namespace",
        "CustomResourceDefinition",
    ];
    for variant in [
        helm_template(&[
            "serviceMonitor.enabled=true",
            "replicas=2",
            "gitAuth.type=https-token",
            "gitAuth.secretName=git-token",
            "webhook.secretName=webhook",
        ]),
        namespaced,
    ] {
        for doc in documents(&variant) {
            let value = parse(&doc);
            if cluster_scoped.contains(&kind_of(&doc)) {
                continue;
            }
            let namespace = value["metadata"]["namespace"].as_str().unwrap_or("");
            let kind = kind_of(&doc);
            if kind == "Role" || kind == "RoleBinding" {
                assert!(!namespace.is_empty(), "{doc}");
            } else {
                assert_eq!(namespace, "rudder-system", "{doc}");
            }
        }
        let deployment = find(&variant, "Deployment", "rudder");
        let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let var = |name: &str| {
            env.iter()
                .find(|e| e["name"] == name)
                .map(|e| e["value"].clone())
        };
        assert_eq!(var("RUDDER_REGION"), Some("eu-west-1".into()));
        assert_eq!(var("RUDDER_PARENT_NAMESPACE"), Some("rudder-system".into()));
    }
    let ha = helm_template(&["replicas=2"]);
    let env =
        &find(&ha, "Deployment", "rudder")["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(
        env.as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "RUDDER_LEADER_ELECT" && e["value"] == "true"),
        "two replicas without leader election: {env}"
    );
}

/// A minimal ServiceMonitor CRD (group, kind and an open schema): enough
/// for the apiserver to accept the optional ServiceMonitor in a dry run,
/// without the Prometheus Operator's real schema.
const SERVICE_MONITOR_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {plural: servicemonitors, singular: servicemonitor, kind: ServiceMonitor, listKind: ServiceMonitorList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"#;

async fn create_namespace(cluster: &Cluster, name: &str) {
    let namespaces: Api<Namespace> = Api::all(cluster.client());
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    match namespaces.create(&PostParams::default(), &ns).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => panic!("creating namespace {name}: {e}"),
    }
}

fn admin_kubectl(cluster: &Cluster, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let kubeconfig = cluster.kubeconfig_path().display().to_string();
    let mut all = vec!["--kubeconfig", kubeconfig.as_str()];
    all.extend(args);
    run("kubectl", &all, stdin)
}

/// `kubectl apply --server-side --dry-run=server -f -` of `stream`: must
/// succeed and report every object as applied in the dry run.
fn dry_run(cluster: &Cluster, what: &str, stream: &str) {
    let out = admin_kubectl(
        cluster,
        &[
            "apply",
            "--server-side",
            "--dry-run=server",
            "--field-manager=ship-test",
            "-f",
            "-",
        ],
        Some(stream.as_bytes()),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what}: the apiserver refused it:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let applied = stdout
        .lines()
        .filter(|l| l.ends_with("(server dry run)"))
        .count();
    assert_eq!(
        applied,
        documents(stream).len(),
        "{what}: not every object was applied:\n{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_and_chart_are_accepted_by_a_real_apiserver() {
    require_helm();
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(ClusterOptions::new("ship-dry-run", "us-east-1"), dir.path())
        .await
        .expect("the cluster starts");
    // A dry run creates nothing, so the namespaces the objects live in
    // must exist; the optional ServiceMonitor needs its CRD.
    for namespace in ["rudder-system", "storefront"] {
        create_namespace(&cluster, namespace).await;
    }
    let out = admin_kubectl(
        &cluster,
        &["apply", "--server-side", "-f", "-"],
        Some(SERVICE_MONITOR_CRD.as_bytes()),
    );
    assert!(out.status.success(), "{out:?}");
    let out = admin_kubectl(
        &cluster,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/servicemonitors.monitoring.coreos.com",
        ],
        None,
    );
    assert!(out.status.success(), "{out:?}");

    let overlays: Vec<String> = std::fs::read_dir(root().join("manifests/overlays"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for region in REGIONS {
        assert!(overlays.iter().any(|o| o == region), "no overlay {region}");
    }
    for overlay in &overlays {
        let stream = kustomize(&format!("manifests/overlays/{overlay}"));
        dry_run(&cluster, &format!("manifests/overlays/{overlay}"), &stream);
    }
    assert!(kustomize("manifests/overlays/us-east-1-team").contains("kind: ServiceMonitor"));

    for sets in [
        vec![],
        vec![
            "serviceMonitor.enabled=true",
            "replicas=3",
            "gitAuth.type=ssh",
            "gitAuth.secretName=git-ssh",
            "webhook.secretName=webhook",
            "extraArgs={--var,TIER=gold}",
        ],
        vec!["rbac.scope=namespaced", "rbac.namespaces={storefront}"],
    ] {
        let stream = helm_template(&sets);
        dry_run(&cluster, &format!("helm template --set {sets:?}"), &stream);
    }

    // helm's own server-side dry run of an install, and its NOTES: how to
    // reach the status page.
    let kubeconfig = cluster.kubeconfig_path().display().to_string();
    let install = run_ok(
        "helm",
        &[
            "install",
            "rudder",
            "helm/rudder",
            "--dry-run=server",
            "--namespace",
            "rudder-system",
            "--kubeconfig",
            &kubeconfig,
            "--values",
            "helm/rudder/ci/example-values.yaml",
            "--set",
            "webhook.secretName=webhook",
        ],
        None,
    );
    let notes = &install[install.find("NOTES:").expect("the chart's NOTES")..];
    for words in [
        "kubectl -n rudder-system port-forward svc/rudder 8080:8080",
        "http://127.0.0.1:8080/status",
        "/hooks/github",
    ] {
        assert!(notes.contains(words), "{words} not in the NOTES:\n{notes}");
    }

    // The check can fail: an object the apiserver rejects is reported.
    let broken = helm_template(&["replicas=2"]).replace("containerPort: 8080", "containerPort: 0");
    let out = admin_kubectl(
        &cluster,
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        Some(broken.as_bytes()),
    );
    assert!(!out.status.success(), "a port 0 passed the dry run");
}

/// The ServiceAccount's token from the TokenRequest API, in a kubeconfig
/// that holds nothing else (the test bed's CA, the server, the token).
async fn token_kubeconfig(cluster: &Cluster, namespace: &str, account: &str, path: &Path) {
    let accounts: Api<ServiceAccount> = Api::namespaced(cluster.client(), namespace);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: Vec::new(),
            expiration_seconds: Some(3600),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let token = accounts
        .create_token_request(account, &PostParams::default(), &request)
        .await
        .expect("a token for the ServiceAccount")
        .status
        .expect("the TokenRequest's status")
        .token;
    let admin = kube::config::Kubeconfig::read_from(cluster.kubeconfig_path()).unwrap();
    let ca = admin.clusters[0]
        .cluster
        .as_ref()
        .and_then(|c| c.certificate_authority.clone())
        .expect("the test bed's CA file");
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: {account}\n  user:\n    token: {token}\ncontexts:\n- name: {name}\n  context: {{cluster: {name}, user: {account}}}\ncurrent-context: {name}\n",
            name = cluster.name(),
            server = cluster.server()
        ),
    )
    .unwrap();
    // The token really is that account's, and only that.
    let who = run_ok(
        "kubectl",
        &[
            "--kubeconfig",
            path.to_str().unwrap(),
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
        None,
    );
    assert_eq!(who, format!("system:serviceaccount:{namespace}:{account}"));
}

/// The hosts the `web` Ingress of `storefront` serves.
async fn web_hosts(client: &kube::Client) -> Vec<String> {
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), "storefront");
    ingresses
        .get("web")
        .await
        .expect("the web Ingress")
        .spec
        .and_then(|s| s.rules)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| r.host)
        .collect()
}

/// Copies `examples/fleet` into the work clone.
fn copy_fleet(repo: &FleetRepo) {
    repo.write_tree(&root().join("examples/fleet"));
}

/// A test-bed cluster with `rbac` (ServiceAccount and RBAC) applied by the
/// admin, `namespaces` created first, and a kubeconfig holding only the
/// ServiceAccount's token.
struct TokenBed {
    dir: tempfile::TempDir,
    cluster: Cluster,
    kubeconfig: PathBuf,
}

impl TokenBed {
    async fn start(name: &str, rbac: &str, namespaces: &[&str]) -> TokenBed {
        let dir = tempfile::tempdir().unwrap();
        let cluster = Cluster::start(ClusterOptions::new(name, "us-east-1"), dir.path())
            .await
            .expect("the cluster starts");
        for namespace in namespaces {
            create_namespace(&cluster, namespace).await;
        }
        let out = admin_kubectl(
            &cluster,
            &["apply", "--server-side", "-f", "-"],
            Some(rbac.as_bytes()),
        );
        assert!(out.status.success(), "{out:?}");
        let kubeconfig = dir.path().join("kubeconfig-sa");
        token_kubeconfig(&cluster, "rudder-system", "rudder", &kubeconfig).await;
        TokenBed {
            dir,
            cluster,
            kubeconfig,
        }
    }

    /// `rudder run` for `path` of the repository `daemon` serves, with the
    /// token's kubeconfig.
    /// `rudder run` configured as the install configures the container:
    /// the rendered Deployment's environment (`install`), with what only a
    /// pod has replaced: the repository is `daemon`'s, the path `path`, the
    /// kubeconfig the token's (in a pod: the mounted ServiceAccount token),
    /// the downward-API values, a local cache, and a one-second poll.
    fn agent(
        &self,
        daemon: &GitDaemon,
        install: &BTreeMap<String, String>,
        path: &str,
    ) -> AgentProcess {
        for (name, value) in [
            ("RUDDER_PRUNE", "true"),
            ("RUDDER_LEADER_ELECT", "true"),
            ("RUDDER_REGION", "us-east-1"),
        ] {
            assert_eq!(
                install.get(name).map(String::as_str),
                Some(value),
                "{install:?}"
            );
        }
        let mut env = install.clone();
        let cache = self.dir.path().join("cache");
        for (name, value) in [
            ("RUDDER_REPO", daemon.url()),
            ("RUDDER_PATH", path.to_string()),
            ("RUDDER_INTERVAL", "1s".to_string()),
            ("RUDDER_KUBECONFIG", self.kubeconfig.display().to_string()),
            ("RUDDER_CACHE_DIR", cache.display().to_string()),
            ("RUDDER_PARENT_NAMESPACE", "rudder-system".to_string()),
            ("POD_NAME", format!("{}-0", self.cluster.name())),
        ] {
            env.insert(name.to_string(), value);
        }
        let env: Vec<(String, String)> = env.into_iter().collect();
        AgentProcess::start_with_env(RUDDER, self.cluster.name(), &[], &env, self.dir.path())
    }
}

/// The environment the install's Deployment `rudder` gives its container:
/// the data of its `envFrom` ConfigMaps, then its `env` values (entries
/// with `valueFrom` are the kubelet's to fill, and left out).
fn deployment_env(stream: &str) -> BTreeMap<String, String> {
    let deployment = find(stream, "Deployment", "rudder");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let mut env = BTreeMap::new();
    for source in container["envFrom"].as_array().into_iter().flatten() {
        let name = source["configMapRef"]["name"]
            .as_str()
            .expect("a ConfigMap source");
        let data = find(stream, "ConfigMap", name)["data"].clone();
        for (key, value) in data.as_object().expect("ConfigMap data") {
            env.insert(key.clone(), value.as_str().unwrap_or_default().to_string());
        }
    }
    for entry in container["env"].as_array().into_iter().flatten() {
        if let Some(value) = entry["value"].as_str() {
            env.insert(
                entry["name"].as_str().unwrap().to_string(),
                value.to_string(),
            );
        }
    }
    env
}

fn app(status: &Value) -> &Value {
    &status["apps"][0]
}

fn synced_healthy_at(revision: &str) -> impl Fn(&Value) -> bool + '_ {
    move |s| {
        let a = app(s);
        a["sync"] == "Synced" && a["health"] == "Healthy" && a["applied_revision"] == revision
    }
}

/// Polls until `probe` holds, or panics naming `what`.
async fn eventually<F, Fut>(what: &str, timeout: Duration, probe: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !probe().await {
        assert!(Instant::now() < deadline, "not within {timeout:?}: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn assert_no_secret_leak(agent: &AgentProcess) {
    // The shipped RBAC lets the agent watch its own Namespace (for
    // rudder.io/suspend), which a Role alone cannot grant.
    assert!(
        !agent.log().contains("cannot watch this agent's Namespace"),
        "the shipped RBAC does not let the agent watch its Namespace:\n{}",
        agent.log_tail(20)
    );
    let status = agent.get("/status").map(|r| r.1).unwrap_or_default();
    for (what, text) in [("log", agent.log()), ("status", status)] {
        assert!(
            !text.contains(FLEET_SECRET),
            "the fleet's Secret value is in rudder's {what}"
        );
    }
}

/// The chart's ServiceAccount and RBAC (default: ClusterRole) and a token:
/// the example fleet syncs and becomes Healthy, a removed file is pruned, a
/// deleted object comes back; the Lease and Events are written.
#[tokio::test(flavor = "multi_thread")]
async fn chart_rbac_is_enough_to_sync_prune_and_heal_the_example_fleet() {
    // Two replicas: the chart turns leader election on.
    let chart = helm_template(&["replicas=2", "region=us-east-1", "cluster=ship-rbac"]);
    let rbac = rbac_of(&chart);
    // Role and binding, ClusterRole and binding, and the pair for the
    // agent's own Namespace, plus the ServiceAccount.
    assert_eq!(documents(&rbac).len(), 7, "{rbac}");
    let bed = TokenBed::start("ship-rbac", &rbac, &["rudder-system"]).await;
    let repo = FleetRepo::new();
    copy_fleet(&repo);
    let first = repo.commit("the example fleet");
    let daemon = GitDaemon::start(&repo);
    let agent = bed.agent(&daemon, &deployment_env(&chart), "clusters/{region}");
    let status = agent
        .wait_for("Synced and Healthy", LONG, synced_healthy_at(&first))
        .await;
    assert!(app(&status)["error"].is_null(), "{status:#}");

    let client = bed.cluster.client();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "storefront");
    // rudder leaves /spec/replicas to the HPA (rudder.io/ignore-fields):
    // the HPA raises the Deployment to the active region's minReplicas,
    // even without a metrics server, and rudder does not undo it.
    eventually("the HPA scales web to 3", LONG, || {
        let deployments = deployments.clone();
        async move {
            deployments
                .get_opt("web")
                .await
                .ok()
                .flatten()
                .and_then(|d| d.spec)
                .and_then(|s| s.replicas)
                == Some(3)
        }
    })
    .await;
    let status = agent
        .wait_for("Healthy at 3 replicas", LONG, synced_healthy_at(&first))
        .await;
    assert_eq!(app(&status)["drift_corrections"], 0, "{status:#}");
    let roles: Api<ConfigMap> = Api::namespaced(client.clone(), "storefront");
    let role = roles
        .get("region-role")
        .await
        .expect("ConfigMap region-role");
    assert_eq!(role.data.unwrap()["role"], "active");
    let hosts = web_hosts(&client).await;
    assert_eq!(hosts, ["web.us-east-1.example.com", "shop.example.com"]);
    let leases: Api<Lease> = Api::namespaced(client.clone(), "rudder-system");
    let lease = leases.get("rudder-leader").await.expect("the Lease");
    assert!(lease.spec.and_then(|s| s.holder_identity).is_some());
    let events: Api<Event> = Api::namespaced(client.clone(), "rudder-system");
    eventually(
        "an Event on the ApplySet parent",
        Duration::from_secs(60),
        || {
            let events = events.clone();
            async move {
                events.list(&ListParams::default()).await.is_ok_and(|l| {
                    l.items
                        .iter()
                        .any(|e| e.reason.as_deref() == Some("Synced"))
                })
            }
        },
    )
    .await;

    // Prune: the NetworkPolicy leaves Git, and the cluster.
    let kustomization =
        std::fs::read_to_string(root().join("examples/fleet/base/kustomization.yaml")).unwrap();
    let without = kustomization.replace("  - networkpolicy.yaml\n", "");
    assert_ne!(without, kustomization);
    repo.write("base/kustomization.yaml", &without);
    repo.remove("base/networkpolicy.yaml");
    let second = repo.commit("storefront: drop the NetworkPolicy");
    let status = agent
        .wait_for(
            "synced without the NetworkPolicy",
            LONG,
            synced_healthy_at(&second),
        )
        .await;
    assert_eq!(app(&status)["history"][0]["pruned"], 1, "{status:#}");
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), "storefront");
    eventually(
        "NetworkPolicy storefront/web pruned",
        Duration::from_secs(60),
        || {
            let policies = policies.clone();
            async move { matches!(policies.get_opt("web").await, Ok(None)) }
        },
    )
    .await;

    // Heal: a deleted Service comes back, through the token's permissions.
    let services: Api<Service> = Api::namespaced(client.clone(), "storefront");
    let before = services.get("web").await.unwrap().meta().uid.clone();
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        "Service storefront/web recreated",
        Duration::from_secs(60),
        || {
            let services = services.clone();
            let before = before.clone();
            async move {
                services
                    .get_opt("web")
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|s| s.metadata.uid != before)
            }
        },
    )
    .await;
    let status = agent
        .wait_for("a drift correction counted", LONG, |s| {
            app(s)["drift_corrections"].as_u64().unwrap_or(0) >= 1
        })
        .await;
    assert_eq!(app(&status)["sync"], "Synced", "{status:#}");
    let replicas = deployments
        .get("web")
        .await
        .unwrap()
        .spec
        .and_then(|s| s.replicas);
    assert_eq!(
        replicas,
        Some(3),
        "rudder fought the HPA over /spec/replicas"
    );
    assert_no_secret_leak(&agent);
}

/// The manifests' namespaced variant (a Role in `storefront` only): the
/// storefront syncs, and a ConfigMap in namespace `payments` fails with
/// RUD3002 naming it, while nothing is written there.
#[tokio::test(flavor = "multi_thread")]
async fn namespaced_rbac_confines_writes_and_names_the_refused_object() {
    let team = kustomize("manifests/overlays/us-east-1-team");
    let rbac = rbac_of(&team);
    // Cluster-wide, the variant only reads.
    for doc in documents(&rbac)
        .iter()
        .filter(|d| kind_of(d) == "ClusterRole")
    {
        for rule in parse(doc)["rules"].as_array().unwrap() {
            assert_eq!(
                rule["verbs"],
                serde_json::json!(["get", "list", "watch"]),
                "{doc}"
            );
        }
    }
    // Namespaces are the administrators' part in this variant.
    let bed = TokenBed::start(
        "ship-team",
        &rbac,
        &["rudder-system", "storefront", "payments"],
    )
    .await;
    let repo = FleetRepo::new();
    copy_fleet(&repo);
    // The team's overlay: the region without its Namespace (the admins
    // made it), plus one object in a namespace the team may not change.
    repo.write(
        "clusters/team-us-east-1/kustomization.yaml",
        &TEAM_OVERLAY.replace("[../us-east-1]", "[../us-east-1, outside.yaml]"),
    );
    repo.write(
        "clusters/team-us-east-1/outside.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ledger\n  namespace: payments\ndata:\n  owner: someone-else\n",
    );
    let first = repo.commit("a team fleet reaching outside its namespace");
    let daemon = GitDaemon::start(&repo);
    let agent = bed.agent(&daemon, &deployment_env(&team), "clusters/team-{region}");
    let status = agent
        .wait_for("failed on the outside object", LONG, |s| {
            app(s)["sync"] == "Failed" && app(s)["attempted_revision"] == first.as_str()
        })
        .await;
    let error = &app(&status)["error"];
    assert_eq!(error["code"], "RUD3002", "{status:#}");
    let message = error["message"].as_str().unwrap_or_default();
    for word in ["ledger", "payments", "forbidden"] {
        assert!(message.contains(word), "{word} not in {message:?}");
    }
    // Nothing was written outside; the allowed namespace got its objects.
    let outside: Api<ConfigMap> = Api::namespaced(bed.cluster.client(), "payments");
    assert!(outside.get_opt("ledger").await.unwrap().is_none());
    let deployments: Api<Deployment> = Api::namespaced(bed.cluster.client(), "storefront");
    eventually("Deployment storefront/web applied", LONG, || {
        let deployments = deployments.clone();
        async move { matches!(deployments.get_opt("web").await, Ok(Some(_))) }
    })
    .await;

    // Taking the outside object out of Git makes the team's fleet Synced.
    repo.write("clusters/team-us-east-1/kustomization.yaml", TEAM_OVERLAY);
    repo.remove("clusters/team-us-east-1/outside.yaml");
    let second = repo.commit("the team stays in its namespace");
    agent
        .wait_for(
            "Synced and Healthy inside its namespace",
            LONG,
            synced_healthy_at(&second),
        )
        .await;
    assert_no_secret_leak(&agent);
}

async fn replicas(cluster: &Cluster) -> Option<i32> {
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), "storefront");
    deployments
        .get_opt("web")
        .await
        .ok()
        .flatten()
        .and_then(|d| d.spec)
        .and_then(|s| s.replicas)
}

/// What a region's storefront says about its role: `region-role`, the
/// application's `WRITES_ENABLED` (through the Deployment's generated
/// ConfigMap) and the Ingress hosts.
async fn role_of(cluster: &Cluster) -> (Option<String>, Option<String>, Vec<String>) {
    let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client(), "storefront");
    let role = config_maps
        .get_opt("region-role")
        .await
        .unwrap()
        .and_then(|cm| cm.data)
        .and_then(|d| d.get("role").cloned());
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), "storefront");
    let deployment = serde_json::to_value(deployments.get("web").await.unwrap()).unwrap();
    let config = deployment
        .pointer("/spec/template/spec/containers/0/envFrom/0/configMapRef/name")
        .and_then(Value::as_str)
        .expect("web's ConfigMap")
        .to_string();
    let writes = config_maps
        .get(&config)
        .await
        .unwrap()
        .data
        .and_then(|d| d.get("WRITES_ENABLED").cloned());
    let hosts = web_hosts(&cluster.client()).await;
    (role, writes, hosts)
}

/// A region of the production pair holds `role`: `region-role` says so,
/// the application takes writes only when active, and only the active
/// region's Ingress serves the global hostname.
async fn assert_role(cluster: &Cluster, role: &str) {
    let (said, writes, hosts) = role_of(cluster).await;
    let active = role == "active";
    assert_eq!(said.as_deref(), Some(role), "{}", cluster.region());
    assert_eq!(
        writes.as_deref(),
        Some(if active { "true" } else { "false" })
    );
    assert_eq!(
        hosts.iter().any(|h| h == "shop.example.com"),
        active,
        "{}: {hosts:?}",
        cluster.region()
    );
}

/// The demo's shape: one `rudder run --path 'clusters/{region}' --prune`
/// per region of a three-cluster test bed, following `examples/fleet`:
/// every region becomes Synced and Healthy (HPAs without a metrics server,
/// zone preferences on an unlabelled kwok node), each at its own size; then
/// the role swap of docs/failover.md, one commit, moves the active role and
/// the global hostname from us-east-1 to eu-west-1.
#[tokio::test(flavor = "multi_thread")]
async fn example_fleet_converges_in_every_region_and_fails_over_by_one_commit() {
    let fleet = integration_tests::Fleet::start(integration_tests::FleetOptions {
        clusters: 3,
        ..integration_tests::FleetOptions::default()
    })
    .await
    .expect("the fleet starts");
    let work = tempfile::tempdir().unwrap();
    let repo = FleetRepo::new();
    copy_fleet(&repo);
    let first = repo.commit("the example fleet");
    let daemon = GitDaemon::start(&repo);
    let agents: Vec<AgentProcess> = fleet
        .clusters
        .iter()
        .map(|cluster| {
            let cache = work.path().join(format!("cache-{}", cluster.region()));
            let args = agent_args(&daemon.url(), cluster, &cache, "1s", &[]);
            AgentProcess::start(RUDDER, cluster.region(), &args, work.path())
        })
        .collect();
    for ((agent, cluster), size) in agents.iter().zip(&fleet.clusters).zip([3, 1, 1]) {
        agent
            .wait_for("Synced and Healthy", LONG, synced_healthy_at(&first))
            .await;
        eventually(
            &format!("{}: the HPA holds web at {size}", cluster.region()),
            LONG,
            || async move { replicas(cluster).await == Some(size) },
        )
        .await;
        agent
            .wait_for("Healthy at its size", LONG, synced_healthy_at(&first))
            .await;
    }
    let [east, west, south] = [0, 1, 2].map(|i| &fleet.clusters[i]);
    assert_role(east, "active").await;
    assert_role(west, "passive").await;
    assert_eq!(role_of(south).await.0, None);

    // The runbook's role swap: one line in each of the pair's overlays.
    let swap = |region: &str, from: &str, to: &str| {
        let file = format!("clusters/{region}/kustomization.yaml");
        let text = std::fs::read_to_string(root().join("examples/fleet").join(&file)).unwrap();
        let swapped = text.replace(
            &format!("  - ../../components/{from}\n"),
            &format!("  - ../../components/{to}\n"),
        );
        assert_ne!(swapped, text, "{file} has no {from} component line");
        repo.write(&file, &swapped);
    };
    swap("us-east-1", "active", "passive");
    swap("eu-west-1", "passive", "active");
    let second = repo.commit("failover: eu-west-1 becomes the active region");
    for agent in &agents {
        agent
            .wait_for(
                "Synced and Healthy after the failover",
                LONG,
                synced_healthy_at(&second),
            )
            .await;
    }
    assert_role(west, "active").await;
    assert_role(east, "passive").await;
    eventually(
        "eu-west-1 scaled to the active floor",
        LONG,
        || async move { replicas(west).await == Some(3) },
    )
    .await;
    let staging = agents[2].status().unwrap();
    assert_eq!(
        app(&staging)["history"][0]["result"],
        "Unchanged",
        "{staging:#}"
    );
}

/// Widening is the fix, and rudder says what to widen: with NetworkPolicies
/// missing from the read rules, the sync fails at once with RUD3002 naming
/// the kind (not a timeout as if the cluster were away) and nothing is
/// synced blind; once the rule is added, the same agent syncs.
#[tokio::test(flavor = "multi_thread")]
async fn a_kind_missing_from_the_rules_is_named_and_adding_it_is_enough() {
    let team = kustomize("manifests/overlays/us-east-1-team");
    let rbac = rbac_of(&team);
    let mut narrow: Vec<String> = documents(&rbac);
    let read = narrow
        .iter_mut()
        .find(|d| kind_of(d) == "ClusterRole" && d.contains("networkpolicies"))
        .expect("the read ClusterRole");
    assert!(read.contains("  - networkpolicies\n"), "{read}");
    *read = read.replace("  - networkpolicies\n", "");
    let bed = TokenBed::start(
        "ship-narrow",
        &narrow.join("---\n"),
        &["rudder-system", "storefront"],
    )
    .await;
    let repo = FleetRepo::new();
    copy_fleet(&repo);
    repo.write("clusters/team-us-east-1/kustomization.yaml", TEAM_OVERLAY);
    let first = repo.commit("the team's fleet");
    let daemon = GitDaemon::start(&repo);
    let agent = bed.agent(&daemon, &deployment_env(&team), "clusters/team-{region}");
    let started = Instant::now();
    let status = agent
        .wait_for("failed naming the kind", LONG, |s| {
            app(s)["sync"] == "Failed"
        })
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "took {:?}: a timeout, not the refusal",
        started.elapsed()
    );
    let error = &app(&status)["error"];
    assert_eq!(error["code"], "RUD3002", "{status:#}");
    let message = error["message"].as_str().unwrap_or_default();
    for words in ["NetworkPolicy.networking.k8s.io", "cannot list"] {
        assert!(message.contains(words), "{words} not in {message:?}");
    }
    // Nothing was applied from a cache that never saw NetworkPolicies.
    let policies: Api<NetworkPolicy> = Api::namespaced(bed.cluster.client(), "storefront");
    assert!(policies.get_opt("web").await.unwrap().is_none());

    let out = admin_kubectl(
        &bed.cluster,
        &["apply", "--server-side", "-f", "-"],
        Some(rbac.as_bytes()),
    );
    assert!(out.status.success(), "{out:?}");
    agent
        .wait_for(
            "Synced once the rule is there",
            LONG,
            synced_healthy_at(&first),
        )
        .await;
    assert!(policies.get_opt("web").await.unwrap().is_some());
}
