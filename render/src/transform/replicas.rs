//! `replicas:` and the ReplicaCountTransformer: set the replica count of
//! objects with a given name at the replica field specs.

use serde_json::Value;

use super::Res;
use crate::fieldspec::{FieldSpec, visit};

/// Sets `count` on every object named `name` (now or before a rename).
pub fn apply(
    resources: &mut [Res],
    name: &str,
    count: i64,
    specs: &[FieldSpec],
) -> Result<(), String> {
    let mut found = false;
    for r in resources.iter_mut() {
        let matches = r.name() == name || r.prev_ids.iter().any(|id| id.name == name);
        if !matches {
            continue;
        }
        let gvk = r.gvk();
        for fs in specs.iter().filter(|fs| gvk.is_selected_by(&fs.gvk)) {
            found = true;
            visit(&mut r.obj, fs, &mut |v| {
                *v = Value::from(count);
                Ok(())
            })?;
        }
    }
    if !found {
        return Err(format!(
            "replicas: no Deployment, ReplicaSet, ReplicationController or StatefulSet named `{name}`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fieldspec::TransformerConfig;
    use serde_json::json;

    #[test]
    fn sets_deployment_replicas_but_not_services() {
        let specs = TransformerConfig::defaults().replicas;
        let mut rs = vec![
            Res::new(
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}}),
            ),
            Res::new(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}})),
        ];
        apply(&mut rs, "a", 3, &specs).unwrap();
        assert_eq!(rs[0].obj["spec"]["replicas"], 3);
        assert!(rs[1].obj.get("spec").is_none());
    }

    #[test]
    fn missing_target_is_an_error() {
        let specs = TransformerConfig::defaults().replicas;
        let mut rs = vec![Res::new(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}}),
        )];
        assert!(
            apply(&mut rs, "absent", 3, &specs)
                .unwrap_err()
                .contains("absent")
        );
    }
}
