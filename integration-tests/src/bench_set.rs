//! The benchmark object set shared by `bench-sync` and `bench-agent`: 250
//! apps of a Deployment (`replicas: 0`, so controller and kwok traffic for
//! pods does not disturb timings), a headless Service, a ConfigMap and an
//! HPA, plus one ConfigMap: 1,001 objects in one namespace.

use serde_json::{Value, json};

/// The set for `apps` apps in `namespace` (4 objects each, plus one).
pub fn objects(namespace: &str, apps: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(apps * 4 + 1);
    for i in 0..apps {
        let name = format!("app-{i:03}");
        let labels = json!({"app": name});
        out.push(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                    "name": "app", "image": format!("registry.example/{name}:1.0.{i}"),
                    "ports": [{"containerPort": 8080}],
                    "envFrom": [{"configMapRef": {"name": format!("{name}-config")}}],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}}
        }));
        out.push(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"clusterIP": "None", "selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}
        }));
        out.push(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("{name}-config"), "namespace": namespace, "labels": labels},
            "data": {"LOG_LEVEL": "info", "REGION": "us-east-1", "APP": name}
        }));
        out.push(json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": 1, "maxReplicas": 5,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80}}}]}
        }));
    }
    out.push(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "fleet-settings", "namespace": namespace},
        "data": {"fleet": "bench"}
    }));
    out
}

/// Objects as one YAML stream (JSON is YAML: one document per object).
pub fn yaml_stream(objects: &[Value]) -> String {
    let mut text = String::new();
    for object in objects {
        text.push_str("---\n");
        text.push_str(&object.to_string());
        text.push('\n');
    }
    text
}
