//! What the cluster says about each app: the agent records an app's
//! outcome as annotations on its ApplySet parent Secret (applied and
//! attempted revision, sync, health, when, the last error), so `rudder
//! status`, `rudder tree` and plain `kubectl get secret -l
//! applyset.kubernetes.io/id -o yaml` can tell what rudder did in a region
//! without reaching the agent. Pure: a record to annotations and back.
//!
//! The record is written only when its outcome changed (the times alone
//! never cause a write), so an agent with nothing to do still makes no
//! request. The times are therefore those of the last change of outcome;
//! `rudder status --url` reads the agent's live `/status` instead.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::status::AppStatus;

pub const PATH: &str = "rudder.io/path";
pub const FIELD_MANAGER: &str = "rudder.io/field-manager";
pub const SYNC: &str = "rudder.io/sync";
pub const HEALTH: &str = "rudder.io/health";
pub const APPLIED_REVISION: &str = "rudder.io/applied-revision";
pub const ATTEMPTED_REVISION: &str = "rudder.io/attempted-revision";
pub const LAST_ATTEMPT: &str = "rudder.io/last-attempt";
pub const LAST_SUCCESS: &str = "rudder.io/last-success";
pub const HEALTH_OBSERVED_AT: &str = "rudder.io/health-observed-at";
/// JSON: `{"code", "message", "file", "line"}`.
pub const LAST_ERROR: &str = "rudder.io/last-error";
/// Written by `rudder reconcile` (RBAC on the parent decides who may):
/// any new value asks the agent to fetch and sync the app now.
pub const RECONCILE_REQUESTED_AT: &str = "rudder.io/reconcile-requested-at";
/// Written by the agent: the request it has handled (synced after).
pub const RECONCILE_HANDLED_AT: &str = "rudder.io/reconcile-handled-at";
/// Written by `rudder suspend` (`"true"`), removed by `rudder resume`: the
/// agent neither syncs, heals nor prunes the app meanwhile.
pub const SUSPEND: &str = "rudder.io/suspend";

/// Written by the agent: which agent runs the app (its `--lease-name`), so
/// an agent knows the parents of apps that left its apps file.
pub const AGENT: &str = "rudder.io/agent";
/// Written by the agent: what happens to the app's objects when the app
/// leaves the apps file: `orphan` (they stay; the default) or `delete`.
pub const DELETION_POLICY: &str = "rudder.io/deletion-policy";
/// Written by the agent: the app's `dependsOn`, comma-separated, so a
/// removed app is deleted after the removed apps that depended on it.
pub const DEPENDS_ON: &str = "rudder.io/depends-on";

/// Whether a parent's annotations suspend its app.
pub fn suspended(annotations: &BTreeMap<String, String>) -> bool {
    annotations.get(SUSPEND).is_some_and(|v| v == "true")
}

/// Every annotation a record owns, so a write can remove the ones a
/// record leaves out (a cleared error).
const RECORD_KEYS: [&str; 11] = [
    PATH,
    FIELD_MANAGER,
    SYNC,
    HEALTH,
    APPLIED_REVISION,
    ATTEMPTED_REVISION,
    LAST_ATTEMPT,
    LAST_SUCCESS,
    HEALTH_OBSERVED_AT,
    LAST_ERROR,
    RECONCILE_HANDLED_AT,
];

/// The last error as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRecord {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub line: Option<u64>,
}

/// One app as the cluster records it: the keys of `/status`'s app record
/// that make sense without the agent (no counts, no history), so `rudder
/// status -o json` prints the same shape from either source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    pub name: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub applyset: String,
    #[serde(default)]
    pub field_manager: String,
    /// Synced, Failed, Pending, or Unknown (a parent no agent recorded on).
    pub sync: String,
    pub health: String,
    #[serde(default)]
    pub applied_revision: Option<String>,
    #[serde(default)]
    pub attempted_revision: Option<String>,
    #[serde(default)]
    pub last_attempt: Option<String>,
    #[serde(default)]
    pub last_success: Option<String>,
    #[serde(default)]
    pub health_observed_at: Option<String>,
    #[serde(default)]
    pub error: Option<ErrorRecord>,
    #[serde(default)]
    pub reconcile_handled_at: Option<String>,
}

impl AppRecord {
    /// The record of an app as the agent's status board holds it.
    pub fn of(app: &AppStatus) -> Self {
        AppRecord {
            name: app.name.clone(),
            path: app.path.clone(),
            applyset: app.applyset.clone(),
            field_manager: app.field_manager.clone(),
            sync: app.sync.as_str().to_string(),
            health: app.health.as_str().to_string(),
            applied_revision: app.applied_revision.clone(),
            attempted_revision: app.attempted_revision.clone(),
            last_attempt: app.last_attempt.clone(),
            last_success: app.last_success.clone(),
            health_observed_at: app.health_observed_at.clone(),
            error: app.error.as_ref().map(|e| ErrorRecord {
                code: e.code.as_str().to_string(),
                message: e.message.clone(),
                file: e.file.clone(),
                line: e.line,
            }),
            reconcile_handled_at: app.reconcile_handled_at.clone(),
        }
    }

    /// What decides whether the record is written again: everything but
    /// the times, which change on every attempt.
    pub fn outcome(&self) -> AppRecord {
        AppRecord {
            last_attempt: None,
            last_success: None,
            health_observed_at: None,
            ..self.clone()
        }
    }

    /// Synced and Healthy: what `rudder status` exits 0 on.
    pub fn is_good(&self) -> bool {
        self.sync == "Synced" && self.health == "Healthy"
    }

