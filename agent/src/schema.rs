//! The built-in Kubernetes schemas, as k8s-openapi compiles them in, applied
//! to rendered objects without a cluster: [`check`] says whether an object of
//! a known built-in kind has fields of the wrong type or fields its schema
//! does not have, each with the path of the field. Objects of kinds it does
//! not know (custom resources, newer or alpha APIs) are [`Verdict::Unknown`]:
//! not checked, not an error. Pure: values in, values out.
//!
//! How: the object is deserialized into its k8s-openapi type (a wrong type
//! fails there, and `serde_path_to_error` says where), then serialized again;
//! k8s-openapi skips the fields it does not know, so a field of the input
//! that is missing from the round trip was unknown. Only the presence of keys
//! is compared, never values: quantities written as numbers come back as
//! strings and Secret `data` is re-encoded, both correctly. A key whose value
//! is `null` is not reported either way: the apiserver treats it as absent.

use k8s_openapi::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use k8s_openapi::api::{
    admissionregistration::v1 as admission, apps::v1 as apps, autoscaling::v1 as autoscaling_v1,
    autoscaling::v2 as autoscaling_v2, batch::v1 as batch, certificates::v1 as certificates,
    coordination::v1 as coordination, core::v1 as core, discovery::v1 as discovery,
    networking::v1 as networking, node::v1 as node, policy::v1 as policy, rbac::v1 as rbac,
    scheduling::v1 as scheduling, storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apiregistration;

/// One problem with one field of an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Where, as `spec.template.spec.containers[0].image`.
    pub field: String,
    pub message: String,
}

/// What the schema check says of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A built-in kind, and every field is known and of the right type.
    Valid,
    /// A built-in kind with fields that are wrong.
    Invalid(Vec<FieldError>),
    /// No built-in schema for this apiVersion and kind (a custom resource?).
    Unknown,
}

/// What the unknown-field message says, so that people and tests read the
/// same words.
pub const UNKNOWN_FIELD: &str = "unknown field: not in the schema of this kind (a typo? the apiserver drops it, or refuses the object under strict field validation)";

/// Why a round trip failed: the error, and where in the input (`None` when
/// the path cannot be followed back).
struct Failure {
    error: FieldError,
    at: Option<Vec<Step>>,
}

/// One step into a JSON value.
enum Step {
    Key(String),
    Index(usize),
}

type RoundTrip = fn(&Value) -> Result<Value, Failure>;

/// A built-in kind: its apiVersion, kind, scope, and its round trip.
struct Kind {
    api_version: &'static str,
    kind: &'static str,
    namespaced: bool,
    round_trip: RoundTrip,
}

/// Whether a k8s-openapi scope is a namespace.
trait Scope {
    const NAMESPACED: bool;
}

impl Scope for k8s_openapi::NamespaceResourceScope {
    const NAMESPACED: bool = true;
}

impl Scope for k8s_openapi::ClusterResourceScope {
    const NAMESPACED: bool = false;
}

const fn kind<T>() -> Kind
where
    T: Resource + DeserializeOwned + Serialize,
    T::Scope: Scope,
{
    Kind {
        api_version: T::API_VERSION,
        kind: T::KIND,
        namespaced: <T::Scope as Scope>::NAMESPACED,
        round_trip: round_trip::<T>,
    }
}

