//! The reconciler's rules against a real apiserver of the test bed: create,
//! no-op and prune with the empty-render and failed-render guards; staged
//! apply (CRD and custom resource, namespace and its objects, in one sync),
//! immutable fields with and without recreate, fields owned by another
//! controller, conflicts left alone on request, prune guards (opt-out,
//! foreign owner, unlisted objects with our label, over the share), health,
//! the drift watcher, and an apiserver that stops in the middle of a sync.

use std::time::Duration;

use integration_tests::{Cluster, ClusterOptions};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use rudder_reconciler::applyset::ApplySetParent;
use rudder_reconciler::health::AggregateHealth;
use rudder_reconciler::object::ObjectRef;
use rudder_reconciler::summary::Outcome;
use rudder_reconciler::sync::{self, SyncOptions, SyncReport};
use rudder_reconciler::target::Target;
use rudder_reconciler::wait;
use rudder_reconciler::watch::{DriftCause, DriftWatcher, WatchReport};
use serde_json::{Value, json};

async fn start(name: &str) -> (tempfile::TempDir, Cluster, Target) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(ClusterOptions::new(name, "us-east-1"), dir.path())
        .await
        .expect("cluster starts");
    let target = Target::new(cluster.client(), cluster.name());
    (dir, cluster, target)
}

fn options(set: &str) -> SyncOptions {
    let mut options = SyncOptions::new(ApplySetParent::new(set, "rudder-system"));
    options.plan.prune = true;
    options
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn config_map(namespace: &str, name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": namespace}, "data": {"k": value}})
}

fn deployment(namespace: &str, name: &str, app: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": {"app": app}},
                         "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}
        }
    })
}

fn count(report: &SyncReport, wanted: &Outcome) -> usize {
    report
        .summary
        .objects
        .iter()
        .filter(|o| &o.outcome == wanted)
        .count()
}

fn failures(report: &SyncReport) -> Vec<String> {
    report
        .summary
        .objects
        .iter()
        .filter_map(|o| match &o.outcome {
            Outcome::Failed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .collect()
}

async fn sync_ok(target: &Target, objects: &[Value], options: &SyncOptions) -> SyncReport {
    let report = sync::sync(target, Ok(objects.to_vec()), options)
        .await
        .expect("sync runs");
    assert!(report.succeeded(), "{}", report.summary);
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn one_sync_creates_a_crd_with_its_custom_resource_and_a_namespace_with_its_objects() {
    let (_dir, cluster, target) = start("staged").await;
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]
        }
    });
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
                        "metadata": {"name": "w", "namespace": "shop"}, "spec": {"size": 3}});
    // Listed in the worst order on purpose: custom resource first.
    let objects = vec![
        widget,
        config_map("shop", "settings", "1"),
        crd,
        namespace("shop"),
    ];
    let options = options("staged");
    let first = sync_ok(&target, &objects, &options).await;
    assert_eq!(count(&first, &Outcome::Created), 4, "{}", first.summary);
    let widgets: Api<kube::api::DynamicObject> = Api::namespaced_with(
        cluster.client(),
        "shop",
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("example.com", "v1", "Widget"),
            "widgets",
        ),
    );
    assert_eq!(widgets.get("w").await.unwrap().data["spec"]["size"], 3);
    let second = sync_ok(&target, &objects, &options).await;
    assert_eq!(count(&second, &Outcome::Unchanged), 4, "{}", second.summary);
}

