//! Field specs: which field of which kinds a transformer touches
//! (`metadata/labels` of everything, `spec/selector` of Services, ...). The
//! defaults mirror kustomize v5's built-in configuration; `configurations:`
//! files and `crds:` extend them. Also the walker that visits the fields a
//! spec names inside one object, descending through lists on the way.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use crate::error::RenderError;
use crate::resid::Gvk;

/// kustomize's rank of a kind when it sorts field specs
/// (`Gvk.IsLessThan`): the legacy output order's first kinds, then every
/// other kind, then the last ones.
fn kind_rank(kind: &str) -> i32 {
    use crate::order::{ORDER_FIRST, ORDER_LAST};
    if let Some(i) = ORDER_FIRST.iter().position(|k| *k == kind) {
        return i as i32 - ORDER_FIRST.len() as i32;
    }
    ORDER_LAST
        .iter()
        .position(|k| *k == kind)
        .map_or(0, |i| i as i32 + 1)
}

/// Brings a merged field-spec list to what kustomize ends up with: sorted
/// by gvk, and a spec dropped when an earlier one with the same path is
/// selected by its gvk (kustomize merges every configuration into its
/// accumulator that way). So a `metadata/name` spec for one kind in
/// `configurations` replaces the default one for every kind.
fn normalize(list: &mut Vec<FieldSpec>) {
    list.sort_by_cached_key(|fs| (kind_rank(&fs.gvk.kind), crate::order::gvk_text(&fs.gvk)));
    let mut kept: Vec<FieldSpec> = Vec::with_capacity(list.len());
    for fs in list.drain(..) {
        if !kept
            .iter()
            .any(|e| e.path == fs.path && e.gvk.is_selected_by(&fs.gvk))
        {
            kept.push(fs);
        }
    }
    *list = kept;
}

/// One field path, limited to objects of a group/version/kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldSpec {
    pub gvk: Gvk,
    pub path: String,
    /// Create the field (and its parents) when missing.
    pub create: bool,
}

/// A name reference rule: fields of referrers that hold the name of an
/// object of kind `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameBackRef {
    pub target: Gvk,
    pub referrers: Vec<FieldSpec>,
}

/// Every transformer's field specs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransformerConfig {
    pub name_prefix: Vec<FieldSpec>,
    pub name_suffix: Vec<FieldSpec>,
    pub namespace: Vec<FieldSpec>,
    pub common_labels: Vec<FieldSpec>,
    pub template_labels: Vec<FieldSpec>,
    pub common_annotations: Vec<FieldSpec>,
    pub images: Vec<FieldSpec>,
    pub replicas: Vec<FieldSpec>,
    pub name_reference: Vec<NameBackRef>,
    pub var_reference: Vec<FieldSpec>,
}

fn gvk_token(token: &str) -> Gvk {
    let mut parts = token.splitn(3, ':');
    let kind = parts.next().unwrap_or("").to_string();
    let version = parts.next().unwrap_or("").to_string();
    let group = parts.next().unwrap_or("").to_string();
    Gvk {
        group,
        version,
        kind,
    }
}

fn spec(gvk: &str, path: &str, create: bool) -> FieldSpec {
    FieldSpec {
        gvk: gvk_token(gvk),
        path: path.to_string(),
        create,
    }
}

// Pod-template owners and where their template's metadata lives.
const TEMPLATE_OWNERS: [(&str, &str); 8] = [
    ("ReplicationController:v1:", "spec/template/metadata"),
    ("Deployment::", "spec/template/metadata"),
    ("ReplicaSet::", "spec/template/metadata"),
    ("DaemonSet::", "spec/template/metadata"),
    ("StatefulSet::apps", "spec/template/metadata"),
    ("Job::batch", "spec/template/metadata"),
    ("CronJob::batch", "spec/jobTemplate/metadata"),
    ("CronJob::batch", "spec/jobTemplate/spec/template/metadata"),
];

/// Label fields that are not selectors: metadata, pod templates and
/// volume claim templates.
fn metadata_label_specs() -> Vec<FieldSpec> {
    let mut out = vec![spec("::", "metadata/labels", true)];
    for (gvk, meta) in TEMPLATE_OWNERS {
        // kustomize does not restrict the Deployment/ReplicaSet/DaemonSet
        // template label specs to a group, but does for the others.
        out.push(spec(gvk, &format!("{meta}/labels"), true));
    }
    out
}

fn volume_claim_label_specs() -> Vec<FieldSpec> {
    vec![spec(
        "StatefulSet::apps",
        "spec/volumeClaimTemplates[]/metadata/labels",
        true,
    )]
}

