//! Server-side apply of one object, with rudder's per-object rules: forced
//! conflicts unless `rudder.io/force-conflicts: "false"`, taking over fields
//! `kubectl` wrote outside server-side apply, and delete-and-recreate on an
//! immutable-field error when allowed (`rudder.io/recreate: "true"` or the
//! `recreate` option).

use std::time::{Duration, Instant};

use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
use serde_json::Value;

use crate::fingerprint::fingerprint;
use crate::object::{self, DesiredObject, ObjectHash};
use crate::takeover::takeover_managed_fields;
use crate::target::{Target, TargetError};

/// rudder's field manager when none is configured (`rudder sync`). The agent
/// gives each app its own, `rudder/<app>`, so two apps never strip each
/// other's fields.
pub const FIELD_MANAGER: &str = "rudder";

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Delete and recreate on immutable-field errors for every object.
    pub recreate: bool,
    /// The server-side apply field manager.
    pub field_manager: String,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            recreate: false,
            field_manager: FIELD_MANAGER.to_string(),
        }
    }
}

/// Why an object could not be applied or pruned, in the few classes an
/// operator acts on differently: retry later (transport), fix RBAC
/// (forbidden), fix the manifest (invalid), resolve ownership (conflict),
/// allow recreation (immutable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureClass {
    Transport,
    Forbidden,
    Invalid,
    Conflict,
    Immutable,
}

impl FailureClass {
    pub const ALL: [FailureClass; 5] = [
        FailureClass::Transport,
        FailureClass::Forbidden,
        FailureClass::Invalid,
        FailureClass::Conflict,
        FailureClass::Immutable,
    ];

    /// The class of an error the apiserver (or the way to it) returned.
    pub fn of_kube_error(error: &kube::Error) -> Self {
        match error {
            kube::Error::Api(status) => Self::of_status_code(status.code),
            _ => FailureClass::Transport,
        }
    }

    /// The class of an HTTP status the apiserver answered with.
    pub fn of_status_code(code: u16) -> Self {
        match code {
            401 | 403 => FailureClass::Forbidden,
            409 => FailureClass::Conflict,
            429 | 500.. => FailureClass::Transport,
            _ => FailureClass::Invalid,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Transport => "transport",
            FailureClass::Forbidden => "forbidden",
            FailureClass::Invalid => "invalid",
            FailureClass::Conflict => "conflict",
            FailureClass::Immutable => "immutable",
        }
    }
}

impl std::fmt::Display for FailureClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Created,
    Configured,
    Recreated,
}

/// A successful apply: the live object the server returned and its drift
/// fingerprint.
#[derive(Debug, Clone)]
pub struct ApplyResult {
    pub applied: Applied,
    pub live: Value,
    pub fingerprint: ObjectHash,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("{object}: {message}")]
    Invalid { object: String, message: String },
    #[error(
        "{object}: conflict with another field manager (rudder.io/force-conflicts is \"false\", so rudder does not overwrite): {message}"
    )]
    Conflict { object: String, message: String },
    #[error(
        "{object}: a field that cannot change was changed: {message}; annotate the object with rudder.io/recreate: \"true\" (or pass --recreate) to delete and recreate it"
    )]
    Immutable { object: String, message: String },
    #[error("{object}: apply rejected by cluster {cluster}: {message}")]
    Rejected {
        object: String,
        cluster: String,
        /// The HTTP status the apiserver answered with.
        code: u16,
        message: String,
    },
    #[error("{object}: cluster {cluster} unreachable or failing: {source}")]
    Transport {
        object: String,
        cluster: String,
        #[source]
        source: kube::Error,
    },
}

impl ApplyError {
    /// The class of this failure.
    pub fn class(&self) -> FailureClass {
        match self {
            ApplyError::Target(error) => error.class(),
            ApplyError::Invalid { .. } => FailureClass::Invalid,
            ApplyError::Conflict { .. } => FailureClass::Conflict,
            ApplyError::Immutable { .. } => FailureClass::Immutable,
            ApplyError::Rejected { code, .. } => FailureClass::of_status_code(*code),
            ApplyError::Transport { .. } => FailureClass::Transport,
        }
    }

    /// A failure of the connection rather than of this object.
    pub fn is_transport(&self) -> bool {
        match self {
            ApplyError::Transport { .. } => true,
            ApplyError::Target(error) => error.is_transport(),
            _ => false,
        }
    }
}

fn is_immutable(status: &kube::core::Status) -> bool {
    status.code == 422 && status.message.contains("immutable")
}

