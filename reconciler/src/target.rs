//! The cluster rudder reconciles: a kube client, the name people know it by
//! (for error messages), and a discovery cache that maps each
//! group/version/kind to its REST resource and scope.
//!
//! Discovery is fetched per group-version on first use only (one GET each),
//! and forgotten for a group when a CRD stage changed it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
}

type GroupResources = Arc<Vec<(ApiResource, ApiCapabilities)>>;

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