fn selector_label_specs() -> Vec<FieldSpec> {
    let mut out = vec![
        spec("Service:v1:", "spec/selector", true),
        spec("ReplicationController:v1:", "spec/selector", true),
        spec("Deployment::", "spec/selector/matchLabels", true),
    ];
    let affinity = [
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
    ];
    out.extend(affinity.iter().map(|p| spec("Deployment::apps", p, false)));
    out.push(spec("ReplicaSet::", "spec/selector/matchLabels", true));
    out.push(spec("DaemonSet::", "spec/selector/matchLabels", true));
    out.push(spec("StatefulSet::apps", "spec/selector/matchLabels", true));
    out.extend(affinity.iter().map(|p| spec("StatefulSet::apps", p, false)));
    out.push(spec("Job::batch", "spec/selector/matchLabels", false));
    out.push(spec(
        "CronJob::batch",
        "spec/jobTemplate/spec/selector/matchLabels",
        false,
    ));
    out.push(spec(
        "PodDisruptionBudget::policy",
        "spec/selector/matchLabels",
        false,
    ));
    for p in [
        "spec/podSelector/matchLabels",
        "spec/ingress/from/podSelector/matchLabels",
        "spec/egress/to/podSelector/matchLabels",
    ] {
        out.push(spec("NetworkPolicy::networking.k8s.io", p, false));
    }
    out
}

