//! The cluster rudder reconciles: a kube client, the name people know it by
//! (for error messages), and a discovery cache that maps each
//! group/version/kind to its REST resource and scope.
//!
//! Kinds built into every apiserver (Deployment, ConfigMap, ...) resolve from
//! a table made from k8s-openapi's types, without a request. Other kinds
//! are discovered per group-version on first use only (one GET each), and
//! forgotten for a group when a CRD stage changed it.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersion};
use kube::discovery::{ApiCapabilities, Scope};

use crate::object::ObjectRef;

/// A resolved kind: how to reach it and whether it is namespaced.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub resource: ApiResource,
    pub namespaced: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "cluster {cluster}: {kind} is not served at {api_version} (is its CustomResourceDefinition installed and Established?)"
    )]
    UnknownKind {
        cluster: String,
        kind: String,
        api_version: String,
    },
    #[error(
        "cluster {cluster}: discovery of {api_version} failed: {source} (is the apiserver reachable?)"
    )]
    Discovery {
        cluster: String,
        api_version: String,
        #[source]
        source: kube::Error,
    },
    #[error("cluster {cluster}: reading {what} failed: {source} (is the apiserver reachable?)")]
    Read {
        cluster: String,
        what: String,
        #[source]
        source: kube::Error,
    },
}

impl TargetError {
    /// The failure class: a kind not served is the manifest's problem, a
    /// refused read is RBAC's, anything else the connection's.
    pub fn class(&self) -> crate::apply::FailureClass {
        use crate::apply::FailureClass;
        match self {
            TargetError::UnknownKind { .. } => FailureClass::Invalid,
            TargetError::Discovery { source, .. } | TargetError::Read { source, .. } => {
                match FailureClass::of_kube_error(source) {
                    FailureClass::Forbidden => FailureClass::Forbidden,
                    _ => FailureClass::Transport,
                }
            }
        }
    }

    /// A failure of the connection to the cluster rather than of a kind.
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            TargetError::Discovery { .. } | TargetError::Read { .. }
        )
    }
}

type GroupResources = Arc<Vec<(ApiResource, ApiCapabilities)>>;

/// The built-in kinds rudder meets most, with their scope (namespaced?).
fn builtin_table() -> &'static HashMap<(String, String), Resolved> {
    use k8s_openapi::api::{
        admissionregistration::v1 as admission, apps::v1 as apps, autoscaling::v2 as autoscaling,
        batch::v1 as batch, coordination::v1 as coordination, core::v1 as core,
        networking::v1 as networking, policy::v1 as policy, rbac::v1 as rbac,
        scheduling::v1 as scheduling, storage::v1 as storage,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    macro_rules! table {
        ($($kind:ty => $namespaced:expr),* $(,)?) => {
            [$((ApiResource::erase::<$kind>(&()), $namespaced)),*]
                .into_iter()
                .map(|(resource, namespaced)| {
                    ((resource.api_version.clone(), resource.kind.clone()), Resolved { resource, namespaced })
                })
                .collect()
        };
    }
    static TABLE: OnceLock<HashMap<(String, String), Resolved>> = OnceLock::new();
    TABLE.get_or_init(|| {
        table! {
            core::ConfigMap => true, core::Secret => true, core::Service => true,
            core::ServiceAccount => true, core::Pod => true, core::PersistentVolumeClaim => true,
            core::LimitRange => true, core::ResourceQuota => true,
            apps::Deployment => true, apps::StatefulSet => true, apps::DaemonSet => true,
            apps::ReplicaSet => true, batch::Job => true, batch::CronJob => true,
            autoscaling::HorizontalPodAutoscaler => true, networking::Ingress => true,
            networking::NetworkPolicy => true, policy::PodDisruptionBudget => true,
            rbac::Role => true, rbac::RoleBinding => true, coordination::Lease => true,
            core::Namespace => false, core::PersistentVolume => false,
            rbac::ClusterRole => false, rbac::ClusterRoleBinding => false,
            apiextensions::CustomResourceDefinition => false, storage::StorageClass => false,
            networking::IngressClass => false, scheduling::PriorityClass => false,
            admission::MutatingWebhookConfiguration => false,
            admission::ValidatingWebhookConfiguration => false,
        }
    })
}

