//! The agent and its apps' ApplySet parents, beyond the inventory: one
//! recorder per app writes the app's outcome onto its parent when the
//! outcome changed ([`crate::parent_record`]), and one watch over the
//! parents turns a `rudder reconcile` request (a new
//! `rudder.io/reconcile-requested-at`) into a fetch and a sync of that app,
//! and tells each app whether `rudder suspend` has suspended it
//! (`rudder.io/suspend: "true"`).
//! Both are best effort: a cluster that refuses or is down costs a warning
//! and a retry, never a sync.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher;
use rudder_reconciler::applyset::{ApplySetParent, ID_LABEL};
use rudder_reconciler::inventory::Inventory;
use rudder_reconciler::inventory_store;
use rudder_reconciler::target::Target;
use tokio::sync::{mpsc, watch};

use crate::parent_record::{self, AppRecord};
use crate::server::Trigger;

/// The field manager of the recorded annotations.
pub const RECORD_FIELD_MANAGER: &str = "rudder-status";

/// First and largest pause before writing a record again after a failure.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Writes the newest record of one app whenever its outcome differs from
/// the last one written; records that arrive during a write coalesce.
/// `fixed` holds the annotations that describe the app rather than its
/// outcome (agent, deletion policy, dependencies), written with every
/// record.
pub async fn record(
    target: Target,
    parent: ApplySetParent,
    fixed: BTreeMap<&'static str, Option<String>>,
    mut records: watch::Receiver<Option<AppRecord>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut written: Option<AppRecord> = None;
    let mut backoff = RETRY_FIRST;
    loop {
        let latest = records.borrow_and_update().clone();
        if let Some(record) = latest
            && written.as_ref() != Some(&record.outcome())
        {
            match write(&target, &parent, &record, &fixed).await {
                Ok(()) => {
                    written = Some(record.outcome());
                    backoff = RETRY_FIRST;
                }
                Err(error) => {
                    tracing::warn!(app = %record.name, %error, retry_in_s = backoff.as_secs(), "could not record the app's outcome on its ApplySet parent");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => return,
                    }
                    backoff = (backoff * 2).min(RETRY_MAX);
                    continue;
                }
            }
        }
        tokio::select! {
            changed = records.changed() => if changed.is_err() { return },
            _ = shutdown.changed() => return,
        }
    }
}

/// Merges the record into the parent; a parent that does not exist yet (an
/// app whose first commit failed to render) is created empty first, so the
/// failure is on record.
async fn write(
    target: &Target,
    parent: &ApplySetParent,
    record: &AppRecord,
    fixed: &BTreeMap<&'static str, Option<String>>,
) -> Result<(), inventory_store::InventoryStoreError> {
    let mut annotations = record.annotations();
    annotations.extend(fixed.iter().map(|(k, v)| (*k, v.clone())));
    if inventory_store::annotate(target, parent, RECORD_FIELD_MANAGER, &annotations).await? {
        return Ok(());
    }
    inventory_store::write(target, parent, None, &Inventory::new()).await?;
    inventory_store::annotate(target, parent, RECORD_FIELD_MANAGER, &annotations).await?;
    Ok(())
}

/// What the parents' watch tells one app.
pub struct ParentSignals {
    /// Its queue of reconcile requests.
    pub reconcile: mpsc::Sender<String>,
    /// Whether it is suspended; `None` until the watch has listed once.
    pub suspended: watch::Sender<Option<bool>>,
}