/// Name reference rules, one per line: `target referrer path`, each gvk
/// written `Kind:version:group` (parts may be empty).
const NAME_REFERENCES: &str = r"
Deployment:: HorizontalPodAutoscaler:: spec/scaleTargetRef/name
ReplicationController:: HorizontalPodAutoscaler:: spec/scaleTargetRef/name
ReplicaSet:: HorizontalPodAutoscaler:: spec/scaleTargetRef/name
StatefulSet:: HorizontalPodAutoscaler:: spec/scaleTargetRef/name
ConfigMap:v1: Pod:v1: spec/volumes/configMap/name
ConfigMap:v1: Pod:v1: spec/containers/env/valueFrom/configMapKeyRef/name
ConfigMap:v1: Pod:v1: spec/initContainers/env/valueFrom/configMapKeyRef/name
ConfigMap:v1: Pod:v1: spec/containers/envFrom/configMapRef/name
ConfigMap:v1: Pod:v1: spec/initContainers/envFrom/configMapRef/name
ConfigMap:v1: Pod:v1: spec/volumes/projected/sources/configMap/name
ConfigMap:v1: PodTemplate:: template/spec/volumes/configMap/name
ConfigMap:v1: PodTemplate:: template/spec/containers/env/valueFrom/configMapKeyRef/name
ConfigMap:v1: PodTemplate:: template/spec/initContainers/env/valueFrom/configMapKeyRef/name
ConfigMap:v1: PodTemplate:: template/spec/containers/envFrom/configMapRef/name
ConfigMap:v1: PodTemplate:: template/spec/initContainers/envFrom/configMapRef/name
ConfigMap:v1: PodTemplate:: template/spec/volumes/projected/sources/configMap/name
ConfigMap:v1: Deployment:: spec/template/spec/volumes/configMap/name
ConfigMap:v1: Deployment:: spec/template/spec/containers/env/valueFrom/configMapKeyRef/name
ConfigMap:v1: Deployment:: spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name
ConfigMap:v1: Deployment:: spec/template/spec/containers/envFrom/configMapRef/name
ConfigMap:v1: Deployment:: spec/template/spec/initContainers/envFrom/configMapRef/name
ConfigMap:v1: Deployment:: spec/template/spec/volumes/projected/sources/configMap/name
ConfigMap:v1: ReplicaSet:: spec/template/spec/volumes/configMap/name
ConfigMap:v1: ReplicaSet:: spec/template/spec/containers/env/valueFrom/configMapKeyRef/name
ConfigMap:v1: ReplicaSet:: spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name
ConfigMap:v1: ReplicaSet:: spec/template/spec/containers/envFrom/configMapRef/name
ConfigMap:v1: ReplicaSet:: spec/template/spec/initContainers/envFrom/configMapRef/name
ConfigMap:v1: ReplicaSet:: spec/template/spec/volumes/projected/sources/configMap/name
ConfigMap:v1: DaemonSet:: spec/template/spec/volumes/configMap/name
ConfigMap:v1: DaemonSet:: spec/template/spec/containers/env/valueFrom/configMapKeyRef/name
ConfigMap:v1: DaemonSet:: spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name
ConfigMap:v1: DaemonSet:: spec/template/spec/containers/envFrom/configMapRef/name
ConfigMap:v1: DaemonSet:: spec/template/spec/initContainers/envFrom/configMapRef/name
ConfigMap:v1: DaemonSet:: spec/template/spec/volumes/projected/sources/configMap/name
ConfigMap:v1: StatefulSet:: spec/template/spec/volumes/configMap/name
ConfigMap:v1: StatefulSet:: spec/template/spec/containers/env/valueFrom/configMapKeyRef/name
ConfigMap:v1: StatefulSet:: spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name
ConfigMap:v1: StatefulSet:: spec/template/spec/containers/envFrom/configMapRef/name
ConfigMap:v1: StatefulSet:: spec/template/spec/initContainers/envFrom/configMapRef/name
ConfigMap:v1: StatefulSet:: spec/template/spec/volumes/projected/sources/configMap/name
ConfigMap:v1: Job:: spec/template/spec/volumes/configMap/name
ConfigMap:v1: Job:: spec/template/spec/containers/env/valueFrom/configMapKeyRef/name
ConfigMap:v1: Job:: spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name
ConfigMap:v1: Job:: spec/template/spec/containers/envFrom/configMapRef/name
ConfigMap:v1: Job:: spec/template/spec/initContainers/envFrom/configMapRef/name
ConfigMap:v1: Job:: spec/template/spec/volumes/projected/sources/configMap/name
ConfigMap:v1: CronJob:: spec/jobTemplate/spec/template/spec/volumes/configMap/name
ConfigMap:v1: CronJob:: spec/jobTemplate/spec/template/spec/volumes/projected/sources/configMap/name
ConfigMap:v1: CronJob:: spec/jobTemplate/spec/template/spec/containers/env/valueFrom/configMapKeyRef/name
ConfigMap:v1: CronJob:: spec/jobTemplate/spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name
ConfigMap:v1: CronJob:: spec/jobTemplate/spec/template/spec/containers/envFrom/configMapRef/name
ConfigMap:v1: CronJob:: spec/jobTemplate/spec/template/spec/initContainers/envFrom/configMapRef/name
ConfigMap:v1: Node:: spec/configSource/configMap
ConfigMap:v1: Role:: rules/resourceNames
ConfigMap:v1: ClusterRole:: rules/resourceNames
ConfigMap:v1: Ingress:: metadata/annotations/nginx.ingress.kubernetes.io\/fastcgi-params-configmap
Secret:v1: Pod:v1: spec/volumes/secret/secretName
Secret:v1: Pod:v1: spec/containers/env/valueFrom/secretKeyRef/name
Secret:v1: Pod:v1: spec/initContainers/env/valueFrom/secretKeyRef/name
Secret:v1: Pod:v1: spec/containers/envFrom/secretRef/name
Secret:v1: Pod:v1: spec/initContainers/envFrom/secretRef/name
Secret:v1: Pod:v1: spec/imagePullSecrets/name
Secret:v1: Pod:v1: spec/volumes/projected/sources/secret/name
Secret:v1: PodTemplate:: template/spec/volumes/secret/secretName
Secret:v1: PodTemplate:: template/spec/containers/env/valueFrom/secretKeyRef/name
Secret:v1: PodTemplate:: template/spec/initContainers/env/valueFrom/secretKeyRef/name
Secret:v1: PodTemplate:: template/spec/containers/envFrom/secretRef/name
Secret:v1: PodTemplate:: template/spec/initContainers/envFrom/secretRef/name
Secret:v1: PodTemplate:: template/spec/imagePullSecrets/name
Secret:v1: PodTemplate:: template/spec/volumes/projected/sources/secret/name
Secret:v1: Deployment:: spec/template/spec/volumes/secret/secretName
Secret:v1: Deployment:: spec/template/spec/containers/env/valueFrom/secretKeyRef/name
Secret:v1: Deployment:: spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name
Secret:v1: Deployment:: spec/template/spec/containers/envFrom/secretRef/name
Secret:v1: Deployment:: spec/template/spec/initContainers/envFrom/secretRef/name
Secret:v1: Deployment:: spec/template/spec/imagePullSecrets/name
Secret:v1: Deployment:: spec/template/spec/volumes/projected/sources/secret/name
Secret:v1: ReplicaSet:: spec/template/spec/volumes/secret/secretName
Secret:v1: ReplicaSet:: spec/template/spec/containers/env/valueFrom/secretKeyRef/name
Secret:v1: ReplicaSet:: spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name
Secret:v1: ReplicaSet:: spec/template/spec/containers/envFrom/secretRef/name
Secret:v1: ReplicaSet:: spec/template/spec/initContainers/envFrom/secretRef/name
Secret:v1: ReplicaSet:: spec/template/spec/imagePullSecrets/name
Secret:v1: ReplicaSet:: spec/template/spec/volumes/projected/sources/secret/name
Secret:v1: DaemonSet:: spec/template/spec/volumes/secret/secretName
Secret:v1: DaemonSet:: spec/template/spec/containers/env/valueFrom/secretKeyRef/name
Secret:v1: DaemonSet:: spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name
Secret:v1: DaemonSet:: spec/template/spec/containers/envFrom/secretRef/name
Secret:v1: DaemonSet:: spec/template/spec/initContainers/envFrom/secretRef/name
Secret:v1: DaemonSet:: spec/template/spec/imagePullSecrets/name
Secret:v1: DaemonSet:: spec/template/spec/volumes/projected/sources/secret/name
Secret:v1: StatefulSet:: spec/template/spec/volumes/secret/secretName
Secret:v1: StatefulSet:: spec/template/spec/containers/env/valueFrom/secretKeyRef/name
Secret:v1: StatefulSet:: spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name
Secret:v1: StatefulSet:: spec/template/spec/containers/envFrom/secretRef/name
Secret:v1: StatefulSet:: spec/template/spec/initContainers/envFrom/secretRef/name
Secret:v1: StatefulSet:: spec/template/spec/imagePullSecrets/name
Secret:v1: StatefulSet:: spec/template/spec/volumes/projected/sources/secret/name
Secret:v1: Job:: spec/template/spec/volumes/secret/secretName
Secret:v1: Job:: spec/template/spec/containers/env/valueFrom/secretKeyRef/name
Secret:v1: Job:: spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name
Secret:v1: Job:: spec/template/spec/containers/envFrom/secretRef/name
Secret:v1: Job:: spec/template/spec/initContainers/envFrom/secretRef/name
Secret:v1: Job:: spec/template/spec/imagePullSecrets/name
Secret:v1: Job:: spec/template/spec/volumes/projected/sources/secret/name
Secret:v1: CronJob:: spec/jobTemplate/spec/template/spec/volumes/secret/secretName
Secret:v1: CronJob:: spec/jobTemplate/spec/template/spec/volumes/projected/sources/secret/name
Secret:v1: CronJob:: spec/jobTemplate/spec/template/spec/containers/env/valueFrom/secretKeyRef/name
Secret:v1: CronJob:: spec/jobTemplate/spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name
Secret:v1: CronJob:: spec/jobTemplate/spec/template/spec/containers/envFrom/secretRef/name
Secret:v1: CronJob:: spec/jobTemplate/spec/template/spec/initContainers/envFrom/secretRef/name
Secret:v1: CronJob:: spec/jobTemplate/spec/template/spec/imagePullSecrets/name
Secret:v1: Ingress:: spec/tls/secretName
Secret:v1: Ingress:: metadata/annotations/ingress.kubernetes.io\/auth-secret
Secret:v1: Ingress:: metadata/annotations/nginx.ingress.kubernetes.io\/auth-secret
Secret:v1: Ingress:: metadata/annotations/nginx.ingress.kubernetes.io\/auth-tls-secret
Secret:v1: Ingress:: spec/tls/secretName
Secret:v1: ServiceAccount:: imagePullSecrets/name
Secret:v1: StorageClass:: parameters/secretName
Secret:v1: StorageClass:: parameters/adminSecretName
Secret:v1: StorageClass:: parameters/userSecretName
Secret:v1: StorageClass:: parameters/secretRef
Secret:v1: Role:: rules/resourceNames
Secret:v1: ClusterRole:: rules/resourceNames
Secret:v1: Service:v1:serving.knative.dev spec/template/spec/containers/env/valueFrom/secretKeyRef/name
Secret:v1: PersistentVolume:: spec/azureFile/secretName
Service:v1: StatefulSet::apps spec/serviceName
Service:v1: Ingress:: spec/rules/http/paths/backend/serviceName
Service:v1: Ingress:: spec/backend/serviceName
Service:v1: Ingress:: spec/rules/http/paths/backend/service/name
Service:v1: Ingress:: spec/defaultBackend/service/name
Service:v1: APIService::apiregistration.k8s.io spec/service/name
Service:v1: ValidatingWebhookConfiguration::admissionregistration.k8s.io webhooks/clientConfig/service
Service:v1: MutatingWebhookConfiguration::admissionregistration.k8s.io webhooks/clientConfig/service
Role::rbac.authorization.k8s.io RoleBinding::rbac.authorization.k8s.io roleRef/name
ClusterRole::rbac.authorization.k8s.io RoleBinding::rbac.authorization.k8s.io roleRef/name
ClusterRole::rbac.authorization.k8s.io ClusterRoleBinding::rbac.authorization.k8s.io roleRef/name
ServiceAccount:v1: RoleBinding::rbac.authorization.k8s.io subjects
ServiceAccount:v1: ClusterRoleBinding::rbac.authorization.k8s.io subjects
ServiceAccount:v1: Pod:: spec/serviceAccountName
ServiceAccount:v1: StatefulSet:: spec/template/spec/serviceAccountName
ServiceAccount:v1: Deployment:: spec/template/spec/serviceAccountName
ServiceAccount:v1: ReplicationController:: spec/template/spec/serviceAccountName
ServiceAccount:v1: CronJob:: spec/jobTemplate/spec/template/spec/serviceAccountName
ServiceAccount:v1: Job:: spec/template/spec/serviceAccountName
ServiceAccount:v1: DaemonSet:: spec/template/spec/serviceAccountName
PersistentVolumeClaim:v1: Pod:: spec/volumes/persistentVolumeClaim/claimName
PersistentVolumeClaim:v1: StatefulSet:: spec/template/spec/volumes/persistentVolumeClaim/claimName
PersistentVolumeClaim:v1: Deployment:: spec/template/spec/volumes/persistentVolumeClaim/claimName
PersistentVolumeClaim:v1: ReplicationController:: spec/template/spec/volumes/persistentVolumeClaim/claimName
PersistentVolumeClaim:v1: CronJob:: spec/jobTemplate/spec/template/spec/volumes/persistentVolumeClaim/claimName
PersistentVolumeClaim:v1: Job:: spec/template/spec/volumes/persistentVolumeClaim/claimName
PersistentVolumeClaim:v1: DaemonSet:: spec/template/spec/volumes/persistentVolumeClaim/claimName
PersistentVolume:v1: PersistentVolumeClaim:: spec/volumeName
PersistentVolume:v1: ClusterRole:: rules/resourceNames
StorageClass:v1:storage.k8s.io PersistentVolume:: spec/storageClassName
StorageClass:v1:storage.k8s.io PersistentVolumeClaim:: spec/storageClassName
StorageClass:v1:storage.k8s.io StatefulSet:: spec/volumeClaimTemplates/spec/storageClassName
PriorityClass:v1:scheduling.k8s.io Pod:: spec/priorityClassName
PriorityClass:v1:scheduling.k8s.io StatefulSet:: spec/template/spec/priorityClassName
PriorityClass:v1:scheduling.k8s.io Deployment:: spec/template/spec/priorityClassName
PriorityClass:v1:scheduling.k8s.io ReplicationController:: spec/template/spec/priorityClassName
PriorityClass:v1:scheduling.k8s.io CronJob:: spec/jobTemplate/spec/template/spec/priorityClassName
PriorityClass:v1:scheduling.k8s.io Job:: spec/template/spec/priorityClassName
PriorityClass:v1:scheduling.k8s.io DaemonSet:: spec/template/spec/priorityClassName
IngressClass:v1:networking.k8s.io/v1 Ingress:: spec/ingressClassName
ValidatingAdmissionPolicy::admissionregistration.k8s.io ValidatingAdmissionPolicyBinding::admissionregistration.k8s.io spec/policyName
";

