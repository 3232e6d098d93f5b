//! Health of live objects by kstatus's rules (sigs.k8s.io/cli-utils
//! `pkg/kstatus/status`), so verdicts match what Flux and `kubectl` users
//! know: one [`ObjectHealth`] per object (Current / InProgress / Failed /
//! Terminating / NotFound, with a message), and an [`AggregateHealth`]
//! (Healthy / Progressing / Degraded) over a set.
//!
//! Order of rules: deletionTimestamp → Terminating; generation not yet
//! observed → InProgress; `Reconciling=True` → InProgress; `Stalled=True` →
//! Failed; then the kind's own rule; then a `Ready` condition; else Current.
//!
//! Where rudder departs from kstatus, on purpose:
//! - a Pod in phase `Failed` is Failed (kstatus calls it Current, "completed"):
//!   a bare Pod in Git that failed is something to show, as Argo CD does;
//! - an unschedulable Pod stays InProgress with the scheduler's message
//!   instead of turning Failed after 15 s: that would need a clock here, and
//!   the caller's `--timeout` already bounds the wait;
//! - a Service of type LoadBalancer is InProgress until
//!   `status.loadBalancer.ingress` has an address (kstatus only checks the
//!   cluster IP), since an address is what users wait for.

use std::fmt;

use serde_json::Value;

/// kstatus's per-object status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum HealthStatus {
    Current,
    InProgress,
    Failed,
    /// Being deleted; counts as in progress.
    Terminating,
    NotFound,
    /// A custom health rule could not be evaluated on the object; counts
    /// as in progress.
    Unknown,
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HealthStatus::Current => "Current",
            HealthStatus::InProgress => "InProgress",
            HealthStatus::Failed => "Failed",
            HealthStatus::Terminating => "Terminating",
            HealthStatus::NotFound => "NotFound",
            HealthStatus::Unknown => "Unknown",
        })
    }
}

/// The health of one object and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHealth {
    pub status: HealthStatus,
    pub message: String,
}

impl ObjectHealth {
    fn new(status: HealthStatus, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn current(message: impl Into<String>) -> Self {
        Self::new(HealthStatus::Current, message)
    }

    fn in_progress(message: impl Into<String>) -> Self {
        Self::new(HealthStatus::InProgress, message)
    }

    fn failed(message: impl Into<String>) -> Self {
        Self::new(HealthStatus::Failed, message)
    }

    /// For an object that should exist but was not found.
    pub fn not_found() -> Self {
        Self::new(HealthStatus::NotFound, "Resource not found")
    }
}

impl fmt::Display for ObjectHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

/// Overall health of a set of objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum AggregateHealth {
    /// Every object is Current.
    Healthy,
    /// None failed, some are still in progress, terminating or not found yet.
    Progressing,
    /// At least one object Failed.
    Degraded,
}

impl fmt::Display for AggregateHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AggregateHealth::Healthy => "Healthy",
            AggregateHealth::Progressing => "Progressing",
            AggregateHealth::Degraded => "Degraded",
        })
    }
}

/// Degraded if any failed, else Progressing if any is not Current, else
/// Healthy (also for an empty set: nothing is unhealthy).
pub fn aggregate<'a>(healths: impl IntoIterator<Item = &'a ObjectHealth>) -> AggregateHealth {
    let mut result = AggregateHealth::Healthy;
    for health in healths {
        match health.status {
            HealthStatus::Failed => return AggregateHealth::Degraded,
            HealthStatus::Current => {}
            HealthStatus::InProgress
            | HealthStatus::Terminating
            | HealthStatus::NotFound
            | HealthStatus::Unknown => result = AggregateHealth::Progressing,
        }
    }
    result
}

/// The health of one live object: by its kind's custom rule when `rules`
/// has one, else by kstatus ([`object_health`]).
pub fn object_health_with(
    object: &Value,
    rules: &crate::health_rules::HealthRules,
) -> ObjectHealth {
    rules.judge(object).unwrap_or_else(|| object_health(object))
}

