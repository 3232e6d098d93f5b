//! The reconciler against a real apiserver: create, a no-op second sync,
//! prune with its guards, and drift detected from the live object.

use integration_tests::{Cluster, ClusterOptions};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use rudder_reconciler::applyset::ApplySetParent;
use rudder_reconciler::summary::Outcome;
use rudder_reconciler::sync::{SyncOptions, sync};
use rudder_reconciler::target::Target;
use serde_json::{Value, json};

fn config_map(name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "apps"}, "data": {"k": value}})
}

fn namespace() -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
}

fn count(report: &rudder_reconciler::sync::SyncReport, wanted: &Outcome) -> usize {
    report
        .summary
        .objects
        .iter()
        .filter(|o| &o.outcome == wanted)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_creates_then_changes_nothing_then_prunes_behind_the_guards() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(ClusterOptions::new("reconcile", "us-east-1"), dir.path())
        .await
        .expect("cluster starts");
    let target = Target::new(cluster.client(), cluster.name());
    let mut options = SyncOptions::new(ApplySetParent::new("web", "rudder-system"));
    options.plan.prune = true;

    // A failed render on a fresh set, without --prune, writes nothing at
    // all: no parent namespace, no inventory.
    let fresh = SyncOptions::new(ApplySetParent::new("fresh", "fresh-system"));
    let failed = sync(&target, Err("kustomization.yaml: bad".into()), &fresh)
        .await
        .unwrap();
    assert!(!failed.inventory_written);
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cluster.client());
    assert!(
        namespaces.get_opt("fresh-system").await.unwrap().is_none(),
        "a failed render created the parent namespace"
    );

    let objects = vec![
        namespace(),
        config_map("a", "1"),
        config_map("b", "2"),
        config_map("c", "3"),
    ];
    let first = sync(&target, Ok(objects.clone()), &options).await.unwrap();
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
    let second = sync(&target, Ok(objects.clone()), &options).await.unwrap();
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
    let healed = sync(&target, Ok(objects.clone()), &options).await.unwrap();
    assert_eq!(
        count(&healed, &Outcome::Configured),
        1,
        "{}",
        healed.summary
    );
    assert_eq!(cms.get("b").await.unwrap().data.unwrap()["k"], "2");

    // An empty render would prune everything: refused, nothing deleted.
    let empty = sync(&target, Ok(Vec::new()), &options).await.unwrap();
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
    let failed = sync(&target, Err("kustomization.yaml: bad".into()), &options)
        .await
        .unwrap();
    assert!(!failed.succeeded());
    assert!(cms.get_opt("c").await.unwrap().is_some());

    // One object left Git (25% of the set): pruned.
    let fewer = vec![namespace(), config_map("a", "1"), config_map("b", "2")];
    let pruned = sync(&target, Ok(fewer), &options).await.unwrap();
    assert!(pruned.succeeded(), "{}", pruned.summary);
    assert_eq!(count(&pruned, &Outcome::Pruned), 1, "{}", pruned.summary);
    assert!(cms.get_opt("c").await.unwrap().is_none());
    assert!(cms.get_opt("a").await.unwrap().is_some());
}