/// Fields where the deprecated `vars` may be referenced: `Kind:version:group path`.
const VAR_REFERENCES: &str = r"
CronJob:: spec/jobTemplate/spec/template/spec/containers/args
CronJob:: spec/jobTemplate/spec/template/spec/containers/command
CronJob:: spec/jobTemplate/spec/template/spec/containers/env/value
CronJob:: spec/jobTemplate/spec/template/spec/containers/volumeMounts/mountPath
CronJob:: spec/jobTemplate/spec/template/spec/initContainers/args
CronJob:: spec/jobTemplate/spec/template/spec/initContainers/command
CronJob:: spec/jobTemplate/spec/template/spec/initContainers/env/value
CronJob:: spec/jobTemplate/spec/template/spec/initContainers/volumeMounts/mountPath
CronJob:: spec/jobTemplate/spec/template/volumes/nfs/server
DaemonSet:: spec/template/spec/containers/args
DaemonSet:: spec/template/spec/containers/command
DaemonSet:: spec/template/spec/containers/env/value
DaemonSet:: spec/template/spec/containers/volumeMounts/mountPath
DaemonSet:: spec/template/spec/initContainers/args
DaemonSet:: spec/template/spec/initContainers/command
DaemonSet:: spec/template/spec/initContainers/env/value
DaemonSet:: spec/template/spec/initContainers/volumeMounts/mountPath
DaemonSet:: spec/template/spec/volumes/nfs/server
Deployment:: spec/template/spec/containers/args
Deployment:: spec/template/spec/containers/command
Deployment:: spec/template/spec/containers/env/value
Deployment:: spec/template/spec/containers/volumeMounts/mountPath
Deployment:: spec/template/spec/initContainers/args
Deployment:: spec/template/spec/initContainers/command
Deployment:: spec/template/spec/initContainers/env/value
Deployment:: spec/template/spec/initContainers/volumeMounts/mountPath
Deployment:: spec/template/spec/volumes/nfs/server
Deployment:: spec/template/metadata/annotations
Ingress:: spec/rules/host
Ingress:: spec/tls/hosts
Ingress:: spec/tls/secretName
Job:: spec/template/spec/containers/args
Job:: spec/template/spec/containers/command
Job:: spec/template/spec/containers/env/value
Job:: spec/template/spec/containers/volumeMounts/mountPath
Job:: spec/template/spec/initContainers/args
Job:: spec/template/spec/initContainers/command
Job:: spec/template/spec/initContainers/env/value
Job:: spec/template/spec/initContainers/volumeMounts/mountPath
Job:: spec/template/spec/volumes/nfs/server
Pod:: spec/containers/args
Pod:: spec/containers/command
Pod:: spec/containers/env/value
Pod:: spec/containers/volumeMounts/mountPath
Pod:: spec/initContainers/args
Pod:: spec/initContainers/command
Pod:: spec/initContainers/env/value
Pod:: spec/initContainers/volumeMounts/mountPath
Pod:: spec/volumes/nfs/server
ReplicaSet:: spec/template/spec/containers/args
ReplicaSet:: spec/template/spec/containers/command
ReplicaSet:: spec/template/spec/containers/env/value
ReplicaSet:: spec/template/spec/containers/volumeMounts/mountPath
ReplicaSet:: spec/template/spec/initContainers/args
ReplicaSet:: spec/template/spec/initContainers/command
ReplicaSet:: spec/template/spec/initContainers/env/value
ReplicaSet:: spec/template/spec/initContainers/volumeMounts/mountPath
ReplicaSet:: spec/template/spec/volumes/nfs/server
Service:: spec/ports/port
Service:: spec/ports/targetPort
StatefulSet:: spec/template/spec/containers/args
StatefulSet:: spec/template/spec/containers/command
StatefulSet:: spec/template/spec/containers/env/value
StatefulSet:: spec/template/spec/containers/volumeMounts/mountPath
StatefulSet:: spec/template/spec/initContainers/args
StatefulSet:: spec/template/spec/initContainers/command
StatefulSet:: spec/template/spec/initContainers/env/value
StatefulSet:: spec/template/spec/initContainers/volumeMounts/mountPath
StatefulSet:: spec/volumeClaimTemplates/spec/nfs/server
PersistentVolume:: spec/nfs/server
:: metadata/labels
:: metadata/annotations
";