/// The health of one live object.
///
/// ```
/// use rudder_reconciler::health::{HealthStatus, object_health};
/// let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
/// assert_eq!(object_health(&cm).status, HealthStatus::Current);
/// ```
pub fn object_health(object: &Value) -> ObjectHealth {
    if let Some(health) = generic_health(object) {
        return health;
    }
    let group = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.split_once('/'))
        .map_or("", |(group, _)| group);
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    match (group, kind) {
        ("apps" | "extensions", "Deployment") => deployment_health(object),
        ("apps", "StatefulSet") => statefulset_health(object),
        ("apps" | "extensions", "DaemonSet") => daemonset_health(object),
        ("apps" | "extensions", "ReplicaSet") => replicaset_health(object),
        ("", "Pod") => pod_health(object),
        ("batch", "Job") => job_health(object),
        ("", "PersistentVolumeClaim") => pvc_health(object),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd_health(object),
        ("", "Service") => service_health(object),
        ("", "ConfigMap" | "Secret") | ("policy", "PodDisruptionBudget") | ("batch", "CronJob") => {
            ObjectHealth::current("Resource is always ready")
        }
        _ => ready_condition_health(object)
            .unwrap_or_else(|| ObjectHealth::current("Resource is current")),
    }
}

/// Rules that hold for every kind; `None` when they decide nothing.
fn generic_health(object: &Value) -> Option<ObjectHealth> {
    if object
        .pointer("/metadata/deletionTimestamp")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty())
    {
        return Some(ObjectHealth::new(
            HealthStatus::Terminating,
            "Resource scheduled for deletion",
        ));
    }
    if let (Some(generation), Some(observed)) = (
        int_at(object, "/metadata/generation"),
        int_at(object, "/status/observedGeneration"),
    ) && generation != observed
    {
        return Some(ObjectHealth::in_progress(format!(
            "{} generation is {generation}, but latest observed generation is {observed}",
            str_at(object, "/kind").unwrap_or("Resource")
        )));
    }
    for condition in conditions(object) {
        if condition.is("Reconciling", "True") {
            return Some(ObjectHealth::in_progress(condition.explain("Reconciling")));
        }
        if condition.is("Stalled", "True") {
            return Some(ObjectHealth::failed(condition.explain("Stalled")));
        }
    }
    None
}

fn deployment_health(object: &Value) -> ObjectHealth {
    // Without progressDeadlineSeconds the controller never sets Progressing,
    // so kstatus treats it as progressing (i32::MAX is the controller's own
    // "unset" marker).
    let progress_deadline =
        int_at(object, "/spec/progressDeadlineSeconds").unwrap_or(i64::from(i32::MAX));
    let mut progressing = progress_deadline == i64::from(i32::MAX);
    let mut available = false;
    for condition in conditions(object) {
        match condition.kind {
            "Progressing" => {
                if condition.reason == "ProgressDeadlineExceeded" {
                    return ObjectHealth::failed(condition.explain("Progress deadline exceeded"));
                }
                if condition.status == "True" && condition.reason == "NewReplicaSetAvailable" {
                    progressing = true;
                }
            }
            "Available" if condition.status == "True" => available = true,
            _ => {}
        }
    }
    let spec = int_at(object, "/spec/replicas").unwrap_or(1);
    let replicas = int_at(object, "/status/replicas").unwrap_or(0);
    let updated = int_at(object, "/status/updatedReplicas").unwrap_or(0);
    let ready = int_at(object, "/status/readyReplicas").unwrap_or(0);
    let available_replicas = int_at(object, "/status/availableReplicas").unwrap_or(0);
    if spec > replicas {
        return ObjectHealth::in_progress(format!("Replicas: {replicas}/{spec}"));
    }
    if spec > updated {
        return ObjectHealth::in_progress(format!("Updated: {updated}/{spec}"));
    }
    if replicas > spec {
        return ObjectHealth::in_progress(format!("Pending termination: {}", replicas - spec));
    }
    if updated > available_replicas {
        return ObjectHealth::in_progress(format!("Available: {available_replicas}/{updated}"));
    }
    if spec > ready {
        return ObjectHealth::in_progress(format!("Ready: {ready}/{spec}"));
    }
    if !progressing {
        return ObjectHealth::in_progress("ReplicaSet not Available");
    }
    if !available {
        return ObjectHealth::in_progress("Deployment not Available");
    }
    ObjectHealth::current(format!("Deployment is available. Replicas: {replicas}"))
}

