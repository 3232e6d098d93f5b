//! The order in which objects are applied and pruned.
//!
//! Apply, stage by stage (objects within a stage may be applied
//! concurrently; the next stage starts when the previous one is done):
//!
//! | stage | what | why first / last |
//! | --- | --- | --- |
//! | 0 [`Stage::ClusterDefinitions`] | CustomResourceDefinitions, Namespaces, ClusterRoles (as Flux) | everything else may live in them, be of their kinds, or be bound to them; the applier waits for CRDs to be Established and rediscovers kinds after this stage |
//! | 1 [`Stage::Classes`] | kinds ending in `Class` (StorageClass, IngressClass, PriorityClass, ...) | objects name their class, and admission may check it exists |
//! | 2 [`Stage::Resources`] | everything else, in kustomize's legacy order | |
//! | 3 [`Stage::Webhooks`] | Mutating/ValidatingWebhookConfigurations | a webhook whose service is not running yet would reject the rest |
//!
//! Within a stage, objects are in kustomize's legacy order (kyaml `resid`
//! `orderFirst`/`orderLast`, then group_version_kind, then namespace|name),
//! except that stage 0 puts CRDs, then Namespaces, then ClusterRoles.
//!
//! Prune is the reverse, in waves deleted one after the other: webhooks,
//! then the ordinary resources (reverse legacy order), classes, ClusterRoles,
//! Namespaces, and CRDs last, so that custom resources inside a deleted
//! Namespace are finalised while their CRD (and its controller) still exist.

use std::cmp::Ordering;

use crate::object::ObjectRef;

/// The annotation that puts an object in a sync wave (an integer, default
/// 0; lower waves first).
pub const WAVE_ANNOTATION: &str = "rudder.io/wave";

/// The wave of `object`: its [`WAVE_ANNOTATION`] as an integer, 0 without
/// one; the error quotes a value that is not an integer.
pub fn wave(object: &serde_json::Value) -> Result<i64, String> {
    match crate::object::annotation(object, WAVE_ANNOTATION) {
        None => Ok(0),
        Some(text) => text.trim().parse().map_err(|_| {
            format!("annotation {WAVE_ANNOTATION}: `{text}` is not an integer (write e.g. \"-1\", \"0\" or \"2\")")
        }),
    }
}

/// One apply stage; see the module documentation for what goes where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    ClusterDefinitions = 0,
    Classes = 1,
    Resources = 2,
    Webhooks = 3,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::ClusterDefinitions,
        Stage::Classes,
        Stage::Resources,
        Stage::Webhooks,
    ];

    /// The stage `reference` is applied in.
    pub fn of(reference: &ObjectRef) -> Stage {
        if cluster_definition_rank(reference).is_some() {
            Stage::ClusterDefinitions
        } else if is_webhook_configuration(reference) {
            Stage::Webhooks
        } else if reference.kind.ends_with("Class") {
            Stage::Classes
        } else {
            Stage::Resources
        }
    }
}

/// One prune wave; waves are deleted in declaration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PruneWave {
    Webhooks,
    Resources,
    Classes,
    ClusterRoles,
    Namespaces,
    CustomResourceDefinitions,
}

impl PruneWave {
    /// The wave `reference` is pruned in.
    pub fn of(reference: &ObjectRef) -> PruneWave {
        match Stage::of(reference) {
            Stage::Webhooks => PruneWave::Webhooks,
            Stage::Resources => PruneWave::Resources,
            Stage::Classes => PruneWave::Classes,
            Stage::ClusterDefinitions => match cluster_definition_rank(reference) {
                Some(0) => PruneWave::CustomResourceDefinitions,
                Some(1) => PruneWave::Namespaces,
                _ => PruneWave::ClusterRoles,
            },
        }
    }
}