impl TransformerConfig {
    /// kustomize's built-in configuration.
    pub fn defaults() -> TransformerConfig {
        // Built once per process: every kustomization of a render starts
        // from it.
        static DEFAULTS: LazyLock<TransformerConfig> =
            LazyLock::new(TransformerConfig::build_defaults);
        DEFAULTS.clone()
    }

    fn build_defaults() -> TransformerConfig {
        let mut common_labels = selector_label_specs();
        common_labels.extend(metadata_label_specs());
        common_labels.extend(volume_claim_label_specs());
        let mut common_annotations = vec![spec("::", "metadata/annotations", true)];
        for (gvk, meta) in TEMPLATE_OWNERS {
            let gvk = if gvk.starts_with("StatefulSet") {
                "StatefulSet::"
            } else {
                gvk
            };
            common_annotations.push(spec(gvk, &format!("{meta}/annotations"), true));
        }
        let images = ["spec", "spec/template/spec"]
            .iter()
            .flat_map(|base| {
                [
                    format!("{base}/containers[]/image"),
                    format!("{base}/initContainers[]/image"),
                    format!("{base}/volumes[]/image/reference"),
                ]
            })
            .map(|p| spec("::", &p, true))
            .collect();
        let replicas = [
            "Deployment::",
            "ReplicationController::",
            "ReplicaSet::",
            "StatefulSet::",
        ]
        .iter()
        .map(|g| spec(g, "spec/replicas", true))
        .collect();
        let mut name_reference: Vec<NameBackRef> = Vec::new();
        for line in NAME_REFERENCES.lines().filter(|l| !l.trim().is_empty()) {
            let mut parts = line.split_whitespace();
            let (Some(target), Some(referrer), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let target = gvk_token(target);
            let fs = spec(referrer, path, false);
            match name_reference.iter_mut().find(|b| b.target == target) {
                Some(b) => b.referrers.push(fs),
                None => name_reference.push(NameBackRef {
                    target,
                    referrers: vec![fs],
                }),
            }
        }
        let var_reference = VAR_REFERENCES
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(g, p)| spec(g, p, false))
            .collect();
        TransformerConfig {
            name_prefix: vec![spec("::", "metadata/name", false)],
            name_suffix: vec![spec("::", "metadata/name", false)],
            namespace: vec![
                spec("Namespace::", "metadata/name", true),
                spec(
                    "APIService::apiregistration.k8s.io",
                    "spec/service/namespace",
                    true,
                ),
                spec(
                    "CustomResourceDefinition::apiextensions.k8s.io",
                    "spec/conversion/webhook/clientConfig/service/namespace",
                    false,
                ),
            ],
            common_labels,
            template_labels: metadata_label_specs(),
            common_annotations,
            images,
            replicas,
            name_reference,
            var_reference,
        }
    }