fn statefulset_health(object: &Value) -> ObjectHealth {
    if str_at(object, "/spec/updateStrategy/type") == Some("OnDelete") {
        return ObjectHealth::current("StatefulSet is using the OnDelete update strategy");
    }
    let spec = int_at(object, "/spec/replicas").unwrap_or(1);
    let ready = int_at(object, "/status/readyReplicas").unwrap_or(0);
    let current = int_at(object, "/status/currentReplicas").unwrap_or(0);
    let updated = int_at(object, "/status/updatedReplicas").unwrap_or(0);
    let replicas = int_at(object, "/status/replicas").unwrap_or(0);
    let partition = int_at(object, "/spec/updateStrategy/rollingUpdate/partition");
    if spec > replicas {
        return ObjectHealth::in_progress(format!("Replicas: {replicas}/{spec}"));
    }
    if spec > ready {
        return ObjectHealth::in_progress(format!("Ready: {ready}/{spec}"));
    }
    if replicas > spec {
        return ObjectHealth::in_progress(format!("Pending termination: {}", replicas - spec));
    }
    if let Some(partition) = partition {
        if updated < spec - partition {
            return ObjectHealth::in_progress(format!("Updated: {updated}/{}", spec - partition));
        }
        return ObjectHealth::current(format!("Partition rollout complete. Updated: {updated}"));
    }
    if spec > current {
        return ObjectHealth::in_progress(format!("Current: {current}/{spec}"));
    }
    if str_at(object, "/status/currentRevision") != str_at(object, "/status/updateRevision") {
        return ObjectHealth::in_progress("Waiting for updated revision to match current");
    }
    ObjectHealth::current(format!(
        "All replicas scheduled as expected. Replicas: {replicas}"
    ))
}

fn daemonset_health(object: &Value) -> ObjectHealth {
    // The DaemonSet controller always sets both; their absence means it has
    // not acted on this object yet.
    if int_at(object, "/metadata/generation").is_none() {
        return ObjectHealth::in_progress("DaemonSet metadata.generation not found");
    }
    if int_at(object, "/status/observedGeneration").is_none() {
        return ObjectHealth::in_progress("DaemonSet status.observedGeneration not found");
    }
    let Some(desired) = int_at(object, "/status/desiredNumberScheduled") else {
        return ObjectHealth::in_progress("Missing .status.desiredNumberScheduled");
    };
    let current = int_at(object, "/status/currentNumberScheduled").unwrap_or(0);
    let updated = int_at(object, "/status/updatedNumberScheduled").unwrap_or(0);
    let available = int_at(object, "/status/numberAvailable").unwrap_or(0);
    let ready = int_at(object, "/status/numberReady").unwrap_or(0);
    if desired > current {
        return ObjectHealth::in_progress(format!("Current: {current}/{desired}"));
    }
    if desired > updated {
        return ObjectHealth::in_progress(format!("Updated: {updated}/{desired}"));
    }
    if desired > available {
        return ObjectHealth::in_progress(format!("Available: {available}/{desired}"));
    }
    if desired > ready {
        return ObjectHealth::in_progress(format!("Ready: {ready}/{desired}"));
    }
    ObjectHealth::current(format!(
        "All replicas scheduled as expected. Replicas: {desired}"
    ))
}

fn replicaset_health(object: &Value) -> ObjectHealth {
    if conditions(object).any(|c| c.is("ReplicaFailure", "True")) {
        return ObjectHealth::in_progress("Replica Failure condition. Check Pods");
    }
    let spec = int_at(object, "/spec/replicas").unwrap_or(1);
    let replicas = int_at(object, "/status/replicas").unwrap_or(0);
    let ready = int_at(object, "/status/readyReplicas").unwrap_or(0);
    let available = int_at(object, "/status/availableReplicas").unwrap_or(0);
    let labelled = int_at(object, "/status/fullyLabeledReplicas").unwrap_or(0);
    if spec > labelled {
        return ObjectHealth::in_progress(format!("Labelled: {labelled}/{spec}"));
    }
    if spec > available {
        return ObjectHealth::in_progress(format!("Available: {available}/{spec}"));
    }
    if spec > ready {
        return ObjectHealth::in_progress(format!("Ready: {ready}/{spec}"));
    }
    if replicas > spec {
        return ObjectHealth::in_progress(format!("Pending termination: {}", replicas - spec));
    }
    ObjectHealth::current(format!("ReplicaSet is available. Replicas: {replicas}"))
}