/// Applies `desired` (which already carries the ApplySet label). `live` is
/// the object as last seen, when known, to take over `kubectl`'s fields.
pub async fn apply_object(
    target: &Target,
    desired: &DesiredObject,
    live: Option<&Value>,
    options: &ApplyOptions,
) -> Result<ApplyResult, ApplyError> {
    let reference = &desired.reference;
    let object_name = reference.to_string();
    let invalid = |message: String| ApplyError::Invalid {
        object: object_name.clone(),
        message,
    };
    let (api, params) = apply_request(target, desired, &options.field_manager).await?;
    let recreate = options.recreate
        || object::recreate_allowed(&desired.object).map_err(|e| invalid(e.to_string()))?;
    let transport = |source: kube::Error| ApplyError::Transport {
        object: object_name.clone(),
        cluster: target.name().to_string(),
        source,
    };

    let manager = options.field_manager.as_str();
    if let Some(managed_fields) = live.and_then(|l| takeover_managed_fields(l, manager)) {
        let patch = serde_json::json!({"metadata": {"managedFields": managed_fields}});
        match api
            .patch(
                &reference.name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => tracing::info!(object = %object_name, "took over fields written by kubectl"),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(kube::Error::Api(status)) => {
                return Err(ApplyError::Rejected {
                    object: object_name,
                    cluster: target.name().to_string(),
                    code: status.code,
                    message: status.message.clone(),
                });
            }
            Err(e) => return Err(transport(e)),
        }
    }

    let existed = live.is_some();
    let result = api
        .patch(&reference.name, &params, &Patch::Apply(&*desired.object))
        .await;
    let (applied, response) = match result {
        Ok(response) if !existed && created_by_this_apply(&response, manager) => {
            (Applied::Created, response)
        }
        Ok(response) => (Applied::Configured, response),
        Err(kube::Error::Api(status)) if is_immutable(&status) && recreate => {
            tracing::warn!(object = %object_name, "immutable field changed: deleting and recreating");
            delete_and_wait_gone(&api, &reference.name)
                .await
                .map_err(transport)?;
            let response = api
                .patch(&reference.name, &params, &Patch::Apply(&*desired.object))
                .await
                .map_err(|e| classify(e, &object_name, target.name()))?;
            (Applied::Recreated, response)
        }
        Err(e) => return Err(classify(e, &object_name, target.name())),
    };
    let live = serde_json::to_value(&response).map_err(|e| invalid(e.to_string()))?;
    Ok(ApplyResult {
        applied,
        fingerprint: fingerprint(&desired.object, &live),
        live,
    })
}

/// What every server-side apply of `desired` needs: the API for its kind
/// and namespace, and rudder's apply parameters, forced unless the object
/// says `rudder.io/force-conflicts: "false"`.
async fn apply_request(
    target: &Target,
    desired: &DesiredObject,
    field_manager: &str,
) -> Result<(kube::Api<DynamicObject>, PatchParams), ApplyError> {
    let force = object::force_conflicts(&desired.object).map_err(|e| ApplyError::Invalid {
        object: desired.reference.to_string(),
        message: e.to_string(),
    })?;
    let resolved = target.resolve(&desired.reference).await?;
    let api = target.api_for(&resolved, desired.reference.namespace.as_deref());
    let mut params = PatchParams::apply(field_manager);
    params.force = force;
    Ok((api, params))
}

/// What the server would make of `desired`: a server-side apply with
/// `dryRun=All` (forced, as a real sync is unless the object says
/// otherwise). Nothing is written. Used by `rudder diff`.
pub async fn dry_run_object(
    target: &Target,
    desired: &DesiredObject,
    field_manager: &str,
) -> Result<Value, ApplyError> {
    let reference = &desired.reference;
    let object_name = reference.to_string();
    let (api, params) = apply_request(target, desired, field_manager).await?;
    let response = api
        .patch(
            &reference.name,
            &params.dry_run(),
            &Patch::Apply(&*desired.object),
        )
        .await
        .map_err(|e| classify(e, &object_name, target.name()))?;
    serde_json::to_value(&response).map_err(|e| ApplyError::Invalid {
        object: object_name,
        message: e.to_string(),
    })
}

/// An object this very request created has one managed-fields entry, ours,
/// stamped with the object's creation time.
fn created_by_this_apply(response: &DynamicObject, field_manager: &str) -> bool {
    let fields = response
        .metadata
        .managed_fields
        .as_deref()
        .unwrap_or_default();
    let [ours] = fields else {
        return false;
    };
    // The two times come from two clock readings of the same request, in
    // whole seconds: they may straddle a second boundary.
    let (Some(applied), Some(created)) = (&ours.time, &response.metadata.creation_timestamp) else {
        return false;
    };
    ours.manager.as_deref() == Some(field_manager)
        && applied.0.as_second().abs_diff(created.0.as_second()) <= 1
}

fn classify(error: kube::Error, object: &str, cluster: &str) -> ApplyError {
    match error {
        kube::Error::Api(status) if status.code == 409 => ApplyError::Conflict {
            object: object.to_string(),
            message: status.message.clone(),
        },
        kube::Error::Api(status) if is_immutable(&status) => ApplyError::Immutable {
            object: object.to_string(),
            message: status.message.clone(),
        },
        kube::Error::Api(status) if status.code != 429 && status.code < 500 => {
            ApplyError::Rejected {
                object: object.to_string(),
                cluster: cluster.to_string(),
                code: status.code,
                message: status.message.clone(),
            }
        }
        other => ApplyError::Transport {
            object: object.to_string(),
            cluster: cluster.to_string(),
            source: other,
        },
    }
}

/// Deletes an object in the foreground and waits until it is gone.
pub async fn delete_and_wait_gone(
    api: &kube::Api<DynamicObject>,
    name: &str,
) -> Result<(), kube::Error> {
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
        Err(e) => return Err(e),
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if api.get_opt(name).await?.is_none() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