    /// Adds every spec of `other` not already present.
    pub fn merge(&mut self, other: TransformerConfig) {
        // Every kustomization starts from the defaults, so each base merges
        // hundreds of specs the parent already has: look them up by hash,
        // not by scanning (which made small renders spend most of their
        // time comparing strings).
        fn add(into: &mut Vec<FieldSpec>, from: Vec<FieldSpec>) {
            if from.is_empty() || from == *into {
                return;
            }
            let mut seen: HashSet<FieldSpec> = into.iter().cloned().collect();
            let before = into.len();
            for fs in from {
                if !seen.contains(&fs) {
                    seen.insert(fs.clone());
                    into.push(fs);
                }
            }
            if into.len() != before {
                normalize(into);
            }
        }
        if other == *self {
            return;
        }
        add(&mut self.name_prefix, other.name_prefix);
        add(&mut self.name_suffix, other.name_suffix);
        add(&mut self.namespace, other.namespace);
        add(&mut self.common_labels, other.common_labels);
        add(&mut self.template_labels, other.template_labels);
        add(&mut self.common_annotations, other.common_annotations);
        add(&mut self.images, other.images);
        add(&mut self.replicas, other.replicas);
        add(&mut self.var_reference, other.var_reference);
        for b in other.name_reference {
            match self
                .name_reference
                .iter_mut()
                .find(|x| x.target == b.target)
            {
                Some(x) => add(&mut x.referrers, b.referrers),
                None => self.name_reference.push(b),
            }
        }
    }

    /// Reads a `configurations:` file (already parsed); `file` is named in
    /// errors.
    pub fn from_value(file: &str, v: &Value) -> Result<TransformerConfig, RenderError> {
        let mut out = TransformerConfig::default();
        let Some(map) = v.as_object() else {
            return Ok(out);
        };
        for (key, val) in map {
            let list = || field_specs(file, key, val);
            match key.as_str() {
                "namePrefix" => out.name_prefix = list()?,
                "nameSuffix" => out.name_suffix = list()?,
                "namespace" => out.namespace = list()?,
                "commonLabels" => out.common_labels = list()?,
                "templateLabels" => out.template_labels = list()?,
                "commonAnnotations" => out.common_annotations = list()?,
                "images" => out.images = list()?,
                "replicas" => out.replicas = list()?,
                "varReference" => out.var_reference = list()?,
                "nameReference" => {
                    for entry in val.as_array().into_iter().flatten() {
                        let target = gvk_of(entry);
                        let referrers = field_specs(
                            file,
                            key,
                            entry.get("fieldSpecs").unwrap_or(&Value::Null),
                        )?;
                        out.name_reference.push(NameBackRef { target, referrers });
                    }
                }
                other => {
                    return Err(RenderError::kust(
                        file,
                        format!("unknown transformer configuration field `{other}`"),
                    ));
                }
            }
        }
        Ok(out)
    }
}