/// The kinds checked: the common built-in ones a fleet repository holds.
static KINDS: &[Kind] = &[
    kind::<core::ConfigMap>(),
    kind::<core::Secret>(),
    kind::<core::Service>(),
    kind::<core::ServiceAccount>(),
    kind::<core::Namespace>(),
    kind::<core::Pod>(),
    kind::<core::PodTemplate>(),
    kind::<core::PersistentVolume>(),
    kind::<core::PersistentVolumeClaim>(),
    kind::<core::Endpoints>(),
    kind::<core::LimitRange>(),
    kind::<core::ResourceQuota>(),
    kind::<core::ReplicationController>(),
    kind::<apps::Deployment>(),
    kind::<apps::StatefulSet>(),
    kind::<apps::DaemonSet>(),
    kind::<apps::ReplicaSet>(),
    kind::<apps::ControllerRevision>(),
    kind::<batch::Job>(),
    kind::<batch::CronJob>(),
    kind::<networking::Ingress>(),
    kind::<networking::IngressClass>(),
    kind::<networking::NetworkPolicy>(),
    kind::<discovery::EndpointSlice>(),
    kind::<policy::PodDisruptionBudget>(),
    kind::<rbac::Role>(),
    kind::<rbac::RoleBinding>(),
    kind::<rbac::ClusterRole>(),
    kind::<rbac::ClusterRoleBinding>(),
    kind::<autoscaling_v1::HorizontalPodAutoscaler>(),
    kind::<autoscaling_v2::HorizontalPodAutoscaler>(),
    kind::<storage::StorageClass>(),
    kind::<storage::CSIDriver>(),
    kind::<coordination::Lease>(),
    kind::<scheduling::PriorityClass>(),
    kind::<node::RuntimeClass>(),
    kind::<admission::ValidatingWebhookConfiguration>(),
    kind::<admission::MutatingWebhookConfiguration>(),
    kind::<admission::ValidatingAdmissionPolicy>(),
    kind::<admission::ValidatingAdmissionPolicyBinding>(),
    kind::<certificates::CertificateSigningRequest>(),
    kind::<apiextensions::CustomResourceDefinition>(),
    kind::<apiregistration::APIService>(),
];

/// Checks one rendered object against the schema of its kind.
///
/// ```ignore
/// let bad = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
///     "metadata": {"name": "c"}, "dat": {"a": "b"}});
/// assert!(matches!(check(&bad), Verdict::Invalid(_)));
/// ```
pub fn check(object: &Value) -> Verdict {
    let Some(known) = known(object) else {
        return Verdict::Unknown;
    };
    let secret = rudder_reconciler::redact::is_secret(object);
    let mut input = std::borrow::Cow::Borrowed(object);
    let result = loop {
        match (known.round_trip)(&input) {
            // Go's base64 decoder, as the apiserver uses it for byte
            // fields (Secret `data`, `caBundle`), skips line breaks, and
            // kustomize wraps long values: so does this check.
            Err(Failure { at: Some(at), .. }) if unwrap_lines(input.to_mut(), &at) => {}
            other => break other,
        }
    };
    let errors = match result {
        Ok(typed) => {
            let mut unknown = Vec::new();
            unknown_fields(&input, &typed, "", &mut unknown);
            unknown
                .into_iter()
                .map(|field| FieldError {
                    field,
                    message: UNKNOWN_FIELD.to_string(),
                })
                .collect()
        }
        Err(Failure { mut error, .. }) => {
            if secret {
                error.message = without_value(&error.message);
            }
            vec![error]
        }
    };
    if errors.is_empty() {
        Verdict::Valid
    } else {
        Verdict::Invalid(errors)
    }
}

/// Whether objects of this built-in kind live in a namespace; `None` for a
/// kind with no built-in schema (only discovery could tell).
pub fn namespaced(object: &Value) -> Option<bool> {
    known(object).map(|k| k.namespaced)
}

fn known(object: &Value) -> Option<&'static Kind> {
    let field = |name: &str| object.get(name).and_then(Value::as_str).unwrap_or_default();
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    KINDS
        .iter()
        .find(|k| k.api_version == api_version && k.kind == kind)
}

fn round_trip<T: DeserializeOwned + Serialize>(object: &Value) -> Result<Value, Failure> {
    let typed: T = serde_path_to_error::deserialize(object).map_err(|e| Failure {
        error: FieldError {
            field: e.path().to_string(),
            message: e.inner().to_string(),
        },
        at: e
            .path()
            .iter()
            .map(|segment| match segment {
                serde_path_to_error::Segment::Map { key } => Some(Step::Key(key.clone())),
                serde_path_to_error::Segment::Seq { index } => Some(Step::Index(*index)),
                _ => None,
            })
            .collect(),
    })?;
    serde_json::to_value(&typed).map_err(|e| Failure {
        error: FieldError {
            field: String::new(),
            message: format!("cannot be written back as JSON: {e}"),
        },
        at: None,
    })
}

