//! The CLI a Flux or Argo CD user reaches for, end to end on the test bed:
//! `rudder status`, `rudder tree` and `rudder reconcile` against a real
//! apiserver with a real agent following a real Git server; `-o json`
//! against `/status`; `--target-namespace`, `--vars-from` (a Secret whose
//! value must never show), `-o json` of `sync` and `diff`; completion
//! scripts. Every output is also searched for a Secret canary.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use integration_tests::agent::{AgentProcess, agent_args, output_text, with_apps_file};
use integration_tests::git_server::{FleetRepo, GitDaemon};
use integration_tests::{Cluster, ClusterOptions};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, PostParams};
use serde_json::Value;

const RUDDER: &str = env!("CARGO_BIN_EXE_rudder");
const LONG: Duration = Duration::from_secs(120);
/// A Secret value that must never appear in any output.
const CANARY: &str = "canary-c4f3-never-shown";
/// The app `--path clusters/{region}` makes in us-east-1.
const APP: &str = "clusters-us-east-1";

fn rudder(args: &[&str]) -> Output {
    Command::new(RUDDER)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("rudder runs")
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", output_text(output)))
}

fn assert_no_canary(what: &str, output: &Output) {
    assert!(
        !output_text(output).contains(CANARY),
        "{what}: the Secret value was printed:\n{}",
        output_text(output)
    );
}

/// Namespace `shop`, a ConfigMap, a generated Secret holding the canary
/// and a Deployment that kwok makes available.
fn write_fleet(repo: &FleetRepo, settings: &str) {
    repo.write(
        "clusters/us-east-1/kustomization.yaml",
        &format!(
            "resources: [namespace.yaml, settings.yaml, web.yaml]\nsecretGenerator:\n- name: creds\n  namespace: shop\n  literals: [password={CANARY}]\n"
        ),
    );
    repo.write(
        "clusters/us-east-1/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
    );
    repo.write("clusters/us-east-1/settings.yaml", settings);
    repo.write("clusters/us-east-1/web.yaml", &deployment("web", ""));
}

fn deployment(name: &str, pod_extra: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n{pod_extra}      containers: [{{name: app, image: example/app:1}}]\n"
    )
}

const SETTINGS: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\ndata: {color: blue}\n";