/// Groups `items` into apply stages, each sorted in apply order. Empty stages
/// are left out; stages come in order.
///
/// ```
/// use rudder_reconciler::object::ObjectRef;
/// use rudder_reconciler::stage::{Stage, apply_stages};
/// let r = |group: &str, kind: &str, name: &str| ObjectRef {
///     group: group.into(), version: "v1".into(), kind: kind.into(),
///     namespace: None, name: name.into(),
/// };
/// let staged = apply_stages(
///     vec![r("apps", "Deployment", "web"), r("", "Namespace", "shop")],
///     |r| r,
/// );
/// assert_eq!(staged[0].0, Stage::ClusterDefinitions);
/// assert_eq!(staged[1].1[0].kind, "Deployment");
/// ```
pub fn apply_stages<T>(
    items: Vec<T>,
    reference: impl Fn(&T) -> &ObjectRef,
) -> Vec<(Stage, Vec<T>)> {
    let mut staged: Vec<(Stage, Vec<T>)> = Stage::ALL.iter().map(|s| (*s, Vec::new())).collect();
    for item in items {
        let stage = Stage::of(reference(&item));
        staged[stage as usize].1.push(item);
    }
    for (_, items) in &mut staged {
        items.sort_by(|a, b| apply_cmp(reference(a), reference(b)));
    }
    staged.retain(|(_, items)| !items.is_empty());
    staged
}

/// Groups `items` into prune waves, each sorted in reverse apply order.
/// Empty waves are left out; waves come in the order they must be deleted.
pub fn prune_waves<T>(
    items: Vec<T>,
    reference: impl Fn(&T) -> &ObjectRef,
) -> Vec<(PruneWave, Vec<T>)> {
    let mut waves: Vec<(PruneWave, Vec<T>)> = Vec::new();
    let mut sorted = items;
    sorted.sort_by(|a, b| {
        let (a, b) = (reference(a), reference(b));
        PruneWave::of(a)
            .cmp(&PruneWave::of(b))
            .then_with(|| apply_cmp(b, a))
    });
    for item in sorted {
        let wave = PruneWave::of(reference(&item));
        match waves.last_mut() {
            Some((last, items)) if *last == wave => items.push(item),
            _ => waves.push((wave, vec![item])),
        }
    }
    waves
}

/// The total apply order: stage, then (stage 0) CRD, Namespace, ClusterRole,
/// then kustomize's legacy order.
pub fn apply_cmp(a: &ObjectRef, b: &ObjectRef) -> Ordering {
    Stage::of(a)
        .cmp(&Stage::of(b))
        .then_with(|| cluster_definition_rank(a).cmp(&cluster_definition_rank(b)))
        .then_with(|| legacy_cmp(a, b))
}

/// kustomize's legacy sort (`SortOrderTransformer`, `legacyIDSorter.Less`),
/// the renderer's own comparator, so apply order within a stage is exactly
/// the order `kubectl kustomize` prints.
pub fn legacy_cmp(a: &ObjectRef, b: &ObjectRef) -> Ordering {
    legacy_cmp_ids(&legacy_id(a), &legacy_id(b))
}

fn legacy_id(r: &ObjectRef) -> LegacyId<'_> {
    LegacyId {
        group: &r.group,
        version: &r.version,
        kind: &r.kind,
        namespace: r.namespace.as_deref().unwrap_or(""),
        name: &r.name,
    }
}

use rudder_render::order::{LegacyId, legacy_cmp_ids};

/// Rank within stage 0 (CRD 0, Namespace 1, ClusterRole 2), `None` for
/// objects outside it. Matching on group too, like Flux, so a custom kind
/// that happens to be called `Namespace` is not treated as one.
fn cluster_definition_rank(r: &ObjectRef) -> Option<u8> {
    match (r.group.as_str(), r.kind.as_str()) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") => Some(0),
        ("", "Namespace") => Some(1),
        ("rbac.authorization.k8s.io", "ClusterRole") => Some(2),
        _ => None,
    }
}

