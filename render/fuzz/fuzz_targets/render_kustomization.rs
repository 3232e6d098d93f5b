//! The whole renderer (`rudder_render::render`) over an in-memory tree whose
//! `app/kustomization.yaml` is the fuzz input. The tree also holds a few
//! fixed files the kustomization can name: a multi-document resource file,
//! a strategic merge patch, a JSON 6902 patch, an env file and a base. Any
//! input may fail to render; none may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rudder_render::fs::MemTree;
use rudder_render::yaml::emit;
use rudder_render::{RenderOptions, render};

const RESOURCES: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        args: [--port=80]
        envFrom:
        - configMapRef: {name: settings}
        ports:
        - {containerPort: 80, name: http}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {port: 80, targetPort: http}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  LEVEL: ${LEVEL}
";

const SMP: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.26
";

const JSON6902: &str = "\
- op: replace
  path: /spec/replicas
  value: 3
";

const BASE: &str = "\
resources:
- cm.yaml
namePrefix: base-
";

const BASE_CM: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: base
data:
  k: v
";

fuzz_target!(|data: &[u8]| {
    let Ok(kustomization) = std::str::from_utf8(data) else {
        return;
    };
    let tree = MemTree::new()
        .with_file("app/kustomization.yaml", kustomization)
        .with_file("app/resources.yaml", RESOURCES)
        .with_file("app/patch.yaml", SMP)
        .with_file("app/ops.yaml", JSON6902)
        .with_file("app/app.env", "A=1\nB=two\n")
        .with_file("base/kustomization.yaml", BASE)
        .with_file("base/cm.yaml", BASE_CM);
    let mut options = RenderOptions::default();
    options.vars.insert("LEVEL".into(), "info".into());
    if let Ok(out) = render(&tree, "app", &options) {
        let _ = emit::to_yaml_stream(&out.objects);
    }
});
