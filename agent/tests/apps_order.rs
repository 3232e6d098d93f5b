//! Apps in order, end to end with the agent on the test bed: sync waves
//! inside an app and `dependsOn` between apps, the order of applies read
//! from the apiserver's audit log (never from rudder's own log); a
//! Degraded wave stops the sync before later waves, a dependency that is
//! not healthy holds its dependents (which keep being healed), and `rudder
//! suspend` stops syncing and healing until `rudder resume` puts back what
//! drifted.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use integration_tests::agent::{
    AgentProcess, Audit, AuditWrite, agent_args, output_text, with_apps_file,
};
use integration_tests::git_server::{FleetRepo, GitDaemon};
use integration_tests::{Cluster, ClusterOptions};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::Value;

const RUDDER: &str = env!("CARGO_BIN_EXE_rudder");
const LONG: Duration = Duration::from_secs(120);
const APP: &str = "clusters-us-east-1";
const DIR: &str = "clusters/us-east-1";

fn rudder(args: &[&str]) -> Output {
    Command::new(RUDDER)
        .args(args)
        .output()
        .expect("rudder runs")
}

fn config_map(name: &str, wave: &str, generation: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: shop\n  annotations: {{rudder.io/wave: \"{wave}\"}}\ndata: {{generation: \"{generation}\"}}\n"
    )
}

fn deployment(name: &str, wave: &str, pod_extra: &str, spec_extra: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: shop\n  annotations: {{rudder.io/wave: \"{wave}\"}}\nspec:\n  replicas: 1\n{spec_extra}  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n{pod_extra}      containers: [{{name: app, image: example/app:1}}]\n"
    )
}

/// Wave -1: Namespace `shop` and ConfigMap `early`; wave 0: Deployment `web` (and `extra`
/// objects); wave 1: ConfigMap `late`.
fn write_app(repo: &FleetRepo, late_generation: &str, extra: &[(&str, String)]) {
    let mut resources = vec!["namespace.yaml", "early.yaml", "web.yaml", "late.yaml"];
    resources.extend(extra.iter().map(|(file, _)| *file));
    repo.write(
        &format!("{DIR}/kustomization.yaml"),
        &format!("resources: [{}]\n", resources.join(", ")),
    );
    repo.write(
        &format!("{DIR}/namespace.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations: {rudder.io/wave: \"-1\"}\n",
    );
    repo.write(
        &format!("{DIR}/early.yaml"),
        &config_map("early", "-1", "1"),
    );
    repo.write(&format!("{DIR}/web.yaml"), &deployment("web", "0", "", ""));
    repo.write(
        &format!("{DIR}/late.yaml"),
        &config_map("late", "1", late_generation),
    );
    for (file, content) in extra {
        repo.write(&format!("{DIR}/{file}"), content);
    }
}

async fn data(cluster: &Cluster, name: &str, key: &str) -> Option<String> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "shop");
    api.get_opt(name)
        .await
        .expect("the apiserver answers")
        .and_then(|cm| cm.data)
        .and_then(|d| d.get(key).cloned())
}

/// The first write rudder made to `resource` `name`.
fn first_write<'a>(writes: &'a [AuditWrite], resource: &str, name: &str) -> &'a AuditWrite {
    writes
        .iter()
        .find(|w| w.resource == resource && w.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no write of {resource}/{name} in {writes:#?}"))
}

fn app(status: &Value) -> &Value {
    &status["apps"][0]
}

/// App `name`'s record in a `/status`.
fn by_name(status: &Value, name: &str) -> Value {
    status["apps"]
        .as_array()
        .and_then(|apps| apps.iter().find(|a| a["name"] == name))
        .cloned()
        .unwrap_or(Value::Null)
}

/// A test-bed cluster that writes an audit log, and that log.
async fn audited_cluster(name: &str, dir: &Path) -> (Cluster, Audit) {
    let mut options = ClusterOptions::new(name, "us-east-1");
    options.audit_log = true;
    let cluster = Cluster::start(options, dir).await.expect("cluster starts");
    let audit = Audit::new(cluster.audit_log_path());
    (cluster, audit)
}

/// The arguments of an agent on `cluster` running the apps file `apps`,
/// polling every second.
fn apps_args(daemon: &GitDaemon, cluster: &Cluster, dir: &Path, apps: &Path) -> Vec<String> {
    with_apps_file(
        agent_args(&daemon.url(), cluster, &dir.join("cache"), "1s", &[]),
        apps,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn waves_apply_in_order_a_degraded_wave_stops_the_sync_and_suspend_holds_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = ClusterOptions::new("waves", "us-east-1");
    options.audit_log = true;
    let cluster = Cluster::start(options, dir.path())
        .await
        .expect("cluster starts");
    let kubeconfig = cluster.kubeconfig_path().display().to_string();
    let audit = Audit::new(cluster.audit_log_path());
    let repo = FleetRepo::new();
    write_app(&repo, "1", &[]);
    let first = repo.commit("three waves");
    let daemon = GitDaemon::start(&repo);
    let args = agent_args(
        &daemon.url(),
        &cluster,
        &dir.path().join("cache"),
        "1s",
        &["--wave-timeout", "60s"],
    );
    let offset = audit.offset();
    let mut agent = AgentProcess::start(RUDDER, "agent", &args, dir.path());
    agent
        .wait_for("synced and healthy", LONG, |s| {
            app(s)["applied_revision"] == first.as_str()
                && app(s)["sync"] == "Synced"
                && app(s)["health"] == "Healthy"
        })
        .await;

    // Waves in order, as the apiserver saw them: each starts only after
    // the one before is Current (the Deployment needs its pod available).
    let writes = audit.writes(offset, "rudder");
    let early = first_write(&writes, "configmaps", "early");
    let web = first_write(&writes, "deployments", "web");
    let late = first_write(&writes, "configmaps", "late");
    assert!(
        early.received < web.received && web.received < late.received,
        "{early:?}\n{web:?}\n{late:?}"
    );
    // Within wave -1 the stages hold: the Namespace before the ConfigMap
    // in it.
    let namespace = first_write(&writes, "namespaces", "shop");
    assert!(
        namespace.received < early.received,
        "{namespace:?}\n{early:?}"
    );
    println!(
        "wave -1 at {}, wave 0 at {}, wave 1 at {}",
        early.received, web.received, late.received
    );

    // A Deployment in wave 0 that turns Degraded (its pod cannot be
    // scheduled and its progress deadline passes): the sync stops before
    // wave 1, whose change is not applied, and says which object held it.
    let broken = deployment(
        "broken",
        "0",
        "      nodeSelector: {no-such: node}\n",
        "  progressDeadlineSeconds: 1\n",
    );
    write_app(&repo, "2", &[("broken.yaml", broken)]);
    let second = repo.commit("a Degraded Deployment in wave 0");
    let status = agent
        .wait_for("held by the Degraded wave", LONG, |s| {
            app(s)["attempted_revision"] == second.as_str() && app(s)["sync"] == "Failed"
        })
        .await;
    let error = &app(&status)["error"];
    assert_eq!(error["code"], "RUD3008", "{status:#}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("Deployment/shop/broken") && message.contains("wave 1"),
        "{message}"
    );
    assert_eq!(
        data(&cluster, "late", "generation").await.as_deref(),
        Some("1")
    );

    // The fix: the broken Deployment goes, wave 1 follows.
    write_app(&repo, "2", &[]);
    let third = repo.commit("without the broken Deployment");
    agent
        .wait_for("synced at the fix", LONG, |s| {
            app(s)["applied_revision"] == third.as_str() && app(s)["sync"] == "Synced"
        })
        .await;
    assert_eq!(
        data(&cluster, "late", "generation").await.as_deref(),
        Some("2")
    );

    // Prune goes in reverse wave order: wave 1's object before wave -1's.
    let offset = audit.offset();
    repo.remove(&format!("{DIR}/early.yaml"));
    repo.remove(&format!("{DIR}/late.yaml"));
    repo.write(
        &format!("{DIR}/kustomization.yaml"),
        "resources: [namespace.yaml, web.yaml]\n",
    );
    let pruned = repo.commit("early and late leave Git");
    agent
        .wait_for("synced without early and late", LONG, |s| {
            app(s)["applied_revision"] == pruned.as_str() && app(s)["sync"] == "Synced"
        })
        .await;
    let writes = audit.writes(offset, "rudder");
    let deleted = |name: &str| {
        writes
            .iter()
            .find(|w| w.verb == "delete" && w.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{name} was not pruned: {writes:#?}"))
            .received
            .clone()
    };
    assert!(deleted("late") < deleted("early"));
    // A wave that is not an integer: nothing applied, and /status names the
    // file and line as for a render error.
    write_app(&repo, "5", &[]);
    repo.write(
        &format!("{DIR}/early.yaml"),
        &config_map("early", "soon", "5"),
    );
    let bad_wave = repo.commit("a wave that is not an integer");
    let status = agent
        .wait_for("refused the bad wave", LONG, |s| {
            app(s)["attempted_revision"] == bad_wave.as_str() && app(s)["sync"] == "Failed"
        })
        .await;
    let error = &app(&status)["error"];
    assert_eq!(error["file"], format!("{DIR}/early.yaml"), "{status:#}");
    assert_eq!(error["line"], 6, "{status:#}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("`soon` is not an integer")
    );
    assert_eq!(
        data(&cluster, "late", "generation").await,
        None,
        "something was applied"
    );

    write_app(&repo, "2", &[]);
    let third = repo.commit("early and late back");
    agent
        .wait_for("synced with early and late again", LONG, |s| {
            app(s)["applied_revision"] == third.as_str() && app(s)["sync"] == "Synced"
        })
        .await;

    // Suspended: a manual edit stays, a new commit is fetched and reported
    // but not applied.
    let out = rudder(&["suspend", "--name", APP, "--kubeconfig", &kubeconfig]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    agent
        .wait_for("suspended", LONG, |s| app(s)["sync"] == "Suspended")
        .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client(), "shop");
    config_maps
        .patch(
            "early",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"generation": "edited by hand"}})),
        )
        .await
        .unwrap();
    write_app(&repo, "3", &[]);
    let fourth = repo.commit("while suspended");
    agent
        .wait_for("reporting the pending revision", LONG, |s| {
            app(s)["pending_revision"] == fourth.as_str()
        })
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        data(&cluster, "early", "generation").await.as_deref(),
        Some("edited by hand"),
        "a suspended app was healed"
    );
    assert_eq!(
        data(&cluster, "late", "generation").await.as_deref(),
        Some("2")
    );
    let metrics = agent.get("/metrics").unwrap().1;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("rudder_sync_info{") && l.contains("sync=\"Suspended\"")),
        "{metrics}"
    );
    let status = rudder(&["status", "--kubeconfig", &kubeconfig]);
    assert_eq!(status.status.code(), Some(1), "{}", output_text(&status));
    assert!(String::from_utf8_lossy(&status.stdout).contains("Suspended"));

    // Resumed: the edit is reverted and the new commit applied.
    let started = Instant::now();
    let out = rudder(&["resume", "--name", APP, "--kubeconfig", &kubeconfig]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    agent
        .wait_for("synced after resume", LONG, |s| {
            app(s)["applied_revision"] == fourth.as_str() && app(s)["sync"] == "Synced"
        })
        .await;
    println!("resume to synced: {:?}", started.elapsed());
    assert_eq!(
        data(&cluster, "early", "generation").await.as_deref(),
        Some("1")
    );
    assert_eq!(
        data(&cluster, "late", "generation").await.as_deref(),
        Some("3")
    );

    // The agent's own Namespace annotated suspends every app; removing
    // the annotation resumes them.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cluster.client());
    let annotate = |value: Value| {
        let namespaces = namespaces.clone();
        async move {
            namespaces
                .patch(
                    "rudder-system",
                    &PatchParams::default(),
                    &Patch::Merge(serde_json::json!({"metadata": {"annotations": {"rudder.io/suspend": value}}})),
                )
                .await
                .expect("annotating the agent's Namespace");
        }
    };
    annotate(Value::from("true")).await;
    agent
        .wait_for("suspended by its Namespace", LONG, |s| {
            app(s)["sync"] == "Suspended"
        })
        .await;
    annotate(Value::Null).await;
    agent
        .wait_for("resumed with its Namespace", LONG, |s| {
            app(s)["sync"] == "Synced"
        })
        .await;

    // --suspend holds every app of an agent from its start.
    agent.terminate(Duration::from_secs(30));
    let mut suspended_args = args.clone();
    suspended_args.push("--suspend".into());
    write_app(&repo, "4", &[]);
    let fifth = repo.commit("an agent started with --suspend");
    let agent = AgentProcess::start(RUDDER, "agent-suspended", &suspended_args, dir.path());
    agent
        .wait_for("suspended at start", LONG, |s| {
            app(s)["sync"] == "Suspended" && app(s)["pending_revision"] == fifth.as_str()
        })
        .await;
    assert_eq!(
        data(&cluster, "late", "generation").await.as_deref(),
        Some("3")
    );
}