fn pod_health(object: &Value) -> ObjectHealth {
    match str_at(object, "/status/phase").unwrap_or("") {
        "Succeeded" => ObjectHealth::current("Pod has completed successfully"),
        "Failed" => ObjectHealth::failed(
            str_at(object, "/status/message")
                .map(|m| format!("Pod failed: {m}"))
                .unwrap_or_else(|| "Pod failed".to_owned()),
        ),
        "Running" => {
            if conditions(object).any(|c| c.is("Ready", "True")) {
                return ObjectHealth::current("Pod is Ready");
            }
            let crash_looping = crash_looping_containers(object);
            if !crash_looping.is_empty() {
                return ObjectHealth::failed(format!(
                    "Containers in CrashLoopBackOff: {}",
                    crash_looping.join(",")
                ));
            }
            ObjectHealth::in_progress("Pod is running but is not Ready")
        }
        "Pending" => {
            if let Some(unschedulable) = conditions(object)
                .find(|c| c.is("PodScheduled", "False") && c.reason == "Unschedulable")
            {
                return ObjectHealth::in_progress(
                    unschedulable.explain("Pod has not been scheduled"),
                );
            }
            ObjectHealth::in_progress("Pod is in the Pending phase")
        }
        "" => ObjectHealth::in_progress("Pod phase not available"),
        other => ObjectHealth::in_progress(format!("Pod is in phase {other}")),
    }
}

fn crash_looping_containers(object: &Value) -> Vec<&str> {
    ["/status/initContainerStatuses", "/status/containerStatuses"]
        .iter()
        .filter_map(|p| object.pointer(p).and_then(Value::as_array))
        .flatten()
        .filter(|s| {
            s.pointer("/state/waiting/reason").and_then(Value::as_str) == Some("CrashLoopBackOff")
        })
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .collect()
}

fn job_health(object: &Value) -> ObjectHealth {
    let parallelism = int_at(object, "/spec/parallelism").unwrap_or(1);
    let completions = int_at(object, "/spec/completions").unwrap_or(parallelism);
    let succeeded = int_at(object, "/status/succeeded").unwrap_or(0);
    let active = int_at(object, "/status/active").unwrap_or(0);
    let failed = int_at(object, "/status/failed").unwrap_or(0);
    let suspended = object
        .pointer("/spec/suspend")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    for condition in conditions(object) {
        match condition.kind {
            "Complete" if condition.status == "True" => {
                return ObjectHealth::current(format!(
                    "Job Completed. succeeded: {succeeded}/{completions}"
                ));
            }
            "Failed" if condition.status == "True" => {
                return ObjectHealth::failed(
                    condition.explain(&format!("Job Failed. failed: {failed}/{completions}")),
                );
            }
            "Suspended" if condition.status == "True" && suspended => {
                return ObjectHealth::current("Job is suspended");
            }
            _ => {}
        }
    }
    if str_at(object, "/status/startTime").is_none() {
        return ObjectHealth::in_progress("Job not started");
    }
    ObjectHealth::current(format!(
        "Job in progress. succeeded: {succeeded}, active: {active}, failed: {failed}"
    ))
}

fn pvc_health(object: &Value) -> ObjectHealth {
    match str_at(object, "/status/phase") {
        Some("Bound") => ObjectHealth::current("PVC is Bound"),
        phase => ObjectHealth::in_progress(format!(
            "PVC is not Bound. phase: {}",
            phase.unwrap_or("unknown")
        )),
    }
}