fn gvk_of(v: &Value) -> Gvk {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Gvk {
        group: s("group"),
        version: s("version"),
        kind: s("kind"),
    }
}

/// Reads a list of field specs (`[{path, group, version, kind, create}]`).
pub fn field_specs(file: &str, key: &str, v: &Value) -> Result<Vec<FieldSpec>, RenderError> {
    let Some(list) = v.as_array() else {
        if v.is_null() {
            return Ok(Vec::new());
        }
        return Err(RenderError::kust(
            file,
            format!("`{key}` must be a list of field specs"),
        ));
    };
    list.iter()
        .map(|e| {
            let path = e.get("path").and_then(Value::as_str).ok_or_else(|| {
                RenderError::kust(file, format!("a field spec under `{key}` has no `path`"))
            })?;
            Ok(FieldSpec {
                gvk: gvk_of(e),
                path: path.to_string(),
                create: e.get("create").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect()
}

/// One step of a field path, borrowing from the path text: `visit` runs
/// once per object and spec, so the parsed path must not allocate strings.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step<'a> {
    Key(Cow<'a, str>),
    /// `x[]`: a list field, never created when missing.
    ListKey(&'a str),
    /// `[name=value]`: only list elements whose `name` is `value`.
    Filter(&'a str, &'a str),
}

/// Splits a path on `/` (a `\/` is a literal slash) into steps; `x[]` is
/// `x` (lists are descended anyway) and `[k=v]` filters list elements.
fn steps(path: &str) -> Vec<Step<'_>> {
    let mut parts: Vec<Cow<'_, str>> = Vec::new();
    if path.contains('\\') {
        let mut cur = String::new();
        let mut chars = path.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'/') => {
                    cur.push('/');
                    chars.next();
                }
                '/' => parts.push(Cow::Owned(std::mem::take(&mut cur))),
                c => cur.push(c),
            }
        }
        parts.push(Cow::Owned(cur));
    } else {
        parts.extend(path.split('/').map(Cow::Borrowed));
    }
    let mut out = Vec::with_capacity(parts.len());
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        let Cow::Borrowed(part) = part else {
            // Only escaped slashes make owned parts; they hold no brackets
            // worth reading.
            out.push(Step::Key(part));
            continue;
        };
        if let Some(inner) = part.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
            if let Some((k, v)) = inner.split_once('=') {
                out.push(Step::Filter(k, v));
            }
            continue;
        }
        match part.find('[') {
            Some(i) if part.ends_with("[]") => out.push(Step::ListKey(&part[..i])),
            Some(i) if part.ends_with(']') => {
                out.push(Step::Key(Cow::Borrowed(&part[..i])));
                let inner = &part[i + 1..part.len() - 1];
                if let Some((k, v)) = inner.split_once('=') {
                    out.push(Step::Filter(k, v));
                }
            }
            _ => out.push(Step::Key(Cow::Borrowed(part))),
        }
    }
    out
}

/// Calls `f` on every field `fs.path` names in `obj` (the caller checks
/// the gvk). Lists met on the way are descended element by element. With
/// `fs.create`, missing maps on the way are created and a missing final
/// field is created as `null` for `f` to fill.
pub fn visit(
    obj: &mut Value,
    fs: &FieldSpec,
    f: &mut dyn FnMut(&mut Value) -> Result<(), String>,
) -> Result<(), String> {
    walk(obj, &steps(&fs.path), fs.create, f)
}

/// A field spec with its path split into steps once, for transformers that
/// visit the same specs in every object: parsing the path per object cost
/// more than walking it.
#[derive(Debug, Clone)]
pub struct ParsedSpec<'a> {
    /// The spec the steps come from.
    pub spec: &'a FieldSpec,
    steps: Vec<Step<'a>>,
}