/// `workloads` depends on `platform`: a commit that breaks platform's
/// Deployment holds workloads at its applied revision (still healed), and
/// the fix releases it.
#[tokio::test(flavor = "multi_thread")]
async fn an_app_waits_for_the_apps_it_depends_on_and_is_healed_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, audit) = audited_cluster("depends", dir.path()).await;
    let repo = FleetRepo::new();
    let write = |platform_pod: &str, generation: &str| {
        repo.write(
            "apps/platform/kustomization.yaml",
            "resources: [namespace.yaml, operator.yaml]\n",
        );
        repo.write(
            "apps/platform/namespace.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
        );
        repo.write(
            "apps/platform/operator.yaml",
            &deployment("operator", "0", platform_pod, ""),
        );
        repo.write(
            "apps/workloads/kustomization.yaml",
            "resources: [app.yaml]\n",
        );
        repo.write(
            "apps/workloads/app.yaml",
            &config_map("app", "0", generation),
        );
    };
    write("", "1");
    let first = repo.commit("platform and workloads");
    let daemon = GitDaemon::start(&repo);
    // Listed dependent first: the order of the file is not the order of
    // the syncs.
    let apps = dir.path().join("apps.yaml");
    std::fs::write(
        &apps,
        "apps:\n- name: workloads\n  path: apps/workloads\n  dependsOn: [platform]\n- name: platform\n  path: apps/platform\n",
    )
    .unwrap();
    let args = apps_args(&daemon, &cluster, dir.path(), &apps);
    let offset = audit.offset();
    let mut agent = AgentProcess::start(RUDDER, "agent-depends", &args, dir.path());
    agent
        .wait_for("both synced", LONG, |s| {
            ["workloads", "platform"].iter().all(|n| {
                let a = by_name(s, n);
                a["applied_revision"] == first.as_str() && a["sync"] == "Synced"
            })
        })
        .await;
    let writes = audit.writes(offset, "rudder");
    let operator = first_write(&writes, "deployments", "operator");
    let workload = first_write(&writes, "configmaps", "app");
    assert!(
        operator.received < workload.received,
        "{operator:?}\n{workload:?}"
    );

    // platform cannot become healthy at the second commit: workloads waits
    // and says why, its ConfigMap stays, and a deletion of it is healed.
    write("      nodeSelector: {no-such: node}\n", "2");
    let second = repo.commit("an operator that cannot be scheduled");
    let status = agent
        .wait_for("workloads waiting", LONG, |s| {
            let w = by_name(s, "workloads");
            w["sync"] == "Waiting" && w["pending_revision"] == second.as_str()
        })
        .await;
    let reason = by_name(&status, "workloads")["waiting_for"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.starts_with("platform: "), "{reason}");
    let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client(), "shop");
    config_maps
        .delete("app", &Default::default())
        .await
        .expect("deleting the workload by hand");
    let deadline = Instant::now() + Duration::from_secs(30);
    while data(&cluster, "app", "generation").await.is_none() {
        assert!(Instant::now() < deadline, "a waiting app was not healed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        data(&cluster, "app", "generation").await.as_deref(),
        Some("1")
    );
    let status = agent.status().unwrap();
    assert_eq!(
        by_name(&status, "workloads")["sync"],
        "Waiting",
        "{status:#}"
    );
    assert_eq!(
        by_name(&status, "workloads")["applied_revision"],
        first.as_str()
    );

    // The fix: platform turns healthy at the third commit, workloads follows.
    write("", "3");
    let third = repo.commit("the operator schedulable again");
    agent
        .wait_for("workloads at the fix", LONG, |s| {
            let w = by_name(s, "workloads");
            w["applied_revision"] == third.as_str() && w["sync"] == "Synced"
        })
        .await;
    assert_eq!(
        data(&cluster, "app", "generation").await.as_deref(),
        Some("3")
    );
    let writes = audit.writes(offset, "rudder");
    let healthy_operator = writes
        .iter()
        .rfind(|w| w.resource == "deployments" && w.name.as_deref() == Some("operator"))
        .unwrap();
    let released = writes
        .iter()
        .rfind(|w| w.resource == "configmaps" && w.name.as_deref() == Some("app"))
        .unwrap();
    assert!(healthy_operator.received < released.received);

    // A bad entry in the apps file (a misspelt dependency, an unknown
    // field) fails that app, named with file and line in /status, while the
    // agent runs the valid ones.
    agent.terminate(Duration::from_secs(30));
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apps:\n- name: platform\n  path: apps/platform\n- name: workloads\n  path: apps/workloads\n  dependsOn: [platfrom]\n- name: typo\n  path: apps/workloads\n  prun: true\n",
    )
    .unwrap();
    let bad_args = apps_args(&daemon, &cluster, dir.path(), &bad);
    let agent = AgentProcess::start(RUDDER, "agent-bad-file", &bad_args, dir.path());
    let status = agent
        .wait_for("the valid app synced, the others failed", LONG, |s| {
            by_name(s, "platform")["sync"] == "Synced"
                && by_name(s, "workloads")["sync"] == "Failed"
                && by_name(s, "typo")["sync"] == "Failed"
        })
        .await;
    let error = &by_name(&status, "workloads")["error"];
    assert_eq!(error["code"], "RUD2009", "{status:#}");
    assert_eq!(error["line"], 4);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("bad.yaml:4: app `workloads`: dependsOn `platfrom`, which is not an app"),
        "{status:#}"
    );
    let typo = &by_name(&status, "typo")["error"];
    assert!(
        typo["message"]
            .as_str()
            .unwrap()
            .contains("bad.yaml:7: app `typo`: unknown field `prun`"),
        "{status:#}"
    );

    // A health rule that does not compile: no app runs (each would be
    // judged wrongly), each says why, and the agent keeps serving.
    let mut agent = agent;
    agent.terminate(Duration::from_secs(30));
    std::fs::write(
        &bad,
        "apps:\n- name: platform\n  path: apps/platform\nhealth:\n- apiVersion: example.com/v1\n  kind: Widget\n  current: 'status.phase =='\n",
    )
    .unwrap();
    let agent = AgentProcess::start(RUDDER, "agent-bad-rule", &bad_args, dir.path());
    let status = agent
        .wait_for("the app failed on the rule", LONG, |s| {
            by_name(s, "platform")["sync"] == "Failed"
        })
        .await;
    let message = by_name(&status, "platform")["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains(
            "health rule for example.com/v1 Widget: `current: status.phase ==` does not compile"
        ),
        "{message}"
    );
    assert_eq!(by_name(&status, "platform")["error"]["code"], "RUD2009");
}

const WIDGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

/// The issue's three layers: `crds` (a CRD and an operator Deployment),
/// `platform` (a custom resource of that CRD, dependsOn crds) judged by a
/// CEL health rule, and `workloads` (dependsOn platform, waves -1, 0, 1).
/// The custom resource holds everything after it in Progressing until the
/// test sets its status; then the rest follows in order.
#[tokio::test(flavor = "multi_thread")]
async fn a_custom_health_rule_holds_the_layers_above_it_until_the_resource_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, audit) = audited_cluster("layers", dir.path()).await;
    let repo = FleetRepo::new();
    repo.write(
        "apps/crds/kustomization.yaml",
        "resources: [namespace.yaml, crd.yaml, operator.yaml]\n",
    );
    repo.write(
        "apps/crds/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
    );
    repo.write("apps/crds/crd.yaml", WIDGET_CRD);
    repo.write(
        "apps/crds/operator.yaml",
        &deployment("widget-operator", "0", "", ""),
    );
    repo.write(
        "apps/platform/kustomization.yaml",
        "resources: [widget.yaml]\n",
    );
    repo.write(
        "apps/platform/widget.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: storefront, namespace: shop}\nspec: {size: 3}\n",
    );
    repo.write(
        "apps/workloads/kustomization.yaml",
        "resources: [waves.yaml]\n",
    );
    repo.write(
        "apps/workloads/waves.yaml",
        &[
            config_map("before", "-1", "1"),
            config_map("during", "0", "1"),
            config_map("after", "1", "1"),
        ]
        .join("---\n"),
    );
    let first = repo.commit("three layers");
    let daemon = GitDaemon::start(&repo);
    let apps = dir.path().join("apps.yaml");
    std::fs::write(
        &apps,
        r#"apps:
- name: workloads
  path: apps/workloads
  dependsOn: [platform]
- name: platform
  path: apps/platform
  dependsOn: [crds]
- name: crds
  path: apps/crds
health:
- apiVersion: example.com/v1
  kind: Widget
  current: 'has(status.phase) && status.phase == "Ready"'
  failed: 'has(status.phase) && status.phase == "Broken"'
"#,
    )
    .unwrap();
    let args = apps_args(&daemon, &cluster, dir.path(), &apps);
    let offset = audit.offset();
    let agent = AgentProcess::start(RUDDER, "agent-layers", &args, dir.path());

    // platform is applied but Progressing by its rule; workloads waits.
    let status = agent
        .wait_for("workloads waiting on platform", LONG, |s| {
            let p = by_name(s, "platform");
            let w = by_name(s, "workloads");
            // The dependent re-judges a moment after platform's record
            // changes: wait for its reason to say so too.
            p["applied_revision"] == first.as_str()
                && p["health"] == "Progressing"
                && w["sync"] == "Waiting"
                && w["waiting_for"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("platform: Synced and Progressing"))
        })
        .await;
    let reason = by_name(&status, "workloads")["waiting_for"].clone();
    assert!(
        reason
            .as_str()
            .unwrap()
            .starts_with("platform: Synced and Progressing"),
        "{status:#}"
    );
    let not_current = &by_name(&status, "platform")["not_current"][0];
    assert_eq!(not_current["status"], "InProgress", "{status:#}");
    assert_eq!(data(&cluster, "before", "generation").await, None);

    // The operator's part: the Widget turns Ready.
    let widgets: Api<kube::api::DynamicObject> = Api::namespaced_with(
        cluster.client(),
        "shop",
        &kube::discovery::ApiResource {
            group: "example.com".into(),
            version: "v1".into(),
            api_version: "example.com/v1".into(),
            kind: "Widget".into(),
            plural: "widgets".into(),
        },
    );
    widgets
        .patch_status(
            "storefront",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"status": {"phase": "Ready"}})),
        )
        .await
        .expect("setting the Widget's status");
    agent
        .wait_for("every layer synced and healthy", LONG, |s| {
            ["crds", "platform", "workloads"].iter().all(|n| {
                let a = by_name(s, n);
                a["applied_revision"] == first.as_str()
                    && a["sync"] == "Synced"
                    && a["health"] == "Healthy"
            })
        })
        .await;

    // The order of applies as the apiserver saw it.
    let writes = audit.writes(offset, "rudder");
    let order = [
        first_write(&writes, "customresourcedefinitions", "widgets.example.com"),
        first_write(&writes, "widgets", "storefront"),
        first_write(&writes, "configmaps", "before"),
        first_write(&writes, "configmaps", "during"),
        first_write(&writes, "configmaps", "after"),
    ];
    for pair in order.windows(2) {
        assert!(pair[0].received < pair[1].received, "{:#?}", order);
    }
}