/// Removes the line breaks of the string at `at`; false when there is no
/// string with line breaks there (so the error stands).
fn unwrap_lines(object: &mut Value, at: &[Step]) -> bool {
    let mut here = object;
    for step in at {
        let next = match step {
            Step::Key(key) => here.get_mut(key.as_str()),
            Step::Index(index) => here.get_mut(*index),
        };
        let Some(next) = next else {
            return false;
        };
        here = next;
    }
    match here {
        Value::String(text) if text.contains(['\n', '\r']) => {
            text.retain(|c| c != '\n' && c != '\r');
            true
        }
        _ => false,
    }
}

/// Paths of the keys of `input` that `typed` (its round trip) lacks.
fn unknown_fields(input: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(given), Value::Object(kept)) => {
            for (key, value) in given {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match kept.get(key) {
                    Some(kept) => unknown_fields(value, kept, &here, out),
                    None if value.is_null() => {}
                    None => out.push(here),
                }
            }
        }
        (Value::Array(given), Value::Array(kept)) => {
            for (i, (value, kept)) in given.iter().zip(kept).enumerate() {
                unknown_fields(value, kept, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// A serde message without the value it quotes (`invalid type: string
/// "hunter2", expected i32` → `invalid type, expected i32`): for Secrets,
/// whose values must not be shown.
fn without_value(message: &str) -> String {
    let what = ["invalid type", "invalid value", "invalid length"]
        .into_iter()
        .find(|w| message.starts_with(w));
    let expected = message
        .find(", expected ")
        .map(|at| &message[at + 2..])
        .unwrap_or("malformed");
    match what {
        Some(what) => format!("{what}, {expected} (the value is not shown: Secret data)"),
        None => {
            "malformed value (`data` values must be base64; the value is not shown: Secret data)"
                .to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(spec_extra: Value) -> Value {
        let mut d = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app.kubernetes.io/name": "web"},
                          "creationTimestamp": null},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "web",
                        "image": "nginx:1.27",
                        "ports": [{"containerPort": 80}],
                        "resources": {"limits": {"cpu": 1, "memory": "128Mi"}, "requests": {"cpu": 0.5}},
                        "env": [],
                    }]}
                }
            },
            "status": {}
        });
        if let (Some(spec), Some(extra)) = (d["spec"].as_object_mut(), spec_extra.as_object()) {
            for (k, v) in extra {
                spec.insert(k.clone(), v.clone());
            }
        }
        d
    }

    fn errors(object: &Value) -> Vec<FieldError> {
        match check(object) {
            Verdict::Invalid(errors) => errors,
            other => panic!("expected errors, got {other:?}"),
        }
    }

    #[test]
    fn a_correct_deployment_with_int_or_string_quantities_and_nulls_is_valid() {
        assert_eq!(check(&deployment(json!({}))), Verdict::Valid);
    }

    #[test]
    fn unknown_fields_are_named_by_path_at_any_depth() {
        let mut d = deployment(json!({"replicass": 2}));
        d["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = json!("Always");
        d["metadata"]["lables"] = json!({"a": "b"});
        let fields: Vec<String> = errors(&d).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            vec![
                "metadata.lables",
                "spec.replicass",
                "spec.template.spec.containers[0].imagePullPolice",
            ]
        );
        assert!(errors(&d)[0].message.starts_with("unknown field"));
    }

    #[test]
    fn a_wrong_type_is_named_by_path_with_what_was_expected() {
        let mut d = deployment(json!({"replicas": "three"}));
        let e = errors(&d);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "spec.replicas");
        assert!(e[0].message.contains("expected i32"), "{}", e[0].message);
        d["spec"]["replicas"] = json!(3);
        d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = json!("80");
        assert_eq!(
            errors(&d)[0].field,
            "spec.template.spec.containers[0].ports[0].containerPort"
        );
    }

    #[test]
    fn secrets_check_base64_data_and_never_show_values() {
        let good = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
                          "type": "Opaque", "data": {"password": "aHVudGVyMg=="},
                          "stringData": {"user": "admin"}});
        assert_eq!(check(&good), Verdict::Valid);
        let mut bad = good.clone();
        bad["stringData"]["user"] = json!(12345678);
        let e = errors(&bad);
        assert_eq!(e[0].field, "stringData.user");
        assert!(!e[0].message.contains("12345678"), "{}", e[0].message);
        assert!(
            e[0].message.contains("expected a string"),
            "{}",
            e[0].message
        );
        let mut not_base64 = good;
        not_base64["data"]["password"] = json!("hunter2!");
        let e = errors(&not_base64);
        assert_eq!(e[0].field, "data.password");
        assert!(!e[0].message.contains("hunter2"), "{}", e[0].message);
        assert!(e[0].message.contains("must be base64"), "{}", e[0].message);
    }

    #[test]
    fn base64_wrapped_over_lines_is_accepted_as_the_apiserver_does() {
        let wrapped = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls"},
                             "data": {"tls.key": "LS0tLS1CRUdJTiBQUklWQVRF\nIEtFWS0tLS0tCg==\n",
                                      "tls.crt": "LS0t\r\nLS0K"}});
        assert_eq!(check(&wrapped), Verdict::Valid);
        let webhook = json!({"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "w"},
            "webhooks": [{"name": "w.example.com", "sideEffects": "None",
                          "admissionReviewVersions": ["v1"],
                          "clientConfig": {"caBundle": "LS0t\nLS0K", "url": "https://w.example.com"}}]});
        assert_eq!(check(&webhook), Verdict::Valid);
        // Wrapped or not, a value that is not base64 stays an error.
        let mut bad = wrapped;
        bad["data"]["tls.crt"] = json!("not base64!\nat all");
        assert_eq!(errors(&bad)[0].field, "data.tls.crt");
    }

    #[test]
    fn custom_resources_and_unknown_versions_are_not_checked() {
        let cr = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                        "spec": {"anything": true}});
        assert_eq!(check(&cr), Verdict::Unknown);
        let old = json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "d"}});
        assert_eq!(check(&old), Verdict::Unknown);
    }

    #[test]
    fn crds_themselves_are_checked() {
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": true, "storage": true,
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                       "x-kubernetes-preserve-unknown-fields": true,
                                       "properties": {"spec": {"type": "object", "default": {}}}}}}]}
        });
        assert_eq!(check(&crd), Verdict::Valid);
        let mut bad = crd;
        bad["spec"]["versions"][0]["servd"] = json!(true);
        assert_eq!(errors(&bad)[0].field, "spec.versions[0].servd");
    }

    #[test]
    fn scopes_come_from_k8s_openapi() {
        let of = |api_version: &str, kind: &str| {
            namespaced(&json!({"apiVersion": api_version, "kind": kind}))
        };
        assert_eq!(of("apps/v1", "Deployment"), Some(true));
        assert_eq!(of("v1", "Namespace"), Some(false));
        assert_eq!(
            of("rbac.authorization.k8s.io/v1", "ClusterRole"),
            Some(false)
        );
        assert_eq!(of("example.com/v1", "Widget"), None);
    }

    #[test]
    fn every_table_entry_accepts_its_minimal_object() {
        for k in KINDS {
            let object =
                json!({"apiVersion": k.api_version, "kind": k.kind, "metadata": {"name": "x"}});
            assert_eq!(
                check(&object),
                Verdict::Valid,
                "{} {}",
                k.api_version,
                k.kind
            );
        }
    }
}