impl<'a> ParsedSpec<'a> {
    /// Splits `spec`'s path.
    pub fn new(spec: &'a FieldSpec) -> ParsedSpec<'a> {
        ParsedSpec {
            spec,
            steps: steps(&spec.path),
        }
    }

    /// Every spec of `specs`, parsed.
    pub fn all(specs: &'a [FieldSpec]) -> Vec<ParsedSpec<'a>> {
        specs.iter().map(ParsedSpec::new).collect()
    }

    /// [`visit`] with the parsed path; `create` as in the spec.
    pub fn visit(
        &self,
        obj: &mut Value,
        f: &mut dyn FnMut(&mut Value) -> Result<(), String>,
    ) -> Result<(), String> {
        walk(obj, &self.steps, self.spec.create, f)
    }

    /// [`visit`] that never creates missing fields, whatever the spec says.
    pub fn visit_existing(
        &self,
        obj: &mut Value,
        f: &mut dyn FnMut(&mut Value) -> Result<(), String>,
    ) -> Result<(), String> {
        walk(obj, &self.steps, false, f)
    }
}

fn walk(
    cur: &mut Value,
    steps: &[Step],
    create: bool,
    f: &mut dyn FnMut(&mut Value) -> Result<(), String>,
) -> Result<(), String> {
    let Some((step, rest)) = steps.split_first() else {
        return f(cur);
    };
    match (cur, step) {
        (Value::Array(items), Step::Filter(k, v)) => {
            for item in items.iter_mut() {
                if item.get(*k).and_then(Value::as_str) == Some(*v) {
                    walk(item, rest, create, f)?;
                }
            }
            Ok(())
        }
        (Value::Object(map), Step::ListKey(k)) => match map.get_mut(*k) {
            Some(child) if !child.is_null() => walk(child, rest, create, f),
            _ => Ok(()),
        },
        (Value::Array(items), Step::Key(_) | Step::ListKey(_)) => {
            for item in items.iter_mut() {
                walk(item, steps, create, f)?;
            }
            Ok(())
        }
        (Value::Object(map), Step::Key(k)) => {
            let k: &str = k;
            let missing = map.get(k).is_none_or(Value::is_null);
            if missing {
                if !create {
                    return Ok(());
                }
                let fresh = if rest.is_empty() {
                    Value::Null
                } else {
                    Value::Object(Map::new())
                };
                map.insert(k.to_string(), fresh);
            }
            let child = map.get_mut(k).expect("present or just inserted");
            walk(child, rest, create, f)?;
            if rest.is_empty() && child.is_null() {
                // The callback declined to fill a field we created.
                map.remove(k);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kind_specific_name_spec_replaces_the_general_one() {
        let general = spec("", "metadata/name", false);
        let foo = spec("Foo", "metadata/name", false);
        let other = spec("Foo", "spec/x", false);
        let mut list = vec![general.clone(), foo.clone(), other.clone()];
        normalize(&mut list);
        assert_eq!(list, vec![foo, other]);
        // kustomize's defaults lose nothing that way.
        let d = TransformerConfig::defaults();
        for list in [
            &d.name_prefix,
            &d.namespace,
            &d.common_labels,
            &d.template_labels,
            &d.common_annotations,
            &d.images,
            &d.replicas,
            &d.var_reference,
        ] {
            let mut n = list.clone();
            normalize(&mut n);
            assert_eq!(n.len(), list.len(), "{list:?}");
        }
        for b in &d.name_reference {
            let mut n = b.referrers.clone();
            normalize(&mut n);
            let distinct: HashSet<&FieldSpec> = b.referrers.iter().collect();
            assert_eq!(n.len(), distinct.len(), "{:?}", b.target);
        }
    }

    fn set_x(obj: &mut Value, path: &str, create: bool) {
        let fs = FieldSpec {
            path: path.into(),
            create,
            ..Default::default()
        };
        visit(obj, &fs, &mut |v| {
            *v = json!("x");
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn visit_descends_through_lists() {
        let mut o = json!({"spec": {"containers": [{"image": "a"}, {"image": "b"}]}});
        set_x(&mut o, "spec/containers[]/image", false);
        assert_eq!(
            o,
            json!({"spec": {"containers": [{"image": "x"}, {"image": "x"}]}})
        );
    }

    #[test]
    fn visit_creates_missing_parents_only_when_asked() {
        let mut o = json!({"metadata": {}});
        set_x(&mut o, "spec/selector", false);
        assert_eq!(o, json!({"metadata": {}}));
        set_x(&mut o, "spec/selector", true);
        assert_eq!(o, json!({"metadata": {}, "spec": {"selector": "x"}}));
    }

    #[test]
    fn missing_list_field_is_never_created() {
        let mut o = json!({"spec": {}});
        set_x(&mut o, "spec/volumeClaimTemplates[]/metadata/labels", true);
        assert_eq!(o, json!({"spec": {}}));
    }

    #[test]
    fn escaped_slash_is_part_of_the_key() {
        let mut o = json!({"metadata": {"annotations": {"a.io/b": "old"}}});
        set_x(&mut o, "metadata/annotations/a.io\\/b", false);
        assert_eq!(o["metadata"]["annotations"]["a.io/b"], "x");
    }

    #[test]
    fn defaults_know_configmap_references_from_deployments() {
        let c = TransformerConfig::defaults();
        let cm = c
            .name_reference
            .iter()
            .find(|b| b.target.kind == "ConfigMap")
            .unwrap();
        assert!(
            cm.referrers.iter().any(|f| f.gvk.kind == "Deployment"
                && f.path == "spec/template/spec/volumes/configMap/name")
        );
        assert_eq!(c.var_reference.len(), 72);
    }

    #[test]
    fn configurations_file_adds_name_reference() {
        let v = json!({"nameReference": [{"kind": "Bee", "fieldSpecs": [{"kind": "Hive", "path": "spec/bee"}]}]});
        let mut c = TransformerConfig::defaults();
        c.merge(TransformerConfig::from_value("c.yaml", &v).unwrap());
        assert!(c.name_reference.iter().any(|b| b.target.kind == "Bee"));
    }
}
