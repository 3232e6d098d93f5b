//! `rudder run` end to end: real kube-apiservers of the test bed, a real
//! fleet repository served by `git daemon` (and `git http-backend` behind
//! basic auth), and the real binary, one agent per region. Each scenario of
//! the agent issue is asserted through what a user sees: objects in the
//! clusters, `/status`, and the apiservers' audit logs.

use std::time::{Duration, Instant};

use integration_tests::agent::{AgentProcess, Audit, agent_args, hmac_sha256_hex};
use integration_tests::git_server::{FleetRepo, GitDaemon, GitHttp};
use integration_tests::{Cluster, ClusterOptions, Fleet, FleetOptions};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams};
use serde_json::Value;

const RUDDER: &str = env!("CARGO_BIN_EXE_rudder");
const LONG: Duration = Duration::from_secs(120);
/// A Secret value that must never appear in status, metrics or logs.
const SECRET: &str = "hunter2-never-printed";

/// `base/` → `environments/production` → `clusters/<region>`.
fn fleet_repository(repo: &FleetRepo, regions: &[&str]) {
    repo.write(
        "base/kustomization.yaml",
        "resources: [namespace.yaml, web.yaml]\n",
    );
    repo.write(
        "base/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
    );
    repo.write(
        "base/web.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: shop}\ndata: {color: blue, region: \"${RUDDER_REGION}\"}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  ports: [{port: 80}]\n  selector: {app: web}\n",
    );
    repo.write(
        "environments/production/kustomization.yaml",
        &format!(
            "resources: [../../base]\nlabels:\n- pairs: {{env: production}}\nsecretGenerator:\n- name: creds\n  namespace: shop\n  literals: [password={SECRET}]\n"
        ),
    );
    for region in regions {
        write_region(repo, region, "1");
    }
}

fn write_region(repo: &FleetRepo, region: &str, generation: &str) {
    repo.write(
        &format!("clusters/{region}/kustomization.yaml"),
        "resources: [../../environments/production, settings.yaml]\n",
    );
    repo.write(
        &format!("clusters/{region}/settings.yaml"),
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: region-settings, namespace: shop}}\ndata: {{region: {region}, generation: \"{generation}\"}}\n"
        ),
    );
}

fn app(status: &Value) -> &Value {
    &status["apps"][0]
}

fn synced_at(revision: &str) -> impl Fn(&Value) -> bool + '_ {
    move |s| {
        let a = app(s);
        a["sync"] == "Synced" && a["applied_revision"] == revision && a["health"] == "Healthy"
    }
}

async fn config_map(cluster: &Cluster, name: &str) -> Option<ConfigMap> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "shop");
    api.get_opt(name).await.expect("the apiserver answers")
}

async fn data(cluster: &Cluster, name: &str, key: &str) -> Option<String> {
    config_map(cluster, name)
        .await
        .and_then(|cm| cm.data)
        .and_then(|d| d.get(key).cloned())
}

fn assert_no_secret_leak(agent: &AgentProcess) {
    let status = agent.get("/status").map(|r| r.1).unwrap_or_default();
    let metrics = agent.get("/metrics").map(|r| r.1).unwrap_or_default();
    let page = agent.get("/").map(|r| r.1).unwrap_or_default();
    let log = agent.log();
    for (what, text) in [
        ("status", status),
        ("metrics", metrics),
        ("page", page),
        ("log", log),
    ] {
        assert!(
            !text.contains(SECRET),
            "{}: the Secret value appears in its {what}",
            agent.name
        );
    }
}