/// Runs `rudder status ARGS` until `done` holds for its output (the
/// agent records asynchronously after a sync), or panics.
async fn status_until(args: &[&str], what: &str, done: impl Fn(&Output) -> bool) -> Output {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut full = vec!["status"];
        full.extend(args);
        let out = rudder(&full);
        if done(&out) {
            return out;
        }
        if Instant::now() > deadline {
            panic!(
                "rudder status: not {what} within 30 s:\n{}",
                output_text(&out)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn parent(cluster: &Cluster) -> Secret {
    let api: Api<Secret> = Api::namespaced(cluster.client(), "rudder-system");
    api.get(APP).await.expect("the app's ApplySet parent")
}

#[tokio::test(flavor = "multi_thread")]
async fn status_tree_and_reconcile_tell_what_rudder_did_in_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(ClusterOptions::new("cli-status", "us-east-1"), dir.path())
        .await
        .expect("cluster starts");
    let kubeconfig = cluster.kubeconfig_path().display().to_string();
    let repo = FleetRepo::new();
    write_fleet(&repo, SETTINGS);
    let first = repo.commit("first");
    let daemon = GitDaemon::start(&repo);
    let hook_secret = dir.path().join("webhook-secret");
    std::fs::write(&hook_secret, "s3cret-hook\n").unwrap();
    let hook_secret = hook_secret.display().to_string();
    // An hour between polls: only a reconcile (or a webhook) brings a new
    // commit in. A resync every 2 s from the watch cache, to show that
    // attempts whose outcome did not change write nothing.
    let args = agent_args(
        &daemon.url(),
        &cluster,
        &dir.path().join("cache"),
        "1h",
        &["--webhook-secret-file", &hook_secret, "--resync", "2s"],
    );
    let agent = AgentProcess::start(RUDDER, "agent", &args, dir.path());
    let url = format!("http://{}", agent.addr());
    agent
        .wait_for("synced and healthy", LONG, |s| {
            s["apps"][0]["applied_revision"] == first.as_str()
                && s["apps"][0]["health"] == "Healthy"
        })
        .await;

    // After a good sync: one line, exit 0.
    let good = status_until(&["--kubeconfig", &kubeconfig], "good", |o| {
        o.status.code() == Some(0)
    })
    .await;
    let out = String::from_utf8_lossy(&good.stdout).to_string();
    let line = out.lines().nth(1).unwrap_or_default();
    assert!(line.starts_with(APP), "{out}");
    for want in [&first[..7], "Synced", "Healthy", "ago"] {
        assert!(line.contains(want), "{want} missing: {out}");
    }
    assert_no_canary("status", &good);

    // -o json carries the same revision as the agent's /status, from the
    // cluster and from the agent.
    let live = agent.status().unwrap();
    let from_cluster = stdout_json(&rudder(&[
        "status",
        "--kubeconfig",
        &kubeconfig,
        "-o",
        "json",
    ]));
    let from_agent_out = rudder(&["status", "--url", &url, "-o", "json"]);
    assert_eq!(
        from_agent_out.status.code(),
        Some(0),
        "{}",
        output_text(&from_agent_out)
    );
    let from_agent = stdout_json(&from_agent_out);
    for json in [&from_cluster, &from_agent] {
        assert_eq!(json["apps"][0]["name"], APP, "{json:#}");
        assert_eq!(
            json["apps"][0]["applied_revision"],
            live["apps"][0]["applied_revision"]
        );
        assert_eq!(json["apps"][0]["sync"], "Synced");
        assert_eq!(json["apps"][0]["health"], "Healthy");
    }
    assert_no_canary("status --url", &from_agent_out);

    // Resyncs whose outcome did not change write nothing on the parent.
    let before = parent(&cluster).await.metadata.resource_version;
    let attempts = |s: &Value| s["apps"][0]["last_attempt"].clone();
    let attempt_before = attempts(&agent.status().unwrap());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_ne!(
        attempts(&agent.status().unwrap()),
        attempt_before,
        "no resync ran in 5 s"
    );
    assert_eq!(
        parent(&cluster).await.metadata.resource_version,
        before,
        "the parent was written although nothing changed"
    );

    // tree lists every member with its health.
    let tree = rudder(&["tree", APP, "--kubeconfig", &kubeconfig, "-o", "json"]);
    assert_eq!(tree.status.code(), Some(0), "{}", output_text(&tree));
    let objects = stdout_json(&tree)["objects"].as_array().unwrap().clone();
    let mut names: Vec<String> = objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["name"].as_str().unwrap()
            )
        })
        .collect();
    names.sort();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(names.contains(&"Deployment/web".to_string()), "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("Secret/creds-")),
        "{names:?}"
    );
    assert!(
        objects.iter().all(|o| o["health"] == "Current"),
        "{objects:#?}"
    );
    // Namespaces come first, in the cluster-definitions stage.
    assert_eq!(objects[0]["kind"], "Namespace");
    assert_no_canary("tree", &tree);
    let tree_text = rudder(&["tree", APP, "--kubeconfig", &kubeconfig]);
    assert!(
        String::from_utf8_lossy(&tree_text.stdout).contains("4 objects, 0 not Current"),
        "{}",
        output_text(&tree_text)
    );

    // A commit adding a Deployment that cannot be scheduled, brought in by
    // `rudder reconcile` (the poll is an hour away).
    repo.write(
        "clusters/us-east-1/stuck.yaml",
        &deployment("stuck", "      nodeSelector: {no-such: node}\n"),
    );
    repo.write(
        "clusters/us-east-1/kustomization.yaml",
        &format!(
            "resources: [namespace.yaml, settings.yaml, web.yaml, stuck.yaml]\nsecretGenerator:\n- name: creds\n  namespace: shop\n  literals: [password={CANARY}]\n"
        ),
    );
    let second = repo.commit("a Deployment that cannot be scheduled");
    let started = Instant::now();
    let reconcile = rudder(&[
        "reconcile",
        APP,
        "--kubeconfig",
        &kubeconfig,
        "--timeout",
        "30s",
    ]);
    let took = started.elapsed();
    assert_eq!(
        reconcile.status.code(),
        Some(0),
        "{}",
        output_text(&reconcile)
    );
    assert!(
        String::from_utf8_lossy(&reconcile.stdout).contains(&second[..]),
        "{}",
        output_text(&reconcile)
    );
    println!("rudder reconcile: request to synced in {took:?}");
    assert!(took < Duration::from_secs(5), "reconcile took {took:?}");
    assert_no_canary("reconcile", &reconcile);

    // The unhealthy Deployment: status exits 1, tree says which and why.
    let unhealthy = status_until(&["--kubeconfig", &kubeconfig], "unhealthy", |o| {
        String::from_utf8_lossy(&o.stdout).contains("Progressing")
    })
    .await;
    assert_eq!(
        unhealthy.status.code(),
        Some(1),
        "{}",
        output_text(&unhealthy)
    );
    assert!(String::from_utf8_lossy(&unhealthy.stdout).contains(&second[..7]));
    let tree = rudder(&["tree", APP, "--kubeconfig", &kubeconfig]);
    assert_eq!(tree.status.code(), Some(1), "{}", output_text(&tree));
    let tree_out = String::from_utf8_lossy(&tree.stdout).to_string();
    let stuck = tree_out
        .lines()
        .find(|l| l.contains("Deployment/shop/stuck"))
        .unwrap_or_else(|| panic!("{tree_out}"));
    assert!(stuck.contains("InProgress"), "{tree_out}");

    // A broken commit: reconcile reports the failed sync, status names the
    // file and line, and the cluster keeps the last good state.
    repo.write(
        "clusters/us-east-1/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\ndata: a: b\n",
    );
    let broken = repo.commit("broken YAML");
    // Over the agent's signed webhook this time.
    let reconcile = rudder(&[
        "reconcile",
        APP,
        "--url",
        &url,
        "--webhook-secret-file",
        &hook_secret,
        "--timeout",
        "30s",
    ]);
    assert_eq!(
        reconcile.status.code(),
        Some(1),
        "{}",
        output_text(&reconcile)
    );
    assert!(
        String::from_utf8_lossy(&reconcile.stdout).contains("RUD2001"),
        "{}",
        output_text(&reconcile)
    );
    let failed = status_until(&["--kubeconfig", &kubeconfig], "failed", |o| {
        String::from_utf8_lossy(&o.stdout).contains("Failed")
    })
    .await;
    assert_eq!(failed.status.code(), Some(1));
    let out = String::from_utf8_lossy(&failed.stdout).to_string();
    assert!(
        out.contains("RUD2001 clusters/us-east-1/settings.yaml:4"),
        "{out}"
    );
    let json = stdout_json(&rudder(&[
        "status",
        APP,
        "--kubeconfig",
        &kubeconfig,
        "-o",
        "json",
    ]));
    let app = &json["apps"][0];
    assert_eq!(app["attempted_revision"], broken.as_str(), "{json:#}");
    assert_eq!(app["applied_revision"], second.as_str(), "{json:#}");
    assert_eq!(app["error"]["file"], "clusters/us-east-1/settings.yaml");
    assert_eq!(app["error"]["line"], 4);
    // An app that does not exist: exit 1, named.
    let missing = rudder(&["status", "nope", "--kubeconfig", &kubeconfig]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no app `nope`"));

    // The record is on the parent for kubectl too, and holds no Secret data.
    let annotations = parent(&cluster)
        .await
        .metadata
        .annotations
        .unwrap_or_default();
    assert_eq!(
        annotations.get("rudder.io/sync").map(String::as_str),
        Some("Failed")
    );
    assert_eq!(annotations.get("rudder.io/applied-revision"), Some(&second));
    assert!(!format!("{annotations:?}").contains(CANARY));
    assert!(!agent.log().contains(CANARY), "the agent logged the canary");
}

