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
use k8s_openapi::api::core::v1::Secret;
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
pub async fn record(
    target: Target,
    parent: ApplySetParent,
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
            match write(&target, &parent, &record).await {
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
) -> Result<(), inventory_store::InventoryStoreError> {
    let annotations = record.annotations();
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
/// sync; and passes each app's suspension on.
pub async fn watch_parents(
    target: Target,
    namespace: String,
    apps: BTreeMap<String, ParentSignals>,
    triggers: mpsc::Sender<Trigger>,
    mut shutdown: watch::Receiver<bool>,
) {
    let api: kube::Api<Secret> = kube::Api::namespaced(target.client(), &namespace);
    let config = watcher::Config::default().labels(ID_LABEL);
    let stream = watcher(api, config).default_backoff();
    tokio::pin!(stream);
    let mut passed_on: BTreeMap<String, String> = BTreeMap::new();
    // The apps whose parent the current listing has shown.
    let mut listed: std::collections::BTreeSet<String> = Default::default();
    let mut failing = false;
    loop {
        let event = tokio::select! {
            event = stream.next() => event,
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
                for (name, app) in &apps {
                    if !listed.contains(name) {
                        set_suspended(name, &app.suspended, false);
                    }
                }
                continue;
            }
            Ok(watcher::Event::Delete(secret)) => {
                if let Some(app) = secret.metadata.name.as_ref().and_then(|n| apps.get(n)) {
                    set_suspended(
                        secret.metadata.name.as_deref().unwrap_or_default(),
                        &app.suspended,
                        false,
                    );
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
        set_suspended(name, &app.suspended, parent_record::suspended(&annotations));
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

/// Passes a suspension on when it changed, saying so in the log.
fn set_suspended(app: &str, state: &watch::Sender<Option<bool>>, suspended: bool) {
    let changed = state.send_if_modified(|known| {
        let changed = *known != Some(suspended);
        *known = Some(suspended);
        changed
    });
    if changed {
        tracing::info!(%app, suspended, "suspension read from the ApplySet parent (rudder.io/suspend)");
    }
}