fn crd_health(object: &Value) -> ObjectHealth {
    for condition in conditions(object) {
        if condition.is("NamesAccepted", "False") {
            return ObjectHealth::failed(condition.explain("Names not accepted"));
        }
        if condition.kind == "Established" {
            if condition.status == "False" && condition.reason != "Installing" {
                return ObjectHealth::failed(condition.explain("Not established"));
            }
            if condition.status == "True" {
                return ObjectHealth::current("CRD is established");
            }
        }
    }
    ObjectHealth::in_progress("Install in progress")
}

fn service_health(object: &Value) -> ObjectHealth {
    if str_at(object, "/spec/type") == Some("LoadBalancer") {
        let has_address = object
            .pointer("/status/loadBalancer/ingress")
            .and_then(Value::as_array)
            .is_some_and(|ingress| {
                ingress
                    .iter()
                    .any(|i| str_at(i, "/ip").is_some() || str_at(i, "/hostname").is_some())
            });
        if !has_address {
            return ObjectHealth::in_progress("Waiting for the load balancer to get an address");
        }
    }
    ObjectHealth::current("Service is ready")
}

fn ready_condition_health(object: &Value) -> Option<ObjectHealth> {
    let ready = conditions(object).find(|c| c.kind == "Ready")?;
    match ready.status {
        "True" => Some(ObjectHealth::current("Resource is Ready")),
        "False" | "Unknown" => Some(ObjectHealth::in_progress(
            ready.explain("Resource is not Ready"),
        )),
        _ => None,
    }
}

/// One entry of `status.conditions`, read leniently: a missing field reads
/// as empty rather than making the whole object unreadable.
struct Condition<'a> {
    kind: &'a str,
    status: &'a str,
    reason: &'a str,
    message: &'a str,
}

impl Condition<'_> {
    fn is(&self, kind: &str, status: &str) -> bool {
        self.kind == kind && self.status == status
    }

    /// The condition's own words when it has some, else `fallback`.
    fn explain(&self, fallback: &str) -> String {
        match (self.reason, self.message) {
            ("", "") => fallback.to_owned(),
            (reason, "") => format!("{fallback}: {reason}"),
            ("", message) => message.to_owned(),
            (reason, message) => format!("{reason}: {message}"),
        }
    }
}