/// Apps that leave the apps file: `keep` (the default, orphan) leaves its
/// objects and loses its parent; `db` and `api` (deletionPolicy delete,
/// api dependsOn db) are pruned, api's objects before db's.
#[tokio::test(flavor = "multi_thread")]
async fn apps_removed_from_the_file_are_orphaned_or_deleted_after_their_dependents() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, audit) = audited_cluster("removal", dir.path()).await;
    let repo = FleetRepo::new();
    repo.write(
        "apps/stays/kustomization.yaml",
        "resources: [namespace.yaml]\n",
    );
    repo.write(
        "apps/stays/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
    );
    for name in ["keep", "db", "api"] {
        repo.write(
            &format!("apps/{name}/kustomization.yaml"),
            "resources: [cm.yaml]\n",
        );
        repo.write(&format!("apps/{name}/cm.yaml"), &config_map(name, "0", "1"));
    }
    let first = repo.commit("four apps");
    let daemon = GitDaemon::start(&repo);
    let apps = dir.path().join("apps.yaml");
    std::fs::write(
        &apps,
        "apps:\n- {name: stays, path: apps/stays}\n- {name: keep, path: apps/keep, dependsOn: [stays]}\n- {name: db, path: apps/db, deletionPolicy: delete, dependsOn: [stays]}\n- {name: api, path: apps/api, deletionPolicy: delete, dependsOn: [db]}\n",
    )
    .unwrap();
    let args = apps_args(&daemon, &cluster, dir.path(), &apps);
    let mut agent = AgentProcess::start(RUDDER, "agent-removal", &args, dir.path());
    agent
        .wait_for("all four synced", LONG, |s| {
            ["stays", "keep", "db", "api"].iter().all(|n| {
                let a = by_name(s, n);
                a["applied_revision"] == first.as_str() && a["sync"] == "Synced"
            })
        })
        .await;
    // The parents carry the policies before the apps leave.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(cluster.client(), "rudder-system");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let parent = secrets.get("api").await.unwrap();
        let annotations = parent.metadata.annotations.unwrap_or_default();
        if annotations
            .get("rudder.io/deletion-policy")
            .map(String::as_str)
            == Some("delete")
        {
            assert_eq!(annotations["rudder.io/depends-on"], "db");
            assert_eq!(annotations["rudder.io/agent"], "rudder-leader");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no policy on the parent: {annotations:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    agent.terminate(Duration::from_secs(30));

    std::fs::write(&apps, "apps:\n- {name: stays, path: apps/stays}\n").unwrap();
    let offset = audit.offset();
    let agent = AgentProcess::start(RUDDER, "agent-removal-2", &args, dir.path());
    agent
        .wait_for("the remaining app synced", LONG, |s| {
            s["apps"].as_array().is_some_and(|a| a.len() == 1)
                && by_name(s, "stays")["sync"] == "Synced"
        })
        .await;
    assert_eq!(
        data(&cluster, "keep", "generation").await.as_deref(),
        Some("1")
    );
    assert_eq!(data(&cluster, "db", "generation").await, None);
    assert_eq!(data(&cluster, "api", "generation").await, None);
    for name in ["keep", "db", "api"] {
        assert!(
            secrets.get_opt(name).await.unwrap().is_none(),
            "the parent of {name} stayed"
        );
    }
    assert!(secrets.get_opt("stays").await.unwrap().is_some());
    let writes = audit.writes(offset, "rudder");
    let deleted = |name: &str| {
        writes
            .iter()
            .find(|w| {
                w.verb == "delete" && w.resource == "configmaps" && w.name.as_deref() == Some(name)
            })
            .unwrap_or_else(|| panic!("{name} was not deleted: {writes:#?}"))
            .received
            .clone()
    };
    assert!(deleted("api") < deleted("db"));
    assert!(
        !writes.iter().any(|w| w.verb == "delete"
            && w.name.as_deref() == Some("keep")
            && w.resource == "configmaps"),
        "an orphaned app's object was deleted"
    );
}