#[tokio::test(flavor = "multi_thread")]
async fn immutable_field_change_is_reported_then_recreated_when_allowed() {
    let (_dir, cluster, target) = start("immutable").await;
    let options = options("immutable");
    sync_ok(
        &target,
        &[
            namespace("imm"),
            deployment("imm", "web", "a"),
            config_map("imm", "keep", "1"),
        ],
        &options,
    )
    .await;
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), "imm");
    let first_uid = deployments.get("web").await.unwrap().metadata.uid;

    // The selector cannot change: reported with what to do, nothing pruned.
    let changed = vec![namespace("imm"), deployment("imm", "web", "b")];
    let report = sync::sync(&target, Ok(changed.clone()), &options)
        .await
        .unwrap();
    assert!(!report.succeeded());
    let errors = failures(&report);
    assert_eq!(errors.len(), 1, "{}", report.summary);
    assert!(
        errors[0].contains("immutable") && errors[0].contains("rudder.io/recreate"),
        "{}",
        errors[0]
    );
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client(), "imm");
    assert!(
        cms.get_opt("keep").await.unwrap().is_some(),
        "a failed sync pruned"
    );

    // With the annotation the object is deleted and created again.
    let mut recreate = deployment("imm", "web", "b");
    recreate["metadata"]["annotations"] = json!({"rudder.io/recreate": "true"});
    let report = sync_ok(&target, &[namespace("imm"), recreate], &options).await;
    assert!(
        report.summary.notes.iter().any(|n| n.contains("recreated")),
        "{}",
        report.summary
    );
    let live = deployments.get("web").await.unwrap();
    assert_ne!(live.metadata.uid, first_uid, "not recreated");
    assert_eq!(
        live.spec.unwrap().selector.match_labels.unwrap()["app"],
        "b"
    );
    assert!(
        cms.get_opt("keep").await.unwrap().is_none(),
        "left Git: pruned"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ignored_fields_stay_with_their_owner_and_conflicts_are_not_forced_on_request() {
    let (_dir, cluster, target) = start("owners").await;
    let options = options("owners");
    let mut web = deployment("own", "web", "web");
    web["metadata"]["annotations"] = json!({"rudder.io/ignore-fields": "/spec/replicas"});
    web["spec"]["replicas"] = json!(2);
    let hpa = json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "own"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": 1, "maxReplicas": 10}
    });
    let mut guarded = config_map("own", "guarded", "from-git");
    guarded["metadata"]["annotations"] = json!({"rudder.io/force-conflicts": "false"});
    let objects = vec![namespace("own"), web, hpa, guarded];
    let report = sync_ok(&target, &objects, &options).await;

    // The autoscaler (here: its field manager) sets replicas.
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), "own");
    let scale = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "web", "namespace": "own"}, "spec": {"replicas": 5}});
    deployments
        .patch(
            "web",
            &PatchParams::apply("horizontal-pod-autoscaler").force(),
            &Patch::Apply(&scale),
        )
        .await
        .unwrap();

    // Neither a sync nor the watcher takes replicas back.
    let desired = sync::prepare(&target, objects.clone(), &options)
        .await
        .unwrap();
    let mut watcher = DriftWatcher::start(target.clone(), options.clone(), desired, &report)
        .await
        .unwrap();
    let again = sync_ok(&target, &objects, &options).await;
    assert_eq!(count(&again, &Outcome::Unchanged), 4, "{}", again.summary);
    let quiet = tokio::time::timeout(Duration::from_secs(2), watcher.next()).await;
    assert!(
        quiet.is_err(),
        "the watcher fought the autoscaler: {quiet:?}"
    );
    assert_eq!(watcher.corrections(), 0);
    let replicas = deployments.get("web").await.unwrap().spec.unwrap().replicas;
    assert_eq!(replicas, Some(5));

    // Another manager takes a field of an object that asks not to force.
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client(), "own");
    cms.patch(
        "guarded",
        &PatchParams::apply("operator").force(),
        &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "guarded"}, "data": {"k": "operator"}})),
    )
    .await
    .unwrap();
    drop(watcher);
    let mut changed = objects.clone();
    changed[3]["data"]["k"] = json!("from-git-2");
    let report = sync::sync(&target, Ok(changed), &options).await.unwrap();
    let errors = failures(&report);
    assert_eq!(errors.len(), 1, "{}", report.summary);
    assert!(errors[0].contains("conflict"), "{}", errors[0]);
    assert_eq!(
        cms.get("guarded").await.unwrap().data.unwrap()["k"],
        "operator"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_keeps_opted_out_foreign_and_unlisted_objects_and_refuses_over_the_share() {
    let (_dir, cluster, target) = start("guards").await;
    let options = options("guards");
    let mut opted_out = config_map("g", "opted-out", "1");
    opted_out["metadata"]["annotations"] = json!({"rudder.io/prune": "disabled"});
    let mut objects = vec![namespace("g"), opted_out, config_map("g", "adopted", "1")];
    for i in 0..6 {
        objects.push(config_map("g", &format!("app-{i}"), "1"));
    }
    sync_ok(&target, &objects, &options).await;
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client(), "g");

    // Someone else's set now owns "adopted"; "stray" carries our label but
    // was never in the inventory.
    cms.patch(
        "adopted",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"applyset.kubernetes.io/part-of": "applyset-other-v1"}}})),
    )
    .await
    .unwrap();
    let id = options.parent.id().to_string();
    let mut stray = config_map("g", "stray", "1");
    stray["metadata"]["labels"] = json!({"applyset.kubernetes.io/part-of": id});
    cms.create(&Default::default(), &serde_json::from_value(stray).unwrap())
        .await
        .unwrap();

    // Over the share: 5 of 9 would go. Refused, with how many and which.
    let few = vec![namespace("g"), config_map("g", "app-0", "1")];
    let refused = sync::sync(&target, Ok(few.clone()), &options)
        .await
        .unwrap();
    let refusal = refused.prune_refusal.clone().expect("refused");
    assert!(refusal.contains("5 of 9"), "{refusal}");
    assert!(refusal.contains("ConfigMap/g/app-5"), "{refusal}");
    assert!(cms.get_opt("app-5").await.unwrap().is_some());

    // Allowed explicitly: only our own members go.
    let mut allow = options.clone();
    allow.plan.allow_over_share = true;
    let pruned = sync_ok(&target, &few, &allow).await;
    assert_eq!(count(&pruned, &Outcome::Pruned), 5, "{}", pruned.summary);
    for kept in ["opted-out", "adopted", "stray", "app-0"] {
        assert!(
            cms.get_opt(kept).await.unwrap().is_some(),
            "{kept} was pruned: {}",
            pruned.summary
        );
    }
    for gone in ["app-1", "app-5"] {
        assert!(cms.get_opt(gone).await.unwrap().is_none(), "{gone} stayed");
    }
    // Said once, in the sync where they left Git; then they are no longer
    // the set's members.
    let notes = refused.summary.notes.join("\n");
    assert!(
        notes.contains("opted-out") && notes.contains("adopted"),
        "{notes}"
    );
    assert!(
        !pruned.inventory.contains(
            &ObjectRef::from_object(&config_map("g", "opted-out", ""))
                .unwrap()
                .key()
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_is_healthy_for_a_running_deployment_and_degraded_for_a_stuck_one() {
    let (_dir, _cluster, target) = start("health").await;
    let options = options("health");
    let good = deployment("h", "good", "good");
    let mut stuck = deployment("h", "stuck", "stuck");
    stuck["spec"]["progressDeadlineSeconds"] = json!(3);
    stuck["spec"]["template"]["spec"]["nodeSelector"] = json!({"no-such-node": "true"});
    let members = |objects: &[Value]| -> Vec<ObjectRef> {
        objects
            .iter()
            .map(|o| ObjectRef::from_object(o).unwrap())
            .collect()
    };

    let healthy_set = vec![namespace("h"), good.clone()];
    sync_ok(&target, &healthy_set, &options).await;
    let report = wait::wait_for_health(
        &target,
        &options.parent,
        &members(&healthy_set),
        &options.health_rules,
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    assert_eq!(report.aggregate, AggregateHealth::Healthy, "{report:?}");

    let degraded_set = vec![namespace("h"), good, stuck];
    sync_ok(&target, &degraded_set, &options).await;
    let report = wait::wait_for_health(
        &target,
        &options.parent,
        &members(&degraded_set),
        &options.health_rules,
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    assert_eq!(report.aggregate, AggregateHealth::Degraded, "{report:?}");
    assert!(!report.timed_out);
    let lines = report.unhealthy_lines().join("\n");
    assert!(
        lines.contains("Deployment/h/stuck") && lines.contains("Failed"),
        "{lines}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_watcher_reverts_an_edit_and_recreates_a_deleted_member_at_once() {
    let (_dir, cluster, target) = start("watcher").await;
    let options = options("watcher");
    let objects = vec![
        namespace("w"),
        config_map("w", "edited", "git"),
        config_map("w", "deleted", "git"),
        config_map("w", "unlabelled", "git"),
    ];
    let desired = sync::prepare(&target, objects.clone(), &options)
        .await
        .unwrap();
    let report = sync::sync_desired(&target, Ok(desired.clone()), &options)
        .await
        .unwrap();
    let mut watcher = DriftWatcher::start(target.clone(), options.clone(), desired, &report)
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client(), "w");

    async fn next_correction(watcher: &mut DriftWatcher) -> rudder_reconciler::watch::Correction {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), watcher.next())
                .await
                .expect("a correction within 10 s")
            {
                WatchReport::Corrected(c) => return c,
                WatchReport::WatchFailed { .. } => continue,
            }
        }
    }

    // `kubectl edit` writes with an Update by manager kubectl-edit.
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    cms.patch(
        "edited",
        &edit,
        &Patch::Merge(json!({"data": {"k": "by-hand"}})),
    )
    .await
    .unwrap();
    let correction = next_correction(&mut watcher).await;
    assert_eq!(correction.reference.name, "edited");
    assert_eq!(
        correction.cause,
        DriftCause::Edited {
            by: Some("kubectl-edit".into())
        }
    );
    assert!(correction.result.is_ok(), "{correction:?}");
    assert_eq!(cms.get("edited").await.unwrap().data.unwrap()["k"], "git");

    cms.delete("deleted", &DeleteParams::default())
        .await
        .unwrap();
    let correction = next_correction(&mut watcher).await;
    assert_eq!(correction.reference.name, "deleted");
    assert_eq!(correction.cause, DriftCause::Deleted);
    assert!(cms.get_opt("deleted").await.unwrap().is_some());

    // Losing the ApplySet label counts as leaving the set: put back.
    cms.patch(
        "unlabelled",
        &edit,
        &Patch::Merge(json!({"metadata": {"labels": {"applyset.kubernetes.io/part-of": null}}})),
    )
    .await
    .unwrap();
    let correction = next_correction(&mut watcher).await;
    assert_eq!(correction.reference.name, "unlabelled");
    let labels = cms
        .get("unlabelled")
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap();
    assert!(labels.contains_key("applyset.kubernetes.io/part-of"));

    // Our own writes cause events, never work.
    let quiet = tokio::time::timeout(Duration::from_secs(2), watcher.next()).await;
    assert!(quiet.is_err(), "a correction without drift: {quiet:?}");
    assert_eq!(watcher.corrections(), 3);

    // A resync from the cache with nothing changed changes nothing.
    let resync = watcher.resync().await.unwrap();
    assert_eq!(count(&resync, &Outcome::Unchanged), 4, "{}", resync.summary);
    assert!(!resync.inventory_written);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apiserver_stopped_mid_sync_fails_the_sync_prunes_nothing_and_the_next_sync_completes() {
    let (_dir, mut cluster, target) = start("outage").await;
    let options = options("outage");
    let old: Vec<Value> = std::iter::once(namespace("o"))
        .chain((0..10).map(|i| config_map("o", &format!("old-{i}"), "1")))
        .collect();
    sync_ok(&target, &old, &options).await;

    // Keep 5 old members, add 1,000 new ones; stop the apiserver under way.
    let new: Vec<Value> = old[..6]
        .iter()
        .cloned()
        .chain((0..1000).map(|i| config_map("o", &format!("new-{i}"), "1")))
        .collect();
    let task = {
        let (target, options, new) = (target.clone(), options.clone(), new.clone());
        tokio::spawn(async move { sync::sync(&target, Ok(new), &options).await })
    };
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client(), "o");
    let lp = kube::api::ListParams::default();
    for _ in 0..200 {
        if cms.list(&lp).await.map(|l| l.items.len()).unwrap_or(0) > 30 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cluster.stop_apiserver();
    let outcome = task.await.unwrap();
    let message = match &outcome {
        Ok(report) => {
            assert!(!report.succeeded(), "{}", report.summary);
            assert_eq!(count(report, &Outcome::Pruned), 0);
            report.summary.to_string()
        }
        Err(error) => error.to_string(),
    };
    assert!(message.contains(cluster.name()), "{message}");

    cluster.start_apiserver().await.unwrap();
    for i in 5..10 {
        assert!(
            cms.get_opt(&format!("old-{i}")).await.unwrap().is_some(),
            "old-{i} pruned by a failed sync"
        );
    }
    let done = sync_ok(&target, &new, &options).await;
    assert_eq!(count(&done, &Outcome::Pruned), 5, "{}", done.summary);
    let members = kube::api::ListParams::default().labels(&options.parent.member_selector());
    assert_eq!(cms.list(&members).await.unwrap().items.len(), 1005);
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_creates_then_changes_nothing_then_prunes_behind_the_guards() {
    let (_dir, cluster, target) = start("reconcile").await;
    let options = options("web");

    // A failed render on a fresh set, without --prune, writes nothing at
    // all: no parent namespace, no inventory.
    let fresh = SyncOptions::new(ApplySetParent::new("fresh", "fresh-system"));
    let failed = sync::sync(&target, Err("kustomization.yaml: bad".into()), &fresh)
        .await
        .unwrap();
    assert!(!failed.inventory_written);
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cluster.client());
    assert!(
        namespaces.get_opt("fresh-system").await.unwrap().is_none(),
        "a failed render created the parent namespace"
    );

    let objects = vec![
        namespace("apps"),
        config_map("apps", "a", "1"),
        config_map("apps", "b", "2"),
        config_map("apps", "c", "3"),
    ];
    let first = sync::sync(&target, Ok(objects.clone()), &options)
        .await
        .unwrap();
    assert!(first.succeeded(), "{}", first.summary);
    assert_eq!(count(&first, &Outcome::Created), 4, "{}", first.summary);
    assert!(first.inventory_written);
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client(), "apps");
    let a = cms.get("a").await.unwrap();
    assert!(
        a.metadata.labels.unwrap()["applyset.kubernetes.io/part-of"].starts_with("applyset-"),
        "members carry the part-of label"
    );

    // Nothing changed: every object unchanged, the inventory not rewritten.
    let second = sync::sync(&target, Ok(objects.clone()), &options)
        .await
        .unwrap();
    assert_eq!(count(&second, &Outcome::Unchanged), 4, "{}", second.summary);
    assert!(!second.inventory_written);

    // Someone edits a member: it has drifted and is re-applied.
    cms.patch(
        "b",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "edited"}})),
    )
    .await
    .unwrap();
    let healed = sync::sync(&target, Ok(objects.clone()), &options)
        .await
        .unwrap();
    assert_eq!(
        count(&healed, &Outcome::Configured),
        1,
        "{}",
        healed.summary
    );
    assert_eq!(cms.get("b").await.unwrap().data.unwrap()["k"], "2");

    // An empty render would prune everything: refused, nothing deleted.
    let empty = sync::sync(&target, Ok(Vec::new()), &options).await.unwrap();
    assert!(!empty.succeeded());
    assert!(
        empty.prune_refusal.as_deref().unwrap().contains("4"),
        "{:?}",
        empty.prune_refusal
    );
    assert!(
        cms.get_opt("a").await.unwrap().is_some(),
        "an empty render pruned a member"
    );

    // A failed render changes nothing either.
    let failed = sync::sync(&target, Err("kustomization.yaml: bad".into()), &options)
        .await
        .unwrap();
    assert!(!failed.succeeded());
    assert!(cms.get_opt("c").await.unwrap().is_some());

    // A change in Git: that object alone is written.
    let mut updated = objects.clone();
    updated[1] = config_map("apps", "a", "changed");
    let update = sync::sync(&target, Ok(updated), &options).await.unwrap();
    assert_eq!(
        count(&update, &Outcome::Configured),
        1,
        "{}",
        update.summary
    );
    assert_eq!(count(&update, &Outcome::Unchanged), 3, "{}", update.summary);
    assert_eq!(cms.get("a").await.unwrap().data.unwrap()["k"], "changed");

    // One object left Git (25% of the set): pruned.
    let fewer = vec![
        namespace("apps"),
        config_map("apps", "a", "1"),
        config_map("apps", "b", "2"),
    ];
    let pruned = sync::sync(&target, Ok(fewer), &options).await.unwrap();
    assert!(pruned.succeeded(), "{}", pruned.summary);
    assert_eq!(count(&pruned, &Outcome::Pruned), 1, "{}", pruned.summary);
    assert!(cms.get_opt("c").await.unwrap().is_none());
    assert!(cms.get_opt("a").await.unwrap().is_some());
}