/// A built-in kind, resolved without discovery.
fn builtin(api_version: &str, kind: &str) -> Option<Resolved> {
    builtin_table()
        .get(&(api_version.to_string(), kind.to_string()))
        .cloned()
}

/// The cluster under reconciliation.
#[derive(Clone)]
pub struct Target {
    client: kube::Client,
    name: String,
    discovered: Arc<Mutex<HashMap<String, GroupResources>>>,
}

impl Target {
    /// `name` is what people call this cluster (context name or server URL).
    pub fn new(client: kube::Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
            discovered: Arc::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// Resolves an object's kind to its resource and scope.
    pub async fn resolve(&self, reference: &ObjectRef) -> Result<Resolved, TargetError> {
        let api_version = reference.api_version();
        if let Some(resolved) = builtin(&api_version, &reference.kind) {
            return Ok(resolved);
        }
        let cached = self.cache().get(&api_version).cloned();
        let resources = match cached {
            Some(resources) => resources,
            None => {
                let gv: GroupVersion = GroupVersion::gv(&reference.group, &reference.version);
                let group = kube::discovery::oneshot::pinned_group(&self.client, &gv)
                    .await
                    .map_err(|source| match &source {
                        kube::Error::Api(status) if status.code == 404 => {
                            TargetError::UnknownKind {
                                cluster: self.name.clone(),
                                kind: reference.kind.clone(),
                                api_version: api_version.clone(),
                            }
                        }
                        _ => TargetError::Discovery {
                            cluster: self.name.clone(),
                            api_version: api_version.clone(),
                            source,
                        },
                    })?;
                let resources: GroupResources =
                    Arc::new(group.versioned_resources(&reference.version));
                self.cache().insert(api_version.clone(), resources.clone());
                resources
            }
        };
        resources
            .iter()
            .find(|(resource, _)| resource.kind == reference.kind)
            .map(|(resource, caps)| Resolved {
                resource: resource.clone(),
                namespaced: caps.scope == Scope::Namespaced,
            })
            .ok_or_else(|| TargetError::UnknownKind {
                cluster: self.name.clone(),
                kind: reference.kind.clone(),
                api_version,
            })
    }

    /// Like [`Target::resolve`], but a kind the cluster does not serve is
    /// `None` (it has no live objects) rather than an error.
    pub async fn resolve_served(
        &self,
        reference: &ObjectRef,
    ) -> Result<Option<Resolved>, TargetError> {
        match self.resolve(reference).await {
            Ok(resolved) => Ok(Some(resolved)),
            Err(TargetError::UnknownKind { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The error for a failed LIST or GET of `what` (e.g. `Deployment.apps`
    /// or `ConfigMap/shop/settings`).
    pub fn read_failed(&self, what: impl fmt::Display, source: kube::Error) -> TargetError {
        TargetError::Read {
            cluster: self.name.clone(),
            what: what.to_string(),
            source,
        }
    }

    /// Forgets what discovery said about `group` (a CRD there changed).
    pub fn forget_group(&self, group: &str) {
        self.cache()
            .retain(|api_version, _| api_version.split_once('/').map(|(g, _)| g) != Some(group));
    }

    /// The API for one object (its namespace when namespaced).
    pub fn api_for(&self, resolved: &Resolved, namespace: Option<&str>) -> Api<DynamicObject> {
        match (resolved.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &resolved.resource),
            _ => Api::all_with(self.client.clone(), &resolved.resource),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, GroupResources>> {
        self.discovered.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_kinds_resolve_with_their_plural_and_scope() {
        let deployment = builtin("apps/v1", "Deployment").unwrap();
        assert_eq!(deployment.resource.plural, "deployments");
        assert!(deployment.namespaced);
        let namespace = builtin("v1", "Namespace").unwrap();
        assert_eq!(namespace.resource.plural, "namespaces");
        assert!(!namespace.namespaced);
        let hpa = builtin("autoscaling/v2", "HorizontalPodAutoscaler").unwrap();
        assert_eq!(hpa.resource.plural, "horizontalpodautoscalers");
    }

    #[test]
    fn other_versions_and_custom_kinds_need_discovery() {
        assert!(builtin("autoscaling/v1", "HorizontalPodAutoscaler").is_none());
        assert!(builtin("example.com/v1", "Widget").is_none());
    }
}