fn is_webhook_configuration(r: &ObjectRef) -> bool {
    r.group == "admissionregistration.k8s.io"
        && matches!(
            r.kind.as_str(),
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waves_are_integers_defaulting_to_zero() {
        let with = |value: &str| serde_json::json!({"metadata": {"annotations": {WAVE_ANNOTATION: value}}});
        assert_eq!(wave(&serde_json::json!({"metadata": {}})), Ok(0));
        assert_eq!(wave(&with("-1")), Ok(-1));
        assert_eq!(wave(&with("3")), Ok(3));
        assert!(wave(&with("first")).unwrap_err().contains("`first`"));
    }

    fn r(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> ObjectRef {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        ObjectRef {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            namespace: namespace.map(Into::into),
            name: name.into(),
        }
    }

    fn crd() -> ObjectRef {
        r(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            None,
            "widgets.example.com",
        )
    }
    fn ns() -> ObjectRef {
        r("v1", "Namespace", None, "shop")
    }
    fn cluster_role() -> ObjectRef {
        r(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            None,
            "reader",
        )
    }
    fn storage_class() -> ObjectRef {
        r("storage.k8s.io/v1", "StorageClass", None, "fast")
    }
    fn webhook() -> ObjectRef {
        r(
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
            None,
            "check",
        )
    }
    fn deployment(name: &str) -> ObjectRef {
        r("apps/v1", "Deployment", Some("shop"), name)
    }
    fn service() -> ObjectRef {
        r("v1", "Service", Some("shop"), "web")
    }
    fn widget() -> ObjectRef {
        r("example.com/v1", "Widget", Some("shop"), "w")
    }

    #[test]
    fn namespaces_that_prefix_each_other_order_as_kubectl_prints_them() {
        // kubectl compares `namespace|name` as one string, so `-` (0x2d)
        // before `|` (0x7c) puts shop-staging first (conformance case 019).
        let mut items = [
            r("v1", "ConfigMap", Some("shop"), "x"),
            r("v1", "ConfigMap", Some("shop-staging"), "x"),
        ];
        items.sort_by(legacy_cmp);
        let names: Vec<String> = items.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["ConfigMap/shop-staging/x", "ConfigMap/shop/x"]);
    }

    #[test]
    fn crds_namespaces_and_cluster_roles_go_first() {
        assert_eq!(Stage::of(&crd()), Stage::ClusterDefinitions);
        assert_eq!(Stage::of(&ns()), Stage::ClusterDefinitions);
        assert_eq!(Stage::of(&cluster_role()), Stage::ClusterDefinitions);
        assert_eq!(
            Stage::of(&r(
                "rbac.authorization.k8s.io/v1",
                "ClusterRoleBinding",
                None,
                "b"
            )),
            Stage::Resources
        );
    }

    #[test]
    fn class_kinds_are_stage_one() {
        assert_eq!(Stage::of(&storage_class()), Stage::Classes);
        assert_eq!(
            Stage::of(&r("networking.k8s.io/v1", "IngressClass", None, "nginx")),
            Stage::Classes
        );
        assert_eq!(
            Stage::of(&r("scheduling.k8s.io/v1", "PriorityClass", None, "high")),
            Stage::Classes
        );
    }

    #[test]
    fn webhook_configurations_go_last() {
        assert_eq!(Stage::of(&webhook()), Stage::Webhooks);
        assert_eq!(Stage::of(&deployment("a")), Stage::Resources);
    }

    #[test]
    fn a_custom_kind_named_namespace_is_not_a_cluster_definition() {
        assert_eq!(
            Stage::of(&r("example.com/v1", "Namespace", None, "x")),
            Stage::Resources
        );
    }

    #[test]
    fn apply_stages_group_and_order_everything() {
        let items = vec![
            webhook(),
            widget(),
            deployment("b"),
            cluster_role(),
            service(),
            storage_class(),
            ns(),
            deployment("a"),
            crd(),
        ];
        let staged = apply_stages(items, |r| r);
        let names: Vec<(Stage, Vec<String>)> = staged
            .into_iter()
            .map(|(s, items)| (s, items.iter().map(ToString::to_string).collect()))
            .collect();
        assert_eq!(
            names,
            vec![
                (
                    Stage::ClusterDefinitions,
                    vec![
                        "CustomResourceDefinition/widgets.example.com".to_string(),
                        "Namespace/shop".into(),
                        "ClusterRole/reader".into()
                    ]
                ),
                (Stage::Classes, vec!["StorageClass/fast".to_string()]),
                (
                    Stage::Resources,
                    vec![
                        "Service/shop/web".to_string(),
                        "Deployment/shop/a".into(),
                        "Deployment/shop/b".into(),
                        // Unknown kinds sit between orderFirst and orderLast.
                        "Widget/shop/w".into(),
                    ]
                ),
                (
                    Stage::Webhooks,
                    vec!["ValidatingWebhookConfiguration/check".to_string()]
                ),
            ]
        );
    }

    #[test]
    fn empty_stages_are_left_out() {
        let staged = apply_stages(vec![deployment("a")], |r| r);
        assert_eq!(staged.len(), 1);
        assert_eq!(staged[0].0, Stage::Resources);
    }

    #[test]
    fn legacy_order_matches_kustomize_for_known_and_unknown_kinds() {
        let cm = r("v1", "ConfigMap", Some("shop"), "c");
        let sa = r("v1", "ServiceAccount", Some("shop"), "s");
        let role_binding = r(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            Some("shop"),
            "rb",
        );
        let hpa = r(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            Some("shop"),
            "h",
        );
        let ingress = r("networking.k8s.io/v1", "Ingress", Some("shop"), "i");
        let mut items = vec![
            ingress.clone(),
            hpa.clone(),
            cm.clone(),
            role_binding.clone(),
            sa.clone(),
        ];
        items.sort_by(legacy_cmp);
        // Unknown kinds (HPA, Ingress) after all orderFirst kinds, by
        // group_version_kind: autoscaling < networking.k8s.io.
        assert_eq!(items, vec![sa, role_binding, cm, hpa, ingress]);
    }

    #[test]
    fn same_kind_sorts_by_namespace_then_name_with_cluster_scope_last() {
        // "~X" (no namespace) sorts after lower-case namespace names.
        let a = r("v1", "ConfigMap", Some("a"), "z");
        let b = r("v1", "ConfigMap", Some("b"), "a");
        let none = r("v1", "ConfigMap", None, "a");
        let mut items = vec![none.clone(), b.clone(), a.clone()];
        items.sort_by(legacy_cmp);
        assert_eq!(items, vec![a, b, none]);
    }

    #[test]
    fn prune_waves_reverse_apply_with_namespaces_and_crds_last() {
        let items = vec![
            crd(),
            ns(),
            cluster_role(),
            storage_class(),
            service(),
            deployment("a"),
            webhook(),
            widget(),
        ];
        let waves = prune_waves(items, |r| r);
        let order: Vec<(PruneWave, Vec<String>)> = waves
            .into_iter()
            .map(|(w, items)| (w, items.iter().map(ToString::to_string).collect()))
            .collect();
        assert_eq!(
            order,
            vec![
                (
                    PruneWave::Webhooks,
                    vec!["ValidatingWebhookConfiguration/check".to_string()]
                ),
                (
                    PruneWave::Resources,
                    vec![
                        "Widget/shop/w".to_string(),
                        "Deployment/shop/a".into(),
                        "Service/shop/web".into()
                    ]
                ),
                (PruneWave::Classes, vec!["StorageClass/fast".to_string()]),
                (
                    PruneWave::ClusterRoles,
                    vec!["ClusterRole/reader".to_string()]
                ),
                (PruneWave::Namespaces, vec!["Namespace/shop".to_string()]),
                (
                    PruneWave::CustomResourceDefinitions,
                    vec!["CustomResourceDefinition/widgets.example.com".to_string()]
                ),
            ]
        );
    }
}