/// Watches the ApplySet parents in `namespace`: for an app whose parent
/// carries a reconcile request it has not handled (and that this watch has
/// not passed on yet), asks the source for a fetch and then the app for a
/// sync; and passes each app's suspension on: its parent's
/// `rudder.io/suspend`, or the same annotation on the Namespace `namespace`
/// itself, which suspends every app of the agent.
pub async fn watch_parents(
    target: Target,
    namespace: String,
    apps: BTreeMap<String, ParentSignals>,
    triggers: mpsc::Sender<Trigger>,
    mut shutdown: watch::Receiver<bool>,
) {
    let api: kube::Api<Secret> = kube::Api::namespaced(target.client(), &namespace);
    let parents = watcher(api, watcher::Config::default().labels(ID_LABEL)).default_backoff();
    tokio::pin!(parents);
    let namespaces: kube::Api<Namespace> = kube::Api::all(target.client());
    let own = watcher(
        namespaces,
        watcher::Config::default().fields(&format!("metadata.name={namespace}")),
    )
    .default_backoff();
    tokio::pin!(own);
    let mut passed_on: BTreeMap<String, String> = BTreeMap::new();
    // The apps whose parent the current listing has shown.
    let mut listed: std::collections::BTreeSet<String> = Default::default();
    let mut suspension = Suspension::default();
    let mut failing = false;
    loop {
        let event = tokio::select! {
            event = parents.next() => event,
            event = own.next() => {
                match event {
                    Some(Ok(watcher::Event::Apply(ns) | watcher::Event::InitApply(ns))) => {
                        let annotations = ns.metadata.annotations.unwrap_or_default();
                        suspension.agent = Some(parent_record::suspended(&annotations));
                    }
                    Some(Ok(watcher::Event::InitDone)) if suspension.agent.is_none() => {
                        suspension.agent = Some(false);
                    }
                    Some(Ok(_)) | None => {}
                    Some(Err(error)) => {
                        if suspension.agent.is_none() {
                            tracing::warn!(%namespace, %error, "cannot watch this agent's Namespace for rudder.io/suspend (grant list and watch on it); going on as not suspended");
                            suspension.agent = Some(false);
                        }
                    }
                }
                suspension.publish(&apps);
                continue;
            }
            _ = shutdown.changed() => return,
        };
        let Some(event) = event else { return };
        let secret = match event {
            Ok(watcher::Event::Apply(secret) | watcher::Event::InitApply(secret)) => secret,
            Ok(watcher::Event::Init) => {
                listed.clear();
                continue;
            }
            Ok(watcher::Event::InitDone) => {
                // Apps without a parent yet are not suspended.
                for name in apps.keys() {
                    if !listed.contains(name) {
                        suspension.apps.insert(name.clone(), false);
                    }
                }
                suspension.publish(&apps);
                continue;
            }
            Ok(watcher::Event::Delete(secret)) => {
                if let Some(name) = secret.metadata.name.filter(|n| apps.contains_key(n)) {
                    suspension.apps.insert(name, false);
                    suspension.publish(&apps);
                }
                continue;
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(%namespace, %error, "watching the ApplySet parents for reconcile requests failed; retrying with backoff");
                }
                failing = true;
                continue;
            }
        };
        failing = false;
        let Some(name) = secret.metadata.name.as_deref() else {
            continue;
        };
        let Some(app) = apps.get(name) else { continue };
        listed.insert(name.to_string());
        let annotations = secret.metadata.annotations.unwrap_or_default();
        suspension
            .apps
            .insert(name.to_string(), parent_record::suspended(&annotations));
        suspension.publish(&apps);
        let Some(requested) = parent_record::pending_reconcile(&annotations) else {
            continue;
        };
        if passed_on.get(name).map(String::as_str) == Some(requested) {
            continue;
        }
        tracing::info!(app = %name, requested_at = %requested, "reconcile requested on the ApplySet parent");
        passed_on.insert(name.to_string(), requested.to_string());
        let trigger = Trigger::Reconcile {
            app: app.reconcile.clone(),
            requested_at: requested.to_string(),
        };
        if triggers.send(trigger).await.is_err() {
            return;
        }
    }
}

/// What is known of the suspensions: the agent's (its Namespace's
/// annotation) and each app's (its parent's); `None` until read.
#[derive(Default)]
struct Suspension {
    agent: Option<bool>,
    apps: BTreeMap<String, bool>,
}

impl Suspension {
    /// Tells each app whose state is known whether it is suspended.
    fn publish(&self, apps: &BTreeMap<String, ParentSignals>) {
        let Some(agent) = self.agent else { return };
        for (name, signals) in apps {
            if let Some(own) = self.apps.get(name) {
                set_suspended(name, &signals.suspended, agent || *own);
            }
        }
    }
}

/// Passes a suspension on when it changed, saying so in the log.
fn set_suspended(app: &str, state: &watch::Sender<Option<bool>>, suspended: bool) {
    let changed = state.send_if_modified(|known| {
        let changed = *known != Some(suspended);
        *known = Some(suspended);
        changed
    });
    if changed {
        tracing::info!(%app, suspended, "suspension read (rudder.io/suspend on the ApplySet parent or on the agent's Namespace)");
    }
}

/// An app that left the apps file, as its parent recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartedApp {
    pub name: String,
    /// `delete`: prune its objects; anything else: orphan them.
    pub delete: bool,
    pub depends_on: Vec<String>,
}