    /// The annotations to merge into the parent: every record key, `None`
    /// (JSON null, which removes it) where the record has no value.
    pub fn annotations(&self) -> BTreeMap<&'static str, Option<String>> {
        let mut out: BTreeMap<&'static str, Option<String>> =
            RECORD_KEYS.iter().map(|k| (*k, None)).collect();
        let mut set = |key: &'static str, value: Option<&String>| {
            out.insert(key, value.filter(|v| !v.is_empty()).cloned());
        };
        set(PATH, Some(&self.path));
        set(FIELD_MANAGER, Some(&self.field_manager));
        set(SYNC, Some(&self.sync));
        set(HEALTH, Some(&self.health));
        set(APPLIED_REVISION, self.applied_revision.as_ref());
        set(ATTEMPTED_REVISION, self.attempted_revision.as_ref());
        set(LAST_ATTEMPT, self.last_attempt.as_ref());
        set(LAST_SUCCESS, self.last_success.as_ref());
        set(HEALTH_OBSERVED_AT, self.health_observed_at.as_ref());
        let error = self
            .error
            .as_ref()
            .and_then(|e| serde_json::to_string(e).ok());
        set(LAST_ERROR, error.as_ref());
        set(RECONCILE_HANDLED_AT, self.reconcile_handled_at.as_ref());
        out
    }

    /// Reads the record of the app whose parent is `name`; a parent with
    /// none of the record's annotations (made by `rudder sync`, or by an
    /// agent before its first outcome) reads as Unknown.
    pub fn from_annotations(name: &str, annotations: &BTreeMap<String, String>) -> Self {
        let get = |key: &str| annotations.get(key).filter(|v| !v.is_empty()).cloned();
        AppRecord {
            name: name.to_string(),
            path: get(PATH).unwrap_or_default(),
            applyset: name.to_string(),
            field_manager: get(FIELD_MANAGER).unwrap_or_default(),
            sync: get(SYNC).unwrap_or_else(|| "Unknown".into()),
            health: get(HEALTH).unwrap_or_else(|| "Unknown".into()),
            applied_revision: get(APPLIED_REVISION),
            attempted_revision: get(ATTEMPTED_REVISION),
            last_attempt: get(LAST_ATTEMPT),
            last_success: get(LAST_SUCCESS),
            health_observed_at: get(HEALTH_OBSERVED_AT),
            error: get(LAST_ERROR).map(|text| {
                serde_json::from_str(&text).unwrap_or(ErrorRecord {
                    code: "unknown".into(),
                    message: text,
                    file: None,
                    line: None,
                })
            }),
            reconcile_handled_at: get(RECONCILE_HANDLED_AT),
        }
    }
}

/// A pending reconcile request on a parent: the requested value when it is
/// not the handled one.
pub fn pending_reconcile(annotations: &BTreeMap<String, String>) -> Option<&str> {
    let requested = annotations
        .get(RECONCILE_REQUESTED_AT)
        .filter(|v| !v.is_empty())?;
    match annotations.get(RECONCILE_HANDLED_AT) {
        Some(handled) if handled == requested => None,
        _ => Some(requested),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{ErrorCode, ErrorStatus, HealthState, SyncState};

    fn failed_app() -> AppStatus {
        let mut app = AppStatus::new("web", "clusters/eu", "web", "rudder/web");
        app.sync = SyncState::Failed;
        app.health = HealthState::Healthy;
        app.applied_revision = Some("abc".into());
        app.attempted_revision = Some("def".into());
        app.last_attempt = Some("2026-12-02T10:00:00Z".into());
        app.error = Some(ErrorStatus {
            code: ErrorCode::RenderYaml,
            message: "clusters/eu/app.yaml:3: bad indentation".into(),
            file: Some("clusters/eu/app.yaml".into()),
            line: Some(3),
        });
        app
    }

    #[test]
    fn a_record_survives_its_annotations() {
        let record = AppRecord::of(&failed_app());
        let annotations: BTreeMap<String, String> = record
            .annotations()
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect();
        assert_eq!(annotations[SYNC], "Failed");
        assert_eq!(AppRecord::from_annotations("web", &annotations), record);
    }

    #[test]
    fn absent_values_remove_their_annotations() {
        let mut app = failed_app();
        app.error = None;
        let annotations = AppRecord::of(&app).annotations();
        assert_eq!(annotations[LAST_ERROR], None);
        assert_eq!(annotations[LAST_SUCCESS], None);
        assert_eq!(annotations.len(), RECORD_KEYS.len());
    }

    #[test]
    fn times_alone_do_not_change_the_outcome() {
        let before = AppRecord::of(&failed_app());
        let mut later = failed_app();
        later.last_attempt = Some("2026-12-02T11:00:00Z".into());
        assert_eq!(AppRecord::of(&later).outcome(), before.outcome());
        later.health = HealthState::Degraded;
        assert_ne!(AppRecord::of(&later).outcome(), before.outcome());
    }

    #[test]
    fn a_parent_without_a_record_reads_as_unknown() {
        let record = AppRecord::from_annotations("web", &BTreeMap::new());
        assert_eq!(record.sync, "Unknown");
        assert!(!record.is_good());
    }

    #[test]
    fn a_request_is_pending_until_handled() {
        let mut annotations = BTreeMap::new();
        assert_eq!(pending_reconcile(&annotations), None);
        annotations.insert(RECONCILE_REQUESTED_AT.to_string(), "t1".to_string());
        assert_eq!(pending_reconcile(&annotations), Some("t1"));
        annotations.insert(RECONCILE_HANDLED_AT.to_string(), "t1".to_string());
        assert_eq!(pending_reconcile(&annotations), None);
        annotations.insert(RECONCILE_REQUESTED_AT.to_string(), "t2".to_string());
        assert_eq!(pending_reconcile(&annotations), Some("t2"));
    }
}