#[tokio::test(flavor = "multi_thread")]
async fn target_namespace_vars_from_and_json_output() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(ClusterOptions::new("cli-vars", "us-east-1"), dir.path())
        .await
        .expect("cluster starts");
    let kubeconfig = cluster.kubeconfig_path().display().to_string();
    let namespaces: Api<Namespace> = Api::all(cluster.client());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "rudder-system"}}))
                .unwrap(),
        )
        .await
        .unwrap();
    // The variables' Secret: its value is the canary.
    let secrets: Api<Secret> = Api::namespaced(cluster.client(), "rudder-system");
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "metadata": {"name": "shop-vars"},
                "stringData": {"DB_HOST": CANARY}
            }))
            .unwrap(),
        )
        .await
        .unwrap();

    // An overlay whose objects name no namespace, on disk for the CLI and
    // in Git (as `db/`) for the agent.
    let overlay = dir.path().join("overlay");
    std::fs::create_dir_all(&overlay).unwrap();
    let repo = FleetRepo::new();
    for (name, content) in [
        (
            "kustomization.yaml",
            "resources: [namespaces.yaml, app.yaml]\n",
        ),
        (
            "namespaces.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team-b}\n",
        ),
        (
            "app.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: db}\ndata: {host: \"${DB_HOST}\", tier: \"${TIER}\"}\n",
        ),
    ] {
        std::fs::write(overlay.join(name), content).unwrap();
        repo.write(&format!("db/{name}"), content);
    }
    let path = overlay.display().to_string();

    // The same arguments for diff and sync.
    let with = |command: &'static str| -> Vec<String> {
        [
            command,
            "--path",
            &path,
            "--kubeconfig",
            &kubeconfig,
            "--target-namespace",
            "team-a",
            "--vars-from",
            "secret/shop-vars",
            "--var",
            "TIER=gold",
            "-o",
            "json",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        rudder(&args)
    };

    // diff -o json: one record per object, actions and diff text.
    let diff = run(with("diff"));
    assert_eq!(diff.status.code(), Some(1), "{}", output_text(&diff));
    let json = stdout_json(&diff);
    let objects = json["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 3, "{json:#}");
    assert!(objects.iter().all(|o| o["action"] == "create"), "{json:#}");
    let cm = objects.iter().find(|o| o["kind"] == "ConfigMap").unwrap();
    assert_eq!(cm["namespace"], "team-a");
    assert!(
        cm["diff"].as_str().unwrap().contains("+  tier: gold"),
        "{json:#}"
    );

    // sync -o json with --target-namespace and --vars-from: the object
    // lands in team-a with the Secret's value. (The diff above showed the
    // value, as it is a ConfigMap's data; the sync report names objects
    // only, so it must not.)
    let sync = run(with("sync"));
    assert_eq!(sync.status.code(), Some(0), "{}", output_text(&sync));
    let report = stdout_json(&sync);
    assert_eq!(report["counts"]["created"], 3, "{report:#}");
    assert_eq!(report["succeeded"], true);
    assert_no_canary("sync -o json", &sync);
    let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client(), "team-a");
    let data = config_maps.get("db").await.unwrap().data.unwrap();
    assert_eq!(data["host"], CANARY);
    assert_eq!(data["tier"], "gold");

    // A missing variables object: a clear error naming it, nothing applied.
    let missing = rudder(&[
        "sync",
        "--path",
        &path,
        "--kubeconfig",
        &kubeconfig,
        "--vars-from",
        "secret/absent",
    ]);
    assert_eq!(missing.status.code(), Some(1), "{}", output_text(&missing));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("secret/absent"),
        "{}",
        output_text(&missing)
    );

    // The agent: varsFrom and targetNamespace in the apps file.
    let apps = dir.path().join("apps.yaml");
    std::fs::write(
        &apps,
        "apps:\n- name: db\n  path: db\n  varsFrom: [secret/shop-vars]\n  targetNamespace: team-b\n  vars: {TIER: silver}\n",
    )
    .unwrap();
    let revision = repo.commit("the overlay");
    let daemon = GitDaemon::start(&repo);
    let args = with_apps_file(
        agent_args(
            &daemon.url(),
            &cluster,
            &dir.path().join("cache"),
            "1s",
            &[],
        ),
        &apps,
    );
    let agent = AgentProcess::start(RUDDER, "agent-vars", &args, dir.path());
    agent
        .wait_for("synced", LONG, |s| {
            s["apps"][0]["sync"] == "Synced"
                && s["apps"][0]["applied_revision"] == revision.as_str()
        })
        .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client(), "team-b");
    let data = config_maps.get("db").await.unwrap().data.unwrap();
    assert_eq!(data["host"], CANARY);
    assert_eq!(data["tier"], "silver");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", agent.pid())).unwrap();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains(CANARY),
        "the value is in argv"
    );
    for (what, body) in [
        ("status", agent.get("/status").unwrap().1),
        ("metrics", agent.get("/metrics").unwrap().1),
        ("log", agent.log()),
    ] {
        assert!(!body.contains(CANARY), "the value is in the agent's {what}");
    }
}