/// The order to remove departed apps in: an app only after every departed
/// app that depends on it (the reverse of the order they were synced in).
pub fn removal_order(mut apps: Vec<DepartedApp>) -> Vec<DepartedApp> {
    apps.sort_by(|a, b| a.name.cmp(&b.name));
    let mut ordered = Vec::with_capacity(apps.len());
    while !apps.is_empty() {
        let next = apps
            .iter()
            .position(|app| {
                !apps
                    .iter()
                    .any(|other| other.depends_on.contains(&app.name))
            })
            // A cycle (the file that made it was refused, so only by hand):
            // take them in name order.
            .unwrap_or(0);
        ordered.push(apps.remove(next));
    }
    ordered
}

/// Removes the apps this agent (`agent`, its `--lease-name`) ran that are
/// no longer among `current`: with deletion policy `delete`, their objects
/// are pruned first (reverse wave and stage order, ignoring the share cap
/// the policy itself allows, never when a member cannot be read); then the
/// parent goes. Failures are logged and tried again at the next start.
pub async fn remove_departed_apps(
    target: &Target,
    namespace: &str,
    agent: &str,
    current: &[String],
    concurrency: usize,
) {
    let api: kube::Api<Secret> = kube::Api::namespaced(target.client(), namespace);
    let parents = match api
        .list(&kube::api::ListParams::default().labels(ID_LABEL))
        .await
    {
        Ok(list) => list.items,
        Err(error) => {
            tracing::warn!(%namespace, %error, "could not list the ApplySet parents to find apps that left the apps file; trying at the next start");
            return;
        }
    };
    let departed: Vec<DepartedApp> = parents
        .into_iter()
        .filter_map(|parent| {
            let name = parent.metadata.name?;
            let annotations = parent.metadata.annotations.unwrap_or_default();
            (annotations.get(parent_record::AGENT).map(String::as_str) == Some(agent)
                && !current.contains(&name))
            .then(|| DepartedApp {
                delete: annotations
                    .get(parent_record::DELETION_POLICY)
                    .is_some_and(|p| p == "delete"),
                depends_on: annotations
                    .get(parent_record::DEPENDS_ON)
                    .map(|d| d.split(',').map(str::to_owned).collect())
                    .unwrap_or_default(),
                name,
            })
        })
        .collect();
    for app in removal_order(departed) {
        let parent = ApplySetParent::new(app.name.clone(), namespace);
        if app.delete {
            let mut options = rudder_reconciler::sync::SyncOptions::new(parent.clone());
            options.plan.prune = true;
            options.plan.allow_empty_render = true;
            options.plan.allow_over_share = true;
            options.plan.max_prune_share = 1.0;
            options.concurrency = concurrency;
            match rudder_reconciler::sync::sync(target, Ok(Vec::new()), &options).await {
                Ok(report) if report.succeeded() => {
                    tracing::info!(app = %app.name, pruned = report.summary.counts().pruned, "app left the apps file with deletionPolicy delete: its objects are pruned");
                }
                Ok(report) => {
                    tracing::warn!(app = %app.name, summary = %report.summary.to_string().trim_end(), "app left the apps file: pruning its objects failed; its parent stays, tried again at the next start");
                    continue;
                }
                Err(error) => {
                    tracing::warn!(app = %app.name, %error, "app left the apps file: pruning its objects failed; its parent stays, tried again at the next start");
                    continue;
                }
            }
        } else {
            tracing::info!(app = %app.name, "app left the apps file (deletionPolicy orphan): its objects stay, its ApplySet parent goes");
        }
        match api.delete(&app.name, &Default::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => {
                tracing::warn!(app = %app.name, %error, "could not delete the ApplySet parent of an app that left the apps file")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str, depends_on: &[&str]) -> DepartedApp {
        DepartedApp {
            name: name.into(),
            delete: true,
            depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn dependents_are_removed_before_what_they_depend_on() {
        let order: Vec<String> = removal_order(vec![
            app("crds", &[]),
            app("workloads", &["platform"]),
            app("platform", &["crds"]),
            app("other", &[]),
        ])
        .into_iter()
        .map(|a| a.name)
        .collect();
        let at = |n: &str| order.iter().position(|o| o == n).unwrap();
        assert!(
            at("workloads") < at("platform") && at("platform") < at("crds"),
            "{order:?}"
        );
        assert_eq!(order.len(), 4);
    }
}