fn conditions(object: &Value) -> impl Iterator<Item = Condition<'_>> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| Condition {
            kind: str_at(c, "/type").unwrap_or(""),
            status: str_at(c, "/status").unwrap_or(""),
            reason: str_at(c, "/reason").unwrap_or(""),
            message: str_at(c, "/message").unwrap_or(""),
        })
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn int_at(value: &Value, pointer: &str) -> Option<i64> {
    value.pointer(pointer).and_then(Value::as_i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status_of(object: Value) -> HealthStatus {
        object_health(&object).status
    }

    fn deployment(status: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "generation": 2},
            "spec": {"replicas": 2, "progressDeadlineSeconds": 600},
            "status": status
        })
    }

    fn ready_deployment_status() -> Value {
        json!({
            "observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
            "readyReplicas": 2, "availableReplicas": 2,
            "conditions": [
                {"type": "Available", "status": "True"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
            ]
        })
    }

    #[test]
    fn deletion_timestamp_means_terminating() {
        let mut d = deployment(ready_deployment_status());
        d["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        assert_eq!(status_of(d), HealthStatus::Terminating);
    }

    #[test]
    fn unobserved_generation_is_in_progress() {
        let mut status = ready_deployment_status();
        status["observedGeneration"] = json!(1);
        let health = object_health(&deployment(status));
        assert_eq!(health.status, HealthStatus::InProgress);
        assert!(
            health
                .message
                .contains("generation is 2, but latest observed generation is 1")
        );
    }

    #[test]
    fn reconciling_true_is_in_progress_and_stalled_true_is_failed() {
        let reconciling = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "status": {"conditions": [{"type": "Reconciling", "status": "True", "reason": "Working"}, {"type": "Ready", "status": "True"}]}});
        assert_eq!(status_of(reconciling), HealthStatus::InProgress);
        let stalled = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "status": {"conditions": [{"type": "Stalled", "status": "True", "message": "bad spec"}]}});
        let health = object_health(&stalled);
        assert_eq!(health.status, HealthStatus::Failed);
        assert_eq!(health.message, "bad spec");
    }

    #[test]
    fn deployment_with_all_replicas_available_is_current() {
        assert_eq!(
            status_of(deployment(ready_deployment_status())),
            HealthStatus::Current
        );
    }

    #[test]
    fn deployment_past_its_progress_deadline_is_failed() {
        let mut status = ready_deployment_status();
        status["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet web-1 has timed out progressing."}]);
        let health = object_health(&deployment(status));
        assert_eq!(health.status, HealthStatus::Failed);
        assert!(health.message.contains("timed out"));
    }

    #[test]
    fn deployment_short_of_ready_replicas_is_in_progress() {
        let mut status = ready_deployment_status();
        status["readyReplicas"] = json!(1);
        let health = object_health(&deployment(status));
        assert_eq!(health.status, HealthStatus::InProgress);
        assert_eq!(health.message, "Ready: 1/2");
    }

    #[test]
    fn deployment_without_available_condition_is_in_progress() {
        let mut status = ready_deployment_status();
        status["conditions"] =
            json!([{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]);
        assert_eq!(
            object_health(&deployment(status)).message,
            "Deployment not Available"
        );
    }

    #[test]
    fn statefulset_rules() {
        let sts = |status: Value| json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"}, "spec": {"replicas": 3}, "status": status});
        let done = json!({"replicas": 3, "readyReplicas": 3, "currentReplicas": 3, "updatedReplicas": 3, "currentRevision": "r1", "updateRevision": "r1"});
        assert_eq!(status_of(sts(done.clone())), HealthStatus::Current);
        let mut rolling = done.clone();
        rolling["updateRevision"] = json!("r2");
        assert_eq!(status_of(sts(rolling)), HealthStatus::InProgress);
        let mut not_ready = done;
        not_ready["readyReplicas"] = json!(2);
        assert_eq!(object_health(&sts(not_ready)).message, "Ready: 2/3");
    }

    #[test]
    fn daemonset_needs_observed_generation_and_all_pods_ready() {
        let ds = |status: Value| json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d", "generation": 1}, "status": status});
        let done = json!({"observedGeneration": 1, "desiredNumberScheduled": 2, "currentNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 2, "numberReady": 2});
        assert_eq!(status_of(ds(done.clone())), HealthStatus::Current);
        assert_eq!(status_of(ds(json!({}))), HealthStatus::InProgress);
        let mut partial = done;
        partial["numberAvailable"] = json!(1);
        assert_eq!(object_health(&ds(partial)).message, "Available: 1/2");
    }

    #[test]
    fn replicaset_with_replica_failure_is_in_progress() {
        let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r"}, "spec": {"replicas": 1},
            "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "fullyLabeledReplicas": 1}});
        assert_eq!(status_of(rs.clone()), HealthStatus::Current);
        let mut failing = rs;
        failing["status"]["conditions"] = json!([{"type": "ReplicaFailure", "status": "True"}]);
        assert_eq!(status_of(failing), HealthStatus::InProgress);
    }

    fn pod(status: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "status": status})
    }

    #[test]
    fn pod_running_and_ready_or_succeeded_is_current() {
        assert_eq!(
            status_of(pod(json!({"phase": "Succeeded"}))),
            HealthStatus::Current
        );
        assert_eq!(
            status_of(pod(
                json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})
            )),
            HealthStatus::Current
        );
        assert_eq!(
            status_of(pod(json!({"phase": "Running"}))),
            HealthStatus::InProgress
        );
        assert_eq!(status_of(pod(json!({}))), HealthStatus::InProgress);
    }

    #[test]
    fn pod_failed_or_crash_looping_is_failed() {
        assert_eq!(
            status_of(pod(json!({"phase": "Failed"}))),
            HealthStatus::Failed
        );
        let health = object_health(&pod(json!({"phase": "Running", "containerStatuses": [
            {"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
            {"name": "sidecar", "state": {"running": {}}}
        ]})));
        assert_eq!(health.status, HealthStatus::Failed);
        assert_eq!(health.message, "Containers in CrashLoopBackOff: app");
    }

    #[test]
    fn unschedulable_pod_stays_in_progress_with_the_schedulers_words() {
        let health = object_health(&pod(json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"}
        ]})));
        assert_eq!(health.status, HealthStatus::InProgress);
        assert!(health.message.contains("0/3 nodes are available"));
    }

    #[test]
    fn job_complete_is_current_failed_is_failed_not_started_in_progress() {
        let job = |status: Value| json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "status": status});
        assert_eq!(
            status_of(job(
                json!({"conditions": [{"type": "Complete", "status": "True"}]})
            )),
            HealthStatus::Current
        );
        assert_eq!(
            status_of(job(
                json!({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]})
            )),
            HealthStatus::Failed
        );
        assert_eq!(status_of(job(json!({}))), HealthStatus::InProgress);
        assert_eq!(
            status_of(job(
                json!({"startTime": "2025-01-01T00:00:00Z", "active": 1})
            )),
            HealthStatus::Current
        );
    }

    #[test]
    fn pvc_is_current_only_when_bound() {
        let pvc = |phase: &str| json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"}, "status": {"phase": phase}});
        assert_eq!(status_of(pvc("Bound")), HealthStatus::Current);
        assert_eq!(status_of(pvc("Pending")), HealthStatus::InProgress);
    }

    #[test]
    fn crd_established_is_current_and_names_not_accepted_is_failed() {
        let crd = |conditions: Value| json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "w.example.com"}, "status": {"conditions": conditions}});
        assert_eq!(
            status_of(crd(json!([{"type": "Established", "status": "True"}]))),
            HealthStatus::Current
        );
        assert_eq!(
            status_of(crd(
                json!([{"type": "Established", "status": "False", "reason": "Installing"}])
            )),
            HealthStatus::InProgress
        );
        let health = object_health(&crd(
            json!([{"type": "NamesAccepted", "status": "False", "reason": "KindConflict", "message": "kind Widget is already in use"}]),
        ));
        assert_eq!(health.status, HealthStatus::Failed);
        assert_eq!(
            health.message,
            "KindConflict: kind Widget is already in use"
        );
    }

    #[test]
    fn load_balancer_service_waits_for_an_address() {
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.1"}, "status": {"loadBalancer": {}}});
        assert_eq!(status_of(svc.clone()), HealthStatus::InProgress);
        let mut with_ip = svc;
        with_ip["status"]["loadBalancer"]["ingress"] = json!([{"ip": "203.0.113.7"}]);
        assert_eq!(status_of(with_ip), HealthStatus::Current);
        assert_eq!(
            status_of(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "ClusterIP"}})
            ),
            HealthStatus::Current
        );
    }

    #[test]
    fn config_objects_are_current_on_existence() {
        for (api_version, kind) in [
            ("v1", "ConfigMap"),
            ("v1", "Secret"),
            ("policy/v1", "PodDisruptionBudget"),
        ] {
            assert_eq!(
                status_of(
                    json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}})
                ),
                HealthStatus::Current,
                "{kind}"
            );
        }
    }

    #[test]
    fn other_kinds_follow_their_ready_condition_or_are_current() {
        let widget = |conditions: Value| json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": {"conditions": conditions}});
        assert_eq!(
            status_of(widget(
                json!([{"type": "Ready", "status": "False", "reason": "Waiting"}])
            )),
            HealthStatus::InProgress
        );
        assert_eq!(
            status_of(widget(json!([{"type": "Ready", "status": "True"}]))),
            HealthStatus::Current
        );
        assert_eq!(status_of(widget(json!([]))), HealthStatus::Current);
    }

    #[test]
    fn aggregate_is_degraded_on_any_failure_progressing_on_any_pending() {
        let current = ObjectHealth::current("ok");
        let pending = ObjectHealth::in_progress("wait");
        let failed = ObjectHealth::failed("bad");
        assert_eq!(aggregate([&current, &current]), AggregateHealth::Healthy);
        assert_eq!(
            aggregate([&current, &pending]),
            AggregateHealth::Progressing
        );
        assert_eq!(
            aggregate([&pending, &failed, &current]),
            AggregateHealth::Degraded
        );
        assert_eq!(
            aggregate([&ObjectHealth::not_found()]),
            AggregateHealth::Progressing
        );
        assert_eq!(aggregate([]), AggregateHealth::Healthy);
    }
}