/// Three regions, one agent each, following one repository over
/// `git daemon`: convergence, a push to one region, broken commits, a
/// deletion healed, one apiserver down, the Git server down.
#[tokio::test(flavor = "multi_thread")]
async fn three_regions_follow_one_repository() {
    let mut fleet = Fleet::start(FleetOptions {
        clusters: 3,
        audit_log: true,
        ..FleetOptions::default()
    })
    .await
    .expect("the fleet starts");
    let work = tempfile::tempdir().unwrap();
    let regions: Vec<&str> = fleet.clusters.iter().map(|c| c.region()).collect();
    let repo = FleetRepo::new();
    fleet_repository(&repo, &regions);
    let first = repo.commit("fleet: first revision");
    let mut daemon = GitDaemon::start(&repo);
    let agents: Vec<AgentProcess> = fleet
        .clusters
        .iter()
        .map(|cluster| {
            let cache = work.path().join(format!("cache-{}", cluster.region()));
            let args = agent_args(&daemon.url(), cluster, &cache, "1s", &[]);
            AgentProcess::start(RUDDER, cluster.region(), &args, work.path())
        })
        .collect();

    // All regions converge, each with its own overlay.
    for (agent, cluster) in agents.iter().zip(&fleet.clusters) {
        let status = agent.wait_for("synced", LONG, synced_at(&first)).await;
        assert_eq!(status["region"], cluster.region());
        assert_eq!(status["source"]["revision"], first.as_str());
        assert_eq!(app(&status)["render_mode"], "kustomization");
        assert!(app(&status)["health_observed_at"].is_string(), "{status:#}");
        assert_eq!(
            data(cluster, "region-settings", "region").await.as_deref(),
            Some(cluster.region())
        );
        // ${RUDDER_REGION} reached the renderer.
        assert_eq!(
            data(cluster, "web", "region").await.as_deref(),
            Some(cluster.region())
        );
        let (code, _) = agent.get("/readyz").unwrap();
        assert_eq!(code, 200);
    }

    // A push changing one region's overlay changes only that region; the
    // other agents record the revision without a single apiserver request.
    let audits: Vec<Audit> = fleet
        .clusters
        .iter()
        .map(|c| Audit::new(c.audit_log_path()))
        .collect();
    let offsets: Vec<u64> = audits.iter().map(Audit::offset).collect();
    write_region(&repo, regions[1], "2");
    let second = repo.commit("eu-west-1: generation 2");
    for agent in &agents {
        agent
            .wait_for("at the second revision", LONG, synced_at(&second))
            .await;
    }
    assert_eq!(
        data(&fleet.clusters[1], "region-settings", "generation")
            .await
            .as_deref(),
        Some("2")
    );
    for i in [0, 2] {
        assert_eq!(
            data(&fleet.clusters[i], "region-settings", "generation")
                .await
                .as_deref(),
            Some("1")
        );
        let status = agents[i].status().unwrap();
        assert_eq!(
            app(&status)["history"][0]["result"],
            "Unchanged",
            "{status:#}"
        );
        let requests = audits[i].since(offsets[i], "rudder");
        assert_eq!(
            requests.non_watch, 0,
            "{}: {requests:?} for another region's commit",
            regions[i]
        );
    }
    let changed = agents[1].status().unwrap();
    assert_eq!(app(&changed)["history"][0]["result"], "Synced");
    assert_eq!(app(&changed)["history"][0]["configured"], 1, "{changed:#}");

    // Broken commits leave every cluster as it was and say where.
    let broken: [(&str, &str, &str, Option<u64>); 3] = [
        // kubectl kustomize names line 4 for this file too.
        (
            "settings.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: region-settings, namespace: shop}\ndata: a: b\n",
            "RUD2001",
            Some(4),
        ),
        (
            "kustomization.yaml",
            "resources: [../../environments/production, settings.yaml, missing.yaml]\n",
            "RUD2002",
            None,
        ),
        (
            "kustomization.yaml",
            "resources: [../../environments/production, ../../../outside]\n",
            "RUD2003",
            None,
        ),
    ];
    for (file, text, code, line) in broken {
        write_region(&repo, regions[0], "2");
        repo.write(&format!("clusters/{}/{file}", regions[0]), text);
        let bad = repo.commit(&format!("us-east-1: broken {file}"));
        let status = agents[0]
            .wait_for("failed on the broken commit", LONG, |s| {
                app(s)["attempted_revision"] == bad.as_str() && app(s)["sync"] == "Failed"
            })
            .await;
        let error = &app(&status)["error"];
        assert_eq!(error["code"], code, "{status:#}");
        assert_eq!(app(&status)["applied_revision"], second.as_str());
        if code != "RUD2003" {
            let file = error["file"].as_str().unwrap_or_default();
            assert!(
                file.contains(&format!("clusters/{}/", regions[0])),
                "{status:#}"
            );
        }
        if let Some(line) = line {
            assert_eq!(error["line"], line, "{status:#}");
        }
        assert_eq!(
            data(&fleet.clusters[0], "region-settings", "generation")
                .await
                .as_deref(),
            Some("1")
        );
        assert!(
            config_map(&fleet.clusters[0], "web").await.is_some(),
            "a broken commit pruned"
        );
        let page = agents[0].get("/").unwrap().1;
        assert!(page.contains(code), "the page does not show the error");
    }
    // Each sync that changed something, and each failure, is an Event on
    // the app's ApplySet parent.
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(fleet.clusters[0].client(), "rudder-system");
    let events = events.list(&Default::default()).await.unwrap().items;
    let reasons: Vec<(String, String)> = events
        .iter()
        .filter(|e| {
            e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("clusters-us-east-1")
        })
        .map(|e| {
            (
                e.reason.clone().unwrap_or_default(),
                e.note.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert!(reasons.iter().any(|(r, _)| r == "Synced"), "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|(r, n)| r == "RenderFailed" && n.contains("RUD2001")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().all(|(_, n)| !n.contains(SECRET)),
        "an Event holds Secret data"
    );

    // The fix converges.
    write_region(&repo, regions[0], "3");
    let fixed = repo.commit("us-east-1: fixed");
    let status = agents[0]
        .wait_for("synced after the fix", LONG, synced_at(&fixed))
        .await;
    assert!(app(&status)["error"].is_null());
    assert_eq!(
        data(&fleet.clusters[0], "region-settings", "generation")
            .await
            .as_deref(),
        Some("3")
    );

    // An object deleted by hand comes back.
    let api: Api<ConfigMap> = Api::namespaced(fleet.clusters[2].client(), "shop");
    api.delete("web", &DeleteParams::default()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while config_map(&fleet.clusters[2], "web").await.is_none() {
        assert!(
            Instant::now() < deadline,
            "the deleted ConfigMap did not come back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    agents[2]
        .wait_for("counting the correction", LONG, |s| {
            app(s)["drift_corrections"].as_u64() >= Some(1)
        })
        .await;
    let metrics = agents[2].get("/metrics").unwrap().1;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("rudder_drift_corrections_total{")
                && l.contains(&format!("region=\"{}\"", regions[2]))
                && !l.ends_with(" 0")),
        "{metrics}"
    );
    assert!(metrics.contains("rudder_sync_info{"), "{metrics}");

    // Secrets stay secret everywhere.
    let secrets: Api<Secret> = Api::namespaced(fleet.clusters[0].client(), "shop");
    assert_eq!(
        secrets.list(&Default::default()).await.unwrap().items.len(),
        1
    );
    for agent in &agents {
        assert_no_secret_leak(agent);
    }

    // The Git server down: nothing pruned, `/status` says why, recovery.
    daemon.stop();
    for agent in &agents {
        let status = agent
            .wait_for("reporting the Git server down", LONG, |s| {
                s["source"]["error"].is_string()
            })
            .await;
        assert_eq!(status["source"]["error_code"], "RUD1001", "{status:#}");
    }
    for cluster in &fleet.clusters {
        assert!(
            config_map(cluster, "web").await.is_some(),
            "pruned while Git was down"
        );
    }
    daemon.restart();
    write_region(&repo, regions[2], "4");
    let after_outage = repo.commit("ap-southeast-1: after the outage");
    for agent in &agents {
        let status = agent
            .wait_for(
                "recovered from the Git outage",
                LONG,
                synced_at(&after_outage),
            )
            .await;
        assert!(status["source"]["error"].is_null());
    }

    // One region's apiserver stopped: that agent reports it, the others
    // stay Healthy; it recovers when the apiserver returns.
    fleet.clusters[1].stop_apiserver();
    agents[1]
        .wait_for("reporting its cluster down", LONG, |s| {
            !app(s)["error"].is_null() && app(s)["health"] == "Unknown"
        })
        .await;
    for i in [0, 2] {
        let status = agents[i].status().unwrap();
        assert_eq!(app(&status)["health"], "Healthy", "{status:#}");
        assert!(app(&status)["error"].is_null(), "{status:#}");
    }
    fleet.clusters[1].start_apiserver().await.unwrap();
    agents[1]
        .wait_for("recovered with its apiserver", LONG, |s| {
            app(s)["error"].is_null() && app(s)["health"] == "Healthy" && app(s)["sync"] == "Synced"
        })
        .await;
}

/// One region followed over HTTPS-style basic auth: a wrong token is
/// refused; webhooks trigger a fetch only when signed; two replicas elect
/// a leader, a standby takes over when the leader dies; SIGTERM exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn webhooks_auth_leader_election_and_shutdown() {
    let work = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(
        ClusterOptions::new("rudder-us-east-1", "us-east-1"),
        work.path(),
    )
    .await
    .expect("the cluster starts");
    let repo = FleetRepo::new();
    fleet_repository(&repo, &["us-east-1"]);
    let first = repo.commit("first");
    let http = GitHttp::start(&repo, "fleet-bot", "right-token");
    let token = work.path().join("token");
    std::fs::write(&token, "right-token\n").unwrap();
    let wrong = work.path().join("wrong");
    std::fs::write(&wrong, "wrong-token\n").unwrap();
    let secret = work.path().join("webhook-secret");
    std::fs::write(&secret, "hook-secret\n").unwrap();

    // A wrong token is refused, and nothing is applied.
    let args = agent_args(
        &http.url(),
        &cluster,
        &work.path().join("cache-wrong"),
        "1s",
        &[
            "--https-username",
            "fleet-bot",
            "--https-token-file",
            wrong.to_str().unwrap(),
        ],
    );
    let refused = AgentProcess::start(RUDDER, "wrong-token", &args, work.path());
    let status = refused
        .wait_for("refused by the Git server", LONG, |s| {
            s["source"]["error"].is_string()
        })
        .await;
    assert_eq!(status["source"]["error_code"], "RUD1002", "{status:#}");
    assert_eq!(app(&status)["sync"], "Pending");
    assert!(
        !status.to_string().contains("wrong-token"),
        "the token leaked into /status"
    );
    drop(refused);
    assert!(config_map(&cluster, "web").await.is_none());

    // Two replicas with leader election; long interval, so only webhooks
    // bring new commits.
    let replica = |name: &str| {
        let args = agent_args(
            &http.url(),
            &cluster,
            &work.path().join(format!("cache-{name}")),
            "1h",
            &[
                "--https-username",
                "fleet-bot",
                "--https-token-file",
                token.to_str().unwrap(),
                "--webhook-secret-file",
                secret.to_str().unwrap(),
                "--leader-elect",
                "--identity",
                name,
            ],
        );
        AgentProcess::start(RUDDER, name, &args, work.path())
    };
    let a = replica("replica-a");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let b = replica("replica-b");
    let mut leader = a;
    let mut standby = b;
    let status = leader
        .wait_for("leading and synced", LONG, synced_at(&first))
        .await;
    assert_eq!(status["leader"]["leading"], true, "{status:#}");
    let standby_status = standby
        .wait_for("standing by", LONG, |s| {
            s["leader"]["holder"] == "replica-a"
        })
        .await;
    assert_eq!(standby_status["leader"]["leading"], false);
    assert!(
        app(&standby_status)["applied_revision"].is_null(),
        "a standby synced"
    );
    assert_eq!(standby.get("/readyz").unwrap().0, 200);

    // An unsigned or wrongly signed delivery answers 401 and causes nothing.
    write_region(&repo, "us-east-1", "2");
    let second = repo.commit("second");
    let body = br#"{"ref":"refs/heads/main"}"#;
    assert_eq!(leader.post("/hooks/github", &[], body).unwrap().0, 401);
    let bad_sig = format!("sha256={}", "0".repeat(64));
    assert_eq!(
        leader
            .post("/hooks/github", &[("X-Hub-Signature-256", &bad_sig)], body)
            .unwrap()
            .0,
        401
    );
    assert_eq!(
        leader
            .post("/hooks/gitlab", &[("X-Gitlab-Token", "nope")], body)
            .unwrap()
            .0,
        401
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = leader.status().unwrap();
    assert_eq!(
        app(&status)["applied_revision"],
        first.as_str(),
        "an unsigned webhook caused a sync"
    );
    // A signed one answers 202 and the commit is applied.
    let signature = format!("sha256={}", hmac_sha256_hex(b"hook-secret", body));
    let started = Instant::now();
    let (code, _) = leader
        .post(
            "/hooks/github",
            &[("X-Hub-Signature-256", &signature)],
            body,
        )
        .unwrap();
    assert_eq!(code, 202);
    leader
        .wait_for(
            "synced by the webhook",
            Duration::from_secs(30),
            synced_at(&second),
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(
        data(&cluster, "region-settings", "generation")
            .await
            .as_deref(),
        Some("2")
    );
    // GitLab's token and the generic signature work too.
    assert_eq!(
        leader
            .post("/hooks/gitlab", &[("X-Gitlab-Token", "hook-secret")], b"{}")
            .unwrap()
            .0,
        202
    );
    let generic = format!("sha256={}", hmac_sha256_hex(b"hook-secret", b"{}"));
    assert_eq!(
        leader
            .post("/hooks/generic", &[("X-Rudder-Signature", &generic)], b"{}")
            .unwrap()
            .0,
        202
    );

    // The leader dies; the standby takes over within 20 s and syncs.
    write_region(&repo, "us-east-1", "3");
    let third = repo.commit("third");
    leader.kill();
    let killed = Instant::now();
    let status = standby
        .wait_for(
            "leading after the leader died",
            Duration::from_secs(40),
            |s| s["leader"]["leading"] == true,
        )
        .await;
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(25),
        "the standby took {took:?} to lead"
    );
    assert_eq!(status["leader"]["holder"], "replica-b");
    standby
        .wait_for("synced as the new leader", LONG, synced_at(&third))
        .await;
    std::mem::swap(&mut leader, &mut standby);

    // SIGTERM: the agent exits 0 and releases the Lease.
    let exit = leader
        .terminate(Duration::from_secs(40))
        .expect("rudder stops on SIGTERM");
    assert_eq!(exit.code(), Some(0), "{}", leader.log_tail(30));
    assert!(leader.log().contains("stopped;"), "{}", leader.log_tail(30));
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(cluster.client(), "rudder-system");
    let lease = leases.get("rudder-leader").await.unwrap();
    assert!(
        lease
            .spec
            .and_then(|s| s.holder_identity)
            .unwrap_or_default()
            .is_empty(),
        "the Lease was not released"
    );
}

/// Several apps from an apps file on one cluster: each its own ApplySet and
/// field manager, a path without a kustomization rendered as plain YAML,
/// and a broken app that blocks no other.
#[tokio::test(flavor = "multi_thread")]
async fn apps_file_runs_each_app_on_its_own() {
    let work = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(
        ClusterOptions::new("rudder-eu-west-1", "eu-west-1"),
        work.path(),
    )
    .await
    .expect("the cluster starts");
    let repo = FleetRepo::new();
    repo.write("shop/kustomization.yaml", "resources: [shop.yaml]\n");
    repo.write(
        "shop/shop.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: shop, namespace: shop}\ndata: {tier: \"${TIER}\", cluster: \"${RUDDER_CLUSTER}\"}\n",
    );
    repo.write(
        "plain/eu-west-1/ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: plain}\n",
    );
    repo.write(
        "plain/eu-west-1/nested/deeper/cm.yml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nested, namespace: plain}\ndata: {n: \"1\"}\n",
    );
    repo.write("plain/eu-west-1/README.md", "not YAML, not rendered\n");
    let first = repo.commit("two apps");
    let daemon = GitDaemon::start(&repo);
    let apps = work.path().join("apps.yaml");
    std::fs::write(
        &apps,
        "apps:\n- name: shop\n  path: shop\n  prune: true\n  vars: {TIER: gold}\n- name: plain\n  path: plain/{region}\n  prune: true\n",
    )
    .unwrap();
    let mut args: Vec<String> = [
        "--repo",
        &daemon.url(),
        "--apps",
        apps.to_str().unwrap(),
        "--region",
        "eu-west-1",
        "--cluster",
        cluster.name(),
        "--interval",
        "1s",
        "--kubeconfig",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(cluster.rudder_kubeconfig_path().display().to_string());
    args.extend([
        "--cache-dir".to_string(),
        work.path().join("cache").display().to_string(),
    ]);
    let agent = AgentProcess::start(RUDDER, "apps", &args, work.path());
    let both_synced = |revision: String| {
        move |s: &Value| {
            s["apps"].as_array().is_some_and(|apps| {
                apps.len() == 2
                    && apps.iter().all(|a| {
                        a["sync"] == "Synced" && a["applied_revision"] == revision.as_str()
                    })
            })
        }
    };
    let status = agent
        .wait_for("both apps synced", LONG, both_synced(first.clone()))
        .await;
    assert_eq!(status["apps"][0]["render_mode"], "kustomization");
    assert_eq!(status["apps"][1]["render_mode"], "directory");
    assert_eq!(
        data(&cluster, "shop", "tier").await.as_deref(),
        Some("gold")
    );
    assert_eq!(
        data(&cluster, "shop", "cluster").await.as_deref(),
        Some("rudder-eu-west-1")
    );
    let plain: Api<ConfigMap> = Api::namespaced(cluster.client(), "plain");
    let nested = plain
        .get("nested")
        .await
        .expect("the nested file was rendered");
    // Each app is its own ApplySet with its own field manager.
    let parents: Api<Secret> = Api::namespaced(cluster.client(), "rudder-system");
    for name in ["shop", "plain"] {
        let parent = parents
            .get(name)
            .await
            .unwrap_or_else(|_| panic!("no ApplySet parent {name}"));
        let id = parent.metadata.labels.unwrap_or_default()["applyset.kubernetes.io/id"].clone();
        assert!(id.starts_with("applyset-"), "{id}");
    }
    let managers: Vec<String> = nested
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| f.manager)
        .collect();
    assert!(
        managers.contains(&"rudder/plain".to_string()),
        "{managers:?}"
    );

    // One broken app blocks no other: shop fails, plain still follows Git.
    repo.write(
        "shop/shop.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shop\n",
    );
    repo.write(
        "plain/eu-west-1/nested/deeper/cm.yml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nested, namespace: plain}\ndata: {n: \"2\"}\n",
    );
    let second = repo.commit("shop broken, plain changed");
    let status = agent
        .wait_for("shop failed and plain synced", LONG, |s| {
            s["apps"][0]["sync"] == "Failed"
                && s["apps"][0]["attempted_revision"] == second.as_str()
                && s["apps"][1]["sync"] == "Synced"
                && s["apps"][1]["applied_revision"] == second.as_str()
        })
        .await;
    assert_eq!(
        status["apps"][0]["error"]["file"], "shop/shop.yaml",
        "{status:#}"
    );
    assert_eq!(status["apps"][0]["applied_revision"], first.as_str());
    let nested = plain.get("nested").await.unwrap();
    assert_eq!(nested.data.unwrap()["n"], "2");
    assert_eq!(
        data(&cluster, "shop", "tier").await.as_deref(),
        Some("gold"),
        "the broken app changed its cluster"
    );

    // A bad YAML file in a plain directory names that file.
    repo.write("plain/eu-west-1/nested/bad.yaml", "kind: [unclosed\n");
    let third = repo.commit("plain broken");
    let status = agent
        .wait_for("plain failed", LONG, |s| {
            s["apps"][1]["attempted_revision"] == third.as_str() && s["apps"][1]["sync"] == "Failed"
        })
        .await;
    assert_eq!(
        status["apps"][1]["error"]["file"], "plain/eu-west-1/nested/bad.yaml",
        "{status:#}"
    );
    assert_eq!(status["apps"][1]["error"]["code"], "RUD2001");
    assert!(
        plain.get_opt("nested").await.unwrap().is_some(),
        "a failed render pruned"
    );
}
