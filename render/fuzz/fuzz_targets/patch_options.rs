//! Patches with their options through the whole renderer: the input is a
//! patch (a strategic merge patch or a JSON 6902 operation list, as text)
//! preceded by one control byte choosing the options (`allowNameChange`,
//! `allowKindChange`), whether the patch has a target, and whether the
//! patched objects include a generated ConfigMap (so hash suffixing and
//! name references run over whatever the patch left). Any input may fail
//! to render; none may panic.
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
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef: {name: settings}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: plain
data:
  k: v
";

/// Indents `text` by four spaces, for a block scalar under `patch: |`.
fn indented(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let Ok(patch) = std::str::from_utf8(rest) else {
        return;
    };
    let mut k = String::from("namePrefix: p-\nresources:\n- resources.yaml\n");
    if control & 4 != 0 {
        k.push_str("configMapGenerator:\n- name: settings\n  literals:\n  - A=1\n");
    }
    k.push_str("patches:\n- path: patch.yaml\n");
    if control & 8 != 0 {
        let kind = if control & 16 != 0 { "ConfigMap" } else { "Deployment" };
        k.push_str(&format!("  target:\n    kind: {kind}\n"));
    }
    let (name, kind) = (control & 1 != 0, control & 2 != 0);
    if name || kind {
        k.push_str(&format!(
            "  options:\n    allowNameChange: {name}\n    allowKindChange: {kind}\n"
        ));
    }
    // The same patch inline too, so both ways of giving it are exercised.
    if control & 32 != 0 {
        k.push_str("- patch: |\n");
        k.push_str(&indented(patch));
        if control & 8 != 0 {
            k.push_str("  target:\n    name: .*\n");
        }
    }
    let tree = MemTree::new()
        .with_file("app/kustomization.yaml", &k)
        .with_file("app/resources.yaml", RESOURCES)
        .with_file("app/patch.yaml", patch);
    if let Ok(out) = render(&tree, "app", &RenderOptions::default()) {
        let _ = emit::to_yaml_stream(&out.objects);
    }
});