#[test]
fn completion_scripts_and_flags_that_read_as_expected() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef rudder"),
        ("fish", "complete -c rudder"),
    ] {
        let out = rudder(&["completion", shell]);
        assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        for command in ["status", "tree", "reconcile", "sync"] {
            assert!(script.contains(command), "{shell} completes no `{command}`");
        }
    }
    // bash reads its script without a syntax error.
    let bash = rudder(&["completion", "bash"]);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &bash.stdout).unwrap();
    let check = Command::new("bash")
        .arg("-n")
        .arg(file.path())
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", output_text(&check));

    // render takes --path as sync and diff do, and the same logging flags.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources: [cm.yaml]\nnamePrefix: p-\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    )
    .unwrap();
    let path = dir.path().display().to_string();
    let positional = rudder(&["render", &path]);
    let flag = rudder(&[
        "render",
        "--path",
        &path,
        "--log-format",
        "json",
        "--log-level",
        "debug",
    ]);
    assert_eq!(flag.status.code(), Some(0), "{}", output_text(&flag));
    assert_eq!(positional.stdout, flag.stdout);
    assert!(String::from_utf8_lossy(&flag.stdout).contains("name: p-c"));
    // Options that do nothing for diff are not offered by it.
    for useless in ["--recreate", "--concurrency=4"] {
        let out = rudder(&["diff", "--path", &path, useless]);
        assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("unexpected argument"));
    }
    // --namespace still reads as --parent-namespace, hidden from --help.
    let help = String::from_utf8_lossy(&rudder(&["sync", "--help"]).stdout).to_string();
    assert!(
        help.contains("--parent-namespace") && !help.contains("--namespace "),
        "{help}"
    );
    let old = rudder(&["status", "--namespace", "x", "--kubeconfig", "/nonexistent"]);
    assert!(
        !String::from_utf8_lossy(&old.stderr).contains("unexpected argument"),
        "{}",
        output_text(&old)
    );
}
